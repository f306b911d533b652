/**
 * The load generator: one Pricer client per zone (as if one caller ran in each zone), each created through
 * Fairway with its zone (`etcd:///pricer`), sending quotes open-loop at random (Poisson) times at a given mean rate. Each reply names the
 * pricer pod (and the publisher behind it), so the driver counts per-pod share, in-zone traffic and latency
 * (HDR histograms) and reports them to the demo runner every second (`process.send`), or prints them when run
 * on its own. Starts on the runner's `start` message (or at once when alone), stops on `stop`, then waits for
 * every call in flight and reports a final tally: a call that got neither a reply nor a status is "lost".
 * With a live configuration document its report says what its clients applied (`live`): the revision each
 * call ran under, the canary group each pick landed in, the halts they announced (a call observer per zone).
 *
 * Env: DEMO_DRIVER_ZONES (zones to act as, default FAIRWAY_ZONE), DEMO_RATE (calls/s over all zones, default 100),
 * DEMO_DURATION_S (when run alone: seconds, 0 = until SIGTERM; default 0),
 * DEMO_DEADLINE_MS (per call, default 3000), DEMO_SEED (the arrival pattern's seed, default 'fairway-demo'), DEMO_MAX_IN_FLIGHT (per zone, default 200), plus the pod env.
 */
import { status, type Client, type ServiceError } from '@grpc/grpc-js';
import * as hdr from 'hdr-histogram-js';
import { createSeededRandom } from '@fairway/testing';
import type { CallObserverFactory, CallObserver, AttemptObserver } from '@fairway/core';
import { loadTradingProto, type QuoteReply, type QuoteRequest } from './proto.js';
import { readPodEnv, tellParent, log } from './env.js';
import { SYMBOLS } from './symbols.js';
import { setupPodTelemetry, makeClient } from './fairway-glue.js';
import type { DriverStats, PodStats, DriverLiveStats, RevisionCalls } from './stats.js';

const env = readPodEnv({ instance: 'driver' });
const zones = (process.env.DEMO_DRIVER_ZONES ?? env.zone).split(',').filter(Boolean);
const ratePerSecond = Number(process.env.DEMO_RATE ?? 100);
const deadlineMs = Number(process.env.DEMO_DEADLINE_MS ?? 3000);
const maxInFlightPerZone = Number(process.env.DEMO_MAX_IN_FLIGHT ?? 200);
const seed = process.env.DEMO_SEED ?? 'fairway-demo';
if (!(ratePerSecond > 0)) throw new Error(`DEMO_RATE=${process.env.DEMO_RATE} must be a positive number`);

const telemetry = await setupPodTelemetry(env, 'quote-driver');
const proto = loadTradingProto();

// Counts retried attempts (attempt 2+) as Fairway reports them through the call-observer contract.
let retries = 0;
const retryCounter: CallObserverFactory = {
  onCallStart(): CallObserver {
    return {
      onAttemptStart(attempt: number): AttemptObserver {
        if (attempt > 1) retries += 1;
        return { onPick() {}, outgoingHeaders: () => ({}), onEnd() {} };
      },
      onEnd() {},
    };
  },
};

