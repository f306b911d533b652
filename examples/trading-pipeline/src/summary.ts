/**
 * Turns an arm's final driver report into the demo's summary (printed and written as JSON), and prints the
 * pod-by-pod comparison of Fairway and pick_first.
 */
import type { ArmResult, RestartReport, PodLoadTotals, NoisyNeighbourReport } from './run-arm.js';

export interface PodSummary {
  readonly pod: string;
  readonly zone: string;
  /** `go`: a Go pricer (fairway-go-server, grpc-go) of the mixed fleet; `node`: a Node.js pricer. */
  readonly runtime: 'node' | 'go';
  readonly calls: number;
  /** Fraction of all OK calls this pod answered (0..1). */
  readonly share: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** How many incarnations of this pod answered calls (2 after a restart). */
  readonly incarnationsServed: number;
  /** True for the live step's canary: its share is configured, so it is left out of `imbalance`. */
  readonly canary?: true;
  /** The pod's own load over the run (utilization, queue, queueing delay), when it reported it. */
  readonly load?: PodLoad;
}

/** A pod's own load figures over the measured run. */
export type PodLoad = Omit<PodLoadTotals, 'role' | 'zone'>;

export interface PublisherSummary extends PodLoad {
  readonly pod: string;
  readonly zone: string;
}

export interface ArmSummary {
  readonly mode: 'fairway' | 'pick_first';
  readonly loadSeconds: number;
  readonly startupSeconds: number;
  readonly calls: {
    readonly sent: number;
    readonly ok: number;
    readonly failed: number;
    /** Sent but never answered, neither with a reply nor a status. */
    readonly lost: number;
    /** Not sent: the driver's in-flight cap was reached. */
    readonly shed: number;
  };
  readonly pods: readonly PodSummary[];
  /** 1 / number of stable pricer pods (the canary, whose share the live document sets, is not one). */
  readonly fairShare: number;
  /** The busiest stable pod. */
  readonly busiestPod: string;
  /**
   * The busiest stable pod's share of the stable pods' calls / fair share: 1.0 is perfect, 6.0 is one pod of
   * six taking everything. The canary and its calls are left out, so the figure means the same with or
   * without the live step.
   */
  readonly imbalance: number;
  /** Percent of calls that stayed in the caller's zone. */
  readonly inZonePercent: { readonly quote: number; readonly publish: number; readonly overall: number };
  readonly retries: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number };
  readonly rollingRestart: RestartReport & {
    /** Restarted pods whose new incarnation answered at least one call. */
    readonly newIncarnationsServing: number;
  };
  readonly errors: Readonly<Record<string, number>>;
  /** The publishers' own load (they are called by the pricers). */
  readonly publishers: readonly PublisherSummary[];
  /** The noisy neighbour's event and the pod's share of calls during it. */
  readonly noisyNeighbour?: NoisyNeighbourReport;
  /** The live step (Fairway arm): the documents, what the driver's clients applied, the canary's share, halts. */
  readonly liveStep?: LiveStepSummary;
}

/** The live step as the driver's Fairway clients lived it (revisions, canary calls and halts are theirs). */
export interface LiveStepSummary {
  readonly canaryPod: string;
  readonly canaryZone: string;
  /** When the canary registered, s since the measured run's start. */
  readonly canaryReadyAtS?: number;
  /** Each document the runner wrote, in order, with what the driver's clients did under it. */
  readonly revisions: readonly LiveRevisionSummary[];
  /** Every zone client ran its calls under the last document by the end. */
  readonly allApplied: boolean;
  /** The canary's OK calls over the run and their share of all OK calls. */
  readonly canaryCalls: number;
  readonly canaryShare: number;
  /** Percent of the canary's calls from its own zone's client (the rest crossed zones: the share is per client). */
  readonly canaryInZonePercent: number;
  /** The slow canary: when its CPU was cut, and to what share. */
  readonly slowedAtS?: number;
  readonly slowFactor?: number;
  /** Automatic halts the zone clients announced, with the reason. */
  readonly halts: readonly { readonly zone: string; readonly atS: number; readonly reason: string; readonly revision: number }[];
}

