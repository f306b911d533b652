/**
 * One load run: the same unary call, open loop at a fixed rate (latency counted from each call's intended send
 * time, so a stalled client or server cannot hide queueing: no coordinated omission) or closed loop with N
 * calls in flight, through a Fairway client or through one of grpc-js's own policies for comparison.
 */
import { performance } from 'node:perf_hooks';
import type { CallObserverFactory, PickExplanation } from '@fairway/core';
import { Client, createClient, credentials, register, registerDiscoveryScheme, checkTarget, endpointTable, status } from '@fairway/grpc';
import { balancerRowsOf, type BalancerRow } from '../table.js';
import type { ChannelCredentials, FairwayOptions } from '@fairway/grpc';
import { createEtcdSource } from '@fairway/discovery-etcd';
import { createKubernetesSource } from '@fairway/discovery-kubernetes';
import type { LoadMethod } from './proto-method.js';
import { LoadRecorder } from './recorder.js';
import type { LatencySummary, ShareRow } from './recorder.js';

/** Open loop (`rate` calls per second) or closed loop (`concurrency` calls in flight). */
export type LoadShape = { readonly rate: number } | { readonly concurrency: number };

/** `fairway` (Fairway's policy, with its retries and zones) or a grpc-js policy name (`pick_first`, `round_robin`). */
export type LoadPolicy = 'fairway' | (string & {});

export interface LoadRunOptions {
  readonly target: string;
  readonly method: LoadMethod;
  readonly shape: LoadShape;
  /** How long to send calls, ms. Calls still in flight then are awaited (each ends by its deadline). */
  readonly durationMs: number;
  /** Each call's deadline, ms from its send. */
  readonly deadlineMs: number;
  readonly policy: LoadPolicy;
  /** Fairway's options (zone, retry, discovery...), for the `fairway` policy only. */
  readonly fairway?: FairwayOptions;
  /** Default insecure. */
  readonly credentials?: ChannelCredentials;
  /**
   * Zone of each address, learned from Fairway's pick explanations; the run adds what it learns, and a
   * grpc-js policy's run (which explains nothing) reads it to group its endpoints by zone.
   */
  readonly zones?: Map<string, string>;
  /** Called about once per `progressEveryMs` (default 1000) while the run lasts. */
  readonly onProgress?: (p: LoadProgress) => void;
  readonly progressEveryMs?: number;
  /** Called when the channel was not ready within one deadline (the run goes on). */
  readonly onNotReady?: (message: string) => void;
}

