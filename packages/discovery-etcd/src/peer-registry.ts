/**
 * A peer registry of clients in etcd, for deterministic subsetting: each client of `<service>` keeps a key
 * `<prefix>_fairway_clients/<service>/<client id>` under a lease (the registrar's code: kept alive, re-put after
 * a lease loss, deleted on close) and watches that prefix (the discovery source's code: re-list after a
 * compaction, last good set kept while etcd is away). Its place is the rank of its id among the ids present:
 * `peers = { index, count }`, attached to every endpoint snapshot the wrapped source delivers.
 *
 * The clients' keys live outside `<prefix><service>/`, so neither Fairway's endpoint watch nor Go's naming
 * resolver ever mistakes a client for an endpoint. A client's value says where it runs (`Addr` is a placeholder:
 * clients serve nothing).
 *
 * @packageDocumentation
 */
import type { DiscoveryListener, EndpointSnapshot, ParsedTarget } from '@fairway/core';
import { register, type Registration } from './registrar.js';
import type { EtcdDiscoveryOptions, EtcdDiscoverySource, EtcdSourceStatus } from './source.js';

/** The key segment under the user's prefix where clients register. */
export const CLIENTS_SEGMENT = '_fairway_clients/';
/** `Addr` of a client's value: a valid host:port that no one dials. */
const CLIENT_PLACEHOLDER_ADDR = '0.0.0.0:1';

/** What {@link withPeerRegistry} needs. */
export interface PeerRegistryDeps {
  readonly target: ParsedTarget;
  readonly options: EtcdDiscoveryOptions;
  /** The etcd endpoints the endpoint source uses (the peer keys go to the same cluster). */
  readonly etcdEndpoints: readonly string[];
  /** Makes the source that watches the clients' prefix (the ordinary etcd source with another prefix). */
  readonly watchClients: (options: EtcdDiscoveryOptions) => EtcdDiscoverySource;
  /** This client's id (unique per process). */
  readonly clientId: string;
}

/** Wraps the endpoint source so its snapshots carry this client's place among the service's clients. */
export function withPeerRegistry(inner: EtcdDiscoverySource, deps: PeerRegistryDeps): EtcdDiscoverySource {
  const clientsPrefix = `${deps.options.prefix ?? ''}${CLIENTS_SEGMENT}`;
  let listener: DiscoveryListener | undefined;
  let lastEndpoints: EndpointSnapshot | undefined;
  let peers: { index: number; count: number } | undefined;
  let registration: Registration | undefined;
  let closed = false;
  const peerSource = deps.watchClients({ ...deps.options, prefix: clientsPrefix, peerRegistry: undefined });
  const log = deps.options.logger;

  const emit = (): void => {
    if (closed || listener === undefined || lastEndpoints === undefined) return;
    listener.onSnapshot(peers === undefined ? lastEndpoints : { ...lastEndpoints, peers });
  };

  return {
    start(l) {
      listener = l;
      inner.start({
        onSnapshot: (s) => {
          lastEndpoints = s;
          emit();
        },
        onError: (e) => l.onError(e),
      });
      peerSource.start({
        onSnapshot: (s) => {
          const ids = [...new Set(s.endpoints.map((e) => e.instance ?? e.address))].sort();
          const index = ids.indexOf(deps.clientId);
          // Until our own key is visible we do not know our place: keep the previous one (or none).
          if (index < 0) return;
          const next = { index, count: ids.length };
          if (peers !== undefined && peers.index === next.index && peers.count === next.count) return;
          peers = next;
          emit();
        },
        onError: (e) => log?.warn(`etcd peer registry ${clientsPrefix}${deps.target.path}/: ${e.message}; keeping the last known place`),
      });
      register({
        ...deps.options,
        endpoints: deps.etcdEndpoints,
        prefix: clientsPrefix,
        service: deps.target.path,
        address: CLIENT_PLACEHOLDER_ADDR,
        instance: deps.clientId,
      }).then(
        (r) => {
          registration = r;
          if (closed) void r.deregister().catch(() => {});
        },
        (e: unknown) => log?.error(`etcd peer registry: could not register this client (${(e as Error).message}); subsetting uses every endpoint until it can`),
      );
    },
    refresh() {
      inner.refresh?.();
    },
    async close() {
      closed = true;
      await Promise.allSettled([inner.close(), peerSource.close(), registration?.deregister()]);
    },
    status(): EtcdSourceStatus {
      return inner.status();
    },
  };
}
