// The demo's pure parts: the live view (TTY table and plain line), the summary arithmetic (share,
// imbalance, in-zone, lost calls) and the pod-by-pod comparison.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable, renderLine, liveSummary } from './view.js';
import { summarizeArm, formatArm, formatComparison } from './summary.js';
import type { DriverStats, PodStats, DriverLiveStats } from './stats.js';
import type { ArmResult } from './run-arm.js';

const pod = (zone: string, calls: number, incarnations = ['1-a']): PodStats => ({
  zone,
  calls,
  windowCalls: Math.round(calls / 10),
  inFlight: 2,
  incarnations,
  p50Ms: 12.5,
  p99Ms: 40,
});

function stats(pods: Record<string, PodStats>, extra: Partial<DriverStats> = {}): DriverStats {
  const ok = Object.values(pods).reduce((n, p) => n + p.calls, 0);
  return {
    type: 'final',
    mode: 'fairway',
    elapsedMs: 8000,
    sent: ok,
    ok,
    failed: 0,
    shed: 0,
    inZone: ok,
    crossZone: 0,
    publishInZone: ok - 10,
    publishCrossZone: 10,
    retries: 0,
    inFlight: 0,
    windowCalls: 50,
    p50Ms: 12.5,
    p99Ms: 40,
    errors: {},
    pods,
    ...extra,
  };
}

const NAMES = ['pricer-a-1', 'pricer-a-2', 'pricer-b-1', 'pricer-b-2', 'pricer-c-1', 'pricer-c-2'];

