// A real Jaeger (v2, built from its Go module by scripts/tools/build-jaeger.sh, cached): the launcher's
// listeners all come from port 0; `npm run demo -- --jaeger` (short) sends the demo's traces to it over OTLP;
// Jaeger's query API (/api/traces) gives back one quote's trace spanning driver, pricer and publisher with
// Fairway's attempt spans (pod, zone, pick reason); `fairway trace` prints that trace the same way from the API
// and from the JSON file of the API's answer; Ctrl-C stops the demo and its Jaeger.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startJaeger, childNodeArgs, type JaegerApiTrace } from '@fairway/testing';
import { runCli, EXIT } from '@fairway/cli';

const root = fileURLToPath(new URL('../..', import.meta.url));
const DEMO = join(root, 'examples/trading-pipeline/src/demo.ts');

before(() => {
  // Builds Jaeger the first time on this machine (minutes), then only prints the cached binary's path.
  const bin = execFileSync('bash', [join(root, 'scripts/tools/build-jaeger.sh')], { encoding: 'utf8', timeout: 45 * 60_000, stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  process.env['FAIRWAY_JAEGER_BIN'] = bin;
});

function capture() {
  let out = '';
  let err = '';
  return {
    io: { out: (s: string) => void (out += s), err: (s: string) => void (err += s), interrupted: new Promise<NodeJS.Signals>(() => {}) },
    get out() {
      return out;
    },
    get err() {
      return err;
    },
  };
}

const tag = (span: JaegerApiTrace['spans'][number], key: string) => span.tags.find((t) => t.key === key)?.value;

test('startJaeger: loopback listeners from port 0, OTLP/HTTP in, the query API out, no UI but a placeholder', { timeout: 120_000 }, async () => {
  const jaeger = await startJaeger();
  try {
    for (const url of [jaeger.otlpGrpcUrl, jaeger.otlpHttpUrl, jaeger.queryUrl]) assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(new Set([jaeger.otlpGrpcUrl, jaeger.otlpHttpUrl, jaeger.queryUrl]).size, 3);
    // One span over OTLP/HTTP (JSON encoding), read back by id.
    const traceId = '5b8efff798038103d269b633813fc60c';
    const now = BigInt(Date.now()) * 1_000_000n;
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'interop-check' } }] },
          scopeSpans: [{ spans: [{ traceId, spanId: 'eee19b7ec3c1b174', name: 'check', kind: 2, startTimeUnixNano: String(now), endTimeUnixNano: String(now + 1_000_000n) }] }],
        },
      ],
    };
    const res = await fetch(`${jaeger.otlpHttpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 200, await res.text());
    let trace: JaegerApiTrace | undefined;
    for (let i = 0; i < 100 && !trace; i++) {
      trace = await jaeger.getTrace(traceId);
      if (!trace) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(trace, 'the span came back from /api/traces/<id>');
    assert.equal(trace.spans[0]!.operationName, 'check');
    assert.deepEqual(await jaeger.services(), ['interop-check']);
    assert.equal(await jaeger.getTrace('0123456789abcdef0123456789abcdef'), undefined);
    const page = await (await fetch(`${jaeger.queryUrl}/`)).text();
    assert.match(page, /not the Jaeger UI you are looking for/, 'the module has no built UI: a placeholder page');
  } finally {
    await jaeger.close();
  }
});

test('npm run demo -- --jaeger: one quote traced across driver, pricer and publisher in Jaeger, read by fairway trace', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fairway-jaeger-demo-'));
  const child = spawn(
    process.execPath,
    [...childNodeArgs(), DEMO, '--jaeger', '--duration', '6s', '--rate', '60', '--trace-ratio', '0.3', '--work-ms', '5', '--plain'],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: root },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code, signal) => r(code ?? (signal ? 128 : null))));
  try {
    let ended = false;
    void exited.then(() => (ended = true));
    while (!ended && !out.includes('Jaeger keeps running until Ctrl-C.')) await new Promise((r) => setTimeout(r, 200));
    const ready = !ended;
    assert.ok(ready, `demo ended before saying Jaeger runs\nstdout:\n${out.slice(-3000)}\nstderr:\n${err.slice(-3000)}`);
    const queryUrl = /query API (http:\/\/127\.0\.0\.1:\d+)\/api\//.exec(out)?.[1];
    const shown = /npx fairway trace ([0-9a-f]{32}) --jaeger (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
    assert.ok(queryUrl && shown, `the demo prints where to look:\n${out.slice(-2000)}`);
    assert.equal(shown[2], queryUrl);
    assert.match(out, /No UI: Jaeger built from its Go module serves only a placeholder page/);

    // Jaeger's HTTP API, as a user would call it.
    const services = ((await (await fetch(`${queryUrl}/api/services`)).json()) as { data: string[] }).data;
    for (const s of ['quote-driver', 'pricer', 'publisher']) assert.ok(services.includes(s), `service ${s} in ${services}`);
    const listed = (await (await fetch(`${queryUrl}/api/traces?service=quote-driver&limit=200&lookback=1h`)).json()) as { data: JaegerApiTrace[] };
    const full = listed.data.filter((t) => {
      const svc = new Set(t.spans.map((s) => t.processes[s.processID]!.serviceName));
      return svc.has('quote-driver') && svc.has('pricer') && svc.has('publisher');
    });
    assert.ok(full.length > 0, `a trace spans driver, pricer and publisher (of ${listed.data.length})`);
    const trace = full.find((t) => t.traceID === shown[1]) ?? full[0]!;
    const attempts = trace.spans.filter((s) => tag(s, 'fairway.attempt') !== undefined);
    assert.ok(attempts.length >= 2, `attempt spans for the pricer and the publisher calls: ${attempts.length}`);
    for (const a of attempts) {
      assert.match(String(tag(a, 'fairway.pick.reason')), /\S/, `pick reason on ${a.operationName}`);
      assert.match(String(tag(a, 'fairway.endpoint.instance')), /^(pricer|publisher)-/, `pod on ${a.operationName}`);
      assert.match(String(tag(a, 'fairway.endpoint.zone')), /^zone-[abc]$/, `zone on ${a.operationName}`);
      // Each attempt's parent is its call span in the same trace, and a server span hangs under the attempt.
      const parent = a.references.find((r) => r.refType === 'CHILD_OF')?.spanID;
      assert.ok(trace.spans.some((s) => s.spanID === parent), 'attempt under its call');
    }
    assert.ok(
      trace.spans.some((s) => tag(s, 'span.kind') === 'server' && attempts.some((a) => s.references.some((r) => r.spanID === a.spanID))),
      'a server span continues the trace under an attempt (W3C context crossed the process)',
    );

    // fairway trace from Jaeger's API and from the JSON file of the same answer.
    const fromApi = capture();
    assert.equal(await runCli(['trace', trace.traceID, '--jaeger', queryUrl], fromApi.io), EXIT.OK, fromApi.err);
    assert.match(fromApi.out, new RegExp(`^trace ${trace.traceID}: \\d+ spans, \\d+ services \\(.*quote-driver.*\\)`));
    assert.match(fromApi.out, /attempt 1 -> (pricer|publisher)-\S+ \(zone-[abc]/);
    assert.match(fromApi.out, /pick: \S/);
    assert.match(fromApi.out, /publisher: \S+ \[server\]/);
    const file = join(dir, 'trace.json');
    writeFileSync(file, await (await fetch(`${queryUrl}/api/traces/${trace.traceID}`)).text());
    const fromFile = capture();
    assert.equal(await runCli(['trace', trace.traceID, '--file', file], fromFile.io), EXIT.OK, fromFile.err);
    assert.equal(fromFile.out, fromApi.out);
    const json = capture();
    assert.equal(await runCli(['trace', trace.traceID, '--jaeger', queryUrl, '--json'], json.io), EXIT.OK);
    assert.equal(JSON.parse(json.out).spans, trace.spans.length);

    // Ctrl-C: the demo stops and takes its Jaeger with it.
    child.kill('SIGINT');
    assert.equal(await exited, 0, err.slice(-2000));
    await assert.rejects(fetch(`${queryUrl}/api/services`, { signal: AbortSignal.timeout(3000) }), 'Jaeger stopped with the demo');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
