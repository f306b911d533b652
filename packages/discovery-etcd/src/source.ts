/**
 * The etcd discovery source: `etcd:///pricer` or `etcd://h1:2379,h2:2379/pricer`.
 *
 * 1. A consistent (linearizable) read of `<prefix><service>/`, then a watch from that revision + 1.
 * 2. Watch events update the set; every change is delivered as a full snapshot.
 * 3. After a dropped watch, an etcd error or a compaction, the source re-reads the prefix and watches again
 *    from the new revision. Retries back off (100 ms doubling to `maxBackoffMs`).
 * 4. While etcd is unreachable the last good set is kept and re-sent with `stale: true` and a note, a
 *    rate-limited warning says so, and `status()` counts it. The set is never emptied for that reason.
 * 5. When etcd cannot be reached at start, after `dialTimeoutMs` the listener gets a `fatalForNow` error
 *    naming the etcd endpoints, so the first calls fail with UNAVAILABLE saying why.
 * 7. Beside the endpoints it watches the service's live configuration document
 *    (`<prefix>_fairway_config/<service>`, see `config-watch.ts`) and applies its weight overrides and drains
 *    to every snapshot; the document itself (balancer and retry settings) travels with each snapshot.
 * 6. Bad values are skipped with a rate-limited warning naming the key; per instance the newest incarnation
 *    wins (by incarnation start time, else by the key's etcd modification revision).
 *
 * Log levels: `error` is only for a failure that is also handed to the listener's `onError`, logged together
 * with it (a caller that reports what its listener is handed, as the CLI does, can leave `error` out and
 * says each failure once); `warn` is for what the source skips or keeps on its own (bad values, the last good
 * set while etcd is unreachable); `info` for what goes well again.
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { hostname } from 'node:os';
import { applyLiveConfig, compareIncarnations, createRateLimitedLog } from '@fairway/core';
import { withPeerRegistry } from './peer-registry.js';
import type { DiscoveryListener, DiscoverySource, EndpointInfo, EndpointSnapshot, ParsedTarget } from '@fairway/core';
import { decodeEtcdValue, isDecodeError, servicePrefix } from './decode.js';
import { checkConnectionOptions, defaultEtcdLogger, describeError, EtcdOptionsError, parseEndpoints, prepareConnection, readTlsFiles, type EtcdClientOptions, type EtcdConnection, type EtcdLogger } from './connection.js';
import { LiveConfigWatch, liveConfigKey, type LiveConfigStatus } from './config-watch.js';

/** Options of the etcd discovery source (`discovery: { etcd: {...} }` in the factory). */
export interface EtcdDiscoveryOptions extends EtcdClientOptions {
  /** The same warning (per key or per condition) is logged at most once per this many ms. Default 30000. */
  readonly logIntervalMs?: number;
  /**
   * Keep a registry of this service's clients in etcd (`<prefix>_fairway_clients/<service>/<id>`, leased) and
   * attach this client's place (`peers: { index, count }`) to every snapshot, for deterministic subsetting
   * (the factory's `subset` option). `true` uses a fresh id per process; `{ id }` sets it. Default off.
   */
  readonly peerRegistry?: boolean | { readonly id?: string };
}

/** What the source is doing now: readable by telemetry and the CLI. */
export interface EtcdSourceStatus {
  /** The live configuration document in use (its key, etcd revision, and why a newer one was refused). */
  readonly liveConfig?: LiveConfigStatus;
  /** `connecting`: no data yet; `watching`: in sync; `unreachable`: serving the last good set (or nothing yet); `closed`. */
  readonly state: 'connecting' | 'watching' | 'unreachable' | 'closed';
  /** True while the last good set is being re-sent because etcd cannot be reached. */
  readonly stale: boolean;
  /** etcd endpoints in use (`host:port`). */
  readonly etcdEndpoints: readonly string[];
  /** The key prefix watched, e.g. `pricer/`. */
  readonly keyPrefix: string;
  /** Endpoints in the current set. */
  readonly endpointCount: number;
  /** Last etcd revision applied. */
  readonly revision: number;
  /** When etcd became unreachable (ms since epoch), while it is. */
  readonly unreachableSinceMs?: number;
  readonly lastError?: string;
  /** Times the watch was lost and re-established. */
  readonly reconnects: number;
  /** Times the whole prefix was read (1 at start, more after compactions). */
  readonly relists: number;
  /** Values skipped because they could not be decoded. */
  readonly skippedValues: number;
  /** Snapshots delivered. */
  readonly snapshots: number;
}

