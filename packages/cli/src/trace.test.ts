// `fairway trace` from a Jaeger JSON file: the tree (call -> attempts -> server spans), each attempt's pod, zone,
// pick reason and retry reason, --json, and the errors (unknown id, bad id, missing file, no source given).
// The same command against a real Jaeger is in test/interop/jaeger-demo.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, EXIT } from './index.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const us = 1_700_000_000_000_000;
const t = (key: string, value: string | number | boolean) => ({ key, type: typeof value === 'boolean' ? 'bool' : typeof value === 'number' ? 'int64' : 'string', value });
const span = (spanID: string, parent: string | undefined, operationName: string, processID: string, start: number, duration: number, tags: ReturnType<typeof t>[]) => ({
  traceID: TRACE,
  spanID,
  flags: 1,
  operationName,
  references: parent ? [{ refType: 'CHILD_OF', traceID: TRACE, spanID: parent }] : [],
  startTime: us + start,
  duration,
  tags,
  logs: [],
  processID,
  warnings: null,
});

// A driver's call whose first attempt timed out on a pod in zone-a and was retried on one in zone-b.
const document = {
  data: [
    {
      traceID: TRACE,
      processes: { p1: { serviceName: 'quote-driver', tags: [] }, p2: { serviceName: 'pricer', tags: [t('host.name', 'pricer-b-1')] } },
      warnings: null,
      spans: [
        span('00000000000000a2', '00000000000000a1', 'trading.Pricer/Quote attempt 2', 'p1', 260_000, 30_000, [
          t('fairway.attempt', 2), t('fairway.endpoint.instance', 'pricer-b-1'), t('fairway.endpoint.zone', 'zone-b'), t('fairway.endpoint.address', '127.0.0.1:40002'),
          t('fairway.client.zone', 'zone-a'), t('fairway.cross_zone', true), t('fairway.pick.reason', 'only endpoint left after excluding 127.0.0.1:40001'), t('rpc.grpc.status_code', 0), t('span.kind', 'client'),
        ]),
        span('00000000000000a1', undefined, 'trading.Pricer/Quote', 'p1', 0, 300_000, [t('fairway.attempts', 2), t('rpc.grpc.status_code', 0), t('span.kind', 'client')]),
        span('00000000000000b1', '00000000000000a1', 'trading.Pricer/Quote attempt 1', 'p1', 10_000, 250_000, [
          t('fairway.attempt', 1), t('fairway.endpoint.instance', 'pricer-a-1'), t('fairway.endpoint.zone', 'zone-a'), t('fairway.endpoint.address', '127.0.0.1:40001'),
          t('fairway.pick.reason', 'p2c: 127.0.0.1:40001 cost 3.1 < 127.0.0.1:40002 cost 7.9'), t('fairway.attempt.timed_out', true),
          t('fairway.retry.reason', 'attempt timed out after 250ms; retrying on another endpoint'), t('rpc.grpc.status_code', 4),
          t('otel.status_code', 'ERROR'), t('otel.status_description', 'attempt timed out'), t('error', true), t('span.kind', 'client'),
        ]),
        span('00000000000000c2', '00000000000000a2', 'trading.Pricer/Quote', 'p2', 265_000, 20_000, [t('rpc.grpc.status_code', 0), t('span.kind', 'server')]),
      ],
    },
  ],
  total: 1,
  limit: 0,
  offset: 0,
  errors: null,
};

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

const dir = mkdtempSync(join(tmpdir(), 'fairway-trace-cli-'));
const file = join(dir, 'traces.json');
writeFileSync(file, JSON.stringify(document));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('fairway trace --file prints the call, its attempts in order with pod, zone, pick and retry reasons, and the server span', async () => {
  const c = capture();
  assert.equal(await runCli(['trace', TRACE.toUpperCase(), '--file', file], c.io), EXIT.OK, c.err);
  const lines = c.out.trimEnd().split('\n');
  assert.equal(lines[0], `trace ${TRACE}: 4 spans, 2 services (quote-driver, pricer), 2 attempt(s)`);
  assert.equal(lines[1], 'quote-driver: trading.Pricer/Quote [client]  OK  +0.0 ms 300 ms');
  assert.equal(lines[2], '├─ attempt 1 -> pricer-a-1 (zone-a)  status 4 (attempt timed out)  +10.0 ms 250 ms');
  assert.equal(lines[3], '│     address: 127.0.0.1:40001');
  assert.equal(lines[4], '│     pick: p2c: 127.0.0.1:40001 cost 3.1 < 127.0.0.1:40002 cost 7.9');
  assert.equal(lines[5], "│     timed out (Fairway's attempt timer)");
  assert.equal(lines[6], '│     retry: attempt timed out after 250ms; retrying on another endpoint');
  assert.equal(lines[7], '└─ attempt 2 -> pricer-b-1 (zone-b, cross-zone)  OK  +260 ms 30.0 ms');
  assert.equal(lines[8], '   │  address: 127.0.0.1:40002');
  assert.equal(lines[9], '   │  pick: only endpoint left after excluding 127.0.0.1:40001');
  assert.equal(lines[10], '   └─ pricer: trading.Pricer/Quote [server]  OK  +265 ms 20.0 ms');
  assert.equal(lines.length, 11);
});

