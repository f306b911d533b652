/** Maps the status an attempt ended with to what the balancer learns from it. */
import { status as Status } from '@grpc/grpc-js';
import { ATTEMPT_TIMEOUT_DETAILS_PREFIX } from '@fairway/core';

export type OutcomeKind = 'success' | 'failure' | 'timeout' | 'cancelled';

/**
 * UNAVAILABLE, RESOURCE_EXHAUSTED, INTERNAL -> failure (the endpoint could not serve: penalty);
 * DEADLINE_EXCEEDED, or CANCELLED by Fairway's own attempt timer -> timeout (penalty); any other CANCELLED ->
 * cancelled (no sample); anything else, OK included, is an answer from the endpoint -> success (latency sample).
 */
export function outcomeKindFor(code: number, details = ''): OutcomeKind {
  if (code === Status.CANCELLED && details.startsWith(ATTEMPT_TIMEOUT_DETAILS_PREFIX)) return 'timeout';
  switch (code) {
    case Status.UNAVAILABLE:
    case Status.RESOURCE_EXHAUSTED:
    case Status.INTERNAL:
      return 'failure';
    case Status.DEADLINE_EXCEEDED:
      return 'timeout';
    case Status.CANCELLED:
      return 'cancelled';
    default:
      return 'success';
  }
}
