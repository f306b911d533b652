/** Test-only: spawns `chain-service.ts` processes and reads their `READY`/`RESULT` lines. */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childNodeArgs } from '@fairway/testing';

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
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OTEL_') && !k.startsWith('CHAIN_')) base[k] = v;
  return { ...base, ...env };
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
