/**
 * A hand-made clock for tests and simulations: time moves only when the test says so.
 *
 * Fairway's pure logic (`@fairway/core`) takes `nowMs` as an argument instead of reading `Date.now()`, so a
 * test drives it with `clock.now()` and moves time with `clock.advance(ms)`; decayed costs can then be
 * asserted exactly (the style of tower's paused Tokio clock and Finagle's `MockTimer`).
 *
 * @packageDocumentation
 */

/** A clock that only moves when told to. */
export interface FakeClock {
  /** Current time in milliseconds (starts at `startMs`). */
  now(): number;
  /** Moves time forward by `ms` (>= 0, finite) and returns the new time. */
  advance(ms: number): number;
  /** Sets the time to `ms`, which must not be earlier than `now()`; returns it. */
  set(ms: number): number;
}

/**
 * Creates a fake clock.
 * @param startMs - initial time in milliseconds; default 0.
 */
export function createFakeClock(startMs = 0): FakeClock {
  if (!Number.isFinite(startMs)) throw new RangeError(`createFakeClock: startMs must be a finite number, got ${startMs}`);
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance(ms: number): number {
      if (!Number.isFinite(ms) || ms < 0) {
        throw new RangeError(`FakeClock.advance: ms must be a finite number >= 0, got ${ms}`);
      }
      nowMs += ms;
      return nowMs;
    },
    set(ms: number): number {
      if (!Number.isFinite(ms) || ms < nowMs) {
        throw new RangeError(`FakeClock.set: ms must be finite and not before now (${nowMs}), got ${ms}`);
      }
      nowMs = ms;
      return nowMs;
    },
  };
}

/** A fake clock that also runs timers, in due order, as time moves: the shape `PodTimers` expects. */
export interface FakeTimers extends FakeClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Timers scheduled and not yet run or cleared. */
  pending(): number;
}

/**
 * Creates a fake clock with timers: `advance(ms)` and `set(ms)` run every timer due by the new time, each with
 * `now()` at its own due time, in order of due time (then of scheduling), including timers that those timers
 * schedule. Promise continuations of what the timers resolve run only when the test awaits.
 * @param startMs - initial time in milliseconds; default 0.
 */
export function createFakeTimers(startMs = 0): FakeTimers {
  const clock = createFakeClock(startMs);
  interface Entry {
    readonly at: number;
    readonly seq: number;
    readonly fn: () => void;
  }
  const timers = new Set<Entry>();
  let seq = 0;
  const runUntil = (target: number): number => {
    for (;;) {
      let next: Entry | undefined;
      for (const t of timers) if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (!next) break;
      timers.delete(next);
      if (next.at > clock.now()) clock.set(next.at);
      next.fn();
    }
    return clock.set(target);
  };
  return {
    now: () => clock.now(),
    advance(ms: number): number {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`FakeTimers.advance: ms must be a finite number >= 0, got ${ms}`);
      return runUntil(clock.now() + ms);
    },
    set(ms: number): number {
      if (!Number.isFinite(ms) || ms < clock.now()) {
        throw new RangeError(`FakeTimers.set: ms must be finite and not before now (${clock.now()}), got ${ms}`);
      }
      return runUntil(ms);
    },
    setTimeout(fn: () => void, ms: number): unknown {
      const entry: Entry = { at: clock.now() + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: seq++, fn };
      timers.add(entry);
      return entry;
    },
    clearTimeout(handle: unknown): void {
      timers.delete(handle as Entry);
    },
    pending: () => timers.size,
  };
}
