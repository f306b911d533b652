/**
 * Client-path probe (issue 13 item 3): does Fairway's client path cost latency or CPU against grpc-js's own
 * `round_robin` on equal servers?
 *
 * Equal servers, each its own OS process (`probe-server.ts`), a fixed service time; an open loop at a fixed
 * rate with each latency measured from the call's intended send time; variants interleaved round by round
 * (A B A B ..., the order reversed every other round so no variant always runs first on a warming machine).
 * Prints p50/p99, client CPU per call and event-loop delay per round, then the median over rounds, the
 * run-to-run spread (max - min over rounds) and Fairway's ratio to round_robin.
 *
 * With `--profile-dir DIR` every measured round of every variant is CPU-profiled in-process (node:inspector),
 * written as `DIR/<variant>-r<round>.cpuprofile`, so both variants of one run are profiled under the same
 * conditions; `profile-summary.ts` reads them.
 *
 * Usage (compiled JavaScript; `node bench/probes/run.mjs -- <flags>` builds and runs):
 *   --servers 3 --service-ms 2 --rate 1000 --round-ms 5000 --rounds 3 --warmup-ms 2000
 *   --variants fairway,round_robin[,fairway_bare]   --zones a,b,c (servers' zones, round robin)
 *   --client-zone a   --slow-ms 20 (server 0 answers after this instead)   --profile-dir DIR   --json FILE
 *   --alloc (allocation sites per call)   --alloc-base round_robin (the variant --alloc compares the others with)
 *   --closed 32 (a closed loop of 32 workers instead of the open loop)   --pin (client and servers on separate CPUs)
 * `fairway_bare` is Fairway's channel (policy, picker, resolver bridge) without its call interceptor: the
 * difference to `fairway` is the call layer's cost. `fairway_layer` sends every call through the call layer (a
 * no-op observer), `fairway_hedged` hedges the probe method (the call layer plus its hedge timer and latency
 * window): their difference to `fairway` is what the call layer and hedging cost a call.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import * as hdr from 'hdr-histogram-js';
import { ProbeClient } from './probe-service.js';

const here = dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  options: {
    servers: { type: 'string', default: '3' },
    'service-ms': { type: 'string', default: '2' },
    'slow-ms': { type: 'string' },
    rate: { type: 'string', default: '1000' },
    'round-ms': { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '3' },
    'warmup-ms': { type: 'string', default: '2000' },
    variants: { type: 'string', default: 'fairway,round_robin' },
    zones: { type: 'string' },
    'client-zone': { type: 'string' },
    'profile-dir': { type: 'string' },
    json: { type: 'string' },
    closed: { type: 'string' },
    pin: { type: 'boolean', default: false },
    alloc: { type: 'boolean', default: false },
    'alloc-base': { type: 'string', default: 'round_robin' },
  },
  strict: true,
});

function num(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new RangeError(`--${name} must be a number >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

const serverCount = num('servers', args.servers, 1);
const serviceMs = num('service-ms', args['service-ms'], 0);
const slowMs = args['slow-ms'] === undefined ? undefined : num('slow-ms', args['slow-ms'], 0);
const ratePerSec = num('rate', args.rate, 1);
const roundMs = num('round-ms', args['round-ms'], 100);
const rounds = num('rounds', args.rounds, 1);
const warmupMs = num('warmup-ms', args['warmup-ms'], 0);
const zones = args.zones?.split(',').filter(Boolean);
const clientZone = args['client-zone'];
const variants = args.variants!.split(',').filter(Boolean);
const closed = args.closed === undefined ? undefined : num('closed', args.closed, 1);
const KNOWN = new Set(['fairway', 'fairway_bare', 'fairway_layer', 'fairway_hedged', 'round_robin', 'round_robin_icpt', 'pick_first']);
/** An observer that does nothing: with it every call goes through Fairway's call layer (`fairway_layer`). */
const NOOP_OBSERVER = {
  onCallStart: () => ({ onAttemptStart: () => ({ onPick() {}, outgoingHeaders: () => ({}), onEnd() {} }), onEnd() {} }),
};
for (const v of variants) if (!KNOWN.has(v)) throw new RangeError(`--variants: unknown variant ${v} (known: ${[...KNOWN].join(', ')})`);

interface Server {
  readonly id: string;
  readonly zone: string | undefined;
  readonly port: number;
  readonly child: ChildProcess;
}

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function startServer(id: string, ms: number, zone: string | undefined): Promise<Server> {
  const child = fork(join(here, 'probe-server.js'), [id, String(ms)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`probe server ${id} did not report a port within 60 s`)), 60_000);
    child.once('message', (m: { op: string; port?: number; message?: string }) => {
      clearTimeout(timer);
      if (m.op === 'listening' && typeof m.port === 'number') resolve({ id, zone, port: m.port, child });
      else reject(new Error(`probe server ${id}: ${m.message ?? 'no port'}`));
    });
    child.once('exit', (code) => reject(new Error(`probe server ${id} exited (${code})`)));
  });
}