// What each zone's client applied of the live configuration document, from the same call-observer contract:
// the revision every call started under, the canary group its pick landed in, the halts it announced.
interface RevisionAcc {
  calls: number;
  routedCalls: number;
  canaryCalls: number;
  callsAfterHalt: number;
  firstSeenAt: number;
  firstSeenAtByZone: Map<string, number>;
}
const revisionByZone = new Map<string, number>();
const revisions = new Map<number, RevisionAcc>();
const canaryInstances = new Set<string>();
/** Zone clients that announced a canary halt (their later calls are counted apart: the canary gets none). */
const haltedZones = new Set<string>();
const halts: { zone: string; at: number; reason: string; revision: number }[] = [];
let canaryWindowCalls = 0;
let canaryCallsTotal = 0;
let sawLiveConfig = false;
function liveObserver(zone: string): CallObserverFactory {
  return {
    onCallStart(call): CallObserver {
      const revision = call.configRevision ?? 0;
      const startedAtMs = performance.now();
      const measured = epoch === 1;
      revisionByZone.set(zone, revision);
      if (revision !== 0) sawLiveConfig = true;
      let acc = revisions.get(revision);
      if (!acc) {
        acc = { calls: 0, routedCalls: 0, canaryCalls: 0, callsAfterHalt: 0, firstSeenAt: startedAtMs, firstSeenAtByZone: new Map() };
        revisions.set(revision, acc);
      }
      if (!acc.firstSeenAtByZone.has(zone)) acc.firstSeenAtByZone.set(zone, startedAtMs);
      let group: 'canary' | 'stable' | undefined;
      const afterHalt = haltedZones.has(zone);
      return {
        onAttemptStart(): AttemptObserver {
          return {
            onPick(p) {
              group = p.canary?.group;
              if (group === 'canary' && p.instance) canaryInstances.add(p.instance);
              if (p.canary?.halted !== undefined) {
                haltedZones.add(zone);
                halts.push({ zone, at: performance.now(), reason: p.canary.halted, revision });
              }
            },
            outgoingHeaders: () => ({}),
            onEnd() {},
          };
        },
        onEnd(s) {
          if (!measured || s.code !== 0) return;
          if (afterHalt) {
            acc.callsAfterHalt += 1;
            return;
          }
          acc.calls += 1;
          if (group !== undefined) acc.routedCalls += 1;
          if (group === 'canary') acc.canaryCalls += 1;
        },
      };
    },
  };
}

type PricerClient = Client & {
  Quote(req: QuoteRequest, options: { deadline: number }, cb: (err: ServiceError | null, reply?: QuoteReply) => void): void;
};
const clients = new Map<string, PricerClient>();
for (const zone of zones) {
  clients.set(zone, (await makeClient(proto.Pricer, 'pricer', { ...env, zone }, telemetry, [retryCounter, liveObserver(zone)])) as PricerClient);
}

function histogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

interface PodAcc {
  zone: string;
  calls: number;
  window: number;
  inFlightMax: number;
  incarnations: Set<string>;
  all: hdr.Histogram;
  win: hdr.Histogram;
}
const pods = new Map<string, PodAcc>();
const totals = { sent: 0, ok: 0, failed: 0, shed: 0, inZone: 0, crossZone: 0, publishInZone: 0, publishCrossZone: 0 };
const errors = new Map<string, number>();
const canaryZone = { inZone: 0, crossZone: 0 };
const allLatency = histogram();
let windowLatency = histogram();
let windowCalls = 0;
const inFlightByZone = new Map<string, number>(zones.map((z) => [z, 0]));
let nextRequestId = 1;
/** 0 while warming up (results not counted), 1 once the measured run has started. */
let epoch = 0;

function pod(name: string, zone: string): PodAcc {
  let p = pods.get(name);
  if (!p) {
    p = { zone, calls: 0, window: 0, inFlightMax: 0, incarnations: new Set(), all: histogram(), win: histogram() };
    pods.set(name, p);
  }
  return p;
}

