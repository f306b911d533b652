/**
 * The drop-in factory: the one changed line.
 *
 * ```ts
 * // before: new PricerClient('pricer.trading.svc:50051', credentials.createInsecure())
 * const client = createClient(PricerClient, 'k8s:///pricer.trading:grpc', credentials.createInsecure(), { zone });
 * // or: new PricerClient('k8s:///pricer.trading:grpc', credentials.createInsecure(), clientOptions({ zone }))
 * ```
 *
 * Every misconfiguration is loud, at creation: a malformed target (`TargetError`), a scheme with no
 * registered source (grpc-js would silently try `dns:`), an unknown or bad option (`FairwayOptionsError`),
 * and a second copy of grpc-js (`DuplicateGrpcError`).
 */
import { Channel, connectivityState } from '@grpc/grpc-js';
import type { ChannelCredentials, ChannelOptions, Client, ClientOptions, Interceptor } from '@grpc/grpc-js';
import { TargetError, parseTarget, parseMultiTarget } from '@fairway/core';
import type { EndpointStats, ParsedTarget } from '@fairway/core';
import { nowMs } from './clock.js';
import { consoleLogger, logOnce } from './logger.js';
import { FairwayOptionsError, resolveOptions, toChannelOptions } from './options.js';
import type { FairwayOptions, ResolvedOptions } from './options.js';
import { assertSameGrpcClient, assertSameGrpcCredentials, register } from './register.js';
import { discoverySourceFactory, isDiscoverySchemeRegistered, registeredDiscoverySchemes } from './resolver/bridge.js';
import { createCallInterceptor, parseRetryOptions, RetryOptionsError } from './call/index.js';
import { LiveSettings } from './live-settings.js';
import { LIVE_SETTINGS_KEY } from './channel-keys.js';
import type { RetryConfig } from './call/index.js';
import { createConcurrencyInterceptor } from './concurrency-interceptor.js';
import { CarriedCall } from './carried-call.js';

/**
 * Schemes grpc-js resolves by itself (Fairway balances them zone-blind). Not `unix-abstract:`: grpc-js 1.14 has
 * no resolver for it and would quietly resolve the whole target as a DNS name.
 */
const GRPC_SCHEMES = new Set(['dns', 'ipv4', 'ipv6', 'unix']);

/**
 * The target as grpc-js must see it: its scheme in lower case. Schemes are case-insensitive (RFC 3986, and
 * grpc-go lower-cases them too), but grpc-js looks its resolvers up by the exact scheme and would resolve
 * "STATIC:///10.0.0.1:50051" as a DNS name: a silent fallback to `dns:`.
 */
export function grpcTarget(parsed: ParsedTarget): string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(parsed.raw);
  if (m === null || m[1] === parsed.scheme || m[1]!.toLowerCase() !== parsed.scheme) return parsed.raw;
  return parsed.scheme + parsed.raw.slice(m[1]!.length);
}

/** Parses `target` and checks that something resolves its scheme. Throws `TargetError`. */
export function checkTarget(target: string): ParsedTarget {
  const parsed = parseTarget(target);
  if (parsed.scheme === 'multi') {
    // Every part must resolve through a Fairway source (grpc-js's own resolvers cannot be merged).
    for (const part of parseMultiTarget(parsed)) {
      if (!isDiscoverySchemeRegistered(part.scheme)) {
        throw new TargetError(target, `part ${part.raw}: no Fairway discovery source is registered for scheme "${part.scheme}" (registered: ${registeredDiscoverySchemes().join(', ')})`);
      }
    }
  }
  if (!GRPC_SCHEMES.has(parsed.scheme) && !isDiscoverySchemeRegistered(parsed.scheme)) {
    const hint =
      parsed.scheme === 'k8s' || parsed.scheme === 'kubernetes'
        ? ' Kubernetes discovery is a separate package, @fairway/discovery-kubernetes: install it ' +
          '(npm install @fairway/discovery-kubernetes) and createClient from \'fairway-grpc\' registers it, or call ' +
          `registerDiscoveryScheme('${parsed.scheme}', createKubernetesSource) with its source yourself.`
        : parsed.scheme === 'etcd'
          ? ` Import createClient from 'fairway-grpc' (it wires etcd:), or call registerDiscoveryScheme('etcd', ...) first.`
          : ` Register a source with registerDiscoveryScheme('${parsed.scheme}', ...).`;
    throw new TargetError(
      target,
      `no discovery source is registered for scheme "${parsed.scheme}" (registered: ${[...registeredDiscoverySchemes(), ...GRPC_SCHEMES].join(', ')}).${hint}`,
    );
  }
  return parsed;
}

