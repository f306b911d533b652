/**
 * A real etcd for tests: starts `/usr/bin/etcd` (v3.4) on free loopback ports in a temporary data dir, as a
 * single member or a 3-member cluster, optionally with client TLS (certificates made with `openssl` on the
 * fly) and with user/password authentication. Members can be stopped, killed, restarted; the leader can be
 * found and killed; the keyspace compacted; `etcdctl` run against it. `close()` (and, as a last resort, process
 * exit) stops every process and removes every directory it made.
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

/** Options of {@link startEtcd}. */
export interface EtcdHarnessOptions {
  /** Number of members: 1 (default) or 3. */
  readonly members?: 1 | 3;
  /** Serve clients over TLS with a fresh CA, server and client certificate (client certificates required). Default false. */
  readonly tls?: boolean;
  /** Enable etcd authentication with this root user and password. Default: no authentication. */
  readonly auth?: { readonly username?: string; readonly password: string };
  /** Raft heartbeat interval in ms. Default 50 (fast elections for tests). */
  readonly heartbeatIntervalMs?: number;
  /** Raft election timeout in ms. Default 500. */
  readonly electionTimeoutMs?: number;
  /** How long to wait for the cluster to become healthy, in ms. Default 20000. */
  readonly startTimeoutMs?: number;
  /** Path of the etcd binary. Default `/usr/bin/etcd`, or `ETCD_BIN`. */
  readonly etcdBin?: string;
  /** Path of etcdctl. Default `/usr/bin/etcdctl`, or `ETCDCTL_BIN`. */
  readonly etcdctlBin?: string;
  /**
   * Where the members' ports come from: `count` distinct ports per call (client and peer port of each member).
   * Called again, for a fresh set, when etcd finds one taken. Default: random ports below the kernel's ephemeral
   * range (etcd cannot listen on port 0 and report it). For tests of this harness.
   */
  readonly portPicker?: (count: number) => number[];
}

/** TLS material of a harness started with `tls: true` (PEM contents and file paths). */
export interface EtcdTlsMaterial {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** One etcd member. */
export interface EtcdMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** `host:port` of the client listener. */
  readonly endpoint: string;
  /** `http(s)://127.0.0.1:port` of the client listener. */
  readonly clientUrl: string;
  readonly dataDir: string;
  /** Whether this member's process is running (as far as the harness knows). */
  readonly running: boolean;
}

/** A running etcd (one member or a cluster). */
export interface EtcdHarness {
  readonly members: readonly EtcdMember[];
  /** `host:port` of every member, e.g. `['127.0.0.1:40123']`. */
  readonly endpoints: readonly string[];
  /** The endpoints joined with commas (the form of `FAIRWAY_ETCD_ENDPOINTS`). */
  readonly endpointsCsv: string;
  /** `http(s)://host:port` of every member. */
  readonly clientUrls: readonly string[];
  readonly tls?: EtcdTlsMaterial;
  readonly auth?: { readonly username: string; readonly password: string };
  /** Stops member `i` gracefully (SIGTERM, then SIGKILL after 5 s). */
  stop(i?: number): Promise<void>;
  /** Kills member `i` (SIGKILL). */
  kill(i?: number): Promise<void>;
  /** Starts a stopped member `i` again with its data dir and ports, and waits until it is healthy. */
  start(i?: number): Promise<void>;
  /** `stop(i)` then `start(i)`. */
  restart(i?: number): Promise<void>;
  /** Index of the current leader (asks the running members). */
  leader(): Promise<number>;
  /** Kills the leader, waits until the remaining members elect a new one, and returns the killed index. */
  killLeader(): Promise<number>;
  /** The current revision of the keyspace. */
  revision(): Promise<number>;
  /** Compacts the keyspace at the current revision (physically), returns that revision. */
  compact(): Promise<number>;
  /** Runs `etcdctl` (API v3) against the running members with the TLS and auth settings; resolves stdout. */
  etcdctl(args: readonly string[]): Promise<string>;
  /** Waits until every running member reports healthy. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every member and removes the data dirs. Idempotent. */
  close(): Promise<void>;
}

interface MemberState {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  proc: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  log: string[];
}

const live = new Set<{ kill(): void }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const h of live) {
      try {
        h.kill();
      } catch {
        /* best effort */
      }
    }
  });
}

