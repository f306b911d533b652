/**
 * Launchers for real peers written in other languages: the Go services of `interop/go` (grpc-go, etcd's naming
 * package), a C-core server (grpcio) and a grpc-java server from `interop/python` and `interop/java`. Each
 * binary is built (once, cached outside the work tree) by the repository's `scripts/tools/build-*.sh`; each
 * server listens on 127.0.0.1 port 0 and prints `READY <port>`, which is how its port is learnt.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));

/** The repository root (this file is `packages/testing/src/` or `packages/testing/dist/`). */
function repoRoot(): string {
  const root = resolve(here, '..', '..', '..');
  if (!existsSync(join(root, 'scripts', 'tools'))) {
    throw new Error(`real peers: scripts/tools not found under ${root}; these launchers work only inside the Fairway repository`);
  }
  return root;
}

/** A real server process in another language. */
export interface PeerProcess {
  /** `go`, `ccore` or `java`. */
  readonly kind: 'go' | 'ccore' | 'java';
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  readonly port: number;
  readonly pid: number;
  /** Everything the process wrote to stderr so far (for failure messages). */
  stderr(): string;
  /** SIGSTOP: the process freezes, its sockets stay open (a half-open peer). */
  stop(): void;
  /** SIGCONT. */
  cont(): void;
  /** Sends `signal` (default SIGTERM: deregister, then stop) and waits for the exit (SIGKILL after 8 s). Idempotent. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  readonly exited: boolean;
}

const builds = new Map<string, Promise<string>>();

/** Runs a build script once per process and resolves the directory it prints (its last stdout line). */
function buildOnce(script: string, envOverride: string): Promise<string> {
  const fromEnv = process.env[envOverride];
  if (fromEnv) return Promise.resolve(fromEnv);
  let p = builds.get(script);
  if (!p) {
    p = new Promise<string>((resolveDir, reject) => {
      const path = join(repoRoot(), 'scripts', 'tools', script);
      const child = spawn('bash', [path], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.once('error', reject);
      child.once('exit', (code) => {
        const dir = out.trim().split('\n').pop() ?? '';
        if (code === 0 && dir !== '') resolveDir(dir);
        else reject(new Error(`scripts/tools/${script} failed (exit ${code}): ${err.trim().slice(-2000)}`));
      });
    });
    builds.set(script, p);
    p.catch(() => builds.delete(script));
  }
  return p;
}

/**
 * Builds (or finds in the cache) the Go peers and resolves the directory holding `fairway-go-server` and
 * `fairway-go-client`. `FAIRWAY_GO_PEERS_DIR` overrides it. The first build on a machine takes minutes.
 */
export function buildGoPeers(): Promise<string> {
  return buildOnce('build-go-peers.sh', 'FAIRWAY_GO_PEERS_DIR');
}

/**
 * Builds (or finds in the cache) the grpc-java peer and resolves its directory (`fairway-java-peer.jar`,
 * `lib/`). `FAIRWAY_JAVA_PEER_DIR` overrides it.
 */
export function buildJavaPeer(): Promise<string> {
  return buildOnce('build-java-peer.sh', 'FAIRWAY_JAVA_PEER_DIR');
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/** Spawns a server that prints `READY <port>` and resolves once it has. */
async function startPeer(
  kind: PeerProcess['kind'],
  command: string,
  args: readonly string[],
  startTimeoutMs: number,
  env?: NodeJS.ProcessEnv,
): Promise<PeerProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  track(child);
  let exited = false;
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 64_000) stderr = stderr.slice(-32_000);
  });
  const exitPromise = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  const port = await new Promise<number>((resolvePort, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${kind} peer (${command}) did not print READY within ${startTimeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
    }, startTimeoutMs);
    child.once('error', (e) => (clearTimeout(timer), reject(new Error(`${kind} peer: cannot start ${command}: ${e.message}`))));
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const m = /^READY (\d+)/m.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${kind} peer (${command}) exited (${code ?? signal}) before it was ready; stderr: ${stderr.slice(-2000)}`));
    });
  });
  child.stdout!.resume();
  return {
    kind,
    address: `127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    stderr: () => stderr,
    stop: () => void child.kill('SIGSTOP'),
    cont: () => void child.kill('SIGCONT'),
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (exited) return;
      child.kill(signal);
      if (signal !== 'SIGKILL') child.kill('SIGCONT'); // a stopped process must run to handle the signal
      const timer = setTimeout(() => child.kill('SIGKILL'), 8_000);
      await exitPromise;
      clearTimeout(timer);
    },
    get exited() {
      return exited;
    },
  };
}