/**
 * `--pin`: the client on CPU 0, every server on the last CPU (`taskset`), so the client's CPU per call is not
 * inflated by sharing its core with the servers (which variant spreads the servers' work how would otherwise
 * change how often the client is descheduled).
 */
function pinProcesses(servers: readonly Server[]): void {
  const cpus = availableParallelism();
  if (cpus < 2) throw new RangeError('--pin needs at least 2 CPUs');
  execFileSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });
  for (const s of servers) execFileSync('taskset', ['-pc', String(cpus - 1), String(s.child.pid)], { stdio: 'ignore' });
}

type FairwayModule = {
  createClient: (ctor: typeof ProbeClient, target: string, creds: grpc.ChannelCredentials, options?: object) => grpc.Client;
  clientOptions: (options?: object) => grpc.ClientOptions;
};

async function makeClient(variant: string, servers: readonly Server[], fairway: FairwayModule): Promise<grpc.Client> {
  const creds = grpc.credentials.createInsecure();
  const options = clientZone === undefined ? {} : { zone: clientZone };
  switch (variant) {
    case 'fairway':
    case 'fairway_layer':
    case 'fairway_hedged':
    case 'fairway_bare': {
      const target = `static:///${servers.map((s) => `127.0.0.1:${s.port}${s.zone ? `@${s.zone}` : ''}`).join(',')}`;
      if (variant === 'fairway') return fairway.createClient(ProbeClient, target, creds, options);
      if (variant === 'fairway_layer') return fairway.createClient(ProbeClient, target, creds, { ...options, observers: [NOOP_OBSERVER] });
      if (variant === 'fairway_hedged') return fairway.createClient(ProbeClient, target, creds, { ...options, retry: { hedging: { methods: ['fairway.probe.Probe/Call'] } } });
      return new ProbeClient(target, creds, { ...fairway.clientOptions(options), interceptors: [] });
    }
    default: {
      const target = `ipv4:${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`;
      const policy = variant === 'round_robin_icpt' ? 'round_robin' : variant;
      // round_robin_icpt: round_robin plus a pass-through interceptor shaped like Fairway's (what grpc-js's
      // interceptor machinery alone costs).
      const interceptors: grpc.Interceptor[] =
        variant === 'round_robin_icpt' ? [(options, nextCall) => new grpc.InterceptingCall(nextCall(options))] : [];
      return new ProbeClient(target, creds, { 'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [policy]: {} }] }), interceptors });
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** Answers per server id (each server replies with its id), reset every round: how evenly a variant spread. */
const answersByServer = new Map<string, number>();

function callOnce(client: grpc.Client, deadlineMs: number): Promise<number> {
  return new Promise((resolve) => {
    (client as unknown as { call: Function }).call(EMPTY, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, reply?: Buffer) => {
      if (!err && reply) {
        const id = reply.toString('latin1');
        answersByServer.set(id, (answersByServer.get(id) ?? 0) + 1);
      }
      resolve(err ? (err.code ?? grpc.status.UNKNOWN) : 0);
    });
  });
}

/** The process's read and write system calls so far (`syscr`, `syscw` of `/proc/self/io`; zero where there is none). */
function syscallCounts(): { reads: number; writes: number } {
  try {
    const text = readFileSync('/proc/self/io', 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    return { reads: field('syscr'), writes: field('syscw') };
  } catch {
    return { reads: 0, writes: 0 };
  }
}

interface RoundResult {
  readonly variant: string;
  readonly round: number;
  readonly calls: number;
  readonly failed: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  /** Client CPU (user + system) per call, microseconds. */
  readonly cpuUsPerCall: number;
  /** The busiest server's share of the round's answers, % (fair: 100 / servers). */
  readonly busiestSharePct: number;
  /** Garbage-collector time during the round, per call, microseconds. */
  readonly gcUsPerCall: number;
  /** Event-loop delay p99 during the round, ms. */
  readonly loopDelayP99: number;
  /** Read and write system calls of the client process per call (`/proc/self/io`): how well sends are batched. */
  readonly readsPerCall: number;
  readonly writesPerCall: number;
  readonly callsPerSec: number;
}

/** A closed loop: `closed` workers, each sending its next call when its last one ended; latency from send. */
async function closedLoop(client: grpc.Client, durationMs: number, concurrency: number): Promise<{ latenciesMs: number[]; failed: number }> {
  const latenciesMs: number[] = [];
  let failed = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() - t0 < durationMs) {
      const sent = performance.now();
      const code = await callOnce(client, 10_000);
      latenciesMs.push(performance.now() - sent);
      if (code !== 0) failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latenciesMs, failed };
}

function load(client: grpc.Client, durationMs: number): Promise<{ latenciesMs: number[]; failed: number }> {
  return closed === undefined ? openLoop(client, durationMs) : closedLoop(client, durationMs, closed);
}

interface AllocationNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: AllocationNode[];
}
interface AllocationProfile {
  head: AllocationNode;
  samples: { size: number; nodeId: number }[];
}

/**
 * `--alloc`: the sampling heap profiler's allocations during the round (bytes still sampled at its end are
 * what it reports: objects alive at the end of the round are counted, garbage already collected is not, so
 * this ranks allocation sites that outlive a scavenge), per call, by function; the top 12.
 */
function printAllocations(variant: string, profile: AllocationProfile, calls: number): void {
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (n: AllocationNode): void => {
    if (n.selfSize > 0) {
      const url = n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/packages\//, '');
      const site = `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
      bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c);
  };
  walk(profile.head);
  console.log(`  ${variant}: sampled allocations ${(total / calls).toFixed(0)} B/call`);
  const mine = allocationsByVariant.get(variant) ?? { calls: 0, bySite: new Map<string, number>() };
  mine.calls += calls;
  for (const [site, bytes] of bySite) mine.bySite.set(site, (mine.bySite.get(site) ?? 0) + bytes);
  allocationsByVariant.set(variant, mine);
}

const allocationsByVariant = new Map<string, { calls: number; bySite: Map<string, number> }>();

/** `--alloc`: per call, the allocation sites where each variant differs most from the base variant. */
function printAllocationDifferences(): void {
  const baseName = args['alloc-base']!;
  const base = allocationsByVariant.get(baseName);
  if (!base) return;
  for (const [variant, mine] of allocationsByVariant) {
    if (variant === baseName) continue;
    const sites = new Set([...mine.bySite.keys(), ...base.bySite.keys()]);
    const diffs = [...sites].map((site) => [site, (mine.bySite.get(site) ?? 0) / mine.calls - (base.bySite.get(site) ?? 0) / base.calls] as const);
    const total = diffs.reduce((a, [, d]) => a + d, 0);
    console.log(`\nallocations, ${variant} minus ${baseName}: ${total.toFixed(0)} B/call; largest differences:`);
    for (const [site, d] of diffs.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 25)) console.log(`  ${(d >= 0 ? '+' : '') + d.toFixed(1)} B/call  ${site}`);
  }
}

/** An open loop: every call has an intended send time; its latency counts from there (no coordinated omission). */
async function openLoop(client: grpc.Client, durationMs: number): Promise<{ latenciesMs: number[]; failed: number }> {
  const total = Math.max(1, Math.round((ratePerSec * durationMs) / 1000));
  const interval = 1000 / ratePerSec;
  const latenciesMs: number[] = new Array(total);
  let failed = 0;
  let done = 0;
  const t0 = performance.now();
  let i = 0;
  await new Promise<void>((resolve) => {
    const finishOne = (): void => {
      if (++done === total) resolve();
    };
    const tick = (): void => {
      const now = performance.now() - t0;
      while (i < total && i * interval <= now) {
        const intended = i * interval;
        const k = i++;
        void callOnce(client, 10_000).then((code) => {
          latenciesMs[k] = performance.now() - t0 - intended;
          if (code !== 0) failed++;
          finishOne();
        });
      }
      if (i < total) setTimeout(tick, Math.max(0, Math.min(5, i * interval - (performance.now() - t0))));
    };
    tick();
  });
  return { latenciesMs, failed };
}

function summarize(latenciesMs: readonly number[]): { p50: number; p90: number; p99: number; max: number } {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  for (const ms of latenciesMs) h.recordValue(Math.max(1, Math.round(ms * 1000)));
  const r = (us: number): number => Math.round(us) / 1000;
  const out = { p50: r(h.getValueAtPercentile(50)), p90: r(h.getValueAtPercentile(90)), p99: r(h.getValueAtPercentile(99)), max: r(h.maxValue) };
  h.destroy();
  return out;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : String(n);
}

async function main(): Promise<void> {
  const fairway = (await import('@fairway/grpc')) as unknown as FairwayModule;
  const servers = await Promise.all(
    Array.from({ length: serverCount }, (_, i) => startServer(`p${i}`, i === 0 && slowMs !== undefined ? slowMs : serviceMs, zones?.[i % zones.length])),
  );
  if (args.pin) pinProcesses(servers);
  const profileDir = args['profile-dir'];
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const session = profileDir || args.alloc ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
  }
  const params = { closed, servers: serverCount, serviceMs, slowMs, ratePerSec, roundMs, rounds, warmupMs, zones, clientZone, variants, node: process.version };
  console.log(`client-path probe: ${JSON.stringify(params)}`);
  const results: RoundResult[] = [];
  const loop = monitorEventLoopDelay({ resolution: 1 });
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const variant of order) {
      const client = await makeClient(variant, servers, fairway);
      await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())));
      if (warmupMs > 0) await load(client, warmupMs);
      if (session && profileDir) await session.post('Profiler.start');
      if (session && args.alloc) await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      loop.reset();
      loop.enable();
      answersByServer.clear();
      let gcMs = 0;
      const gcObserver = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) gcMs += e.duration;
      });
      gcObserver.observe({ entryTypes: ['gc'] });
      const io0 = syscallCounts();
      const cpu0 = process.cpuUsage();
      const t1 = performance.now();
      const { latenciesMs, failed } = await load(client, roundMs);
      const wallMs = performance.now() - t1;
      const cpu = process.cpuUsage(cpu0);
      const io1 = syscallCounts();
      loop.disable();
      gcObserver.disconnect();
      const answered = [...answersByServer.values()].reduce((a, b) => a + b, 0);
      const busiest = Math.max(0, ...answersByServer.values());
      if (session && profileDir) {
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(join(profileDir, `${variant}-r${round + 1}.cpuprofile`), JSON.stringify(profile));
      }
      if (session && args.alloc) {
        const { profile } = await session.post('HeapProfiler.stopSampling');
        printAllocations(variant, profile as unknown as AllocationProfile, latenciesMs.length);
      }
      client.close();
      const s = summarize(latenciesMs);
      const r: RoundResult = {
        variant,
        round: round + 1,
        calls: latenciesMs.length,
        failed,
        ...s,
        cpuUsPerCall: (cpu.user + cpu.system) / latenciesMs.length,
        busiestSharePct: answered === 0 ? 0 : (100 * busiest) / answered,
        gcUsPerCall: (gcMs * 1000) / latenciesMs.length,
        loopDelayP99: loop.percentile(99) / 1e6,
        readsPerCall: (io1.reads - io0.reads) / latenciesMs.length,
        writesPerCall: (io1.writes - io0.writes) / latenciesMs.length,
        callsPerSec: (latenciesMs.length / wallMs) * 1000,
      };
      results.push(r);
      console.log(
        `round ${r.round} ${variant.padEnd(12)} p50 ${fmt(r.p50)} ms  p90 ${fmt(r.p90)}  p99 ${fmt(r.p99)}  max ${fmt(r.max)}  cpu/call ${fmt(r.cpuUsPerCall, 0)} us  gc/call ${fmt(r.gcUsPerCall, 1)} us  busiest ${fmt(r.busiestSharePct, 1)} %  syscalls/call r ${fmt(r.readsPerCall, 2)} w ${fmt(r.writesPerCall, 2)}  loop-delay p99 ${fmt(r.loopDelayP99)} ms  calls/s ${fmt(r.callsPerSec, 0)}  failed ${r.failed}`,
      );
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  console.log('\nmedian over rounds (spread = max - min over rounds)');
  const table: Record<string, Record<string, number>> = {};
  for (const v of variants) {
    const mine = results.filter((r) => r.variant === v);
    const row: Record<string, number> = {};
    for (const k of ['p50', 'p99', 'cpuUsPerCall', 'callsPerSec'] as const) {
      const xs = mine.map((r) => r[k]);
      row[k] = median(xs);
      row[`${k}Spread`] = Math.max(...xs) - Math.min(...xs);
    }
    table[v] = row;
    console.log(
      `${v.padEnd(12)} p50 ${fmt(row['p50']!)} (spread ${fmt(row['p50Spread']!)})  p99 ${fmt(row['p99']!)} (spread ${fmt(row['p99Spread']!)})  cpu/call ${fmt(row['cpuUsPerCall']!, 0)} us (spread ${fmt(row['cpuUsPerCallSpread']!, 0)})  calls/s ${fmt(row['callsPerSec']!, 0)} (spread ${fmt(row['callsPerSecSpread']!, 0)})`,
    );
  }
  const base = table['round_robin'];
  if (base) {
    for (const v of variants) {
      if (v === 'round_robin') continue;
      const row = table[v]!;
      console.log(`${v} / round_robin: p50 ${fmt(row['p50']! / base['p50']!, 3)}  p99 ${fmt(row['p99']! / base['p99']!, 3)}  cpu/call ${fmt(row['cpuUsPerCall']! / base['cpuUsPerCall']!, 3)}  calls/s ${fmt(row['callsPerSec']! / base['callsPerSec']!, 3)}`);
    }
  }
  if (args.alloc) printAllocationDifferences();
  if (args.json) writeFileSync(args.json, JSON.stringify({ params, results, table }, null, 2));
  session?.disconnect();
  for (const c of children) c.kill('SIGKILL');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`client-path probe failed: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
  },
);
