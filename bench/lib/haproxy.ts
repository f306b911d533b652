/**
 * The sidecar baseline: HAProxy (Debian's 2.6) on loopback, `balance random(2)` or `leastconn`, h2c to the
 * backends.
 * Config generated into a temp dir; the process is tracked and killed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { onCleanup, track, procCpuSeconds } from './procs.js';

export const HAPROXY_BIN = process.env['FAIRWAY_BENCH_HAPROXY'] ?? '/usr/sbin/haproxy';

/** Why HAProxy cannot run here, or undefined when it can. */
export function haproxyUnavailable(): string | undefined {
  if (!existsSync(HAPROXY_BIN)) return `haproxy not found at ${HAPROXY_BIN} (install Debian's haproxy, e.g. bash scripts/setup-test-deps.sh)`;
  return undefined;
}

/**
 * A listening loopback socket on port 0 for HAProxy to inherit: HAProxy cannot report a port it picked, so
 * this process binds port 0, learns the port, hands the socket to HAProxy as file descriptor 3 (`bind fd@3`)
 * and closes its own copy. No port is chosen ahead and released (another process could take it in between).
 */
async function listeningSocket(): Promise<{ fd: number; port: number; close: () => void }> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  // Node exposes a TCP server's descriptor on its handle (POSIX only); HAProxy runs only on Linux here.
  const fd = (srv as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0 || port === 0) {
    srv.close();
    throw new Error('could not get the listening socket\'s file descriptor to hand to haproxy');
  }
  return { fd, port, close: () => srv.close() };
}

/** How HAProxy picks a backend: `random(2)` (power of two choices on in-flight requests) or `leastconn`. */
export type HaproxyBalance = 'random(2)' | 'leastconn';

/** The configuration: the frontend listens on the inherited descriptor 3 (see listeningSocket). */
export function haproxyConfig(backends: readonly string[], balance: HaproxyBalance = 'random(2)'): string {
  const servers = backends.map((a, i) => `  server s${i} ${a} proto h2`).join('\n');
  return `global
  maxconn 4000
  log stderr format raw local0 err

defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s

frontend grpc_in
  bind fd@3 proto h2
  default_backend grpc_out

backend grpc_out
  balance ${balance}
${servers}
`;
}

export class Haproxy {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly dir: string,
  ) {}

  /** Starts HAProxy in the foreground and waits until its frontend accepts connections (bounded: 10 s). */
  static async start(backends: readonly string[], balance: HaproxyBalance = 'random(2)'): Promise<Haproxy> {
    const dir = mkdtempSync(join(tmpdir(), 'fairway-bench-haproxy-'));
    const removeDir = onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig(backends, balance));
    const socket = await listeningSocket();
    const port = socket.port;
    let child: ChildProcess;
    try {
      child = track(spawn(HAPROXY_BIN, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe', socket.fd] }));
    } finally {
      // HAProxy has its own copy of the descriptor now; this process must not accept on it.
      socket.close();
    }
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 4000) stderr += d.toString();
    });
    const hp = new Haproxy(child, port, dir);
    void removeDir;
    const until = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}): ${stderr.trim()}`);
      if (await canConnect(port)) return hp;
      if (Date.now() > until) {
        await hp.stop();
        throw new Error(`haproxy did not listen on 127.0.0.1:${port} within 10 s: ${stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** CPU seconds HAProxy used so far. */
  cpuSeconds(): Promise<number | undefined> {
    return procCpuSeconds(this.pid);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const done = new Promise<void>((r) => {
        this.child.once('exit', () => r());
        setTimeout(r, 5_000);
      });
      this.child.kill('SIGKILL');
      await done;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts HAProxy in front of `backends` (see {@link Haproxy.start}), or says why it cannot: not installed, or it failed to start. */
export async function startHaproxy(backends: readonly string[], balance: HaproxyBalance = 'random(2)'): Promise<Haproxy | string> {
  const why = haproxyUnavailable();
  if (why) return why;
  try {
    return await Haproxy.start(backends, balance);
  } catch (e) {
    return `haproxy could not start: ${e instanceof Error ? e.message : String(e)}`;
  }
}

function canConnect(port: number): Promise<boolean> {
  return import('node:net').then(
    ({ connect }) =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      }),
  );
}
