/**
 * A small list-then-watch loop over one kind of object in one namespace (the ConfigMap of the live
 * configuration, the canary Pods): list, watch from the list's resourceVersion (renewed when the server ends
 * the watch, listed again after 410 Gone), back-off on failures with one warning per distinct problem. The
 * EndpointSlice source keeps its own loop (pages, bookmarks, stale sets).
 */
import { createInterface } from 'node:readline';
import type { IncomingMessage } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { apiGet, ApiError, readBody } from './api-connection.js';

export interface ListWatchOptions {
  readonly kubeConfig: KubeConfig;
  readonly server: string;
  /** For messages, e.g. `live config ConfigMap trading/fairway-config-pricer`. */
  readonly what: string;
  /** The collection, e.g. `/api/v1/namespaces/trading/configmaps`. */
  readonly collectionPath: string;
  /** Query parameters selecting the objects, e.g. `fieldSelector=metadata.name%3Dx` (already encoded). */
  readonly selector: string;
  /** Said on 401/403, e.g. `the client needs RBAC get, list and watch on configmaps in namespace "x"`. */
  readonly rbacHint: string;
  readonly log: { warn(m: string): void };
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly watchTimeoutSeconds: number;
  readonly requestTimeoutMs: number;
  /** The full list (after a start or a 410). */
  readonly onList: (items: readonly unknown[]) => void;
  /** One ADDED, MODIFIED or DELETED event. */
  readonly onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: unknown) => void;
  /** Why the loop is failing now (for the owner's own "keeping ..." note); optional. */
  readonly describeKept?: () => string;
}

class GoneError extends Error {}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export class ListWatch {
  private resourceVersion: string | undefined;
  private closed = false;
  private abort: AbortController | undefined;
  private wake: (() => void) | undefined;
  private done: Promise<void> = Promise.resolve();
  private lastProblem: string | undefined;

  constructor(private readonly o: ListWatchOptions) {}

  start(): void {
    this.done = this.run();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.abort?.abort();
    this.wake?.();
    await this.done;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      try {
        if (this.resourceVersion === undefined) await this.list();
        await this.watch();
        failures = 0;
        this.lastProblem = undefined;
      } catch (err) {
        if (this.closed) return;
        if (err instanceof GoneError) {
          this.resourceVersion = undefined;
          continue;
        }
        failures++;
        const message = (err as Error).message;
        if (message !== this.lastProblem) {
          this.lastProblem = message;
          this.o.log.warn(`${this.o.what}: ${message}; ${this.o.describeKept?.() ?? 'keeping what it had'}, retrying`);
        }
        await this.sleep(Math.min(this.o.retryMaxMs, this.o.retryInitialMs * 2 ** Math.min(20, failures - 1)));
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private async get(extra: string, verb: string): Promise<IncomingMessage> {
    // close() aborts the request in flight; one started after it would hold close() for the watch's ~290 s.
    if (this.closed) throw new ApiError('closed', 0);
    this.abort = new AbortController();
    let res: IncomingMessage;
    try {
      res = await apiGet(this.o.kubeConfig, this.o.server, `${this.o.collectionPath}?${this.o.selector}${extra}`, this.abort.signal, this.o.requestTimeoutMs);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(`cannot reach the Kubernetes API server ${this.o.server} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 0);
    }
    const code = res.statusCode ?? 0;
    if (code === 200) return res;
    await readBody(res, 65_536).catch(() => '');
    if (code === 410) throw new GoneError('Gone');
    if (code === 401 || code === 403) throw new ApiError(`the API server refused to ${verb} it (${code}): ${this.o.rbacHint}`, code);
    throw new ApiError(`the API server answered ${code} when asked to ${verb} it`, code);
  }

  private async list(): Promise<void> {
    const res = await this.get('', 'list');
    const body: unknown = JSON.parse(await readBody(res, 16 * 1024 * 1024));
    if (!isObject(body) || !Array.isArray(body['items'])) throw new ApiError('the list answer is not a list', 0);
    if (this.closed) return;
    this.o.onList(body['items']);
    const meta = body['metadata'];
    this.resourceVersion = isObject(meta) && typeof meta['resourceVersion'] === 'string' ? meta['resourceVersion'] : '';
  }

  private async watch(): Promise<void> {
    const extra = `&watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(this.resourceVersion ?? '')}&timeoutSeconds=${this.o.watchTimeoutSeconds}`;
    const res = await this.get(extra, 'watch');
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (this.closed) return;
        if (line.trim() === '') continue;
        const ev: unknown = JSON.parse(line);
        if (!isObject(ev)) continue;
        const obj = ev['object'];
        if (ev['type'] === 'ERROR') {
          if (isObject(obj) && obj['code'] === 410) throw new GoneError('Gone');
          throw new ApiError(`the watch ended with ${JSON.stringify(isObject(obj) ? obj['message'] : obj)}`, 0);
        }
        const meta = isObject(obj) && isObject(obj['metadata']) ? obj['metadata'] : undefined;
        if (typeof meta?.['resourceVersion'] === 'string') this.resourceVersion = meta['resourceVersion'];
        const type = ev['type'];
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.o.onEvent(type, obj);
      }
    } finally {
      lines.close();
      res.destroy();
    }
  }
}
