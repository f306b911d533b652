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
