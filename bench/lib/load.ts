/**
 * Load generators.
 * - Open loop: calls are scheduled at a fixed rate; each call's latency is measured from its INTENDED send
 *   time, so a stall delays the clock of every call behind it and shows up in the histogram (no coordinated
 *   omission). Sends are evenly spaced, or (`arrivals`) Poisson: exponential gaps around the same mean, from a
 *   seeded source, so every variant of a round meets the same arrival times.
 * - Closed loop: a fixed number of workers, each sending its next call when the previous one ends.
 * Both are bounded in call count and wall time.
 */
import { performance } from 'node:perf_hooks';
import { createSeededRandom } from '@fairway/testing';
import type { CallResult } from './echo.js';

/** One call as recorded. Times in ms relative to the run's start. */
export interface CallRecord {
  /** Intended send time (open loop) or actual send time (closed loop). */
  readonly intendedMs: number;
  readonly sentMs: number;
  endMs: number;
  code: number;
  backend: string;
}

export type CallFn = () => Promise<CallResult>;

export interface OpenLoopOptions {
  readonly ratePerSec: number;
  readonly durationMs: number;
  readonly call: CallFn;
  /** Called about every 250 ms with the elapsed fraction (progress bars). */
  readonly onProgress?: (fraction: number) => void;
  /**
   * Called once at these offsets (ms from start), for scripted events (kill, freeze, register). `now()` is
   * the time since the start in the records' time base.
   */
  readonly events?: ReadonlyArray<{ atMs: number; run: (now: () => number) => void | Promise<void> }>;
  /** Called with the start time (performance.now()) just before the first call. */
  readonly onStart?: (t0: number) => void;
  /** Checked on every tick: true ends the run early (durationMs stays the upper bound). */
  readonly shouldStop?: () => boolean;
  /** Hard cap on waiting for outstanding calls after the last send. Default 15 s. */
  readonly drainTimeoutMs?: number;
  /**
   * How sends are spaced. Default: evenly, one every 1/rate (round robin then hands each of n pods exactly
   * every n-th call, perfectly regular arrivals). `{ kind: 'poisson', seed }`: exponential gaps with the same
   * mean, as the calls of many independent callers arrive; the same seed gives the same arrival times.
   */
  readonly arrivals?: { readonly kind: 'poisson'; readonly seed: string };
}

export interface LoadResult {
  readonly records: CallRecord[];
  /** performance.now() at the start; record times are relative to it. */
  readonly t0: number;
  readonly wallMs: number;
  /** Calls still outstanding when the drain timeout hit (counted as failures, code -1). */
  readonly abandoned: number;
}

async function drain(records: CallRecord[], pending: Set<Promise<void>>, timeoutMs: number): Promise<number> {
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs));
  const all = Promise.all([...pending]).then(() => 'done' as const);
  const outcome = await Promise.race([all, timer]);
  if (outcome === 'done') return 0;
  let n = 0;
  for (const r of records) {
    if (r.endMs < 0) {
      r.code = -1;
      n++;
    }
  }
  return n;
}

interface EventRunner {
  timers: Array<NodeJS.Timeout>;
  running: Set<Promise<void>>;
  errors: unknown[];
}

function runEvents(t0: number, events: OpenLoopOptions['events']): EventRunner {
  const now = (): number => performance.now() - t0;
  const runner: EventRunner = { timers: [], running: new Set(), errors: [] };
  for (const e of events ?? []) {
    runner.timers.push(
      setTimeout(() => {
        const p: Promise<void> = Promise.resolve()
          .then(() => e.run(now))
          .catch((err: unknown) => {
            runner.errors.push(err);
          })
          .finally(() => runner.running.delete(p));
        runner.running.add(p);
      }, Math.max(0, e.atMs - now())),
    );
  }
  return runner;
}

/** Cancels events not yet started, waits (bounded: 30 s) for started ones, rethrows the first error. */
async function finishEvents(runner: EventRunner): Promise<void> {
  for (const t of runner.timers) clearTimeout(t);
  if (runner.running.size > 0) {
    await Promise.race([Promise.all([...runner.running]), new Promise((r) => setTimeout(r, 30_000))]);
  }
  if (runner.errors.length > 0) throw runner.errors[0];
}