test('live view: a table on a terminal, one line per second otherwise', () => {
  const s = stats({ 'pricer-a-1': pod('zone-a', 300), 'pricer-b-1': pod('zone-b', 100) });
  const table = renderTable({ title: 'Fairway', elapsedMs: 4000, durationMs: 8000, restart: 'pricer-a-1 (1/6)', stats: s, podNames: NAMES });
  assert.match(table[0]!, /^Fairway {2}\[#{15}\.{15}\] 4s \/ 8s$/);
  assert.equal(table[1], 'rolling restart: pricer-a-1 (1/6)');
  assert.equal(table.length, 3 + NAMES.length + 1, 'every pod has a row, even before it answers');
  assert.match(table.find((l) => l.startsWith('pricer-a-1'))!, /zone-a\s+75\.0%/);
  assert.match(table.find((l) => l.startsWith('pricer-c-2'))!, /0\.0%/);
  assert.match(table.at(-1)!, /400 sent, 400 ok, 0 failed.*in-zone 100\.0% \(quote\) 97\.5% \(publish\).*retries 0/);
  const line = renderLine({ title: 'Fairway', elapsedMs: 4000, durationMs: 8000, restart: 'pending', stats: s, podNames: NAMES });
  assert.equal(line, 't=4s/8s sent=400 ok=400 failed=0 inflight=0 in-zone=100.0% retries=0 p50=12.5ms p99=40.0ms | a-1=75% b-1=25% | restart: pending');
});

test('summary: shares, imbalance = busiest share / fair share, in-zone, lost calls, restart', () => {
  const pods = Object.fromEntries(NAMES.map((n, i) => [n, pod(`zone-${n[7]}`, i === 0 ? 200 : 100, ['1-old', '2-new'])]));
  const final = stats(pods, { sent: 705, failed: 3 });
  const arm: ArmResult = {
    mode: 'fairway',
    final,
    restart: { done: true, restarted: 6, of: 6, startedAtS: 2, endedAtS: 7, replaced: NAMES.map((n) => ({ pod: n, from: '1-old', to: '2-new' })) },
    pods: NAMES,
    goPods: [],
    canaryPods: [],
    podLoad: {},
    startupMs: 12_000,
    loadMs: 8100,
    traceDir: '/nowhere',
    logDir: '/nowhere',
  };
  const s = summarizeArm(arm);
  assert.equal(s.calls.ok, 700);
  assert.equal(s.calls.lost, 2, 'sent - ok - failed');
  assert.equal(s.busiestPod, 'pricer-a-1');
  assert.equal(s.pods[0]!.share, 0.286);
  assert.equal(s.imbalance, 1.71); // (200/700) / (1/6)
  assert.equal(s.inZonePercent.quote, 100);
  assert.equal(s.inZonePercent.publish, 98.6);
  assert.equal(s.rollingRestart.newIncarnationsServing, 6);
  const text = formatArm(s).join('\n');
  assert.match(text, /imbalance: 1\.71 \(busiest pod pricer-a-1/);
  assert.match(text, /700 ok, 3 failed, 2 lost/);
  assert.match(text, /rolling restart: done, 6\/6 pricers replaced/);

  const hot = summarizeArm({ ...arm, mode: 'pick_first', final: stats({ 'pricer-a-1': pod('zone-a', 600), 'pricer-a-2': pod('zone-a', 100) }) });
  assert.equal(hot.imbalance, 5.14);
  const cmp = formatComparison(s, hot).join('\n');
  assert.match(cmp, /pricer-a-1\s+zone-a\s+28\.6%\s+85\.7%\s+<- hot pod/);
  assert.match(cmp, /pricer-c-2\s+zone-c\s+14\.3%\s+0\.0%/);
});

test('live view and summary: each pod\'s own queue and utilization, the noisy neighbour, the p99 ratio', () => {
  const load = (instance: string, role: 'pricer' | 'publisher', queueLength: number, utilization: number, capacityFactor = 1) => ({
    type: 'pod-load' as const,
    role,
    instance,
    zone: 'zone-a',
    incarnation: '1-a',
    slots: 2,
    windowMs: 1000,
    served: 50,
    utilization,
    queueLength,
    maxQueueLength: queueLength,
    inService: 2,
    queueDelayMeanMs: 10,
    queueDelayP99Ms: 40,
    capacityPerSec: 66.7 * capacityFactor,
    capacityFactor,
    eventLoopDelayP99Ms: 3,
  });
  const s = stats({ 'pricer-a-1': pod('zone-a', 300), 'pricer-b-1': pod('zone-b', 100) });
  const podLoad = { 'pricer-a-1': load('pricer-a-1', 'pricer', 7, 0.93), 'pricer-b-1': load('pricer-b-1', 'pricer', 0, 0.2, 0.3), 'publisher-a': load('publisher-a', 'publisher', 1, 0.5) };
  const v = { title: 'Fairway', elapsedMs: 4000, durationMs: 8000, restart: 'pending', stats: s, podNames: NAMES, podLoad, noisyNeighbour: 'pricer-b-1 keeps 30% of its CPU now' };
  const table = renderTable(v);
  assert.equal(table[2], 'noisy neighbour: pricer-b-1 keeps 30% of its CPU now');
  assert.match(table[3]!, /queue\s+util/);
  assert.match(table.find((l) => l.startsWith('pricer-a-1'))!, /\s7\s+93%/);
  assert.match(table.find((l) => l.startsWith('pricer-b-1'))!, /\s0\s+20%.*<- 30% CPU \(noisy neighbour\)/);
  assert.match(table.find((l) => l.startsWith('pricer-c-2'))!, /\s-\s+-\s/, 'no report yet: no figures');
  assert.match(table.find((l) => l.startsWith('publishers'))!, /publisher-a 1 \/ 50%/);
  assert.match(renderLine(v), /a-1=75%\(q7,93%\) b-1=25%\(q0,20%,cpu30%\) .*noisy neighbour: pricer-b-1 keeps 30%/);

  const arm: ArmResult = {
    mode: 'pick_first',
    final: s,
    restart: { done: true, restarted: 6, of: 6, replaced: [] },
    pods: NAMES,
    goPods: [],
    canaryPods: [],
    podLoad: {
      'pricer-a-1': { role: 'pricer', zone: 'zone-a', runtime: 'node', slots: 2, served: 300, utilization: 0.9, peakUtilization: 1, maxQueueLength: 12, queueDelayMeanMs: 40, worstQueueDelayP99Ms: 310, eventLoopDelayP99Ms: 4 },
      'publisher-a': { role: 'publisher', zone: 'zone-a', runtime: 'node', slots: 1, served: 400, utilization: 0.3, peakUtilization: 0.5, maxQueueLength: 3, queueDelayMeanMs: 2, worstQueueDelayP99Ms: 20, eventLoopDelayP99Ms: 4 },
    },
    noisyNeighbour: { pod: 'pricer-b-1', factor: 0.3, fromFraction: 0.1, toFraction: 0.2, fromS: 0.8, toS: 1.6, shareDuring: 0.04, capacityShareDuring: 0.057, callsDuring: 50 },
    startupMs: 1000,
    loadMs: 8000,
    traceDir: '/nowhere',
    logDir: '/nowhere',
  };
  const sum = summarizeArm(arm);
  assert.equal(sum.pods[0]!.load?.maxQueueLength, 12);
  assert.equal(sum.publishers[0]!.pod, 'publisher-a');
  const text = formatArm(sum).join('\n');
  assert.match(text, /pricer-a-1\s+zone-a\s+300\s+75\.0%\s+12\.5\s+40\.0\s+90\.0%\s+12\s+310\.0/);
  assert.match(text, /publisher-a\s+zone-a\s+400\s+30\.0%\s+3\s+20\.0/);
  assert.match(text, /noisy neighbour: pricer-b-1 kept 30\.0% of its CPU from 0\.8s to 1\.6s; it answered 4\.0% of the calls then \(its share of the fleet's capacity: 5\.7%/);
  const fair = summarizeArm({ ...arm, mode: 'fairway', final: stats({ 'pricer-a-1': pod('zone-a', 100), 'pricer-b-1': pod('zone-b', 100) }, { p99Ms: 20 }) });
  assert.match(formatComparison(fair, sum).join('\n'), /p99 ms:\s+20\s+40\s+\(Fairway's p99 is 0\.50 x pick_first's\)/);
});

test('the mixed fleet: a Go pricer is marked in the live view and the summary, and its zero event-loop delay is not counted', () => {
  const names = [...NAMES, 'pricer-a-go'];
  const s = stats({ 'pricer-a-1': pod('zone-a', 100), 'pricer-a-go': pod('zone-a', 100) });
  const goLoad = {
    type: 'pod-load' as const, role: 'pricer' as const, instance: 'pricer-a-go', zone: 'zone-a', incarnation: '1-a', slots: 2, windowMs: 1000,
    served: 50, utilization: 0.4, queueLength: 1, maxQueueLength: 2, inService: 1, queueDelayMeanMs: 1, queueDelayP99Ms: 5,
    capacityPerSec: 66.7, capacityFactor: 1, eventLoopDelayP99Ms: 0, runtime: 'go' as const,
  };
  const table = renderTable({ title: 'Fairway', elapsedMs: 1000, durationMs: 8000, restart: 'pending', stats: s, podNames: names, podLoad: { 'pricer-a-go': goLoad } });
  assert.match(table.find((l) => l.startsWith('pricer-a-go'))!, /40%.*Go \(grpc-go\)$/);
  assert.doesNotMatch(table.find((l) => l.startsWith('pricer-a-1'))!, /Go/);
  const totals = (runtime: 'node' | 'go', lag: number) => ({ role: 'pricer' as const, zone: 'zone-a', runtime, slots: 2, served: 100, utilization: 0.3, peakUtilization: 0.5, maxQueueLength: 1, queueDelayMeanMs: 1, worstQueueDelayP99Ms: 4, eventLoopDelayP99Ms: lag });
  const arm: ArmResult = {
    mode: 'fairway',
    final: s,
    restart: { done: true, restarted: 0, of: 0, replaced: [] },
    pods: ['pricer-a-1', 'pricer-a-go'],
    goPods: ['pricer-a-go'],
    canaryPods: [],
    podLoad: { 'pricer-a-1': totals('node', 7), 'pricer-a-go': totals('go', 0) },
    startupMs: 1000,
    loadMs: 8000,
    traceDir: '/nowhere',
    logDir: '/nowhere',
  };
  const sum = summarizeArm(arm);
  assert.deepEqual(sum.pods.map((p) => p.runtime), ['node', 'go']);
  const text = formatArm(sum).join('\n');
  assert.match(text, /go: pricer-a-go are Go pricers \(grpc-go, the same capacity\), 50\.0% of the calls/);
  assert.match(text, /event loops ran late by 7\.0 ms/, 'the Go pod has no event loop: its 0 is left out');
});

// The live step: what the driver's clients applied (revision per zone client, canary calls, halts), shown in
// the line, the table and the summary; the canary is left out of the imbalance.
const LIVE_DOCS = [
  { revision: 15, share: 0.1 },
  { revision: 17, share: 0.25 },
];
function liveStats(live: Partial<DriverLiveStats>, pods: Record<string, PodStats>, extra: Partial<DriverStats> = {}): DriverStats {
  return stats(pods, {
    windowCalls: 60,
    live: {
      revisionByZone: { 'zone-a': 17, 'zone-b': 17, 'zone-c': 17 },
      revisions: {},
      canaryInstances: ['pricer-canary'],
      canaryWindowCalls: 15,
      canaryInZone: 10,
      canaryCrossZone: 30,
      halts: [],
      ...live,
    },
    ...extra,
  });
}
const HALT = 'canary p99 559.4ms vs stable 135.9ms over 5000ms (limit 4x): canary halted';

test('live view: the revision the driver\'s clients run under and what it says, the canary\'s last-second share, a halt', () => {
  const pods = { 'pricer-a-1': pod('zone-a', 300), 'pricer-canary': { ...pod('zone-b', 100), windowCalls: 15 } };
  const live = { canaryPods: ['pricer-canary'], documents: LIVE_DOCS, runner: 'rev 17 written at 3.6s: canary share 10% -> 25%' };
  const base = { title: 'Fairway', elapsedMs: 5000, durationMs: 10000, restart: 'pending', podNames: [...NAMES, 'pricer-canary'], live };

  // Every zone client on revision 17: what it says, and the canary's share of the last second (15 of 60).
  const s = liveStats({}, pods);
  assert.equal(liveSummary({ live, stats: s }), 'live: rev 17 canary 25%, canary took 25% of the last 1s');
  const line = renderLine({ ...base, stats: s });
  assert.match(line, / \| live: rev 17 canary 25%, canary took 25% of the last 1s$/);
  assert.match(line, / canary=25% /, 'the canary pod has its share entry like the others');
  const table = renderTable({ ...base, stats: s });
  assert.equal(table[2], 'live: rev 17 canary 25%, canary took 25% of the last 1s  [step: rev 17 written at 3.6s: canary share 10% -> 25%]');
  assert.match(table.find((l) => l.startsWith('pricer-canary'))!, /zone-b\s+25\.0%.*\s15\s.*  canary: 25% of the last 1s$/);
  assert.doesNotMatch(table.find((l) => l.startsWith('pricer-a-1'))!, /canary/);

  // Zone clients on different revisions (one has not seen the change yet): each named.
  const mixed = liveStats({ revisionByZone: { 'zone-a': 15, 'zone-b': 17, 'zone-c': 17 } }, pods);
  assert.equal(liveSummary({ live, stats: mixed }), 'live: rev 15 canary 10% (zone-a) / rev 17 canary 25% (zone-b, zone-c), canary took 25% of the last 1s');
  // Before any document: said so; a revision the runner did not write is shown bare.
  assert.equal(liveSummary({ live, stats: liveStats({ revisionByZone: { 'zone-a': 0 }, canaryInstances: [] }, pods) }), 'live: no document applied yet');
  assert.equal(liveSummary({ live, stats: stats(pods) }), 'live: no document applied yet', 'no live report from the driver yet');
  assert.match(liveSummary({ live, stats: liveStats({ revisionByZone: { 'zone-a': 99 } }, pods) })!, /^live: rev 99,/);
  assert.equal(liveSummary({ stats: s }), undefined, 'no live step: nothing shown');
  assert.equal(liveSummary({ live: { ...live, noDocument: 'no document (pick_first reads none)' }, stats: s }), 'live: no document (pick_first reads none)', 'the baseline says it reads none');
  assert.doesNotMatch(renderLine({ ...base, live: undefined, stats: s }), /live:/);

  // A halt: the reason, the zone clients that halted; the canary row says HALTED.
  const halted = liveStats({ canaryWindowCalls: 0, halts: [{ zone: 'zone-c', atMs: 9800, reason: HALT, revision: 17 }, { zone: 'zone-a', atMs: 9700, reason: HALT, revision: 17 }] }, { ...pods, 'pricer-canary': { ...pod('zone-b', 100), windowCalls: 0 } });
  assert.equal(liveSummary({ live, stats: halted }), `live: rev 17 canary 25%, canary took 0% of the last 1s | canary HALTED (zone-a, zone-c): ${HALT}`);
  const haltedTable = renderTable({ ...base, stats: halted, podLoad: { 'pricer-canary': { type: 'pod-load', role: 'pricer', instance: 'pricer-canary', zone: 'zone-b', incarnation: '1-a', slots: 2, windowMs: 1000, served: 3, utilization: 1, queueLength: 9, maxQueueLength: 12, inService: 2, queueDelayMeanMs: 400, queueDelayP99Ms: 900, capacityPerSec: 10, capacityFactor: 0.15, eventLoopDelayP99Ms: 3 } } });
  assert.match(haltedTable.find((l) => l.startsWith('pricer-canary'))!, /canary: 0% of the last 1s, HALTED  <- 15% CPU$/, 'a slow canary is not called a noisy neighbour');
});

test('summary: the live step per revision (applied when, target and measured share), halts; imbalance leaves the canary out', () => {
  const names = [...NAMES, 'pricer-canary'];
  // Stable pods 100 calls each but pricer-a-1 with 150; the canary 200 (its share is configured).
  const pods: Record<string, PodStats> = Object.fromEntries(names.map((n) => [n, pod(n === 'pricer-canary' ? 'zone-b' : `zone-${n[7]}`, n === 'pricer-a-1' ? 150 : n === 'pricer-canary' ? 200 : 100)]));
  const final = liveStats(
    {
      revisions: {
        '0': { calls: 150, routedCalls: 0, canaryCalls: 0, callsAfterHalt: 0, firstSeenMs: 0, firstSeenMsByZone: { 'zone-a': 0, 'zone-b': 1, 'zone-c': 2 } },
        '15': { calls: 90, routedCalls: 80, canaryCalls: 9, callsAfterHalt: 0, firstSeenMs: 2250, firstSeenMsByZone: { 'zone-a': 2250, 'zone-b': 2290, 'zone-c': 2330 } },
        '17': { calls: 600, routedCalls: 600, canaryCalls: 151, callsAfterHalt: 110, firstSeenMs: 3640, firstSeenMsByZone: { 'zone-a': 3660, 'zone-b': 3640, 'zone-c': 3710 } },
      },
      canaryWindowCalls: 200,
      canaryInZone: 50,
      canaryCrossZone: 150,
      halts: [{ zone: 'zone-a', atMs: 9712, reason: HALT, revision: 17 }],
    },
    pods,
  );
  const arm: ArmResult = {
    mode: 'fairway',
    final,
    restart: { done: true, restarted: 6, of: 6, replaced: [] },
    pods: names,
    goPods: [],
    canaryPods: ['pricer-canary'],
    liveStep: {
      canaryPod: 'pricer-canary',
      canaryZone: 'zone-b',
      canaryReadyAtS: 2.4,
      documents: [
        { revision: 15, share: 0.1, writtenAtS: 2.2, text: '{}' },
        { revision: 17, share: 0.25, writtenAtS: 3.6, text: '{}' },
      ],
      slowedAtS: 8, slowFactor: 0.15,
    },
    podLoad: {},
    startupMs: 1000,
    loadMs: 10000,
    traceDir: '/nowhere',
    logDir: '/nowhere',
  };
  const s = summarizeArm(arm);
  // 6 stable pods, 650 stable calls: pricer-a-1's 150 / 650 against a fair share of 1/6.
  assert.equal(s.fairShare, 0.167);
  assert.equal(s.busiestPod, 'pricer-a-1');
  assert.equal(s.imbalance, 1.38);
  assert.equal(s.pods.find((p) => p.pod === 'pricer-canary')!.canary, true);
  assert.equal(s.pods.find((p) => p.pod === 'pricer-a-1')!.canary, undefined);
  const l = s.liveStep!;
  assert.equal(l.allApplied, true);
  assert.deepEqual(l.revisions.map((r) => [r.revision, r.targetShare, r.writtenAtS, r.appliedAtS, r.routedCalls, r.canaryCalls, r.measuredShare, r.callsAfterHalt]), [
    [15, 0.1, 2.2, 2.3, 80, 9, 0.113, 0],
    [17, 0.25, 3.6, 3.7, 600, 151, 0.252, 110],
  ]);
  assert.deepEqual(l.revisions[0]!.appliedAtSByZone, { 'zone-a': 2.3, 'zone-b': 2.3, 'zone-c': 2.3 });
  assert.equal(l.canaryCalls, 200);
  assert.equal(l.canaryShare, 0.235); // 200 / 850
  assert.equal(l.canaryInZonePercent, 25);
  assert.deepEqual(l.halts, [{ zone: 'zone-a', atS: 9.7, reason: HALT, revision: 17 }]);
  const text = formatArm(s).join('\n');
  assert.match(text, /imbalance: 1\.38 \(busiest pod pricer-a-1 \/ fair share 16\.7%; 1\.00 is perfect; stable pods only\)/);
  assert.match(text, /live step: canary pricer-canary \(zone-b\) registered at 2\.4s; every zone client of the driver ran under the last document, no restart/);
  assert.match(text, /rev 15 \(canary 10\.0%\): written at 2\.2s, applied by every zone client by 2\.3s; the canary took 11\.3% of its 80 calls with canary routing \(target 10\.0%; 10 more before a client knew the canary\)/);
  assert.match(text, /rev 17 \(canary 25\.0%\): written at 3\.6s, applied by every zone client by 3\.7s; the canary took 25\.2% of its 600 calls with canary routing \(target 25\.0%\), then none of 110 after the halt/);
  assert.match(text, /slow canary: it kept 15\.0% of its CPU from 8s/);
  assert.match(text, new RegExp(`canary halted by the zone-a client at 9\\.7s \\(rev 17\\): ${HALT.replace(/[.()]/g, '\\$&')}`));

  // Pod by pod against a baseline that has the same canary pod and never calls it.
  const baseline = summarizeArm({ ...arm, mode: 'pick_first', liveStep: undefined, final: stats({ 'pricer-a-1': pod('zone-a', 900) }) });
  assert.equal(baseline.imbalance, 6, 'the baseline\'s imbalance is over its 6 stable pods too');
  assert.match(formatComparison(s, baseline).join('\n'), /pricer-canary\s+zone-b\s+23\.5%\s+0\.0%  \(canary: Fairway gives it the configured share; pick_first cannot\)/);

  // A client still on the first document at the end: not all applied; a revision no client ran.
  const late = summarizeArm({ ...arm, final: { ...final, live: { ...final.live!, revisionByZone: { 'zone-a': 15, 'zone-b': 17, 'zone-c': 17 }, revisions: { '15': final.live!.revisions['15']! } } } });
  assert.equal(late.liveStep!.allApplied, false);
  assert.equal(late.liveStep!.revisions[1]!.appliedAtS, undefined);
  assert.match(formatArm(late).join('\n'), /NOT every zone client ran under the last document[\s\S]*rev 17 \(canary 25\.0%\): written at 3\.6s, applied by no client/);
  // Without a live step nothing changes: no liveStep part, every pod in the imbalance.
  const plain = summarizeArm({ ...arm, liveStep: undefined, canaryPods: [] });
  assert.equal(plain.liveStep, undefined);
  assert.equal(plain.fairShare, 0.143);
  assert.equal(plain.busiestPod, 'pricer-canary');
});