function announce(resolved: ResolvedOptions): void {
  const logger = resolved.logger ?? consoleLogger;
  if (resolved.zoneSource === 'none') {
    logOnce(logger, 'zone-blind', 'info', 'no zone given (option "zone" or FAIRWAY_ZONE): balancing zone-blind');
  }
}

/**
 * The call layer (timeout-only retries, observers) as one interceptor. It is made lazily, once the client's
 * channel is made and its target known (`CallDescription.target`); a client whose channel came through
 * `channelOverride` reports `fallbackTarget`.
 */
function lazyCallInterceptor(
  resolved: ResolvedOptions,
  retry: RetryConfig,
  target: () => string | undefined,
  fallbackTarget: string,
  idempotentMethods: ReadonlySet<string> | undefined,
  live: LiveSettings,
): Interceptor {
  let inner: Interceptor | undefined;
  return (options, nextCall) => {
    inner ??= createCallInterceptor({
      retry,
      live,
      observers: resolved.observers,
      target: target() ?? fallbackTarget,
      ...(idempotentMethods ? { idempotentMethods } : {}),
      ...(resolved.settings.zone !== undefined ? { clientZone: resolved.settings.zone } : {}),
    });
    return inner(options, nextCall);
  };
}

interface Prepared {
  readonly resolved: ResolvedOptions;
  readonly retry: RetryConfig;
  readonly channelOptions: ChannelOptions;
  /** The channel's live settings (written by its resolver bridge, read by the call layer). */
  readonly live: LiveSettings;
}

function prepare(options: FairwayOptions | undefined): Prepared {
  register();
  const resolved = resolveOptions(options, process.env);
  for (const key of Object.keys(resolved.discovery ?? {})) {
    const scheme = key === 'kubernetes' ? 'k8s' : key;
    if (!isDiscoverySchemeRegistered(scheme)) {
      throw new FairwayOptionsError(
        `discovery.${key}`,
        scheme === 'k8s'
          ? 'is for k8s: targets, whose source is not registered: Kubernetes discovery is a separate package (npm install @fairway/discovery-kubernetes)'
          : `names no registered discovery scheme (registered: ${registeredDiscoverySchemes().join(', ')}; Kubernetes options go under "kubernetes")`,
      );
    }
    // The source checks its own entry (a typo such as `endpoint:`, a bad value) here, not at the first call.
    const value = (resolved.discovery as Record<string, unknown>)[key];
    try {
      if (value !== undefined) discoverySourceFactory(scheme)?.checkOptions?.(value);
    } catch (error) {
      throw new FairwayOptionsError(`discovery.${key}`, error instanceof Error ? error.message : String(error));
    }
  }
  const retry = parseRetryOptions(resolved.retry); // throws RetryOptionsError naming the field
  announce(resolved);
  const live = new LiveSettings();
  return { resolved, retry, live, channelOptions: { ...toChannelOptions(resolved), [LIVE_SETTINGS_KEY]: live } };
}

/** What a channel made by {@link createChannel} carries to the clients made with `clientOptions(channel)`. */
interface ChannelCallOptions {
  readonly prepared: Prepared;
  readonly target: string;
  /** Whether `retry`, `observers` or a concurrency limit were given: only then is there a call layer to carry. */
  readonly carriesCallOptions: boolean;
  /** The channel's call layer, made on first use; shared by every client of the channel. */
  interceptors: readonly Interceptor[] | undefined;
  foreignReported: boolean;
}

/** The channel whose call layer is creating an attempt right now (set synchronously around `nextCall`). */
let applyingChannel: Channel | undefined;

/**
 * A grpc-js `Channel` made by Fairway. It keeps the options it was made with, because retries and observers
 * are applied per call by a call layer, not by grpc-js's channel. A client made with `clientOptions(channel)`
 * runs that layer as its interceptor; a call from any other client (a bare `{ channelOverride: channel }`,
 * nice-grpc's `createClient(definition, channel)`) gets the same layer here, in `createCall`
 * (see `carried-call.ts`): the channel's options are never silently dropped.
 */
