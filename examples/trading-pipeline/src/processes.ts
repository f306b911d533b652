/**
 * The demo runner's process table: spawns each pipeline process as its own Node.js child (a compiled entry,
 * see bundle.ts, run by plain `node`), sends its output to a log file, tracks `ready` messages, and
 * stops everything it started: SIGTERM, then SIGKILL after a grace period; a synchronous last-resort kill on
 * exit of the runner.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';

/** One running child. */
export interface PipelineProcess {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly logFile: string;
  /** Resolves on the child's first message of `type`, rejects when it exits before that or after `timeoutMs`. */
  waitFor(type: string, timeoutMs: number): Promise<Record<string, unknown>>;
  /** Resolves when the child has exited (at once if it already has). */
  readonly exited: Promise<number | null>;
  readonly running: boolean;
  send(message: Record<string, unknown>): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHook = false;
function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
}

export interface SpawnOptions {
  readonly name: string;
  /** The compiled entry to run (absolute path). */
  readonly script: string;
  readonly env: Record<string, string>;
  readonly logDir: string;
  /** Called with every message the child sends. */
  readonly onMessage?: (message: Record<string, unknown>) => void;
}

/** Spawns `node <script>` as a child process with an IPC channel. */
export function spawnPipelineProcess(options: SpawnOptions): PipelineProcess {
  installExitHook();
  const logFile = join(options.logDir, `${options.name}.log`);
  const log: WriteStream = createWriteStream(logFile, { flags: 'a' });
  const proc = spawn(process.execPath, ['--enable-source-maps', options.script], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  live.add(proc);
  proc.stdout?.pipe(log, { end: false });
  proc.stderr?.pipe(log, { end: false });
  let running = true;
  const messages: Record<string, unknown>[] = [];
  const waiters: { type: string; resolve: (m: Record<string, unknown>) => void }[] = [];
  proc.on('message', (m: Record<string, unknown>) => {
    messages.push(m);
    if (messages.length > 50) messages.shift();
    options.onMessage?.(m);
    for (const w of [...waiters]) {
      if (m?.type === w.type) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => {
      running = false;
      live.delete(proc);
      setTimeout(() => log.end(), 50);
      resolve(code);
    });
  });
  proc.on('error', (e) => log.write(`spawn error: ${String(e)}\n`));

  const tail = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '';
    }
  };

  return {
    name: options.name,
    proc,
    logFile,
    exited,
    get running() {
      return running;
    },
    waitFor(type, timeoutMs) {
      const seen = messages.find((m) => m?.type === type);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`${options.name} did not report "${type}" within ${timeoutMs} ms; last log lines:\n${tail()}`));
        }, timeoutMs);
        const waiter = {
          type,
          resolve: (m: Record<string, unknown>) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        waiters.push(waiter);
        void exited.then((code) => {
          if (!waiters.includes(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`${options.name} exited (code ${code}) before reporting "${type}"; last log lines:\n${tail()}`));
        });
      });
    },
    send(message) {
      if (running && proc.connected) {
        try {
          proc.send(message);
        } catch {
          /* exiting */
        }
      }
    },
    async stop(graceMs = 8000) {
      if (!running) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (running) proc.kill('SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
