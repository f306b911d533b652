// The demo, end to end, as CI runs it: `--compare` in a short mode (real etcd, 15 pipeline processes per arm (3 of them Go pricers, 1 the live step's canary),
// pricers and publishers with a finite capacity, a noisy neighbour on pricer-b-1 for a tenth of the run, a
// rolling restart of the 6 pricers in each arm), then assertions on the JSON summary it writes:
//
// - Fairway: no call lost or failed, the busiest pricer's share / fair share (imbalance) <= 1.5, in-zone >=
//   70% (see the assertion), no pricer busier than 40 % (the fleet runs at 15 %), the noisy neighbour's event happened, the
//   rolling restart replaced all 6 pricers and every new incarnation served calls;
// - grpc-js's pick_first on the same pipeline: one hot pod (imbalance >= 3 and >= 1.5 x Fairway's) that runs
//   at >= 75 % utilization in its busiest second (>= 45 % over the run, which includes the restart handing its
//   traffic to its partner) and queues (its worst second's p99 wait for a slot >= one mean service time);
// - latency: Fairway's p99 <= 0.75 x pick_first's;
// - the traces: a Jaeger JSON file in which one quote's trace spans the driver, a pricer and a publisher;
// - the mixed fleet (Go is on every machine that runs this test; the demo builds interop/go once, cached):
//   each zone's Go pricer took a share of the quotes in the Fairway arm, was replaced in the rolling restart
//   by a new process with a newer incarnation that served calls, with no failed call, and one trace runs
//   driver -> Go pricer -> publisher, each hop the child of the one before (W3C context through grpc-go).
//
// - the live step (Fairway arm; in --compare without the slow canary, whose slow calls would sit in Fairway's
//   tail): both documents (canary 10 %, then 25 %) ran in every zone client of the driver, without a failed
//   call, the canary's measured share under each within the bound below, the live part in the plain lines
//   and the summary; the baseline has the same canary pod (last in its address list), no document, and never
//   calls it.
//
// And Ctrl-C during start-up stops every process the demo started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jaegerFormatProblem } from '@fairway/telemetry';
import type { DemoSummary } from './summary.js';

const DEMO = fileURLToPath(new URL('./demo.ts', import.meta.url));
const NODE_ARGS = ['--conditions=fairway:source', '--import', 'tsx', DEMO];

// Bounds for the short run, and why they differ from the default run's goals (imbalance <= 1.15, Fairway's
// p99 <= 0.5 x pick_first's; measured 1.13 and 0.39 on the idle machine):
// - 10 s at 60 quotes/s is ~600 calls, ~65 per pricer: the busiest of 9 pods is ~2 standard deviations
//   (~25 %) above its fair share by chance alone (arrivals are Poisson, each to a random zone), and the noisy
//   neighbour's second moves some calls to its zone partners; 1.5 leaves room for that and still fails a
//   balancer that piles onto one pod (pick_first's is >= 3). Measured: 1.11 idle.
// - Fairway's p99 is the 6th slowest of ~600 calls. pick_first's hot pod runs at ~90 % utilization under
//   Poisson arrivals and queues for several service times, but has only seconds to build its queue before the
//   rolling restart hands its traffic to its partner. Measured idle: 0.37. A busy CI host adds its own delay
//   (the pods' event loops run late) to the tail of both arms alike, which pulls the ratio towards 1 (a
//   100 ms host delay on both turns 0.37 into ~0.53); 0.6 still requires Fairway's tail to be well under
//   pick_first's. The queueing itself is asserted on the pods' own reports, which run in model time.
const FAIRWAY_MAX_IMBALANCE = 1.5;
const MAX_P99_RATIO = 0.6;
/** The pricers' mean service time in this run (the demo's default --work-ms). */
const WORK_MS = 30;
/** The mixed fleet: 2 Node pricers and 1 Go pricer per zone, all restarted in the rolling restart. */
const GO_PODS = ['pricer-a-go', 'pricer-b-go', 'pricer-c-go'];
/** The stable pricers (all restarted); the live step's canary comes on top. */
const PRICER_COUNT = 9;
const CANARY_POD = 'pricer-canary';