/** Options of {@link startGoPeer}; each maps to a `fairway-go-server` flag. */
export interface GoPeerOptions {
  /** Server id in Echo replies (and the pricer's pod name). Default `go-<pid>`. */
  readonly id?: string;
  /** Zone in replies and, with `metadata: 'zone'`, in the registration. */
  readonly zone?: string;
  /** Service time added to every Echo call, ms (a slow server). Default 0. */
  readonly delayMs?: number;
  /** etcd endpoints (`host:port,...`); when set the server registers with Go's `endpoints.Manager`. */
  readonly etcd?: string;
  /** Service name: the key is `<service>/<instance>`. Default `echo`. */
  readonly service?: string;
  /** Last part of the key. Default: the id. */
  readonly instance?: string;
  /**
   * `none`: Metadata nil (a plain Go registration); `zone` (default): `{"zone": <zone>}`; `fairway`: zone,
   * instance and incarnation (Fairway then routes to the newest incarnation of the instance).
   */
  readonly metadata?: 'none' | 'zone' | 'fairway';
  /** Lease TTL, seconds. Default 10. */
  readonly ttlSeconds?: number;
  /** Serve `trading.v1.Pricer`, publishing through this target (e.g. `etcd:///publisher`). */
  readonly publisher?: string;
  /** With `publisher`: subscribe to the price feed at this target. */
  readonly feed?: string;
  /** Extra environment (e.g. `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`). */
  readonly env?: Readonly<Record<string, string>>;
  /** How long to wait for READY, ms (after the build). Default 30000. */
  readonly startTimeoutMs?: number;
}

/** Starts `fairway-go-server` (grpc-go with default server settings) on 127.0.0.1 port 0; builds it first if needed. */
export async function startGoPeer(options: GoPeerOptions = {}): Promise<PeerProcess> {
  const dir = await buildGoPeers();
  const args: string[] = [];
  const flag = (name: string, value: string | number | undefined) => {
    if (value !== undefined) args.push(`-${name}=${value}`);
  };
  flag('id', options.id);
  flag('zone', options.zone);
  flag('delay-ms', options.delayMs);
  flag('etcd', options.etcd);
  flag('service', options.service);
  flag('instance', options.instance);
  flag('metadata', options.metadata);
  flag('ttl', options.ttlSeconds);
  flag('publisher', options.publisher);
  flag('feed', options.feed);
  return startPeer('go', join(dir, 'fairway-go-server'), args, options.startTimeoutMs ?? 30_000, { ...process.env, ...options.env });
}

/** What `fairway-go-client` reports. */
export interface GoClientResult {
  readonly ok: number;
  readonly failed: number;
  /** Replies per Echo `server_id`. */
  readonly byServer: Readonly<Record<string, number>>;
  readonly errors: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;
}

/**
 * Runs `fairway-go-client`: grpc-go with etcd's `naming/resolver` and round_robin, `calls` Echo.Unary calls
 * to `target` (default `etcd:///echo`). Resolves its report once it exits (it is killed after `timeoutMs`).
 */
export async function runGoClient(options: {
  readonly etcd: string;
  readonly target?: string;
  readonly calls?: number;
  readonly concurrency?: number;
  readonly timeoutMs?: number;
}): Promise<GoClientResult> {
  const dir = await buildGoPeers();
  const args = [`-etcd=${options.etcd}`, `-target=${options.target ?? 'etcd:///echo'}`, `-calls=${options.calls ?? 30}`, `-concurrency=${options.concurrency ?? 3}`];
  const child = spawn(join(dir, 'fairway-go-client'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const exitCode = await new Promise<number | null>((r, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => r(code));
  });
  clearTimeout(timer);
  const line = out.trim().split('\n').pop() ?? '';
  let parsed: Partial<GoClientResult> = {};
  try {
    parsed = JSON.parse(line) as Partial<GoClientResult>;
  } catch {
    throw new Error(`fairway-go-client printed no report (exit ${exitCode}); stdout: ${out.slice(-1000)}; stderr: ${err.slice(-2000)}`);
  }
  return { ok: parsed.ok ?? 0, failed: parsed.failed ?? 0, byServer: parsed.byServer ?? {}, errors: parsed.errors ?? [], exitCode, stderr: err };
}

/**
 * Starts the C-core server of `interop/python/silent_server.py` (grpcio, default settings). The interpreter is
 * `FAIRWAY_PYTHON`, else `/usr/bin/python3` (Debian's python3-grpcio, installed by scripts/setup-test-deps.sh).
 */
export function startCcorePeer(options: { readonly startTimeoutMs?: number } = {}): Promise<PeerProcess> {
  const python = process.env['FAIRWAY_PYTHON'] ?? '/usr/bin/python3';
  return startPeer('ccore', python, [join(repoRoot(), 'interop', 'python', 'silent_server.py')], options.startTimeoutMs ?? 30_000);
}

/** Starts the grpc-java server of `interop/java` (Netty, default settings); builds it first if needed. */
export async function startJavaPeer(options: { readonly startTimeoutMs?: number } = {}): Promise<PeerProcess> {
  const dir = await buildJavaPeer();
  const cp = `${join(dir, 'fairway-java-peer.jar')}:${join(dir, 'lib')}/*`;
  return startPeer('java', 'java', ['-Xmx128m', '-XX:+UseSerialGC', '-cp', cp, 'fairway.interop.SilentServer'], options.startTimeoutMs ?? 60_000);
}
