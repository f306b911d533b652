// `fairway load` against real grpc-js servers on loopback: three Echo servers (one slow, one killed mid-run),
// open loop at a fixed rate through Fairway and then through grpc-js's round_robin (--compare), checked from the
// --json report; errors counted by status; usage errors exit 2; the real executable's progress and JSON.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startEchoBackend, echoProtoPath, childNodeArgs } from '@fairway/testing';
import type { EchoBackend } from '@fairway/testing';
import { runCli, EXIT } from '../index.js';
import type { LoadRunReport } from '../index.js';

const BIN = fileURLToPath(new URL('../bin.ts', import.meta.url));

function captureIo() {
  let out = '';
  let err = '';
  return {
    io: { out: (t: string) => void (out += t), err: (t: string) => void (err += t), interrupted: new Promise<NodeJS.Signals>(() => {}) },
    get out() {
      return out;
    },
    get err() {
      return err;
    },
  };
}

const echo = ['--proto', echoProtoPath(), '--method', 'fairway.test.Echo/Unary', '--data', '{"message":"load"}'];
const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

describe('fairway load against real servers', { timeout: 120_000 }, () => {
  test('one slow and one killed mid-run: the JSON report accounts for every call; Fairway sends the slow one a small share, round_robin does not', { timeout: 90_000 }, async () => {
    const fast = await startEchoBackend({ id: 'fast', zone: 'zone-a', serviceTimeMs: 2 });
    const slow = await startEchoBackend({ id: 'slow', zone: 'zone-a', serviceTimeMs: 300 });
    const victim: EchoBackend = await startEchoBackend({ id: 'victim', zone: 'zone-b', serviceTimeMs: 2 });
    const target = `static:///${fast.address}@zone-a,${slow.address}@zone-a,${victim.address}@zone-b`;
    const kill = setTimeout(() => victim.forceStop(), 1500); // mid-way through the Fairway run (3 s)
    try {
      const c = captureIo();
      const code = await runCli(['load', target, ...echo, '--rate', '100', '--duration', '3s', '--deadline', '2s', '--zone', 'zone-a', '--retry-timeout', '150ms', '--compare', 'round_robin', '--json'], c.io);
      assert.equal(code, EXIT.OK, c.err);
      const doc = JSON.parse(c.out) as { target: string; method: string; shape: { rate: number }; runs: LoadRunReport[] };
      assert.equal(doc.target, target);
      assert.equal(doc.method, 'fairway.test.Echo/Unary');
      assert.deepEqual(doc.shape, { rate: 100 });
      assert.deepEqual(doc.runs.map((r) => r.policy), ['fairway', 'round_robin']);
      for (const r of doc.runs) {
        assert.equal(r.sent, 300, `${r.policy}: open loop at 100/s for 3 s sends 300 calls`);
        assert.equal(r.ended, r.sent, `${r.policy}: every call ended`);
        assert.equal(sum(r.statuses), r.sent, `${r.policy}: statuses account for every call`);
        assert.equal(r.latency.count, r.sent);
        assert.ok(r.latency.p50Ms <= r.latency.p99Ms && r.latency.p99Ms <= r.latency.maxMs, JSON.stringify(r.latency));
        assert.equal(r.endpoints.reduce((a, e) => a + e.attempts, 0), r.attempts);
        assert.ok(Math.abs(r.endpoints.reduce((a, e) => a + e.share, 0) - 1) < 1e-9);
      }
      const [fw, rr] = doc.runs as [LoadRunReport, LoadRunReport];
      const share = (r: LoadRunReport, b: { address: string }) => r.endpoints.find((e) => e.key === b.address)?.share ?? 0;
      // Zones come from the pick explanations (and are reused for the grpc-js run).
      assert.equal(fw.endpoints.find((e) => e.key === fast.address)?.zone, 'zone-a');
      assert.equal(rr.endpoints.find((e) => e.key === slow.address)?.zone, 'zone-a');
      assert.deepEqual(fw.zones.map((z) => z.key).sort(), fw.endpoints.some((e) => e.key === victim.address) ? ['zone-a', 'zone-b'] : ['zone-a']);
      // The slow server: a small share through Fairway, its round-robin share through grpc-js.
      assert.ok(share(fw, slow) < 0.25, `fairway slow share ${share(fw, slow)}`);
      assert.ok(share(rr, slow) > 0.3, `round_robin slow share ${share(rr, slow)}`);
      assert.ok(share(fw, fast) > 0.6, `fairway fast share ${share(fw, fast)}`);
      // The killed server took no traffic in the second run (it was dead before); round_robin waited for the
      // 300 ms server on about half its calls.
      assert.equal(share(rr, victim), 0);
      assert.ok(rr.latency.p90Ms >= 300, `round_robin p90 ${rr.latency.p90Ms}`);
      assert.ok((fw.statuses['OK'] ?? 0) >= 290, JSON.stringify(fw.statuses));
      assert.ok(fw.retried <= fw.sent);
    } finally {
      clearTimeout(kill);
      victim.forceStop();
      await Promise.all([fast.stop(), slow.stop()]);
    }
  });

  test('errors are counted by status and by endpoint (closed loop)', { timeout: 60_000 }, async () => {
    const ok = await startEchoBackend({ id: 'ok' });
    const failing = await startEchoBackend({ id: 'failing', failCode: 8 }); // RESOURCE_EXHAUSTED
    try {
      const c = captureIo();
      const code = await runCli(['load', `static:///${ok.address},${failing.address}`, ...echo, '--concurrency', '4', '--duration', '1s', '--json', '--quiet'], c.io);
      assert.equal(code, EXIT.OK, c.err);
      const run = (JSON.parse(c.out) as { runs: LoadRunReport[] }).runs[0]!;
      assert.equal(c.err, '', '--quiet prints no progress');
      const failed = run.endpoints.find((e) => e.key === failing.address);
      assert.ok(failed && failed.attempts > 0, JSON.stringify(run.endpoints));
      assert.equal(run.statuses['RESOURCE_EXHAUSTED'], failed.failed);
      assert.equal(failed.failed, failed.attempts);
      assert.equal((run.statuses['OK'] ?? 0) + (run.statuses['RESOURCE_EXHAUSTED'] ?? 0), run.sent);
      assert.equal(run.endpoints.find((e) => e.key === ok.address)?.failed, 0);
      // The Fairway client's own table when the run ended: both endpoints, with their ejection and slow-start state.
      assert.deepEqual(run.balancer?.map((r) => r.address).sort(), [ok.address, failing.address].sort());
      for (const r of run.balancer!) assert.ok(typeof r.ejection === 'string' && r.slowStartPercent > 0 && r.ready, JSON.stringify(r));
    } finally {
      await Promise.all([ok.stop(), failing.stop()]);
    }
  });

  test('bad input exits 2 with a message naming what was wrong, before any traffic', async () => {
    const cases: [string[], RegExp][] = [
      [['--method', 'fairway.test.Echo/Nope'], /has no method Nope \(methods: Unary, ServerStream, ClientStream, Bidi\)/],
      [['--method', 'fairway.test.Nope/Unary'], /has no service fairway\.test\.Nope \(services: .*fairway\.test\.Echo/],
      [['--method', 'fairway.test.Echo/Bidi'], /streaming method; fairway load calls unary methods only/],
      [['--method', 'Echo.Unary'], /write it as package\.Service\/Method/],
      [['--method', 'fairway.test.Echo/Unary', '--data', '{"mesage":"x"}'], /request has no field mesage \(fields: message,/],
      [['--method', 'fairway.test.Echo/Unary', '--data', '{oops'], /--data: not valid JSON/],
      [['--method', 'fairway.test.Echo/Unary', '--rate', '10', '--concurrency', '2'], /give one/],
      [['--method', 'fairway.test.Echo/Unary', '--rate', '-3'], /--rate -3: must be a positive number/],
      [['--method', 'fairway.test.Echo/Unary', '--rate', '0x10'], /--rate 0x10: must be a positive number/],
      [['--method', 'fairway.test.Echo/Unary', '--concurrency', '1e1'], /--concurrency 1e1: must be a positive whole number/],
      [['--method', 'fairway.test.Echo/Unary', '--compare', 'least_request'], /unknown policy "least_request" \(grpc-js policies: pick_first, round_robin\)/],
      [['--method', 'fairway.test.Echo/Unary', '--max-attempts', '3'], /needs --retry-timeout/],
      [['--method', 'fairway.test.Echo/Unary', '--no-fairway'], /--no-fairway: needs --compare/],
    ];
    for (const [args, message] of cases) {
      const c = captureIo();
      assert.equal(await runCli(['load', 'static:///127.0.0.1:1', '--proto', echoProtoPath(), ...args], c.io), EXIT.USAGE, args.join(' '));
      assert.match(c.err, message, args.join(' '));
    }
    const missing = captureIo();
    assert.equal(await runCli(['load', 'static:///127.0.0.1:1', '--proto', '/nonexistent/x.proto', '--method', 'a.B/C'], missing.io), EXIT.USAGE);
    assert.match(missing.err, /--proto \/nonexistent\/x\.proto: no such file/);
  });

  test('the real executable: progress lines on stderr, one JSON object on stdout', { timeout: 60_000 }, async () => {
    const a = await startEchoBackend({ id: 'a', zone: 'zone-a' });
    try {
      const child = spawn(process.execPath, [...childNodeArgs(), BIN, 'load', `static:///${a.address}@zone-a`, ...echo, '--rate', '50', '--duration', '2s', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      assert.equal(code, 0, err);
      assert.match(err, /^fairway: fairway\.test\.Echo\/Unary on static:\/\/\/.* 50 calls\/s \(open loop\) for 2s$/m);
      assert.match(err, /^ {2}\d+\.\ds sent \d+ ended \d+ in flight \d+ ok \d+ p50 [\d.]+ms p99 [\d.]+ms$/m);
      const doc = JSON.parse(out);
      assert.equal(doc.runs.length, 1);
      assert.equal(doc.runs[0].sent, 100);
      assert.deepEqual(doc.runs[0].statuses, { OK: 100 });
      assert.deepEqual(doc.runs[0].zones.map((z: { key: string; share: number }) => [z.key, z.share]), [['zone-a', 1]]);
    } finally {
      await a.stop();
    }
  });
});

test('the text report marks canary endpoints and says why the client halted its canary', async () => {
  const { formatRun } = await import('../index.js');
  const l = { count: 10, minMs: 1, meanMs: 2, p50Ms: 2, p90Ms: 3, p99Ms: 4, p999Ms: 4, maxMs: 4 };
  const row = (key: string, attempts: number) => ({ key, zone: 'a', attempts, share: attempts / 100, failed: 0, latency: l });
  const report: LoadRunReport = {
    policy: 'fairway',
    sent: 100,
    ended: 100,
    retried: 0,
    attempts: 100,
    sendingMs: 1000,
    elapsedMs: 1000,
    achievedRate: 100,
    latency: l,
    okLatency: l,
    statuses: { OK: 100 },
    errorDetails: {},
    endpoints: [row('10.0.0.1:1', 90), row('10.0.0.2:1', 10)],
    zones: [row('a', 100)],
    canaryEndpoints: ['10.0.0.2:1'],
    canaryHalts: ['canary error rate 40.0% vs stable 0.0% over 30000ms (margin 5.0%): canary halted'],
  };
  const text = formatRun(report);
  assert.match(text, /^10\.0\.0\.2:1 \(canary\)\s+a\s+10\s+10\.0%/m);
  assert.match(text, /^10\.0\.0\.1:1\s+a\s+90/m);
  assert.match(text, /^canary halted: canary error rate 40\.0% vs stable 0\.0% over 30000ms \(margin 5\.0%\): canary halted$/m);
  const plain = formatRun({ ...report, canaryEndpoints: undefined, canaryHalts: undefined } as LoadRunReport);
  assert.doesNotMatch(plain, /canary/);
  assert.doesNotMatch(plain, /endpoint table/, 'no balancer table for a run without one (grpc-js policies)');
  const withTable = formatRun({
    ...report,
    balancer: [
      { address: '10.0.0.1:1', zone: 'a', ready: true, inFlight: 0, rttMs: 2, ejection: 'in', slowStartPercent: 100 },
      { address: '10.0.0.2:1', zone: 'a', ready: true, inFlight: 0, rttMs: 5000, ejection: 'ejected (consecutive-failures, 9.5 s left, #1)', slowStartPercent: 40 },
    ],
  });
  assert.match(withTable, /^Fairway's endpoint table when the run ended \(ejection, slow start\):$/m);
  assert.match(withTable, /^ADDRESS\s+ZONE\s+READY\s+IN-FLIGHT\s+RTT\s+EJECTION\s+SLOW-START$/m);
  assert.match(withTable, /^10\.0\.0\.2:1\s+a\s+yes\s+0\s+5000\.0ms\s+ejected \(consecutive-failures, 9\.5 s left, #1\)\s+40%$/m);
});
