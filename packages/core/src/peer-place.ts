/**
 * A client's place among the clients of a service, for deterministic subsetting: wraps an endpoint source so that
 * every snapshot it delivers carries `peers: { index, count }`, where the clients are what a second source (the
 * "peers" source) reports and the index is the rank of this client's id among their instance names (sorted, so
 * every client computes the same ranks). The etcd source uses a registry of leased client keys as its peers
 * source; the Kubernetes source, the EndpointSlices of the clients' own Service (Pod names).
 *
 * Until this client's own id appears among the peers its place is unknown and snapshots go out without `peers`
 * (the policy then uses every endpoint); a later change of place re-sends the last endpoint snapshot with it.
 * Pure composition: no I/O of its own.
 *
 * @packageDocumentation
 */
import type { DiscoveryListener, DiscoverySource, EndpointSnapshot } from './contracts.js';

/** Optional hooks around the wrapped sources' life (e.g. registering this client). */
export interface PeerPlaceHooks {
  /** Called once, after both sources were started. */
  onStart?(): void;
  /** Awaited on close, after both sources were closed. */
  onClose?(): Promise<void> | void;
  /** A peers-source error: the last known place is kept. */
  onPeersError?(message: string): void;
}

/** Each wrapper made by {@link withPeerPlace}, with the endpoint source it wraps. */
const wrappedBy = new WeakMap<DiscoverySource, DiscoverySource>();

/**
 * The endpoint source inside a {@link withPeerPlace} wrapper (`source` itself when it is none). The wrapper
 * inherits from the source it wraps, so it passes `instanceof` for the source's class, but a field set on it
 * lands on the wrapper: a package that keeps state on its source (a callback, say) sets it on this one.
 */
export function sourceInsidePeerPlace(source: DiscoverySource): DiscoverySource {
  return wrappedBy.get(source) ?? source;
}

/** Wraps `endpoints` so its snapshots carry this client's place among what `peers` reports. */
export function withPeerPlace<S extends DiscoverySource>(endpoints: S, peers: DiscoverySource, selfId: string, hooks: PeerPlaceHooks = {}): S {
  let listener: DiscoveryListener | undefined;
  let last: EndpointSnapshot | undefined;
  let place: { index: number; count: number } | undefined;
  let closed = false;
  const emit = (): void => {
    if (closed || listener === undefined || last === undefined) return;
    listener.onSnapshot(place === undefined ? last : { ...last, peers: place });
  };
  const wrapped: DiscoverySource = {
    start(l) {
      listener = l;
      endpoints.start({
        onSnapshot: (s) => {
          last = s;
          emit();
        },
        onError: (e) => l.onError(e),
      });
      peers.start({
        onSnapshot: (s) => {
          const ids = [...new Set(s.endpoints.map((e) => e.instance ?? e.address))].sort();
          const index = ids.indexOf(selfId);
          if (index < 0) return;
          if (place !== undefined && place.index === index && place.count === ids.length) return;
          place = { index, count: ids.length };
          emit();
        },
        onError: (e) => hooks.onPeersError?.(e.message),
      });
      hooks.onStart?.();
    },
    refresh() {
      endpoints.refresh?.();
      peers.refresh?.();
    },
    async close() {
      closed = true;
      await Promise.allSettled([endpoints.close(), peers.close()]);
      await hooks.onClose?.();
    },
  };
  // Keep whatever else the endpoint source offers (e.g. the etcd source's `status()`).
  const out = Object.assign(Object.create(endpoints) as S, wrapped);
  wrappedBy.set(out, endpoints);
  return out;
}
