/**
 * `@fairway/connect`: Fairway's balancing for connect-node clients. A connect `Transport` for the gRPC protocol
 * whose every call is balanced by `@fairway/core` over the endpoints of a discovery target, with timeout-only
 * retries and call observers, as `fairway-grpc` does for grpc-js clients.
 *
 * ```ts
 * const transport = createFairwayTransport({ target: 'static:///127.0.0.1:50051,127.0.0.1:50052', retry: { attemptTimeoutMs: 200 } });
 * const client = createClient(Pricer, transport);
 * ```
 *
 * @packageDocumentation
 */
export { createFairwayTransport, FairwayTransportOptionsError } from './transport.js';
export type { FairwayTransport, FairwayTransportOptions } from './transport.js';
export { MissingDiscoveryPackageError, simulateMissingPackagesForTests } from './discovery.js';
export type { EndpointTransportOptions } from './endpoints.js';
export { MIN_RECONNECT_BACKOFF_MS, MAX_RECONNECT_BACKOFF_MS } from './endpoints.js';
export type { RetryOptions, CallObserverFactory, DiscoverySourceFactory } from '@fairway/core';
export { TargetError, RetryOptionsError } from '@fairway/core';
