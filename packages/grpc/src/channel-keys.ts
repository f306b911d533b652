/**
 * Keys Fairway puts into channel options and resolution attributes. All carry grpc-js's
 * `grpc.internal.no_subchannel.` prefix, so grpc-js strips them before making subchannels: they never affect
 * connection reuse. The one exception is `INCARNATION_SUBCHANNEL_KEY`, which must reach the subchannel pool so a
 * new incarnation at the same host:port gets a new connection.
 */
import { NO_SUBCHANNEL_PREFIX } from './grpc-internals.js';

/** Resolution attribute: the snapshot's valid `EndpointInfo[]` (zone, instance, incarnation, weight). */
export const ENDPOINT_INFO_ATTRIBUTE = `${NO_SUBCHANNEL_PREFIX}fairway.endpoints`;
/** Resolution attribute: this client's `{ index, count }` among the service's clients (see `EndpointSnapshot.peers`). */
export const PEERS_ATTRIBUTE = `${NO_SUBCHANNEL_PREFIX}fairway.peers`;
/** Resolution attribute: the live configuration document's balancer settings (`LiveBalancerSettings`), when it has any. */
export const LIVE_BALANCER_ATTRIBUTE = `${NO_SUBCHANNEL_PREFIX}fairway.live_balancer`;
/** Resolution attribute: the live configuration document's canary settings (`CanaryOptions`), when it has any. */
export const LIVE_CANARY_ATTRIBUTE = `${NO_SUBCHANNEL_PREFIX}fairway.live_canary`;
/**
 * Channel option: the channel's `LiveSettings` holder (one per channel): the resolver bridge writes the live
 * document's revision and retry settings into it; the call layer reads it on every call.
 */
export const LIVE_SETTINGS_KEY = `${NO_SUBCHANNEL_PREFIX}fairway.live_settings`;
/** Channel option: the factory's `discovery` option (per-scheme source options). */
export const DISCOVERY_OPTIONS_KEY = `${NO_SUBCHANNEL_PREFIX}fairway.discovery`;
/** Channel option: the factory's `logger`. */
export const LOGGER_KEY = `${NO_SUBCHANNEL_PREFIX}fairway.logger`;
/** Channel option: the resolved keepalive settings (`KeepaliveSettings`) for Fairway's pinger. */
export const KEEPALIVE_KEY = `${NO_SUBCHANNEL_PREFIX}fairway.keepalive`;
/**
 * Subchannel option (deliberately NOT prefixed): the keepalive settings as text, so connections pinged with
 * different settings, or not by Fairway at all, are never shared.
 */
export const KEEPALIVE_SUBCHANNEL_KEY = 'fairway.keepalive';
/** Channel option: `(event) => void`, telling the observers' `onEndpointEvent` about ejections. */
export const ENDPOINT_EVENTS_KEY = `${NO_SUBCHANNEL_PREFIX}fairway.endpoint_events`;
/** Subchannel option (deliberately NOT prefixed): the endpoint's incarnation. */
export const INCARNATION_SUBCHANNEL_KEY = 'fairway.incarnation';