/**
 * A free TCP port on 127.0.0.1 (bind to port 0, read, close).
 *
 * @deprecated Racy: between the close and the caller's bind, another process (an outgoing connection, say) can
 * take the port. Bind port 0 yourself and read the port you got; for an address nothing answers on, use
 * `startRefusingEndpoint()`. Kept only for code outside packages/ and test/ that has not moved yet.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Ports for etcd, which cannot listen on port 0 and tell us (its cluster configuration names every peer URL up
 * front). They are drawn at random below the kernel's ephemeral range, so an outgoing connection of another
 * process can never hold one; a listener that does is met by starting again on other ports (see `startEtcd`).
 */
function candidateEtcdPorts(count: number): number[] {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    /* not Linux: the common default */
  }
  const low = Math.max(10_000, ephemeralLow - 12_000);
  const ports = new Set<number>();
  while (ports.size < count) ports.add(low + Math.floor(Math.random() * (ephemeralLow - low)));
  return [...ports];
}

/** Whether an etcd log says it could not listen because the address was taken. */
function bindConflict(log: readonly string[]): boolean {
  return /address already in use/i.test(log.join(''));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function makeTls(dir: string): EtcdTlsMaterial {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=fairway-test-ca']);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext']);
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  run(['req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=fairway-test-client']);
  run(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2', '-extfile', 'client.ext']);
  const f = (n: string) => join(dir, n);
  return {
    caFile: f('ca.crt'),
    certFile: f('client.crt'),
    keyFile: f('client.key'),
    ca: readFileSync(f('ca.crt')),
    cert: readFileSync(f('client.crt')),
    key: readFileSync(f('client.key')),
  };
}