class FairwayChannel extends Channel {
  /** Set by createChannel right after construction. */
  carried: ChannelCallOptions | undefined;

  override createCall(...args: Parameters<Channel['createCall']>): ReturnType<Channel['createCall']> {
    const carried = this.carried;
    // A closed channel throws "Channel has been shut down" right here, as grpc-js's own channel does, not later
    // from the carried call's microtask.
    if (carried === undefined || !carried.carriesCallOptions || applyingChannel === this || this.getConnectivityState(false) === connectivityState.SHUTDOWN) {
      return super.createCall(...args);
    }
    const logger = carried.prepared.resolved.logger ?? consoleLogger;
    return new CarriedCall(
      {
        interceptors: channelInterceptors(carried),
        createRawCall: (...raw) => super.createCall(...raw),
        onForeignClient: (error) => {
          if (carried.foreignReported) return;
          carried.foreignReported = true;
          logger.error(error.message);
        },
      },
      args,
    );
  }
}

/** The call layer of a channel's clients (retries, observers, concurrency limit), made once per channel. */
function channelInterceptors(carried: ChannelCallOptions): readonly Interceptor[] {
  if (carried.interceptors) return carried.interceptors;
  const { resolved, retry } = carried.prepared;
  carried.interceptors = [
    lazyCallInterceptor(resolved, retry, () => carried.target, carried.target, undefined, carried.prepared.live),
    ...(resolved.concurrencyLimit !== undefined ? [createConcurrencyInterceptor(resolved.concurrencyLimit)] : []),
  ];
  return carried.interceptors;
}

/**
 * Makes a grpc-js `Channel` balanced by Fairway, to share between clients. The channel carries all of
 * `options`, `retry` and `observers` included, to every client on it: clients made with
 * `clientOptions(channel)`, with a bare `{ channelOverride: channel }`, and those a library makes itself
 * (nice-grpc's `createClient(definition, channel)`):
 *
 * ```ts
 * const channel = createChannel('etcd:///pricer', creds, { zone, retry: { attemptTimeoutMs: 200 } });
 * const quotes = new QuoteClient('etcd:///pricer', creds, clientOptions(channel));
 * const orders = new OrderClient('etcd:///pricer', creds, clientOptions(channel));
 * ```
 *
 * `clientOptions(channel)` is still the better way for a grpc-js client: the call layer then knows each
 * method's shape from the client (a bare client's call is held for the rest of the tick that starts it
 * while its shape is read from grpc-js's call order) and sees the proto's idempotency options.
 */
export function createChannel(target: string, credentials: ChannelCredentials, options?: FairwayOptions): Channel {
  const prepared = prepare(options);
  const grpcJsTarget = grpcTarget(checkTarget(target));
  assertSameGrpcCredentials(credentials);
  const channel = new FairwayChannel(grpcJsTarget, credentials, prepared.channelOptions);
  const carriesCallOptions =
    prepared.resolved.retry !== undefined || prepared.resolved.observers.length > 0 || prepared.resolved.concurrencyLimit !== undefined;
  channel.carried = { prepared, target: grpcJsTarget, carriesCallOptions, interceptors: undefined, foreignReported: false };
  return channel;
}

/** `clientOptions(channel)`: the client uses `channel` and the channel's retry, observers and zone. */
function sharedChannelClientOptions(channel: Channel): ClientOptions {
  const carried = channel instanceof FairwayChannel ? channel.carried : undefined;
  if (!carried) {
    throw new FairwayOptionsError(
      'clientOptions(channel)',
      'takes a channel made by createChannel (this one was not: a channel of another grpc-js copy, or made with new Channel(...))',
    );
  }
  // Every attempt the call layer opens reaches FairwayChannel.createCall synchronously inside nextCall:
  // marked, so the channel does not run the layer a second time.
  const bypass = (interceptor: Interceptor): Interceptor => (options, nextCall) =>
    interceptor(options, (attemptOptions) => {
      const previous = applyingChannel;
      applyingChannel = channel;
      try {
        return nextCall(attemptOptions);
      } finally {
        applyingChannel = previous;
      }
    });
  const layer = channelInterceptors(carried);
  // The innermost interceptor opens the attempts; the outer ones pass through it.
  return { channelOverride: channel, interceptors: layer.map((i, n) => (n === layer.length - 1 ? bypass(i) : i)) };
}