export interface LiveRevisionSummary {
  /** The etcd revision of the document (the `fairway.config.revision` on the attempt spans). */
  readonly revision: number;
  /** The canary share the document sets. */
  readonly targetShare: number;
  /** When the runner wrote it, s since the measured run's start. */
  readonly writtenAtS: number;
  /** Per zone client, when its first call under it started (s); absent: it never ran one. */
  readonly appliedAtSByZone: Readonly<Record<string, number>>;
  /** When the last zone client started its first call under it (s); absent until all did. */
  readonly appliedAtS?: number;
  /** OK calls under it (before a client halted the canary). */
  readonly calls: number;
  /** Of those, the calls picked under canary routing (once the client knew the canary), and the canary's. */
  readonly routedCalls: number;
  readonly canaryCalls: number;
  /** The canary's share of the routed calls: the figure to hold against `targetShare`. */
  readonly measuredShare: number;
  /** OK calls under it by clients that had halted the canary (none go to it). */
  readonly callsAfterHalt: number;
}

export interface TraceSummary {
  readonly kind: 'jaeger-json-file' | 'otlp';
  /** The Jaeger JSON file (kind `jaeger-json-file`). */
  readonly file?: string;
  /** The OTLP URL (kind `otlp`). */
  readonly url?: string;
  readonly traces?: number;
  readonly spans?: number;
}

