/**
 * Adaptive concurrency in the call path: a grpc-js interceptor around each attempt that asks a
 * `ConcurrencyLimiter` (`@fairway/core`) for a ticket, fails the attempt at once with RESOURCE_EXHAUSTED
 * naming the limit when there is none, and releases the ticket with the attempt's latency when it ends.
 *
 * It sits inside the call layer's interceptor (so every attempt, retries included, counts against the limit:
 * timeout retries can never pile more attempts onto an overloaded fleet than the limit allows), and is only
 * installed when the `concurrencyLimit` option is set: with the option off the call path has no extra step.
 * A refused attempt never creates a grpc-js call (nothing is picked, nothing is sent).
 *
 * For the call layer's state machine (issue 16 item 1): the same hook is `limiter.tryAcquire()` before
 * "open an attempt" and `ticket.release(latencyMs, nowMs)` on "attempt answered / timed out / cancelled";
 * see `admitAttempt` below.
 */
import { InterceptingCall, Metadata, status as Status } from '@grpc/grpc-js';
import type { Interceptor, InterceptingListener, StatusObject } from '@grpc/grpc-js';
import { createConcurrencyLimiter, type ConcurrencyLimiter, type ConcurrencyLimitOptions, type LimitTicket } from '@fairway/core';
import { nowMs } from './clock.js';
import { outcomeKindFor } from './policy/outcome.js';

/** What `InterceptingCall` wraps (grpc-js does not export the interface by name). */
type InterceptingCallInterface = ConstructorParameters<typeof InterceptingCall>[0];


/** The result of asking for an attempt slot: a ticket, or the status to fail the attempt with. */
export type Admission = { readonly ticket: LimitTicket } | { readonly refused: StatusObject };

/** Asks `limiter` for a slot for one attempt. */
export function admitAttempt(limiter: ConcurrencyLimiter): Admission {
  const ticket = limiter.tryAcquire();
  if (ticket !== undefined) return { ticket };
  return { refused: { code: Status.RESOURCE_EXHAUSTED, details: limiter.refusal(), metadata: new Metadata() } };
}

/**
 * The latency sample for an ended attempt (ms), or undefined for none: the time to the first response message
 * (or to the status when none came) for an answer, the elapsed time for a timeout, nothing for a failure (a
 * fast failure says nothing about queueing) or a cancellation.
 */
export function limiterSample(code: number, details: string, startedMs: number, firstMessageMs: number | undefined, endedMs: number): number | undefined {
  const kind = outcomeKindFor(code, details);
  if (kind === 'success') return (firstMessageMs ?? endedMs) - startedMs;
  if (kind === 'timeout') return endedMs - startedMs;
  return undefined;
}

/** Creates the interceptor with its own limiter (one per client, i.e. per target). */
export function createConcurrencyInterceptor(options: ConcurrencyLimitOptions = {}, limiter = createConcurrencyLimiter(options)): Interceptor {
  return (callOptions, nextCall) => {
    const admission = admitAttempt(limiter);
    if ('refused' in admission) return new InterceptingCall(refusedCall(admission.refused));
    const { ticket } = admission;
    const startedMs = nowMs();
    let firstMessageMs: number | undefined;
    return new InterceptingCall(nextCall(callOptions), {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveMessage(message, nextMessage) {
            firstMessageMs ??= nowMs();
            nextMessage(message);
          },
          onReceiveStatus(status, nextStatus) {
            const ended = nowMs();
            ticket.release(limiterSample(status.code, status.details, startedMs, firstMessageMs, ended), ended);
            nextStatus(status);
          },
        });
      },
    });
  };
}

/** A call that never reaches grpc-js: it ends with `status` as soon as it is started. */
function refusedCall(status: StatusObject): InterceptingCallInterface {
  let ended = false;
  return {
    start(_metadata: Metadata, listener?: Partial<InterceptingListener>) {
      queueMicrotask(() => {
        if (ended) return;
        ended = true;
        listener?.onReceiveStatus?.(status);
      });
    },
    cancelWithStatus() {
      // The status is already on its way.
    },
    getPeer: () => '',
    sendMessageWithContext(context) {
      context.callback?.();
    },
    sendMessage() {},
    startRead() {},
    halfClose() {},
    getAuthContext: () => null,
  };
}
