/**
 * Maps the status an attempt ended with to what the balancer learns from it. Shared by every transport
 * adapter (grpc-js in `@fairway/grpc`, connect-node in `@fairway/connect`), so an endpoint's load means the
 * same thing whichever client library sent the attempt.
 */
import { ATTEMPT_TIMEOUT_DETAILS_PREFIX, HEDGE_LOST_DETAILS_PREFIX, StatusCode } from './status.js';

export type OutcomeKind = 'success' | 'failure' | 'timeout' | 'cancelled';

/**
 * UNAVAILABLE, RESOURCE_EXHAUSTED, INTERNAL -> failure (the endpoint could not serve: penalty);
 * DEADLINE_EXCEEDED, or CANCELLED by Fairway's own attempt timer -> timeout (penalty); CANCELLED because another
 * attempt of the call answered first (a hedge race lost) -> timeout too: the endpoint had not answered within
 * the hedge delay (a high percentile) while another answered in full, and without it a stalled endpoint
 * whose attempts are always hedged would never show its latency and keep its picks (peak-EWMA's spike cap
 * keeps a lone loss to k x the set median; repeated losses get the full penalty); any other CANCELLED ->
 * cancelled (no sample); anything else, OK included, is an answer from the endpoint -> success (sample).
 */
export function outcomeKindFor(code: number, details = ''): OutcomeKind {
  if (code === StatusCode.CANCELLED && details.startsWith(ATTEMPT_TIMEOUT_DETAILS_PREFIX)) return 'timeout';
  if (code === StatusCode.CANCELLED && details.startsWith(HEDGE_LOST_DETAILS_PREFIX)) return 'timeout';
  switch (code) {
    case StatusCode.UNAVAILABLE:
    case StatusCode.RESOURCE_EXHAUSTED:
    case StatusCode.INTERNAL:
      return 'failure';
    case StatusCode.DEADLINE_EXCEEDED:
      return 'timeout';
    case StatusCode.CANCELLED:
      return 'cancelled';
    default:
      return 'success';
  }
}