/** Starts a real etcd (see {@link EtcdHarnessOptions}) and waits until it is healthy. */
export async function startEtcd(options: EtcdHarnessOptions = {}): Promise<EtcdHarness> {
  installExitHook();
  const count = options.members ?? 1;
  const etcdBin = options.etcdBin ?? process.env['ETCD_BIN'] ?? '/usr/bin/etcd';
  const etcdctlBin = options.etcdctlBin ?? process.env['ETCDCTL_BIN'] ?? '/usr/bin/etcdctl';
  if (!existsSync(etcdBin)) throw new Error(`etcd binary not found at ${etcdBin} (install etcd-server, or set ETCD_BIN)`);
  const root = mkdtempSync(join(tmpdir(), 'fairway-etcd-'));
  const tls = options.tls ? makeTls(root) : undefined;
  const scheme = tls ? 'https' : 'http';
  const heartbeat = options.heartbeatIntervalMs ?? 50;
  const election = options.electionTimeoutMs ?? 500;
  const members: MemberState[] = [];
  for (let i = 0; i < count; i++) {
    members.push({ name: `m${i}`, clientPort: 0, peerPort: 0, dataDir: join(root, `m${i}.etcd`), proc: undefined, exited: undefined, log: [] });
  }
  let initialCluster = '';
  const assignPorts = () => {
    const ports = (options.portPicker ?? candidateEtcdPorts)(2 * count);
    members.forEach((m, i) => {
      m.clientPort = ports[2 * i]!;
      m.peerPort = ports[2 * i + 1]!;
    });
    initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  };
  assignPorts();
  let clusterToken = `fairway-${process.pid}-${Date.now()}`;
  let closed = false;

  const spawnMember = (m: MemberState) => {
    const args = [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', `${scheme}://127.0.0.1:${m.clientPort}`,
      '--advertise-client-urls', `${scheme}://127.0.0.1:${m.clientPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', clusterToken,
      '--initial-cluster-state', 'new',
      '--heartbeat-interval', String(heartbeat),
      '--election-timeout', String(election),
      '--quota-backend-bytes', String(256 * 1024 * 1024),
      '--snapshot-count', '10000',
      '--logger', 'zap',
      '--log-level', 'warn',
    ];
    if (tls) {
      args.push('--cert-file', join(root, 'server.crt'), '--key-file', join(root, 'server.key'));
      args.push('--trusted-ca-file', tls.caFile, '--client-cert-auth');
    }
    const proc = spawn(etcdBin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    m.log = [];
    const keep = (b: Buffer) => {
      m.log.push(b.toString());
      if (m.log.length > 200) m.log.shift();
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const handle = { kill: () => proc.kill('SIGKILL') };
    live.add(handle);
    m.proc = proc;
    m.exited = new Promise<void>((resolve) => {
      proc.once('exit', () => {
        live.delete(handle);
        if (m.proc === proc) m.proc = undefined;
        resolve();
      });
    });
  };

  const ctlBase = (endpoints: string[]): string[] => {
    const a = [`--endpoints=${endpoints.join(',')}`, '--dial-timeout=2s', '--command-timeout=5s'];
    if (tls) a.push(`--cacert=${tls.caFile}`, `--cert=${tls.certFile}`, `--key=${tls.keyFile}`);
    return a;
  };
  const runningUrls = () => members.filter((m) => m.proc).map((m) => `${scheme}://127.0.0.1:${m.clientPort}`);
  let authOn = false;
  const authArgs = () => (authOn && options.auth ? [`--user=${options.auth.username ?? 'root'}:${options.auth.password}`] : []);

  const ctl = (args: readonly string[], endpoints = runningUrls()): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(
        etcdctlBin,
        [...ctlBase(endpoints), ...authArgs(), ...args],
        { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15000 },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`etcdctl ${args.join(' ')} failed: ${stderr || err.message}`));
          else resolve(stdout);
        },
      );
    });

  const memberHealthy = async (m: MemberState): Promise<boolean> => {
    try {
      await ctl(['endpoint', 'health'], [`${scheme}://127.0.0.1:${m.clientPort}`]);
      return true;
    } catch {
      return false;
    }
  };

  const waitHealthy = async (timeoutMs = options.startTimeoutMs ?? 20000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = members.filter((m) => m.proc);
      const ok = await Promise.all(running.map(memberHealthy));
      if (ok.every(Boolean)) return;
      for (const m of members) {
        if (!m.proc && running.includes(m)) throw new Error(`etcd member ${m.name} exited during start: ${m.log.join('').slice(-2000)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`etcd did not become healthy within ${timeoutMs}ms: ${members.map((m) => m.log.join('').slice(-800)).join('\n')}`);
      }
      await sleep(100);
    }
  };

  /** Waits until every member is healthy; a member that exits meanwhile is an error carrying its log. */
  const waitStarted = async () => {
    const deadline = Date.now() + (options.startTimeoutMs ?? 20000);
    for (;;) {
      const exited = members.find((m) => !m.proc);
      if (exited) throw new Error(`etcd member ${exited.name} exited during start: ${exited.log.join('').slice(-2000)}`);
      if ((await Promise.all(members.map(memberHealthy))).every(Boolean)) return;
      if (Date.now() > deadline) {
        throw new Error(`etcd did not become healthy within ${options.startTimeoutMs ?? 20000}ms: ${members.map((m) => m.log.join('').slice(-800)).join('\n')}`);
      }
      await sleep(100);
    }
  };

  const stopMember = async (m: MemberState, signal: NodeJS.Signals) => {
    const proc = m.proc;
    if (!proc) return;
    proc.kill(signal);
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await m.exited;
    clearTimeout(t);
  };

  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all(members.map((m) => stopMember(m, 'SIGKILL')));
    rmSync(root, { recursive: true, force: true });
  };

  try {
    // A member that finds its port taken exits at once ("address already in use"): start the whole cluster
    // again on other ports (its configuration names every member's ports), a few times at most.
    for (let attempt = 1; ; attempt++) {
      for (const m of members) spawnMember(m);
      try {
        await waitStarted();
        break;
      } catch (err) {
        if (attempt >= 5 || !members.some((m) => bindConflict(m.log))) throw err;
        await Promise.all(members.map((m) => stopMember(m, 'SIGKILL')));
        for (const m of members) rmSync(m.dataDir, { recursive: true, force: true });
        assignPorts();
        clusterToken = `fairway-${process.pid}-${Date.now()}-${attempt}`;
      }
    }
    if (options.auth) {
      const user = options.auth.username ?? 'root';
      await ctl(['user', 'add', `${user}:${options.auth.password}`]);
      if (user !== 'root') {
        await ctl(['user', 'add', `root:${options.auth.password}`]);
      }
      await ctl(['user', 'grant-role', 'root', 'root']).catch(() => undefined);
      if (user !== 'root') await ctl(['user', 'grant-role', user, 'root']);
      await ctl(['auth', 'enable']);
      authOn = true;
    }
  } catch (err) {
    await close();
    throw err;
  }

  const at = (i: number): MemberState => {
    const m = members[i];
    if (!m) throw new Error(`no etcd member ${i} (have ${members.length})`);
    return m;
  };

  const statusJson = async (): Promise<Array<{ Endpoint: string; Status: { header: { member_id: number | string; revision: number }; leader: number | string } }>> => {
    const out = await ctl(['endpoint', 'status', '-w', 'json']);
    return JSON.parse(out);
  };

  const leader = async (): Promise<number> => {
    const deadline = Date.now() + 10000;
    for (;;) {
      try {
        const st = await statusJson();
        for (const s of st) {
          if (String(s.Status.leader) === String(s.Status.header.member_id)) {
            const port = Number(new URL(s.Endpoint).port);
            const idx = members.findIndex((m) => m.clientPort === port);
            if (idx >= 0) return idx;
          }
        }
      } catch {
        /* retry */
      }
      if (Date.now() > deadline) throw new Error('no etcd leader found within 10s');
      await sleep(100);
    }
  };

  const revision = async (): Promise<number> => {
    const st = await statusJson();
    return Math.max(...st.map((s) => Number(s.Status.header.revision)));
  };

  const harness: EtcdHarness = {
    get members() {
      return members.map((m) => ({
        name: m.name,
        clientPort: m.clientPort,
        peerPort: m.peerPort,
        endpoint: `127.0.0.1:${m.clientPort}`,
        clientUrl: `${scheme}://127.0.0.1:${m.clientPort}`,
        dataDir: m.dataDir,
        running: m.proc !== undefined,
      }));
    },
    endpoints: members.map((m) => `127.0.0.1:${m.clientPort}`),
    endpointsCsv: members.map((m) => `127.0.0.1:${m.clientPort}`).join(','),
    clientUrls: members.map((m) => `${scheme}://127.0.0.1:${m.clientPort}`),
    ...(tls ? { tls } : {}),
    ...(options.auth ? { auth: { username: options.auth.username ?? 'root', password: options.auth.password } } : {}),
    stop: (i = 0) => stopMember(at(i), 'SIGTERM'),
    kill: (i = 0) => stopMember(at(i), 'SIGKILL'),
    start: async (i = 0) => {
      const m = at(i);
      if (m.proc) return;
      spawnMember(m);
      // A lone restarted member of a cluster is healthy only once it has a leader: wait for it alone.
      const deadline = Date.now() + (options.startTimeoutMs ?? 20000);
      while (!(await memberHealthy(m))) {
        if (!m.proc) throw new Error(`etcd member ${m.name} exited on restart: ${m.log.join('').slice(-2000)}`);
        if (Date.now() > deadline) throw new Error(`etcd member ${m.name} not healthy after restart`);
        await sleep(100);
      }
    },
    restart: async (i = 0) => {
      await harness.stop(i);
      await harness.start(i);
    },
    leader,
    killLeader: async () => {
      const i = await leader();
      await harness.kill(i);
      // Wait until the others have elected a new leader (requests before that time out).
      if (members.filter((m) => m.proc).length > 1) await leader();
      return i;
    },
    revision,
    compact: async () => {
      const rev = await revision();
      await ctl(['compact', String(rev), '--physical']);
      return rev;
    },
    etcdctl: (args) => ctl(args),
    waitHealthy,
    close,
  };
  return harness;
}

/**
 * A real etcd for the tests of the calling `describe`: started (see {@link startEtcd}) in a `before` hook and
 * closed in an `after` hook, the set-up every etcd suite needs. Call it in the suite's body. The returned
 * harness forwards every property and method to the one the hook started, so tests use it as they would
 * `startEtcd`'s; it throws when used before the hook ran (in the suite's body itself, for instance).
 */
export function startEtcdForSuite(options: EtcdHarnessOptions = {}): EtcdHarness {
  let started: EtcdHarness | undefined;
  before(async () => {
    started = await startEtcd(options);
  });
  after(async () => {
    await started?.close();
  });
  const current = (): EtcdHarness => {
    if (!started) throw new Error("the suite's etcd is not running yet: use it in tests and in hooks registered after startEtcdForSuite");
    return started;
  };
  // A forwarding proxy, not a copy: the harness exists only once the before hook has run.
  return new Proxy({} as EtcdHarness, {
    get(_target, key) {
      const harness = current();
      const value: unknown = Reflect.get(harness, key);
      return typeof value === 'function' ? value.bind(harness) : value;
    },
  });
}
