/**
 * A Kubernetes API server stand-in for tests: HTTPS (a test-only CA, `caPem`) on loopback, speaking the real wire protocol for
 * `discovery.k8s.io/v1` EndpointSlices, faithful enough that a stock `kubectl` lists and watches through it.
 *
 * What it serves, as the real API server does:
 * - discovery documents `/version`, `/api`, `/api/v1`, `/apis`, `/apis/discovery.k8s.io`, `/apis/discovery.k8s.io/v1`;
 * - `GET .../namespaces/{ns}/endpointslices` and the all-namespaces `.../endpointslices`: a list with the store's
 *   resourceVersion, `labelSelector` (equality and set based), `limit`/`continue` chunking from a consistent snapshot;
 * - `GET .../endpointslices/{name}`;
 * - `?watch=1|true`: a chunked stream of newline-delimited `{"type","object"}` events (ADDED, MODIFIED, DELETED,
 *   BOOKMARK when `allowWatchBookmarks=true`), replayed from `resourceVersion`; an `ERROR` event carrying a
 *   `Status` with code 410 (reason `Expired`) when that resourceVersion is older than the bounded history;
 *   `timeoutSeconds` ends the stream cleanly; an object whose labels stop matching the selector is sent as DELETED;
 * - bearer tokens: 401 `Status` without or with an unknown token; 403 `Status` in the API server's words for a
 *   token whose RBAC lacks the verb or the namespace.
 *
 * Test controls: `applySlice`, `deleteSlice`, `dropWatches()` (abrupt close of every watch connection),
 * `compactHistory()` (every older resourceVersion becomes 410 Gone), `setReachable(false)` (the port refuses
 * connections), `injectWatchLine()` (a raw line into every open watch, e.g. garbage), `sendBookmarks()`.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { STAND_IN_CA_PEM, STAND_IN_CERT_PEM, STAND_IN_KEY_PEM } from './tls-fixture.js';
import { ObjectStore, parseLabelSelector, type KubeObject, type LabelSelector, type StoredEvent } from './store.js';

const GROUP = 'discovery.k8s.io';
const VERSION = 'v1';
const GROUP_VERSION = `${GROUP}/${VERSION}`;

/** One bearer token the stand-in accepts, with what its RBAC allows. */
export interface KubeApiToken {
  readonly token: string;
  /** User name in 403 messages, default `system:serviceaccount:default:fairway`. */
  readonly user?: string;
  /** Verbs allowed on endpointslices, default `['get', 'list', 'watch']`. */
  readonly verbs?: readonly ('get' | 'list' | 'watch')[];
  /** Namespaces allowed; `'*'` (default) allows every namespace and the cluster scope. */
  readonly namespaces?: readonly string[] | '*';
}

/** Options of {@link startKubeApiStandIn}. */
export interface KubeApiStandInOptions {
  /** Accepted tokens. Default: one random token with full read access (see `token`). */
  readonly tokens?: readonly KubeApiToken[];
  /** How many change events watches can replay from, default 1000 (count). Older is 410 Gone. */
  readonly historyLimit?: number;
  /** Interval between BOOKMARK events on watches that allow them, default 1000 ms (the real server: ~1 min). */
  readonly bookmarkIntervalMs?: number;
  /** Host to bind, default `127.0.0.1` (use `::1` for IPv6 loopback). */
  readonly host?: string;
  /** Port, default 0 (any free port). */
  readonly port?: number;
  /**
   * Serve HTTPS with the test-only certificate for 127.0.0.1, ::1 and localhost (trust `caPem`), default true.
   * Plain HTTP is possible, but kubectl (client-go) never sends a bearer token over plain HTTP.
   */
  readonly tls?: boolean;
}

/** An EndpointSlice endpoint described briefly, for {@link makeEndpointSlice}. */
export interface SliceEndpointSpec {
  readonly ip: string;
  readonly ready?: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
  readonly zone?: string;
  readonly hintZones?: readonly string[];
  /** Pod name (targetRef.name); default none. */
  readonly pod?: string;
  /** Pod uid (targetRef.uid); default derived from the pod name. */
  readonly podUid?: string;
  readonly nodeName?: string;
}

