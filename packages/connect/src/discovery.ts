/**
 * Which discovery source serves a target's scheme for the connect transport: the same sources the grpc-js
 * path uses. `static` and `multi` come from `@fairway/core`; `etcd` from `@fairway/discovery-etcd` and `k8s`
 * (or kuberesolver's `kubernetes`) from `@fairway/discovery-kubernetes`, each loaded from the application's
 * node_modules when a target needs it (they are optional peers: a connect user who only uses static targets
 * installs neither). Extra schemes come from the `sources` option.
 */
import { createRequire } from 'node:module';
import { createMergedSourceFactory, createStaticSourceFactory } from '@fairway/core';
import type { DiscoverySourceFactory } from '@fairway/core';

// import.meta.url in the ESM build; the CJS build has no import.meta (the bundler leaves an empty object).
const requireHere: NodeJS.Require = createRequire((import.meta as { url?: string }).url ?? __filename);

/** The package that serves each optional scheme, and the export that makes its source. */
const OPTIONAL_SCHEMES: Readonly<Record<string, { readonly pkg: string; readonly factory: string }>> = {
  etcd: { pkg: '@fairway/discovery-etcd', factory: 'createEtcdSource' },
  k8s: { pkg: '@fairway/discovery-kubernetes', factory: 'createKubernetesSource' },
  kubernetes: { pkg: '@fairway/discovery-kubernetes', factory: 'createKubernetesSource' },
};

/** The key under the `discovery` option for schemes whose option key is not the scheme. */
const SCHEME_OPTION_ALIASES: Readonly<Record<string, string>> = { k8s: 'kubernetes' };

/** A target's scheme needs a package that is not installed. Names the package and the command. */
export class MissingDiscoveryPackageError extends Error {
  /** The package to install, e.g. `@fairway/discovery-etcd`. */
  readonly packageName: string;
  constructor(scheme: string, packageName: string) {
    super(`a ${scheme}: target needs the package ${packageName}, which is not installed. Install it: npm install ${packageName}`);
    this.name = 'MissingDiscoveryPackageError';
    this.packageName = packageName;
  }
}

/** A scheme's entry of the `discovery` option (by scheme, or by its alias, e.g. k8s -> kubernetes). */
export function discoveryOptionsFor(all: unknown, scheme: string): unknown {
  const byScheme = all as Record<string, unknown> | undefined;
  return byScheme?.[scheme] ?? byScheme?.[SCHEME_OPTION_ALIASES[scheme] ?? scheme];
}

/** Test hook: schemes whose package is to be treated as not installed. */
const simulatedMissing = new Set<string>();
/** Test hook: pretend `packages` are not installed (empty: back to normal). */
export function simulateMissingPackagesForTests(packages: readonly string[]): void {
  simulatedMissing.clear();
  for (const p of packages) simulatedMissing.add(p);
}

function loadOptional(scheme: string): DiscoverySourceFactory | undefined {
  const entry = OPTIONAL_SCHEMES[scheme];
  if (!entry) return undefined;
  let mod: Record<string, unknown>;
  try {
    if (simulatedMissing.has(entry.pkg)) throw Object.assign(new Error(`Cannot find module '${entry.pkg}'`), { code: 'MODULE_NOT_FOUND' });
    requireHere.resolve(entry.pkg);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') throw new MissingDiscoveryPackageError(scheme, entry.pkg);
    throw error;
  }
  mod = requireHere(entry.pkg) as Record<string, unknown>;
  const factory = mod[entry.factory];
  if (typeof factory !== 'function') throw new Error(`${entry.pkg} does not export ${entry.factory}: is it a Fairway discovery package of the same version?`);
  return factory as DiscoverySourceFactory;
}

/**
 * Resolves schemes to source factories: `extra` first (the `sources` option), then the built-in and optional
 * ones. Unknown schemes: undefined.
 */
export function createSchemeTable(extra: Readonly<Record<string, DiscoverySourceFactory>>, defer: (fn: () => void) => void): (scheme: string) => DiscoverySourceFactory | undefined {
  const staticSource = createStaticSourceFactory(defer);
  const cache = new Map<string, DiscoverySourceFactory | undefined>();
  const lookup = (scheme: string): DiscoverySourceFactory | undefined => {
    if (Object.prototype.hasOwnProperty.call(extra, scheme)) return extra[scheme];
    if (scheme === 'static') return staticSource;
    if (scheme === 'multi') return merged;
    if (!cache.has(scheme)) cache.set(scheme, loadOptional(scheme));
    return cache.get(scheme);
  };
  const merged = createMergedSourceFactory(lookup, discoveryOptionsFor);
  return lookup;
}

/** The schemes a connect transport knows without the `sources` option. */
export const KNOWN_SCHEMES = ['static', 'multi', ...Object.keys(OPTIONAL_SCHEMES)] as const;
