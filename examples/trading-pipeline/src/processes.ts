/**
 * The demo runner's process table: spawns each pipeline process as its own Node.js child (a compiled entry,
 * see bundle.ts, run by plain `node`, talking over IPC) or, for the Go pricers, as a binary that talks JSON
 * lines over its standard streams (same `PipelineProcess` interface), sends its output to a log file, tracks `ready` messages, and
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
  const proc = spawn(process.execPath, ['--enable-source-maps', options.script], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const p = track(options.name, proc, options.logDir, options.onMessage);
  proc.on('message', (m: Record<string, unknown>) => p.deliver(m));
  return p.handle((message) => {
    if (proc.connected) proc.send(message);
  });
}

export interface SpawnBinaryOptions {
  readonly name: string;
  /** The executable (absolute path) and its arguments. */
  readonly binary: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  readonly logDir: string;
  readonly onMessage?: (message: Record<string, unknown>) => void;
}

/**
 * Spawns a process in another language that speaks the runner's protocol over its standard streams instead
 * of IPC (the Go pricer, `fairway-go-server -runner`): every stdout line that is a JSON object is a message,
 * `send` writes one JSON line to its stdin. Other lines (e.g. `READY <port>`) only go to the log. Closing its
 * stdin (the runner is gone) stops it too.
 */
export function spawnStdioProcess(options: SpawnBinaryOptions): PipelineProcess {
  const proc = spawn(options.binary, [...options.args], {
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const p = track(options.name, proc, options.logDir, options.onMessage);
  let pending = '';
  proc.stdout?.on('data', (d: Buffer) => {
    pending += d.toString('utf8');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      try {
        p.deliver(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not a message: it is in the log */
      }
    }
  });
  proc.stdin?.on('error', () => undefined); // EPIPE when it has exited
  return p.handle((message) => {
    proc.stdin?.write(`${JSON.stringify(message)}\n`);
  });
}

/** The bookkeeping both kinds of child share: log file, messages and their waiters, exit, stop. */
function track(name: string, proc: ChildProcess, logDir: string, onMessage?: (message: Record<string, unknown>) => void) {
  installExitHook();
  const logFile = join(logDir, `${name}.log`);
  const log: WriteStream = createWriteStream(logFile, { flags: 'a' });
  live.add(proc);
  proc.stdout?.pipe(log, { end: false });
  proc.stderr?.pipe(log, { end: false });
  let running = true;
  const messages: Record<string, unknown>[] = [];
  const waiters: { type: string; resolve: (m: Record<string, unknown>) => void }[] = [];
  const deliver = (m: Record<string, unknown>) => {
    messages.push(m);
    if (messages.length > 50) messages.shift();
    onMessage?.(m);
    for (const w of [...waiters]) {
      if (m?.type === w.type) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => {
      running = false;
      live.delete(proc);
      setTimeout(() => log.end(), 50);
      resolve(code);
    });
  });
  proc.on('error', (e) => log.write(`spawn error: ${String(e)}\n`));
  const options = { name };

  const tail = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '';
    }
  };

  const handle = (sendMessage: (m: Record<string, unknown>) => void): PipelineProcess => ({
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
      if (running) {
        try {
          sendMessage(message);
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
  });
  return { deliver, handle };
}