/** A brief EndpointSlice description, for {@link makeEndpointSlice}. */
export interface SliceSpec {
  readonly name: string;
  readonly namespace?: string;
  readonly service: string;
  /** Default `IPv4`, or `IPv6` when the first endpoint's ip contains ":". */
  readonly addressType?: 'IPv4' | 'IPv6' | 'FQDN';
  /** Default `[{ name: 'grpc', port: 50051 }]`. */
  readonly ports?: readonly { readonly name?: string; readonly port: number; readonly protocol?: string }[];
  readonly endpoints: readonly SliceEndpointSpec[];
}

/** Builds an EndpointSlice object as the EndpointSlice controller writes them. */
export function makeEndpointSlice(spec: SliceSpec): KubeObject {
  const first = spec.endpoints[0]?.ip ?? '';
  return {
    apiVersion: GROUP_VERSION,
    kind: 'EndpointSlice',
    metadata: {
      name: spec.name,
      namespace: spec.namespace ?? 'default',
      labels: {
        'kubernetes.io/service-name': spec.service,
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: spec.service, uid: `svc-${spec.service}`, controller: true, blockOwnerDeletion: true }],
    },
    addressType: spec.addressType ?? (first.includes(':') ? 'IPv6' : 'IPv4'),
    endpoints: spec.endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ready: e.ready ?? true,
        serving: e.serving ?? e.ready ?? true,
        terminating: e.terminating ?? false,
      },
      ...(e.zone !== undefined ? { zone: e.zone } : {}),
      ...(e.hintZones ? { hints: { forZones: e.hintZones.map((name) => ({ name })) } } : {}),
      ...(e.nodeName !== undefined ? { nodeName: e.nodeName } : {}),
      ...(e.pod !== undefined
        ? { targetRef: { kind: 'Pod', namespace: spec.namespace ?? 'default', name: e.pod, uid: e.podUid ?? `uid-${e.pod}` } }
        : {}),
    })),
    ports: (spec.ports ?? [{ name: 'grpc', port: 50051 }]).map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
  };
}

/** What a test sees of a request the stand-in served (never the token itself). */
export interface KubeApiRequestRecord {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly status: number;
  readonly watch: boolean;
}

/** A running stand-in. */
export interface KubeApiStandIn {
  /** `https://127.0.0.1:<port>` (or `https://[::1]:<port>`; `http:` when `tls: false`). */
  readonly url: string;
  /** PEM of the CA that signed the stand-in's certificate (pass as `certificate-authority-data` / `ca`). */
  readonly caPem: string;
  /** The first accepted token. */
  readonly token: string;
  /** The store's current resourceVersion. */
  readonly resourceVersion: number;
  /** Watch streams open now. */
  readonly openWatches: number;
  /** Requests served so far (bounded to the last 2000). */
  readonly requests: readonly KubeApiRequestRecord[];
  /** Creates or replaces an EndpointSlice (any JSON with metadata.name: no validation, so garbage can be stored). */
  applySlice(slice: KubeObject, namespace?: string): KubeObject;
  /** Deletes an EndpointSlice; false when it was not there. */
  deleteSlice(namespace: string, name: string): boolean;
  /** Abruptly destroys every open watch connection (no terminating chunk), as a dying proxy or API server does. */
  dropWatches(): void;
  /** Forgets the event history: watches from any older resourceVersion get an ERROR 410 Gone event. */
  compactHistory(): void;
  /** Sends a BOOKMARK now on every watch that allows bookmarks. */
  sendBookmarks(): void;
  /** Replaces the accepted tokens from now on (e.g. to revoke one); open watches are not affected. */
  setTokens(tokens: readonly KubeApiToken[]): void;
  /** Writes `line` + "\n" as is into every open watch stream (to test garbage handling). */
  injectWatchLine(line: string): void;
  /** false: closes the listener and every connection, so connections are refused; true: listens on the same port again. */
  setReachable(reachable: boolean): Promise<void>;
  close(): Promise<void>;
}

