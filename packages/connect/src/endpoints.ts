/**
 * The endpoints of one transport: a connect-node gRPC transport (one HTTP/2 connection, its own
 * `Http2SessionManager`) per endpoint address, fed by the discovery source, and a core `Balancer` that picks
 * among the ready ones. Readiness is "a connection can be made": an endpoint is pickable once its session
 * manager has connected, and leaves the pickable set when a connection attempt fails or a call finds the
 * connection broken; it then reconnects with a capped back-off (as grpc-js's subchannels do).
 */
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import type { GrpcTransportOptions, Http2SessionOptions } from '@connectrpc/connect-node';
import type { Transport } from '@connectrpc/connect';
import { Balancer, endpointKey, hostPortProblem, showValue } from '@fairway/core';
import type { BalancerOptions, DiscoverySource, EndpointInfo, EndpointSnapshot, PickHandle } from '@fairway/core';

/** Reconnect back-off after a failed connection: from this, doubling, up to {@link MAX_RECONNECT_BACKOFF_MS}. */
export const MIN_RECONNECT_BACKOFF_MS = 100;
/** The longest pause between two connection attempts to a down endpoint (grpc-js's subchannels in Fairway use the same). */
export const MAX_RECONNECT_BACKOFF_MS = 2_000;

/**
 * How often the pool looks at each connection's state, ms: a connection the server closed (or that broke) leaves
 * the ready set within this time even when no call tries it. A state read is a field read: cheap at any size.
 */
export const CONNECTION_WATCH_INTERVAL_MS = 250;
/**
 * HTTP/2 keepalive of connections with calls in flight, as the grpc-js path's defaults: a PING after 10 s
 * without data, the connection declared dead when it is not answered within 5 s. Idle connections are not
 * pinged (servers commonly refuse frequent pings without calls: grpc-go's default minimum is 5 minutes).
 * `transportOptions.pingIntervalMs` / `pingTimeoutMs` / `pingIdleConnection` / `idleConnectionTimeoutMs` override it.
 */
export const KEEPALIVE = { pingIntervalMs: 10_000, pingTimeoutMs: 5_000 } as const;

/** What each endpoint's connect-node transport is made with, besides its address and session. */
export type EndpointTransportOptions = Omit<GrpcTransportOptions, 'baseUrl' | 'httpVersion' | 'sessionManager'>;

/** One endpoint's connection. */
export interface EndpointConnection {
  readonly key: string;
  readonly info: EndpointInfo;
  readonly transport: Transport;
  readonly session: Http2SessionManager;
}

interface Connection extends EndpointConnection {
  ready: boolean;
  closed: boolean;
  backoffMs: number;
  retryTimer: NodeJS.Timeout | undefined;
  connecting: boolean;
  /** Calls in flight on it: a connection discovery dropped closes when the last one ends. */
  inFlight: number;
}

/** What {@link EndpointPool} needs. */
export interface EndpointPoolConfig {
  readonly balancer: BalancerOptions;
  readonly tls: boolean;
  readonly transportOptions: EndpointTransportOptions;
  readonly now: () => number;
  readonly random: () => number;
  readonly log: (level: 'info' | 'warn', message: string) => void;
}

/** A waiter for a pickable endpoint. */
interface Waiter {
  readonly wake: () => void;
}

/** See the file comment. */
export class EndpointPool {
  readonly balancer: Balancer;
  private readonly connections = new Map<string, Connection>();
  private waiters = new Set<Waiter>();
  private closed = false;
  /** Why there is nothing to pick, for the error a call gets when it waited in vain. */
  private discoveryNote = 'discovery has not reported endpoints yet';
  private discoveryError: string | undefined;

  private watch: NodeJS.Timeout | undefined;

  constructor(private readonly config: EndpointPoolConfig) {
    this.balancer = new Balancer(config.balancer);
  }

  /** Starts the connection watch (once there are connections): marks broken ones not ready and reconnects them. */
  private startWatch(): void {
    if (this.watch !== undefined || this.closed) return;
    this.watch = setInterval(() => {
      for (const c of this.connections.values()) if (c.ready) this.checkConnection(c.key);
    }, CONNECTION_WATCH_INTERVAL_MS);
    this.watch.unref?.();
  }

