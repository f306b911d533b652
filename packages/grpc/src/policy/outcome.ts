/** Maps the status an attempt ended with to what the balancer learns from it: the rule lives in `@fairway/core`. */
export { outcomeKindFor } from '@fairway/core';
export type { OutcomeKind } from '@fairway/core';