const symbols = Object.keys(SYMBOLS);
/** Sends one quote; latency counts from `intendedAtMs` (open loop: a late send is the caller's delay too). */
function sendOne(zone: string, intendedAtMs: number): void {
  const inFlight = inFlightByZone.get(zone)!;
  if (inFlight >= maxInFlightPerZone) {
    totals.shed += 1;
    return;
  }
  inFlightByZone.set(zone, inFlight + 1);
  const sentIn = epoch;
  if (sentIn === 1) totals.sent += 1;
  const started = intendedAtMs;
  const request: QuoteRequest = {
    symbol: symbols[nextRequestId % symbols.length]!,
    quantity: 100 + (nextRequestId % 900),
    side: nextRequestId % 2 === 0 ? 'buy' : 'sell',
    requestId: nextRequestId++,
  };
  clients.get(zone)!.Quote(request, { deadline: Date.now() + deadlineMs }, (err, reply) => {
    inFlightByZone.set(zone, inFlightByZone.get(zone)! - 1);
    if (sentIn !== 1) return; // a warm-up call: not counted
    const micros = Math.max(1, Math.round((performance.now() - started) * 1000));
    if (err || !reply) {
      totals.failed += 1;
      // Group by status and the stable part of the details (grpc-js appends timings to deadline errors).
      const key = err ? `${status[err.code] ?? err.code}: ${String(err.details).replace(/ after [\d.]+s.*$/, '').slice(0, 120)}` : 'no reply';
      const seen = errors.get(key) ?? 0;
      errors.set(key, seen + 1);
      if (seen < 3) log(env, `quote from ${zone} failed: ${key}`);
      return;
    }
    totals.ok += 1;
    windowCalls += 1;
    allLatency.recordValue(micros);
    windowLatency.recordValue(micros);
    const p = pod(reply.pod, reply.zone);
    p.calls += 1;
    p.window += 1;
    p.inFlightMax = Math.max(p.inFlightMax, reply.inFlight);
    p.incarnations.add(reply.incarnation);
    p.all.recordValue(micros);
    p.win.recordValue(micros);
    // A canary's calls are not the balancer's zone choice: the live document sends its share of every zone's
    // calls to the canary group wherever it runs. They are counted apart (live.canaryInZone, canaryCrossZone), so in-zone keeps
    // meaning what the zone-aware balancer did with the rest.
    if (canaryInstances.has(reply.pod)) {
      canaryWindowCalls += 1;
      canaryCallsTotal += 1;
      if (reply.zone === zone) canaryZone.inZone += 1;
      else canaryZone.crossZone += 1;
    } else if (reply.zone === zone) totals.inZone += 1;
    else totals.crossZone += 1;
    if (reply.publisherZone === reply.zone) totals.publishInZone += 1;
    else totals.publishCrossZone += 1;
  });
}

const ms = (h: hdr.Histogram, p: number) => (h.totalCount === 0 ? 0 : Math.round(h.getValueAtPercentile(p) / 10) / 100);

function snapshot(kind: 'stats' | 'final', elapsedMs: number): DriverStats {
  const podStats: Record<string, PodStats> = {};
  for (const [name, p] of [...pods].sort(([a], [b]) => a.localeCompare(b))) {
    podStats[name] = {
      zone: p.zone,
      calls: p.calls,
      windowCalls: p.window,
      inFlight: p.inFlightMax,
      incarnations: [...p.incarnations],
      p50Ms: kind === 'final' ? ms(p.all, 50) : ms(p.win, 50),
      p99Ms: kind === 'final' ? ms(p.all, 99) : ms(p.win, 99),
    };
  }
  return {
    type: kind,
    mode: env.mode,
    elapsedMs,
    ...totals,
    retries,
    inFlight: [...inFlightByZone.values()].reduce((a, b) => a + b, 0),
    windowCalls,
    p50Ms: kind === 'final' ? ms(allLatency, 50) : ms(windowLatency, 50),
    p99Ms: kind === 'final' ? ms(allLatency, 99) : ms(windowLatency, 99),
    errors: Object.fromEntries(errors),
    pods: podStats,
    ...(sawLiveConfig || canaryInstances.size > 0 ? { live: liveSnapshot(kind) } : {}),
  };
}

function liveSnapshot(kind: 'stats' | 'final'): DriverLiveStats {
  const since = (at: number) => Math.round(at - startedAt);
  const revs: Record<string, RevisionCalls> = {};
  for (const [rev, a] of [...revisions].sort(([x], [y]) => x - y)) {
    revs[String(rev)] = {
      calls: a.calls,
      routedCalls: a.routedCalls,
      canaryCalls: a.canaryCalls,
      callsAfterHalt: a.callsAfterHalt,
      firstSeenMs: since(a.firstSeenAt),
      firstSeenMsByZone: Object.fromEntries([...a.firstSeenAtByZone].map(([z, at]) => [z, since(at)])),
    };
  }
  return {
    revisionByZone: Object.fromEntries(revisionByZone),
    revisions: revs,
    canaryInstances: [...canaryInstances].sort(),
    canaryWindowCalls: kind === 'final' ? canaryCallsTotal : canaryWindowCalls,
    canaryInZone: canaryZone.inZone,
    canaryCrossZone: canaryZone.crossZone,
    halts: halts.map((h) => ({ zone: h.zone, atMs: since(h.at), reason: h.reason, revision: h.revision })),
  };
}