  /**
   * Starts `source`; its snapshots and errors reach this pool. `sourceLogsErrors`: the source logs each error
   * it hands on itself (Fairway's etcd and Kubernetes sources), so the pool does not say it again.
   */
  follow(source: DiscoverySource, target: string, sourceLogsErrors = false): void {
    source.start({
      onSnapshot: (s) => this.apply(s, target),
      onError: (e) => {
        this.discoveryError = e.message;
        if (e.fatalForNow) this.discoveryNote = `discovery failed: ${e.message}`;
        if (!sourceLogsErrors) this.config.log('warn', `${target}: ${e.message}`);
        this.wakeAll();
      },
    });
  }

  /** Applies a discovery snapshot: new endpoints connect at once, gone ones close. */
  apply(snapshot: EndpointSnapshot, target: string): void {
    if (this.closed) return;
    const valid: EndpointInfo[] = [];
    for (const info of snapshot.endpoints) {
      const problem = info && typeof info.address === 'string' ? hostPortProblem(info.address) : 'no address';
      if (problem) {
        this.config.log('warn', `${target}: ignoring endpoint ${showValue(info)}: ${problem}`);
        continue;
      }
      valid.push(info);
    }
    const now = this.config.now();
    const { added, kept } = this.balancer.update(valid, now);
    const live = new Set([...added, ...kept]);
    const byKey = new Map(valid.map((i) => [endpointKey(i), i]));
    for (const [key, c] of this.connections) {
      const info = byKey.get(key);
      if (!live.has(key) || !info || info.address !== c.info.address) this.drop(key, c);
    }
    for (const key of live) {
      if (this.connections.has(key)) continue;
      const info = byKey.get(key);
      if (info) this.open(key, info);
    }
    this.discoveryError = undefined;
    this.discoveryNote = valid.length === 0 ? `discovery reported no endpoints${snapshot.note ? ` (${snapshot.note})` : ''}` : `no endpoint of ${valid.length} is reachable yet`;
    this.wakeAll();
  }

  /**
   * The connection of a picked key, counted as in use until `release` is called (a connection that
   * discovery drops meanwhile stays open until its calls end). Undefined when the key left the set.
   */
  acquire(key: string): { connection: EndpointConnection; release: () => void } | undefined {
    const c = this.connections.get(key);
    if (!c) return undefined;
    c.inFlight += 1;
    let released = false;
    return {
      connection: c,
      release: () => {
        if (released) return;
        released = true;
        c.inFlight -= 1;
        if (c.closed && c.inFlight === 0) abortSession(c.session);
      },
    };
  }

