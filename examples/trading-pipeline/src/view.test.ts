// The demo's pure parts: the live view (TTY table and plain line), the summary arithmetic (share,
// imbalance, in-zone, lost calls) and the pod-by-pod comparison.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable, renderLine } from './view.js';
import { summarizeArm, formatArm, formatComparison } from './summary.js';
import type { DriverStats, PodStats } from './stats.js';
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