/** A running etcd source with a status read-out. */
export interface EtcdDiscoverySource extends DiscoverySource {
  status(): EtcdSourceStatus;
}

interface Entry {
  readonly info: EndpointInfo;
  readonly modRevision: number;
}

/** Every field of {@link EtcdDiscoveryOptions}: anything else is a typo, refused by name. */
const ETCD_DISCOVERY_OPTION_KEYS: readonly string[] = ['endpoints', 'auth', 'tls', 'dialTimeoutMs', 'prefix', 'logger', 'maxBackoffMs', 'logIntervalMs', 'peerRegistry'];

function parseOptions(options: unknown, what: string): EtcdDiscoveryOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) throw new EtcdOptionsError(`${what}: discovery.etcd options must be an object`);
  const o = options as EtcdDiscoveryOptions;
  for (const key of Object.keys(o)) {
    if (!ETCD_DISCOVERY_OPTION_KEYS.includes(key)) {
      throw new EtcdOptionsError(`${what}: unknown option discovery.etcd.${key} (known: ${ETCD_DISCOVERY_OPTION_KEYS.join(', ')})`);
    }
  }
  if (o.endpoints !== undefined) {
    const ok = typeof o.endpoints === 'string' || (Array.isArray(o.endpoints) && o.endpoints.every((e: unknown) => typeof e === 'string'));
    if (!ok) throw new EtcdOptionsError(`${what}: endpoints must be "host:port,host:port" or an array of "host:port" strings, got ${JSON.stringify(o.endpoints)}`);
  }
  const log = o.logger as Partial<Record<keyof EtcdLogger, unknown>> | undefined;
  if (log !== undefined && (typeof log !== 'object' || log === null || typeof log.info !== 'function' || typeof log.warn !== 'function' || typeof log.error !== 'function')) {
    throw new EtcdOptionsError(`${what}: logger must have info, warn and error methods`);
  }
  checkConnectionOptions(o, what);
  // After the tls check: whether an http:// endpoint may stand beside tls depends on it.
  if (o.endpoints !== undefined) parseEndpoints(o.endpoints, o.tls, what);
  if (o.prefix !== undefined && typeof o.prefix !== 'string') throw new EtcdOptionsError(`${what}: prefix must be a string`);
  if (o.maxBackoffMs !== undefined && !(typeof o.maxBackoffMs === 'number' && o.maxBackoffMs > 0)) {
    throw new EtcdOptionsError(`${what}: maxBackoffMs must be a positive number of milliseconds`);
  }
  if (o.logIntervalMs !== undefined && !(typeof o.logIntervalMs === 'number' && o.logIntervalMs >= 0)) {
    throw new EtcdOptionsError(`${what}: logIntervalMs must be a number of milliseconds >= 0`);
  }
  const pr = o.peerRegistry;
  if (pr !== undefined && typeof pr !== 'boolean' && !(typeof pr === 'object' && pr !== null && (pr.id === undefined || (typeof pr.id === 'string' && /^[^\s/]+$/.test(pr.id))))) {
    throw new EtcdOptionsError(`${what}: peerRegistry must be true, false or { id: "<name without / or spaces>" }, got ${JSON.stringify(pr)}`);
  }
  return o;
}

/**
 * The wait before the next try while etcd fails: the back-off `backoffWaitMs`, but before the first set or
 * error has been reported never past the connect timeout. A doubling back-off would otherwise overshoot it
 * (with 5,000 ms: tries at ~3.1 s and ~6.3 s, so the error naming etcd came 1.3 s late, after calls with a
 * deadline a little past the timeout had already failed DEADLINE_EXCEEDED without saying why).
 */
export function firstReportWaitMs(backoffWaitMs: number, reported: boolean, elapsedMs: number, dialTimeoutMs: number): number {
  if (reported || elapsedMs >= dialTimeoutMs) return backoffWaitMs;
  return Math.min(backoffWaitMs, dialTimeoutMs - elapsedMs);
}

/**
 * Checks `discovery.etcd` options as {@link createEtcdSource} will, without a target and without connecting:
 * unknown fields, types and ranges, the endpoints' form, and that TLS files can be read. Throws
 * {@link EtcdOptionsError} naming the field. The factory runs it when a client is made
 * (`createEtcdSource.checkOptions`).
 */
