/**
 * Observer isolation shared by every transport adapter (grpc-js in `@fairway/grpc`, connect-node in
 * `@fairway/connect`): a user's observer must never break a call.
 */
import type { CallObserver } from '../contracts.js';

/**
 * Wraps each observer so one that throws loses only its own notifications, never the call or the other
 * observers.
 */
export function guardObserver(observer: CallObserver, report: (e: unknown) => void): CallObserver {
  const safe = <T>(fn: () => T, fallback: T): T => {
    try {
      return fn();
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
