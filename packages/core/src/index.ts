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
  AttemptStart,
  CallObserver,
  CallDescription,
  CallObserverFactory,
} from './contracts.js';
export { parseTarget, parseStaticTarget, parseKubernetesPath, parseMultiTarget, hostPortProblem, zoneNameProblem, redactTarget, TargetError, CREDENTIALS_IN_TARGET_PROBLEM } from './target.js';
export type { KubernetesTarget } from './target.js';
export { showValue } from './show-value.js';
export {
  parseRetryOptions,
  retrySettingsFor,
  retryMethodKey,
  RetryOptionsError,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_RETRY_INTERVAL_MS,
  DEFAULT_RETRY_BUDGET,
  DEFAULT_HEDGE_BUDGET,
  DEFAULT_HEDGE_PERCENTILE,
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
  HedgingOptions,
  HedgingSettings,
} from './retry-config.js';
export {
  CallMachine,
  isReplayableKind,
  RETRY_TIMER,
  HEDGE_TIMER,
  LatencyWindow,
  MIN_LATENCY_SAMPLES,
  StatusCode,
  ATTEMPT_TIMEOUT_DETAILS_PREFIX,
  HEDGE_LOST_DETAILS_PREFIX,
} from './call/index.js';
export type { CallCommand, CallPlan, HedgePlan, AttemptReason } from './call/index.js';
export { createRetryBudget } from './retry-budget.js';
export { PingSchedule } from './ping-schedule.js';
export type { PingScheduleOptions } from './ping-schedule.js';
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
export type { PickedEndpoint } from './balancer.js';
export { PROBE_PENDING_COST_MS, AGREE_WEIGHT } from './peak-ewma.js';
export { RETIRED_PER_INSTANCE } from './newest-incarnation.js';
export { deterministicAperture, nextApertureSize, DEFAULT_APERTURE_SIZE } from './aperture.js';
export type { ApertureInput, ApertureSizing } from './aperture.js';
export { createAffinityRing, hash32, DEFAULT_AFFINITY_EPSILON, DEFAULT_AFFINITY_MIN_BOUND, DEFAULT_VIRTUAL_NODES } from './bounded-hash.js';
export type { AffinityRing, AffinityEndpoint, AffinityRingOptions } from './bounded-hash.js';
export { sourceInsidePeerPlace, withPeerPlace } from './peer-place.js';
export type { PeerPlaceHooks } from './peer-place.js';
export { createRateLimitedLog } from './rate-limited-log.js';
export type { RateLimitedLog, RateLimitedLogTarget } from './rate-limited-log.js';
export { BalancerOptionError } from './balancer-option-error.js';
export type { BalancerOptionName } from './balancer-option-error.js';
export { EJECTION_DEFAULTS, EJECTION_OPTION_FIELDS, resolveEjectionOptions, maxEjected } from './ejection.js';
export type { EjectionOptions, ResolvedEjectionOptions, EjectionEvent, EjectionReason } from './ejection.js';
export { SLOW_START_DEFAULTS, SLOW_START_OPTION_FIELDS, STARTED_TOGETHER_MS, YOUNG_ESTIMATE_MIN_WEIGHT, rampLift, resolveSlowStartOptions, slowStartFactor } from './slow-start.js';
export type { SlowStartOptions, ResolvedSlowStartOptions } from './slow-start.js';
export { ConcurrencyLimiter, createConcurrencyLimiter, resolveConcurrencyLimitOptions, CONCURRENCY_LIMIT_DEFAULTS, CONCURRENCY_LIMIT_REFUSAL_PREFIX } from './concurrency-limit.js';
export type { ConcurrencyLimitOptions, ResolvedConcurrencyLimitOptions, LimitTicket } from './concurrency-limit.js';
export { parseLiveConfig, validateLiveConfig, applyLiveConfig, formatLiveConfig, EMPTY_LIVE_CONFIG } from './live-config.js';
export { outcomeKindFor, guardObserver, fanOutObservers, reportRejection } from './call/index.js';
export type { OutcomeKind } from './call/index.js';
export { createMergedSourceFactory, SELF_LOGGING_SOURCE_SCHEMES, withMultiPartLogger } from './merged-source.js';
export { createStaticSourceFactory } from './static-source.js';
export type { LiveConfig, LiveConfigError, LiveConfigResult, LiveBalancerSettings } from './live-config.js';
export { CanaryController, resolveCanaryOptions, stickyFraction, CANARY_HALT_DEFAULTS } from './canary.js';
export type { CanaryOptions, CanaryHaltOptions, ResolvedCanaryOptions, CanaryHalt, CanaryGroup } from './canary.js';
