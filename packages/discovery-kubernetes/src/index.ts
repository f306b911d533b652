/**
 * `@fairway/discovery-kubernetes`: `k8s:///<service>[.<namespace>]:<port>` targets, from the Service's
 * `discovery.k8s.io/v1` EndpointSlices (list + watch, all slices merged, ready or serving-while-terminating).
 *
 * @packageDocumentation
 */
export { createKubernetesSource, checkKubernetesDiscoveryOptions, KubernetesOptionsError, unusedEndpointsOf, onUnusedEndpointsChange } from './kubernetes-source.js';
export type { KubernetesDiscoveryOptions, KubernetesLogger } from './kubernetes-source.js';
export { decodeEndpointSlice, selectEndpoints } from './decode.js';
export type { DecodedEndpoint, DecodedSlice, DecodeOptions, Selection } from './decode.js';
