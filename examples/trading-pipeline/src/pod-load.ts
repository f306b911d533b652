/**
 * The capacity of a pricer or publisher pod, and what it reports about its load.
 *
 * A pod that answers after an async sleep has unlimited capacity, so a balancer that piles every call onto it
 * costs nothing and the demo could not show the harm Fairway prevents. So each pricer and publisher does its
 * work through a pod model (`createPod` from `@fairway/testing`): `slots` quotes at once (its "cores"), the
 * rest wait in a FIFO queue; each quote's work is drawn from a log-normal distribution (a tail, as real
 * services have) around the mean. The pod only sleeps: a fleet of them costs almost no CPU.
 *
 * Under the demo runner, each pod reports its load once a second over IPC (`PodLoadReport`), and takes a
 * capacity cut (`{type: 'capacity', factor}`: a noisy neighbour takes part of its CPU).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createPod, type Pod, type PodOptions } from '@fairway/testing';
import type { PodEnv } from './env.js';
import { tellParent } from './env.js';

/** Shape of the service-time tail: log-normal sigma (p99 is about 2.8 x the mean at 0.5). */
export const SERVICE_TIME_SIGMA = 0.5;

/** The pod options of a pricer (`DEMO_WORK_MS`, `DEMO_WORK_SLOTS`) or a publisher (`DEMO_PUBLISH_MS`, `DEMO_PUBLISH_SLOTS`). */
export function podOptions(role: 'pricer' | 'publisher', env: Pick<PodEnv, 'workMs' | 'workSlots' | 'publishMs' | 'publishSlots'>): PodOptions {
  const meanMs = role === 'pricer' ? env.workMs : env.publishMs;
  const slots = role === 'pricer' ? env.workSlots : env.publishSlots;
  return { slots, serviceTime: meanMs > 0 ? { kind: 'lognormal', meanMs, sigma: SERVICE_TIME_SIGMA } : { kind: 'fixed', ms: 0 } };
}

/** What a pod tells the runner every second. */
export interface PodLoadReport {
  readonly type: 'pod-load';
  readonly role: 'pricer' | 'publisher';
  readonly instance: string;
  readonly zone: string;
  readonly incarnation: string;
  readonly slots: number;
  /** The window this report covers, ms (about 1 s). */
  readonly windowMs: number;
  /** Quotes served in the window. */
  readonly served: number;
  /** Occupied slot-time / (slots x window), 0..1. */
  readonly utilization: number;
  /** Quotes waiting for a slot now, and the most that waited at once in the window. */
  readonly queueLength: number;
  readonly maxQueueLength: number;
  /** Quotes in a slot now. */
  readonly inService: number;
  /** Queueing delay of the quotes that got a slot in the window, ms. */
  readonly queueDelayMeanMs: number;
  readonly queueDelayP99Ms: number;
  /** Quotes per second the pod can serve now, and the share of its CPU it has (1 = all). */
  readonly capacityPerSec: number;
  readonly capacityFactor: number;
  /**
   * p99 of this process's event-loop delay in the window, ms: how late its timers and I/O callbacks ran
   * because the host's CPU was busy (not the pod's queue). It delays every reply of the pod by as much.
   */
  readonly eventLoopDelayP99Ms: number;
  /** `go` from a Go pricer (fairway-go-server, which reports 0 event-loop delay: it has none); absent from Node pods. */
  readonly runtime?: 'go';
}

/**
 * Makes the pod and, when there is a runner (an IPC channel), reports its load every second and obeys
 * `{type: 'capacity', factor}`. The report timer does not keep the process alive.
 */
export function startPod(role: 'pricer' | 'publisher', env: PodEnv, identity: () => { incarnation: string }): Pod {
  const options = podOptions(role, env);
  const pod = createPod(options);
  if (typeof process.send !== 'function') return pod;
  process.on('message', (m: { type?: string; factor?: number }) => {
    if (m?.type === 'capacity' && typeof m.factor === 'number') pod.setCapacityFactor(m.factor);
  });
  // 20 ms: 50 wake-ups a second per pod, enough for a p99 over a second, cheap on a busy host.
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  const timer = setInterval(() => {
    const s = pod.stats();
    pod.resetStats();
    const eventLoopDelayP99Ms = Math.round(loopDelay.percentile(99) / 1e5) / 10;
    loopDelay.reset();
    const report: PodLoadReport = {
      type: 'pod-load',
      role,
      instance: env.instance,
      zone: env.zone,
      incarnation: identity().incarnation,
      slots: options.slots,
      windowMs: s.windowMs,
      served: s.served,
      utilization: s.utilization,
      queueLength: s.queueLength,
      maxQueueLength: s.maxQueueLength,
      inService: s.inService,
      queueDelayMeanMs: s.queueDelayMs.mean,
      queueDelayP99Ms: s.queueDelayMs.p99,
      capacityPerSec: s.capacityPerSec,
      capacityFactor: s.capacityFactor,
      eventLoopDelayP99Ms,
    };
    void tellParent(report as unknown as Record<string, unknown>);
  }, 1000);
  timer.unref();
  return pod;
}
