/**
 * Runs the pipeline once in one balancing mode: starts etcd on loopback, the feed, 3 publishers, 6 Node
 * pricers and, when the Go binary is there, one Go pricer per zone (`fairway-go-server -runner`: grpc-go, the
 * same capacity model, registered in etcd by etcd's own Go `endpoints.Manager`), and the driver; drives load for the given duration; for a part of the run gives one pricer a noisy
 * neighbour (it keeps a fraction of its CPU); later restarts the pricers one by one (each replacement is a
 * new process, a new incarnation of the same instance); with the live step, writes the pricer service's live
 * document to etcd and starts a canary pricer, then changes the document (and may slow the canary down so the
 * clients halt it); feeds the live view every second with the driver's
 * figures and each pod's own load (queue, utilization); and stops everything it started, whatever happens.
 *
 * No port is chosen ahead: every server binds port 0 and reports the port it got in its `ready` message
 * (a probed "free" port can be taken by another process's outgoing connection before the server binds it).
 * With Fairway a replacement registers its new port in etcd. The baseline has no discovery, so its
 * callers get static address lists built from the reported ports, and there a replacement takes over its
 * stopped predecessor's port (retrying the bind while the old socket closes).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startEtcd, type EtcdHarness } from '@fairway/testing';
import { setLiveConfig } from '@fairway/discovery-etcd';
import type { BalancingMode } from './env.js';
import { spawnPipelineProcess, spawnStdioProcess, type PipelineProcess } from './processes.js';
import type { DriverStats } from './stats.js';
import type { ViewState } from './view.js';
import type { PipelineBundle } from './bundle.js';
import type { PodLoadReport } from './pod-load.js';

export const ZONES = ['zone-a', 'zone-b', 'zone-c'] as const;

/** The pipeline's pods: 2 pricers and 1 publisher per zone, the feed in the first zone. */
export const PRICERS = ZONES.flatMap((z) => [1, 2].map((i) => ({ name: `pricer-${z.slice(-1)}-${i}`, zone: z })));
/** The mixed fleet's Go pricers, one per zone (when the Go binary is available). */
export const GO_PRICERS = ZONES.map((z) => ({ name: `pricer-${z.slice(-1)}-go`, zone: z }));
export const PUBLISHERS = ZONES.map((z) => ({ name: `publisher-${z.slice(-1)}`, zone: z }));
export const FEED = { name: 'feed-a', zone: 'zone-a' };
/**
 * The live step's canary: one more Node pricer, the same capacity, registered as a canary (etcd metadata
 * `canary: true`). Not part of the rolling restart (a canary is its own Deployment).
 */
export const CANARY = { name: 'pricer-canary', zone: 'zone-b' };
/** Rolling-restart order: zones interleaved, so every zone always keeps a pricer; the Go pricers last. */
const NODE_RESTART_ORDER = [0, 2, 4, 1, 3, 5].map((i) => PRICERS[i]!);

export interface ArmOptions {
  readonly mode: BalancingMode;
  /** The compiled processes (bundle.ts). */
  readonly bundle: PipelineBundle;
  readonly durationMs: number;
  readonly ratePerSecond: number;
  /** Directory for this arm's logs and trace files (made if missing). */
  readonly workDir: string;
  /** OTLP/gRPC URL for traces; when absent every process writes a Jaeger JSON file into `workDir/traces`. */
  readonly otlpUrl?: string;
  /** Share of quotes traced (0..1). */
  readonly traceRatio: number;
  /** Mean pricing work per quote, ms (the pricer pods' service time). */
  readonly workMs: number;
  /** Quotes a pricer works on at once (its slots). Default 2. */
  readonly workSlots?: number;
  /** Mean publishing work per quote, ms. Default 5. */
  readonly publishMs?: number;
  /** The noisy neighbour: `pod` keeps `factor` of its CPU from `fromFraction` to `toFraction` of the run. */
  readonly noisyNeighbour?: NoisyNeighbour;
  /**
   * The Go pricer binary (`fairway-go-server`, built by scripts/tools/build-go-peers.sh): one Go pricer per
   * zone joins the fleet. Absent: Node pricers only.
   */
  readonly goPricerBinary?: string;
  /**
   * The live step (canary + settings change from etcd). Fairway arm: as described on {@link LiveStep}. The
   * baseline gets the same canary pod from the start, last in its static address list (equal fleets; pick_first
   * never reaches it, and has no way to give it a share), and no document.
   */
  readonly liveStep?: LiveStep;
  /** Called every second (and at phase changes) with what to show. */
  readonly onView: (v: Omit<ViewState, 'title'>) => void;
  /** Aborts the run (Ctrl-C): everything is stopped and the promise rejects. */
  readonly signal: AbortSignal;
}

