/**
 * The one place in `@fairway/grpc` that reads the real clock and the real random source and starts timers.
 * Everything else receives `nowMs` / `random` from here, so logic stays testable with fake values.
 */
import { performance } from 'node:perf_hooks';

/** Monotonic milliseconds (not wall time): what the balancer's decay and latencies are measured in. */
export function nowMs(): number {
  return performance.now();
}

/** Uniform in [0, 1). */
export function random(): number {
  return Math.random();
}

/** A cancellable, unref'd timer: never keeps the process alive on its own. */
export interface TimerHandle {
  cancel(): void;
}

export function startTimer(delayMs: number, fn: () => void): TimerHandle {
  const t = setTimeout(fn, delayMs);
  t.unref();
  return { cancel: () => clearTimeout(t) };
}

export function startInterval(everyMs: number, fn: () => void): TimerHandle {
  const t = setInterval(fn, everyMs);
  t.unref();
  return { cancel: () => clearInterval(t) };
}

/** Runs `fn` on a later turn of the event loop (never synchronously). */
export function later(fn: () => void): void {
  setImmediate(fn);
}
