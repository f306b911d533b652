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
export { endpointKey, endpointInstance } from './endpoint-key.js';
export { Balancer, createBalancer, MEDIAN_REFRESH_MS } from './balancer.js';
export type { UpdateResult } from './balancer.js';
export { BALANCER_DEFAULTS, resolveBalancerOptions } from './balancer-options.js';
export type { BalancerOptions, ResolvedBalancerOptions } from './balancer-options.js';
export type { EndpointStats } from './endpoint-stats.js';
export type { PickHandle, PickOutcome } from './pick-handle.js';
export { PROBE_PENDING_COST_MS, AGREE_WEIGHT } from './peak-ewma.js';
export { RETIRED_PER_INSTANCE } from './newest-incarnation.js';
export { parseLiveConfig, validateLiveConfig, applyLiveConfig, formatLiveConfig, EMPTY_LIVE_CONFIG } from './live-config.js';
export type { LiveConfig, LiveConfigError, LiveConfigResult } from './live-config.js';
