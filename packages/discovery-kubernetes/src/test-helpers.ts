/**
 * Test helpers shared by this package's tests (not exported from the package): a recording listener and logger,
 * and a bounded wait.
 */
import type { DiscoveryError, DiscoveryListener, EndpointSnapshot } from '@fairway/core';
import type { KubernetesLogger } from './kubernetes-source.js';

export interface Recorder extends DiscoveryListener {
  readonly snapshots: EndpointSnapshot[];
  readonly errors: DiscoveryError[];
  readonly logs: string[];
  readonly logger: KubernetesLogger;
  last(): EndpointSnapshot | undefined;
}

export function recorder(): Recorder {
  const snapshots: EndpointSnapshot[] = [];
  const errors: DiscoveryError[] = [];
  const logs: string[] = [];
  return {
    snapshots,
    errors,
    logs,
    logger: {
      info: (m) => logs.push(`info: ${m}`),
      warn: (m) => logs.push(`warn: ${m}`),
      error: (m) => logs.push(`error: ${m}`),
    },
    onSnapshot: (s) => snapshots.push(s),
    onError: (e) => errors.push(e),
    last: () => snapshots[snapshots.length - 1],
  };
}

/** Polls `check` every 20 ms until it returns true; fails after `timeoutMs` with `what`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sorted addresses of a snapshot. */
export function addresses(s: EndpointSnapshot | undefined): string[] {
  return (s?.endpoints ?? []).map((e) => e.address).sort();
}
