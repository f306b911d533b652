/**
 * Observer plumbing shared by every transport adapter (grpc-js in `@fairway/grpc`, connect-node in
 * `@fairway/connect`): isolation (a user's observer must never break a call) and fan-out to several observers.
 */
import type { CallObserver } from '../contracts.js';

/**
 * An observer's notifications return nothing, but one written as `async onEnd() {...}` returns a promise, and
 * its rejection would be unhandled, which ends a Node process. Such a rejection is reported like a throw.
 * Cheap for the usual `undefined`.
 */
export function reportRejection(result: unknown, report: (e: unknown) => void): void {
  if (result !== undefined && result !== null && typeof (result as { then?: unknown }).then === 'function') {
    (result as PromiseLike<unknown>).then(undefined, report);
  }
}

/**
 * Wraps each observer so one that throws (or rejects) loses only its own notifications, never the call or the
 * other observers.
 */
export function guardObserver(observer: CallObserver, report: (e: unknown) => void): CallObserver {
  const safe = <T>(fn: () => T, fallback: T): T => {
    try {
      const result = fn();
      reportRejection(result, report);
      return result;
    } catch (e) {
      report(e);
      return fallback;
    }
  };
  return {
    onAttemptStart(attempt, start) {
      const a = safe(() => observer.onAttemptStart(attempt, start), undefined);
      return {
        onPick: (pick) => void safe(() => a?.onPick(pick), undefined),
        outgoingHeaders: () => safe(() => a?.outgoingHeaders() ?? {}, {}),
        onEnd: (outcome) => void safe(() => a?.onEnd(outcome), undefined),
      };
    },
    onEnd: (status) => void safe(() => observer.onEnd(status), undefined),
  };
}

/** One observer that forwards to every one of `observers`; undefined for none, the observer itself for one. */
export function fanOutObservers(observers: readonly CallObserver[]): CallObserver | undefined {
  if (observers.length === 0) return undefined;
  if (observers.length === 1) return observers[0];
  return {
    onAttemptStart(attempt, start) {
      const attempts = observers.map((o) => o.onAttemptStart(attempt, start));
      return {
        onPick: (pick) => attempts.forEach((a) => a.onPick(pick)),
        outgoingHeaders: () => Object.assign({}, ...attempts.map((a) => a.outgoingHeaders())),
        onEnd: (outcome) => attempts.forEach((a) => a.onEnd(outcome)),
      };
    },
    onEnd: (status) => observers.forEach((o) => o.onEnd(status)),
  };
}