/**
 * grpc-js `ClientOptions` that make any client balanced by Fairway:
 * `new PricerClient(target, credentials, clientOptions({ zone }))`. The target is checked when the client is
 * made. To share one channel between clients, pass the channel instead of options:
 * `clientOptions(createChannel(target, credentials, options))` (the channel's options then apply).
 */
export function clientOptions(options?: FairwayOptions | Channel): ClientOptions {
  if (options instanceof Channel) return sharedChannelClientOptions(options);
  return clientOptionsFor(options, undefined);
}

function clientOptionsFor(options: FairwayOptions | undefined, idempotentMethods: ReadonlySet<string> | undefined): ClientOptions {
  const { resolved, retry, live, channelOptions } = prepare(options);
  let channelTarget: string | undefined;
  return {
    ...channelOptions,
    interceptors: [
      lazyCallInterceptor(resolved, retry, () => channelTarget, '(shared channel)', idempotentMethods, live),
      // Inside the call layer, so every attempt counts; absent (no extra step) when the option is off.
      ...(resolved.concurrencyLimit !== undefined ? [createConcurrencyInterceptor(resolved.concurrencyLimit)] : []),
    ],
    channelFactoryOverride: (address: string, credentials: ChannelCredentials, opts: ClientOptions) => {
      const target = grpcTarget(checkTarget(address));
      assertSameGrpcCredentials(credentials);
      channelTarget ??= target;
      const channel = new Channel(target, credentials, opts);
      liveOfChannel.set(channel, live);
      return channel;
    },
  };
}

/** The live holder of each channel Fairway made for a client (`clientOptions(...)`, `createClient`). */
const liveOfChannel = new WeakMap<Channel, LiveSettings>();

/**
 * The balancer's table of a client (or channel) made by Fairway, now: one row per endpoint with its address,
 * zone, READY and serving state, calls in flight, latency estimate (ms), cost, outlier-ejection state
 * (`ejection`: `none` / `ejected` / `probe`, with `ejectionReason`, `ejectedForMs` and `ejections`) and
 * slow-start weight (`slowStartFactor`, 1 once warm). Empty until discovery has answered (or while the channel
 * is idle and its policy was released). Throws `FairwayOptionsError` for a client or channel not made by Fairway.
 * `fairway load` prints it at the end of its Fairway run; `formatBalancerTable` from `@fairway/cli` formats it.
 */
export function endpointTable(clientOrChannel: Client | Channel): EndpointStats[] {
  const channel = clientOrChannel instanceof Channel ? clientOrChannel : (clientOrChannel as unknown as { getChannel?: () => Channel }).getChannel?.();
  const live = channel === undefined ? undefined : channel instanceof FairwayChannel ? channel.carried?.prepared.live : liveOfChannel.get(channel);
  if (live === undefined) {
    throw new FairwayOptionsError('endpointTable(client)', 'takes a client or channel made by Fairway (createClient, clientOptions, createChannel)');
  }
  return live.endpointTable?.(nowMs()) ?? [];
}

/**
 * Methods of a client class whose proto declares `option idempotency_level = IDEMPOTENT` or `NO_SIDE_EFFECTS`
 * (`package.Service/Method`), for `retry.hedging.idempotent`. Visible when the class comes from
 * `@grpc/proto-loader` (its method definitions carry the options); a generated class without them gives none.
 */
