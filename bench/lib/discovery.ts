/**
 * Discovery back ends for B2, B6 and B7: a real etcd on loopback (the etcd harness from @fairway/testing)
 * written to directly in the etcd Go naming format (architecture.md: key `<service>/<instanceId>`, value
 * `{"Op":0,"Addr":...,"Metadata":{zone,instance,incarnation}}`), and the Kubernetes API stand-in.
 * Baselines with a built-in grpc-js policy use the very same discovery code: Fairway's resolver bridge for
 * the `etcd:` and `k8s:` schemes (registered by `fairway`'s `registerAll`), with the channel's service
 * config naming `round_robin` or `pick_first`.
 */
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import type { EtcdHarness, KubeApiStandIn, SliceSpec } from '@fairway/testing';
import { EchoClient } from './echo.js';
import { loadExport, loadFairway, type BenchFairwayOptions } from './fairway.js';
import type { BuiltinPolicy } from './baselines.js';
import type { BenchContext } from './context.js';
import { noteBroken, type ScenarioResult } from './report.js';

export interface EtcdEnv {
  readonly harness: EtcdHarness;
  readonly client: Etcd3;
  /** `host:port,...` of the etcd members (the target authority). */
  readonly authority: string;
  close(): Promise<void>;
}

/** Starts a single-member etcd; a string says why it cannot. */
export async function startEtcdEnv(): Promise<EtcdEnv | string> {
  const startEtcd = await loadExport<(o?: object) => Promise<EtcdHarness>>('@fairway/testing', 'startEtcd');
  if (typeof startEtcd === 'string') return startEtcd;
  let harness: EtcdHarness | undefined;
  let why = '';
  // A free port can be taken by another process between probing and binding: try three times.
  for (let attempt = 1; attempt <= 3 && !harness; attempt++) {
    try {
      harness = await startEtcd({ startTimeoutMs: 60_000 });
    } catch (e) {
      why = e instanceof Error ? e.message.split('\n')[0]!.slice(0, 300) : String(e);
    }
  }
  if (!harness) return `etcd could not start (3 tries): ${why}`;
  const client = new Etcd3({ hosts: harness.clientUrls.slice() });
  return {
    harness,
    client,
    authority: harness.endpoints.join(','),
    async close() {
      client.close();
      await harness.close();
    },
  };
}

export interface Registration {
  readonly address: string;
  readonly zone?: string;
  readonly instance: string;
  readonly incarnation: string;
}

export function etcdKey(service: string, instanceId: string): string {
  return `${service}/${instanceId}`;
}

export function etcdValue(r: Registration): string {
  return JSON.stringify({ Op: 0, Addr: r.address, Metadata: { ...(r.zone ? { zone: r.zone } : {}), instance: r.instance, incarnation: r.incarnation } });
}

export async function etcdPut(env: EtcdEnv, service: string, r: Registration): Promise<void> {
  await env.client.put(etcdKey(service, r.instance)).value(etcdValue(r));
}

export async function etcdDelete(env: EtcdEnv, service: string, instanceId: string): Promise<void> {
  await env.client.delete().key(etcdKey(service, instanceId));
}

let incarnationCounter = 0;
/** A fresh incarnation string: start time in ms, then a counter (newer sorts later). */
export function freshIncarnation(): string {
  return `${Date.now()}-${(++incarnationCounter).toString(36).padStart(4, '0')}`;
}

/** Makes sure `fairway`'s discovery schemes (etcd:, k8s:) are registered with grpc-js. */
export async function registerFairwaySchemes(): Promise<string | undefined> {
  const registerAll = await loadExport<() => void>('fairway-grpc', 'registerAll');
  if (typeof registerAll === 'string') return registerAll;
  registerAll();
  return undefined;
}

/** A grpc-js client with a built-in policy over a Fairway discovery target (same discovery, other policy). */
export function builtinOverDiscovery(policy: BuiltinPolicy, target: string): grpc.Client {
  return new EchoClient(target, grpc.credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [policy]: {} }] }),
  });
}

/** One variant's turn in an etcd scenario (see {@link runEtcdVariants}). */
export interface EtcdVariant {
  readonly name: 'fairway' | BuiltinPolicy;
  readonly etcd: EtcdEnv;
  /** 0-based round (variants interleave: fairway, round_robin, pick_first, fairway, ...). */
  readonly round: number;
  /** A client of this variant for an `etcd://` target: Fairway's (with `options`), or grpc-js's policy over the same discovery. */
  connect(target: string, options?: BenchFairwayOptions): grpc.Client;
}

/**
 * The frame of an etcd scenario (B2, B6): starts etcd, then runs `variant` for Fairway, round_robin and
 * pick_first in turn, `rounds` times over (interleaved), and closes etcd. A variant that cannot run here (Fairway or its discovery schemes not
 * built) is noted as skipped; one that throws is noted as broken and the others still run. Returns false, with
 * the scenario marked skipped, when etcd cannot start.
 */
export async function runEtcdVariants(ctx: BenchContext, s: ScenarioResult, variant: (v: EtcdVariant) => Promise<void>, rounds = 1): Promise<boolean> {
  const etcd = await startEtcdEnv();
  if (typeof etcd === 'string') {
    s.status = 'skipped';
    s.reason = etcd;
    return false;
  }
  try {
    const fairway = await loadFairway();
    const schemes = await registerFairwaySchemes();
    const names = ['fairway', 'round_robin', 'pick_first'] as const;
    s.variants.push(...names);
    for (let round = 0; round < rounds; round++) {
      for (const name of names) {
        let connect: EtcdVariant['connect'];
        if (name === 'fairway') {
          if (typeof fairway === 'string') {
            if (round === 0) s.notes.push(`fairway skipped: ${fairway}`);
            continue;
          }
          const f = fairway;
          connect = (target, options = {}) => f.createClient(EchoClient, target, grpc.credentials.createInsecure(), options);
        } else {
          if (schemes) {
            if (round === 0) s.notes.push(`${name} skipped: ${schemes}`);
            continue;
          }
          connect = (target) => builtinOverDiscovery(name, target);
        }
        try {
          await variant({ name, etcd, connect, round });
        } catch (e) {
          ctx.progress.end();
          noteBroken(s, rounds > 1 ? `${name} (round ${round + 1})` : name, e);
        }
      }
    }
    return true;
  } finally {
    await etcd.close();
  }
}

export interface KubeEnv {
  readonly api: KubeApiStandIn;
  readonly namespace: string;
  /** Discovery options for the `kubernetes` key of Fairway's `discovery` option. */
  readonly discovery: Record<string, unknown>;
  apply(spec: Omit<SliceSpec, 'namespace'>): void;
  remove(name: string): void;
  close(): Promise<void>;
}

export async function startKubeEnv(): Promise<KubeEnv | string> {
  const start = await loadExport<() => Promise<KubeApiStandIn>>('@fairway/testing', 'startKubeApiStandIn');
  const make = await loadExport<(s: SliceSpec) => Record<string, unknown>>('@fairway/testing', 'makeEndpointSlice');
  if (typeof start === 'string') return start;
  if (typeof make === 'string') return make;
  const api = await start();
  const namespace = 'bench';
  return {
    api,
    namespace,
    discovery: { apiServerUrl: api.url, token: api.token, caPem: api.caPem },
    apply: (spec) => void api.applySlice(make({ ...spec, namespace }) as never, namespace),
    remove: (name) => void api.deleteSlice(namespace, name),
    close: () => api.close(),
  };
}