/** Fixed-rate load. Every call is issued (late calls are sent at once, their latency still counts from the intended time). */
export async function openLoop(opts: OpenLoopOptions): Promise<LoadResult> {
  const intervalMs = 1000 / opts.ratePerSec;
  const intended = intendedSendTimes(opts, intervalMs);
  const total = intended.length;
  const records: CallRecord[] = [];
  const pending = new Set<Promise<void>>();
  const t0 = performance.now();
  opts.onStart?.(t0);
  const events = runEvents(t0, opts.events);
  let i = 0;
  let lastProgress = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now() - t0;
      while (i < total && intended[i]! <= now) {
        const rec: CallRecord = { intendedMs: intended[i]!, sentMs: performance.now() - t0, endMs: -1, code: -1, backend: '' };
        records.push(rec);
        const p = opts.call().then((res) => {
          rec.endMs = performance.now() - t0;
          rec.code = res.code;
          rec.backend = res.backend;
          pending.delete(p);
        });
        pending.add(p);
        i++;
      }
      if (opts.onProgress && now - lastProgress > 250) {
        lastProgress = now;
        opts.onProgress(Math.min(1, now / opts.durationMs));
      }
      if (i >= total || opts.shouldStop?.()) {
        resolve();
        return;
      }
      setTimeout(tick, Math.max(0, Math.min(5, intended[i]! - (performance.now() - t0))));
    };
    tick();
  });
  const abandoned = await drain(records, pending, opts.drainTimeoutMs ?? 15_000);
  opts.onProgress?.(1);
  await finishEvents(events);
  return { records, t0, wallMs: performance.now() - t0, abandoned };
}

/** Each call's intended send time, ms from the start: evenly spaced, or Poisson (see `OpenLoopOptions.arrivals`). */
function intendedSendTimes(opts: OpenLoopOptions, intervalMs: number): number[] {
  if (opts.arrivals === undefined) {
    const total = Math.max(1, Math.round((opts.ratePerSec * opts.durationMs) / 1000));
    return Array.from({ length: total }, (_, i) => i * intervalMs);
  }
  const random = createSeededRandom(opts.arrivals.seed);
  const times = [0];
  for (let t = -Math.log(1 - random()) * intervalMs; t < opts.durationMs; t += -Math.log(1 - random()) * intervalMs) times.push(t);
  return times;
}

export interface ClosedLoopOptions {
  readonly concurrency: number;
  /** Stop after this many calls in all (whichever comes first with durationMs). */
  readonly totalCalls?: number;
  readonly durationMs?: number;
  readonly call: CallFn;
  readonly onProgress?: (fraction: number) => void;
  readonly events?: OpenLoopOptions['events'];
  readonly onStart?: (t0: number) => void;
}

/** Fixed-concurrency load: `concurrency` workers, each sending its next call when the last one ends. */
export async function closedLoop(opts: ClosedLoopOptions): Promise<LoadResult> {
  if (opts.totalCalls === undefined && opts.durationMs === undefined) throw new Error('closedLoop needs totalCalls or durationMs');
  const total = opts.totalCalls ?? Number.MAX_SAFE_INTEGER;
  const durationMs = opts.durationMs ?? 10 * 60_000;
  const records: CallRecord[] = [];
  const t0 = performance.now();
  opts.onStart?.(t0);
  const events = runEvents(t0, opts.events);
  let issued = 0;
  let lastProgress = 0;
  const worker = async (): Promise<void> => {
    while (issued < total) {
      const now = performance.now() - t0;
      if (now >= durationMs) return;
      issued++;
      const rec: CallRecord = { intendedMs: now, sentMs: now, endMs: -1, code: -1, backend: '' };
      records.push(rec);
      const res = await opts.call();
      rec.endMs = performance.now() - t0;
      rec.code = res.code;
      rec.backend = res.backend;
      if (opts.onProgress && rec.endMs - lastProgress > 250) {
        lastProgress = rec.endMs;
        opts.onProgress(Math.min(1, Math.max(issued / total, rec.endMs / durationMs)));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  opts.onProgress?.(1);
  await finishEvents(events);
  return { records, t0, wallMs: performance.now() - t0, abandoned: 0 };
}
