/**
 * The two parts of Fairway that are separate installs, loaded from the application's own node_modules when
 * first needed: Kubernetes discovery (`@fairway/discovery-kubernetes`, which brings `@kubernetes/client-node`,
 * about 50 MB) and the telemetry set-up (`@fairway/telemetry-setup`, the OpenTelemetry SDK and exporters,
 * about 35 MB). Most services use neither, so the default install carries neither.
 *
 * They are loaded synchronously (`createClient` and `setupTelemetry` are synchronous) with `require`, which
 * works from both builds: the ESM build makes its `require` from `import.meta.url`, the CJS build has its own.
 * Both packages ship CommonJS, and what crosses between the copies is plain data and functions (a discovery
 * source; OpenTelemetry's API keeps its providers in one global shared by its ESM and CJS builds).
 */
import { createRequire } from 'node:module';
import type * as KubernetesDiscovery from '@fairway/discovery-kubernetes';
import type * as TelemetrySetup from '@fairway/telemetry-setup';

// import.meta.url in the ESM build; the CJS build has no import.meta (the bundler leaves an empty object).
const requireHere: NodeJS.Require = createRequire((import.meta as { url?: string }).url ?? __filename);

/** A Fairway feature was used whose package is not installed. Names the package and the command. */
export class MissingPackageError extends Error {
  /** The package to install, e.g. `@fairway/discovery-kubernetes`. */
  readonly packageName: string;
  /** The command that installs it, e.g. `npm install @fairway/discovery-kubernetes`. */
  readonly installCommand: string;
  constructor(feature: string, packageName: string, why: string) {
    const installCommand = `npm install ${packageName}`;
    super(`${feature} needs the package ${packageName} (${why}), which is not installed. Install it: ${installCommand}`);
    this.name = 'MissingPackageError';
    this.packageName = packageName;
    this.installCommand = installCommand;
  }
}

/** Whether `name` resolves from this package (so from the application's node_modules). */
function resolvable(name: string): boolean {
  try {
    requireHere.resolve(name);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return false;
    throw error;
  }
}

const cache = new Map<string, unknown>();

/** Loads `name` if it is installed, else undefined. A package that is installed but fails to load throws. */
function loadIfInstalled<T>(name: string): T | undefined {
  if (cache.has(name)) return cache.get(name) as T | undefined;
  const mod = resolvable(name) ? (requireHere(name) as T) : undefined;
  cache.set(name, mod);
  return mod;
}

/** Test hook: forget what was loaded and pretend `names` are not installed (undefined: back to normal). */
export function simulateMissingPackagesForTests(names: readonly string[] | undefined): void {
  cache.clear();
  for (const name of names ?? []) cache.set(name, undefined);
}

export const KUBERNETES_PACKAGE = '@fairway/discovery-kubernetes';
export const TELEMETRY_SETUP_PACKAGE = '@fairway/telemetry-setup';

/** `@fairway/discovery-kubernetes` when installed, else undefined. */
export function kubernetesDiscovery(): typeof KubernetesDiscovery | undefined {
  return loadIfInstalled<typeof KubernetesDiscovery>(KUBERNETES_PACKAGE);
}

/** `@fairway/telemetry-setup`; throws {@link MissingPackageError} naming the install command when it is not installed. */
export function telemetrySetup(): typeof TelemetrySetup {
  const mod = loadIfInstalled<typeof TelemetrySetup>(TELEMETRY_SETUP_PACKAGE);
  if (!mod) {
    throw new MissingPackageError(
      'setupTelemetry',
      TELEMETRY_SETUP_PACKAGE,
      'the OpenTelemetry SDK and exporters; with your own SDK set-up you do not need it: createTelemetryObserver() uses the global providers',
    );
  }
  return mod;
}
