/** The call layer's decisions (see `call-machine.ts`): pure, driven by the grpc-js adapter in `@fairway/grpc`. */
export { CallMachine, isReplayableKind, RETRY_TIMER, HEDGE_TIMER } from './call-machine.js';
export type { CallCommand, CallPlan, HedgePlan, AttemptReason } from './call-machine.js';
export { LatencyWindow, MIN_LATENCY_SAMPLES } from './latency-window.js';
export { StatusCode, ATTEMPT_TIMEOUT_DETAILS_PREFIX, HEDGE_LOST_DETAILS_PREFIX } from './status.js';
export { outcomeKindFor } from './outcome.js';
export type { OutcomeKind } from './outcome.js';
export { guardObserver, fanOutObservers, reportRejection } from './observers.js';
