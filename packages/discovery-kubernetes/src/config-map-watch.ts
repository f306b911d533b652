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
import type { KubeConfig } from '@kubernetes/client-node';
import { EMPTY_LIVE_CONFIG, parseLiveConfig, type LiveConfig } from '@fairway/core';
import { ListWatch } from './list-watch.js';

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

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export class ConfigMapWatch {
  private config: LiveConfig = EMPTY_LIVE_CONFIG;
  private revision = 0;
  private closed = false;
  private lastRefused: string | undefined;
  private readonly loop: ListWatch;

  constructor(private readonly o: ConfigMapWatchOptions) {
    this.loop = new ListWatch({
      kubeConfig: o.kubeConfig,
      server: o.server,
      what: this.what,
      collectionPath: `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/configmaps`,
      selector: `fieldSelector=${encodeURIComponent(`metadata.name=${o.name}`)}`,
      rbacHint: `the client needs RBAC get, list and watch on configmaps in namespace "${o.namespace}"`,
      log: o.log,
      retryInitialMs: o.retryInitialMs,
      retryMaxMs: o.retryMaxMs,
      watchTimeoutSeconds: o.watchTimeoutSeconds,
      requestTimeoutMs: o.requestTimeoutMs,
      describeKept: () => `keeping ${this.revision === 0 ? 'no document' : `resourceVersion ${this.revision}`}`,
      onList: (items) => (items[0] === undefined ? this.apply(undefined, 0) : this.applyObject(items[0])),
      onEvent: (type, obj) => (type === 'DELETED' ? this.apply(undefined, 0) : this.applyObject(obj)),
    });
  }

  get what(): string {
    return `live config ConfigMap ${this.o.namespace}/${this.o.name}`;
  }

  /** The document in use and its revision (the ConfigMap's resourceVersion; 0: none). */
  current(): { readonly revision: number; readonly config: LiveConfig } {
    return { revision: this.revision, config: this.config };
  }

  start(): void {
    this.loop.start();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.loop.close();
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
