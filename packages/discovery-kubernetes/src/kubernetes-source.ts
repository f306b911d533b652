/**
 * `k8s:///<service>[.<namespace>]:<port>`: the Service's EndpointSlices, listed and watched, as endpoint snapshots.
 *
 * The loop (one request at a time):
 * 1. list `discovery.k8s.io/v1` EndpointSlices labelled `kubernetes.io/service-name=<service>` (chunked with
 *    `limit`/`continue`), keep them by slice name and note the list's resourceVersion;
 * 2. watch from that resourceVersion with `allowWatchBookmarks=true`: ADDED/MODIFIED replace a slice,
 *    DELETED removes it, BOOKMARK advances the resourceVersion; a snapshot goes out when the usable set changes;
 * 3. the server ending a watch (its `timeoutSeconds`) -> watch again from the last resourceVersion;
 *    an ERROR 410 Gone (history compacted) -> list again; a dropped stream, a refused connection or an error
 *    status -> back-off (bounded, jittered), then watch again (or list, if there never was a list).
 * While the API cannot be reached the last good set is kept and re-sent once with `stale: true` and a note;
 * before any set was delivered, errors go to `onError` with `fatalForNow: true`. A rejected token says 401/403,
 * the API server, and the RBAC that is missing; the token never appears anywhere.
 * Log levels (see {@link KubernetesLogger}): `error` only for a failure also handed to `onError`; `warn` for what
 * the source skips, keeps or retries on its own; `info` for what goes well again.
 */
import type { DiscoveryListener, DiscoverySource, EndpointInfo, EndpointSnapshot, ParsedTarget, RateLimitedLog } from '@fairway/core';
import { applyLiveConfig, createRateLimitedLog, parseKubernetesPath, parseTarget, sourceInsidePeerPlace, withPeerPlace } from '@fairway/core';
import { ConfigMapWatch, liveConfigMapName } from './config-map-watch.js';
import { ListWatch } from './list-watch.js';

/** The Pod label that marks a canary (with the `canaryPods` option). */
export const CANARY_POD_LABEL = 'fairway.io/canary=true';
import type { KubeConfig } from '@kubernetes/client-node';
import type { IncomingMessage } from 'node:http';
import { apiGet, ApiError, loadApiConfig, readBody, readPodNamespace, SERVICE_ACCOUNT_DIR, type LoadedConfig } from './api-connection.js';
import { decodeEndpointSlice, selectEndpoints, type DecodedEndpoint } from './decode.js';

/**
 * Where the source writes what an operator should know. Structurally the same as `@fairway/grpc`'s Logger.
 * `error` gets only failures that are also handed to the listener's `onError` (logged with it, rate-limited,
 * with the attempt number), so a caller that reports what its listener is handed, as the CLI does, can leave
 * `error` out and says each failure once. `warn` gets what is skipped, kept or retried without telling the
 * listener (garbage slices, the last good set kept while the API server is away, the live document refused).
 */
