export type {
  EndpointInfo,
  EndpointSnapshot,
  DiscoveryError,
  DiscoveryListener,
  DiscoverySource,
  DiscoverySourceFactory,
  ParsedTarget,
  ZoneMode,
  PickExplanation,
  AttemptOutcome,
  AttemptObserver,
  CallObserver,
  CallDescription,
  CallObserverFactory,
} from './contracts.js';
export { parseTarget, parseStaticTarget, parseKubernetesPath, hostPortProblem, TargetError } from './target.js';
export type { KubernetesTarget } from './target.js';
export {
  parseRetryOptions,
  retrySettingsFor,
  retryMethodKey,
  RetryOptionsError,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_RETRY_INTERVAL_MS,
  DEFAULT_RETRY_BUDGET,
  MIN_ATTEMPTS,
  MAX_ATTEMPTS,
} from './retry-config.js';
export type {
  RetryOptions,
  MethodRetryOptions,
  RetryBudgetOptions,
  RetryConfig,
  MethodRetrySettings,
  RetryBudgetSettings,
} from './retry-config.js';
export { attemptTimer, decideRetry, isRetryableKind } from './retry-decision.js';
export type { AttemptTimer, RetryDecision, RetryDecisionInput } from './retry-decision.js';
export { createRetryBudget } from './retry-budget.js';
export type { RetryBudget } from './retry-budget.js';
export {
  newIncarnation,
  compareIncarnations,
  incarnationStartMs,
  CLIENT_INSTANCE_HEADER,
  CLIENT_INCARNATION_HEADER,
} from './incarnation.js';