  /**
   * Picks an endpoint (avoiding `avoid` when another is pickable), waiting for one to become ready until
   * `signal` aborts. Resolves undefined when it aborted with nothing to pick; {@link whyNothing} says why.
   */
  async pick(avoid: ReadonlySet<string>, signal: AbortSignal): Promise<PickHandle | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const handle = this.balancer.pick(this.config.now(), this.config.random, avoid);
      if (handle) return handle;
      if (signal.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const waiter: Waiter = {
          wake: () => {
            this.waiters.delete(waiter);
            signal.removeEventListener('abort', waiter.wake);
            resolve();
          },
        };
        this.waiters.add(waiter);
        signal.addEventListener('abort', waiter.wake, { once: true });
      });
    }
  }

  /** Why no endpoint could be picked, for an error message. */
  whyNothing(): string {
    if (this.closed) return 'the transport was closed';
    return this.discoveryError !== undefined && this.balancer.size === 0 ? `discovery failed: ${this.discoveryError}` : this.discoveryNote;
  }

  /**
   * A call on `key` failed: if its connection is gone (the session manager says `error` or `closed`: the
   * server went away, or refused the connection), the endpoint is not ready until a new connection succeeds.
   */
  checkConnection(key: string): void {
    const c = this.connections.get(key);
    if (!c || c.closed) return;
    const state = c.session.state();
    if (state !== 'error' && state !== 'closed') return;
    this.setReady(c, false, `connection ${state}${state === 'error' ? `: ${errorText(c.session.error())}` : ''}`);
    this.reconnectLater(c);
  }

  /** Endpoint keys with their readiness, for diagnostics and tests. */
  readiness(): Array<{ key: string; address: string; ready: boolean }> {
    return [...this.connections.values()].map((c) => ({ key: c.key, address: c.info.address, ready: c.ready }));
  }

  /** Closes every connection and stops reconnecting; waiting picks end. */
  close(): void {
    this.closed = true;
    if (this.watch !== undefined) clearInterval(this.watch);
    this.watch = undefined;
    for (const [key, c] of this.connections) {
      this.drop(key, c);
      abortSession(c.session); // closing the transport ends its calls too
    }
    this.wakeAll();
  }

  private open(key: string, info: EndpointInfo): void {
    const baseUrl = `${this.config.tls ? 'https' : 'http'}://${info.address}`;
    // As connect-node would make it from the same options (it ignores them once a session manager is given):
    // keepalive fields and nodeOptions (TLS material, ...) from transportOptions, Fairway's keepalive by default.
    const o = this.config.transportOptions as EndpointTransportOptions & Http2SessionOptions & { nodeOptions?: ConstructorParameters<typeof Http2SessionManager>[2] };
    const session = new Http2SessionManager(
      baseUrl,
      {
        pingIntervalMs: o.pingIntervalMs ?? KEEPALIVE.pingIntervalMs,
        pingTimeoutMs: o.pingTimeoutMs ?? KEEPALIVE.pingTimeoutMs,
        ...(o.pingIdleConnection !== undefined ? { pingIdleConnection: o.pingIdleConnection } : {}),
        ...(o.idleConnectionTimeoutMs !== undefined ? { idleConnectionTimeoutMs: o.idleConnectionTimeoutMs } : {}),
      },
      o.nodeOptions,
    );
    this.startWatch();
    const transport = createGrpcTransport({ ...this.config.transportOptions, baseUrl, sessionManager: session });
    const c: Connection = { key, info, transport, session, ready: false, closed: false, backoffMs: MIN_RECONNECT_BACKOFF_MS, retryTimer: undefined, connecting: false, inFlight: 0 };
    this.connections.set(key, c);
    this.connect(c);
  }

  private connect(c: Connection): void {
    if (c.closed || c.connecting) return;
    c.connecting = true;
    c.session.connect().then(
      (state) => {
        c.connecting = false;
        if (c.closed) return;
        if (state === 'error') {
          this.setReady(c, false, `cannot connect: ${errorText(c.session.error())}`);
          this.reconnectLater(c);
          return;
        }
        c.backoffMs = MIN_RECONNECT_BACKOFF_MS;
        this.setReady(c, true, 'connected');
      },
      (error: unknown) => {
        c.connecting = false;
        if (c.closed) return;
        this.setReady(c, false, `cannot connect: ${errorText(error)}`);
        this.reconnectLater(c);
      },
    );
  }

  private reconnectLater(c: Connection): void {
    if (c.closed || c.retryTimer !== undefined) return;
    const delay = c.backoffMs;
    c.backoffMs = Math.min(MAX_RECONNECT_BACKOFF_MS, c.backoffMs * 2);
    c.retryTimer = setTimeout(() => {
      c.retryTimer = undefined;
      this.connect(c);
    }, delay);
    c.retryTimer.unref?.();
  }

  private setReady(c: Connection, ready: boolean, why: string): void {
    if (c.ready === ready) return;
    c.ready = ready;
    this.balancer.setReady(c.key, ready, this.config.now());
    this.config.log(ready ? 'info' : 'warn', `${c.info.address}: ${ready ? 'ready' : 'not ready'} (${why})`);
    if (ready) this.wakeAll();
  }

  private drop(key: string, c: Connection): void {
    c.closed = true;
    if (c.retryTimer !== undefined) clearTimeout(c.retryTimer);
    c.retryTimer = undefined;
    this.connections.delete(key);
    // Calls in flight on it finish first (abort() would end them); new calls no longer pick it.
    if (c.inFlight === 0) abortSession(c.session);
  }

  private wakeAll(): void {
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const w of waiters) w.wake();
  }
}

function abortSession(session: Http2SessionManager): void {
  try {
    session.abort();
  } catch {
    // already closed
  }
}

function errorText(error: unknown): string {
  if (error instanceof Error) return (error as NodeJS.ErrnoException).code ? `${(error as NodeJS.ErrnoException).code}: ${error.message}` : error.message;
  return String(error);
}