export interface KubernetesLogger {
  info?(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Options of the `k8s:` discovery source (`createClient(..., { discovery: { kubernetes: {...} } })`). */
export interface KubernetesDiscoveryOptions {
  /**
   * This client's place among the clients of the service, for deterministic subsetting (the factory's `subset`
   * option): the clients are the Pods behind `target` (their own Service, e.g. `k8s:///trader.trading:grpc`), and
   * this one is the Pod named `podName` (default: the `HOSTNAME` environment variable, which Kubernetes sets to
   * the Pod name). Default none.
   */
  readonly peers?: { readonly target: string; readonly podName?: string };
  /** A loaded `KubeConfig` (from `@kubernetes/client-node`) to use as is. Default: see `kubeconfigPath`. */
  readonly kubeConfig?: KubeConfig;
  /**
   * A kubeconfig file. Default: `$KUBECONFIG` (its first path), else the in-cluster service account
   * (token and CA under `/var/run/secrets/kubernetes.io/serviceaccount`), else `~/.kube/config`.
   */
  readonly kubeconfigPath?: string;
  /** API server URL, e.g. `https://10.0.0.1:6443`; with `token` and `caPem` this replaces any kubeconfig. Default none. */
  readonly apiServerUrl?: string;
  /** Bearer token for `apiServerUrl`. Default none. Never logged. */
  readonly token?: string;
  /** PEM of the CA that signed the API server's certificate, for `apiServerUrl`. Default: the system's CAs. */
  readonly caPem?: string;
  /** Skip TLS verification for `apiServerUrl` (tests only). Default false. */
  readonly insecureSkipTlsVerify?: boolean;
  /**
   * File holding the pod's own namespace, used when the target names none.
   * Default `/var/run/secrets/kubernetes.io/serviceaccount/namespace`; then the kubeconfig context's namespace; then `default`.
   */
  readonly namespaceFile?: string;
  /** First back-off after a failure, default 500 ms; doubles per consecutive failure, with +-20% jitter. */
  readonly retryInitialMs?: number;
  /** Longest back-off, default 10,000 ms. */
  readonly retryMaxMs?: number;
  /** How long the API server keeps one watch open (`timeoutSeconds`), default 290 s; then the watch is renewed. */
  readonly watchTimeoutSeconds?: number;
  /**
   * A watch that delivers nothing (not even a bookmark) for this long is treated as dropped, default
   * `(watchTimeoutSeconds + 60) * 1000` ms.
   */
  readonly watchIdleTimeoutMs?: number;
  /** Longest wait for the API's response headers, default 10,000 ms. */
  readonly requestTimeoutMs?: number;
  /** Slices per list page (`limit`), default 500. */
  readonly listPageSize?: number;
  /**
   * Largest object (one slice, one watch event) accepted, default 3,145,728 bytes (3 MiB; etcd caps real
   * objects at 1.5 MiB). Larger ones are skipped with a warning.
   */
  readonly maxObjectBytes?: number;
  /** The same warning (per slice and problem) is logged at most once per this interval, default 60,000 ms. */
  readonly warningIntervalMs?: number;
  /** Where warnings and errors go. Default: `console.error` with a `[fairway]` prefix. */
  readonly logger?: KubernetesLogger;
  /** Random source for the back-off jitter, default `Math.random`. */
  readonly random?: () => number;
  /**
   * Watch the service's live configuration document in a ConfigMap of the Service's namespace (data key
   * `config.json`, the same document as etcd's `_fairway_config/<service>`): `true` for
   * `fairway-config-<service>`, `{ configMap }` to name it. Needs RBAC get, list and watch on `configmaps`.
   * Default off.
   */
  readonly liveConfig?: boolean | { readonly configMap: string };
  /**
   * Mark endpoints whose Pod carries a label as canaries (`EndpointInfo.canary`, for a live document's
   * `canary.share`): `true` for `fairway.io/canary=true`, `{ labelSelector }` for another selector. The Pods of
   * the namespace matching it are watched (RBAC get, list and watch on `pods`). Default off.
   */
  readonly canaryPods?: boolean | { readonly labelSelector: string };
}

const consoleLogger: KubernetesLogger = {
  info: (m) => console.error(`[fairway] ${m}`),
  warn: (m) => console.error(`[fairway] warning: ${m}`),
  error: (m) => console.error(`[fairway] error: ${m}`),
};

class GoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoneError';
  }
}

/** A watch that must be followed by a fresh list (garbage in the stream, an oversized event). */
class RelistError extends Error {}

interface WatchEvent {
  type?: unknown;
  object?: unknown;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Bad `discovery.kubernetes` options; the message names the field. */
export class KubernetesOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubernetesOptionsError';
  }
}

/** Every field of {@link KubernetesDiscoveryOptions}: anything else is a typo, refused by name. */
const KUBERNETES_OPTION_KEYS: readonly string[] = [
  'peers', 'kubeConfig', 'kubeconfigPath', 'apiServerUrl', 'token', 'caPem', 'insecureSkipTlsVerify', 'namespaceFile',
  'retryInitialMs', 'retryMaxMs', 'watchTimeoutSeconds', 'watchIdleTimeoutMs', 'requestTimeoutMs', 'listPageSize',
  'maxObjectBytes', 'warningIntervalMs', 'logger', 'random', 'liveConfig', 'canaryPods',
];

/**
 * Checks `discovery.kubernetes` options without a target and without reading any configuration: unknown fields,
 * types and ranges. Throws {@link KubernetesOptionsError} naming the field. The factory runs it when a client is
 * made (`createKubernetesSource.checkOptions`), and the source when it is made.
 */