export function idempotentMethodsOf(ClientClass: unknown): ReadonlySet<string> {
  const methods = new Set<string>();
  const service = (ClientClass as { service?: Record<string, { path?: unknown; options?: { idempotency_level?: unknown } }> } | undefined)?.service;
  if (!service || typeof service !== 'object') return methods;
  for (const def of Object.values(service)) {
    const level = def?.options?.idempotency_level;
    if (typeof def?.path === 'string' && (level === 'IDEMPOTENT' || level === 'NO_SIDE_EFFECTS')) methods.add(def.path.replace(/^\//, ''));
  }
  return methods;
}

/**
 * A method named in `retry.methods` or `retry.hedging.methods` that belongs to the client class's service but
 * that the service does not have (`Echo/Unray`) is a typo that would leave the method without its settings:
 * refused, naming the field and the methods there are. Methods of other services are left alone (one options
 * object may serve several clients). Classes that do not list their methods (`service`) are not checked.
 * Also checks that every method `retry.hedging.idempotent` would hedge has attempts for a hedge.
 */
function checkRetryMethodNames(ClientClass: unknown, options: FairwayOptions | undefined, idempotentMethods: ReadonlySet<string>): void {
  if (options?.retry === undefined) return;
  const service = (ClientClass as { service?: Record<string, { path?: unknown }> } | undefined)?.service;
  if (!service || typeof service !== 'object') return;
  const paths = Object.values(service).flatMap((d) => (typeof d?.path === 'string' ? [d.path.replace(/^\//, '')] : []));
  if (paths.length === 0) return;
  const serviceName = paths[0]!.slice(0, paths[0]!.lastIndexOf('/'));
  const known = new Set(paths);
  const retry = parseRetryOptions(options.retry); // already checked by clientOptionsFor
  const check = (method: string, field: string): void => {
    if (method.slice(0, method.lastIndexOf('/')) === serviceName && !known.has(method)) {
      throw new RetryOptionsError(field, `${serviceName} has no method ${JSON.stringify(method.slice(serviceName.length + 1))} (its methods: ${[...known].map((p) => p.slice(serviceName.length + 1)).join(', ')})`);
    }
  };
  for (const method of retry.methods.keys()) check(method, `retry.methods['${method}']`);
  for (const method of retry.hedging?.methods ?? []) check(method, `retry.hedging.methods: '${method}'`);
  checkIdempotentMethodsHaveAttempts(retry, idempotentMethods);
}

/**
 * With `retry.hedging.idempotent`, the methods the class's proto declares idempotent are hedged, and a hedge is
 * an attempt counted within `maxAttempts`: one of them left with a single attempt (`retry.maxAttempts: 1` and no
 * `retry.methods[...].maxAttempts` of its own) would silently never be hedged. Refused naming the method; core can
 * only check this when no method at all has two attempts, because only the client class knows its methods.
 */
function checkIdempotentMethodsHaveAttempts(retry: RetryConfig, idempotentMethods: ReadonlySet<string>): void {
  if (retry.hedging?.idempotent !== true) return;
  for (const method of idempotentMethods) {
    const own = retry.methods.get(method);
    const maxAttempts = (own ?? retry.defaults).maxAttempts;
    if (maxAttempts < 2) {
      throw new RetryOptionsError(
        own !== undefined && own.maxAttempts !== retry.defaults.maxAttempts ? `retry.methods['${method}'].maxAttempts` : 'retry.maxAttempts',
        `${maxAttempts} leaves no attempt for a hedge of '${method}', which the proto declares idempotent and retry.hedging.idempotent hedges ` +
          `(the hedge is the second attempt): give it retry.methods['${method}'].maxAttempts of 2 or more, raise retry.maxAttempts, or drop retry.hedging.idempotent`,
      );
    }
  }
}

/** A client class: generated (`grpc_tools_node_protoc`, ts-proto) or from `@grpc/proto-loader`. */
export type ClientConstructor<T extends Client> = new (address: string, credentials: ChannelCredentials, options?: ClientOptions) => T;

/**
 * Makes a client balanced by Fairway: `createClient(PricerClient, 'k8s:///pricer.trading:grpc', creds, { zone })`.
 * Same call code as `new PricerClient(...)`.
 */
export function createClient<T extends Client>(
  ClientClass: ClientConstructor<T>,
  target: string,
  credentials: ChannelCredentials,
  options?: FairwayOptions,
): T {
  assertSameGrpcClient(ClientClass);
  const idempotentMethods = idempotentMethodsOf(ClientClass);
  const opts = clientOptionsFor(options, idempotentMethods);
  checkRetryMethodNames(ClientClass, options, idempotentMethods);
  const grpcJsTarget = grpcTarget(checkTarget(target));
  assertSameGrpcCredentials(credentials);
  return new ClientClass(grpcJsTarget, credentials, opts);
}
