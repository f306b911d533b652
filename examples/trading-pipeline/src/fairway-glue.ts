/**
 * The few lines each pipeline process needs from Fairway, in one place so the processes read like a user's
 * service: make a balanced client, register in etcd after binding, turn tracing on, keep the newest stream
 * per subscriber, stop gracefully on SIGTERM.
 *
 * In `pick_first` mode (the demo's baseline) clients are plain grpc-js clients on a static address list, the
 * way most services call each other today.
 */
import {
  credentials,
  type Client,
  type Server,
  type ServerCredentials,
  type ServiceClientConstructor,
} from '@grpc/grpc-js';
import type { CallObserverFactory } from '@fairway/core';
import { serveAndRegisterInEtcd, drainServer } from '@fairway/server';
import { createTelemetryObserver } from '@fairway/telemetry';
import { setupTelemetry } from '@fairway/telemetry-setup';
import type { PodEnv } from './env.js';
import { log } from './env.js';

/** The pipeline's services, as registered in etcd. */
export type PipelineService = 'pricer' | 'publisher' | 'price-feed';

export interface PodTelemetry {
  /** Call observers for Fairway clients (spans and metrics per call and attempt). */
  readonly observers: readonly CallObserverFactory[];
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * Turns traces and metrics on for this process: traces and metrics over OTLP/gRPC when DEMO_OTLP_URL is set;
 * otherwise traces into a Jaeger JSON file (DEMO_TRACE_FILE), and metrics recorded but not exported. The
 * standard OTEL_* variables (e.g. OTEL_TRACES_SAMPLER) apply.
 */
export async function setupPodTelemetry(env: PodEnv, serviceName: string): Promise<PodTelemetry> {
  // The baseline (plain grpc-js clients) is not traced: it only shows where pick_first sends the calls.
  if (env.mode === 'pick_first') return { observers: [], shutdown: async () => {} };
  const handle = setupTelemetry({
    serviceName,
    resourceAttributes: { 'service.instance.id': env.instance, 'cloud.availability_zone': env.zone },
    ...(env.otlpUrl
      ? { exporter: 'otlp-grpc' as const, endpoint: env.otlpUrl, metrics: true, metricExportIntervalMs: 5000 }
      : env.traceFile
        ? { exporter: 'jaeger-json-file' as const, file: env.traceFile }
        : { exporter: 'none' as const }),
    scheduledDelayMs: 1000,
    maxQueueSize: 8192,
  });
  return { observers: [createTelemetryObserver()], shutdown: () => handle.shutdown() };
}

/**
 * A client for one of the pipeline's services: through Fairway (`etcd:///<service>`, this process's zone)
 * or, in `pick_first` mode, a plain grpc-js client on the static address list.
 */
export async function makeClient(
  ctor: ServiceClientConstructor,
  service: PipelineService,
  env: PodEnv,
  telemetry: PodTelemetry,
  extraObservers: readonly CallObserverFactory[] = [],
): Promise<Client> {
  if (env.mode === 'pick_first') {
    const list = service === 'pricer' ? env.pickFirst.pricer : service === 'publisher' ? env.pickFirst.publisher : env.pickFirst.feed;
    if (!list) throw new Error(`pick_first mode: no address list for ${service} (DEMO_PICK_FIRST_${service.toUpperCase().replace('-', '_')})`);
    return new ctor(`ipv4:${list}`, credentials.createInsecure());
  }
  // Loaded here, not at the top, so the baseline's processes do not load Fairway's client side at all.
  const { createClient } = await import('fairway-grpc');
  const target = env.discovery === 'k8s' ? `k8s:///${service}:grpc` : `etcd:///${service}`;
  return createClient(ctor, target, credentials.createInsecure(), {
    zone: env.zone,
    observers: [...telemetry.observers, ...extraObservers],
    discovery: { etcd: { endpoints: env.etcdEndpoints } },
  });
}

export interface ServingRegistration {
  /** The port the server listens on (the one it was given, or the one the system chose for port 0). */
  readonly port: number;
  /** Deregisters from etcd, then lets calls in flight finish, then stops the server. */
  stop(): Promise<void>;
}

/**
 * Binds `host:port` (port 0: the system picks a free port, so nothing is chosen ahead and nothing can take it
 * in between). A given port that is still busy (a replacement taking over its predecessor's port while the old
 * socket closes) is retried for up to 5 s.
 */
export async function bindServer(server: Server, creds: ServerCredentials, host: string, port: number): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await new Promise<number>((resolve, reject) =>
        server.bindAsync(`${host}:${port}`, creds, (err, bound) => (err ? reject(err) : resolve(bound))),
      );
    } catch (e) {
      if (port === 0 || attempt >= 50 || !/EADDRINUSE|address already in use/i.test(String((e as Error).message))) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Binds the server on `env.host:port` (default `env.port`; 0 picks a free port), then registers `service` in
 * etcd with this pod's zone, identity and the port it got (in `k8s` discovery mode: binds only; Kubernetes
 * lists the pod).
 */
export async function serveAndRegister(
  server: Server,
  creds: ServerCredentials,
  env: PodEnv,
  service: PipelineService,
  port: number = env.port,
): Promise<ServingRegistration> {
  const bound = await bindServer(server, creds, env.host, port);
  if (env.discovery === 'k8s') {
    // Kubernetes lists the pod in the Service's EndpointSlices once its readiness probe passes, and marks it
    // terminating on deletion: nothing to register; on SIGTERM, drain.
    return { port: bound, stop: async () => void (await drainServer(server, { graceMs: 5000 })) };
  }
  // Register (retried: on a starved machine etcd's first answer can be late), then keep the lease alive.
  let served: Awaited<ReturnType<typeof serveAndRegisterInEtcd>> | undefined;
  for (let attempt = 1; served === undefined; attempt++) {
    try {
      served = await serveAndRegisterInEtcd(server, {
        address: `${env.host}:${bound}`,
        service,
        zone: env.zone,
        instance: env.instance,
        incarnation: env.incarnation,
        ...(env.canary ? { canary: true } : {}),
        endpoints: env.etcdEndpoints,
        // Deregister, give watching clients a second (the default deregisterGraceMs) to drop this pod, then drain.
        drainTimeoutMs: 5000,
      });
    } catch (e) {
      if (attempt >= 5) {
        server.forceShutdown();
        throw e;
      }
      log(env, `registration attempt ${attempt} failed (${(e as Error).message}); retrying`);
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
  return { port: bound, stop: () => served.shutdown() };
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits (0, or 1 if stopping failed; forced after 10 s). */
export function onShutdownSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), 10_000).unref();
    stop().then(
      () => process.exit(0),
      (e) => {
        process.stderr.write(`shutdown failed: ${String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/**
 * When DEMO_WAIT_FOR_GO is set: tells the runner "loaded" and waits for its "go" (a replacement pod). Resolves
 * with the port the "go" names (the baseline's replacement takes over its predecessor's port: its callers
 * have a static list), or undefined (bind any free port and register it).
 */
export async function waitForGo(): Promise<number | undefined> {
  if (!process.env.DEMO_WAIT_FOR_GO || typeof process.send !== 'function') return undefined;
  return await new Promise<number | undefined>((resolve) => {
    const onMessage = (m: { type?: string; port?: number }) => {
      if (m?.type === 'go') {
        process.off('message', onMessage);
        resolve(typeof m.port === 'number' ? m.port : undefined);
      }
    };
    process.on('message', onMessage);
    process.send!({ type: 'loaded' });
  });
}