export function checkEtcdDiscoveryOptions(options: unknown): void {
  const o = parseOptions(options, 'discovery.etcd');
  if (o.tls) readTlsFiles(o.tls, 'discovery.etcd');
}

/**
 * Makes the etcd discovery source for a target (a `DiscoverySourceFactory`). Throws an error naming the
 * target when the target or the options are bad (no endpoints, a malformed endpoint, a bad option).
 */
export function createEtcdSource(target: ParsedTarget, options?: unknown): EtcdDiscoverySource {
  const what = `etcd target ${JSON.stringify(target.raw)}`;
  if (target.scheme !== 'etcd') throw new EtcdOptionsError(`${what}: scheme is "${target.scheme}", not "etcd"`);
  if (target.path === '' || /\s/.test(target.path)) throw new EtcdOptionsError(`${what}: no service name: write "etcd:///<service>"`);
  const o = parseOptions(options, what);
  const connection = prepareConnection(target.authority, o, what);
  const source = new EtcdSource(target, o, connection);
  if (!o.peerRegistry) return source;
  const clientId = (typeof o.peerRegistry === 'object' ? o.peerRegistry.id : undefined) ?? `${hostname()}-${process.pid}-${Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0')}`;
  return withPeerRegistry(source, {
    target,
    options: o,
    etcdEndpoints: connection.endpoints,
    clientId,
    watchClients: (peerOptions) => new EtcdSource(target, peerOptions, prepareConnection(target.authority, peerOptions, what)),
  });
}
createEtcdSource.checkOptions = checkEtcdDiscoveryOptions;

class EtcdSource implements EtcdDiscoverySource {
  private readonly keyPrefix: string;
  private readonly configKey: string;
  private configWatch: LiveConfigWatch | undefined;
  private readonly endpoints: readonly string[];
  private readonly log: EtcdLogger;
  private readonly rl: ReturnType<typeof createRateLimitedLog>;
  private readonly dialTimeoutMs: number;
  private readonly maxBackoffMs: number;
  private client: Etcd3 | undefined;
  private listener: DiscoveryListener | undefined;
  private entries = new Map<string, Entry>();
  private revision = 0;
  private watcher: Watcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private started = false;
  private startedAtMs = 0;
  private delivered = false;
  /** The first snapshot is waiting for the live document's first read (see onSynced). */
  private firstDeliveryHeld = false;
  private backoffMs = 100;
  private state: EtcdSourceStatus['state'] = 'connecting';
  private stale = false;
  private unreachableSinceMs: number | undefined;
  private lastError: string | undefined;
  private lastSentKey = '';
  private lastFatalAtMs: number | undefined;
  /** Failed tries since the last fatal error was handed on (said with the next one). */
  private fatalHeldBack = 0;
  private readonly logIntervalMs: number;
  private epoch = 0;
  private counters = { reconnects: 0, relists: 0, skippedValues: 0, snapshots: 0 };

  constructor(
    private readonly target: ParsedTarget,
    options: EtcdDiscoveryOptions,
    private readonly connection: EtcdConnection,
  ) {
    this.endpoints = connection.endpoints;
    this.keyPrefix = servicePrefix(options.prefix ?? '', target.path);
    this.configKey = liveConfigKey(options.prefix ?? '', target.path);
    this.log = options.logger ?? defaultEtcdLogger;
    this.logIntervalMs = options.logIntervalMs ?? 30_000;
    this.rl = createRateLimitedLog(this.log, this.logIntervalMs);
    this.dialTimeoutMs = options.dialTimeoutMs ?? 5000;
    this.maxBackoffMs = options.maxBackoffMs ?? 5000;
  }

