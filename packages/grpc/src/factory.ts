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
import { Channel } from '@grpc/grpc-js';
import type { ChannelCredentials, ChannelOptions, Client, ClientOptions, Interceptor } from '@grpc/grpc-js';
import { TargetError, parseTarget } from '@fairway/core';
import type { ParsedTarget } from '@fairway/core';
import { consoleLogger, logOnce } from './logger.js';
import { FairwayOptionsError, resolveOptions, toChannelOptions } from './options.js';
import type { FairwayOptions, ResolvedOptions } from './options.js';
import { assertSameGrpcClient, assertSameGrpcCredentials, register } from './register.js';
import { isDiscoverySchemeRegistered, registeredDiscoverySchemes } from './resolver/bridge.js';
import { createCallInterceptor, parseRetryOptions } from './call/index.js';
import type { RetryConfig } from './call/index.js';

/** Schemes grpc-js resolves by itself (Fairway balances them zone-blind). */
const GRPC_SCHEMES = new Set(['dns', 'ipv4', 'ipv6', 'unix', 'unix-abstract']);

/** Parses `target` and checks that something resolves its scheme. Throws `TargetError`. */
export function checkTarget(target: string): ParsedTarget {
  const parsed = parseTarget(target);
  if (!GRPC_SCHEMES.has(parsed.scheme) && !isDiscoverySchemeRegistered(parsed.scheme)) {
    const hint =
      parsed.scheme === 'etcd' || parsed.scheme === 'k8s'
        ? ` Import createClient from 'fairway-grpc' (it wires etcd: and k8s:), or call registerDiscoveryScheme('${parsed.scheme}', ...) first.`
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
 * grpc-js's own retries stay on: with no retryPolicy in the service config it only makes transparent retries
 * (re-picks of requests that never reached a server), which the call layer relies on (see call/index.ts).
 */
const RETRIES_OFF = false;

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
): Interceptor {
  let inner: Interceptor | undefined;
  return (options, nextCall) => {
    inner ??= createCallInterceptor({
      retry,
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
}

function prepare(options: FairwayOptions | undefined): Prepared {
  register();
  const resolved = resolveOptions(options, process.env);
  for (const key of Object.keys(resolved.discovery ?? {})) {
    const scheme = key === 'kubernetes' ? 'k8s' : key;
    if (!isDiscoverySchemeRegistered(scheme)) {
      throw new FairwayOptionsError(
        `discovery.${key}`,
        `names no registered discovery scheme (registered: ${registeredDiscoverySchemes().join(', ')}; Kubernetes options go under "kubernetes")`,
      );
    }
  }
  const retry = parseRetryOptions(resolved.retry); // throws RetryOptionsError naming the field
  announce(resolved);
  return { resolved, retry, channelOptions: toChannelOptions(resolved, RETRIES_OFF) };
}

/**
 * Makes a grpc-js `Channel` balanced by Fairway, e.g. to share between clients through the
 * `channelOverride` client option. (Retries and observers live in the client's interceptor: pass
 * `clientOptions(options)` to those clients too.)
 */
export function createChannel(target: string, credentials: ChannelCredentials, options?: FairwayOptions): Channel {
  const { channelOptions } = prepare(options);
  checkTarget(target);
  assertSameGrpcCredentials(credentials);
  return new Channel(target, credentials, channelOptions);
}

/**
 * grpc-js `ClientOptions` that make any client balanced by Fairway:
 * `new PricerClient(target, credentials, clientOptions({ zone }))`. The target is checked when the client is
 * made. Combine with `channelOverride: createChannel(...)` to share one channel.
 */
export function clientOptions(options?: FairwayOptions): ClientOptions {
  return clientOptionsFor(options, undefined);
}

function clientOptionsFor(options: FairwayOptions | undefined, idempotentMethods: ReadonlySet<string> | undefined): ClientOptions {
  const { resolved, retry, channelOptions } = prepare(options);
  let channelTarget: string | undefined;
  return {
    ...channelOptions,
    interceptors: [lazyCallInterceptor(resolved, retry, () => channelTarget, '(shared channel)', idempotentMethods)],
    channelFactoryOverride: (address: string, credentials: ChannelCredentials, opts: ClientOptions) => {
      checkTarget(address);
      assertSameGrpcCredentials(credentials);
      channelTarget ??= address;
      return new Channel(address, credentials, opts);
    },
  };
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
  const opts = clientOptionsFor(options, idempotentMethodsOf(ClientClass));
  checkTarget(target);
  assertSameGrpcCredentials(credentials);
  return new ClientClass(target, credentials, opts);
}
