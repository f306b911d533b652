/**
 * The gRPC status codes the call layer's decisions use (core does not import grpc-js; the numbers are the
 * protocol's, see `grpc/doc/statuscodes.md`), and the `details` texts by which Fairway's own endings are told
 * apart from a server's answer (the picker reads them to learn what happened to an attempt).
 */
export const StatusCode = {
  OK: 0,
  CANCELLED: 1,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** The `details` of the status an attempt cancelled by Fairway's own attempt timer ends with. */
export const ATTEMPT_TIMEOUT_DETAILS_PREFIX = 'Fairway attempt timer:';

/** The `details` of the status an attempt ends with when another attempt of the same call answered first. */
export const HEDGE_LOST_DETAILS_PREFIX = 'Fairway hedge:';
