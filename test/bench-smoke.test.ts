// Smoke test of the benchmark harness: `npm run bench -- --quick --only B5,B1,B9,B10,B11` must run (compiled
// JavaScript, real pod processes with a capacity, the baselines including both HAProxy modes) and write a
// well-formed report. It never checks a figure against its goal: speed on a shared CI machine is not a test
// result. It fails when the benchmark itself breaks: exit code, missing or malformed JSON, a scenario that
// errored, Fairway or a baseline not measured, rounds without a spread, a latency goal without its gap check,
// the pods' own figures missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function runBench(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env['NODE_OPTIONS'];
    // CI builds every package just before the tests; rebuilding here would only cost time. Without built
    // packages (a fresh checkout), scripts/bench.mjs builds what the benchmark needs.
    const built = ['fairway', 'grpc', 'core', 'testing', 'discovery-etcd', 'discovery-kubernetes'].every((p) => existsSync(join(root, 'packages', p, 'dist', 'index.js')));
    if (built) env['FAIRWAY_BENCH_SKIP_BUILD'] = '1';
    const child = spawn(process.execPath, [join(root, 'scripts/bench.mjs'), ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 20_000) stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Figure {
  name: string;
  unit: string;
  values: Record<string, number | null>;
  verdict: string;
  goal?: string;
  ratio?: number | null;
  rounds?: number;
  spreads?: Record<string, number | null>;
  gap?: { between: string[]; gap: number | null; spread: number | null; times: number | null; counts: boolean };
}
interface Scenario {
  id: string;
  status: string;
  reason?: string;
  variants: string[];
  figures: Figure[];
  params: Record<string, unknown>;
}

test('npm run bench -- --quick --only B5,B1,B9,B10,B11 runs and writes a well-formed report', { timeout: 600_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'fairway-bench-smoke-'));
  try {
    const r = await runBench(['--quick', '--only', 'B5,B1,B9,B10,B11', '--no-progress', '--seed', '4242', '--out', out], 580_000);
    assert.equal(r.code, 0, `bench exited with ${r.code}\nstdout:\n${r.stdout.slice(-4000)}\nstderr:\n${r.stderr.slice(-4000)}`);
    // The readable table: each scenario, the goal columns, the summary.
    assert.match(r.stdout, /^B5 {2}scale/m);
    assert.match(r.stdout, /^B1 {2}noisy neighbour/m);
    assert.match(r.stdout, /^B9 {2}saturation/m);
    assert.match(r.stdout, /^B10 {2}a pod that fails fast/m);
    assert.match(r.stdout, /^B11 {2}overload/m);
    assert.match(r.stdout, /figure .* goal +ratio +gap \/ spread +result/);
    assert.match(r.stdout, /values: median of 2 interleaved round\(s\)/);
    assert.match(r.stdout, /^Summary$/m);
    assert.match(r.stdout, /^Fairway benchmarks \(quick sizes\), .* cores, seed 4242$/m);

    const files = readdirSync(out);
    assert.ok(files.includes('latest.json'), `latest.json missing in ${files.join(', ')}`);
    assert.ok(files.some((f) => /^\d{4}-\d\d-\d\dT.*-quick\.json$/.test(f)), `no timestamped copy in ${files.join(', ')}`);
    const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as {
      schema: string;
      quick: boolean;
      startedAt: string;
      finishedAt: string;
      seed: number;
      machine: { cpus: number; node: string };
      scenarios: Scenario[];
      summary: Record<string, number>;
    };
    assert.equal(report.schema, 'fairway-bench/2');
    assert.equal(report.quick, true);
    // The latency scenarios replay the run's seeded service times in every round of every variant.
    assert.equal(report.seed, 4242);
    for (const id of ['B1', 'B9']) assert.equal(report.scenarios.find((s) => s.id === id)?.params['seed'], 4242, `${id} params.seed`);
    assert.ok(Date.parse(report.finishedAt) >= Date.parse(report.startedAt));
    assert.equal(typeof report.machine.cpus, 'number');
    assert.deepEqual(report.scenarios.map((s) => s.id), ['B5', 'B1', 'B9', 'B10', 'B11']);
    for (const key of ['pass', 'miss', 'noise', 'na', 'errors', 'skipped']) assert.equal(typeof report.summary[key], 'number', `summary.${key}`);
    assert.equal(report.summary['errors'], 0);
    assert.equal(report.summary['skipped'], 0, 'every scenario is built');
    for (const s of report.scenarios) {
      assert.equal(s.status, 'ok', `${s.id}: ${s.status} ${s.reason ?? ''}`);
      assert.equal(s.variants[0], 'fairway', `${s.id}: fairway is the first column`);
      assert.ok(s.figures.length > 0, `${s.id} has figures`);
      for (const f of s.figures) {
        assert.ok(['PASS', 'MISS', 'NOISE', 'INFO', 'N/A'].includes(f.verdict), `${s.id} ${f.name}: verdict ${f.verdict}`);
        assert.equal(typeof f.name, 'string');
        assert.equal(typeof f.unit, 'string');
        for (const v of Object.values(f.values)) assert.ok(v === null || typeof v === 'number', `${s.id} ${f.name}: value ${String(v)}`);
        if (['PASS', 'MISS', 'NOISE'].includes(f.verdict)) assert.equal(typeof f.goal, 'string', `${s.id} ${f.name}: a checked figure states its goal`);
        // NOISE only with a gap check that did not count; a gap check that did not count is never PASS or MISS.
        if (f.verdict === 'NOISE') assert.equal(f.gap?.counts, false, `${s.id} ${f.name}: NOISE without a failed gap check`);
        if (f.gap && !f.gap.counts) assert.ok(['NOISE', 'N/A'].includes(f.verdict), `${s.id} ${f.name}: a goal whose gap is under 5x the spread cannot be ${f.verdict}`);
      }
    }
    const fig = (id: string, name: string): Figure => {
      const f = report.scenarios.find((s) => s.id === id)?.figures.find((x) => x.name === name);
      assert.ok(f, `${id} has figure "${name}"`);
      return f;
    };
    // Fairway itself was measured (a figure may miss its goal; it may not be absent).
    for (const n of [10, 100, 1000]) assert.equal(typeof fig('B5', `pick, ${n} endpoints`).values['fairway'], 'number');
    assert.equal(typeof fig('B5', 'balancer state per endpoint (1,000 set)').values['fairway'], 'number');
    // B1: every variant measured in every round, with a spread, and the latency goal carries its gap check.
    const p99 = fig('B1', 'p99 during the event vs oracle');
    for (const v of ['fairway', 'round_robin', 'haproxy', 'haproxy_leastconn', 'oracle']) {
      assert.equal(typeof p99.values[v], 'number', `B1 p99 of ${v}`);
      assert.equal(typeof p99.spreads?.[v], 'number', `B1 p99 spread of ${v} (2 rounds)`);
    }
    assert.equal(p99.rounds, 2);
    assert.deepEqual(p99.gap?.between, ['round_robin', 'oracle']);
    assert.equal(typeof p99.gap?.gap, 'number');
    assert.equal(typeof p99.gap?.spread, 'number');
    assert.equal(p99.gap?.counts, (p99.gap?.times ?? 0) >= 5);
    assert.equal(typeof fig('B1', "slow pod's share / its capacity share").values['fairway'], 'number');
    // The pods' own figures: the slow pod really was busy during the event under round_robin (it gets 1/9 of a
    // load at 70 % utilization with 1/3 of its capacity: over 100 %), and the oracle never sent it a call.
    const slowUtil = fig('B1', "slow pod's utilization during the event");
    assert.ok((slowUtil.values['round_robin'] ?? 0) > 50, `round_robin's slow pod utilization ${String(slowUtil.values['round_robin'])} %`);
    assert.equal(slowUtil.values['oracle'], 0);
    // B1 with hedging: its own p99 goal (judged on the fairway_hedged column) and the extra calls it cost.
    assert.equal(typeof fig('B1', 'p99 during the event, hedged, vs oracle').values['fairway_hedged'], 'number');
    assert.equal(typeof fig('B1', 'extra calls from hedging, % of calls').values['fairway_hedged'], 'number');
    // B10: the failing pod's share from its own count, for Fairway and both baselines; Fairway's ejections counted.
    for (const v of ['fairway', 'fairway_no_ejection', 'round_robin']) {
      assert.equal(typeof fig('B10', "failing pod's share from 1 s after the failure").values[v], 'number', `B10 share of ${v}`);
    }
    assert.ok((fig('B10', 'errors the failing pod answered').values['round_robin'] ?? 0) > 0, 'round_robin sent the failing pod calls');
    assert.equal(typeof fig('B10', 'ejections of the failing pod').values['fairway'], 'number');
    // B11: goodput against capacity and attempts per call, for every variant.
    for (const v of ['fairway', 'fairway_no_limit', 'round_robin']) {
      assert.equal(typeof fig('B11', 'goodput, % of fleet capacity').values[v], 'number', `B11 goodput of ${v}`);
      assert.equal(typeof fig('B11', 'attempts per call').values[v], 'number', `B11 attempts per call of ${v}`);
    }
    // B9: queue figures sampled from the pods, for every variant.
    assert.equal(typeof fig('B9', 'p99 latency').gap?.gap, 'number');
    for (const v of ['fairway', 'round_robin', 'haproxy', 'haproxy_leastconn']) assert.equal(typeof fig('B9', 'queue length, mean per pod').values[v], 'number', `B9 queue of ${v}`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('npm run bench -- --seed with a bad value exits 2 naming the option', { timeout: 120_000 }, async () => {
  for (const bad of ['abc', '-3', '1.5']) {
    const r = await runBench(['--only', 'B5', '--seed', bad], 100_000);
    assert.equal(r.code, 2, `--seed ${bad}: exit ${r.code}\n${r.stderr.slice(-2000)}`);
    assert.match(r.stderr, /--seed takes a whole number >= 0, got "/);
  }
});

// Issue 14 item 2: no pre-chosen ports in the benchmark. A port found free and handed on can be taken by another
// process in between (the demo died with EADDRINUSE that way). Every bench server binds port 0 and reports it;
// HAProxy inherits a socket bound to port 0. The one exception, B3's restart of a killed zone on the ports it had
// (a static target knows no other), is `restartEndpoint`, which retries its bind.
test('the benchmark chooses no port ahead: no freePort, no fixed port in bench/', () => {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      if (name.name === 'dist' || name.name === 'results') continue;
      const p = join(dir, name.name);
      if (name.isDirectory()) walk(p);
      else if (p.endsWith('.ts')) files.push(p);
    }
  };
  walk(join(root, 'bench'));
  assert.ok(files.length > 10, `found the bench sources (${files.length})`);
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    assert.doesNotMatch(text, /\bfreePort\b/, `${f} probes for a free port`);
    assert.doesNotMatch(text, /127\.0\.0\.1:[1-9]\d{1,4}\b/, `${f} names a fixed port`);
  }
  const haproxy = readFileSync(join(root, 'bench/lib/haproxy.ts'), 'utf8');
  assert.match(haproxy, /bind fd@3/, 'HAProxy listens on the inherited port-0 socket');
});
