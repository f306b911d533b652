/**
 * `@fairway/grpc`: the grpc-js glue. The `fairway_p2c_peak_ewma` policy, the resolver bridge for any
 * discovery source, the call layer (timeout-only retries, observers) and the drop-in factory.
 *
 * @packageDocumentation
 */
export { createClient, createChannel, clientOptions, checkTarget, endpointTable } from './factory.js';
export type { ClientConstructor } from './factory.js';
export { register, DuplicateGrpcError } from './register.js';
export { FairwayOptionsError, KEEPALIVE_DEFAULTS, serviceConfigFor } from './options.js';
export type { FairwayOptions, FairwayDiscoveryOptions, FairwayKeepaliveOptions } from './options.js';
export { registerDiscoveryScheme, isDiscoverySchemeRegistered, registeredDiscoverySchemes, REFRESH_MIN_INTERVAL_MS } from './resolver/bridge.js';
export { createStaticSource } from './resolver/static-source.js';
export { POLICY_NAME, POLICY_DEFAULTS, PolicyConfigError, parseFairwayPolicyConfig } from './policy/config.js';
export type { FairwayPolicySettings } from './policy/config.js';
export { setDefaultLogger, consoleLogger } from './logger.js';
export type { Logger } from './logger.js';
export { setAttemptPickContext, getAttemptPickContext } from './attempt-context.js';
export type { AttemptPickContext } from './attempt-context.js';
export {
  createCallInterceptor,
  parseRetryOptions,
  RetryOptionsError,
  ATTEMPT_TIMEOUT_DETAILS_PREFIX,
  HEDGE_LOST_DETAILS_PREFIX,
  setClientIdentity,
  getClientIdentity,
  processIncarnation,
} from './call/index.js';
export type {
  CallInterceptorConfig,
  ClientIdentity,
  RetryOptions,
  MethodRetryOptions,
  RetryBudgetOptions,
  RetryConfig,
  MethodRetrySettings,
  HedgingOptions,
} from './call/index.js';
export { TargetError, parseTarget } from '@fairway/core';
export { createConcurrencyInterceptor, admitAttempt, limiterSample } from './concurrency-interceptor.js';
export type { Admission } from './concurrency-interceptor.js';
export { CONCURRENCY_LIMIT_REFUSAL_PREFIX, EJECTION_DEFAULTS, SLOW_START_DEFAULTS, CONCURRENCY_LIMIT_DEFAULTS } from '@fairway/core';
export type { EjectionOptions, SlowStartOptions, ConcurrencyLimitOptions, EjectionEvent } from '@fairway/core';

// The grpc-js names the other Fairway packages need (this package is the only one that imports grpc-js, so a
// grpc-js upgrade is checked in one place). They are grpc-js's own objects, re-exported unchanged.
export { status, ServerCredentials, credentials, Client } from '@grpc/grpc-js';
/** The `grpc.health.v1.Health` service definition (from the `grpc-health-check` package), for servers. */
export { service as healthServiceDefinition } from 'grpc-health-check';
export type {
  Channel,
  ChannelCredentials,
  ClientOptions,
  Metadata,
  Server,
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  handleBidiStreamingCall,
  handleClientStreamingCall,
  handleServerStreamingCall,
  sendUnaryData,
} from '@grpc/grpc-js';
