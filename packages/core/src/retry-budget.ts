/**
 * Retry budget, after Linkerd's and Finagle's: over a sliding window, retries may be at most
 * `ratio` x calls + `minPerSecond` x window seconds. The ratio keeps retries a bounded share of traffic when
 * everything is slow (a retry storm would otherwise multiply load by `maxAttempts` exactly when the servers
 * can least carry it); the per-second reserve lets a quiet client still retry.
 *
 * The window is kept as 10 buckets, so counts age out in steps of a tenth of the window. Pure: time is
 * passed in (`nowMs`, any monotonic clock).
 */
import type { RetryBudgetSettings } from './retry-config.js';

/** A retry budget shared by all calls of one client. */
export interface RetryBudget {
  /** Records a call (a deposit). Call once per call made, not per attempt. */
  recordCall(nowMs: number): void;
  /** Takes one retry from the budget; false (and nothing taken) when the budget is exhausted. */
  tryWithdraw(nowMs: number): boolean;
  /** Calls, retries and retries allowed in the current window. */
  state(nowMs: number): { readonly calls: number; readonly retries: number; readonly allowed: number };
  /** Short description for a refusal message, e.g. `12 retries for 40 calls in 10000ms; allowed 20% + 10/s`. */
  describe(nowMs: number): string;
}

const BUCKETS = 10;

/** Creates a budget. Settings come validated from `parseRetryOptions` (see `DEFAULT_RETRY_BUDGET`). */
export function createRetryBudget(settings: RetryBudgetSettings): RetryBudget {
  const bucketMs = settings.windowMs / BUCKETS;
  const reserve = (settings.minPerSecond * settings.windowMs) / 1000;
  const epochs = new Array<number>(BUCKETS).fill(-Infinity);
  const calls = new Array<number>(BUCKETS).fill(0);
  const retries = new Array<number>(BUCKETS).fill(0);

  function slot(nowMs: number): number {
    const epoch = Math.floor(nowMs / bucketMs);
    const i = ((epoch % BUCKETS) + BUCKETS) % BUCKETS;
    if (epochs[i] !== epoch) {
      epochs[i] = epoch;
      calls[i] = 0;
      retries[i] = 0;
    }
    return i;
  }

  function state(nowMs: number): { calls: number; retries: number; allowed: number } {
    const epoch = Math.floor(nowMs / bucketMs);
    let c = 0;
    let r = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const e = epochs[i]!;
      if (e > epoch - BUCKETS && e <= epoch) {
        c += calls[i]!;
        r += retries[i]!;
      }
    }
    return { calls: c, retries: r, allowed: settings.ratio * c + reserve };
  }

  return {
    recordCall(nowMs) {
      calls[slot(nowMs)]! += 1;
    },
    tryWithdraw(nowMs) {
      const s = state(nowMs);
      if (s.retries + 1 > s.allowed) return false;
      retries[slot(nowMs)]! += 1;
      return true;
    },
    state,
    describe(nowMs) {
      const s = state(nowMs);
      return (
        `${s.retries} retries for ${s.calls} calls in the last ${settings.windowMs}ms; ` +
        `allowed ${Math.round(settings.ratio * 100)}% of calls + ${settings.minPerSecond}/s`
      );
    },
  };
}
