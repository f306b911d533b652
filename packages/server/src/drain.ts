/**
 * Graceful drain for a grpc-js server: stop taking new calls, let calls in flight finish, end long-lived
 * streams with `UNAVAILABLE` so their clients reconnect elsewhere, and force the rest after a grace period.
 *
 * Order on shutdown: deregister from discovery first (so clients stop picking this server), then drain.
 */
import { status as Status } from '@fairway/grpc';
import type { Server } from '@fairway/grpc';
import type { StreamTakeover } from './stream-takeover.js';

/** Options of {@link drainServer}. */
export interface DrainOptions {
  /** How long calls in flight may take to finish before the server is forced down, ms. Default 10_000. */
  readonly graceMs?: number;
  /**
   * Registries whose live streams are ended at once with `UNAVAILABLE` (long-lived streams never finish by
   * themselves). Default none.
   */
  readonly streams?: readonly StreamTakeover[];
  /** Status details sent to ended streams. Default `server draining: reconnect to another endpoint`. */
  readonly details?: string;
}

/** Resolves once the server has stopped; `forced` says whether the grace period ran out. */
export function drainServer(server: Server, options: DrainOptions = {}): Promise<{ readonly forced: boolean }> {
  const graceMs = options.graceMs ?? 10_000;
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    return Promise.reject(new RangeError(`drainServer: graceMs must be a finite number of milliseconds >= 0, got ${graceMs}`));
  }
  const details = options.details ?? 'server draining: reconnect to another endpoint';
  return new Promise((resolve) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      server.forceShutdown();
      resolve({ forced: true });
    }, graceMs);
    server.tryShutdown(() => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ forced: false });
    });
    for (const registry of options.streams ?? []) registry.endAll(Status.UNAVAILABLE, details);
  });
}