/**
 * The live step (Fairway arm): at `fromFraction` of the run the runner writes the pricer service's live
 * document with a canary share (`shares[0]`) to etcd and starts the canary pod; at `changeFraction` it writes
 * the settings change (`shares[1]`). With `slowCanary` the canary keeps `factor` of its CPU from `atFraction`
 * on, and the clients' auto-halt (p99 against the stable pods', over the document's window) pulls it out.
 */
export interface LiveStep {
  readonly fromFraction: number;
  readonly changeFraction: number;
  /** The canary share of the first document and of the settings change, 0..1. */
  readonly shares: readonly [number, number];
  readonly slowCanary?: { readonly atFraction: number; readonly factor: number };
}

/** The live step as the runner performed it (what it wrote and when); the driver's figures say what applied. */
export interface LiveStepRun {
  readonly canaryPod: string;
  readonly canaryZone: string;
  /** When the canary registered, s since the measured run's start. */
  readonly canaryReadyAtS?: number;
  /** Each document written: its etcd revision, the canary share it sets, when it was written, its text. */
  readonly documents: readonly LiveDocument[];
  /** When the canary's CPU was cut, and to what share. */
  readonly slowedAtS?: number;
  readonly slowFactor?: number;
}

export interface LiveDocument {
  readonly revision: number;
  readonly share: number;
  readonly writtenAtS: number;
  readonly text: string;
}

export interface NoisyNeighbour {
  readonly pod: string;
  /** Share of its CPU the pod keeps, 0 < factor < 1. */
  readonly factor: number;
  readonly fromFraction: number;
  readonly toFraction: number;
}

/** One pod's load over the measured run, from its own reports (all its incarnations together). */
export interface PodLoadTotals {
  readonly role: 'pricer' | 'publisher';
  readonly zone: string;
  /** `go` for a Go pricer (fairway-go-server), `node` for the others. */
  readonly runtime: 'node' | 'go';
  readonly slots: number;
  /** Quotes served. */
  readonly served: number;
  /** Occupied slot-time / (slots x time), 0..1. */
  readonly utilization: number;
  /** Utilization in its busiest reported second. */
  readonly peakUtilization: number;
  /** The most quotes that waited at once. */
  readonly maxQueueLength: number;
  /** Mean queueing delay, ms, and the worst one-second p99 of it. */
  readonly queueDelayMeanMs: number;
  readonly worstQueueDelayP99Ms: number;
  /** Median over its seconds of the process's event-loop delay p99, ms: how much a busy host delayed it. */
  readonly eventLoopDelayP99Ms: number;
}

export interface NoisyNeighbourReport extends NoisyNeighbour {
  readonly fromS: number;
  readonly toS: number;
  /** Share of the calls the pod answered while its CPU was cut, and its share of the fleet's capacity then. */
  readonly shareDuring: number;
  readonly capacityShareDuring: number;
  /** Calls answered by the whole fleet during the event. */
  readonly callsDuring: number;
}

export interface RestartReport {
  readonly done: boolean;
  readonly restarted: number;
  readonly of: number;
  readonly startedAtS?: number;
  readonly endedAtS?: number;
  /** For each pricer: its old and new incarnation. */
  readonly replaced: readonly { readonly pod: string; readonly from: string; readonly to: string }[];
}

export interface ArmResult {
  readonly mode: BalancingMode;
  readonly final: DriverStats;
  readonly restart: RestartReport;
  readonly pods: readonly string[];
  /** The canary pricers among `pods` (the live step's; empty without it). */
  readonly canaryPods: readonly string[];
  /** The live step as the runner performed it (Fairway arm with the live step on). */
  readonly liveStep?: LiveStepRun;
  /** The Go pricers among `pods` (empty when the Go binary was not available). */
  readonly goPods: readonly string[];
  /** Each pricer's and publisher's own load over the measured run, by pod name. */
  readonly podLoad: Readonly<Record<string, PodLoadTotals>>;
  readonly noisyNeighbour?: NoisyNeighbourReport;
  /** ms from the first spawn until every process was ready. */
  readonly startupMs: number;
  /** How long load ran, in ms (the duration, or longer when the restart needed it). */
  readonly loadMs: number;
  readonly traceDir: string;
  readonly logDir: string;
}

