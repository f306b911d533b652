/**
 * The resolver bridge: turns any `DiscoverySource` into a grpc-js resolver for a URI scheme.
 *
 * - Endpoint details (zone, instance, incarnation, weight) travel to the policy in a resolution attribute
 *   under the `grpc.internal.no_subchannel.` prefix, so they never change subchannel arguments.
 * - The listener is never called synchronously: snapshots are coalesced and delivered on a later tick,
 *   and only when they differ from the last one reported (closes the re-resolution storm: pick_first
 *   requests re-resolution inside `updateAddressList`; answering each request at once re-enters forever).
 * - Re-resolution requests reach the source's `refresh()` at most once per `REFRESH_MIN_INTERVAL_MS`.
 * - grpc-js destroys the resolver when the channel goes idle and calls `updateResolution()` again on the
 *   next call: the source is closed on destroy and started afresh then.
 */
import { Metadata, status as Status } from '@grpc/grpc-js';
import { hostPortProblem, parseTarget, SELF_LOGGING_SOURCE_SCHEMES, showValue, withMultiPartLogger } from '@fairway/core';
import type {
  DiscoveryError,
  DiscoverySource,
  DiscoverySourceFactory,
  EndpointInfo,
  EndpointSnapshot,
} from '@fairway/core';
import {
  registerResolver,
  statusOrFromError,
  statusOrFromValue,
  subchannelAddressToString,
  uriToString,
} from '../grpc-internals.js';
import type { Endpoint, GrpcUri, Resolver, ResolverListener } from '../grpc-internals.js';
import type { ChannelOptions } from '@grpc/grpc-js';
import { later, nowMs } from '../clock.js';
import { DISCOVERY_OPTIONS_KEY, ENDPOINT_INFO_ATTRIBUTE, LIVE_BALANCER_ATTRIBUTE, LIVE_CANARY_ATTRIBUTE, LIVE_SETTINGS_KEY, LOGGER_KEY, PEERS_ATTRIBUTE } from '../channel-keys.js';
import type { LiveSettings } from '../live-settings.js';
import { getDefaultLogger } from '../logger.js';
import type { Logger } from '../logger.js';
import { toSubchannelAddress } from './address.js';

/** A re-resolution request reaches the source at most this often. */
export const REFRESH_MIN_INTERVAL_MS = 5_000;

/** The key under the factory's `discovery` option for schemes whose option key is not the scheme. */
const SCHEME_OPTION_ALIASES: Readonly<Record<string, string>> = { k8s: 'kubernetes' };

const factories = new Map<string, DiscoverySourceFactory>();

/** How many times the bridge called a grpc-js resolver listener, per scheme (for tests and diagnostics). */
export const bridgeStats = { listenerCalls: new Map<string, number>(), refreshCalls: new Map<string, number>() };
function bump(m: Map<string, number>, scheme: string): void {
  m.set(scheme, (m.get(scheme) ?? 0) + 1);
}

/**
 * Registers a grpc-js resolver for `scheme` backed by discovery sources made by `factory`. Calling it again
 * with the same factory is a no-op; with another factory, the new one is used for channels made afterwards.
 */
export function registerDiscoveryScheme(scheme: string, factory: DiscoverySourceFactory): void {
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) {
    throw new TypeError(`registerDiscoveryScheme: scheme ${JSON.stringify(scheme)} must be lower-case letters, digits, "+", "-" or "."`);
  }
  if (typeof factory !== 'function') throw new TypeError(`registerDiscoveryScheme(${scheme}): factory must be a function`);
  if (factories.get(scheme) === factory) return;
  const first = !factories.has(scheme);
  factories.set(scheme, factory);
  if (first) registerResolver(scheme, createBridgeResolverClass(scheme));
}

/** The source factory registered for `scheme`, if any (the `multi` source finds its parts' sources here). */
export function discoverySourceFactory(scheme: string): DiscoverySourceFactory | undefined {
  return factories.get(scheme);
}

/** A scheme's entry of the factory's `discovery` option (by scheme, or by its alias, e.g. k8s -> kubernetes). */
export function discoveryOptionsFor(all: unknown, scheme: string): unknown {
  const byScheme = all as Record<string, unknown> | undefined;
  return byScheme?.[scheme] ?? byScheme?.[SCHEME_OPTION_ALIASES[scheme] ?? scheme];
}

/** Whether a discovery source is registered for `scheme` through `registerDiscoveryScheme`. */
export function isDiscoverySchemeRegistered(scheme: string): boolean {
  return factories.has(scheme);
}

/** Schemes registered through `registerDiscoveryScheme`, sorted. */
export function registeredDiscoverySchemes(): string[] {
  return [...factories.keys()].sort();
}

