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
import { createRateLimitedLog, withPeerPlace, type ParsedTarget } from '@fairway/core';
import { register, type Registration } from './registrar.js';
import type { EtcdDiscoveryOptions, EtcdDiscoverySource } from './source.js';

/** The key segment under the user's prefix where clients register. */
export const CLIENTS_SEGMENT = '_fairway_clients/';
/** `Addr` of a client's value: a valid host:port that no one dials. */
const CLIENT_PLACEHOLDER_ADDR = '0.0.0.0:1';

/** First wait (ms) before registering this client again after a failed try; doubles up to `maxBackoffMs`. */
const PEER_RETRY_FIRST_MS = 500;
/** Longest wait (ms) between tries when the options give no `maxBackoffMs`. */
const PEER_RETRY_MAX_MS = 5_000;
/** A failed registration of this client is warned at most once per this many ms. */
const PEER_WARN_INTERVAL_MS = 30_000;

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
  const peerSource = deps.watchClients({ ...deps.options, prefix: clientsPrefix, peerRegistry: undefined });
  const log = deps.options.logger;
  let registration: Registration | undefined;
  let closed = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  const limited = log === undefined ? undefined : createRateLimitedLog(log, PEER_WARN_INTERVAL_MS);
  // Tried until it succeeds or the source closes: a client that could not register at start (etcd away for a
  // moment) would otherwise stay out of its peers' count for its whole life.
  const tryRegister = (): void => {
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
        else if (failures > 0) log?.info?.(`etcd peer registry: registered this client as ${deps.clientId} after ${failures} failed tr${failures === 1 ? 'y' : 'ies'}`);
      },
      (e: unknown) => {
        if (closed) return;
        failures++;
        const waitMs = Math.min(PEER_RETRY_FIRST_MS * 2 ** (failures - 1), deps.options.maxBackoffMs ?? PEER_RETRY_MAX_MS);
        // Not handed to the listener (discovery goes on without a place), so a warning: `error` is for failures handed on.
        limited?.warn(
          'register',
          `etcd peer registry: could not register this client (${(e as Error).message}); subsetting uses every endpoint until it can ` +
            `(try ${failures}; retrying in ${waitMs} ms, said at most once per ${PEER_WARN_INTERVAL_MS / 1000} s)`,
        );
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          if (!closed) tryRegister();
        }, waitMs);
        retryTimer.unref?.();
      },
    );
  };
  return withPeerPlace(inner, peerSource, deps.clientId, {
    onStart: tryRegister,
    async onClose() {
      closed = true;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      await registration?.deregister().catch(() => {});
    },
    onPeersError: (message) => log?.warn(`etcd peer registry ${clientsPrefix}${deps.target.path}/: ${message}; keeping the last known place`),
  });
}
