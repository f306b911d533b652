/**
 * `@fairway/server`: helpers for services that receive calls.
 *
 * @packageDocumentation
 */
export { serveAndRegisterInEtcd } from './etcd-serve.js';
export type { ServeAndRegisterOptions, ServedInEtcd } from './etcd-serve.js';
export { createStreamTakeover, newestStreamWins } from './stream-takeover.js';
export type { StreamTakeover, StreamTakeoverOptions, StreamTakeoverEvent, PeerIdentity } from './stream-takeover.js';
export { drainServer } from './drain.js';
export { serveHealth } from './health.js';
export type { HealthService, HealthServiceOptions } from './health.js';
export type { DrainOptions } from './drain.js';