/** What is wrong with an endpoint a source reported, or undefined. */
function endpointProblem(info: EndpointInfo): string | undefined {
  if (info === null || typeof info !== 'object' || typeof info.address !== 'string') return 'no address';
  const problem = hostPortProblem(info.address);
  if (problem) return `address: ${problem}`;
  if (info.weight !== undefined && !(typeof info.weight === 'number' && info.weight >= 0 && Number.isFinite(info.weight))) {
    return `weight must be a finite number >= 0 (0 drains), got ${showValue(info.weight)}`;
  }
  return undefined;
}

function snapshotSignature(endpoints: readonly EndpointInfo[]): string {
  return JSON.stringify(endpoints.map((e) => [e.address, e.zone, e.region, e.instance, e.incarnation, e.weight, e.canary]));
}

function createBridgeResolverClass(scheme: string) {
  return class FairwayBridgeResolver implements Resolver {
    static getDefaultAuthority(target: GrpcUri): string {
      // multi:///etcd://h:p/pricer;...: the first part's path (`pricer`); a URI is no valid :authority header.
      const path = scheme === 'multi' ? (/^[^;]*?\/([^/;]*)(?:;|$)/.exec(target.path)?.[1] ?? 'multi') : target.path;
      // The first entry of a list (`a:1@z,b:2`), without its zone; otherwise the path (e.g. `pricer`).
      const first = path.split(',')[0] ?? path;
      const at = first.indexOf('@');
      const authority = at < 0 ? first : first.slice(0, at);
      // grpc-js builds a URL from the authority: a named port (`k8s:///pricer.trading:grpc`) is no URL port.
      return authority.replace(/^([^[\]:]+):([^:]*[^0-9:][^:]*)$/, '$1');
    }

    private readonly raw: string;
    private readonly sourceOptions: unknown;
    private readonly logger: Logger;
    private readonly live: LiveSettings | undefined;
    private source: DiscoverySource | undefined;
    private generation = 0;
    /** `loggedBySource`: the source said it in its own log already (see `SELF_LOGGING_SOURCE_SCHEMES`). */
    private pending: { kind: 'snapshot'; snapshot: EndpointSnapshot } | { kind: 'error'; error: DiscoveryError; loggedBySource?: boolean } | undefined;
    private flushScheduled = false;
    private lastSignature: string | undefined;
    private lastRefreshMs = -Infinity;
    private lastLoggedError: string | undefined;

    constructor(
      target: GrpcUri,
      private readonly listener: ResolverListener,
      channelOptions: ChannelOptions,
    ) {
      this.raw = uriToString(target);
      const all = channelOptions[DISCOVERY_OPTIONS_KEY] as Record<string, unknown> | undefined;
      // The multi source hands each of its parts that part's own options, so it gets them all.
      this.sourceOptions = scheme === 'multi' ? all : discoveryOptionsFor(all, scheme);
      const clientLogger = channelOptions[LOGGER_KEY] as Logger | undefined;
      this.logger = clientLogger ?? getDefaultLogger();
      // The client's `logger` also takes the warnings of Fairway's own etcd and Kubernetes sources (garbage
      // values, etcd unreachable), unless their options name a logger of their own: before, those went to
      // stderr whatever the client was given.
      if (clientLogger !== undefined && SELF_LOGGING_SOURCE_SCHEMES.has(scheme)) {
        const own = this.sourceOptions as Record<string, unknown> | undefined;
        if (own?.['logger'] === undefined) this.sourceOptions = { ...own, logger: clientLogger };
      }
      if (scheme === 'multi') {
        // The multi source hands on each part's failure with the part named, and this bridge logs that.
        const l = this.logger;
        this.sourceOptions = withMultiPartLogger(all, { info: (m) => l.info(m), warn: (m) => l.warn(m), error: () => {} });
      }
      this.live = channelOptions[LIVE_SETTINGS_KEY] as LiveSettings | undefined;
    }

    updateResolution(): void {
      if (!this.source) {
        this.start();
        return;
      }
      const now = nowMs();
      if (now - this.lastRefreshMs < REFRESH_MIN_INTERVAL_MS) return;
      this.lastRefreshMs = now;
      bump(bridgeStats.refreshCalls, scheme);
      try {
        this.source.refresh?.();
      } catch (e) {
        this.logger.warn(`${this.raw}: discovery refresh failed: ${(e as Error).message}`);
      }
    }

    destroy(): void {
      this.generation++;
      const source = this.source;
      this.source = undefined;
      this.pending = undefined;
      this.lastSignature = undefined;
      if (source) {
        try {
          void Promise.resolve(source.close()).catch((e: unknown) => this.logger.warn(`${this.raw}: closing discovery failed: ${String(e)}`));
        } catch (e) {
          this.logger.warn(`${this.raw}: closing discovery failed: ${String(e)}`);
        }
      }
    }

    private start(): void {
      const generation = ++this.generation;
      const factory = factories.get(scheme);
      const inert: DiscoverySource = { start() {}, close() {} };
      try {
        if (!factory) throw new Error(`no discovery source is registered for scheme "${scheme}"`);
        this.source = factory(parseTarget(this.raw), this.sourceOptions);
      } catch (e) {
        this.source = inert;
        this.enqueue(generation, { kind: 'error', error: { message: (e as Error).message, fatalForNow: true, cause: e } });
        return;
      }
      try {
        this.source.start({
          onSnapshot: (snapshot) => this.enqueue(generation, { kind: 'snapshot', snapshot }),
          // Fairway's own sources log at `error` each failure they hand on (rate-limited, with how many tries
          // were held back): logging it here as well said every failure twice.
          onError: (error) => this.enqueue(generation, { kind: 'error', error, loggedBySource: SELF_LOGGING_SOURCE_SCHEMES.has(scheme) }),
        });
      } catch (e) {
        this.enqueue(generation, {
          kind: 'error',
          error: { message: `${this.raw}: discovery failed to start: ${(e as Error).message}`, fatalForNow: true, cause: e },
        });
      }
    }

    private enqueue(generation: number, item: NonNullable<typeof this.pending>): void {
      if (generation !== this.generation) return; // from a source we already closed
      // A snapshot is never replaced by a non-fatal error (the last good set stays).
      if (item.kind === 'error' && !item.error.fatalForNow) {
        if (!item.loggedBySource) this.logError(item.error.message);
        return;
      }
      this.pending = item;
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      later(() => {
        this.flushScheduled = false;
        if (generation === this.generation) this.flush();
      });
    }

    private flush(): void {
      const item = this.pending;
      this.pending = undefined;
      if (!item) return;
      if (item.kind === 'error') {
        if (!item.loggedBySource) this.logError(item.error.message);
        this.lastSignature = undefined;
        bump(bridgeStats.listenerCalls, scheme);
        this.listener(
          statusOrFromError({ code: Status.UNAVAILABLE, details: item.error.message, metadata: new Metadata() }),
          {},
          null,
          item.error.message,
        );
        return;
      }
      const { endpoints, note, peers, liveConfig } = item.snapshot;
      const signature = snapshotSignature(endpoints) + (peers ? `|${peers.index}/${peers.count}` : '') + `|live ${liveConfig?.revision ?? 0}`;
      if (signature === this.lastSignature) return; // report once per change
      this.lastSignature = signature;
      this.lastLoggedError = undefined;
      // grpc-js gets one endpoint per address; the policy gets every entry (two incarnations of one instance
      // may share an address: the Balancer keeps the newest, whatever the order here).
      const valid: EndpointInfo[] = [];
      const seen = new Set<string>();
      const list: Endpoint[] = [];
      for (const info of endpoints) {
        const problem = endpointProblem(info);
        if (problem) {
          // One bad entry (e.g. a hand-written etcd value) must not take the others down: skip it, say why.
          this.logError(`ignoring endpoint ${showValue(info)}: ${problem}`);
          continue;
        }
        valid.push(info);
        const address = toSubchannelAddress(info.address);
        const key = subchannelAddressToString(address);
        if (!seen.has(key)) list.push({ addresses: [address] });
        seen.add(key);
      }
      bump(bridgeStats.listenerCalls, scheme);
      // Retry settings reach the call layer from the next call on; balancer settings reach the policy below.
      this.live?.set(liveConfig?.revision ?? 0, liveConfig?.config.retry);
      const balancer = liveConfig?.config.balancer;
      const canary = liveConfig?.config.canary;
      let accepted: boolean;
      try {
        accepted = this.listener(
          statusOrFromValue(list),
          { [ENDPOINT_INFO_ATTRIBUTE]: valid, ...(peers ? { [PEERS_ATTRIBUTE]: peers } : {}), ...(balancer ? { [LIVE_BALANCER_ATTRIBUTE]: balancer } : {}), ...(canary ? { [LIVE_CANARY_ATTRIBUTE]: canary } : {}) },
          null,
          note ?? '',
        );
      } catch (e) {
        // Never let an update crash the host process (this runs on its own tick).
        this.logger.error(`${this.raw}: applying the endpoint update failed: ${(e as Error).message}`);
        this.lastSignature = undefined;
        return;
      }
      if (!accepted) {
        this.logger.error(`${this.raw}: the channel rejected the resolved endpoints (is the load-balancing config valid?)`);
      }
    }

    private logError(message: string): void {
      if (message === this.lastLoggedError) return;
      this.lastLoggedError = message;
      this.logger.warn(`${this.raw}: ${message}`);
    }
  };
}
