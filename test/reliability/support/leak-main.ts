/**
 * Child process of no-leak-under-churn.test.ts (run with --expose-gc): 100,000 unary calls through createClient
 * while the endpoint set changes every 1,000 calls (endpoints come and go; some come back as a new incarnation
 * on the same address, which means a new connection). Prints one JSON line with heap figures after GC, the
 * call tally and what the policy still tracks once the set has settled.
 */
import { credentials } from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadEcho, echoUnary, createScriptedDiscovery, createSeededRandom } from '@fairway/testing';
import type { EndpointInfo } from '@fairway/core';
import { createClient, registerDiscoveryScheme, setDefaultLogger } from '@fairway/grpc';
import { policyOf } from './policy-introspection.js';

const totalCalls = Number(process.argv[2] ?? 100_000);
const concurrency = 64;
const changeEvery = 1_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const heapAfterGc = async (): Promise<number> => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  setDefaultLogger({ info() {}, warn() {}, error() {} });
  // The backends run in a child process, so this process measures only the client.
  const child = spawn(process.execPath, ['--conditions=fairway:source', '--import', 'tsx', fileURLToPath(new URL('./backends-main.ts', import.meta.url)), '8'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const backends = await new Promise<Array<{ id: string; address: string }>>((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error('backends child did not start within 120 s')), 120_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        resolve(JSON.parse(buf.slice(0, nl)) as Array<{ id: string; address: string }>);
      }
    });
    child.once('exit', (code) => reject(new Error(`backends child exited with ${code}`)));
  });
  const discovery = createScriptedDiscovery();
  registerDiscoveryScheme('rel-leak', discovery.factory);
  const random = createSeededRandom('leak');
  const incarnation = new Map<string, number>();
  let current: EndpointInfo[] = [];
  const change = () => {
    const n = 3 + Math.floor(random() * 4);
    const chosen = [...backends].sort(() => random() - 0.5).slice(0, n);
    current = chosen.map((b) => {
      // A third of the time an endpoint comes back as a new incarnation (a restarted process).
      if (random() < 0.33) incarnation.set(b.id, (incarnation.get(b.id) ?? 0) + 1);
      return { address: b.address, instance: b.id, incarnation: `1764032400000-${String(incarnation.get(b.id) ?? 0).padStart(4, '0')}` };
    });
    discovery.push(current);
  };
  change();
  const { EchoClient } = loadEcho();
  const client = createClient(EchoClient, 'rel-leak:///echo', credentials.createInsecure());
  let issued = 0;
  let ok = 0;
  const failures: Record<string, number> = {};
  let silentFailures = 0;
  let hanging = 0;
  let changes = 0;
  const heap: Record<string, number> = {};
  const started = Date.now();
  const worker = async () => {
    while (issued < totalCalls) {
      const i = issued++;
      if (i > 0 && i % changeEvery === 0) {
        change();
        changes++;
      }
      let dog: NodeJS.Timeout | undefined;
      const r = await Promise.race([
        echoUnary(client, { message: 'leak' }, { deadlineMs: 20_000 }),
        new Promise<'hang'>((resolve) => (dog = setTimeout(() => resolve('hang'), 30_000))),
      ]);
      clearTimeout(dog);
      if (r === 'hang') hanging++;
      else if (r.ok) ok++;
      else {
        failures[`${r.code} ${r.details.slice(0, 80)}`] = (failures[`${r.code} ${r.details.slice(0, 80)}`] ?? 0) + 1;
        if (r.details.trim() === '') silentFailures++;
      }
    }
  };
  // Heap is sampled by the main flow at fixed call counts, with the load paused around the measurement.
  const sampler = (async () => {
    for (const at of [10_000, Math.floor(totalCalls / 2)]) {
      while (issued < at) await sleep(20);
      heap[`at${at}`] = await heapAfterGc();
    }
  })();
  await Promise.all(Array.from({ length: concurrency }, worker));
  await sampler;
  const elapsedMs = Date.now() - started;
  // Let the last set settle, then read what the policy tracks.
  change();
  const live = new Set(current.map((e) => e.address));
  let rows = policyOf(client).balancerRows();
  let children = policyOf(client).children();
  for (let i = 0; i < 100; i++) {
    rows = policyOf(client).balancerRows();
    children = policyOf(client).children();
    if (rows.length === live.size && children.length === live.size) break;
    await sleep(100);
  }
  heap['end'] = await heapAfterGc();
  const result = {
    totalCalls,
    issued,
    ok,
    failures,
    silentFailures,
    hanging,
    changes,
    elapsedMs,
    heap,
    live: [...live].sort(),
    rows: rows.map((r) => ({ address: r.address, incarnation: r.incarnation, inFlight: r.inFlight })),
    children: children.map((c) => c.key),
    unstartedPicks: policyOf(client).unstartedPicks(),
    liveIncarnations: current.map((e) => e.incarnation).sort(),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  client.close();
  child.stdin!.end();
  child.kill();
  setTimeout(() => process.exit(0), 200).unref();
}

main().catch((e: unknown) => {
  // (the backends child exits when our stdin pipe to it closes, i.e. when this process exits)
  process.stderr.write(`leak-main failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