const READY_TIMEOUT_MS = 180_000;
/** Load before the measured run, not counted. */
const WARMUP_MS = 3000;
/** The rolling restart starts at this fraction of the run (after the noisy neighbour has gone). */
export const RESTART_AT_FRACTION = 0.45;
/**
 * The default live step: after the noisy neighbour (10-20 %), before the rolling restart (45 %): a canary at
 * 10 % of the calls from 22 % of the run, raised to 25 % from 36 % (the first document's window is as long as
 * the gap allows: ~80 calls in the 10-s CI run); near the end (80 %, Fairway mode without
 * --compare) the canary keeps 15 % of its CPU and the auto-halt pulls it out.
 */
export const DEFAULT_LIVE_STEP: LiveStep = { fromFraction: 0.22, changeFraction: 0.36, shares: [0.1, 0.25] };
export const SLOW_CANARY = { atFraction: 0.8, factor: 0.15 };
/**
 * The canary section of the demo's documents, besides the share. The halt compares each client's canary calls
 * with its stable ones over 5 s (the default 30 s is longer than the short runs), once each group has 10 calls
 * (a zone client sends its canary ~1-4 calls/s), and halts at a p99 above 4x stable's: a healthy canary runs
 * hotter than a stable pod (it takes 10-25 % of the calls alone, the stable pods ~9 % each) and on a busy host
 * a 10-call p99 is one slow call, so 2x (the default) could halt a healthy canary; a canary at 15 % of its CPU
 * answers ~7x slower and its queue grows.
 */
export const CANARY_HALT = { p99Ratio: 4, windowMs: 5000, minCalls: 10 };

