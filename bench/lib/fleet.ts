/**
 * A fleet of pods with a capacity, seen from the benchmark: its load set as utilization (offered rate / sum
 * of capacities), the pods' own figures (utilization, queueing delay) read from their processes, and their
 * queue lengths sampled during a run (the pod model reports the queue length now, not over time).
 */
import type { PodStats } from '@fairway/testing';
import type { Endpoint, PodSpec } from './backends.js';
import { podCapacityPerSec } from './backends.js';

/** The open-loop rate (calls/s) that puts `pods` pods of this spec at `utilization` (0..1). */
export function rateForUtilization(pod: PodSpec, pods: number, utilization: number): number {
  return Math.round(podCapacityPerSec(pod) * pods * utilization);
}

/** Every pod's figures, by endpoint id (one IPC round trip per process). */
export async function podStats(endpoints: readonly Endpoint[]): Promise<Map<string, PodStats>> {
  const out = new Map<string, PodStats>();
  const procs = new Set(endpoints.map((e) => e.proc));
  const all = await Promise.all([...procs].filter((p) => p.alive).map((p) => p.stats()));
  for (const byId of all) for (const [id, st] of Object.entries(byId)) out.set(id, st);
  return out;
}

/** Starts every pod's figures afresh. */
export async function resetPodStats(endpoints: readonly Endpoint[]): Promise<void> {
  const procs = new Set(endpoints.map((e) => e.proc));
  await Promise.all([...procs].filter((p) => p.alive).map((p) => p.resetStats()));
}

/**
 * Seeds every pod's service times with `seed` (the run's seed and a label naming the phase, e.g. `42/B9`):
 * called at the start of each measured phase, it makes every round of every variant meet the same service
 * times, pod by pod (common random numbers). Differences between variants are then differences in where the
 * balancer sent the calls, not in the luck of the draw, and a variant's rounds repeat one experiment.
 */
export async function seedPods(endpoints: readonly Endpoint[], seed: string): Promise<void> {
  const procs = new Set(endpoints.map((e) => e.proc));
  await Promise.all([...procs].filter((p) => p.alive).map((p) => p.seed(seed)));
}

/**
 * Samples every pod's queue length every `everyMs` while running. Sampling costs one IPC message per
 * process per sample, so keep `everyMs` at 100 ms or more.
 */
export class QueueSampler {
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  /** id -> queue lengths seen. */
  readonly samples = new Map<string, number[]>();

  constructor(
    private readonly endpoints: readonly Endpoint[],
    private readonly everyMs = 200,
  ) {}

  start(): void {
    this.stop();
    this.samples.clear();
    this.timer = setInterval(() => {
      if (this.inFlight) return;
      this.inFlight = true;
      podStats(this.endpoints)
        .then((stats) => {
          for (const [id, st] of stats) {
            let xs = this.samples.get(id);
            if (!xs) this.samples.set(id, (xs = []));
            xs.push(st.queueLength);
          }
        })
        .catch(() => {
          /* a pod process went away mid-sample (killed by the scenario): skip this sample */
        })
        .finally(() => {
          this.inFlight = false;
        });
    }, this.everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Mean queue length of one pod over the samples (null: no sample). */
  meanOf(id: string): number | null {
    const xs = this.samples.get(id);
    return xs && xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
  }

  /** Longest queue any pod had in any sample. */
  max(): number | null {
    let m: number | null = null;
    for (const xs of this.samples.values()) for (const x of xs) m = m === null ? x : Math.max(m, x);
    return m;
  }

  /** Mean over pods of each pod's mean queue length. */
  meanPerPod(): number | null {
    const means = [...this.samples.keys()].map((id) => this.meanOf(id)).filter((x): x is number => x !== null);
    return means.length ? means.reduce((a, b) => a + b, 0) / means.length : null;
  }

  /** The largest of the pods' mean queue lengths (the hottest pod). */
  worstPodMean(): number | null {
    const means = [...this.samples.keys()].map((id) => this.meanOf(id)).filter((x): x is number => x !== null);
    return means.length ? Math.max(...means) : null;
  }
}