function resetWindow(): void {
  windowLatency = histogram();
  windowCalls = 0;
  canaryWindowCalls = 0;
  for (const p of pods.values()) {
    p.window = 0;
    p.inFlightMax = 0;
    p.win = histogram();
  }
}

let loadTimer: NodeJS.Timeout | undefined;
let reportTimer: NodeJS.Timeout | undefined;
let startedAt = 0;

/**
 * Warm-up: the same load, not counted, so that every channel is connected and each client's zone choice has
 * settled (a client starts with every zone open until its own zone's endpoints are READY) before measuring.
 */
function warmUp(): void {
  if (loadTimer) return;
  runLoad();
}

function start(): void {
  if (epoch === 1) return;
  epoch = 1;
  retries = 0;
  totals.shed = 0;
  pods.clear();
  // The measured run counts its own revisions and halts (warm-up calls ran before any document anyway).
  revisions.clear();
  halts.length = 0;
  haltedZones.clear();
  resetWindow();
  if (!loadTimer) runLoad();
  startedAt = performance.now();
  reportTimer = setInterval(() => {
    const s = snapshot('stats', performance.now() - startedAt);
    if (process.send) void tellParent(s as unknown as Record<string, unknown>);
    else log(env, `sent=${s.sent} ok=${s.ok} failed=${s.failed} p50=${s.p50Ms}ms p99=${s.p99Ms}ms`);
    resetWindow();
  }, 1000);
}

function runLoad(): void {
  // Open loop with Poisson arrivals: traders act independently, so quotes arrive at random, not on a beat. A
  // steady beat (one call every 1/rate s) hides the harm a hot pod does: a pod at 90 % utilization fed evenly
  // spaced calls barely queues, fed random ones it queues for several service times (M/G/c). Each arrival goes
  // to a zone at random (independent streams per zone), and the seed makes both arms of --compare see the same
  // arrival pattern. Every 5 ms the timer sends each arrival whose time has come.
  const random = createSeededRandom(seed);
  const gapMs = () => (-Math.log(1 - random()) * 1000) / ratePerSecond;
  let nextAtMs = performance.now() + gapMs();
  loadTimer = setInterval(() => {
    const now = performance.now();
    for (; nextAtMs <= now; nextAtMs += gapMs()) sendOne(zones[Math.floor(random() * zones.length)]!, nextAtMs);
  }, 5);
}

async function stop(): Promise<void> {
  if (loadTimer) clearInterval(loadTimer);
  if (reportTimer) clearInterval(reportTimer);
  // Wait for every call in flight: each has a deadline, so this ends by itself; bounded anyway.
  const waitUntil = performance.now() + deadlineMs + 2000;
  while (totals.ok + totals.failed < totals.sent && performance.now() < waitUntil) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const final = snapshot('final', performance.now() - startedAt);
  await tellParent(final as unknown as Record<string, unknown>);
  if (!process.send) console.log(JSON.stringify(final, null, 2));
  for (const c of clients.values()) c.close();
  await telemetry.shutdown();
}

process.on('message', (m: { type?: string }) => {
  if (m?.type === 'warmup') warmUp();
  if (m?.type === 'start') start();
  if (m?.type === 'stop') {
    void stop().then(
      () => process.exit(0),
      (e) => {
        log(env, `stop failed: ${String(e)}`);
        process.exit(1);
      },
    );
  }
});
process.on('SIGTERM', () => void stop().finally(() => process.exit(0)));
process.on('SIGINT', () => void stop().finally(() => process.exit(0)));

void tellParent({ type: 'ready', instance: env.instance });
if (!process.send) {
  const seconds = Number(process.env.DEMO_DURATION_S ?? 0);
  start();
  if (seconds > 0) setTimeout(() => void stop().finally(() => process.exit(0)), seconds * 1000);
}