function status(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

function withKind(o: KubeObject): KubeObject {
  return { kind: 'EndpointSlice', apiVersion: GROUP_VERSION, ...o };
}

interface Watcher {
  readonly res: ServerResponse;
  readonly namespace: string | undefined;
  readonly selector: LabelSelector;
  readonly bookmarks: boolean;
  /** From a `/endpointslices/{name}` watch path or a `metadata.name=` field selector. */
  readonly nameFilter: string | undefined;
  lastRv: number;
}

interface Snapshot {
  readonly rv: number;
  readonly items: KubeObject[];
}

/** Starts the stand-in on loopback. Close it with `close()`. */
export async function startKubeApiStandIn(options: KubeApiStandInOptions = {}): Promise<KubeApiStandIn> {
  const tokens: KubeApiToken[] = options.tokens?.length ? [...options.tokens] : [{ token: `fw-${randomBytes(16).toString('hex')}` }];
  const store = new ObjectStore(options.historyLimit ?? 1000);
  const bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
  const host = options.host ?? '127.0.0.1';
  const watchers = new Set<Watcher>();
  const sockets = new Set<Socket>();
  const requests: KubeApiRequestRecord[] = [];
  const snapshots = new Map<string, Snapshot>();
  let snapshotCounter = 0;
  let reachable = true;
  let closed = false;

  const tls = options.tls ?? true;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    try {
      handle(req, res);
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, status(500, 'InternalError', `stand-in error: ${(err as Error).message}`));
      else res.destroy();
    }
  };
  const server: Server = tls
    ? (createHttpsServer({ cert: STAND_IN_CERT_PEM, key: STAND_IN_KEY_PEM }, onRequest) as unknown as Server)
    : createHttpServer(onRequest);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const unsubscribe = store.subscribe((e) => {
    for (const w of watchers) deliver(w, e);
  });
  const bookmarkTimer = setInterval(() => sendBookmarks(), bookmarkIntervalMs);
  bookmarkTimer.unref();

  function record(req: IncomingMessage, url: URL, statusCode: number, watch: boolean): void {
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    requests.push({ method: req.method ?? 'GET', path: url.pathname, query, status: statusCode, watch });
    if (requests.length > 2000) requests.shift();
  }

  function sendJson(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
    res.end(text);
  }

  function authenticate(req: IncomingMessage): KubeApiToken | undefined {
    const h = req.headers.authorization;
    if (typeof h !== 'string') return undefined;
    const m = /^Bearer\s+(.+)$/i.exec(h.trim());
    if (!m) return undefined;
    return tokens.find((t) => t.token === m[1]);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const isWatch = ['1', 'true'].includes(url.searchParams.get('watch') ?? '') || path.includes(`/${VERSION}/watch/`);
    const reply = (code: number, body: unknown) => {
      record(req, url, code, false);
      sendJson(res, code, body);
    };
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      record(req, url, 200, false);
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    const who = authenticate(req);
    if (!who) return reply(401, status(401, 'Unauthorized', 'Unauthorized'));
    if (req.method !== 'GET') {
      return reply(405, status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${req.method} ${path}): this stand-in is read-only`));
    }
    switch (path) {
      case '/version':
        return reply(200, { major: '1', minor: '31', gitVersion: 'v1.31.0-fairway-stand-in', gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2025-01-01T00:00:00Z', goVersion: 'go1.22.0', compiler: 'gc', platform: 'linux/amd64' });
      case '/api':
        return reply(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${host}:${port}` }] });
      case '/api/v1':
        return reply(200, { kind: 'APIResourceList', groupVersion: 'v1', resources: [] });
      case '/apis':
        return reply(200, {
          kind: 'APIGroupList',
          apiVersion: 'v1',
          groups: [{ name: GROUP, versions: [{ groupVersion: GROUP_VERSION, version: VERSION }], preferredVersion: { groupVersion: GROUP_VERSION, version: VERSION } }],
        });
      case `/apis/${GROUP}`:
        return reply(200, { kind: 'APIGroup', apiVersion: 'v1', name: GROUP, versions: [{ groupVersion: GROUP_VERSION, version: VERSION }], preferredVersion: { groupVersion: GROUP_VERSION, version: VERSION } });
      case `/apis/${GROUP_VERSION}`:
        return reply(200, {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: GROUP_VERSION,
          resources: [
            { name: 'endpointslices', singularName: 'endpointslice', namespaced: true, kind: 'EndpointSlice', verbs: ['get', 'list', 'watch'], storageVersionHash: 'Nx3SIv6I0mE=' },
          ],
        });
      default:
        break;
    }
    // Resource paths.
    const m = new RegExp(`^/apis/${GROUP.replace(/\./g, '\\.')}/${VERSION}(?:/watch)?(?:/namespaces/([^/]+))?/endpointslices(?:/([^/]+))?$`).exec(path);
    if (!m) return reply(404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const namespace = m[1] !== undefined ? decodeURIComponent(m[1]) : undefined;
    const name = m[2] !== undefined ? decodeURIComponent(m[2]) : undefined;
    const verb = isWatch ? 'watch' : name !== undefined ? 'get' : 'list';
    const forbidden = authorize(who, verb, namespace);
    if (forbidden) return reply(403, forbidden);
    let selector: LabelSelector;
    try {
      selector = parseLabelSelector(url.searchParams.get('labelSelector'));
    } catch (err) {
      return reply(400, status(400, 'BadRequest', `unable to parse requirement: ${(err as Error).message}`));
    }
    if (name !== undefined && !isWatch) {
      if (namespace === undefined) return reply(404, status(404, 'NotFound', 'the server could not find the requested resource'));
      const found = store.list(namespace, parseLabelSelector('')).find((o) => o.metadata?.name === name);
      if (!found) return reply(404, status(404, 'NotFound', `endpointslices.${GROUP} "${name}" not found`, { name, group: GROUP, kind: 'endpointslices' }));
      return reply(200, withKind(found));
    }
    if (isWatch) return startWatch(req, res, url, namespace, name, selector);
    return list(req, res, url, namespace, selector, reply);
  }

  function authorize(who: KubeApiToken, verb: 'get' | 'list' | 'watch', namespace: string | undefined): Record<string, unknown> | undefined {
    const verbs = who.verbs ?? ['get', 'list', 'watch'];
    const nsOk = who.namespaces === undefined || who.namespaces === '*' || (namespace !== undefined && who.namespaces.includes(namespace));
    if (verbs.includes(verb) && nsOk) return undefined;
    const user = who.user ?? 'system:serviceaccount:default:fairway';
    const where = namespace !== undefined ? `in the namespace "${namespace}"` : 'at the cluster scope';
    return status(403, 'Forbidden', `endpointslices.${GROUP} is forbidden: User "${user}" cannot ${verb} resource "endpointslices" in API group "${GROUP}" ${where}`, { group: GROUP, kind: 'endpointslices' });
  }

  function list(
    _req: IncomingMessage,
    _res: ServerResponse,
    url: URL,
    namespace: string | undefined,
    selector: LabelSelector,
    reply: (code: number, body: unknown) => void,
  ): void {
    const limitText = url.searchParams.get('limit');
    const limit = limitText ? Number(limitText) : 0;
    if (limitText && (!Number.isInteger(limit) || limit < 0)) return reply(400, status(400, 'BadRequest', `invalid limit ${JSON.stringify(limitText)}`));
    const cont = url.searchParams.get('continue');
    let snap: Snapshot;
    let offset = 0;
    if (cont) {
      let parsed: { id?: string; offset?: number; rv?: number };
      try {
        parsed = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as typeof parsed;
      } catch {
        return reply(400, status(400, 'BadRequest', 'continue key is not valid'));
      }
      const found = parsed.id !== undefined ? snapshots.get(parsed.id) : undefined;
      if (!found || (parsed.rv ?? 0) < store.oldestResourceVersion) {
        return reply(410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results.'));
      }
      snap = found;
      offset = parsed.offset ?? 0;
    } else {
      snap = { rv: store.resourceVersion, items: store.list(namespace, selector) };
    }
    const end = limit > 0 ? Math.min(snap.items.length, offset + limit) : snap.items.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(snap.rv) };
    if (end < snap.items.length) {
      const id = String(++snapshotCounter);
      snapshots.set(id, snap);
      if (snapshots.size > 100) snapshots.delete(snapshots.keys().next().value!);
      metadata.continue = Buffer.from(JSON.stringify({ id, offset: end, rv: snap.rv })).toString('base64url');
      metadata.remainingItemCount = snap.items.length - end;
    }
    reply(200, { kind: 'EndpointSliceList', apiVersion: GROUP_VERSION, metadata, items: snap.items.slice(offset, end) });
  }

  function write(w: Watcher, event: unknown): void {
    if (w.res.destroyed || w.res.writableEnded) return;
    w.res.write(JSON.stringify(event) + '\n');
  }

  function deliver(w: Watcher, e: StoredEvent): void {
    if (w.namespace !== undefined && e.object.metadata?.namespace !== w.namespace) return;
    if (w.nameFilter !== undefined && e.object.metadata?.name !== w.nameFilter) return;
    if (e.rv <= w.lastRv) return;
    w.lastRv = e.rv;
    const nowMatches = w.selector.matches(e.object.metadata?.labels);
    const wasMatching = e.previous !== undefined && w.selector.matches(e.previous.metadata?.labels);
    let type: string | undefined;
    if (e.type === 'DELETED') type = wasMatching ? 'DELETED' : undefined;
    else if (e.type === 'ADDED') type = nowMatches ? 'ADDED' : undefined;
    else if (nowMatches) type = wasMatching ? 'MODIFIED' : 'ADDED';
    else if (wasMatching) type = 'DELETED';
    if (type) write(w, { type, object: withKind(e.object) });
  }

  function bookmark(w: Watcher, annotations?: Record<string, string>): void {
    write(w, { type: 'BOOKMARK', object: { kind: 'EndpointSlice', apiVersion: GROUP_VERSION, metadata: { resourceVersion: String(store.resourceVersion), ...(annotations ? { annotations } : {}) } } });
    w.lastRv = Math.max(w.lastRv, store.resourceVersion);
  }

  function startWatch(req: IncomingMessage, res: ServerResponse, url: URL, namespace: string | undefined, name: string | undefined, selector: LabelSelector): void {
    const fieldSelector = url.searchParams.get('fieldSelector');
    const nameFilter = name ?? /(?:^|,)metadata\.name=([^,]+)/.exec(fieldSelector ?? '')?.[1];
    const rvText = url.searchParams.get('resourceVersion') ?? '';
    const bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true';
    const sendInitial = url.searchParams.get('sendInitialEvents') === 'true';
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? '1800');
    record(req, url, 200, true);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { res, namespace, selector, bookmarks, nameFilter, lastRv: 0 };
    if (rvText === '' || rvText === '0' || sendInitial) {
      // No resourceVersion (or sendInitialEvents): the current state as synthetic ADDED events first.
      for (const o of store.list(namespace, selector)) {
        if (nameFilter === undefined || o.metadata?.name === nameFilter) write(w, { type: 'ADDED', object: withKind(o) });
      }
      w.lastRv = store.resourceVersion;
      if (sendInitial && bookmarks) bookmark(w, { 'k8s.io/initial-events-end': 'true' });
    } else {
      const from = Number(rvText);
      if (!Number.isInteger(from) || from < 0) {
        write(w, { type: 'ERROR', object: status(400, 'BadRequest', `invalid resourceVersion ${JSON.stringify(rvText)}`) });
        res.end();
        return;
      }
      const events = store.eventsSince(from);
      if (!events) {
        write(w, { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${store.oldestResourceVersion})`) });
        res.end();
        return;
      }
      w.lastRv = from;
      for (const e of events) deliver(w, e);
      w.lastRv = Math.max(w.lastRv, store.resourceVersion);
    }
    watchers.add(w);
    const timer = setTimeout(() => res.end(), Math.max(1, timeoutSeconds) * 1000);
    timer.unref();
    res.on('close', () => {
      clearTimeout(timer);
      watchers.delete(w);
    });
    req.on('close', () => {
      if (!res.writableEnded) res.end();
    });
  }

  function sendBookmarks(): void {
    for (const w of watchers) if (w.bookmarks) bookmark(w);
  }

  let port = options.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as { port: number }).port;
  const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url,
    token: tokens[0]!.token,
    caPem: STAND_IN_CA_PEM,
    get resourceVersion() {
      return store.resourceVersion;
    },
    get openWatches() {
      return watchers.size;
    },
    get requests() {
      return requests;
    },
    applySlice(slice, namespace) {
      const ns = namespace ?? slice.metadata?.namespace ?? 'default';
      return store.put(ns, slice);
    },
    deleteSlice(namespace, name) {
      return store.delete(namespace, name);
    },
    dropWatches() {
      for (const w of [...watchers]) {
        watchers.delete(w);
        w.res.socket?.destroy();
        w.res.destroy();
      }
    },
    compactHistory() {
      store.compact();
    },
    sendBookmarks,
    setTokens(next) {
      tokens.splice(0, tokens.length, ...next);
    },
    injectWatchLine(line) {
      for (const w of watchers) if (!w.res.destroyed) w.res.write(line + '\n');
    },
    async setReachable(want) {
      if (closed || want === reachable) return;
      reachable = want;
      if (!want) {
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of sockets) s.destroy();
        watchers.clear();
        await done;
      } else {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, host, () => {
            server.off('error', reject);
            resolve();
          });
        });
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(bookmarkTimer);
      unsubscribe();
      const done = reachable ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      for (const s of sockets) s.destroy();
      watchers.clear();
      await done;
    },
  };
}
