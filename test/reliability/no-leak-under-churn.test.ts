// No leaks under churn: 100,000 unary calls through createClient while the endpoint set changes every 1,000
// calls (endpoints come and go, a third come back as a new incarnation on a new connection). Runs in a child
// process with --expose-gc (support/leak-main.ts; the backends are in a grandchild so only the client is
// measured). Asserts: every call ends (none hanging, no failure without details), the policy's connection
// children and the Balancer's rows are exactly the live set afterwards with nothing counted in flight, and the
// heap after GC at the end is at most HEAP_GROWTH_BOUND_BYTES above the heap after GC at 10,000 calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The stated bound: 8 MiB over 90,000 calls (a leak of ~90 bytes per call or more fails). */
const HEAP_GROWTH_BOUND_BYTES = 8 * 1024 * 1024;
const CALLS = 100_000;

interface LeakResult {
  totalCalls: number;
  issued: number;
  ok: number;
  failures: Record<string, number>;
  silentFailures: number;
  hanging: number;
  changes: number;
  elapsedMs: number;
  heap: Record<string, number>;
  live: string[];
  rows: Array<{ address: string; incarnation?: string; inFlight: number }>;
  children: string[];
  unstartedPicks: number;
  liveIncarnations: string[];
}

test(`${CALLS} calls while endpoints come and go: state returns to the live set, heap bounded`, { timeout: 900_000 }, async () => {
  const main = fileURLToPath(new URL('./support/leak-main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--expose-gc', '--conditions=fairway:source', '--import', 'tsx', main, String(CALLS)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 880_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(killer);
  const line = out.split('\n').find((l) => l.startsWith('{'));
  assert.ok(line, `no result from the child (exit ${code}): ${err.slice(-2000)}`);
  const r = JSON.parse(line) as LeakResult;
  const growth = r.heap['end']! - r.heap['at10000']!;
  console.log(
    `[no-leak] ${r.issued} calls in ${(r.elapsedMs / 1000).toFixed(1)} s, ${r.changes} set changes; ok ${r.ok}; failures ${JSON.stringify(r.failures)}; ` +
      `heap after GC: ${(r.heap['at10000']! / 1048576).toFixed(1)} MiB at 10k calls, ${(r.heap[`at${CALLS / 2}`]! / 1048576).toFixed(1)} MiB at ${CALLS / 2}, ` +
      `${(r.heap['end']! / 1048576).toFixed(1)} MiB at the end (growth ${(growth / 1048576).toFixed(2)} MiB, bound ${HEAP_GROWTH_BOUND_BYTES / 1048576} MiB)`,
  );
  assert.equal(r.issued, CALLS);
  assert.equal(r.hanging, 0, 'no hanging call');
  assert.equal(r.silentFailures, 0, 'every failure says why');
  // Removed endpoints stay up (as a draining server would), so no call should fail at all.
  assert.equal(r.ok, CALLS, `every call succeeded: ${JSON.stringify(r.failures)}`);
  assert.ok(r.changes >= 90, `${r.changes} set changes`);
  assert.deepEqual(r.rows.map((x) => x.address).sort(), r.live, 'the Balancer tracks exactly the live endpoints');
  assert.deepEqual(r.rows.map((x) => x.incarnation).sort(), r.liveIncarnations, '... in their newest incarnation');
  assert.equal(r.children.length, r.live.length, `one connection child per live endpoint: ${r.children.join(', ')}`);
  assert.ok(r.rows.every((x) => x.inFlight === 0), 'nothing counted in flight once the calls ended');
  assert.equal(r.unstartedPicks, 0);
  assert.ok(growth <= HEAP_GROWTH_BOUND_BYTES, `heap grew ${growth} bytes > ${HEAP_GROWTH_BOUND_BYTES}`);
});