/**
 * How far the canary's measured share under one document may be from the document's share. Each call picked
 * under canary routing draws its group independently (no sticky header in the demo's document), so the
 * canary's calls are binomial: 4 standard deviations, sqrt(p (1 - p) / n), fail a correct client about once
 * in 15,000 runs. 2.5 points more cover a bias of the first document: the runner writes it before the canary
 * registers (so the canary never gets more than its share), and while a client is still connecting to the
 * just-registered canary, a call whose draw said canary goes to a stable pod, by design; up to ~300 ms of a
 * ~1.2-s window on a busy host is 2.5 points of a 10 % share. In the 10-s run the first document has 60-70
 * routed calls: its bound (~ +-17 points around 10 %) only fails a canary given far more than its share (a
 * client that routed by the wrong document, or by none: 25 % and up); that short window cannot tell 10 % from
 * 0 % at 4 standard deviations (measured 3.1 %, 9.7 %, 13.4 %). The second has 400-950 (+-8 points around
 * 25 %, which fails both a client still on 10 % and one ignoring the share; measured 24.6-25.6 %). The share's
 * precision is the core's and the etcd test's to show (within 2 points over 10,000 and 3,000 calls).
 */
function shareBound(target: number, n: number): number {
  return 4 * Math.sqrt((target * (1 - target)) / n) + 0.025;
}

function runDemo(args: string[], onStdout?: (text: string, pid: number) => void) {
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
    onStdout?.(out, child.pid!);
  });
  child.stderr.on('data', (d) => (err += d));
  const done = new Promise<number | null>((r) => child.on('exit', (code, signal) => r(code ?? (signal ? 128 : null))));
  return { child, done, out: () => out, err: () => err };
}

