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
