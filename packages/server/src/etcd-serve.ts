/**
 * Registration glue for a grpc-js `Server`: bind, then register in etcd; on shutdown (and, if asked, on
 * SIGTERM) deregister first, so clients stop picking this process, then drain with `tryShutdown`, then force
 * after a timeout.
 *
 * ```ts
 * const served = await serveAndRegisterInEtcd(server, { bind: '0.0.0.0:50051', address: `${podIp}:50051`,
 *   service: 'pricer', zone: 'eu-west-1a', instance: podName, shutdownOnSignals: ['SIGTERM'] });
 * // later
 * await served.shutdown();
 * ```
 */
import { hostPortProblem, showValue } from '@fairway/core';
import { ServerCredentials } from '@fairway/grpc';
import type { Server } from '@fairway/grpc';
import { register, REGISTER_OPTION_KEYS } from '@fairway/discovery-etcd';
import type { RegisterOptions, Registration } from '@fairway/discovery-etcd';
import { serveHealth, type HealthService } from './health.js';

/** Options of {@link serveAndRegisterInEtcd}: what to bind, what to register, how to stop. */
export interface ServeAndRegisterOptions extends Omit<RegisterOptions, 'address'> {
  /**
   * `host:port` to bind (`bindAsync`), e.g. `0.0.0.0:50051`; port 0 picks a free port. Default: the server is
   * already bound and `address` says where.
   */
  readonly bind?: string;
  /** Server credentials for `bind`. Default: insecure. */
  readonly credentials?: ServerCredentials;
  /**
   * `host:port` clients should connect to. Default: the `bind` host with the bound port (refused when that
   * host is a wildcard such as `0.0.0.0`: give the pod's own address then).
   */
  readonly address?: string;
  /** Longest graceful drain (`tryShutdown`) before `forceShutdown`, in ms. Default 10000. */
  readonly drainTimeoutMs?: number;
  /**
   * Pause between deregistering and starting the drain, so watching clients see the removal before the server
   * stops taking calls, in ms. Default 1000. Once the drain starts, a call from a client that has not yet seen
   * the removal is not refused but lost: Node's HTTP/2 `session.close()` destroys a session with no open
   * stream at once, so a call already on its way dies with `UNAVAILABLE: Connection dropped` (grpc-js retries a
   * refused stream by itself, a dropped connection it cannot). 1 s covers etcd's watch propagation (B7: p99
   * ~50 ms) with room for a busy client; the same reason Kubernetes pods get a `preStop` sleep.
   */
  readonly deregisterGraceMs?: number;
  /**
   * Signals that trigger `shutdown()`; after it the signal is raised again so the process ends as it would
   * have. Default: none (call `shutdown()` yourself).
   */
  readonly shutdownOnSignals?: readonly NodeJS.Signals[];
  /**
   * Serve `grpc.health.v1.Health` tied to shutdown: NOT_SERVING first (clients with `healthCheckConfig` in
   * their service config stop picking this server within a round trip), then deregister, then drain; the watch
   * streams are ended before the drain. `serviceNames`: names answered besides `""`. Default: on, with no extra
   * names; `false` turns it off (e.g. the server has its own health service).
   */
  readonly health?: false | { readonly serviceNames?: readonly string[] };
}

/** A served and registered server. */
export interface ServedInEtcd {
  /** The registered `host:port`. */
  readonly address: string;
  /** The bound port. */
  readonly port: number;
  readonly registration: Registration;
  /** The health service (see `health`), undefined when turned off. */
  readonly health: HealthService | undefined;
  /**
   * Deregisters (key deleted, lease revoked), waits `deregisterGraceMs`, drains the server (`tryShutdown`),
   * forces it after `drainTimeoutMs`. Idempotent: later calls return the same promise.
   */
  shutdown(): Promise<void>;
}

function bindAsync(server: Server, hostPort: string, creds: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(hostPort, creds, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

function splitHostPort(hp: string): { host: string; port: string } {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i), port: hp.slice(i + 1) };
}

/** This function's own option keys (`address` is also `register`'s: this function works it out, then passes it on). */
const OWN_OPTION_KEYS = [
  'bind', 'credentials', 'address', 'drainTimeoutMs', 'deregisterGraceMs', 'shutdownOnSignals', 'health',
] as const satisfies readonly (keyof ServeAndRegisterOptions)[];
/**
 * Every key of {@link ServeAndRegisterOptions}: this function's own and those passed on to `register`, which
 * would ignore any other. So a typo (`drainTimoutMs`) is refused by name instead of silently meaning the default.
 */
const OPTION_KEYS: readonly (keyof ServeAndRegisterOptions)[] = [
  ...OWN_OPTION_KEYS,
  ...REGISTER_OPTION_KEYS.filter((k) => !(OWN_OPTION_KEYS as readonly string[]).includes(k)),
];
/** Fails to compile when an option is added to `ServeAndRegisterOptions` (or `RegisterOptions`) but not to `OPTION_KEYS`. */
type AllOptionKeysListed<Missing extends never> = Missing;
type AllServeOptionKeysListed = AllOptionKeysListed<Exclude<keyof ServeAndRegisterOptions, (typeof OWN_OPTION_KEYS)[number] | (typeof REGISTER_OPTION_KEYS)[number]>>;

