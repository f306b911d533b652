/**
 * The retry decision: Fairway retries an attempt only when its own attempt timer fired (the game back-end
 * rule). Any status the server sent, including a server's DEADLINE_EXCEEDED, goes back to the caller as it
 * is: the server has answered, and only the application knows whether answering twice is safe.
 *
 * - Unary calls retry; server-streaming calls only until their first message (the timer stops there);
 *   client-streaming and bidi calls never (their requests are a stream that would have to be buffered
 *   without bound to be replayed).
 * - At most `maxAttempts` attempts (1..6), spaced by a steady `retryIntervalMs` (no jitter, no growth:
 *   a fixed-size retry wave is predictable, and the budget, not back-off, is what stops a storm).
 * - Each attempt's timer is `min(attemptTimeoutMs, time left before the call's deadline)`; when the call's
 *   deadline is what fired, the call is over.
 * - A retry must also be allowed by the retry budget (see `retry-budget.ts`).
 *
 * Pure: time is passed in.
 */
import type { CallDescription } from './contracts.js';
import type { MethodRetrySettings } from './retry-config.js';
import type { RetryBudget } from './retry-budget.js';

/** The kinds of call that may be retried at all. */
export function isRetryableKind(kind: CallDescription['kind']): boolean {
  return kind === 'unary' || kind === 'server_stream';
}

/** One attempt's timer. */
export interface AttemptTimer {
  /** Milliseconds from the attempt's start until the timer fires (>= 0); `Infinity` when there is no timer. */
  readonly timerMs: number;
  /** True when the call's deadline, not `attemptTimeoutMs`, sets the timer: when it fires the call is over. */
  readonly byDeadline: boolean;
}

/**
 * The timer for an attempt starting now: `min(attemptTimeoutMs, remainingMs)`.
 * @param attemptTimeoutMs undefined: no attempt timer.
 * @param remainingMs time left before the call's deadline; `Infinity` when the call has none.
 */
export function attemptTimer(attemptTimeoutMs: number | undefined, remainingMs: number): AttemptTimer {
  const remaining = Math.max(0, remainingMs);
  if (attemptTimeoutMs === undefined || attemptTimeoutMs >= remaining) {
    return { timerMs: remaining, byDeadline: true };
  }
  return { timerMs: attemptTimeoutMs, byDeadline: false };
}

/** What the call layer knows when an attempt has ended without committing. */
export interface RetryDecisionInput {
  readonly kind: CallDescription['kind'];
  /** The attempt that just ended, 1-based. */
  readonly attempt: number;
  readonly settings: MethodRetrySettings;
  /** True when Fairway's own attempt timer fired (the only retryable outcome). */
  readonly timedOut: boolean;
  /** True when the timer that fired was set by the call's deadline (see {@link attemptTimer}). */
  readonly byDeadline: boolean;
  /** True when the attempt already passed a response message to the caller. */
  readonly receivedMessage: boolean;
  /** Time left before the call's deadline, ms; `Infinity` when none. */
  readonly remainingMs: number;
  /** How long the attempt ran before its timer fired, ms (for the reason text). */
  readonly elapsedMs: number;
}

/** The outcome of {@link decideRetry}. */
export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number; readonly reason: string }
  | {
      readonly retry: false;
      /** Set when a retry was wanted (the attempt timed out) but is not made, saying why. */
      readonly refusedReason?: string;
    };

function ms(n: number): string {
  return `${Math.round(n)}ms`;
}

/**
 * Decides whether a further attempt follows. The budget is consulted (and a retry withdrawn from it) only
 * when everything else allows the retry.
 */
export function decideRetry(input: RetryDecisionInput, budget: RetryBudget | undefined, nowMs: number): RetryDecision {
  if (!input.timedOut) return { retry: false };
  const what = `attempt ${input.attempt} timed out after ${ms(input.elapsedMs)}`;
  if (input.byDeadline) return { retry: false, refusedReason: `${what}: the call's deadline was reached` };
  if (!isRetryableKind(input.kind)) {
    return { retry: false, refusedReason: `${what}: ${input.kind} calls are never retried` };
  }
  if (input.receivedMessage) {
    return { retry: false, refusedReason: `${what}: a response message was already received` };
  }
  if (input.attempt >= input.settings.maxAttempts) {
    return {
      retry: false,
      refusedReason: `${what}: all ${input.settings.maxAttempts} attempts used (maxAttempts ${input.settings.maxAttempts})`,
    };
  }
  const delayMs = input.settings.retryIntervalMs;
  if (input.remainingMs <= delayMs) {
    return {
      retry: false,
      refusedReason: `${what}: the call's deadline leaves ${ms(input.remainingMs)}, not more than the ${ms(delayMs)} retry interval`,
    };
  }
  if (budget !== undefined && !budget.tryWithdraw(nowMs)) {
    return { retry: false, refusedReason: `${what}: retry budget exhausted (${budget.describe(nowMs)})` };
  }
  return {
    retry: true,
    delayMs,
    reason: `${what}; retrying in ${ms(delayMs)} on another endpoint (attempt ${input.attempt + 1} of ${input.settings.maxAttempts})`,
  };
}