  start(listener: DiscoveryListener): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.listener = listener;
    this.startedAtMs = Date.now();
    this.client = this.connection.connect();
    this.schedule(0, () => this.sync());
  }

  refresh(): void {
    // The watch keeps the set current; a refresh hint only matters while we are retrying: retry now.
    if (this.closed || !this.started) return;
    if (this.state === 'unreachable' && this.timer) {
      this.backoffMs = 100;
      this.schedule(0, () => this.sync());
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.state = 'closed';
    this.epoch++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const w = this.watcher;
    this.watcher = undefined;
    await this.configWatch?.close();
    try {
      if (w) await Promise.race([w.cancel(), new Promise((r) => setTimeout(r, 1000).unref())]);
    } catch {
      /* closing anyway */
    }
    this.client?.close();
    this.client = undefined;
  }

  status(): EtcdSourceStatus {
    return {
      state: this.state,
      stale: this.stale,
      etcdEndpoints: this.endpoints,
      keyPrefix: this.keyPrefix,
      endpointCount: this.currentSet().length,
      revision: this.revision,
      ...(this.configWatch !== undefined ? { liveConfig: this.configWatch.status() } : {}),
      ...(this.unreachableSinceMs !== undefined ? { unreachableSinceMs: this.unreachableSinceMs } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      ...this.counters,
    };
  }

  private schedule(ms: number, fn: () => void | Promise<void>): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void fn();
    }, ms);
  }

  private describeEndpoints(): string {
    return this.endpoints.join(',');
  }

  /** One attempt to get in sync: a consistent read of the prefix, then a watch from its revision + 1. */
  private async sync(): Promise<void> {
    if (this.closed || !this.client) return;
    const epoch = ++this.epoch;
    try {
      await this.list(epoch);
      if (epoch !== this.epoch) return;
      const outcome = await this.watchFrom(this.revision + 1, epoch);
      if (epoch !== this.epoch) return;
      if (outcome === 'compacted') {
        this.rl.info('compacted:' + this.keyPrefix, `etcd discovery ${this.keyPrefix}: watch revision ${this.revision + 1} was compacted; re-reading the prefix`);
        await this.list(epoch);
        if (epoch !== this.epoch) return;
        const again = await this.watchFrom(this.revision + 1, epoch);
        if (again === 'compacted') throw new Error(`watch from revision ${this.revision + 1} was compacted again`);
      }
      if (epoch !== this.epoch) return;
      this.onSynced();
    } catch (err) {
      if (epoch !== this.epoch || this.closed) return;
      this.onFailure(err);
    }
  }

  private async list(epoch: number): Promise<void> {
    const client = this.client!;
    const res = await client
      .getAll()
      .prefix(this.keyPrefix)
      .options({ deadline: Date.now() + this.dialTimeoutMs })
      .exec();
    if (epoch !== this.epoch || this.closed) return;
    this.counters.relists++;
    const next = new Map<string, Entry>();
    for (const kv of res.kvs) {
      const e = this.decode(kv);
      if (e) next.set(e[0], e[1]);
    }
    this.entries = next;
    this.revision = Number(res.header.revision);
  }

  private decode(kv: IKeyValue): [string, Entry] | undefined {
    const key = kv.key.toString('utf8');
    const r = decodeEtcdValue(key, kv.value, this.keyPrefix);
    if (isDecodeError(r)) {
      this.counters.skippedValues++;
      this.rl.warn('bad:' + key, `etcd discovery: ${r.message}`);
      return undefined;
    }
    return [key, { info: r, modRevision: Number(kv.mod_revision) }];
  }

  /** Creates the watch; resolves once etcd confirmed it ('ok') or refused the revision ('compacted'). */
  private watchFrom(startRevision: number, epoch: number): Promise<'ok' | 'compacted'> {
    const client = this.client!;
    this.dropWatcher();
    const w = client.watch().prefix(this.keyPrefix).startRevision(String(startRevision)).watcher();
    this.watcher = w;
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        fail(new Error(`no answer from etcd within ${this.dialTimeoutMs}ms when starting the watch`));
      }, this.dialTimeoutMs);
      const fail = (err: unknown) => {
        if (settled) {
          if (this.watcher !== w || epoch !== this.epoch) return;
          const msg = describeError(err);
          if (/cancel/i.test(msg) && !/CANCELLED/.test(msg)) {
            // etcd itself ended the watch (e.g. its start revision was compacted right after it was created):
            // etcd is reachable, so no stale marking; read again at once.
            this.rl.info('canceled:' + this.keyPrefix, `etcd discovery ${this.keyPrefix}: etcd canceled the watch (${msg}); re-reading the prefix`);
            this.dropWatcher();
            this.schedule(0, () => this.sync());
            return;
          }
          // A watch that was running broke (etcd down, connection lost): keep the set, re-list and re-watch.
          this.onWatchLost(err);
          return;
        }
        settled = true;
        clearTimeout(timer);
        this.dropWatcher(w);
        const msg = describeError(err);
        if (/compact/i.test(msg)) resolve('compacted');
        else reject(err);
      };
      w.on('connected', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve('ok');
      });
      w.on('disconnected', (err: unknown) => fail(err ?? new Error('watch stream disconnected')));
      w.on('error', (err: unknown) => fail(err));
      w.on('end', () => fail(new Error('watch ended')));
      w.on('data', (res: { header: { revision: string }; events: Array<{ type: string; kv: IKeyValue }>; compact_revision?: string }) => {
        if (this.watcher !== w || this.closed) return;
        this.applyEvents(res.events ?? [], Number(res.header.revision));
      });
    });
  }

  private dropWatcher(only?: Watcher): void {
    const w = this.watcher;
    if (!w || (only && w !== only)) return;
    this.watcher = undefined;
    w.removeAllListeners('data');
    // Keep an error listener: a late 'error' on an EventEmitter without one would throw.
    w.removeAllListeners('error');
    w.on('error', () => undefined);
    w.cancel().catch(() => undefined);
  }

  private applyEvents(events: ReadonlyArray<{ type: string; kv: IKeyValue }>, headerRevision: number): void {
    let changed = false;
    for (const ev of events) {
      const key = ev.kv.key.toString('utf8');
      const rev = Number(ev.kv.mod_revision);
      if (rev <= this.revision && rev !== 0) continue; // already seen (resumed watch overlap)
      if (String(ev.type).toLowerCase() === 'delete') {
        if (this.entries.delete(key)) changed = true;
      } else {
        const e = this.decode(ev.kv);
        if (e) this.entries.set(e[0], e[1]);
        else this.entries.delete(key); // the key's current value is unusable: its old value is no longer true either
        changed = true;
      }
      if (rev > this.revision) this.revision = rev;
    }
    if (headerRevision > this.revision && events.length === 0) this.revision = headerRevision;
    if (changed && this.state === 'watching') this.deliver();
  }

  private onSynced(): void {
    const wasUnreachable = this.state === 'unreachable';
    if (wasUnreachable || this.stale) {
      this.log.info(`etcd discovery ${this.keyPrefix}: etcd at ${this.describeEndpoints()} reachable again; ${this.currentSet().length} endpoint(s)`);
    }
    if (this.delivered && wasUnreachable) this.counters.reconnects++;
    this.state = 'watching';
    // The live configuration document is watched once etcd has answered: a watch created while etcd cannot be
    // reached keeps etcd3 retrying in the background, which held the process open after close().
    if (this.configWatch === undefined && this.client !== undefined) {
      this.configWatch = new LiveConfigWatch(this.client, this.configKey, this.log, () => {
        if (this.delivered) this.deliver();
      });
      this.configWatch.start();
    }
    this.stale = false;
    this.unreachableSinceMs = undefined;
    this.lastError = undefined;
    this.backoffMs = 100;
    if (!this.delivered && this.configWatch !== undefined) {
      // The first snapshot waits for the first read of the live document (one more round trip, at most the
      // connect timeout): sent before it, a drained endpoint went out at its full weight, and a client's first
      // picks (or `fairway resolve`) used it.
      if (this.firstDeliveryHeld) return;
      this.firstDeliveryHeld = true;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.dialTimeoutMs)));
      timer?.unref();
      void Promise.race([this.configWatch.settled, timeout]).then(() => {
        clearTimeout(timer);
        this.firstDeliveryHeld = false;
        if (!this.closed && !this.delivered && this.state === 'watching') this.deliver();
      });
      return;
    }
    this.deliver();
  }

  private onWatchLost(err: unknown): void {
    if (this.closed) return;
    this.dropWatcher();
    this.lastError = describeError(err);
    this.markUnreachable();
    // Re-read the prefix (whatever happened meanwhile, compactions included), then watch again.
    this.schedule(this.jitter(100), () => this.sync());
  }

  private onFailure(err: unknown): void {
    this.dropWatcher();
    this.lastError = describeError(err);
    const elapsed = Date.now() - this.startedAtMs;
    if (!this.delivered) {
      const permanent = /auth|permission|certificate|tls|ssl/i.test(this.lastError);
      if ((elapsed >= this.dialTimeoutMs || permanent) && this.listener) {
        this.state = 'unreachable';
        this.unreachableSinceMs ??= this.startedAtMs;
        const message = `etcd discovery for ${JSON.stringify(this.target.raw)}: cannot read ${JSON.stringify(this.keyPrefix)} from etcd at ${this.describeEndpoints()} (tried for ${elapsed}ms): ${this.lastError}`;
        // Once at first, then at most every logIntervalMs (the channel keeps the error until a set arrives).
        // Logged at `error` exactly when it is handed on, never otherwise: see the file comment.
        const now = Date.now();
        if (this.lastFatalAtMs === undefined || now - this.lastFatalAtMs >= this.logIntervalMs) {
          this.lastFatalAtMs = now;
          const heldBack = this.fatalHeldBack;
          this.fatalHeldBack = 0;
          this.logError(heldBack > 0 ? `${message} (${heldBack} similar message(s) held back)` : message);
          this.listener.onError({ message, fatalForNow: true, cause: err });
        } else {
          this.fatalHeldBack++;
        }
      }
    } else {
      this.markUnreachable();
    }
    const wait = firstReportWaitMs(this.jitter(this.backoffMs), this.delivered || this.lastFatalAtMs !== undefined, elapsed, this.dialTimeoutMs);
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.schedule(wait, () => this.sync());
  }

  private logError(message: string): void {
    try {
      this.log.error(message);
    } catch {
      /* a logger must never break discovery */
    }
  }

  private markUnreachable(): void {
    if (!this.delivered) return;
    const first = this.state !== 'unreachable';
    this.state = 'unreachable';
    if (first) this.unreachableSinceMs = Date.now();
    this.stale = true;
    const n = this.currentSet().length;
    this.rl.warn(
      'unreachable',
      `etcd discovery ${this.keyPrefix}: etcd at ${this.describeEndpoints()} unreachable since ${new Date(this.unreachableSinceMs!).toISOString()} (${this.lastError ?? 'watch lost'}); keeping the last good set of ${n} endpoint(s)`,
    );
    if (first) this.deliver();
  }

  private jitter(ms: number): number {
    return Math.round(ms * (0.8 + Math.random() * 0.4));
  }

  /** The set: per instance only the newest incarnation; sorted by address for stable snapshots. */
  private currentSet(): EndpointInfo[] {
    const best = new Map<string, Entry>();
    for (const e of this.entries.values()) {
      const id = e.info.instance ?? e.info.address;
      const cur = best.get(id);
      if (!cur || newer(e, cur)) best.set(id, e);
    }
    return [...best.values()].map((e) => e.info).sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  private deliver(): void {
    if (this.firstDeliveryHeld) return; // a watch event during the wait: the held first snapshot will carry it
    if (this.closed || !this.listener) return;
    const config = this.configWatch?.status();
    const endpoints = this.configWatch ? applyLiveConfig(this.currentSet(), this.configWatch.current()) : this.currentSet();
    const configNote = config !== undefined && config.revision !== 0 ? `; live config revision ${config.revision}` : '';
    const live = this.configWatch !== undefined && config !== undefined && config.revision !== 0 ? { revision: config.revision, config: this.configWatch.current() } : undefined;
    const snapshot: EndpointSnapshot = this.stale
      ? {
          endpoints,
          ...(live ? { liveConfig: live } : {}),
          stale: true,
          note: `etcd at ${this.describeEndpoints()} unreachable since ${new Date(this.unreachableSinceMs ?? Date.now()).toISOString()}: ${this.lastError ?? 'watch lost'}; serving the last good set of ${endpoints.length} endpoint(s)`,
        }
      : { endpoints, ...(live ? { liveConfig: live } : {}), note: `etcd ${this.keyPrefix} at revision ${this.revision}: ${endpoints.length} endpoint(s)${configNote}` };
    const key = JSON.stringify([endpoints, this.stale, live?.revision ?? 0]);
    if (key === this.lastSentKey && this.delivered) return;
    this.lastSentKey = key;
    this.delivered = true;
    this.counters.snapshots++;
    this.listener.onSnapshot(snapshot);
  }
}

/** True when `a` is a newer incarnation than `b` (same instance). */
function newer(a: Entry, b: Entry): boolean {
  if (a.info.incarnation !== undefined && b.info.incarnation !== undefined) {
    const c = compareIncarnations(a.info.incarnation, b.info.incarnation);
    if (c !== undefined && c !== 0) return c > 0;
  }
  return a.modRevision > b.modRevision;
}
