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
import { createClient, registerAll, registerDiscoveryScheme, isDiscoverySchemeRegistered } from 'fairway';
import { createEtcdSource } from '@fairway/discovery-etcd';
import { serveAndRegisterInEtcd } from '@fairway/server';
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

/** Turns traces and metrics on for this process (a Jaeger JSON file, or OTLP when DEMO_OTLP_URL is set). */
export async function setupPodTelemetry(_env: PodEnv, _serviceName: string): Promise<PodTelemetry> {
  return { observers: [], shutdown: async () => {} };
}

/**
 * A client for one of the pipeline's services: through Fairway (`etcd:///<service>`, this process's zone)
 * or, in `pick_first` mode, a plain grpc-js client on the static address list.
 */
export function makeClient(
  ctor: ServiceClientConstructor,
  service: PipelineService,
  env: PodEnv,
  telemetry: PodTelemetry,
  extraObservers: readonly CallObserverFactory[] = [],
): Client {
  if (env.mode === 'pick_first') {
    const list = service === 'pricer' ? env.pickFirst.pricer : service === 'publisher' ? env.pickFirst.publisher : env.pickFirst.feed;
    if (!list) throw new Error(`pick_first mode: no address list for ${service} (DEMO_PICK_FIRST_${service.toUpperCase().replace('-', '_')})`);
    return new ctor(`ipv4:${list}`, credentials.createInsecure());
  }
  registerAll();
  if (!isDiscoverySchemeRegistered('etcd')) registerDiscoveryScheme('etcd', createEtcdSource);
  return createClient(ctor, `etcd:///${service}`, credentials.createInsecure(), {
    zone: env.zone,
    observers: [...telemetry.observers, ...extraObservers],
    discovery: { etcd: { endpoints: env.etcdEndpoints } },
  });
}

export interface ServingRegistration {
  /** Deregisters from etcd, then lets calls in flight finish, then stops the server. */
  stop(): Promise<void>;
}

/** Binds the server on `env.host:env.port`, then registers `service` in etcd with this pod's zone and identity. */
export async function serveAndRegister(
  server: Server,
  creds: ServerCredentials,
  env: PodEnv,
  service: PipelineService,
): Promise<ServingRegistration> {
  const served = await serveAndRegisterInEtcd(server, {
    bind: `${env.host}:${env.port}`,
    credentials: creds,
    service,
    zone: env.zone,
    instance: env.instance,
    incarnation: env.incarnation,
    endpoints: env.etcdEndpoints,
    // Deregister, give watching clients a moment to drop this pod, then drain calls in flight.
    deregisterGraceMs: 300,
    drainTimeoutMs: 5000,
  });
  return { stop: () => served.shutdown() };
}

/** Keeps the newest stream per subscriber instance; an older one is ended when a newer one arrives. */
export function createStreamRegistry<S extends { end(): void; on(event: 'close' | 'cancelled', fn: () => void): unknown }>(
  env: PodEnv,
) {
  const byInstance = new Map<string, { incarnation: string; call: S }>();
  return {
    accept(instance: string, incarnation: string, call: S): void {
      const old = byInstance.get(instance);
      if (old && old.call !== call) {
        log(env, `${instance}: newer stream (incarnation ${incarnation}) replaces ${old.incarnation}`);
        old.call.end();
      }
      byInstance.set(instance, { incarnation, call });
      const drop = () => {
        if (byInstance.get(instance)?.call === call) byInstance.delete(instance);
      };
      call.on('close', drop);
      call.on('cancelled', drop);
    },
    current(): S[] {
      return [...byInstance.values()].map((e) => e.call);
    },
  };
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

/** When DEMO_WAIT_FOR_GO is set: tells the runner "loaded" and waits for its "go" (a replacement pod). */
export async function waitForGo(): Promise<void> {
  if (!process.env.DEMO_WAIT_FOR_GO || typeof process.send !== 'function') return;
  await new Promise<void>((resolve) => {
    const onMessage = (m: { type?: string }) => {
      if (m?.type === 'go') {
        process.off('message', onMessage);
        resolve();
      }
    };
    process.on('message', onMessage);
    process.send!({ type: 'loaded' });
  });
}
