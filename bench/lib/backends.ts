/**
 * Parent side of the backend processes (see ../backend.ts): start, change a pod's capacity, read its
 * figures, freeze (SIGSTOP), thaw, kill. Each backend is its own OS process, tracked so it is killed at the
 * end of the run whatever happens. Every server binds port 0 and reports the port it got.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { meanServiceTimeMs, type PodFailure, type PodOptions, type PodStats } from '@fairway/testing';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { track } from './procs.js';

const here = dirname(fileURLToPath(import.meta.url));
/** bench/dist/backend.js, next to the compiled run.js (this module is bundled into run.js). */
export const BACKEND_SCRIPT = join(here, 'backend.js');

/** A pod's options as plain data (no timers, no random source): what crosses the IPC channel. */
export type PodSpec = Omit<PodOptions, 'timers' | 'random'>;

export interface ServerSettings {
  /** Unique id; the backend answers every call with it. */
  readonly id: string;
  readonly zone: string;
  /** Extra delay (ms) for callers whose zone (metadata) differs from `zone`. Default 0. */
  readonly crossZoneMs?: number;
  /** The pod this server serves through; absent: it answers at once (no service time, no capacity: B4). */
  readonly pod?: PodSpec;
  /** Absent: port 0 (the system picks; the port is reported). Only a restart asks for the port it had. */
  readonly port?: number;
}

/**
 * A pod for scenarios that are not about capacity (B6, B7): so many slots that nothing queues, a service time
 * around `meanMs` with a short tail.
 */
export function roomyPod(meanMs: number): PodSpec {
  return { slots: 10_000, serviceTime: { kind: 'lognormal', meanMs, sigma: 0.3 } };
}

/** Calls per second a pod serves at full capacity: slots / mean service time. */
export function podCapacityPerSec(pod: PodSpec): number {
  return (pod.slots * 1000) / meanServiceTimeMs(pod.serviceTime);
}

/** One backend process. */
export class BackendProcess {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: Record<string, unknown>) => {
      const seq = m['seq'];
      if (typeof seq !== 'number') return;
      const w = this.waiting.get(seq);
      if (!w) return;
      this.waiting.delete(seq);
      if (m['op'] === 'error') w.reject(new Error(`backend pid ${child.pid}: ${String(m['message'])}`));
      else w.resolve(m);
    });
    child.once('exit', (code, signal) => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`backend pid ${child.pid} exited (${code ?? signal})`));
      this.waiting.clear();
    });
  }

  /** Forks a backend process and waits until it is ready for commands (bounded: 60 s: shared machines can be very slow). */
  static async start(): Promise<BackendProcess> {
    const child = track(fork(BACKEND_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] }));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('backend did not start within 60 s')), 60_000);
      child.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`backend exited during start (code ${code})`));
      });
    });
    return new BackendProcess(child);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return !this.exited;
  }

  private request(msg: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new Error(`backend pid ${this.pid} is not running`));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        reject(new Error(`backend pid ${this.pid} did not answer ${String(msg['op'])} within 60 s`));
      }, 60_000);
      this.waiting.set(seq, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ ...msg, seq });
    });
  }

  /** Starts a server in this process; resolves with its port. */
  async listen(settings: ServerSettings): Promise<number> {
    const m = await this.request({ op: 'listen', ...settings });
    return Number(m['port']);
  }

  /** A noisy neighbour: the pod(s) keep `factor` of their CPU (1 = full). `id` absent: every server here. */
  async setCapacity(factor: number, id?: string): Promise<void> {
    await this.request({ op: 'capacity', factor, ...(id === undefined ? {} : { id }) });
  }

  /** Fail-fast mode on (`failure`) or off (`undefined`): the pod(s) answer every new call with that error. `id` absent: every server here. */
  async setFailing(failure: PodFailure | undefined, id?: string): Promise<void> {
    await this.request({ op: 'fail', ...(failure === undefined ? {} : { failure }), ...(id === undefined ? {} : { id }) });
  }

  /**
   * Seeds the pods' service times: from now on each pod here draws from a generator seeded with `seed` and its
   * id, so the same seed replays the same service times on every pod (whichever calls reach it). `id` absent:
   * every server here.
   */
  async seed(seed: string, id?: string): Promise<void> {
    await this.request({ op: 'seed', seed, ...(id === undefined ? {} : { id }) });
  }

  /** The pods' live figures (utilization, queue, queueing delay) by server id. */
  async stats(id?: string): Promise<Record<string, PodStats>> {
    const m = await this.request({ op: 'stats', ...(id === undefined ? {} : { id }) });
    return (m['stats'] ?? {}) as Record<string, PodStats>;
  }

  /** Starts the pods' figures afresh (utilization and queueing delay are since the last reset). */
  async resetStats(id?: string): Promise<void> {
    await this.request({ op: 'reset-stats', ...(id === undefined ? {} : { id }) });
  }

  async closeServer(id: string): Promise<void> {
    await this.request({ op: 'close', id });
  }

  /** Freezes the process: its sockets stay open, nothing answers (a half-open peer). */
  freeze(): void {
    this.child.kill('SIGSTOP');
  }

  thaw(): void {
    this.child.kill('SIGCONT');
  }

  /** SIGKILL, waits for the exit (bounded: 5 s). */
  async kill(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => {
      this.child.once('exit', () => resolve());
      setTimeout(resolve, 5_000);
    });
    this.child.kill('SIGCONT');
    this.child.kill('SIGKILL');
    await done;
  }
}

/** One endpoint: a server in a backend process. */
export interface Endpoint {
  readonly id: string;
  readonly zone: string;
  port: number;
  proc: BackendProcess;
  readonly settings: ServerSettings;
}

export function address(e: Endpoint): string {
  return `127.0.0.1:${e.port}`;
}

/** Fairway's `static:` target for these endpoints, each with its zone: `static:///127.0.0.1:port@zone,...`. */
export function staticTarget(list: readonly Endpoint[]): string {
  return `static:///${list.map((e) => `${address(e)}@${e.zone}`).join(',')}`;
}

/** Starts one process per endpoint, three at a time. */
export async function startEndpoints(list: readonly ServerSettings[]): Promise<Endpoint[]> {
  const out: Endpoint[] = new Array(list.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < list.length) {
      const i = next++;
      const s = list[i]!;
      const proc = await BackendProcess.start();
      const port = await proc.listen(s);
      out[i] = { id: s.id, zone: s.zone, port, proc, settings: s };
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  return out;
}

/**
 * Restarts an endpoint's process on the same port (after it was killed): with a `static:` target the client
 * only knows that address. The port was this endpoint's own a moment ago; the bind is retried for up to 5 s
 * in case the kernel has not released it yet (or, rarely, another process took it: then the restart fails
 * with the bind error, and the scenario says so).
 */
export async function restartEndpoint(e: Endpoint): Promise<void> {
  await e.proc.kill();
  const proc = await BackendProcess.start();
  const until = Date.now() + 5_000;
  for (;;) {
    try {
      e.port = await proc.listen({ ...e.settings, port: e.port });
      e.proc = proc;
      return;
    } catch (err) {
      if (Date.now() > until) {
        await proc.kill();
        throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function killEndpoints(list: readonly Endpoint[]): Promise<void> {
  const procs = new Set(list.map((e) => e.proc));
  await Promise.all([...procs].map((p) => p.kill()));
}
