/**
 * A real Kubernetes API server for tests: `kube-apiserver` built from the Go module `k8s.io/kubernetes` by
 * `scripts/tools/build-kube-apiserver.sh`, with an etcd of its own (v3.7.0, built by `scripts/tools/build-etcd.sh`),
 * both on loopback. RBAC is on (`--authorization-mode=RBAC`); an admin token (group `system:masters`) comes
 * from a static token file; service-account tokens are real signed JWTs from the TokenRequest API, for
 * service accounts this launcher creates with or without a Role allowing list/watch of EndpointSlices.
 *
 * Neither etcd nor kube-apiserver can serve on port 0 (`--secure-port 0` switches HTTPS off; etcd advertises
 * the URLs it was given), so each port is drawn at random below the ephemeral range and, when the process
 * reports `address already in use`, the process is started again with another draw. Nothing is probed.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { randomPort, toolBinary } from './tool-cache.js';

/** The Kubernetes version `scripts/tools/build-kube-apiserver.sh` builds. */
export const KUBE_APISERVER_VERSION = 'v1.37.2';
/**
 * The etcd version `scripts/tools/build-etcd.sh` builds for it: the release Kubernetes v1.37 depends on. Not
 * Debian's 3.4.23: the API server finds no RequestWatchProgress there (etcd >= 3.4.31 / 3.5.13), and then sends
 * no watch bookmarks and refuses watch-list streams.
 */
export const KUBE_ETCD_VERSION = 'v3.7.0';

/** Options of {@link startKubeApiServer}. */
export interface KubeApiServerOptions {
  /** Path of `kube-apiserver`. Default: `FAIRWAY_KUBE_APISERVER_BIN`, else the tool cache's `kube-apiserver-v1.37.2/kube-apiserver`. */
  readonly binary?: string;
  /** Path of `etcd` (>= 3.5.13). Default `FAIRWAY_KUBE_ETCD_BIN`, else the tool cache's `etcd-v3.7.0/etcd`. */
  readonly etcdBin?: string;
  /** How long to wait for `/readyz`, in ms. Default 120000 (a cold start on a busy 2-core machine takes tens of seconds). */
  readonly startTimeoutMs?: number;
  /** Extra kube-apiserver flags, e.g. `['--watch-cache=false']`. */
  readonly extraArgs?: readonly string[];
}

/** A JSON answer of the API server. */
export interface KubeApiAnswer {
  readonly status: number;
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- Kubernetes objects are open-ended JSON
}

/** A running kube-apiserver with its etcd. */
export interface KubeApiServer {
  readonly version: string;
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
  /** PEM of the test CA that signed the serving certificate. */
  readonly caPem: string;
  /** A token of user `fairway-admin` in group `system:masters` (everything allowed). */
  readonly adminToken: string;
  /** `http://127.0.0.1:<port>` of its etcd. */
  readonly etcdUrl: string;
  /** A request to the API server (admin token unless `token` is given); resolves with the status and the parsed body. */
  request(method: string, path: string, body?: unknown, token?: string): Promise<KubeApiAnswer>;
  /** Creates the namespace when it does not exist. */
  ensureNamespace(namespace: string): Promise<void>;
  /** Creates or replaces an EndpointSlice (namespace from its metadata); resolves with the stored object. */
  applySlice(slice: { metadata: { name: string; namespace?: string } }): Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Deletes an EndpointSlice; false when it was not there. */
  deleteSlice(namespace: string, name: string): Promise<boolean>;
  /**
   * Creates service account `name` in `namespace` (and, with `canWatchEndpointSlices`, a Role allowing get/list/
   * watch on `endpointslices` and a RoleBinding to it), and returns a token for it from the TokenRequest API.
   */
  serviceAccountToken(namespace: string, name: string, options: { readonly canWatchEndpointSlices: boolean; readonly expirationSeconds?: number }): Promise<string>;
  /** Compacts etcd's keyspace at its current revision (what the API server itself does every 5 minutes); returns that revision. */
  compactEtcd(): Promise<number>;
  /** Stops and starts kube-apiserver again on the same port (etcd keeps running); waits for `/readyz`. */
  restart(): Promise<void>;
  /** The last lines of kube-apiserver's log. */
  log(): string;
  /** Stops kube-apiserver and etcd, removes their directories. Idempotent. */
  close(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) p.kill('SIGKILL');
  });
}

interface Running {
  readonly proc: ChildProcess;
  readonly log: string[];
  readonly exited: Promise<number | null>;
}

function run(bin: string, args: readonly string[], cwd: string): Running {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  track(proc);
  const log: string[] = [];
  const keep = (b: Buffer) => {
    for (const line of b.toString().split('\n')) if (line) log.push(line);
    if (log.length > 600) log.splice(0, log.length - 600);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, log, exited };
}

async function stop(r: Running | undefined): Promise<void> {
  if (!r || r.proc.exitCode !== null || r.proc.signalCode !== null) return;
  r.proc.kill('SIGTERM');
  const t = setTimeout(() => r.proc.kill('SIGKILL'), 10_000);
  await r.exited;
  clearTimeout(t);
}

