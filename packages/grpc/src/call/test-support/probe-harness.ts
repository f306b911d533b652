/**
 * Starts probe servers as child processes and collects what they report (see `probe-server.ts`).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { childNodeArgs } from '@fairway/testing';

export interface ProbeEvent {
  readonly ev: 'ready' | 'call' | 'end' | 'error';
  readonly server: string;
  readonly method: string;
  readonly id: string;
  /** Arrival time, ms (wall clock with sub-ms resolution). */
  readonly t: number;
  /** What the call's deadline left when it arrived, ms; null when it had none. */
  readonly remainingMs: number | null;
  readonly clientInstance: string | null;
  readonly clientIncarnation: string | null;
  readonly cancelled?: boolean;
  readonly port?: number;
}

export interface ProbeServer {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  readonly child: ChildProcess;
  /** Every event so far, in arrival order. */
  readonly events: ProbeEvent[];
  /** `call` events for request `id`. */
  callsFor(id: string): ProbeEvent[];
  /** SIGSTOP / SIGCONT. */
  freeze(): void;
  thaw(): void;
  /** Stops the process (SIGCONT first if frozen, then SIGTERM, SIGKILL after 2 s) and waits for it. */
  stop(): Promise<void>;
}

const script = fileURLToPath(new URL('./probe-server.ts', import.meta.url));

export async function startProbeServer(name: string, options: { port?: number; incarnation?: string } = {}): Promise<ProbeServer> {
  const child = spawn(process.execPath, [...childNodeArgs(), script], {
    env: {
      ...process.env,
      PROBE_NAME: name,
      PROBE_PORT: String(options.port ?? 0),
      PROBE_INCARNATION: options.incarnation ?? '',
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events: ProbeEvent[] = [];
  let frozen = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`probe ${name} did not start within 20 s`)), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`probe ${name} exited with ${code} before it was ready`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let ev: ProbeEvent;
      try {
        ev = JSON.parse(line) as ProbeEvent;
      } catch {
        return;
      }
      if (ev.ev === 'ready') {
        clearTimeout(timer);
        resolve(ev.port!);
      } else if (ev.ev === 'error') {
        clearTimeout(timer);
        reject(new Error(`probe ${name}: ${JSON.stringify(ev)}`));
      } else events.push(ev);
    });
  });
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    child,
    events,
    callsFor: (id) => events.filter((e) => e.ev === 'call' && e.id === id),
    freeze() {
      frozen = true;
      child.kill('SIGSTOP');
    },
    thaw() {
      frozen = false;
      child.kill('SIGCONT');
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (frozen) child.kill('SIGCONT');
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(kill);
    },
  };
}

export async function startProbeServers(names: readonly string[]): Promise<ProbeServer[]> {
  return Promise.all(names.map((n) => startProbeServer(n)));
}
