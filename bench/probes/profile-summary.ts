/**
 * Reads the CPU profiles `client-path.ts --profile-dir DIR` wrote (`<variant>-r<round>.cpuprofile`) and prints,
 * per variant, where the client's CPU time went: self time by area (grpc-js, Fairway's packages, Node.js
 * internals, garbage collection, the probe's own load generator) and by function, in microseconds per call,
 * and the functions whose cost differs most between two variants.
 *
 * Usage: node bench/probes/dist/profile-summary.js DIR [--calls N] [--top 25] [--base round_robin]
 *   --calls: calls per profiled round (default: rate x round-ms from DIR/../probe.json if given with --json).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values: opts, positionals } = parseArgs({
  options: { calls: { type: 'string' }, top: { type: 'string', default: '25' }, base: { type: 'string', default: 'round_robin' }, json: { type: 'string' } },
  allowPositionals: true,
});
const dir = positionals[0];
if (!dir) throw new Error('profile-summary: give the profile directory');
const callsPerRound = opts.calls === undefined ? Number.NaN : Number(opts.calls);
/** Calls per profiled round by variant, from the probe's --json results (open or closed loop). */
const callsByVariant = new Map<string, number>();
if (opts.json) {
  const j = JSON.parse(readFileSync(opts.json, 'utf8')) as { results: Array<{ variant: string; calls: number }> };
  const sums = new Map<string, { calls: number; rounds: number }>();
  for (const r of j.results) {
    const s = sums.get(r.variant) ?? { calls: 0, rounds: 0 };
    s.calls += r.calls;
    s.rounds++;
    sums.set(r.variant, s);
  }
  for (const [v, s] of sums) callsByVariant.set(v, s.calls / s.rounds);
}
const top = Number(opts.top);

/** Which part of the process a frame belongs to. */
function area(f: CallFrame): string {
  const u = f.url;
  if (u === '') return f.functionName.startsWith('(') ? f.functionName : '(native/builtin)';
  if (u.includes('@grpc/grpc-js')) return 'grpc-js';
  if (u.includes('/packages/core/')) return 'fairway core';
  if (u.includes('/packages/grpc/')) return 'fairway grpc';
  if (u.includes('/packages/')) return 'fairway other';
  if (u.includes('bench/probes') || u.includes('hdr-histogram')) return 'probe (load generator)';
  if (u.startsWith('node:')) return 'node internals';
  return `other (${u.split('/').slice(-2).join('/')})`;
}

function key(f: CallFrame): string {
  const file = f.url === '' ? '' : f.url.split('/').slice(-1)[0];
  return `${f.functionName || '(anonymous)'} ${file}${f.url ? `:${f.lineNumber + 1}` : ''}`;
}

interface Totals {
  variant: string;
  rounds: number;
  byArea: Map<string, number>;
  byFn: Map<string, number>;
  busyUs: number;
}

const totals = new Map<string, Totals>();
for (const name of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile')).sort()) {
  const variant = name.replace(/-r\d+\.cpuprofile$/, '');
  const p = JSON.parse(readFileSync(join(dir, name), 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  let t = totals.get(variant);
  if (!t) totals.set(variant, (t = { variant, rounds: 0, byArea: new Map(), byFn: new Map(), busyUs: 0 }));
  t.rounds++;
  // timeDeltas[i + 1] is the time between sample i and the next: the time spent where sample i was taken.
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i]!);
    if (!node) continue;
    const dt = p.timeDeltas[i + 1] ?? 0;
    const a = area(node.callFrame);
    t.byArea.set(a, (t.byArea.get(a) ?? 0) + dt);
    if (a !== '(idle)') {
      t.busyUs += dt;
      const k = `[${a}] ${key(node.callFrame)}`;
      t.byFn.set(k, (t.byFn.get(k) ?? 0) + dt);
    }
  }
}

const perCall = (us: number, t: Totals): number => {
  const calls = callsByVariant.get(t.variant) ?? callsPerRound;
  return us / t.rounds / (Number.isFinite(calls) ? calls : 1);
};
const unit = Number.isFinite(callsPerRound) || callsByVariant.size > 0 ? 'us/call' : 'us/round';
for (const [variant, t] of totals) {
  console.log(`\n== ${variant}: ${t.rounds} round(s), busy (non-idle) ${perCall(t.busyUs, t).toFixed(1)} ${unit}`);
  for (const [a, us] of [...t.byArea].sort((x, y) => y[1] - x[1])) console.log(`  ${a.padEnd(32)} ${perCall(us, t).toFixed(1).padStart(8)} ${unit}`);
  console.log(`  top ${top} functions by self time:`);
  for (const [k, us] of [...t.byFn].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`    ${perCall(us, t).toFixed(2).padStart(8)}  ${k}`);
}
const base = totals.get(opts.base!);
if (base) {
  for (const [variant, t] of totals) {
    if (t === base) continue;
    console.log(`\n== ${variant} minus ${opts.base} (${unit}): busy ${(perCall(t.busyUs, t) - perCall(base.busyUs, base)).toFixed(1)}`);
    const areas = new Set([...t.byArea.keys(), ...base.byArea.keys()]);
    for (const a of areas) {
      const d = perCall(t.byArea.get(a) ?? 0, t) - perCall(base.byArea.get(a) ?? 0, base);
      if (Math.abs(d) >= 0.5) console.log(`  ${a.padEnd(32)} ${d >= 0 ? '+' : ''}${d.toFixed(1)}`);
    }
    const keys = new Set([...t.byFn.keys(), ...base.byFn.keys()]);
    const diffs = [...keys].map((k) => [k, perCall(t.byFn.get(k) ?? 0, t) - perCall(base.byFn.get(k) ?? 0, base)] as const);
    console.log(`  largest differences by function:`);
    for (const [k, d] of diffs.sort((x, y) => Math.abs(y[1]) - Math.abs(x[1])).slice(0, top)) console.log(`    ${(d >= 0 ? '+' : '') + d.toFixed(2)}  ${k}`);
  }
}
