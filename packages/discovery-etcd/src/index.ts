/**
 * `@fairway/discovery-etcd`: etcd discovery (`etcd:///service` targets) and the server-side registrar, in the
 * key/value format of etcd's Go naming package (`go.etcd.io/etcd/client/v3/naming/endpoints`).
 *
 * @packageDocumentation
 */
export { createEtcdSource, checkEtcdDiscoveryOptions } from './source.js';
export { liveConfigKey } from './config-watch.js';
export type { LiveConfigStatus } from './config-watch.js';
export type { EtcdDiscoveryOptions, EtcdDiscoverySource, EtcdSourceStatus } from './source.js';
export { register, REGISTER_OPTION_KEYS } from './registrar.js';
export type { RegisterOptions, Registration, RegistrationStatus } from './registrar.js';
export { decodeEtcdValue, encodeEtcdValue, isDecodeError, endpointKeyFor, servicePrefix } from './decode.js';
export type { DecodeError, EtcdEndpointMetadata, EtcdEndpointValue } from './decode.js';
export { EtcdOptionsError, defaultEtcdLogger } from './connection.js';
export type { EtcdConnectionOptions, EtcdClientOptions, EtcdAuthOptions, EtcdTlsOptions, EtcdLogger } from './connection.js';
export { getLiveConfig, setLiveConfig, watchLiveConfig } from './config-store.js';
export type { LiveConfigStoreOptions, StoredLiveConfig } from './config-store.js';
