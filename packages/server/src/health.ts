/**
 * `grpc.health.v1.Health` for a grpc-js server, tied to drain: `setServing(false)` tells every watching
 * client NOT_SERVING at once (clients with `healthCheckConfig` in their service config take this server out of
 * their picks within a round trip), and `endWatches()` ends the watch streams, which never end by themselves
 * and would otherwise hold a graceful `tryShutdown` until it is forced.
 *
 * One status for every name served (the server as a whole, `""`, plus the names given): a server drains as a
 * whole. Unknown names answer `SERVICE_UNKNOWN` (Watch) or `NOT_FOUND` (Check), as the protocol says.
 *
 * The service definition comes from the `grpc-health-check` package; its `HealthImplementation` is not used
 * because it cannot end its watch streams.
 */
import { showValue } from '@fairway/core';
import { status as Status, healthServiceDefinition as healthDefinition } from '@fairway/grpc';
import type { Server, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@fairway/grpc';

type Serving = 'SERVING' | 'NOT_SERVING';

/** Options of {@link serveHealth}. */
export interface HealthServiceOptions {
  /**
   * Service names answered besides `""` (the server as a whole), e.g. `['pricer.Pricer']`: what clients put in
   * `healthCheckConfig.serviceName`. Default none.
   */
  readonly serviceNames?: readonly string[];
  /** Status at start. Default `true` (SERVING). */
  readonly serving?: boolean;
}

/** The health service added to a server. */
export interface HealthService {
  /** SERVING (`true`) or NOT_SERVING (`false`) for every name; watchers are told at once. */
  setServing(serving: boolean): void;
  /** Current status. */
  readonly serving: boolean;
  /** Ends every open Watch stream (status OK): call before a graceful shutdown. */
  endWatches(): void;
  /** Number of open Watch streams (for tests and diagnostics). */
  readonly watchCount: number;
}

/**
 * Adds `grpc.health.v1.Health` (Check, Watch) to `server`. Throws an `Error` naming the service when the
 * server already has a health service.
 */
export function serveHealth(server: Server, options: HealthServiceOptions = {}): HealthService {
  const names = new Set<string>(['', ...(options.serviceNames ?? [])]);
  for (const n of names) {
    if (typeof n !== 'string') throw new TypeError(`serveHealth: serviceNames must be strings, got ${showValue(n)}`);
  }
  let status: Serving = options.serving === false ? 'NOT_SERVING' : 'SERVING';
  const watches = new Map<ServerWritableStream<{ service: string }, { status: string }>, string>();
  const statusOf = (name: string): string => (names.has(name) ? status : 'SERVICE_UNKNOWN');
  try {
    server.addService(healthDefinition, {
      check: (call: ServerUnaryCall<{ service: string }, { status: string }>, callback: sendUnaryData<{ status: string }>) => {
        const name = call.request.service ?? '';
        if (!names.has(name)) callback({ code: Status.NOT_FOUND, details: `health status unknown for service ${JSON.stringify(name)}` });
        else callback(null, { status });
      },
      watch: (call: ServerWritableStream<{ service: string }, { status: string }>) => {
        const name = call.request.service ?? '';
        watches.set(call, name);
        const forget = () => watches.delete(call);
        call.on('cancelled', forget);
        call.on('error', forget);
        call.write({ status: statusOf(name) });
      },
      list: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const statuses: Record<string, { status: string }> = {};
        for (const n of names) statuses[n] = { status };
        callback(null, { statuses });
      },
    });
  } catch (err) {
    throw new Error(`serveHealth: cannot add grpc.health.v1.Health to this server (${(err as Error).message})`, { cause: err });
  }
  return {
    setServing(serving: boolean) {
      const next: Serving = serving ? 'SERVING' : 'NOT_SERVING';
      if (next === status) return;
      status = next;
      for (const [call, name] of watches) call.write({ status: statusOf(name) });
    },
    get serving() {
      return status === 'SERVING';
    },
    endWatches() {
      for (const call of [...watches.keys()]) {
        watches.delete(call);
        call.end();
      }
    },
    get watchCount() {
      return watches.size;
    },
  };
}
