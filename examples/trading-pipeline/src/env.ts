/**
 * What each pipeline process reads from its environment. The demo runner sets these; in Kubernetes the
 * manifests in `k8s/` set them (FAIRWAY_ZONE from the node's zone label, see k8s/README.md).
 */
import { newIncarnation } from '@fairway/core';

/** `fairway`: every hop balanced by Fairway over etcd. `pick_first`: plain grpc-js clients (the baseline). */
export type BalancingMode = 'fairway' | 'pick_first';

export interface PodEnv {
  /** Stable instance name, e.g. `pricer-zone-a-1` (DEMO_INSTANCE, default the host name). */
  readonly instance: string;
  /**
   * A fresh value per start: `<start ms>-<random hex>` (Fairway's `newIncarnation`); a process started ahead
   * of time takes a new one when it starts serving (see `freshIncarnation`), so it is newer than the one it replaces.
   */
  readonly incarnation: string;
  /** FAIRWAY_ZONE. */
  readonly zone: string;
  /**
   * Port to listen on (DEMO_PORT, default 50051 as in the Kubernetes manifests). 0: any free port, which the
   * process then reports (its `ready` message) and registers; the demo runner always passes 0.
   */
  readonly port: number;
  /** Host to listen on and register (DEMO_HOST, default 127.0.0.1). */
  readonly host: string;
  /** DEMO_MODE, default `fairway`. */
  readonly mode: BalancingMode;
  /**
   * DEMO_DISCOVERY, default `etcd`: services register in etcd and call `etcd:///<service>`. `k8s`: in a
   * cluster, Kubernetes lists the pods (EndpointSlices) and services call `k8s:///<service>:grpc`.
   */
  readonly discovery: 'etcd' | 'k8s';
  /** FAIRWAY_ETCD_ENDPOINTS, comma-separated host:port. */
  readonly etcdEndpoints: string;
  /** For `pick_first`: the static address lists the baseline clients use (DEMO_PICK_FIRST_<SERVICE>). */
  readonly pickFirst: { readonly pricer: string; readonly publisher: string; readonly feed: string };
  /** Where this process writes its Jaeger JSON trace file (DEMO_TRACE_FILE), if anywhere. */
  readonly traceFile?: string;
  /** OTLP/gRPC collector URL (DEMO_OTLP_URL), which replaces the trace file when set. */
  readonly otlpUrl?: string;
  /**
   * Register as a canary (DEMO_CANARY=1; registrar metadata `canary: true`): clients whose live document sets
   * `canary.share` send the canaries that share of their calls. Default false.
   */
  readonly canary?: boolean;
  /** Mean pricing work per quote, in ms at full capacity (DEMO_WORK_MS, default 30): the pricer pod's service time. */
  readonly workMs: number;
  /** Quotes a pricer works on at once, its "cores" (DEMO_WORK_SLOTS, default 2); more wait in its queue. */
  readonly workSlots: number;
  /** Mean publishing work per quote, in ms (DEMO_PUBLISH_MS, default 5): the publisher pod's service time. */
  readonly publishMs: number;
  /** Quotes a publisher works on at once (DEMO_PUBLISH_SLOTS, default 1). */
  readonly publishSlots: number;
}

/** A new incarnation id, ordered by the time it is made. */
export function freshIncarnation(): string {
  return newIncarnation(Date.now(), Math.random);
}

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${JSON.stringify(raw)} is not a non-negative number`);
  return n;
}

function slotsEnv(name: string, fallback: number): number {
  const n = intEnv(name, fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${JSON.stringify(process.env[name])} must be a whole number >= 1`);
  return n;
}

/** Reads the process environment; throws an error naming the variable when one is malformed or missing. */
export function readPodEnv(defaults: { instance: string }): PodEnv {
  const mode = (process.env.DEMO_MODE ?? 'fairway') as BalancingMode;
  if (mode !== 'fairway' && mode !== 'pick_first') {
    throw new Error(`DEMO_MODE=${JSON.stringify(mode)}: expected "fairway" or "pick_first"`);
  }
  const zone = process.env.FAIRWAY_ZONE ?? '';
  if (zone === '') throw new Error('FAIRWAY_ZONE is not set: every pipeline process needs its zone');
  const discovery = (process.env.DEMO_DISCOVERY ?? 'etcd') as 'etcd' | 'k8s';
  if (discovery !== 'etcd' && discovery !== 'k8s') {
    throw new Error(`DEMO_DISCOVERY=${JSON.stringify(discovery)}: expected "etcd" or "k8s"`);
  }
  const traceFile = process.env.DEMO_TRACE_FILE;
  const otlpUrl = process.env.DEMO_OTLP_URL;
  return {
    instance: process.env.DEMO_INSTANCE || defaults.instance,
    incarnation: freshIncarnation(),
    zone,
    port: intEnv('DEMO_PORT', 50051),
    host: process.env.DEMO_HOST || '127.0.0.1',
    mode,
    discovery,
    etcdEndpoints: process.env.FAIRWAY_ETCD_ENDPOINTS ?? '127.0.0.1:2379',
    pickFirst: {
      pricer: process.env.DEMO_PICK_FIRST_PRICER ?? '',
      publisher: process.env.DEMO_PICK_FIRST_PUBLISHER ?? '',
      feed: process.env.DEMO_PICK_FIRST_FEED ?? '',
    },
    ...(traceFile ? { traceFile } : {}),
    ...(otlpUrl ? { otlpUrl } : {}),
    workMs: intEnv('DEMO_WORK_MS', 30),
    workSlots: slotsEnv('DEMO_WORK_SLOTS', 2),
    publishMs: intEnv('DEMO_PUBLISH_MS', 5),
    publishSlots: slotsEnv('DEMO_PUBLISH_SLOTS', 1),
    ...(process.env.DEMO_CANARY === '1' ? { canary: true } : {}),
  };
}

/**
 * Sends a message to the parent (the demo runner) when there is one; ignored otherwise. The promise settles
 * once the message is handed to the IPC channel (so a process may exit right after awaiting it).
 */
export function tellParent(message: Record<string, unknown>): Promise<void> {
  return new Promise((resolve) => {
    if (typeof process.send !== 'function' || !process.connected) {
      resolve();
      return;
    }
    try {
      process.send(message, undefined, {}, () => resolve());
    } catch {
      resolve(); // parent gone: nothing to tell
    }
  });
}

/** Logs one line to stderr with the process's identity. */
export function log(env: Pick<PodEnv, 'instance'>, message: string): void {
  process.stderr.write(`[${env.instance}] ${message}\n`);
}