test('fairway trace --json gives the tree with the attempts fields', async () => {
  const c = capture();
  assert.equal(await runCli(['trace', TRACE, '--file', file, '--json'], c.io), EXIT.OK, c.err);
  const out = JSON.parse(c.out);
  assert.equal(out.traceId, TRACE);
  assert.equal(out.spans, 4);
  assert.equal(out.roots.length, 1);
  const [a1, a2] = out.roots[0].children;
  assert.deepEqual(a1.attempt, {
    number: 1,
    pod: 'pricer-a-1',
    zone: 'zone-a',
    address: '127.0.0.1:40001',
    pickReason: 'p2c: 127.0.0.1:40001 cost 3.1 < 127.0.0.1:40002 cost 7.9',
    retryReason: 'attempt timed out after 250ms; retrying on another endpoint',
    timedOut: true,
  });
  assert.equal(a1.grpcStatus, 4);
  assert.equal(a2.attempt.pod, 'pricer-b-1');
  assert.equal(a2.attempt.crossZone, true);
  assert.equal(a2.children[0].service, 'pricer');
  assert.equal(a2.children[0].kind, 'server');
});

test('fairway trace: unknown or malformed ids, a missing file and no source are usage errors naming the problem', async () => {
  const unknown = capture();
  assert.equal(await runCli(['trace', 'ffffffffffffffffffffffffffffffff', '--file', file], unknown.io), EXIT.USAGE);
  assert.match(unknown.err, /has no trace ffffffffffffffffffffffffffffffff \(it has 1 trace\(s\), e\.g\. 4bf92f35/);
  const bad = capture();
  assert.equal(await runCli(['trace', 'not-a-trace', '--file', file], bad.io), EXIT.USAGE);
  assert.match(bad.err, /trace id "not-a-trace": write the 32 hex digits/);
  const missing = capture();
  assert.equal(await runCli(['trace', TRACE, '--file', join(dir, 'nope.json')], missing.io), EXIT.USAGE);
  assert.match(missing.err, /nope\.json: no such file/);
  const notJaeger = capture();
  writeFileSync(join(dir, 'other.json'), '{"items":[]}');
  assert.equal(await runCli(['trace', TRACE, '--file', join(dir, 'other.json')], notJaeger.io), EXIT.USAGE);
  assert.match(notJaeger.err, /is not Jaeger JSON: expected an object with a "data" array/);
  const none = capture();
  const saved = process.env['FAIRWAY_JAEGER_URL'];
  delete process.env['FAIRWAY_JAEGER_URL'];
  try {
    assert.equal(await runCli(['trace', TRACE], none.io), EXIT.USAGE);
  } finally {
    if (saved !== undefined) process.env['FAIRWAY_JAEGER_URL'] = saved;
  }
  assert.match(none.err, /say where the trace is: --jaeger .* or --file/);
});

test('fairway trace --jaeger: an address where nothing answers exits 3 (unreachable) and says so', async () => {
  // A loopback server that accepts and closes at once, so the fetch fails without any port guessing.
  const { createServer } = await import('node:net');
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const c = capture();
    assert.equal(await runCli(['trace', TRACE, '--jaeger', `http://127.0.0.1:${port}`, '--timeout', '5s'], c.io), EXIT.UNREACHABLE);
    assert.match(c.err, new RegExp(`Jaeger at http://127\\.0\\.0\\.1:${port} did not answer /api/traces/${TRACE}`));
  } finally {
    server.close();
  }
});

test('fairway trace --jaeger on a port Node\'s fetch refuses ("bad port": 1, 6000) fails at once as a usage error naming the URL and the reason', async () => {
  // These ports are never bound: fetch refuses them before connecting (the Fetch standard's port blocking).
  for (const url of ['http://127.0.0.1:1', 'http://127.0.0.1:6000']) {
    const c = capture();
    assert.equal(await runCli(['trace', TRACE, '--jaeger', url], c.io), EXIT.USAGE, c.err);
    assert.match(c.err, new RegExp(`^fairway: --jaeger ${url.replace(/[.]/g, '\\.')}: Node's fetch refuses port \\d+ \\("bad port"`));
    assert.doesNotMatch(c.err, /did not answer|within/);
  }
});

test('fairway trace --jaeger: a server that never answers is reported as not answering within --timeout', async () => {
  const { createServer } = await import('node:net');
  const held = new Set<import('node:net').Socket>();
  const server = createServer((socket) => void held.add(socket));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const c = capture();
    assert.equal(await runCli(['trace', TRACE, '--jaeger', `http://127.0.0.1:${port}`, '--timeout', '300ms'], c.io), EXIT.UNREACHABLE);
    assert.match(c.err, new RegExp(`Jaeger at http://127\\.0\\.0\\.1:${port} did not answer /api/traces/${TRACE} within 300 ms\\n$`));
  } finally {
    for (const s of held) s.destroy();
    server.close();
  }
});
