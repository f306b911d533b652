/**
 * `register()`: installs the `fairway_p2c_peak_ewma` policy and the `static` scheme into the grpc-js this
 * package imports. Explicit and idempotent (no import side effects), like grpc-js-xds's `register()`.
 *
 * Also the guard against two copies of grpc-js (two registries: registration lands in one, the client uses the
 * other, and grpc-js silently falls back to pick_first / dns).
 */
import { ChannelCredentials, Client } from '@grpc/grpc-js';
import { registerLoadBalancerType, isLoadBalancerNameRegistered } from './grpc-internals.js';
import { FairwayPolicyConfig, POLICY_NAME } from './policy/config.js';
import { FairwayLoadBalancer } from './policy/load-balancer.js';
import { registerDiscoveryScheme, discoverySourceFactory, discoveryOptionsFor } from './resolver/bridge.js';
import { createMergedSourceFactory } from './resolver/merged-source.js';
import { createStaticSource } from './resolver/static-source.js';

let registered = false;

const mergedSource = createMergedSourceFactory(discoverySourceFactory, discoveryOptionsFor);

/** Registers the policy and the built-in `static` and `multi` schemes. Safe to call any number of times. */
export function register(): void {
  if (registered && isLoadBalancerNameRegistered(POLICY_NAME)) return;
  registerLoadBalancerType(POLICY_NAME, FairwayLoadBalancer, FairwayPolicyConfig);
  registerDiscoveryScheme('static', createStaticSource);
  registerDiscoveryScheme('multi', mergedSource);
  registered = true;
}

const DUPLICATE_HELP =
  'there are two copies of @grpc/grpc-js in node_modules: Fairway registered its load-balancing policy and ' +
  'resolvers in one, and your client uses the other, so calls would silently go unbalanced. Make ' +
  '@grpc/grpc-js resolve to one copy (run `npm ls @grpc/grpc-js`; use one version range, or `overrides` in ' +
  'package.json, then `npm dedupe`).';

/** Error raised when the caller's grpc-js is not the copy Fairway registered into. */
export class DuplicateGrpcError extends Error {
  constructor(what: string) {
    super(`${what}: ${DUPLICATE_HELP}`);
    this.name = 'DuplicateGrpcError';
  }
}

/** Throws unless `credentials` are ChannelCredentials of the grpc-js copy Fairway uses. */
export function assertSameGrpcCredentials(credentials: unknown): asserts credentials is ChannelCredentials {
  if (credentials instanceof ChannelCredentials) return;
  const looksLikeCredentials =
    credentials !== null &&
    typeof credentials === 'object' &&
    typeof (credentials as { compose?: unknown }).compose === 'function' &&
    typeof (credentials as { _isSecure?: unknown })._isSecure === 'function';
  if (looksLikeCredentials) throw new DuplicateGrpcError('the channel credentials come from another @grpc/grpc-js');
  throw new TypeError(
    `credentials must be grpc-js ChannelCredentials (e.g. credentials.createInsecure()), got ${credentials === null ? 'null' : typeof credentials}`,
  );
}

/** Throws unless `ctor` is a client class built on the grpc-js copy Fairway uses. */
export function assertSameGrpcClient(ctor: unknown): void {
  if (typeof ctor !== 'function') {
    throw new TypeError(`the client constructor must be a class (a generated or proto-loader client), got ${typeof ctor}`);
  }
  if (ctor === Client || ctor.prototype instanceof Client) return;
  // Walk the prototype chain for something named Client with grpc-js's methods: another copy.
  for (let p = Object.getPrototypeOf(ctor.prototype); p; p = Object.getPrototypeOf(p)) {
    if (typeof p.makeUnaryRequest === 'function' && typeof p.getChannel === 'function') {
      throw new DuplicateGrpcError(`${ctor.name || 'the client class'} extends the Client of another @grpc/grpc-js`);
    }
  }
  throw new TypeError(`${ctor.name || 'the client constructor'} is not a grpc-js client class (it does not extend grpc.Client)`);
}
