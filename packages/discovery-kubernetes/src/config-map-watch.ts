/**
 * The live configuration document for Kubernetes users: a ConfigMap (default `fairway-config-<service>` in the
 * Service's namespace) whose data key `config.json` holds the same document as etcd's
 * `_fairway_config/<service>` (see `parseLiveConfig` in `@fairway/core`). Listed, then watched from the list's
 * resourceVersion (renewed when the server ends the watch, listed again after 410 Gone), with back-off on
 * failures. Every value is validated: a bad one is refused with a warning naming the field and its value, and
 * the last good document stays; a deleted ConfigMap means "no document".
 *
 * The client needs RBAC get, list and watch on `configmaps` in that namespace.
 */
import { createInterface } from 'node:readline';
import type { IncomingMessage } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { EMPTY_LIVE_CONFIG, parseLiveConfig, type LiveConfig } from '@fairway/core';
import { apiGet, ApiError, readBody } from './api-connection.js';

/** The data key of the ConfigMap that holds the document. */
export const LIVE_CONFIG_DATA_KEY = 'config.json';

/** The default ConfigMap name of `service`'s live configuration document. */
export function liveConfigMapName(service: string): string {
  return `fairway-config-${service}`;
}

export interface ConfigMapWatchOptions {
  readonly kubeConfig: KubeConfig;
  readonly server: string;
  readonly namespace: string;
  readonly name: string;
  readonly log: { info?(m: string): void; warn(m: string): void };
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly watchTimeoutSeconds: number;
  readonly requestTimeoutMs: number;
  /** Called after the document in use changed. */
  readonly onChange: () => void;
}

class GoneError extends Error {}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export class ConfigMapWatch {
  private config: LiveConfig = EMPTY_LIVE_CONFIG;
  private revision = 0;
  private resourceVersion: string | undefined;
  private closed = false;
  private abort: AbortController | undefined;
  private wake: (() => void) | undefined;
  private done: Promise<void> = Promise.resolve();
  private lastRefused: string | undefined;
  private lastProblem: string | undefined;

  constructor(private readonly o: ConfigMapWatchOptions) {}

  get what(): string {
    return `live config ConfigMap ${this.o.namespace}/${this.o.name}`;
  }

  /** The document in use and its revision (the ConfigMap's resourceVersion; 0: none). */
  current(): { readonly revision: number; readonly config: LiveConfig } {
    return { revision: this.revision, config: this.config };
  }

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
          this.o.log.warn(`${this.what}: ${message}; keeping ${this.revision === 0 ? 'no document' : `resourceVersion ${this.revision}`}, retrying`);
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

  private path(extra: string): string {
    const selector = encodeURIComponent(`metadata.name=${this.o.name}`);
    return `/api/v1/namespaces/${encodeURIComponent(this.o.namespace)}/configmaps?fieldSelector=${selector}${extra}`;
  }

  private async get(path: string, verb: string): Promise<IncomingMessage> {
    this.abort = new AbortController();
    let res: IncomingMessage;
    try {
      res = await apiGet(this.o.kubeConfig, this.o.server, path, this.abort.signal, this.o.requestTimeoutMs);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(`cannot reach the Kubernetes API server ${this.o.server} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 0);
    }
    const code = res.statusCode ?? 0;
    if (code === 200) return res;
    await readBody(res, 65_536).catch(() => '');
    if (code === 410) throw new GoneError('Gone');
    if (code === 401 || code === 403) {
      throw new ApiError(`the API server refused to ${verb} it (${code}): the client needs RBAC get, list and watch on configmaps in namespace "${this.o.namespace}"`, code);
    }
    throw new ApiError(`the API server answered ${code} when asked to ${verb} it`, code);
  }

  private async list(): Promise<void> {
    const res = await this.get(this.path(''), 'list');
    const body: unknown = JSON.parse(await readBody(res, 4 * 1024 * 1024));
    if (!isObject(body) || !Array.isArray(body['items'])) throw new ApiError('the list answer is not a ConfigMapList', 0);
    const item: unknown = body['items'][0];
    if (item === undefined) this.apply(undefined, 0);
    else this.applyObject(item);
    const meta = body['metadata'];
    this.resourceVersion = isObject(meta) && typeof meta['resourceVersion'] === 'string' ? meta['resourceVersion'] : '';
  }

  private async watch(): Promise<void> {
    const extra = `&watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(this.resourceVersion ?? '')}&timeoutSeconds=${this.o.watchTimeoutSeconds}`;
    const res = await this.get(this.path(extra), 'watch');
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (this.closed) return;
        if (line.trim() === '') continue;
        const ev: unknown = JSON.parse(line);
        if (!isObject(ev)) continue;
        const obj = ev['object'];
        const meta = isObject(obj) && isObject(obj['metadata']) ? obj['metadata'] : undefined;
        if (ev['type'] === 'ERROR') {
          if (isObject(obj) && obj['code'] === 410) throw new GoneError('Gone');
          throw new ApiError(`the watch ended with ${JSON.stringify(isObject(obj) ? obj['message'] : obj)}`, 0);
        }
        if (typeof meta?.['resourceVersion'] === 'string') this.resourceVersion = meta['resourceVersion'];
        if (ev['type'] === 'ADDED' || ev['type'] === 'MODIFIED') this.applyObject(obj);
        else if (ev['type'] === 'DELETED') this.apply(undefined, 0);
      }
    } finally {
      lines.close();
      res.destroy();
    }
  }

  private applyObject(obj: unknown): void {
    const meta = isObject(obj) && isObject(obj['metadata']) ? obj['metadata'] : undefined;
    const rv = Number(meta?.['resourceVersion']);
    const data = isObject(obj) && isObject(obj['data']) ? obj['data'] : undefined;
    const text = data?.[LIVE_CONFIG_DATA_KEY];
    const revision = Number.isFinite(rv) ? rv : this.revision + 1;
    if (typeof text !== 'string') this.refuse(`no data key ${LIVE_CONFIG_DATA_KEY} (the document goes there)`, revision, `(none) ${revision}`);
    else this.apply(text, revision);
  }

  private refuse(message: string, revision: number, value: string): void {
    if (this.lastRefused === value) return;
    this.lastRefused = value;
    this.o.log.warn(`${this.what}: refused resourceVersion ${revision}: ${message}; keeping ${this.revision === 0 ? 'no document' : `resourceVersion ${this.revision}`}`);
  }

  private apply(text: string | undefined, revision: number): void {
    if (this.closed) return;
    if (text === undefined) {
      if (this.revision === 0) return;
      this.config = EMPTY_LIVE_CONFIG;
      this.revision = 0;
      this.o.log.info?.(`${this.what}: deleted; no document`);
      this.o.onChange();
      return;
    }
    if (revision === this.revision) return;
    const r = parseLiveConfig(text);
    if (!r.ok) {
      this.refuse(r.error.message, revision, text);
      return;
    }
    this.config = r.config;
    this.revision = revision;
    this.o.log.info?.(`${this.what}: resourceVersion ${revision} in use`);
    this.o.onChange();
  }
}