export function checkKubernetesDiscoveryOptions(options: unknown): void {
  if (options === undefined) return;
  const what = 'discovery.kubernetes';
  if (!isObject(options)) throw new KubernetesOptionsError(`${what} must be an object, got ${JSON.stringify(options)}`);
  const fail = (field: string, must: string): never => {
    // A token is never quoted back.
    const got = field === 'token' ? '' : `, got ${JSON.stringify(options[field]) ?? String(options[field])}`;
    throw new KubernetesOptionsError(`${what}.${field} must be ${must}${got}`);
  };
  for (const key of Object.keys(options)) {
    if (!KUBERNETES_OPTION_KEYS.includes(key)) throw new KubernetesOptionsError(`unknown option ${what}.${key} (known: ${KUBERNETES_OPTION_KEYS.join(', ')})`);
  }
  const o = options;
  for (const f of ['kubeconfigPath', 'token', 'caPem', 'namespaceFile']) if (o[f] !== undefined && (typeof o[f] !== 'string' || o[f] === '')) fail(f, 'a non-empty string');
  if (o['apiServerUrl'] !== undefined) {
    let url: URL | undefined;
    try {
      url = typeof o['apiServerUrl'] === 'string' ? new URL(o['apiServerUrl']) : undefined;
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) fail('apiServerUrl', 'an http(s) URL such as "https://10.0.0.1:6443"');
  }
  if (o['insecureSkipTlsVerify'] !== undefined && typeof o['insecureSkipTlsVerify'] !== 'boolean') fail('insecureSkipTlsVerify', 'true or false');
  for (const f of ['retryInitialMs', 'retryMaxMs', 'watchTimeoutSeconds', 'watchIdleTimeoutMs', 'requestTimeoutMs', 'maxObjectBytes']) {
    const v = o[f];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) fail(f, 'a positive number');
  }
  if (o['warningIntervalMs'] !== undefined && !(typeof o['warningIntervalMs'] === 'number' && Number.isFinite(o['warningIntervalMs']) && o['warningIntervalMs'] >= 0)) {
    fail('warningIntervalMs', 'a number of milliseconds >= 0');
  }
  if (o['listPageSize'] !== undefined && !(Number.isInteger(o['listPageSize']) && (o['listPageSize'] as number) >= 1)) fail('listPageSize', 'a whole number >= 1');
  if (typeof o['retryInitialMs'] === 'number' && typeof o['retryMaxMs'] === 'number' && o['retryInitialMs'] > o['retryMaxMs']) {
    throw new KubernetesOptionsError(`${what}.retryInitialMs (${o['retryInitialMs']}) is above retryMaxMs (${o['retryMaxMs']})`);
  }
  const log = o['logger'];
  if (log !== undefined && !(isObject(log) && typeof log['warn'] === 'function' && typeof log['error'] === 'function' && (log['info'] === undefined || typeof log['info'] === 'function'))) {
    throw new KubernetesOptionsError(`${what}.logger must have warn and error methods (info optional)`);
  }
  if (o['random'] !== undefined && typeof o['random'] !== 'function') fail('random', 'a function returning a number in [0, 1)');
  if (o['kubeConfig'] !== undefined && !isObject(o['kubeConfig'])) throw new KubernetesOptionsError(`${what}.kubeConfig must be a KubeConfig from @kubernetes/client-node`);
  const live = o['liveConfig'];
  if (live !== undefined && typeof live !== 'boolean' && !(isObject(live) && typeof live['configMap'] === 'string' && live['configMap'] !== '')) fail('liveConfig', 'true, false or { configMap: "<name>" }');
  const canary = o['canaryPods'];
  if (canary !== undefined && typeof canary !== 'boolean' && !(isObject(canary) && typeof canary['labelSelector'] === 'string' && canary['labelSelector'] !== '')) {
    fail('canaryPods', 'true, false or { labelSelector: "<selector>" }');
  }
  const peers = o['peers'];
  if (peers !== undefined) {
    if (!isObject(peers) || typeof peers['target'] !== 'string' || (peers['podName'] !== undefined && (typeof peers['podName'] !== 'string' || peers['podName'] === ''))) {
      fail('peers', '{ target: "k8s:///<clients\' service>.<namespace>:<port>", podName? }');
    }
    try {
      parseKubernetesPath(parseTarget((peers as Record<string, string>)['target']!));
    } catch (error) {
      throw new KubernetesOptionsError(`${what}.peers.target: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/**
 * Makes the `k8s:` discovery source for a parsed target (`k8s:///pricer.trading:grpc`). Throws a `TargetError`
 * naming the target when it is malformed; everything else (no configuration, API unreachable, token refused)
 * is reported through the listener.
 */
export function createKubernetesSource(target: ParsedTarget, options?: unknown): DiscoverySource {
  const k = parseKubernetesPath(target);
  checkKubernetesDiscoveryOptions(options);
  const opts = (isObject(options) ? options : {}) as KubernetesDiscoveryOptions;
  const source = new KubernetesSource(target, k.service, k.namespace, k.port, opts);
  if (opts.peers === undefined) return source;
  const what = `k8s target ${JSON.stringify(target.raw)}: discovery.kubernetes.peers`;
  if (!isObject(opts.peers) || typeof opts.peers.target !== 'string') throw new TypeError(`${what} must be { target: "k8s:///<clients' service>.<namespace>:<port>", podName? }`);
  const podName = opts.peers.podName ?? process.env['HOSTNAME'];
  if (typeof podName !== 'string' || podName === '') throw new TypeError(`${what}: no podName given and HOSTNAME is not set, so this client cannot find itself among its peers`);
  const peersTarget = parseTarget(opts.peers.target);
  const pk = parseKubernetesPath(peersTarget);
  const { peers: _peers, ...peerOptions } = opts;
  // The peers source's failures reach onPeersError, which says them with what is kept; the source's own `error`
  // line would say each a second time. Said once per failure and interval, as the source would.
  const logger = opts.logger ?? consoleLogger;
  const peersLogger: KubernetesLogger = { info: (m) => logger.info?.(m), warn: (m) => logger.warn(m), error: () => {} };
  const peersSource = new KubernetesSource(peersTarget, pk.service, pk.namespace, pk.port, { ...peerOptions, logger: peersLogger });
  const said = createRateLimitedLog(logger, opts.warningIntervalMs ?? 60_000);
  return withPeerPlace(source, peersSource, podName, {
    onPeersError: (m) => said.warn(m, `${what}: ${m}; keeping the last known place`),
  });
}
createKubernetesSource.checkOptions = checkKubernetesDiscoveryOptions;

/**
 * The endpoints of the Service that a source made by {@link createKubernetesSource} leaves out for their
 * conditions (not ready, or terminating while others are ready), as of its last snapshot, with those
 * conditions (also through a source it wrapped for `peers`); undefined for any other source. For tools that
 * show where traffic could go (`fairway resolve`): the snapshots, what a balancer receives, carry only the
 * endpoints in use.
 */
export function unusedEndpointsOf(source: DiscoverySource): readonly DecodedEndpoint[] | undefined {
  return kubernetesSourceOf(source)?.unused;
}

/**
 * `source`, or the Service's source inside its `peers` wrapper, when it is a Kubernetes source; else undefined.
 * Unwrapped first: the wrapper passes `instanceof`, but a callback set on it would never be called.
 */
function kubernetesSourceOf(source: DiscoverySource): KubernetesSource | undefined {
  const inner = sourceInsidePeerPlace(source);
  return inner instanceof KubernetesSource ? inner : undefined;
}

/**
 * Calls `onChange` with the endpoints that {@link unusedEndpointsOf} gives whenever they change while the
 * endpoints in use stay the same (a new Pod that is not ready yet, a not-ready Pod that goes away): such a change
 * sends no snapshot, since a balancer has nothing to do. A change that comes with a snapshot is not reported
 * here (read `unusedEndpointsOf` with the snapshot). For tools that show the endpoints live (`fairway watch`).
 * One callback per source; a later call replaces it. Returns false (and does nothing) for a source not made by
 * {@link createKubernetesSource} (one it wrapped for `peers` works: the Service's endpoints are reported).
 */
export function onUnusedEndpointsChange(source: DiscoverySource, onChange: (unused: readonly DecodedEndpoint[]) => void): boolean {
  const k = kubernetesSourceOf(source);
  if (k === undefined) return false;
  k.onUnusedChange = onChange;
  return true;
}

class KubernetesSource implements DiscoverySource {
  /** See {@link unusedEndpointsOf}. */
  unused: readonly DecodedEndpoint[] = [];
  /** See {@link onUnusedEndpointsChange}. */
  onUnusedChange: ((unused: readonly DecodedEndpoint[]) => void) | undefined;
  private unusedKey = '[]';
  private listener: DiscoveryListener | undefined;
  private closed = false;
  private started = false;
  private abort: AbortController | undefined;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly slices = new Map<string, readonly DecodedEndpoint[]>();
  private resourceVersion: string | undefined;
  private delivered: EndpointInfo[] | undefined;
  private deliveredKey = '';
  private stale = false;
  private staleSince = 0;
  /** Says each repeated message once per `warningIntervalMs`, with how often it was held back. */
  private readonly limitedLog: RateLimitedLog;
  private readonly logger: KubernetesLogger;
  private config: LoadedConfig | undefined;
  private namespace = 'default';
  private server = '(unknown API server)';
  private configWatch: ConfigMapWatch | undefined;
  private canaryWatch: ListWatch | undefined;
  /** Names of the Pods labelled canary (with `canaryPods`). */
  private readonly canaryPodNames = new Set<string>();

  constructor(
    private readonly target: ParsedTarget,
    private readonly service: string,
    private readonly targetNamespace: string | undefined,
    private readonly port: string | undefined,
    private readonly opts: KubernetesDiscoveryOptions,
  ) {
    this.logger = opts.logger ?? consoleLogger;
    this.limitedLog = createRateLimitedLog(this.logger, opts.warningIntervalMs ?? 60_000);
  }

  start(listener: DiscoveryListener): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.listener = listener;
    this.loopDone = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.run());
  }

  refresh(): void {
    // grpc-js asks again after a failure: cut a back-off short.
    this.wake?.();
  }

  async close(): Promise<void> {
    if (this.closed) return this.loopDone;
    this.closed = true;
    this.abort?.abort();
    this.wake?.();
    await Promise.all([this.loopDone, this.configWatch?.close(), this.canaryWatch?.close()]);
  }

  /** The snapshot fields that come from the live configuration document: overrides applied, and the document. */
  private withLiveConfig(all: EndpointInfo[]): Pick<EndpointSnapshot, 'endpoints' | 'liveConfig'> {
    const endpoints =
      this.canaryPodNames.size === 0 ? all : all.map((e) => (e.instance !== undefined && this.canaryPodNames.has(e.instance) ? { ...e, canary: true } : e));
    const live = this.configWatch?.current();
    if (live === undefined || live.revision === 0) return { endpoints };
    return { endpoints: applyLiveConfig(endpoints, live.config), liveConfig: live };
  }

  private get what(): string {
    return `EndpointSlices of Service ${this.namespace}/${this.service} (${this.target.raw})`;
  }

  private async run(): Promise<void> {
    this.config = await loadApiConfig(this.opts);
    if (!this.config.ok) {
      this.report(new ApiError(`${this.target.raw}: ${this.config.problem}`, 0, 'NoConfig'), 0);
      // Nothing will change by itself; wait for close (or a refresh, then try once more).
      while (!this.closed) {
        await this.sleep(this.opts.retryMaxMs ?? 10_000);
        if (this.closed) return;
        this.config = await loadApiConfig(this.opts);
        if (this.config.ok) break;
      }
      if (this.closed || !this.config.ok) return;
    }
    this.server = this.config.server;
    this.namespace =
      this.targetNamespace ??
      readPodNamespace(this.opts.namespaceFile ?? `${SERVICE_ACCOUNT_DIR}/namespace`) ??
      this.config.contextNamespace ??
      'default';
    const lc = this.opts.liveConfig;
    if (lc !== undefined && lc !== false && this.config.ok) {
      const name = typeof lc === 'object' && typeof lc.configMap === 'string' && lc.configMap !== '' ? lc.configMap : liveConfigMapName(this.service);
      this.configWatch = new ConfigMapWatch({
        kubeConfig: this.config.kubeConfig,
        server: this.config.server,
        namespace: this.namespace,
        name,
        log: { info: (m) => this.safe(() => this.logger.info?.(m)), warn: (m) => this.safe(() => this.logger.warn(m)) },
        retryInitialMs: this.opts.retryInitialMs ?? 500,
        retryMaxMs: this.opts.retryMaxMs ?? 10_000,
        watchTimeoutSeconds: this.opts.watchTimeoutSeconds ?? 290,
        requestTimeoutMs: this.opts.requestTimeoutMs ?? 10_000,
        // While the API server is unreachable the next fresh snapshot carries the document.
        onChange: () => {
          if (this.delivered !== undefined && !this.stale) this.emit(true);
        },
      });
      if (!this.closed) this.configWatch.start();
    }
    const cp = this.opts.canaryPods;
    if (cp !== undefined && cp !== false && this.config.ok) {
      const selector = typeof cp === 'object' && typeof cp.labelSelector === 'string' && cp.labelSelector !== '' ? cp.labelSelector : CANARY_POD_LABEL;
      const nameOf = (obj: unknown): string | undefined => {
        const meta = typeof obj === 'object' && obj !== null ? (obj as { metadata?: { name?: unknown } }).metadata : undefined;
        return typeof meta?.name === 'string' ? meta.name : undefined;
      };
      const changed = () => {
        if (this.delivered !== undefined && !this.stale) this.emit(true);
      };
      this.canaryWatch = new ListWatch({
        kubeConfig: this.config.kubeConfig,
        server: this.config.server,
        what: `canary Pods (${selector}) in namespace ${this.namespace}`,
        collectionPath: `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods`,
        selector: `labelSelector=${encodeURIComponent(selector)}`,
        rbacHint: `the client needs RBAC get, list and watch on pods in namespace "${this.namespace}"`,
        log: { warn: (m) => this.safe(() => this.logger.warn(m)) },
        retryInitialMs: this.opts.retryInitialMs ?? 500,
        retryMaxMs: this.opts.retryMaxMs ?? 10_000,
        watchTimeoutSeconds: this.opts.watchTimeoutSeconds ?? 290,
        requestTimeoutMs: this.opts.requestTimeoutMs ?? 10_000,
        describeKept: () => `keeping the ${this.canaryPodNames.size} canary Pod(s) known`,
        onList: (items) => {
          this.canaryPodNames.clear();
          for (const item of items) {
            const name = nameOf(item);
            if (name !== undefined) this.canaryPodNames.add(name);
          }
          changed();
        },
        onEvent: (type, obj) => {
          const name = nameOf(obj);
          if (name === undefined) return;
          const had = this.canaryPodNames.has(name);
          if (type === 'DELETED') this.canaryPodNames.delete(name);
          else this.canaryPodNames.add(name);
          if (had !== this.canaryPodNames.has(name)) changed();
        },
      });
      if (!this.closed) this.canaryWatch.start();
    }
    let failures = 0;
    while (!this.closed) {
      try {
        if (this.resourceVersion === undefined) await this.list();
        const progressed = await this.watch();
        failures = progressed ? 0 : failures + 1;
        if (!progressed) await this.sleep(this.backoffMs(failures));
      } catch (err) {
        if (this.closed) return;
        failures += 1;
        if (err instanceof GoneError || err instanceof RelistError) {
          this.resourceVersion = undefined;
          if (err instanceof RelistError) this.limitedLog.warn(`relist:${err.message}`, `${err.message}; listing ${this.what} again`);
          // A first 410 re-lists at once; repeated ones back off.
          if (failures > 1) await this.sleep(this.backoffMs(failures - 1));
          continue;
        }
        this.report(err, failures);
        await this.sleep(this.backoffMs(failures));
      }
    }
  }

  private backoffMs(failures: number): number {
    const initial = this.opts.retryInitialMs ?? 500;
    const max = this.opts.retryMaxMs ?? 10_000;
    const base = Math.min(max, initial * 2 ** Math.min(20, Math.max(0, failures - 1)));
    const jitter = 0.8 + 0.4 * (this.opts.random ?? Math.random)();
    return Math.max(1, Math.min(max, Math.round(base * jitter)));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  private basePath(): string {
    return `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(this.namespace)}/endpointslices`;
  }

  private selector(): string {
    return encodeURIComponent(`kubernetes.io/service-name=${this.service}`);
  }

  private async request(verb: 'list' | 'watch', path: string): Promise<IncomingMessage> {
    // close() aborts the request in flight; one started after it (the watch that follows a list whose first
    // snapshot made the caller close) would hold the loop, and close(), for the watch's ~290 s.
    if (this.closed) throw new ApiError('the source is closed', 0, 'Closed');
    if (!this.config?.ok) throw new ApiError('no configuration', 0);
    this.abort = new AbortController();
    let res: IncomingMessage;
    try {
      res = await apiGet(this.config.kubeConfig, this.config.server, path, this.abort.signal, this.opts.requestTimeoutMs ?? 10_000);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new ApiError(`cannot reach the Kubernetes API server ${this.server} (${e.code ?? e.message})`, 0, e.code ?? 'NetworkError');
    }
    const code = res.statusCode ?? 0;
    if (code === 200) return res;
    const body = await readBody(res, 65_536).catch(() => '');
    let status: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(body);
      if (isObject(parsed)) status = parsed;
    } catch {
      /* not a Status */
    }
    const serverMessage = typeof status.message === 'string' ? status.message : undefined;
    const reason = typeof status.reason === 'string' ? status.reason : undefined;
    if (code === 410) throw new GoneError(serverMessage ?? 'Gone');
    throw new ApiError(this.describeStatus(verb, code, serverMessage), code, reason, serverMessage);
  }

  private describeStatus(verb: string, code: number, serverMessage: string | undefined): string {
    const rbac = `the client needs RBAC get, list and watch on endpointslices (API group discovery.k8s.io) in namespace "${this.namespace}": a Role with those verbs and a RoleBinding to its service account (see the README's RBAC section)`;
    if (code === 401) {
      return `Kubernetes API server ${this.server} rejected the credentials (401 Unauthorized) when asked to ${verb} ${this.what}: the token is missing, expired or not valid for this cluster (${this.config?.ok ? this.config.source : 'no configuration'}); ${rbac}`;
    }
    if (code === 403) {
      return `Kubernetes API server ${this.server} refused to ${verb} ${this.what} (403 Forbidden${serverMessage ? `: ${serverMessage}` : ''}); ${rbac}`;
    }
    return `Kubernetes API server ${this.server} answered ${code}${serverMessage ? ` (${serverMessage})` : ''} when asked to ${verb} ${this.what}`;
  }

  private async list(): Promise<void> {
    const next = new Map<string, readonly DecodedEndpoint[]>();
    let cont: string | undefined;
    let rv: string | undefined;
    const maxObject = this.opts.maxObjectBytes ?? 3 * 1024 * 1024;
    const pageSize = this.opts.listPageSize ?? 500;
    for (let page = 0; page < 10_000; page++) {
      const path = `${this.basePath()}?labelSelector=${this.selector()}&limit=${pageSize}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
      const res = await this.request('list', path);
      const text = await readBody(res, Math.max(64 * 1024 * 1024, maxObject * pageSize));
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new ApiError(`Kubernetes API server ${this.server} sent a list of ${this.what} that is not JSON`, 200, 'BadResponse');
      }
      if (!isObject(body) || !Array.isArray(body.items) || !isObject(body.metadata)) {
        throw new ApiError(`Kubernetes API server ${this.server} sent a list of ${this.what} without items or metadata`, 200, 'BadResponse');
      }
      if (page === 0) rv = typeof body.metadata.resourceVersion === 'string' ? body.metadata.resourceVersion : undefined;
      for (const item of body.items) {
        const size = JSON.stringify(item).length;
        if (size > maxObject) {
          const name = isObject(item) && isObject(item.metadata) ? String(item.metadata.name) : '(unnamed)';
          this.limitedLog.warn(`oversize:${name}`, `EndpointSlice ${this.namespace}/${name} is ${size} bytes, more than maxObjectBytes ${maxObject}; ignored`);
          continue;
        }
        const d = decodeEndpointSlice(item, this.port !== undefined ? { port: this.port } : {});
        for (const w of d.warnings) this.limitedLog.warn(w, w);
        if (d.name !== undefined) next.set(d.name, d.endpoints);
      }
      cont = typeof body.metadata.continue === 'string' && body.metadata.continue !== '' ? body.metadata.continue : undefined;
      if (!cont) break;
    }
    if (rv === undefined || rv === '') throw new ApiError(`Kubernetes API server ${this.server} sent a list of ${this.what} without a resourceVersion`, 200, 'BadResponse');
    this.slices.clear();
    for (const [name, eps] of next) this.slices.set(name, eps);
    this.resourceVersion = rv;
    this.emit();
  }

  /** One watch; resolves true when it ended cleanly after making progress, false when it ended at once with nothing. */
  private async watch(): Promise<boolean> {
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 290;
    const path = `${this.basePath()}?labelSelector=${this.selector()}&watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(this.resourceVersion ?? '')}&timeoutSeconds=${timeoutSeconds}`;
    const res = await this.request('watch', path);
    // Connected: whatever was stale is fresh again.
    if (this.stale) this.emit();
    const idleMs = this.opts.watchIdleTimeoutMs ?? (timeoutSeconds + 60) * 1000;
    const maxLine = (this.opts.maxObjectBytes ?? 3 * 1024 * 1024) + 65_536;
    const opened = Date.now();
    let events = 0;
    return await new Promise<boolean>((resolve, reject) => {
      let buf = '';
      let skipping = false;
      let finished = false;
      const finish = (err?: Error, ok?: boolean) => {
        if (finished) return;
        finished = true;
        clearTimeout(idle);
        res.removeAllListeners('data');
        if (err) {
          res.destroy();
          reject(err);
        } else resolve(ok ?? true);
      };
      const onIdle = () => finish(new ApiError(`the watch of ${this.what} on ${this.server} sent nothing for ${idleMs} ms`, 0, 'WatchIdle'));
      let idle = setTimeout(onIdle, idleMs);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (finished) return;
        clearTimeout(idle);
        idle = setTimeout(onIdle, idleMs);
        let changed = false;
        try {
          let start = 0;
          for (;;) {
            const nl = chunk.indexOf('\n', start);
            if (nl < 0) {
              if (!skipping) buf += chunk.slice(start);
              if (buf.length > maxLine) {
                const name = /"name"\s*:\s*"([^"]{1,253})"/.exec(buf.slice(0, 65_536))?.[1] ?? '(unknown)';
                this.limitedLog.warn(`oversize-event:${name}`, `a watch event for EndpointSlice ${this.namespace}/${name} is larger than maxObjectBytes; ignored`);
                buf = '';
                skipping = true;
              }
              break;
            }
            const line = skipping ? '' : buf + chunk.slice(start, nl);
            const wasSkipping = skipping;
            buf = '';
            skipping = false;
            start = nl + 1;
            if (wasSkipping) throw new RelistError('an oversized watch event was skipped');
            if (line.trim() === '') continue;
            events += 1;
            if (this.handleEvent(line)) changed = true;
          }
        } catch (err) {
          if (changed) this.emit();
          finish(err as Error);
          return;
        }
        if (changed) this.emit();
      });
      res.once('end', () => finish(undefined, events > 0 || Date.now() - opened > 1000));
      res.once('aborted', () => finish(new ApiError(`the watch of ${this.what} on ${this.server} was cut off`, 0, 'WatchDropped')));
      res.once('error', (e) => finish(new ApiError(`the watch of ${this.what} on ${this.server} failed (${(e as NodeJS.ErrnoException).code ?? e.message})`, 0, 'WatchDropped')));
      res.once('close', () => {
        if (!res.complete) finish(new ApiError(`the watch of ${this.what} on ${this.server} was cut off`, 0, 'WatchDropped'));
        else finish(undefined, events > 0 || Date.now() - opened > 1000);
      });
    });
  }

  /** Applies one watch line; returns true when the slices changed. Throws GoneError/RelistError/ApiError. */
  private handleEvent(line: string): boolean {
    let ev: WatchEvent;
    try {
      ev = JSON.parse(line) as WatchEvent;
    } catch {
      throw new RelistError(`the watch of ${this.what} sent a line that is not JSON (${JSON.stringify(line.slice(0, 60))})`);
    }
    if (!isObject(ev) || typeof ev.type !== 'string') throw new RelistError(`the watch of ${this.what} sent an event without a type`);
    const obj = ev.object;
    const meta = isObject(obj) && isObject(obj.metadata) ? obj.metadata : undefined;
    const rv = meta && typeof meta.resourceVersion === 'string' ? meta.resourceVersion : undefined;
    switch (ev.type) {
      case 'BOOKMARK':
        if (rv) this.resourceVersion = rv;
        return false;
      case 'ERROR': {
        const code = isObject(obj) && typeof obj.code === 'number' ? obj.code : 0;
        const message = isObject(obj) && typeof obj.message === 'string' ? obj.message : 'unknown error';
        if (code === 410) throw new GoneError(message);
        throw new ApiError(this.describeStatus('watch', code, message), code, isObject(obj) && typeof obj.reason === 'string' ? obj.reason : undefined, message);
      }
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED': {
        if (rv) this.resourceVersion = rv;
        const name = meta && typeof meta.name === 'string' && meta.name !== '' ? meta.name : undefined;
        if (name === undefined) {
          this.limitedLog.warn(`noname:${ev.type}`, `a ${ev.type} watch event for ${this.what} has an object without metadata.name; ignored`);
          return false;
        }
        if (ev.type === 'DELETED') return this.slices.delete(name);
        const maxObject = this.opts.maxObjectBytes ?? 3 * 1024 * 1024;
        if (line.length > maxObject) {
          this.limitedLog.warn(`oversize:${name}`, `EndpointSlice ${this.namespace}/${name} is ${line.length} bytes, more than maxObjectBytes ${maxObject}; ignored`);
          return this.slices.delete(name);
        }
        const d = decodeEndpointSlice(obj, this.port !== undefined ? { port: this.port } : {});
        for (const w of d.warnings) this.limitedLog.warn(w, w);
        this.slices.set(name, d.endpoints);
        return true;
      }
      default:
        this.limitedLog.warn(`type:${ev.type}`, `the watch of ${this.what} sent an event of unknown type ${JSON.stringify(ev.type.slice(0, 40))}; ignored`);
        return false;
    }
  }

  /** Sends the current set when it differs from the last one sent, or when it was stale and is fresh again. */
  private emit(configChanged = false): void {
    if (this.closed || !this.listener) return;
    const sel = selectEndpoints(this.slices.values());
    const key = JSON.stringify(sel.endpoints);
    const unusedKey = JSON.stringify(sel.unused);
    const unusedChanged = unusedKey !== this.unusedKey;
    this.unused = sel.unused;
    this.unusedKey = unusedKey;
    const wasStale = this.stale;
    if (!wasStale && !configChanged && this.delivered !== undefined && key === this.deliveredKey) {
      // A change of the unused endpoints alone sends no snapshot (what the balancer receives is what it was);
      // a tool that shows them hears of it here.
      if (unusedChanged && this.onUnusedChange !== undefined) {
        const onChange = this.onUnusedChange;
        const unused = this.unused;
        this.safe(() => onChange(unused));
      }
      return;
    }
    this.delivered = sel.endpoints;
    this.deliveredKey = key;
    this.stale = false;
    let note: string | undefined;
    if (sel.mode === 'terminating-fallback') note = `no endpoint of ${this.what} is ready; using ${sel.endpoints.length} that are serving while terminating`;
    else if (sel.mode === 'none') note = `${this.what}: no ready or serving endpoint (${this.slices.size} slices)`;
    if (wasStale) this.logger.info?.(`${this.what}: Kubernetes API server ${this.server} reachable again; ${sel.endpoints.length} endpoints`);
    const snapshot: EndpointSnapshot = { ...this.withLiveConfig(sel.endpoints), ...(note ? { note } : {}) };
    this.safe(() => this.listener!.onSnapshot(snapshot));
  }

  /** A failure: keep the last good set (stale) or tell the listener that nothing can be routed yet. */
  private report(err: unknown, failures: number): void {
    if (this.closed || !this.listener) return;
    const message = err instanceof ApiError ? err.message : `${this.what}: ${(err as Error)?.message ?? String(err)}`;
    const status = err instanceof ApiError ? err.httpStatus : 0;
    const cause = err instanceof ApiError ? { httpStatus: err.httpStatus, reason: err.reason, serverMessage: err.serverMessage } : undefined;
    const authProblem = status === 401 || status === 403;
    if (this.delivered === undefined) {
      // Handed on below, so logged at `error` (see KubernetesLogger).
      if (authProblem) this.limitedLog.error(`auth:${status}`, message);
      else this.limitedLog.error(`down:${message}`, `${message}; retrying (attempt ${failures})`);
      this.safe(() => this.listener!.onError({ message, fatalForNow: true, ...(cause ? { cause } : {}) }));
      return;
    }
    const becameStale = !this.stale;
    if (becameStale) {
      this.stale = true;
      this.staleSince = Date.now();
    }
    const note = `${message}; since ${new Date(this.staleSince).toISOString()} keeping the last ${this.delivered.length} endpoints`;
    // A refused token is handed on below (error); an unreachable server only makes the set stale (warn).
    if (authProblem) this.limitedLog.error(`auth:${status}`, note);
    else this.limitedLog.warn('stale', note);
    if (becameStale || authProblem) {
      const snapshot: EndpointSnapshot = { ...this.withLiveConfig(this.delivered), stale: true, note };
      this.safe(() => this.listener!.onSnapshot(snapshot));
      if (authProblem) this.safe(() => this.listener!.onError({ message, fatalForNow: false, ...(cause ? { cause } : {}) }));
    }
  }

  private safe(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      try {
        // Not handed to the listener (it is what threw), so a warning (see KubernetesLogger); the source goes on.
        this.logger.warn(`a discovery listener for ${this.target.raw} threw: ${(err as Error)?.message ?? String(err)}`);
      } catch {
        /* nothing more to do */
      }
    }
  }
}
