/**
 * Opens the discovery source of a target the way a Fairway client would (same parser, same sources), and
 * waits for its first answer.
 */
import { parseTarget, TargetError } from '@fairway/core';
import type { DiscoveryError, DiscoverySource, EndpointSnapshot, ParsedTarget } from '@fairway/core';
import { createEtcdSource } from '@fairway/discovery-etcd';
import { createStaticSource } from '@fairway/grpc';
import { existsSync } from 'node:fs';
import type { UnusedEndpoint } from './table.js';

/** Schemes the CLI can resolve. */
export const CLI_SCHEMES = ['static', 'etcd', 'k8s', 'kubernetes'] as const;

/** A user error (bad target, bad option): exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The source could not be reached or gave no answer in time: exit code 3. */
export class UnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreachableError';
  }
}

export interface SourceOptions {
  /** etcd endpoints (comma-separated); default the target's authority, then FAIRWAY_ETCD_ENDPOINTS. */
  readonly etcdEndpoints?: string;
  /** A kubeconfig file for `k8s:` targets. */
  readonly kubeconfig?: string;
  /** How long one etcd request (the connect included) may take, ms. */
  readonly dialTimeoutMs: number;
  /** Where the source's own warnings go. */
  readonly warn: (message: string) => void;
}

export interface OpenedSource {
  readonly target: ParsedTarget;
  /** `static`, `etcd` or `k8s`. */
  readonly kind: string;
  readonly source: DiscoverySource;
  /** Where the source asks (e.g. `etcd at 127.0.0.1:2379`), for messages when it gives no answer. */
  readonly where: string;
  /**
   * The endpoints the source lists but leaves out of its snapshots (Kubernetes: Pods not ready, or terminating
   * while others are ready), as of its last snapshot. Absent for sources that have none.
   */
  readonly unused?: () => readonly UnusedEndpoint[];
  /**
   * Calls `onChange` when the unused endpoints change while the endpoints in use stay the same (no snapshot
   * comes then). Absent for sources that have none.
   */
  readonly onUnusedChange?: (onChange: () => void) => void;
}

/**
 * Parses the target and makes its source; rejects with {@link UsageError} for a bad target or option. The
 * Kubernetes source (and its client library, slow to load) is loaded only for `k8s:` targets.
 */
export async function openSource(rawTarget: string, o: SourceOptions): Promise<OpenedSource> {
  let target: ParsedTarget;
  try {
    target = parseTarget(rawTarget);
  } catch (e) {
    throw new UsageError(e instanceof TargetError ? e.message : String(e));
  }
  return openWithLogger(rawTarget, target, o, cliSourceLogger(o.warn));
}

/**
 * The logger the CLI gives the etcd and Kubernetes sources. They log at `error` only a failure they also hand
 * to the listener's `onError`, and the CLI prints what its listener is handed (resolve and watch end with it,
 * exit 3), so `error` is left out here: each failure is printed once, as the error. (The etcd source's
 * "(N similar message(s) held back)" and the Kubernetes source's "; retrying (attempt N)" ride on those lines:
 * the CLI stops at the first failure, before anything is held back or retried.) `warn` is what the sources
 * skip or keep on their own (a garbage value, a stale set): printed. `info` is left out.
 */
function cliSourceLogger(warn: (message: string) => void): SourceLogger {
  return { info: () => {}, warn, error: () => {} };
}

/** The logger shape both sources take. */
interface SourceLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

async function openWithLogger(
  rawTarget: string,
  target: ParsedTarget,
  o: SourceOptions,
  logger: SourceLogger,
): Promise<OpenedSource> {
  try {
    switch (target.scheme) {
      case 'static':
        return { target, kind: 'static', source: createStaticSource(target, undefined), where: 'the target itself' };
      case 'etcd': {
        if (o.etcdEndpoints !== undefined && target.authority !== '') {
          // The target's own endpoints win in the library; a flag that would be ignored is refused instead.
          throw new UsageError(`${rawTarget} names its etcd endpoints (${target.authority}) and --etcd-endpoints names others (${o.etcdEndpoints}): give one`);
        }
        const source = createEtcdSource(target, {
          ...(o.etcdEndpoints !== undefined ? { endpoints: o.etcdEndpoints } : {}),
          dialTimeoutMs: o.dialTimeoutMs,
          logger,
        });
        return { target, kind: 'etcd', source, where: `etcd at ${source.status().etcdEndpoints.join(',')}` };
      }
      case 'k8s':
      case 'kubernetes': {
        if (o.kubeconfig !== undefined && !existsSync(o.kubeconfig)) throw new UsageError(`--kubeconfig ${o.kubeconfig}: no such file`);
        const { createKubernetesSource, unusedEndpointsOf, onUnusedEndpointsChange } = await import('@fairway/discovery-kubernetes');
        const source = createKubernetesSource(target, {
          ...(o.kubeconfig !== undefined ? { kubeconfigPath: o.kubeconfig } : {}),
          requestTimeoutMs: o.dialTimeoutMs,
          logger,
        });
        return {
          target,
          kind: 'k8s',
          where: `the Kubernetes API server${o.kubeconfig !== undefined ? ` of ${o.kubeconfig}` : ''}`,
          source,
          unused: () =>
            (unusedEndpointsOf(source) ?? []).map(({ ready: _ready, serving: _serving, terminating, ...endpoint }) => ({
              ...endpoint,
              state: terminating ? ('terminating' as const) : ('not-ready' as const),
            })),
          onUnusedChange: (onChange) => void onUnusedEndpointsChange(source, () => onChange()),
        };
      }
      default:
        throw new UsageError(
          `${new TargetError(rawTarget, `the fairway CLI resolves ${CLI_SCHEMES.filter((s) => s !== 'kubernetes').map((s) => `${s}:`).join(', ')} targets, not "${target.scheme}:"`).message}`,
        );
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // The sources throw an error naming the target for a bad target or option (e.g. no etcd endpoints).
    throw new UsageError((e as Error).message);
  }
}

export type FirstAnswer =
  | { readonly kind: 'snapshot'; readonly snapshot: EndpointSnapshot }
  | { readonly kind: 'error'; readonly error: DiscoveryError };

/** Listens to `source`; resolves with its first snapshot, or rejects with {@link UnreachableError}. */
export function firstAnswer(opened: OpenedSource, timeoutMs: number): Promise<EndpointSnapshot> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new UnreachableError(`${opened.kind} source of ${opened.target.raw}: no answer from ${opened.where} within ${timeoutMs} ms`));
    }, timeoutMs);
    opened.source.start({
      onSnapshot(snapshot) {
        clearTimeout(timer);
        resolve(snapshot);
      },
      onError(error) {
        if (!error.fatalForNow) return; // a last good set is being kept: a snapshot follows or already came
        clearTimeout(timer);
        reject(new UnreachableError(error.message));
      },
    });
  });
}
