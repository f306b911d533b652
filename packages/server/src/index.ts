/**
 * `@fairway/server`: helpers for services that receive calls.
 *
 * @packageDocumentation
 */
export { serveAndRegisterInEtcd } from './etcd-serve.js';
export type { ServeAndRegisterOptions, ServedInEtcd } from './etcd-serve.js';