test('demo --compare (short): Fairway spreads the load in-zone around a noisy neighbour, through a live canary step and a rolling restart; pick_first has a hot pod that queues', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fairway-demo-test-'));
  const summaryFile = join(dir, 'summary.json');
  const traceFile = join(dir, 'traces.json');
  const run = runDemo(['--compare', '--duration', '10s', '--trace-ratio', '0.05', '--plain', '--json-summary', summaryFile, '--trace-file', traceFile]);
  try {
    const code = await run.done;
    assert.equal(code, 0, `demo exited ${code}\nstdout:\n${run.out().slice(-4000)}\nstderr:\n${run.err().slice(-4000)}`);
    const s = JSON.parse(readFileSync(summaryFile, 'utf8')) as DemoSummary;
    const f = s.arms.fairway!;
    const p = s.arms.pick_first!;
    const ctx = JSON.stringify({ fairway: { ...f, pods: undefined }, pickFirst: { ...p, pods: undefined } }, null, 1);

    // Fairway.
    assert.ok(f.calls.sent > 450, `enough calls to judge: ${f.calls.sent}`);
    assert.equal(f.calls.lost, 0, `no call lost: ${ctx}`);
    assert.equal(f.calls.failed, 0, `no call failed through the rolling restart: ${JSON.stringify(f.errors)}`);
    assert.equal(f.calls.ok, f.calls.sent);
    assert.ok(f.imbalance <= FAIRWAY_MAX_IMBALANCE, `Fairway imbalance ${f.imbalance} <= ${FAIRWAY_MAX_IMBALANCE}: ${JSON.stringify(f.pods)}`);
    for (const pod of f.pods) {
      // The canary too: it joins at 22 % of the run and takes 10-25 % of the calls.
      assert.ok(pod.calls > 0, `${pod.pod} served calls`);
      assert.ok(pod.load, `${pod.pod} reported its load`);
      assert.ok(pod.load.utilization <= 0.4, `${pod.pod} utilization ${pod.load.utilization} <= 40% with Fairway`);
    }
    assert.equal(f.publishers.length, 3, 'every publisher reported its load');
    const nn = f.noisyNeighbour!;
    assert.equal(nn.pod, 'pricer-b-1');
    assert.ok(nn.callsDuring > 0 && nn.toS > nn.fromS, JSON.stringify(nn));
    assert.equal(nn.factor, 0.3);
    // Not asserted here: that Fairway steered around it. In this run the cut lasts 1 s, ~20 quotes of zone b;
    // the first answers take ~100 ms to show the slowdown and recovery probes (every 250 ms, then doubling)
    // keep sending it a few, so its share in one second says little (measured 0.21 once). The 30-s run shows
    // it (README: 5.4 % of the calls against a 5.7 % capacity share), and the balancer's own tests cover it.
    // In-zone is not one of the demo's goals, but a balancer that ignored zones would land at ~33 %. The
    // canary's calls are left out of it (the document sends its share of every zone's calls to it, in zone-b). The demo
    // models no cross-zone delay, so when a zone is slower than another by the zone selector's latency ratio
    // (1.5x, two evaluations in a row: the noisy neighbour's zone, a zone whose pricer restarts cold) its callers
    // spill there by design (README "Zones"); measured 80-87 % on this machine.
    assert.ok(f.inZonePercent.quote >= 70, `driver -> pricer in-zone ${f.inZonePercent.quote}% >= 70%`);
    assert.ok(f.inZonePercent.publish >= 70, `pricer -> publisher in-zone ${f.inZonePercent.publish}% >= 70%`);
    assert.ok(f.inZonePercent.overall >= 70);
    assert.equal(f.rollingRestart.done, true, ctx);
    assert.equal(f.rollingRestart.restarted, PRICER_COUNT);
    assert.equal(new Set(f.rollingRestart.replaced.map((r) => r.pod)).size, PRICER_COUNT);
    for (const r of f.rollingRestart.replaced) assert.notEqual(r.from, r.to, `${r.pod} has a new incarnation`);
    assert.equal(f.rollingRestart.newIncarnationsServing, PRICER_COUNT, 'every new incarnation served calls');

    // The mixed fleet: a Go pricer per zone, balanced with the Node ones and restarted like them.
    const goPods = f.pods.filter((x) => x.runtime === 'go');
    assert.deepEqual(goPods.map((x) => x.pod).sort(), GO_PODS, `a Go pricer per zone: ${JSON.stringify(f.pods.map((x) => [x.pod, x.runtime]))}`);
    for (const g of goPods) {
      assert.ok(g.calls > 0 && g.load && g.load.served > 0, `${g.pod} took quotes and reported its load: ${JSON.stringify(g)}`);
      const r = f.rollingRestart.replaced.find((x) => x.pod === g.pod);
      assert.ok(r && r.from !== r.to && r.to > r.from, `${g.pod} restarted with a newer incarnation: ${JSON.stringify(r)}`);
      assert.equal(g.incarnationsServed >= 1, true);
    }
    const goShare = goPods.reduce((n, x) => n + x.share, 0);
    assert.ok(goShare >= 0.1, `the Go pricers took ${goShare} of the quotes (>= 10 %; a third of the fleet)`);
    // An old incarnation may be replaced before the short run's first counted call reaches it, so only the new
    // incarnations are required to have served (above).

    // The live step: two documents written to etcd, each run by every zone client of the driver (the revision on
    // its calls), the canary's share under each close to the document's, no restart, no failed call (above).
    const live = f.liveStep!;
    assert.ok(live, `the Fairway arm has a live step: ${ctx}`);
    assert.equal(live.canaryPod, CANARY_POD);
    assert.equal(f.pods.find((x) => x.pod === CANARY_POD)?.canary, true);
    assert.ok(live.canaryReadyAtS !== undefined, 'the canary registered');
    assert.deepEqual(live.revisions.map((r) => r.targetShare), [0.1, 0.25]);
    const [rev1, rev2] = live.revisions as [NonNullable<typeof live.revisions[0]>, NonNullable<typeof live.revisions[0]>];
    assert.ok(rev2.revision > rev1.revision, `etcd revisions increase: ${rev1.revision} then ${rev2.revision}`);
    for (const r of live.revisions) {
      assert.deepEqual(Object.keys(r.appliedAtSByZone), ['zone-a', 'zone-b', 'zone-c'], `every zone client ran calls under rev ${r.revision}: ${JSON.stringify(r)}`);
      assert.ok(r.appliedAtS !== undefined && r.appliedAtS >= r.writtenAtS - 0.1, `rev ${r.revision} applied after it was written: ${JSON.stringify(r)}`);
      assert.ok(r.routedCalls >= 30, `enough calls under rev ${r.revision} to judge its share: ${JSON.stringify(r)}`);
      const bound = shareBound(r.targetShare, r.routedCalls);
      assert.ok(
        Math.abs(r.measuredShare - r.targetShare) <= bound,
        `rev ${r.revision}: canary share ${r.measuredShare} within ${bound.toFixed(3)} of ${r.targetShare} over ${r.routedCalls} calls`,
      );
      assert.equal(r.callsAfterHalt, 0, 'no halt in --compare (the canary stays healthy)');
    }
    assert.equal(live.allApplied, true, 'every zone client ran under the last document at the end');
    t.diagnostic(`live step: ${JSON.stringify(live.revisions.map((r) => ({ rev: r.revision, target: r.targetShare, measured: r.measuredShare, routed: r.routedCalls, bound: Number(shareBound(r.targetShare, r.routedCalls).toFixed(3)), writtenAtS: r.writtenAtS, appliedAtS: r.appliedAtS })))}`);
    assert.deepEqual(live.halts, [], `a healthy canary is not halted: ${JSON.stringify(live.halts)}`);
    assert.equal(live.slowedAtS, undefined, 'no slow canary in --compare');
    // The baseline: the same canary pod, last in its static address list, no document: pick_first never calls it.
    assert.equal(p.liveStep, undefined);
    const pfCanary = p.pods.find((x) => x.pod === CANARY_POD);
    assert.ok(pfCanary && pfCanary.canary === true && pfCanary.calls === 0, `the baseline's canary pod got no call: ${JSON.stringify(pfCanary)}`);

    // pick_first on the same pipeline: one hot pod.
    assert.equal(p.rollingRestart.done, true);
    assert.ok(p.calls.sent > 450);
    assert.ok(p.imbalance >= 3, `pick_first imbalance ${p.imbalance} >= 3: ${JSON.stringify(p.pods)}`);
    assert.ok(p.imbalance >= 1.5 * f.imbalance, `pick_first ${p.imbalance} is at least 1.5 x Fairway's ${f.imbalance}`);
    assert.equal(s.comparison!.pickFirstImbalance, p.imbalance);
    const hot = p.pods.find((x) => x.pod === p.busiestPod)!.load!;
    // Over the whole short run its utilization is lower than while it is hot (~0.9): the restart hands its
    // traffic to its zone partner for a while (measured 0.58); its busiest second shows the load.
    assert.ok(hot.utilization >= 0.45 && hot.peakUtilization >= 0.75, `pick_first's hot pod: utilization ${hot.utilization}, busiest second ${hot.peakUtilization}`);
    assert.ok(hot.worstQueueDelayP99Ms >= WORK_MS, `pick_first's hot pod queued: worst 1-s p99 wait ${hot.worstQueueDelayP99Ms} ms >= ${WORK_MS} ms`);

    // Latency: the hot pod's queue shows in pick_first's tail.
    assert.equal(s.comparison!.fairwayP99Ms, f.latencyMs.p99);
    assert.ok(
      f.latencyMs.p99 <= MAX_P99_RATIO * p.latencyMs.p99,
      `Fairway's p99 ${f.latencyMs.p99} ms <= ${MAX_P99_RATIO} x pick_first's ${p.latencyMs.p99} ms: ${ctx}`,
    );

    // The printed summary says the same.
    const out = run.out();
    assert.match(out, /== Summary ==/);
    assert.match(out, new RegExp(`imbalance: ${f.imbalance.toFixed(2)} \\(busiest pod`));
    assert.match(out, new RegExp(`rolling restart: done, ${PRICER_COUNT}/${PRICER_COUNT} pricers replaced`));
    assert.match(out, /go: pricer-a-go, pricer-b-go, pricer-c-go are Go pricers/);
    assert.match(out, /Pod by pod: share of calls/);
    assert.match(out, /<- hot pod/);
    assert.match(out, /Fairway's p99 is \d+\.\d\d x pick_first's/);
    assert.match(out, /noisy neighbour: pricer-b-1 kept 30\.0% of its CPU/);
    assert.match(out, /^t=\d+s\/10s sent=\d+ ok=\d+/m, 'plain per-second lines without a TTY');
    assert.match(out, /a-1=\d+%\(q\d+,\d+%\)/, 'the live line shows each pod\'s queue and utilization');
    // The first document is in force for ~1.4 s, one or two lines (a line may come before the first canary call).
    assert.match(out, new RegExp(`^t=\\d+s/10s .* \\| live: rev ${rev1.revision} canary 10%`, 'm'), 'the live line shows the first document');
    assert.match(out, new RegExp(`^t=\\d+s/10s.* \\| live: rev ${rev2.revision} canary 25%, canary took \\d+% of the last 1s`, 'm'), 'the live line shows the settings change');
    assert.match(out, /live step: canary pricer-canary \(zone-b\) registered at [\d.]+s; every zone client of the driver ran under the last document/);
    assert.match(out, new RegExp(`rev ${rev2.revision} \\(canary 25\\.0%\\): written at`));

    // Traces: a Jaeger JSON file; a traced quote is one trace from the driver through a pricer to a publisher.
    assert.equal(s.traces.kind, 'jaeger-json-file');
    assert.equal(s.traces.file, traceFile);
    type Span = { spanID: string; processID: string; operationName: string; references: { spanID: string }[] };
    const doc = JSON.parse(readFileSync(traceFile, 'utf8')) as {
      data: { spans: Span[]; processes: Record<string, { serviceName: string; tags: { key: string; value: unknown }[] }> }[];
    };
    assert.equal(jaegerFormatProblem(doc), undefined);
    assert.ok(doc.data.length > 10, `traces written: ${doc.data.length}`);
    const chain = doc.data.find((t) => {
      const services = new Set(t.spans.map((sp) => t.processes[sp.processID]!.serviceName));
      return services.has('quote-driver') && services.has('pricer') && services.has('publisher');
    });
    assert.ok(chain, 'one trace spans quote-driver -> pricer -> publisher');
    assert.ok(chain.spans.some((sp) => sp.operationName.includes('trading.v1.Pricer/Quote')));
    // Through a Go pricer: its server span is the child of a driver span, and a publisher's server span is
    // the child of the Go pricer's client span.
    const goChain = doc.data.find((t) => {
      const proc = (sp: Span) => t.processes[sp.processID]!;
      const isGo = (sp: Span) => proc(sp).serviceName === 'pricer' && proc(sp).tags.some((tg) => tg.key === 'telemetry.sdk.language' && tg.value === 'go');
      const byId = new Map(t.spans.map((sp) => [sp.spanID, sp]));
      const parent = (sp: Span) => byId.get(sp.references[0]?.spanID ?? '');
      const goQuote = t.spans.find((sp) => isGo(sp) && sp.operationName.includes('trading.v1.Pricer/Quote') && parent(sp) && proc(parent(sp)!).serviceName === 'quote-driver');
      const publish = t.spans.find((sp) => proc(sp).serviceName === 'publisher' && parent(sp) && isGo(parent(sp)!));
      return goQuote !== undefined && publish !== undefined;
    });
    assert.ok(goChain, 'one trace runs quote-driver -> Go pricer -> publisher, parent to child');
  } finally {
    run.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C stops every process the demo started', { timeout: 90_000 }, async () => {
  let children: { pid: number; command: string }[] = [];
  let sent = false;
  const run = runDemo(['--duration', '30s', '--plain'], (text, pid) => {
    // Once etcd is up and the pipeline is starting, note the demo's children and press Ctrl-C.
    if (sent || !text.includes('== Fairway')) return;
    sent = true;
    setTimeout(() => {
      children = childrenOf(pid);
      process.kill(pid, 'SIGINT');
    }, 3000);
  });
  try {
    const code = await run.done;
    assert.equal(code, 130, `exit code after Ctrl-C: ${code}\n${run.err().slice(-3000)}`);
    assert.match(run.err(), /SIGINT: stopping every process it started/);
    assert.ok(children.length >= 2, `the demo had started etcd and pipeline processes: ${JSON.stringify(children)}`);
    // A child killed as the demo exits takes a moment to go: poll for up to 3 s before judging.
    const stillAlive = () => children.filter((c) => existsSync(`/proc/${c.pid}`) && !isZombie(c.pid) && commandOf(c.pid) === c.command);
    for (let i = 0; i < 30 && stillAlive().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(stillAlive(), [], 'no process the demo started is still running');
  } finally {
    run.child.kill('SIGKILL');
  }
});

/**
 * The demo's own children (etcd, pipeline processes) with their command lines. tsx's esbuild service is left
 * out: tsx starts it, not the demo, and it ends by itself when its parent's pipe closes.
 */
function childrenOf(pid: number): { pid: number; command: string }[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0)
      .map((n) => ({ pid: n, command: commandOf(n) }))
      .filter((c) => c.command !== '' && !/\besbuild\b.*--service/.test(c.command));
  } catch {
    return [];
  }
}

/** The command line of `pid` ('' when it is gone), so a reused pid is not taken for the demo's child. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}
