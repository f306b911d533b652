/**
 * The identity of an endpoint inside a balancer: `(instance, incarnation)`, falling back to the address.
 *
 * An endpoint is not its address: a pod that restarts on the same IP and port is a new peer, and a peer
 * that moved keeps its name. So the key is `${instance ?? address}#${incarnation ?? ''}`:
 * - `pricer-7f9c#1764032400123-4f1c` for a registration that names its instance and incarnation;
 * - `10.0.0.7:50051#` for a plain address (no instance): the address is the identity.
 *
 * Two keys with the same part before the last `#` are two incarnations of one instance (see
 * {@link endpointInstance}); the balancer keeps only the newest. Idea credited to Akka (an incarnation uid per
 * actor system) and the "newest connection wins" rule of Guild Wars / MQTT.
 *
 * @packageDocumentation
 */
import type { EndpointInfo } from './contracts.js';

/**
 * The balancer key of an endpoint: `${instance ?? address}#${incarnation ?? ''}`.
 * Stable for the life of one incarnation; a new incarnation of the same instance gets a new key.
 */
export function endpointKey(e: EndpointInfo): string {
  return `${e.instance ?? e.address}#${e.incarnation ?? ''}`;
}

/** The instance part of an endpoint's identity: `instance`, or the address when there is none. */
export function endpointInstance(e: EndpointInfo): string {
  return e.instance ?? e.address;
}
