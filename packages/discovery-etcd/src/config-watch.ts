/**
 * Watches a service's live configuration document in etcd, at `<prefix>_fairway_config/<service>`: outside
 * `<prefix><service>/`, so Go's etcd naming resolver (which reads every key under the service prefix as an
 * endpoint) never sees it.
 *
 * Every value is validated (`parseLiveConfig` in `@fairway/core`); a bad one is refused with a warning naming
 * the field and its value, and the last good document stays. A deleted key means "no overrides". The watch
 * is etcd3's, which reconnects by itself; on each (re)connection the key is read again, so a change made while
 * the watch was down is not missed.
 */
import type { Etcd3, Watcher } from 'etcd3';
import { EMPTY_LIVE_CONFIG, parseLiveConfig, type LiveConfig } from '@fairway/core';
import { describeError, type EtcdLogger } from './connection.js';

/** The etcd key of `service`'s live configuration document. */
export function liveConfigKey(prefix: string, service: string): string {
  return `${prefix}_fairway_config/${service}`;
}

/** What the watch has applied. */
export interface LiveConfigStatus {
  readonly key: string;
  /** etcd modification revision of the document in use; 0 when there is none (no overrides). */
  readonly revision: number;
  /** Why the newest value was refused (the last good document is still in use), if it was. */
  readonly refused?: string;
}

export class LiveConfigWatch {
  private config: LiveConfig = EMPTY_LIVE_CONFIG;
  private revision = 0;
  private refused: string | undefined;
  private watcher: Watcher | undefined;
  private closed = false;
  private lastRefusedValue: string | undefined;

  private markSettled: () => void = () => {};
  /**
   * Resolves once the first read of the document has ended (read, found absent, or failed) or the watch could
   * not be made: until then `current()` is empty only because nothing was read yet, not because there is no
   * document. The source holds its first snapshot until then, so that a drain is never missed by it.
   */
  readonly settled: Promise<void> = new Promise<void>((resolve) => (this.markSettled = resolve));

  constructor(
    private readonly client: Etcd3,
    readonly key: string,
    private readonly log: EtcdLogger,
    private readonly onChange: () => void,
  ) {}

  /** The document in use (empty until one is read). */
  current(): LiveConfig {
    return this.config;
  }

  status(): LiveConfigStatus {
    return { key: this.key, revision: this.revision, ...(this.refused !== undefined ? { refused: this.refused } : {}) };
  }

  start(): void {
    void this.client
      .watch()
      .key(this.key)
      .create()
      .then((w) => {
        if (this.closed) {
          void w.cancel().catch(() => undefined);
          return;
        }
        this.watcher = w;
        w.on('put', (kv) => this.apply(kv.value.toString(), Number(kv.mod_revision)));
        w.on('delete', () => this.apply(undefined, 0));
        w.on('connected', () => void this.read());
        w.on('error', (err: unknown) => this.log.warn(`etcd live config ${this.key}: watch error (${describeError(err)}); etcd3 re-watches`));
        void this.read();
      })
      .catch((err: unknown) => {
        if (!this.closed) this.log.warn(`etcd live config ${this.key}: cannot watch (${describeError(err)}); no live configuration in use`);
        this.markSettled();
      });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.markSettled();
    const w = this.watcher;
    this.watcher = undefined;
    if (w) await Promise.race([w.cancel().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
  }

  private async read(): Promise<void> {
    try {
      const res = await this.client.get(this.key).exec();
      if (this.closed) return;
      const kv = res.kvs[0];
      if (kv === undefined) this.apply(undefined, 0);
      else this.apply(kv.value.toString(), Number(kv.mod_revision));
    } catch (err) {
      if (!this.closed) this.log.warn(`etcd live config ${this.key}: read failed (${describeError(err)}); keeping the document in use`);
    } finally {
      this.markSettled();
    }
  }

  private apply(text: string | undefined, revision: number): void {
    if (this.closed) return;
    if (text === undefined) {
      if (this.revision === 0 && this.refused === undefined) return;
      this.config = EMPTY_LIVE_CONFIG;
      this.revision = 0;
      this.refused = undefined;
      this.log.info(`etcd live config ${this.key}: deleted; no overrides`);
      this.onChange();
      return;
    }
    if (revision !== 0 && revision === this.revision) return; // the read after a reconnect: nothing new
    const r = parseLiveConfig(text);
    if (!r.ok) {
      this.refused = `revision ${revision}: ${r.error.message}`;
      if (this.lastRefusedValue !== text) {
        this.lastRefusedValue = text;
        this.log.warn(`etcd live config ${this.key}: refused ${this.refused}; keeping ${this.revision === 0 ? 'no overrides' : `revision ${this.revision}`}`);
      }
      return;
    }
    this.config = r.config;
    this.revision = revision;
    this.refused = undefined;
    this.log.info(`etcd live config ${this.key}: revision ${revision} in use`);
    this.onChange();
  }
}
