/**
 * Runs the pipeline once in one balancing mode: starts etcd on loopback, the feed, 3 publishers, 6 pricers
 * and the driver; drives load for the given duration; midway restarts the pricers one by one (each
 * replacement is a new process, a new incarnation of the same instance, on the same address); feeds the live
 * view every second; and stops everything it started, whatever happens.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startEtcd, freePort, type EtcdHarness } from '@fairway/testing';
import type { BalancingMode } from './env.js';
import { spawnPipelineProcess, type PipelineProcess } from './processes.js';
import type { DriverStats } from './stats.js';
import type { ViewState } from './view.js';
import type { PipelineBundle } from './bundle.js';

export const ZONES = ['zone-a', 'zone-b', 'zone-c'] as const;

/** The pipeline's pods: 2 pricers and 1 publisher per zone, the feed in the first zone. */
export const PRICERS = ZONES.flatMap((z) => [1, 2].map((i) => ({ name: `pricer-${z.slice(-1)}-${i}`, zone: z })));
export const PUBLISHERS = ZONES.map((z) => ({ name: `publisher-${z.slice(-1)}`, zone: z }));
export const FEED = { name: 'feed-a', zone: 'zone-a' };
/** Rolling-restart order: zones interleaved, so every zone always keeps one pricer. */
const RESTART_ORDER = [0, 2, 4, 1, 3, 5].map((i) => PRICERS[i]!);

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
  /** Simulated pricing work per quote, ms. */
  readonly workMs: number;
  /** Called every second (and at phase changes) with what to show. */
  readonly onView: (v: Omit<ViewState, 'title'>) => void;
  /** Aborts the run (Ctrl-C): everything is stopped and the promise rejects. */
  readonly signal: AbortSignal;
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
  let latest: DriverStats | undefined;
  let final: DriverStats | undefined;
  let loadStartedAt = 0;
  const view = () =>
    o.onView({
      elapsedMs: loadStartedAt ? performance.now() - loadStartedAt : 0,
      durationMs: o.durationMs,
      restart: restartState,
      podNames: PRICERS.map((p) => p.name),
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

  try {
    const t0 = performance.now();
    restartState = 'starting etcd';
    view();
    etcd = await guard(startEtcd({ heartbeatIntervalMs: 100, electionTimeoutMs: 1000 }));
    aborted();
    const ports = new Map<string, number>();
    for (const p of [FEED, ...PUBLISHERS, ...PRICERS]) ports.set(p.name, await freePort());
    const addr = (n: string) => `127.0.0.1:${ports.get(n)}`;
    const common: Record<string, string> = {
      FAIRWAY_ETCD_ENDPOINTS: etcd.endpointsCsv,
      DEMO_MODE: o.mode,
      DEMO_WORK_MS: String(o.workMs),
      // The baseline's static lists, in the same order for every client (as a Service VIP would be).
      DEMO_PICK_FIRST_PRICER: PRICERS.map((p) => addr(p.name)).join(','),
      DEMO_PICK_FIRST_PUBLISHER: PUBLISHERS.map((p) => addr(p.name)).join(','),
      DEMO_PICK_FIRST_FEED: addr(FEED.name),
      ...(o.otlpUrl ? { DEMO_OTLP_URL: o.otlpUrl } : {}),
      // Trace a share of the quotes (the driver decides; every hop follows its decision).
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: String(o.traceRatio),
    };
    let generation = 0;
    // With Fairway each new incarnation gets a new port (as a new pod gets a new IP) and etcd says where; the
    // baseline has no discovery, so there a pricer comes back on its old address.
    const replacementPorts = new Map<string, number>();
    for (const p of PRICERS) replacementPorts.set(p.name, o.mode === 'fairway' ? await freePort() : ports.get(p.name)!);
    const spawnPod = (pod: { name: string; zone: string }, script: string, extra: Record<string, string> = {}, port = ports.get(pod.name)!) => {
      generation += 1;
      const p = spawnPipelineProcess({
        name: `${pod.name}.${generation}`,
        script,
        logDir,
        env: {
          ...common,
          FAIRWAY_ZONE: pod.zone,
          DEMO_INSTANCE: pod.name,
          DEMO_PORT: String(port),
          ...(o.otlpUrl ? {} : { DEMO_TRACE_FILE: join(traceDir, `${pod.name}.${generation}.json`) }),
          ...extra,
        },
      });
      procs.push(p);
      return p;
    };

    restartState = 'starting the feed, 3 publishers, 6 pricers';
    view();
    const feed = spawnPod(FEED, o.bundle.files.feed);
    const publishers = PUBLISHERS.map((p) => spawnPod(p, o.bundle.files.publisher));
    await guard(feed.waitFor('ready', READY_TIMEOUT_MS));
    const pricers = new Map<string, PipelineProcess>();
    for (const p of PRICERS) pricers.set(p.name, spawnPod(p, o.bundle.files.pricer));
    // The rolling restart's replacements: started now, they load and then wait for "go".
    const replacements = new Map<string, PipelineProcess>();
    for (const p of RESTART_ORDER) replacements.set(p.name, spawnPod(p, o.bundle.files.pricer, { DEMO_WAIT_FOR_GO: '1' }, replacementPorts.get(p.name)));
    const incarnations = new Map<string, string>();
    await guard(Promise.all(publishers.map((p) => p.waitFor('ready', READY_TIMEOUT_MS))));
    for (const [name, p] of pricers) incarnations.set(name, String((await guard(p.waitFor('ready', READY_TIMEOUT_MS))).incarnation));
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
        ...(o.otlpUrl ? {} : { DEMO_TRACE_FILE: join(traceDir, 'driver.json') }),
      },
      onMessage: (m) => {
        if (m.type === 'stats') {
          latest = m as unknown as DriverStats;
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
    restartState = `pending (starts at ${((o.durationMs * 0.25) / 1000).toFixed(0)}s)`;
    loadStartedAt = performance.now();
    driver.send({ type: 'start' });
    view();

    // Rolling restart, from a quarter of the run: one pricer at a time, zones interleaved so every zone
    // keeps a pricer. Each replacement is a new process, started (and loaded) before the load began, waiting
    // for "go". With Fairway it is a surge, as Kubernetes does it: the new incarnation starts serving on its
    // own port and registers (same instance, newer incarnation: clients switch to it at once, and the feed
    // ends the old one's stream), then the old one deregisters and drains. The baseline cannot learn a new
    // address, so there the old one stops first and the new one takes over its port.
    const replaced: { pod: string; from: string; to: string }[] = [];
    let restartStartedAtS: number | undefined;
    let restartEndedAtS: number | undefined;
    const restart = (async () => {
      await guard(sleep(o.durationMs * 0.25));
      aborted();
      restartStartedAtS = (performance.now() - loadStartedAt) / 1000;
      for (let i = 0; i < RESTART_ORDER.length; i++) {
        const pod = RESTART_ORDER[i]!;
        const fresh = replacements.get(pod.name)!;
        const old = pricers.get(pod.name)!;
        const step = `${pod.name} (${i + 1}/${RESTART_ORDER.length})`;
        if (o.mode === 'pick_first') {
          restartState = `${step}: old one stops`;
          await guard(old.stop());
          aborted();
        }
        restartState = `${step}: new incarnation starts and registers`;
        fresh.send({ type: 'go' });
        const ready = await guard(fresh.waitFor('ready', READY_TIMEOUT_MS));
        if (o.mode === 'fairway') {
          restartState = `${step}: old incarnation deregisters and drains`;
          await guard(old.stop());
          aborted();
        }
        pricers.set(pod.name, fresh);
        replaced.push({ pod: pod.name, from: incarnations.get(pod.name) ?? '', to: String(ready.incarnation) });
        incarnations.set(pod.name, String(ready.incarnation));
        await sleep(Math.min(1000, o.durationMs * 0.04));
      }
      restartEndedAtS = (performance.now() - loadStartedAt) / 1000;
      restartState = `done: ${RESTART_ORDER.length}/${RESTART_ORDER.length} pricers replaced by new processes (${restartStartedAtS.toFixed(1)}s-${restartEndedAtS.toFixed(1)}s)`;
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
      const restartOver = restartEndedAtS !== undefined || restartError !== undefined;
      const pastRestart = restartEndedAtS === undefined || now - loadStartedAt >= (restartEndedAtS + 3) * 1000;
      if (now - loadStartedAt >= o.durationMs && restartOver && pastRestart) break;
      await sleep(100);
    }
    aborted();
    if (restartError) throw restartError;
    const loadMs = performance.now() - loadStartedAt;
    driver.send({ type: 'stop' });
    await guard(driver.waitFor('final', 15_000));
    await guard(driver.exited);
    view();
    return {
      mode: o.mode,
      final: final!,
      restart: {
        done: restartEndedAtS !== undefined && replaced.length === RESTART_ORDER.length,
        restarted: replaced.length,
        of: RESTART_ORDER.length,
        ...(restartStartedAtS !== undefined ? { startedAtS: round1(restartStartedAtS) } : {}),
        ...(restartEndedAtS !== undefined ? { endedAtS: round1(restartEndedAtS) } : {}),
        replaced,
      },
      pods: PRICERS.map((p) => p.name),
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
