/** Test-only: spawns `chain-service.ts` processes and reads their `READY`/`RESULT` lines. */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { childNodeArgs, startOtlpReceiver, type OtlpReceiver } from '@fairway/testing';
import { parentEnvWithout } from './process-env.js';

const here = dirname(fileURLToPath(import.meta.url));

/** A running chain process. */
export interface ChainProcess {
  readonly child: ChildProcess;
  /** The server's port (servers only; 0 for the client). */
  readonly port: number;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Client only: resolves with the parsed `RESULT` line once the process has exited. */
  result(): Promise<{ ok: boolean; code?: number; details?: string; reply?: Record<string, unknown> }[]>;
  /** Asks a server to flush telemetry and exit; SIGKILL after `timeoutMs`. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Cleans the parent's OTEL_* variables so each child gets exactly what the test passes. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { ...parentEnvWithout('OTEL_', 'CHAIN_'), ...env };
}

/**
 * Starts one chain process with `env` (CHAIN_* and OTEL_* variables). For servers, resolves once the port is
 * known; rejects (and kills it) if that takes longer than `readyTimeoutMs`.
 */
export async function startChainProcess(env: Record<string, string>, readyTimeoutMs = 30_000): Promise<ChainProcess> {
  const child = spawn(
    process.execPath,
    [...childNodeArgs(), join(here, 'chain-service.ts')],
    { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const isClient = env.CHAIN_ROLE === 'client';
  let port = 0;
  if (!isClient) {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`chain ${env.CHAIN_ROLE} not ready in ${readyTimeoutMs}ms; stderr: ${err}`));
      }, readyTimeoutMs);
      const check = () => {
        const m = /READY (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          child.stdout!.off('data', check);
          resolve(Number(m[1]));
        }
      };
      child.stdout!.on('data', check);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`chain ${env.CHAIN_ROLE} exited (${String(code)}) before READY; stderr: ${err}`));
      });
    });
  }
  let stopping: Promise<void> | undefined;
  return {
    child,
    port,
    stderr: () => err,
    async result() {
      const code = await exited;
      const m = /RESULT (.*)\n/.exec(out);
      if (!m) throw new Error(`chain client exited (${String(code)}) without RESULT; stderr: ${err}`);
      return JSON.parse(m[1]!);
    },
    stop(timeoutMs = 10_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        try {
          child.send('stop');
        } catch {
          child.kill('SIGTERM');
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/** What a suite starts through {@link chainSuite}: each is stopped or closed after the suite. */
export interface ChainSuite {
  /** {@link startChainProcess}, and the process is stopped after the suite. */
  start(env: Record<string, string>, readyTimeoutMs?: number): Promise<ChainProcess>;
  /** Starts an OTLP receiver stand-in, closed after the suite (once every process has stopped and flushed). */
  startReceiver(): Promise<OtlpReceiver>;
}

/**
 * The clean-up every chain suite needs, as an `after` hook of the calling `describe` (call it in the suite's
 * body): the processes started through it are stopped (servers flush their telemetry on stop), then its
 * receiver is closed.
 */
export function chainSuite(): ChainSuite {
  const started: ChainProcess[] = [];
  let receiver: OtlpReceiver | undefined;
  after(async () => {
    await Promise.all(started.map((p) => p.stop()));
    await receiver?.close();
  });
  return {
    async start(env, readyTimeoutMs) {
      const p = await startChainProcess(env, readyTimeoutMs);
      started.push(p);
      return p;
    },
    async startReceiver() {
      receiver = await startOtlpReceiver();
      return receiver;
    },
  };
}