/** The error lines of a klog log (`E...`/`F...` prefixes, or a bare `Error:`) and its last lines. */
function problems(log: readonly string[]): string {
  const errors = log.filter((l) => /^[EF]\d{4} |^Error|^error/.test(l)).slice(-15);
  return [...errors, '... last lines:', ...log.slice(-8)].join('\n');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inUse = (log: readonly string[]) => log.some((l) => l.includes('address already in use'));

function makeCerts(dir: string): { caPem: string } {
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=fairway-kube-test-ca']);
  writeFileSync(join(dir, 'serving.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n');
  openssl(['req', ...ec, '-keyout', 'serving.key', '-out', 'serving.csr', '-subj', '/CN=kube-apiserver']);
  openssl(['x509', '-req', '-in', 'serving.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'serving.crt', '-days', '2', '-extfile', 'serving.ext']);
  // The key that signs service-account tokens (and verifies them).
  openssl(['genrsa', '-out', 'sa.key', '2048']);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
  return { caPem: readFileSync(join(dir, 'ca.crt'), 'utf8') };
}

/** Starts etcd and kube-apiserver (see {@link KubeApiServerOptions}) and resolves once `/readyz` answers 200. */
export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const binary = toolBinary('kube-apiserver', KUBE_APISERVER_VERSION, 'kube-apiserver', 'FAIRWAY_KUBE_APISERVER_BIN', 'scripts/tools/build-kube-apiserver.sh', options.binary);
  const etcdBin = toolBinary('etcd', KUBE_ETCD_VERSION, 'etcd', 'FAIRWAY_KUBE_ETCD_BIN', 'scripts/tools/build-etcd.sh', options.etcdBin);
  const startTimeoutMs = options.startTimeoutMs ?? 120_000;
  const dir = mkdtempSync(join(tmpdir(), 'fairway-kube-apiserver-'));
  const { caPem } = makeCerts(dir);
  const adminToken = `fw-admin-${randomBytes(16).toString('hex')}`;
  writeFileSync(join(dir, 'tokens.csv'), `${adminToken},fairway-admin,fairway-admin-uid,"system:masters"\n`);

  let etcd: Running | undefined;
  let etcdUrl = '';
  let api: Running | undefined;
  let securePort = 0;
  let closed = false;

  const close = async () => {
    if (closed) return;
    closed = true;
    await stop(api);
    await stop(etcd);
    rmSync(dir, { recursive: true, force: true });
  };

  const startEtcd = async () => {
    for (let attempt = 1; ; attempt++) {
      const client = randomPort();
      const peer = randomPort();
      const r = run(
        etcdBin,
        [
          '--name', 'kube', '--data-dir', join(dir, 'etcd'),
          '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
          '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
          '--initial-cluster', `kube=http://127.0.0.1:${peer}`, '--initial-cluster-state', 'new',
          '--logger', 'zap', '--log-level', 'warn', '--quota-backend-bytes', String(512 * 1024 * 1024),
        ],
        dir,
      );
      const url = `http://127.0.0.1:${client}`;
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (r.proc.exitCode !== null) break;
        try {
          const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
          if (res.ok) {
            etcd = r;
            etcdUrl = url;
            return;
          }
        } catch {
          /* not up yet */
        }
        if (Date.now() > deadline) {
          await stop(r);
          throw new Error(`etcd did not become healthy within 30 s: ${r.log.slice(-20).join('\n')}`);
        }
        await sleep(200);
      }
      await r.exited;
      rmSync(join(dir, 'etcd'), { recursive: true, force: true });
      if (!inUse(r.log) || attempt >= 5) throw new Error(`etcd (${etcdBin}) exited during start: ${r.log.slice(-20).join('\n')}`);
    }
  };

  const apiArgs = (port: number) => [
    '--etcd-servers', etcdUrl,
    '--bind-address', '127.0.0.1',
    '--advertise-address', '127.0.0.1',
    '--secure-port', String(port),
    '--cert-dir', join(dir, 'certs'),
    '--tls-cert-file', join(dir, 'serving.crt'),
    '--tls-private-key-file', join(dir, 'serving.key'),
    '--token-auth-file', join(dir, 'tokens.csv'),
    '--authorization-mode', 'RBAC',
    '--service-account-issuer', 'https://kubernetes.default.svc',
    '--service-account-key-file', join(dir, 'sa.pub'),
    '--service-account-signing-key-file', join(dir, 'sa.key'),
    '--api-audiences', 'https://kubernetes.default.svc',
    '--service-cluster-ip-range', '10.96.0.0/24',
    '--profiling=false',
    // The `kubernetes` Service's endpoint reconciler refuses a loopback advertise address; nothing here needs it.
    '--endpoint-reconciler-type', 'none',
    ...(options.extraArgs ?? []),
  ];

  const request = (method: string, path: string, body?: unknown, token = adminToken): Promise<KubeApiAnswer> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: securePort,
          method,
          path,
          ca: caPem,
          timeout: 15_000,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* e.g. /readyz answers text */
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 15 s`)));
      req.on('error', reject);
      req.end(payload);
    });

  const startApi = async (fixedPort?: number) => {
    const deadline = Date.now() + startTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      const port = fixedPort ?? randomPort();
      const r = run(binary, apiArgs(port), dir);
      securePort = port;
      for (;;) {
        if (r.proc.exitCode !== null || r.proc.signalCode !== null) break;
        try {
          const ready = await request('GET', '/readyz');
          if (ready.status === 200) {
            api = r;
            return;
          }
        } catch {
          /* not listening yet */
        }
        if (Date.now() > deadline) {
          await stop(r);
          throw new Error(`kube-apiserver did not become ready within ${startTimeoutMs} ms: ${problems(r.log)}`);
        }
        await sleep(300);
      }
      await r.exited;
      const retry = inUse(r.log) && attempt < (fixedPort ? 30 : 5);
      if (!retry) throw new Error(`kube-apiserver (${binary}) exited with code ${r.proc.exitCode} during start: ${problems(r.log)}`);
      // A port we drew is taken: draw again. Our own port after a restart: wait for the old socket to go.
      if (fixedPort) await sleep(500);
    }
  };

  try {
    await startEtcd();
    await startApi();
  } catch (error) {
    await close();
    throw error;
  }

  const must = (what: string, a: KubeApiAnswer, ...ok: number[]) => {
    if (!ok.includes(a.status)) throw new Error(`kube-apiserver: ${what}: HTTP ${a.status}: ${typeof a.body === 'string' ? a.body : a.body?.message ?? JSON.stringify(a.body)}`);
    return a;
  };
  const namespaces = new Set<string>();
  const ensureNamespace = async (namespace: string) => {
    if (namespaces.has(namespace)) return;
    must(`create namespace ${namespace}`, await request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }), 201, 409);
    namespaces.add(namespace);
  };
  const slicePath = (ns: string) => `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/endpointslices`;

  return {
    version: KUBE_APISERVER_VERSION,
    get url() {
      return `https://127.0.0.1:${securePort}`;
    },
    caPem,
    adminToken,
    etcdUrl,
    request,
    ensureNamespace,
    async applySlice(slice) {
      const ns = slice.metadata.namespace ?? 'default';
      await ensureNamespace(ns);
      const { metadata, ...rest } = slice as { metadata: Record<string, unknown> } & Record<string, unknown>;
      const clean = { ...rest, apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { ...metadata, namespace: ns } };
      delete (clean.metadata as Record<string, unknown>)['resourceVersion'];
      const created = await request('POST', slicePath(ns), clean);
      if (created.status === 201) return created.body;
      must(`create EndpointSlice ${ns}/${slice.metadata.name}`, created, 409);
      // Exists: replace it at its current resourceVersion, as a controller's update does.
      for (let i = 0; i < 5; i++) {
        const current = must(`get EndpointSlice ${ns}/${slice.metadata.name}`, await request('GET', `${slicePath(ns)}/${slice.metadata.name}`), 200);
        const updated = await request('PUT', `${slicePath(ns)}/${slice.metadata.name}`, {
          ...clean,
          metadata: { ...clean.metadata, resourceVersion: current.body.metadata.resourceVersion, uid: current.body.metadata.uid },
        });
        if (updated.status === 200) return updated.body;
        must(`update EndpointSlice ${ns}/${slice.metadata.name}`, updated, 409);
      }
      throw new Error(`kube-apiserver: update EndpointSlice ${ns}/${slice.metadata.name}: conflict 5 times in a row`);
    },
    async deleteSlice(namespace, name) {
      const r = must(`delete EndpointSlice ${namespace}/${name}`, await request('DELETE', `${slicePath(namespace)}/${name}`), 200, 404);
      return r.status === 200;
    },
    async serviceAccountToken(namespace, name, o) {
      await ensureNamespace(namespace);
      must(`create ServiceAccount ${namespace}/${name}`, await request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } }), 201, 409);
      if (o.canWatchEndpointSlices) {
        const role = `${name}-endpointslice-reader`;
        must(
          `create Role ${namespace}/${role}`,
          await request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`, {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'Role',
            metadata: { name: role },
            rules: [{ apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] }],
          }),
          201,
          409,
        );
        must(
          `create RoleBinding ${namespace}/${role}`,
          await request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'RoleBinding',
            metadata: { name: role },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
            subjects: [{ kind: 'ServiceAccount', name, namespace }],
          }),
          201,
          409,
        );
      }
      const token = must(
        `TokenRequest for ${namespace}/${name}`,
        await request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: o.expirationSeconds ?? 3600 },
        }),
        201,
      );
      return String(token.body.status.token);
    },
    async compactEtcd() {
      // etcd's JSON gateway: the current revision from a range response's header, then a physical compaction.
      const range = await fetch(`${etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
      const revision = Number(((await range.json()) as { header: { revision: string } }).header.revision);
      const compact = await fetch(`${etcdUrl}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(revision), physical: true }) });
      if (!compact.ok) throw new Error(`etcd compaction at ${revision}: HTTP ${compact.status}: ${await compact.text()}`);
      return revision;
    },
    async restart() {
      await stop(api);
      await startApi(securePort);
    },
    log: () => (api?.log ?? []).join('\n'),
    close,
  };
}