/** The live document the demo writes for a canary share (valid by `parseLiveConfig`; setLiveConfig checks). */
export function liveDocument(share: number): string {
  return JSON.stringify({ version: 1, canary: { share, halt: CANARY_HALT } });
}
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs one arm; always stops every process and etcd before it settles. */
export async function runArm(o: ArmOptions): Promise<ArmResult> {
  const logDir = join(o.workDir, 'logs');
  const traceDir = join(o.workDir, 'traces');
  mkdirSync(logDir, { recursive: true });
  mkdirSync(traceDir, { recursive: true });
  const procs: PipelineProcess[] = [];
  let etcd: EtcdHarness | undefined;
  let restartState = 'not yet';
  let noisyState = '';
  let latest: DriverStats | undefined;
  let final: DriverStats | undefined;
  let loadStartedAt = 0;
  // The latest load report of each pod (live view), and the measured run's totals (summary).
  const podLoad = new Map<string, PodLoadReport>();
  const fleet = o.goPricerBinary ? [...PRICERS, ...GO_PRICERS] : PRICERS;
  const liveStep = o.liveStep;
  const canaries = liveStep ? [CANARY] : [];
  let liveRun: { canaryReadyAtS?: number; documents: LiveDocument[]; slowedAtS?: number; slowFactor?: number } | undefined;
  let liveState = '';
  const restartOrder = o.goPricerBinary ? [...NODE_RESTART_ORDER, ...GO_PRICERS] : NODE_RESTART_ORDER;
  const loadTotals = new Map<string, { role: 'pricer' | 'publisher'; zone: string; runtime: 'node' | 'go'; slots: number; served: number; busySlotMs: number; slotMs: number; peak: number; maxQueue: number; delaySumMs: number; worstP99: number; loopDelays: number[] }>();
  const noisy = o.noisyNeighbour;
  let noisyOn = false;
  const noisyCalls = { pod: 0, all: 0 };
  let noisyFromS: number | undefined;
  let noisyToS: number | undefined;
  const onPodLoad = (r: PodLoadReport) => {
    podLoad.set(r.instance, r);
    if (!loadStartedAt) return;
    let t = loadTotals.get(r.instance);
    if (!t) {
      t = { role: r.role, zone: r.zone, runtime: r.runtime === 'go' ? 'go' : 'node', slots: r.slots, served: 0, busySlotMs: 0, slotMs: 0, peak: 0, maxQueue: 0, delaySumMs: 0, worstP99: 0, loopDelays: [] };
      loadTotals.set(r.instance, t);
    }
    t.served += r.served;
    t.busySlotMs += r.utilization * r.slots * r.windowMs;
    t.slotMs += r.slots * r.windowMs;
    t.peak = Math.max(t.peak, r.utilization);
    t.maxQueue = Math.max(t.maxQueue, r.maxQueueLength);
    t.delaySumMs += r.queueDelayMeanMs * r.served;
    t.worstP99 = Math.max(t.worstP99, r.queueDelayP99Ms);
    t.loopDelays.push(r.eventLoopDelayP99Ms);
  };
  const view = () =>
    o.onView({
      elapsedMs: loadStartedAt ? performance.now() - loadStartedAt : 0,
      durationMs: o.durationMs,
      restart: restartState,
      ...(noisyState ? { noisyNeighbour: noisyState } : {}),
      podNames: [...fleet, ...canaries].map((p) => p.name),
      podLoad: Object.fromEntries(podLoad),
      ...(liveStep
        ? {
            live: {
              canaryPods: canaries.map((p) => p.name),
              documents: liveRun?.documents ?? [],
              ...(liveState ? { runner: liveState } : {}),
              ...(o.mode === 'pick_first' ? { noDocument: `no document (pick_first reads none); ${CANARY.name} is last in its address list` } : {}),
            },
          }
        : {}),
      ...(latest ? { stats: latest } : {}),
    });
  const aborted = () => {
    if (o.signal.aborted) throw new Error('interrupted');
  };
  // Every wait below gives up at once on Ctrl-C.
  const interrupted = new Promise<never>((_, reject) => {
    if (o.signal.aborted) reject(new Error('interrupted'));
    o.signal.addEventListener('abort', () => reject(new Error('interrupted')), { once: true });
  });
  interrupted.catch(() => undefined);
  const guard = <T>(p: Promise<T>): Promise<T> => Promise.race([p, interrupted]);
  const portOf = (ready: Record<string, unknown>, name: string): number => {
    const port = ready.port;
    if (typeof port !== 'number' || !(port > 0)) throw new Error(`${name} reported no port in its ready message: ${JSON.stringify(ready)}`);
    return port;
  };

  try {
    const t0 = performance.now();
    restartState = 'starting etcd';
    view();
    etcd = await guard(startEtcd({ heartbeatIntervalMs: 100, electionTimeoutMs: 1000 }));
    aborted();
    const common: Record<string, string> = {
      FAIRWAY_ETCD_ENDPOINTS: etcd.endpointsCsv,
      DEMO_MODE: o.mode,
      DEMO_WORK_MS: String(o.workMs),
      DEMO_WORK_SLOTS: String(o.workSlots ?? 2),
      DEMO_PUBLISH_MS: String(o.publishMs ?? 5),
      // Every server binds a port the system picks, and reports it.
      DEMO_PORT: '0',
      ...(o.otlpUrl ? { DEMO_OTLP_URL: o.otlpUrl } : {}),
      // Trace a share of the quotes (the driver decides; every hop follows its decision).
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: String(o.traceRatio),
    };
    let generation = 0;
    const onMessage = (m: Record<string, unknown>) => {
      if (m.type === 'pod-load') onPodLoad(m as unknown as PodLoadReport);
    };
    const spawnPod = (pod: { name: string; zone: string }, script: string, extra: Record<string, string> = {}) => {
      generation += 1;
      const p = spawnPipelineProcess({
        name: `${pod.name}.${generation}`,
        script,
        logDir,
        env: {
          ...common,
          FAIRWAY_ZONE: pod.zone,
          DEMO_INSTANCE: pod.name,
          ...(o.otlpUrl ? {} : { DEMO_TRACE_FILE: join(traceDir, `${pod.name}.${generation}.json`) }),
          ...extra,
        },
        onMessage,
      });
      procs.push(p);
      return p;
    };
    // The baseline's static address lists, in the same order for every client (as a Service VIP would be),
    // from the ports the servers reported.
    const ports = new Map<string, number>();
    const list = (pods: readonly { name: string }[]) => pods.map((p) => `127.0.0.1:${ports.get(p.name)}`).join(',');

    // A Go pricer: the same pod model and runner protocol, over stdio. Fairway arm: registered in etcd as
    // `pricer` (instance and incarnation in its Metadata, so Fairway routes to the newest incarnation); it
    // subscribes to the feed through etcd's Go resolver and publishes to its own zone's publisher (grpc-go has
    // no zone-aware balancer; a Go team would point it at the zone's Service). Baseline: the same static
    // addresses as the Node pricers' pick_first (the feed, and the first publisher of the list). Its etcd key
    // is its process name (as a Kubernetes pod name, unique per process): the replacement of the same instance
    // then has its own key, which its predecessor's deregistration does not delete.
    const spawnGoPricer = (pod: { name: string; zone: string }, waitForGo: boolean) => {
      generation += 1;
      const name = `${pod.name}.${generation}`;
      const publisherTarget =
        o.mode === 'fairway'
          ? `passthrough:///127.0.0.1:${ports.get(PUBLISHERS[ZONES.indexOf(pod.zone as (typeof ZONES)[number])]!.name)}`
          : `passthrough:///127.0.0.1:${ports.get(PUBLISHERS[0]!.name)}`;
      const args = [
        '-runner',
        ...(waitForGo ? ['-wait-for-go'] : []),
        `-id=${pod.name}`,
        `-instance=${pod.name}`,
        `-zone=${pod.zone}`,
        `-slots=${o.workSlots ?? 2}`,
        `-work-ms=${o.workMs}`,
        `-publisher=${publisherTarget}`,
        ...(o.mode === 'fairway'
          ? [`-etcd=${etcd!.endpointsCsv}`, '-service=pricer', `-key=${name}`, '-metadata=fairway', '-feed=etcd:///price-feed']
          : [`-feed=passthrough:///127.0.0.1:${ports.get(FEED.name)}`]),
        ...(o.otlpUrl ? [] : [`-trace-file=${join(traceDir, `${name}.json`)}`]),
      ];
      const p = spawnStdioProcess({
        name,
        binary: o.goPricerBinary!,
        args,
        logDir,
        env: {
          OTEL_SERVICE_NAME: 'pricer',
          OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
          OTEL_TRACES_SAMPLER_ARG: String(o.traceRatio),
          ...(o.otlpUrl ? { OTEL_EXPORTER_OTLP_ENDPOINT: o.otlpUrl, OTEL_EXPORTER_OTLP_INSECURE: 'true' } : {}),
        },
        onMessage,
      });
      procs.push(p);
      return p;
    };
    const isGo = (name: string) => GO_PRICERS.some((g) => g.name === name);

    restartState = `starting the feed, 3 publishers, ${fleet.length} pricers`;
    view();
    const feed = spawnPod(FEED, o.bundle.files.feed);
    const publishers = PUBLISHERS.map((p) => spawnPod(p, o.bundle.files.publisher));
    ports.set(FEED.name, portOf(await guard(feed.waitFor('ready', READY_TIMEOUT_MS)), FEED.name));
    for (const [i, p] of publishers.entries()) ports.set(PUBLISHERS[i]!.name, portOf(await guard(p.waitFor('ready', READY_TIMEOUT_MS)), p.name));
    aborted();
    const pricerEnv = { DEMO_PICK_FIRST_PUBLISHER: list(PUBLISHERS), DEMO_PICK_FIRST_FEED: list([FEED]) };
    const pricers = new Map<string, PipelineProcess>();
    for (const p of PRICERS) pricers.set(p.name, spawnPod(p, o.bundle.files.pricer, pricerEnv));
    if (o.goPricerBinary) for (const p of GO_PRICERS) pricers.set(p.name, spawnGoPricer(p, false));
    // The rolling restart's replacements: started now, they load and then wait for "go".
    const replacements = new Map<string, PipelineProcess>();
    for (const p of restartOrder) {
      replacements.set(p.name, isGo(p.name) ? spawnGoPricer(p, true) : spawnPod(p, o.bundle.files.pricer, { ...pricerEnv, DEMO_WAIT_FOR_GO: '1' }));
    }
    // The live step's canary. Fairway: started now, it loads and waits for "go" (at the live step it binds a
    // port and registers as a canary). Baseline: the same pod, serving from the start, last in the static
    // address list, as a canary Deployment behind the same Service would be; pick_first never gets to it.
    let canaryProc: PipelineProcess | undefined;
    if (liveStep) {
      canaryProc = spawnPod(CANARY, o.bundle.files.pricer, { ...pricerEnv, DEMO_CANARY: '1', ...(o.mode === 'fairway' ? { DEMO_WAIT_FOR_GO: '1' } : {}) });
      if (o.mode === 'fairway') await guard(canaryProc.waitFor('loaded', READY_TIMEOUT_MS));
      else ports.set(CANARY.name, portOf(await guard(canaryProc.waitFor('ready', READY_TIMEOUT_MS)), canaryProc.name));
    }
    const incarnations = new Map<string, string>();
    for (const [name, p] of pricers) {
      const ready = await guard(p.waitFor('ready', READY_TIMEOUT_MS));
      ports.set(name, portOf(ready, p.name));
      incarnations.set(name, String(ready.incarnation));
    }
    await guard(Promise.all([...replacements.values()].map((p) => p.waitFor('loaded', READY_TIMEOUT_MS))));
    aborted();
    const driver = spawnPipelineProcess({
      name: 'driver',
      script: o.bundle.files.driver,
      logDir,
      env: {
        ...common,
        FAIRWAY_ZONE: ZONES[0],
        DEMO_INSTANCE: 'quote-driver',
        DEMO_DRIVER_ZONES: ZONES.join(','),
        DEMO_RATE: String(o.ratePerSecond),
        DEMO_PICK_FIRST_PRICER: list(o.mode === 'pick_first' ? [...fleet, ...canaries] : fleet),
        ...(o.otlpUrl ? {} : { DEMO_TRACE_FILE: join(traceDir, 'driver.json') }),
      },
      onMessage: (m) => {
        if (m.type === 'stats') {
          latest = m as unknown as DriverStats;
          if (noisyOn && noisy) {
            noisyCalls.all += latest.windowCalls;
            noisyCalls.pod += latest.pods[noisy.pod]?.windowCalls ?? 0;
          }
          view();
        } else if (m.type === 'final') {
          final = m as unknown as DriverStats;
        }
      },
    });
    procs.push(driver);
    await guard(driver.waitFor('ready', READY_TIMEOUT_MS));
    const startupMs = performance.now() - t0;
    aborted();

    // Warm-up (not counted): channels connect, each client's zone choice settles.
    restartState = `warming up for ${WARMUP_MS / 1000}s (not counted)`;
    view();
    driver.send({ type: 'warmup' });
    await guard(sleep(WARMUP_MS));
    // Load.
    restartState = `pending (starts at ${((o.durationMs * RESTART_AT_FRACTION) / 1000).toFixed(0)}s)`;
    if (noisy) noisyState = `${noisy.pod} will keep ${Math.round(noisy.factor * 100)}% of its CPU from ${((o.durationMs * noisy.fromFraction) / 1000).toFixed(0)}s to ${((o.durationMs * noisy.toFraction) / 1000).toFixed(0)}s`;
    loadStartedAt = performance.now();
    driver.send({ type: 'start' });
    view();
    const sinceStartS = () => (performance.now() - loadStartedAt) / 1000;

    // The noisy neighbour: another tenant on the pod's node takes part of its CPU for a while, so its
    // quotes take 1/factor as long. The same pod, at the same time, in both arms.
    const noisyEvent = (async () => {
      if (!noisy) return;
      await guard(sleep(o.durationMs * noisy.fromFraction));
      pricers.get(noisy.pod)?.send({ type: 'capacity', factor: noisy.factor });
      noisyOn = true;
      noisyFromS = sinceStartS();
      noisyState = `${noisy.pod} keeps ${Math.round(noisy.factor * 100)}% of its CPU now (until ${((o.durationMs * noisy.toFraction) / 1000).toFixed(0)}s)`;
      await guard(sleep(o.durationMs * (noisy.toFraction - noisy.fromFraction)));
      pricers.get(noisy.pod)?.send({ type: 'capacity', factor: 1 });
      noisyOn = false;
      noisyToS = sinceStartS();
      noisyState = `${noisy.pod} kept ${Math.round(noisy.factor * 100)}% of its CPU from ${noisyFromS.toFixed(1)}s to ${noisyToS.toFixed(1)}s; full CPU again`;
    })();
    noisyEvent.catch(() => undefined);

    // The live step (Fairway): the pricer service's live document with a canary share goes to etcd, then the
    // canary starts and registers (the document comes first: until a canary is registered it changes nothing,
    // and a canary registered before it would take an ordinary p2c share for a moment); later the settings
    // change (the share raised); optionally, near the end, the canary turns slow. The clients apply each
    // document from their etcd watch, without a restart; the view shows what the driver's clients applied.
    // The view is not redrawn at each step: a plain line would repeat the driver's last figures; the next
    // report (within a second) shows the step.
    let liveError: unknown;
    const liveEvent = (async () => {
      if (!liveStep || o.mode !== 'fairway' || !canaryProc) return;
      const run: NonNullable<typeof liveRun> = { documents: [] };
      liveRun = run;
      const pct = (x: number) => `${Math.round(x * 100)}%`;
      const untilFraction = (f: number) => sleep(Math.max(0, o.durationMs * f - (performance.now() - loadStartedAt)));
      const write = async (share: number) => {
        const text = liveDocument(share);
        const { revision } = await guard(setLiveConfig('pricer', text, { endpoints: etcd!.endpointsCsv }));
        run.documents.push({ revision, share, writtenAtS: round1(sinceStartS()), text });
        return revision;
      };
      liveState = `canary ${CANARY.name} (${CANARY.zone}) and a live document from ${((o.durationMs * liveStep.fromFraction) / 1000).toFixed(0)}s`;
      await guard(untilFraction(liveStep.fromFraction));
      aborted();
      const rev1 = await write(liveStep.shares[0]);
      liveState = `rev ${rev1} written (canary ${pct(liveStep.shares[0])}); ${CANARY.name} starts and registers as a canary`;
      canaryProc.send({ type: 'go' });
      await guard(canaryProc.waitFor('ready', READY_TIMEOUT_MS));
      run.canaryReadyAtS = round1(sinceStartS());
      liveState = `rev ${rev1} written at ${run.documents[0]!.writtenAtS}s (canary ${pct(liveStep.shares[0])}); ${CANARY.name} registered at ${run.canaryReadyAtS}s; share ${pct(liveStep.shares[1])} at ${((o.durationMs * liveStep.changeFraction) / 1000).toFixed(0)}s`;
      await guard(untilFraction(liveStep.changeFraction));
      aborted();
      const rev2 = await write(liveStep.shares[1]);
      liveState = `rev ${rev2} written at ${run.documents[1]!.writtenAtS}s: canary share ${pct(liveStep.shares[0])} -> ${pct(liveStep.shares[1])}`;
      if (!liveStep.slowCanary) return;
      await guard(untilFraction(liveStep.slowCanary.atFraction));
      aborted();
      canaryProc.send({ type: 'capacity', factor: liveStep.slowCanary.factor });
      run.slowedAtS = round1(sinceStartS());
      run.slowFactor = liveStep.slowCanary.factor;
      liveState = `${CANARY.name} keeps ${pct(liveStep.slowCanary.factor)} of its CPU since ${run.slowedAtS}s (slow canary): the clients' auto-halt should pull it out`;
    })();
    liveEvent.catch((e) => {
      liveError = e;
    });

    // Rolling restart, from RESTART_AT_FRACTION of the run: one pricer at a time, zones interleaved so every
    // zone keeps a pricer. Each replacement is a new process, started (and loaded) before the load began,
    // waiting for "go". With Fairway it is a surge, as Kubernetes does it: the new incarnation starts serving
    // on a new port and registers (same instance, newer incarnation: clients switch to it at once, and the
    // feed ends the old one's stream), then the old one deregisters and drains. The baseline cannot learn a
    // new address, so there the old one stops first and the new one takes over its port.
    const replaced: { pod: string; from: string; to: string }[] = [];
    let restartStartedAtS: number | undefined;
    let restartEndedAtS: number | undefined;
    const restart = (async () => {
      await guard(sleep(o.durationMs * RESTART_AT_FRACTION));
      aborted();
      restartStartedAtS = sinceStartS();
      for (let i = 0; i < restartOrder.length; i++) {
        const pod = restartOrder[i]!;
        const fresh = replacements.get(pod.name)!;
        const old = pricers.get(pod.name)!;
        const step = `${pod.name} (${i + 1}/${restartOrder.length})`;
        if (o.mode === 'pick_first') {
          restartState = `${step}: old one stops`;
          await guard(old.stop());
          aborted();
        }
        restartState = `${step}: new incarnation starts and registers`;
        fresh.send(o.mode === 'pick_first' ? { type: 'go', port: ports.get(pod.name) } : { type: 'go' });
        const ready = await guard(fresh.waitFor('ready', READY_TIMEOUT_MS));
        if (noisyOn && noisy?.pod === pod.name) fresh.send({ type: 'capacity', factor: noisy.factor });
        pricers.set(pod.name, fresh);
        if (o.mode === 'fairway') {
          restartState = `${step}: old incarnation deregisters and drains`;
          await guard(old.stop());
          aborted();
        }
        replaced.push({ pod: pod.name, from: incarnations.get(pod.name) ?? '', to: String(ready.incarnation) });
        incarnations.set(pod.name, String(ready.incarnation));
        await sleep(Math.min(1000, o.durationMs * 0.04));
      }
      restartEndedAtS = sinceStartS();
      restartState = `done: ${restartOrder.length}/${restartOrder.length} pricers replaced by new processes (${restartStartedAtS.toFixed(1)}s-${restartEndedAtS.toFixed(1)}s)`;
    })();
    let restartError: unknown;
    restart.catch((e) => {
      restartError = e;
    });

    // Run for the duration; keep the load on until the restart is over (at most 60 s more) so the run
    // always covers it, plus three seconds after it: the last new incarnation must be discovered, connected and
    // picked before the run ends, which on a busy 2-core machine can take more than a second.
    const hardEnd = loadStartedAt + o.durationMs + 60_000;
    while (!o.signal.aborted && performance.now() < hardEnd) {
      const now = performance.now();
      if (liveError !== undefined) break;
      const restartOver = restartEndedAtS !== undefined || restartError !== undefined;
      const pastRestart = restartEndedAtS === undefined || now - loadStartedAt >= (restartEndedAtS + 3) * 1000;
      if (now - loadStartedAt >= o.durationMs && restartOver && pastRestart) break;
      await sleep(100);
    }
    aborted();
    if (restartError) throw restartError;
    if (liveError) throw liveError;
    const loadMs = performance.now() - loadStartedAt;
    driver.send({ type: 'stop' });
    await guard(driver.waitFor('final', 15_000));
    await guard(driver.exited);
    view();
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    const totals: Record<string, PodLoadTotals> = {};
    for (const name of [...fleet, ...canaries, ...PUBLISHERS].map((p) => p.name)) {
      const t = loadTotals.get(name);
      if (!t) continue;
      totals[name] = {
        role: t.role,
        zone: t.zone,
        runtime: t.runtime,
        slots: t.slots,
        served: t.served,
        utilization: t.slotMs > 0 ? r3(t.busySlotMs / t.slotMs) : 0,
        peakUtilization: r3(t.peak),
        maxQueueLength: t.maxQueue,
        queueDelayMeanMs: t.served > 0 ? r1(t.delaySumMs / t.served) : 0,
        worstQueueDelayP99Ms: r1(t.worstP99),
        eventLoopDelayP99Ms: r1([...t.loopDelays].sort((a, b) => a - b)[Math.floor(t.loopDelays.length / 2)] ?? 0),
      };
    }
    return {
      mode: o.mode,
      final: final!,
      restart: {
        done: restartEndedAtS !== undefined && replaced.length === restartOrder.length,
        restarted: replaced.length,
        of: restartOrder.length,
        ...(restartStartedAtS !== undefined ? { startedAtS: round1(restartStartedAtS) } : {}),
        ...(restartEndedAtS !== undefined ? { endedAtS: round1(restartEndedAtS) } : {}),
        replaced,
      },
      pods: [...fleet, ...canaries].map((p) => p.name),
      canaryPods: canaries.map((p) => p.name),
      ...(liveRun
        ? {
            liveStep: {
              canaryPod: CANARY.name,
              canaryZone: CANARY.zone,
              documents: liveRun.documents,
              ...(liveRun.canaryReadyAtS !== undefined ? { canaryReadyAtS: liveRun.canaryReadyAtS } : {}),
              ...(liveRun.slowedAtS !== undefined ? { slowedAtS: liveRun.slowedAtS, slowFactor: liveRun.slowFactor! } : {}),
            },
          }
        : {}),
      goPods: o.goPricerBinary ? GO_PRICERS.map((p) => p.name) : [],
      podLoad: totals,
      ...(noisy && noisyFromS !== undefined && noisyToS !== undefined
        ? {
            noisyNeighbour: {
              ...noisy,
              fromS: round1(noisyFromS),
              toS: round1(noisyToS),
              shareDuring: noisyCalls.all > 0 ? r3(noisyCalls.pod / noisyCalls.all) : 0,
              capacityShareDuring: r3(noisy.factor / (fleet.length - 1 + noisy.factor)),
              callsDuring: noisyCalls.all,
            },
          }
        : {}),
      startupMs,
      loadMs,
      traceDir,
      logDir,
    };
  } finally {
    // Stop in reverse order: the driver, then pricers, publishers and the feed, then etcd.
    await Promise.all([...procs].reverse().map((p) => p.stop(5000).catch(() => undefined)));
    await etcd?.close().catch(() => undefined);
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
const r1 = round1;