/** A progress tick. */
export interface LoadProgress {
  readonly policy: string;
  readonly elapsedMs: number;
  readonly sent: number;
  readonly ended: number;
  readonly inFlight: number;
  readonly ok: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** What one run measured (the `runs[]` items of `fairway load --json`). */
export interface LoadRunReport {
  readonly policy: string;
  /** Calls sent. */
  readonly sent: number;
  /** Calls ended (every sent call ends: OK, an error, or its deadline). */
  readonly ended: number;
  /** Calls that took more than one attempt (Fairway's timeout-only retries). */
  readonly retried: number;
  /** Attempts in all. */
  readonly attempts: number;
  /** How long calls were sent, ms. */
  readonly sendingMs: number;
  /** From the first send to the last call's end, ms. */
  readonly elapsedMs: number;
  /** Calls sent per second of sending. */
  readonly achievedRate: number;
  /** Every call, from its intended send time to its end. */
  readonly latency: LatencySummary;
  /** OK calls only. */
  readonly okLatency: LatencySummary;
  /** Calls by final status name. */
  readonly statuses: Record<string, number>;
  /** Per error status, the details of its first call. */
  readonly errorDetails: Record<string, string>;
  /** Attempts per endpoint: share, failures, latency. */
  readonly endpoints: ShareRow[];
  /** The same per zone. */
  readonly zones: ShareRow[];
  /** Endpoints the picker reported as canaries (a live document's canary routing); absent when none. */
  readonly canaryEndpoints?: string[];
  /** Why the canary was halted automatically during the run (the client's own decision); absent when it was not. */
  readonly canaryHalts?: string[];
  /**
   * The Fairway client's balancer table when the run ended (`endpointTable(client)`): READY, in flight, latency
   * estimate, outlier ejection and slow-start state per endpoint. Absent for grpc-js's own policies.
   */
  readonly balancer?: BalancerRow[];
}

const GRPC_JS_POLICIES = new Set(['pick_first', 'round_robin']);

let schemesRegistered = false;
/** The policy and every discovery scheme the CLI knows, registered into grpc-js once. */
function registerSchemes(): void {
  if (schemesRegistered) return;
  register();
  registerDiscoveryScheme('etcd', createEtcdSource);
  registerDiscoveryScheme('k8s', createKubernetesSource);
  registerDiscoveryScheme('kubernetes', createKubernetesSource);
  schemesRegistered = true;
}

/** The grpc-js policies `--compare` accepts. */
export function checkComparePolicy(name: string): string | undefined {
  return GRPC_JS_POLICIES.has(name) ? undefined : `unknown policy ${JSON.stringify(name)} (grpc-js policies: ${[...GRPC_JS_POLICIES].join(', ')})`;
}

const statusName = (code: number): string => (status as unknown as Record<number, string>)[code] ?? `CODE_${code}`;
const identity = (b: Buffer) => b;

/** Runs one load and resolves with what it measured. Never rejects for failed calls: they are counted. */
export async function runLoad(options: LoadRunOptions): Promise<LoadRunReport> {
  registerSchemes();
  checkTarget(options.target);
  const now = () => performance.now();
  const recorder = new LoadRecorder();
  const zones = options.zones ?? new Map<string, string>();
  const canaries = new Set<string>();
  const canaryHalts: string[] = [];
  const creds = options.credentials ?? credentials.createInsecure();
  const fairwayPolicy = options.policy === 'fairway';

  // Fairway: every attempt's pick, outcome and duration, from the call layer's observer.
  const observer: CallObserverFactory = {
    onCallStart() {
      let attempts = 0;
      return {
        onAttemptStart() {
          attempts++;
          const startedAt = now();
          let pick: PickExplanation | undefined;
          return {
            onPick(p) {
              pick = p;
              if (p.zone) zones.set(p.address, p.zone);
              if (p.canary?.group === 'canary') canaries.add(p.address);
              if (p.canary?.halted !== undefined) canaryHalts.push(p.canary.halted);
            },
            outgoingHeaders: () => ({}),
            onEnd(outcome) {
              recorder.attemptEnded(pick?.address ?? '(no endpoint picked)', pick?.zone, outcome.code === 0 && !outcome.timedOut, now() - startedAt);
            },
          };
        },
        onEnd() {
          if (attempts > 1) recorder.retried++;
        },
      };
    },
  };

  let client: InstanceType<typeof Client>;
  if (fairwayPolicy) {
    const fairway = options.fairway ?? {};
    client = createClient(Client, options.target, creds, { ...fairway, observers: [...(fairway.observers ?? []), observer] });
  } else {
    const problem = checkComparePolicy(options.policy);
    if (problem) throw new Error(problem);
    client = new Client(options.target, creds, {
      'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [options.policy]: {} }] }),
    });
  }

  // Connection set-up is not what a load test measures: wait (up to one deadline) until the channel is ready.
  // A target that never gets ready still runs: its calls fail and are counted by status.
  const ready = await new Promise<Error | undefined>((r) => client.waitForReady(Date.now() + options.deadlineMs, (e) => r(e ?? undefined)));
  if (ready) options.onNotReady?.(ready.message);

  let inFlight = 0;
  let okCount = 0;
  let allEnded: () => void = () => {};
  let sendingDone = false;
  const checkAllEnded = () => {
    if (sendingDone && inFlight === 0) allEnded();
  };
  /** Sends one call; resolves when it ends. `intendedAt` is when it should have been sent (open loop). */
  const send = (intendedAt: number): Promise<void> =>
    new Promise((resolve) => {
      recorder.sent++;
      inFlight++;
      const sentAt = now();
      const call = client.makeUnaryRequest(
        options.method.path,
        identity,
        identity,
        options.method.requestBytes,
        { deadline: Date.now() + options.deadlineMs },
        (error) => {
          const code = error ? (error as { code?: number }).code ?? status.UNKNOWN : status.OK;
          const endedAt = now();
          if (!fairwayPolicy) {
            // grpc-js's own policies explain nothing: the peer of the (only) attempt says where it went.
            const peer = peerOf(call);
            recorder.attemptEnded(peer, zones.get(peer), code === status.OK, endedAt - sentAt);
          }
          if (code === status.OK) okCount++;
          recorder.callEnded(statusName(code), endedAt - intendedAt, error ? (error as { details?: string }).details ?? error.message : undefined);
          inFlight--;
          resolve();
          checkAllEnded();
        },
      );
    });

  const startedAt = now();
  const progressEvery = options.progressEveryMs ?? 1000;
  const progress = setInterval(() => {
    const l = recorder.latency();
    options.onProgress?.({ policy: options.policy, elapsedMs: now() - startedAt, sent: recorder.sent, ended: recorder.ended, inFlight, ok: okCount, p50Ms: l.p50Ms, p99Ms: l.p99Ms });
  }, progressEvery);
  const ended = new Promise<void>((r) => (allEnded = r));
  let balancer: BalancerRow[] | undefined;
  let sendingEndedAt = startedAt;
  try {
    if ('rate' in options.shape) {
      const rate = options.shape.rate;
      const total = Math.max(1, Math.floor((options.durationMs * rate) / 1000));
      await new Promise<void>((done) => {
        let i = 0;
        const tick = () => {
          const elapsed = now() - startedAt;
          const due = Math.min(total, Math.floor((elapsed * rate) / 1000) + 1);
          while (i < due) {
            void send(startedAt + (i * 1000) / rate);
            i++;
          }
          if (i >= total) return done();
          setTimeout(tick, Math.max(0, startedAt + (i * 1000) / rate - now()));
        };
        tick();
      });
    } else {
      const until = startedAt + options.durationMs;
      const worker = async () => {
        while (now() < until) await send(now());
      };
      await Promise.all(Array.from({ length: options.shape.concurrency }, worker));
    }
    sendingEndedAt = now();
    sendingDone = true;
    checkAllEnded();
    await ended;
  } finally {
    clearInterval(progress);
    if (fairwayPolicy) balancer = balancerRowsOf(endpointTable(client));
    client.close();
  }
  const sendingMs = sendingEndedAt - startedAt;
  return {
    policy: options.policy,
    sent: recorder.sent,
    ended: recorder.ended,
    retried: recorder.retried,
    attempts: recorder.attempts,
    sendingMs: Math.round(sendingMs),
    elapsedMs: Math.round(now() - startedAt),
    achievedRate: sendingMs > 0 ? Math.round((recorder.sent / sendingMs) * 1000 * 10) / 10 : 0,
    latency: recorder.latency(),
    okLatency: recorder.okLatency(),
    statuses: recorder.statusCounts(),
    errorDetails: recorder.errorDetails(),
    endpoints: recorder.endpointRows().map((r) => (r.zone === undefined && zones.has(r.key) ? { ...r, zone: zones.get(r.key)! } : r)),
    zones: recorder.zoneRows(),
    ...(canaries.size > 0 ? { canaryEndpoints: [...canaries].sort() } : {}),
    ...(canaryHalts.length > 0 ? { canaryHalts } : {}),
    ...(balancer !== undefined ? { balancer } : {}),
  };
}

/** `host:port` of the call's peer, or `(no connection)` when the call never reached one. */
function peerOf(call: { getPeer(): string }): string {
  try {
    const peer = call.getPeer();
    return peer && peer !== 'unknown' ? peer.replace(/^ipv4:|^ipv6:/, '') : '(no connection)';
  } catch {
    return '(no connection)';
  }
}
