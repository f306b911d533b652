// No pre-chosen ports in the examples (issue 14: a probed "free" port was taken by another process's outgoing
// connection before the demo's replacement pricer bound it, and the demo died with EADDRINUSE): every server
// binds port 0 and reports what it got. And a pipeline pod serves through its capacity model and reports its
// load to the runner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadTradingProto, type PublishReply, type PublishRequest } from './proto.js';
import type { PodLoadReport } from './pod-load.js';

const EXAMPLES = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|mts|cts|js|mjs|cjs|sh)$/.test(name) && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

test('no example probes for a free port and hands it on', () => {
  const files = sources(EXAMPLES);
  assert.ok(files.some((f) => f.endsWith('run-arm.ts')), `scanned the demo runner: ${files.length} files`);
  const offenders = files.filter((f) => /\bfreePort\b|\bget-port\b|\bportfinder\b/.test(readFileSync(f, 'utf8'))).map((f) => relative(EXAMPLES, f));
  assert.deepEqual(offenders, [], 'use port 0 and the port the server reports');
  // The runner passes port 0 to every process it starts.
  const runner = readFileSync(join(EXAMPLES, 'trading-pipeline/src/run-arm.ts'), 'utf8');
  assert.match(runner, /DEMO_PORT: '0'/);
  assert.doesNotMatch(runner, /DEMO_PORT: String\(/);
});

test('a publisher pod binds port 0, reports its port, serves through its capacity and reports its load', { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, ['--conditions=fairway:source', '--import', 'tsx', fileURLToPath(new URL('./publisher.ts', import.meta.url))], {
    env: {
      ...process.env,
      FAIRWAY_ZONE: 'zone-a',
      DEMO_INSTANCE: 'publisher-test',
      DEMO_DISCOVERY: 'k8s', // binds only: no etcd needed
      DEMO_PORT: '0',
      DEMO_MODE: 'pick_first', // no telemetry
      DEMO_PUBLISH_MS: '5',
    },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const messages: Record<string, unknown>[] = [];
  const waiters: { pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];
  child.on('message', (m: Record<string, unknown>) => {
    messages.push(m);
    for (const w of [...waiters]) if (w.pred(m)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(m));
  });
  const next = (pred: (m: Record<string, unknown>) => boolean, what: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const seen = messages.find(pred);
      if (seen) return resolve(seen);
      const timer = setTimeout(() => reject(new Error(`no ${what} from the publisher; stderr:\n${stderr}`)), 45_000);
      waiters.push({ pred, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  let client: Client | undefined;
  try {
    const ready = await next((m) => m.type === 'ready', 'ready message');
    const port = ready.port as number;
    assert.ok(Number.isInteger(port) && port > 0, `reported port ${String(port)}`);
    client = new (loadTradingProto().Publisher)(`127.0.0.1:${port}`, credentials.createInsecure());
    const publish = (req: PublishRequest) =>
      new Promise<PublishReply>((resolve, reject) =>
        (client as Client & { Publish(r: PublishRequest, o: object, cb: (e: ServiceError | null, r?: PublishReply) => void): void }).Publish(
          req,
          { deadline: Date.now() + 20_000 },
          (e, r) => (e ? reject(e) : resolve(r!)),
        ),
      );
    const replies = await Promise.all([1, 2, 3, 4].map(() => publish({ symbol: 'EURUSD', price: 1, pricer: 'test' })));
    assert.deepEqual(new Set(replies.map((r) => r.pod)), new Set(['publisher-test']));
    // Its load report counts them (one slot: at most one in service, the others waited).
    const report = (await next((m) => m.type === 'pod-load' && (m as unknown as PodLoadReport).served > 0, 'load report')) as unknown as PodLoadReport;
    assert.equal(report.instance, 'publisher-test');
    assert.equal(report.role, 'publisher');
    assert.equal(report.slots, 1);
    assert.equal(report.capacityFactor, 1);
    assert.ok(report.served >= 1 && report.served <= 4, JSON.stringify(report));
    // A noisy neighbour: the runner cuts its capacity, the next report says so.
    child.send({ type: 'capacity', factor: 0.25 });
    const cut = (await next((m) => m.type === 'pod-load' && (m as unknown as PodLoadReport).capacityFactor === 0.25, 'report after the cut')) as unknown as PodLoadReport;
    assert.equal(cut.capacityPerSec, 50, '1 slot / 5 ms x 0.25');
  } finally {
    client?.close();
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  }
});
