/**
 * An Echo backend in its own child process, for tests that kill or freeze (SIGSTOP) a server.
 * Spawns `process.execPath <childNodeArgs()> backend-main.ts`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EchoBackendOptions, EchoCounts } from './echo-backend.js';
import type { PodStats } from '../pod/pod-model.js';
import { childNodeArgs } from '../child-node.js';

const here = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));

export interface BackendProcess {
  /** `127.0.0.1:<port>` or `[::1]:<port>`. */
  readonly address: string;
  readonly port: number;
  readonly id: string;
  readonly zone: string;
  readonly pid: number;
  /** Call counts (asks the child over IPC; rejects if it is stopped or dead, after `timeoutMs`). */
  counts(timeoutMs?: number): Promise<EchoCounts>;
  setServiceTime(serviceTimeMs: number, jitterMs?: number): Promise<void>;
  setFailCode(code: number | undefined): Promise<void>;
  /** The serving pod's figures (utilization, queue, queueing delay, capacity). */
  podStats(timeoutMs?: number): Promise<PodStats>;
  /** A noisy neighbour: the pod keeps `factor` (0 < factor <= 1) of its capacity. Rejects on a bad factor. */
  setCapacityFactor(factor: number): Promise<void>;
  /** Sends a signal (default SIGKILL) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP: the process freezes, its sockets stay open (a half-open peer). */
  stop(): void;
  /** SIGCONT. */
  cont(): void;
  /** Graceful shutdown over IPC (falls back to SIGKILL after 5 s). Idempotent. */
  close(): Promise<void>;
  readonly exited: boolean;
}

function mainScript(): { file: string; args: string[] } {
  // From source (tests) or from dist/ (the package ships src/ too, run through tsx).
  for (const ts of [join(here, 'backend-main.ts'), join(here, '..', 'src', 'backend', 'backend-main.ts')]) {
    if (existsSync(ts)) return { file: ts, args: childNodeArgs() };
  }
  throw new Error(`backend-main not found next to ${here}`);
}

/** Starts an Echo backend in a child process on loopback; resolves once it listens. */
export async function startBackendProcess(options: EchoBackendOptions & { readonly startTimeoutMs?: number } = {}): Promise<BackendProcess> {
  const { startTimeoutMs = 45_000, ...backendOptions } = options;
  const { file, args } = mainScript();
  const child: ChildProcess = spawn(process.execPath, [...args, file, JSON.stringify(backendOptions)], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const ready = await new Promise<{ port: number; id: string }>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`backend process did not start within ${startTimeoutMs} ms`));
    }, startTimeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(buf.slice(0, nl)) as { port: number; id: string });
        } catch (e) {
          reject(e as Error);
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`backend process exited with ${code} before it was ready`));
    });
  });
  child.stdout!.resume();
  let nextId = 1;
  const waiting = new Map<number, (v: unknown) => void>();
  child.on('message', (m: { id: number; value: unknown }) => {
    waiting.get(m.id)?.(m.value);
    waiting.delete(m.id);
  });
  const ask = (msg: Record<string, unknown>, timeoutMs = 5_000): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (exited || !child.connected) return reject(new Error('backend process has exited'));
      const id = nextId++;
      const t = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`backend process did not answer ${String(msg['type'])} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(id, (v) => (clearTimeout(t), resolve(v)));
      child.send({ ...msg, id });
    });
  const host = backendOptions.host ?? '127.0.0.1';
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (!exited) {
      child.kill(signal);
      if (signal !== 'SIGKILL') child.kill('SIGCONT'); // a stopped process must run to handle it
      await exitPromise;
    }
  };
  return {
    address: host === '::1' ? `[::1]:${ready.port}` : `${host}:${ready.port}`,
    port: ready.port,
    id: ready.id,
    zone: backendOptions.zone ?? '',
    pid: child.pid!,
    counts: (timeoutMs) => ask({ type: 'counts' }, timeoutMs) as Promise<EchoCounts>,
    setServiceTime: async (serviceTimeMs, jitterMs) => void (await ask({ type: 'setServiceTime', serviceTimeMs, jitterMs })),
    setFailCode: async (code) => void (await ask({ type: 'setFailCode', code: code ?? 0 })),
    podStats: (timeoutMs) => ask({ type: 'podStats' }, timeoutMs) as Promise<PodStats>,
    setCapacityFactor: async (factor) => {
      const answer = (await ask({ type: 'setCapacityFactor', factor })) as true | { error: string };
      if (answer !== true) throw new RangeError(answer.error);
    },
    kill,
    stop: () => void child.kill('SIGSTOP'),
    cont: () => void child.kill('SIGCONT'),
    close: async () => {
      if (exited) return;
      child.kill('SIGCONT');
      const done = ask({ type: 'stop' }, 5_000).catch(() => undefined);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await Promise.race([done.then(() => exitPromise), exitPromise]);
      clearTimeout(timer);
    },
    get exited() {
      return exited;
    },
  };
}
