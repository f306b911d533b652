/**
 * `register()`: installs the `fairway_p2c_peak_ewma` policy and the `static` scheme into the grpc-js this
 * package imports. Explicit and idempotent (no import side effects), like grpc-js-xds's `register()`.
 *
 * Also the guard against two copies of grpc-js (two registries: registration lands in one, the client uses the
 * other, and grpc-js silently falls back to pick_first / dns).
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { ChannelCredentials, Client } from '@grpc/grpc-js';
import { registerLoadBalancerType, isLoadBalancerNameRegistered } from './grpc-internals.js';
import { FairwayPolicyConfig, POLICY_NAME } from './policy/config.js';
import { FairwayLoadBalancer } from './policy/load-balancer.js';
import { registerDiscoveryScheme, discoverySourceFactory, discoveryOptionsFor } from './resolver/bridge.js';
import { createMergedSourceFactory } from '@fairway/core';
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

// import.meta.url in the ESM build; the CJS build has no import.meta (the bundler leaves an empty object).
const requireHere: NodeJS.Require = createRequire((import.meta as { url?: string }).url ?? __filename);

/** `<dir>/node_modules/@grpc/grpc-js/build/src/index.js` -> `<dir>/node_modules/@grpc/grpc-js`. */
const GRPC_ENTRY = /^(.*[\\/]@grpc[\\/]grpc-js)[\\/]build[\\/]src[\\/]index\.js$/;

/** The directory of the @grpc/grpc-js copy Fairway registers into, or undefined if it cannot be resolved. */
function fairwayGrpcCopy(): string | undefined {
  try {
    return GRPC_ENTRY.exec(requireHere.resolve('@grpc/grpc-js'))?.[1] ?? dirname(requireHere.resolve('@grpc/grpc-js/package.json'));
  } catch {
    return undefined;
  }
}

/**
 * The @grpc/grpc-js copies loaded in this process other than Fairway's, by directory; the ones whose exports
 * satisfy `isTheirs` first. grpc-js is CommonJS, so every copy, imported or required, is in the module cache.
 */
function otherGrpcCopies(ours: string | undefined, isTheirs: (grpc: Record<string, unknown>) => boolean): string[] {
  const matching: string[] = [];
  const others: string[] = [];
  for (const [file, mod] of Object.entries(requireHere.cache)) {
    const dir = GRPC_ENTRY.exec(file)?.[1];
    if (!dir || dir === ours || !mod) continue;
    let theirs = false;
    try {
      theirs = isTheirs(mod.exports as Record<string, unknown>);
    } catch {
      /* a copy that failed to load */
    }
    (theirs ? matching : others).push(dir);
  }
  return [...matching, ...others];
}

/** Error raised when the caller's grpc-js is not the copy Fairway registered into. Names both copies' paths. */
export class DuplicateGrpcError extends Error {
  /** Where the @grpc/grpc-js that Fairway registered its policy and resolvers into is installed. */
  readonly fairwayCopy: string | undefined;
  /** Where the other copies loaded in this process are installed (the caller's first, when it was found). */
  readonly otherCopies: readonly string[];
  constructor(what: string, isTheirs: (grpc: Record<string, unknown>) => boolean = () => false) {
    const fairwayCopy = fairwayGrpcCopy();
    const otherCopies = otherGrpcCopies(fairwayCopy, isTheirs);
    const others =
      otherCopies.length > 0
        ? `your code uses the copy at ${otherCopies[0]}${otherCopies.length > 1 ? ` (also loaded: ${otherCopies.slice(1).join(', ')})` : ''}`
        : 'your code uses another copy (not found among the loaded modules)';
    super(
      `${what}: there are two copies of @grpc/grpc-js: Fairway registered its load-balancing policy and resolvers ` +
        `in the copy at ${fairwayCopy ?? '(unresolved)'}, and ${others}, so calls would silently go unbalanced. ` +
        'Make @grpc/grpc-js resolve to one copy: one version range everywhere (or `overrides` in package.json), ' +
        'then `npm dedupe`; packages installed from a local checkout need `npm install --install-links` (a linked ' +
        "folder resolves grpc-js from its own node_modules). `npm ls @grpc/grpc-js` lists versions, not folders.",
    );
    this.name = 'DuplicateGrpcError';
    this.fairwayCopy = fairwayCopy;
    this.otherCopies = otherCopies;
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
  if (looksLikeCredentials) {
    throw new DuplicateGrpcError('the channel credentials come from another @grpc/grpc-js', (grpc) => {
      const Credentials = grpc['ChannelCredentials'];
      return typeof Credentials === 'function' && credentials instanceof Credentials;
    });
  }
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
      throw new DuplicateGrpcError(`${ctor.name || 'the client class'} extends the Client of another @grpc/grpc-js`, (grpc) => {
        const ForeignClient = grpc['Client'];
        return typeof ForeignClient === 'function' && (ctor as { prototype: object }).prototype instanceof ForeignClient;
      });
    }
  }
  throw new TypeError(`${ctor.name || 'the client constructor'} is not a grpc-js client class (it does not extend grpc.Client)`);
}
