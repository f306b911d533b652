/**
 * Every process the benchmark starts is registered here and killed when the run ends, also on an error, on
 * Ctrl-C (SIGINT) and on SIGTERM. Stopped (SIGSTOP) children get SIGCONT then SIGKILL.
 */
import type { ChildProcess } from 'node:child_process';

const children = new Set<ChildProcess>();
const cleanups = new Set<() => void>();

/** Tracks `child` until it exits. */
export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A synchronous cleanup step (e.g. removing a temp dir) run at the very end. */
export function onCleanup(fn: () => void): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Kills every tracked child that is still alive (by its own pid only). */
export function killAll(): void {
  for (const child of children) {
    try {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  children.clear();
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
  cleanups.clear();
}

/** How many tracked children are alive (for the end-of-run check). */
export function aliveCount(): number {
  return children.size;
}

let installed = false;
/** Installs exit/SIGINT/SIGTERM handlers that kill every child. Idempotent. */
export function installCleanupHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping every process it started\n`);
      killAll();
      process.exit(130);
    });
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** CPU seconds (user + system) a process used so far, from /proc/<pid>/stat; undefined when unreadable. */
export async function procCpuSeconds(pid: number): Promise<number | undefined> {
  const { readFile } = await import('node:fs/promises');
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces; everything after the last ')' is space-separated from field 3.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return (utime + stime) / clockTicksPerSecond;
  } catch {
    return undefined;
  }
}

/** Linux USER_HZ; 100 on every mainstream kernel config. */
const clockTicksPerSecond = 100;
