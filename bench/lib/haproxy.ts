/**
 * The sidecar baseline: HAProxy (Debian's 2.6) on loopback, `balance random(2)`, h2c to the backends.
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

/** A free loopback port (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function haproxyConfig(frontendPort: number, backends: readonly string[]): string {
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
  bind 127.0.0.1:${frontendPort} proto h2
  default_backend grpc_out

backend grpc_out
  balance random(2)
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
  static async start(backends: readonly string[]): Promise<Haproxy> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'fairway-bench-haproxy-'));
    const removeDir = onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig(port, backends));
    const child = track(spawn(HAPROXY_BIN, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] }));
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
export async function startHaproxy(backends: readonly string[]): Promise<Haproxy | string> {
  const why = haproxyUnavailable();
  if (why) return why;
  try {
    return await Haproxy.start(backends);
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