export interface DemoSummary {
  readonly version: 1;
  readonly finishedAt: string;
  readonly durationSeconds: number;
  readonly ratePerSecond: number;
  readonly arms: { readonly fairway?: ArmSummary; readonly pick_first?: ArmSummary };
  readonly comparison?: {
    readonly fairwayImbalance: number;
    readonly pickFirstImbalance: number;
    /** pick_first's imbalance / Fairway's. */
    readonly ratio: number;
    readonly fairwayP99Ms: number;
    readonly pickFirstP99Ms: number;
    /** Fairway's p99 / pick_first's (below 1: Fairway is faster in the tail). */
    readonly p99Ratio: number;
  };
  readonly traces: TraceSummary;
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const percent = (a: number, b: number) => (a + b === 0 ? 0 : r1((100 * a) / (a + b)));

/** Summarises one arm. */
export function summarizeArm(arm: ArmResult): ArmSummary {
  const f = arm.final;
  const loadOf = (name: string): PodLoad | undefined => {
    const l = arm.podLoad[name];
    if (!l) return undefined;
    const { role: _role, zone: _zone, ...rest } = l;
    return rest;
  };
  const pods: PodSummary[] = arm.pods.map((name) => {
    const p = f.pods[name];
    const load = loadOf(name);
    return {
      pod: name,
      zone: p?.zone ?? '',
      runtime: arm.goPods.includes(name) ? 'go' : 'node',
      calls: p?.calls ?? 0,
      share: f.ok > 0 ? r3((p?.calls ?? 0) / f.ok) : 0,
      p50Ms: p?.p50Ms ?? 0,
      p99Ms: p?.p99Ms ?? 0,
      incarnationsServed: p?.incarnations.length ?? 0,
      ...(arm.canaryPods.includes(name) ? { canary: true as const } : {}),
      ...(load ? { load } : {}),
    };
  });
  const publishers: PublisherSummary[] = Object.entries(arm.podLoad)
    .filter(([, l]) => l.role === 'publisher')
    .map(([pod, l]) => ({ pod, zone: l.zone, ...loadOf(pod)! }));
  const stable = pods.filter((p) => !p.canary);
  const fairShare = 1 / Math.max(1, stable.length);
  const busiest = stable.reduce((a, b) => (b.calls > a.calls ? b : a), stable[0]!);
  const stableCalls = f.ok - pods.filter((p) => p.canary).reduce((n, p) => n + p.calls, 0);
  const newIncarnationsServing = arm.restart.replaced.filter((r) => f.pods[r.pod]?.incarnations.includes(r.to)).length;
  return {
    mode: arm.mode,
    loadSeconds: r1(arm.loadMs / 1000),
    startupSeconds: r1(arm.startupMs / 1000),
    calls: { sent: f.sent, ok: f.ok, failed: f.failed, lost: Math.max(0, f.sent - f.ok - f.failed), shed: f.shed },
    pods,
    fairShare: r3(fairShare),
    busiestPod: busiest.pod,
    imbalance: stableCalls > 0 ? Math.round((busiest.calls / stableCalls / fairShare) * 100) / 100 : 0,
    inZonePercent: {
      quote: percent(f.inZone, f.crossZone),
      publish: percent(f.publishInZone, f.publishCrossZone),
      overall: percent(f.inZone + f.publishInZone, f.crossZone + f.publishCrossZone),
    },
    retries: f.retries,
    latencyMs: { p50: f.p50Ms, p99: f.p99Ms },
    rollingRestart: { ...arm.restart, newIncarnationsServing },
    errors: f.errors,
    publishers,
    ...(arm.noisyNeighbour ? { noisyNeighbour: arm.noisyNeighbour } : {}),
    ...(arm.liveStep ? { liveStep: summarizeLiveStep(arm) } : {}),
  };
}

/** The live step: each document the runner wrote, matched with what the driver's clients ran under it. */
export function summarizeLiveStep(arm: ArmResult): LiveStepSummary {
  const run = arm.liveStep!;
  const live = arm.final.live;
  const zones = Object.keys(live?.revisionByZone ?? {}).sort();
  const s = (ms: number) => r1(ms / 1000);
  const revisions: LiveRevisionSummary[] = run.documents.map((d) => {
    const seen = live?.revisions[String(d.revision)];
    const byZone = Object.fromEntries(Object.entries(seen?.firstSeenMsByZone ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([z, ms]) => [z, s(ms)]));
    const all = zones.length > 0 && zones.every((z) => byZone[z] !== undefined);
    const calls = seen?.calls ?? 0;
    const routedCalls = seen?.routedCalls ?? 0;
    const canaryCalls = seen?.canaryCalls ?? 0;
    return {
      revision: d.revision,
      targetShare: d.share,
      writtenAtS: d.writtenAtS,
      appliedAtSByZone: byZone,
      ...(all ? { appliedAtS: Math.max(...zones.map((z) => byZone[z]!)) } : {}),
      calls,
      routedCalls,
      canaryCalls,
      measuredShare: routedCalls > 0 ? r3(canaryCalls / routedCalls) : 0,
      callsAfterHalt: seen?.callsAfterHalt ?? 0,
    };
  });
  const last = run.documents.at(-1);
  const canaryCalls = arm.final.pods[run.canaryPod]?.calls ?? 0;
  return {
    canaryPod: run.canaryPod,
    canaryZone: run.canaryZone,
    ...(run.canaryReadyAtS !== undefined ? { canaryReadyAtS: run.canaryReadyAtS } : {}),
    revisions,
    allApplied: last !== undefined && zones.length > 0 && zones.every((z) => live!.revisionByZone[z] === last.revision),
    canaryCalls,
    canaryShare: arm.final.ok > 0 ? r3(canaryCalls / arm.final.ok) : 0,
    canaryInZonePercent: percent(live?.canaryInZone ?? 0, live?.canaryCrossZone ?? 0),
    ...(run.slowedAtS !== undefined ? { slowedAtS: run.slowedAtS, slowFactor: run.slowFactor! } : {}),
    halts: (live?.halts ?? []).map((h) => ({ zone: h.zone, atS: s(h.atMs), reason: h.reason, revision: h.revision })),
  };
}

/** The printed lines of the live step. */
export function formatLiveStep(l: LiveStepSummary): string[] {
  const lines = [
    `  live step: canary ${l.canaryPod} (${l.canaryZone})${l.canaryReadyAtS !== undefined ? ` registered at ${l.canaryReadyAtS}s` : ' never registered'}; ` +
      `${l.allApplied ? "every zone client of the driver ran under the last document, no restart" : 'NOT every zone client ran under the last document'}`,
  ];
  for (const r of l.revisions) {
    lines.push(
      `    rev ${r.revision} (canary ${pct(r.targetShare)}): written at ${r.writtenAtS}s, ` +
        (r.appliedAtS !== undefined ? `applied by every zone client by ${r.appliedAtS}s` : `applied by ${Object.keys(r.appliedAtSByZone).join(', ') || 'no client'}`) +
        `; the canary took ${pct(r.measuredShare)} of its ${r.routedCalls} calls with canary routing (target ${pct(r.targetShare)}` +
        (r.calls > r.routedCalls ? `; ${r.calls - r.routedCalls} more before a client knew the canary` : '') +
        ')' +
        (r.callsAfterHalt > 0 ? `, then none of ${r.callsAfterHalt} after the halt` : ''),
    );
  }
  lines.push(`    canary: ${l.canaryCalls} calls, ${pct(l.canaryShare)} of the run's; ${l.canaryInZonePercent}% of them from its own zone's client (left out of in-zone and imbalance)`);
  if (l.slowedAtS !== undefined) lines.push(`    slow canary: it kept ${pct(l.slowFactor ?? 0)} of its CPU from ${l.slowedAtS}s`);
  if (l.halts.length > 0) {
    for (const h of l.halts) lines.push(`    canary halted by the ${h.zone} client at ${h.atS}s (rev ${h.revision}): ${h.reason}`);
  } else if (l.slowedAtS !== undefined) lines.push('    canary NOT halted');
  return lines;
}

const pad = (s: string | number, n: number) => String(s).padEnd(n);
const lpad = (s: string | number, n: number) => String(s).padStart(n);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** The printed summary of one arm. */
export function formatArm(a: ArmSummary): string[] {
  const name = a.mode === 'fairway' ? 'Fairway (p2c peak-EWMA, zone-aware, via etcd)' : "grpc-js default (pick_first)";
  const lines = [`${name}: ${a.loadSeconds}s of load`];
  lines.push(
    `  ${pad('pricer pod', 16)}${pad('zone', 8)}${lpad('calls', 7)}${lpad('share', 8)}${lpad('p50 ms', 8)}${lpad('p99 ms', 8)}${lpad('util', 7)}${lpad('max queue', 11)}${lpad('queued p99 ms', 15)}`,
  );
  const loadCols = (l: PodLoad | undefined) =>
    l ? `${lpad(pct(l.utilization), 7)}${lpad(l.maxQueueLength, 11)}${lpad(l.worstQueueDelayP99Ms.toFixed(1), 15)}` : '';
  for (const p of a.pods) {
    lines.push(`  ${pad(p.pod, 16)}${pad(p.zone, 8)}${lpad(p.calls, 7)}${lpad(pct(p.share), 8)}${lpad(p.p50Ms.toFixed(1), 8)}${lpad(p.p99Ms.toFixed(1), 8)}${loadCols(p.load)}`);
  }
  for (const p of a.publishers) {
    lines.push(`  ${pad(p.pod, 16)}${pad(p.zone, 8)}${lpad(p.served, 7)}${lpad('', 8)}${lpad('', 8)}${lpad('', 8)}${loadCols(p)}`);
  }
  if (a.pods.some((p) => p.load)) {
    lines.push(`  (util: busy share of the pod's slots; queued p99: its worst second's p99 wait for a slot)`);
    const go = a.pods.filter((p) => p.runtime === 'go');
    if (go.length) lines.push(`  go: ${go.map((p) => p.pod).join(', ')} are Go pricers (grpc-go, the same capacity), ${pct(go.reduce((n, p) => n + p.share, 0))} of the calls`);
    // The Go pricers have no event loop (they report 0): only the Node pods tell how late the host ran them.
    const lag = [...a.pods.filter((p) => p.runtime === 'node').map((p) => p.load?.eventLoopDelayP99Ms ?? 0), ...a.publishers.map((p) => p.eventLoopDelayP99Ms)].sort((x, y) => x - y);
    lines.push(`  host: the pods' event loops ran late by ${lag[Math.floor(lag.length / 2)]!.toFixed(1)} ms at p99 (median pod; a busy machine delays every hop by as much)`);
  }
  lines.push(
    `  imbalance: ${a.imbalance.toFixed(2)} (busiest pod ${a.busiestPod} / fair share ${pct(a.fairShare)}; 1.00 is perfect` +
      (a.pods.some((p) => p.canary) ? '; stable pods only' : '') +
      ')',
  );
  lines.push(`  in-zone: ${a.inZonePercent.overall}% (driver->pricer ${a.inZonePercent.quote}%, pricer->publisher ${a.inZonePercent.publish}%)`);
  lines.push(
    `  calls: ${a.calls.sent} sent, ${a.calls.ok} ok, ${a.calls.failed} failed, ${a.calls.lost} lost` +
      (a.calls.shed ? `, ${a.calls.shed} shed` : '') +
      `; retries ${a.retries}; p50 ${a.latencyMs.p50} ms, p99 ${a.latencyMs.p99} ms`,
  );
  const rr = a.rollingRestart;
  lines.push(
    rr.done
      ? `  rolling restart: done, ${rr.restarted}/${rr.of} pricers replaced by new processes (${rr.startedAtS}s-${rr.endedAtS}s), ${rr.newIncarnationsServing} new incarnations served calls`
      : `  rolling restart: NOT done (${rr.restarted}/${rr.of})`,
  );
  const nn = a.noisyNeighbour;
  if (nn) {
    lines.push(
      `  noisy neighbour: ${nn.pod} kept ${pct(nn.factor)} of its CPU from ${nn.fromS}s to ${nn.toS}s; it answered ${pct(nn.shareDuring)} of the calls then` +
        ` (its share of the fleet's capacity: ${pct(nn.capacityShareDuring)}; fair share ${pct(a.fairShare)})`,
    );
  }
  if (a.liveStep) lines.push(...formatLiveStep(a.liveStep));
  for (const [e, n] of Object.entries(a.errors)) lines.push(`  error x${n}: ${e}`);
  return lines;
}

/** Fairway and pick_first side by side, pod by pod. */
export function formatComparison(f: ArmSummary, p: ArmSummary): string[] {
  const lines = ['Pod by pod: share of calls (fair share ' + pct(f.fairShare) + ')'];
  lines.push(`  ${pad('pricer pod', 16)}${pad('zone', 8)}${lpad('Fairway', 9)}${lpad('pick_first', 12)}`);
  for (const pod of f.pods) {
    const q = p.pods.find((x) => x.pod === pod.pod);
    const hot = (q && q.pod === p.busiestPod ? '  <- hot pod' : '') + (pod.canary ? '  (canary: Fairway gives it the configured share; pick_first cannot)' : '');
    lines.push(`  ${pad(pod.pod, 16)}${pad(pod.zone, 8)}${lpad(pct(pod.share), 9)}${lpad(pct(q?.share ?? 0), 12)}${hot}`);
  }
  lines.push(`  imbalance:              ${lpad(f.imbalance.toFixed(2), 7)}${lpad(p.imbalance.toFixed(2), 12)}`);
  lines.push(`  in-zone:                ${lpad(f.inZonePercent.overall + '%', 7)}${lpad(p.inZonePercent.overall + '%', 12)}`);
  lines.push(`  p50 ms:                 ${lpad(f.latencyMs.p50, 7)}${lpad(p.latencyMs.p50, 12)}`);
  lines.push(`  p99 ms:                 ${lpad(f.latencyMs.p99, 7)}${lpad(p.latencyMs.p99, 12)}   (Fairway's p99 is ${(f.latencyMs.p99 / Math.max(0.01, p.latencyMs.p99)).toFixed(2)} x pick_first's)`);
  const busiest = (a: ArmSummary) => a.pods.find((x) => x.pod === a.busiestPod)?.load;
  const fb = busiest(f);
  const pb = busiest(p);
  if (fb && pb) {
    lines.push(`  busiest pod's util:     ${lpad(pct(fb.utilization), 7)}${lpad(pct(pb.utilization), 12)}`);
    lines.push(`  busiest pod's max queue:${lpad(fb.maxQueueLength, 7)}${lpad(pb.maxQueueLength, 12)}`);
  }
  lines.push(`  failed calls:           ${lpad(f.calls.failed, 7)}${lpad(p.calls.failed, 12)}`);
  return lines;
}