/**
 * Checks what this function itself uses, before the server is touched (health service, bind): unknown keys,
 * the `bind` address (Node would otherwise throw a bare `RangeError` for port 99999 from inside grpc-js) and
 * the shutdown settings. The registration options are checked by `register`.
 */
function checkServeOptions(options: ServeAndRegisterOptions): void {
  const what = 'serveAndRegisterInEtcd';
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new Error(`${what}: options must be an object with at least { service } and "bind" or "address"`);
  }
  const known: readonly string[] = OPTION_KEYS;
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new Error(`${what}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (known: ${known.join(', ')})`);
  }
  const { bind, drainTimeoutMs, deregisterGraceMs, shutdownOnSignals, health } = options;
  if (bind !== undefined) {
    if (typeof bind !== 'string') throw new Error(`${what}: bind must be "host:port", got ${showValue(bind)}`);
    // Port 0 (a free port) is fine here; otherwise the same rule as every host:port Fairway takes.
    const { host, port } = splitHostPort(bind);
    const problem = port === '0' ? hostPortProblem(`${host}:1`) : hostPortProblem(bind);
    if (problem !== undefined) throw new Error(`${what}: bind ${JSON.stringify(bind)}: ${problem}${/port/.test(problem) ? ' (port 0 picks a free port)' : ''}`);
  }
  for (const [name, value] of [['drainTimeoutMs', drainTimeoutMs], ['deregisterGraceMs', deregisterGraceMs]] as const) {
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
      throw new Error(`${what}: ${name} must be a finite number of milliseconds >= 0, got ${showValue(value)}`);
    }
  }
  if (shutdownOnSignals !== undefined && !(Array.isArray(shutdownOnSignals) && shutdownOnSignals.every((s) => typeof s === 'string' && /^SIG[A-Z0-9]+$/.test(s)))) {
    throw new Error(`${what}: shutdownOnSignals must be an array of signal names such as "SIGTERM", got ${showValue(shutdownOnSignals)}`);
  }
  if (health !== undefined && health !== false && !(typeof health === 'object' && health !== null && !Array.isArray(health))) {
    throw new Error(`${what}: health must be false or { serviceNames?: string[] }, got ${showValue(health)}`);
  }
}

/** Binds (if `bind` is given), registers in etcd, and returns a handle whose `shutdown()` deregisters, then drains. */
export async function serveAndRegisterInEtcd(server: Server, options: ServeAndRegisterOptions): Promise<ServedInEtcd> {
  checkServeOptions(options);
  const { bind, credentials, address: advertised, drainTimeoutMs = 10_000, deregisterGraceMs = 1_000, shutdownOnSignals = [], health: healthOption, ...reg } = options;
  // Added before binding, so the first connection already has it (throws, naming the service, on a duplicate).
  const health = healthOption === false ? undefined : serveHealth(server, { serviceNames: healthOption?.serviceNames ?? [] });
  let port: number;
  let address: string;
  if (bind !== undefined) {
    port = await bindAsync(server, bind, credentials ?? ServerCredentials.createInsecure());
    const { host } = splitHostPort(bind);
    if (advertised !== undefined) {
      address = advertised;
    } else {
      if (host === '0.0.0.0' || host === '[::]' || host === '::' || host === '') {
        server.forceShutdown();
        throw new Error(`serveAndRegisterInEtcd: bound ${bind}, a wildcard address; pass "address" (the host:port clients should use, e.g. the pod IP)`);
      }
      address = `${host}:${port}`;
    }
  } else {
    if (advertised === undefined) throw new Error('serveAndRegisterInEtcd: pass "bind" (to bind here) or "address" (where the already bound server listens)');
    address = advertised;
    port = Number(splitHostPort(advertised).port);
  }
  let registration: Registration;
  try {
    registration = await register({ ...reg, address });
  } catch (err) {
    if (bind !== undefined) server.forceShutdown();
    throw err;
  }

  let done: Promise<void> | undefined;
  const handlers = new Map<NodeJS.Signals, () => void>();
  const removeHandlers = () => {
    for (const [sig, h] of handlers) process.removeListener(sig, h);
    handlers.clear();
  };
  const shutdown = (): Promise<void> => {
    done ??= (async () => {
      removeHandlers();
      health?.setServing(false); // health-checking clients stop picking this server at once
      await registration.deregister();
      if (deregisterGraceMs > 0) await new Promise((r) => setTimeout(r, deregisterGraceMs));
      health?.endWatches(); // they never end by themselves and would hold tryShutdown until forced
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, drainTimeoutMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    })();
    return done;
  };
  for (const sig of shutdownOnSignals) {
    const h = () => {
      void shutdown().finally(() => {
        // The default action of the signal (end the process), as if we had not caught it.
        if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
      });
    };
    handlers.set(sig, h);
    process.once(sig, h);
  }
  return { address, port, registration, health, shutdown };
}
