/**
 * `fairway-grpc`: per-request, latency- and zone-aware gRPC load balancing for Node.js, without a sidecar.
 * One `npm install fairway-grpc @grpc/grpc-js`, one changed line:
 *
 * ```ts
 * import { createClient } from 'fairway-grpc';
 * const client = createClient(PricerClient, 'etcd:///pricer', credentials.createInsecure(), { zone });
 * ```
 *
 * Everything here registers every discovery source first (`registerAll()`, idempotent), so `static:` and
 * `etcd:` targets work with no further set-up, and `k8s:` targets once `@fairway/discovery-kubernetes` is
 * installed. `setupTelemetry` (the OpenTelemetry SDK and exporters) needs `@fairway/telemetry-setup`. Both
 * are separate installs, loaded from the application's node_modules; without them, using either throws a
 * {@link MissingPackageError} (or a `TargetError` for `k8s:`) naming the package and the command.
 *
 * @packageDocumentation
 */
import {
  createClient as createClientBase,
  createChannel as createChannelBase,
  clientOptions as clientOptionsBase,
} from '@fairway/grpc';
import type { Channel, ChannelCredentials, Client, ClientOptions, ClientConstructor, FairwayOptions } from '@fairway/grpc';
import type { SetupTelemetryOptions, TelemetryHandle } from '@fairway/telemetry';
import { registerAll } from './register-all.js';
import { telemetrySetup } from './optional-packages.js';

export { registerAll } from './register-all.js';
export { MissingPackageError } from './optional-packages.js';

/** `createClient` from `@fairway/grpc`, with every discovery source registered. */
export function createClient<T extends Client>(
  ClientClass: ClientConstructor<T>,
  target: string,
  credentials: ChannelCredentials,
  options?: FairwayOptions,
): T {
  registerAll();
  return createClientBase(ClientClass, target, credentials, options);
}

/** `createChannel` from `@fairway/grpc`, with every discovery source registered. */
export function createChannel(target: string, credentials: ChannelCredentials, options?: FairwayOptions): Channel {
  registerAll();
  return createChannelBase(target, credentials, options);
}

/** `clientOptions` from `@fairway/grpc` (options, or a channel made by `createChannel` to share), with every discovery source registered. */
export function clientOptions(options?: FairwayOptions | Channel): ClientOptions {
  registerAll();
  return clientOptionsBase(options);
}

/** Registers the policy and every discovery source (same as `registerAll`). */
export function register(): void {
  registerAll();
}

export {
  registerDiscoveryScheme,
  isDiscoverySchemeRegistered,
  checkTarget,
  endpointTable,
  FairwayOptionsError,
  DuplicateGrpcError,
  PolicyConfigError,
  RetryOptionsError,
  TargetError,
  parseTarget,
  POLICY_NAME,
  setDefaultLogger,
} from '@fairway/grpc';
export type {
  ClientConstructor,
  FairwayOptions,
  FairwayDiscoveryOptions,
  FairwayKeepaliveOptions,
  Logger,
  RetryOptions,
  MethodRetryOptions,
  RetryBudgetOptions,
  HedgingOptions,
} from '@fairway/grpc';
export type {
  EndpointInfo,
  EndpointSnapshot,
  DiscoverySource,
  DiscoverySourceFactory,
  DiscoveryListener,
  DiscoveryError,
  ParsedTarget,
  PickExplanation,
  CallObserverFactory,
  CallObserver,
  AttemptObserver,
  CallDescription,
  AttemptOutcome,
  AttemptStart,
  ZoneMode,
} from '@fairway/core';
// ---- other re-exports (registrar, telemetry set-up): owners add their lines below ----------------------
// etcd: the registrar (`register` from @fairway/discovery-etcd, named for what it does here) and the grpc-js serve helper.
export { register as registerInEtcd, createEtcdSource, checkEtcdDiscoveryOptions, decodeEtcdValue, encodeEtcdValue, EtcdOptionsError } from '@fairway/discovery-etcd';
export type {
  RegisterOptions as EtcdRegisterOptions,
  Registration as EtcdRegistration,
  RegistrationStatus as EtcdRegistrationStatus,
  EtcdDiscoveryOptions,
  EtcdDiscoverySource,
  EtcdSourceStatus,
  EtcdConnectionOptions,
  EtcdLogger,
} from '@fairway/discovery-etcd';
export { serveAndRegisterInEtcd } from '@fairway/server';
export type { ServeAndRegisterOptions, ServedInEtcd } from '@fairway/server';
export {
  createTelemetryObserver,
  continueTrace,
  startServerSpan,
  traceGrpcHandlers,
  mergeJaegerJsonFiles,
  readJaegerJsonFile,
  FairwayAttributes,
  FairwayMetrics,
} from '@fairway/telemetry';
export type {
  SetupTelemetryOptions,
  TelemetryHandle,
  TraceExporterKind,
  TelemetryObserverOptions,
  ServerTraceOptions,
} from '@fairway/telemetry';

/**
 * `setupTelemetry` from `@fairway/telemetry-setup` (a separate install: `npm install @fairway/telemetry-setup`),
 * loaded on this first call: the OpenTelemetry SDK with an exporter, honouring the `OTEL_*` variables.
 * Throws {@link MissingPackageError} naming the install command when that package is not installed. With your
 * own SDK set-up you need neither: `createTelemetryObserver()` uses the global providers.
 */
export function setupTelemetry(options?: SetupTelemetryOptions): TelemetryHandle {
  return telemetrySetup().setupTelemetry(options);
}
// Retries and newest-connection-wins: the client identity every call carries, and the server-side helpers.
export { setClientIdentity, getClientIdentity, processIncarnation } from '@fairway/grpc';
export { createStreamTakeover, newestStreamWins, drainServer, serveHealth } from '@fairway/server';
export type { StreamTakeover, StreamTakeoverOptions, StreamTakeoverEvent, PeerIdentity, DrainOptions, HealthService, HealthServiceOptions } from '@fairway/server';
export { newIncarnation, compareIncarnations } from '@fairway/core';
