/**
 * `fairway load <target> --proto F --method pkg.Svc/M [--data JSON] (--rate N | --concurrency N) [--duration D]`:
 * where a service's traffic goes and how long it takes, before a launch. Progress on stderr, the summary (or
 * `--json`) on stdout; `--compare pick_first,round_robin` runs the same load again through grpc-js's policies.
 */
import type { Command } from 'commander';
import { parseDurationMs } from '../duration.js';
import { UsageError } from '../sources.js';
import { loadMethod } from './proto-method.js';
import { runLoad, checkComparePolicy } from './run-load.js';
import type { LoadRunReport, LoadShape } from './run-load.js';
import type { LatencySummary, ShareRow } from './recorder.js';
import { formatBalancerTable } from '../table.js';

interface LoadOpts {
  proto: string;
  method: string;
  data?: string;
  importPath?: string;
  rate?: string;
  concurrency?: string;
  duration?: string;
  deadline?: string;
  zone?: string;
  retryTimeout?: string;
  maxAttempts?: string;
  compare?: string;
  json?: boolean;
  etcdEndpoints?: string;
  quiet?: boolean;
  /** False with --no-fairway. */
  fairway?: boolean;
}

/** Where the load command writes. */
export interface LoadIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

function positive(raw: string, option: string, integer: boolean): number {
  const n = Number(raw);
  // Number() alone also reads "0x10" (16), "1e3" and " 5 ": only plain decimals, as `register --weight`.
  if (!(integer ? /^\d+$/ : /^\d+(\.\d+)?$/).test(raw) || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${option} ${raw}: must be a positive ${integer ? 'whole number' : 'number'}`);
  }
  return n;
}

/** The `fairway load` action. Resolves with exit code 0 once every run has ended. */
export async function loadCommand(target: string, o: LoadOpts, io: LoadIo): Promise<number> {
  if (o.rate !== undefined && o.concurrency !== undefined) throw new UsageError('--rate and --concurrency: give one (open loop at a rate, or N calls in flight)');
  const shape: LoadShape = o.rate !== undefined ? { rate: positive(o.rate, '--rate', false) } : { concurrency: positive(o.concurrency ?? '10', '--concurrency', true) };
  const durationMs = parseDurationMs(o.duration ?? '10s', '--duration');
  const deadlineMs = parseDurationMs(o.deadline ?? '5s', '--deadline');
  const compare = (o.compare ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const p of compare) {
    const problem = checkComparePolicy(p);
    if (problem) throw new UsageError(`--compare: ${problem}`);
  }
  const policies = [...(o.fairway === false ? [] : ['fairway']), ...compare];
  if (policies.length === 0) throw new UsageError('--no-fairway: needs --compare with at least one grpc-js policy (nothing to run otherwise)');
  const method = loadMethod(o.proto, o.method, o.data ?? '{}', o.importPath ? o.importPath.split(',') : []);
  const retry =
    o.retryTimeout !== undefined
      ? {
          attemptTimeoutMs: parseDurationMs(o.retryTimeout, '--retry-timeout'),
          ...(o.maxAttempts !== undefined ? { maxAttempts: positive(o.maxAttempts, '--max-attempts', true) } : {}),
        }
      : undefined;
  if (o.maxAttempts !== undefined && retry === undefined) throw new UsageError('--max-attempts: needs --retry-timeout (Fairway retries only calls whose attempt timed out)');
  const fairway = {
    ...(o.zone !== undefined ? { zone: o.zone } : {}),
    ...(retry ? { retry } : {}),
    ...(o.etcdEndpoints !== undefined ? { discovery: { etcd: { endpoints: o.etcdEndpoints } } } : {}),
    logger: { debug() {}, info() {}, warn: (m: string) => io.err(`warning: ${m}\n`), error: (m: string) => io.err(`error: ${m}\n`) },
  };
  const zones = new Map<string, string>();
  const runs: LoadRunReport[] = [];
  const shapeText = 'rate' in shape ? `${shape.rate} calls/s (open loop)` : `${shape.concurrency} in flight`;
  for (const policy of policies) {
    if (!o.quiet) io.err(`${policy}: ${method.name} on ${target}, ${shapeText} for ${durationMs / 1000}s\n`);
    const report = await runLoad({
      target,
      method,
      shape,
      durationMs,
      deadlineMs,
      policy,
      fairway,
      zones,
      onNotReady: (m) => io.err(`warning: ${policy}: the channel was not ready within the deadline (${m}); sending anyway\n`),
      ...(o.quiet
        ? {}
        : {
            onProgress: (p) =>
              io.err(`  ${(p.elapsedMs / 1000).toFixed(1)}s sent ${p.sent} ended ${p.ended} in flight ${p.inFlight} ok ${p.ok} p50 ${p.p50Ms}ms p99 ${p.p99Ms}ms\n`),
          }),
    });
    runs.push(report);
  }
  if (o.json) {
    io.out(JSON.stringify({ target, method: method.name, shape, durationMs, deadlineMs, ...(o.zone !== undefined ? { zone: o.zone } : {}), ...(retry ? { retry } : {}), runs }) + '\n');
  } else {
    io.out(runs.map(formatRun).join('\n'));
    if (runs.length > 1) io.out('\n' + formatComparison(runs));
  }
  return 0;
}

const pct = (share: number) => `${(share * 100).toFixed(1)}%`;
const lat = (l: LatencySummary) => `p50 ${l.p50Ms}ms  p90 ${l.p90Ms}ms  p99 ${l.p99Ms}ms  p99.9 ${l.p999Ms}ms  max ${l.maxMs}ms`;

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

function shareRows(rows: ShareRow[], withZone: boolean, canaries: readonly string[] = []): string[][] {
  return rows.map((r) => [canaries.includes(r.key) ? `${r.key} (canary)` : r.key, ...(withZone ? [r.zone ?? ''] : []), String(r.attempts), pct(r.share), String(r.failed), String(r.latency.p50Ms), String(r.latency.p99Ms)]);
}

/** The text summary of one run. */
export function formatRun(r: LoadRunReport): string {
  const statuses = Object.entries(r.statuses).map(([k, v]) => `${k} ${v}`).join(', ');
  return (
    `== ${r.policy}: ${r.sent} calls in ${(r.sendingMs / 1000).toFixed(1)}s (${r.achievedRate}/s), ${r.attempts} attempts, ${r.retried} retried\n` +
    `latency (all calls, from intended send): ${lat(r.latency)}\n` +
    `latency (OK calls): ${lat(r.okLatency)}\n` +
    `status: ${statuses}\n` +
    Object.entries(r.errorDetails).map(([k, d]) => `  first ${k}: ${d}\n`).join('') +
    table(['ENDPOINT', 'ZONE', 'ATTEMPTS', 'SHARE', 'FAILED', 'P50_MS', 'P99_MS'], shareRows(r.endpoints, true, r.canaryEndpoints)) +
    (r.canaryHalts ?? []).map((h) => `canary halted: ${h}\n`).join('') +
    table(['ZONE', 'ATTEMPTS', 'SHARE', 'FAILED', 'P50_MS', 'P99_MS'], shareRows(r.zones, false)) +
    (r.balancer !== undefined ? `Fairway's endpoint table when the run ended (ejection, slow start):\n${formatBalancerTable(r.balancer)}\n` : '')
  );
}

/** One line per policy, side by side. */
export function formatComparison(runs: LoadRunReport[]): string {
  return table(
    ['POLICY', 'CALLS', 'OK', 'P50_MS', 'P99_MS', 'MAX_MS', 'RETRIED'],
    runs.map((r) => [r.policy, String(r.sent), String(r.statuses['OK'] ?? 0), String(r.latency.p50Ms), String(r.latency.p99Ms), String(r.latency.maxMs), String(r.retried)]),
  );
}

/** Adds `load` to the program. */
export function addLoadCommand(program: Command, run: (fn: () => Promise<number>) => () => Promise<void>, io: LoadIo): void {
  program
    .command('load')
    .description('load-test a unary method behind any target: latency (HDR), share per endpoint and zone, errors by status')
    .argument('<target>', 'e.g. static:///127.0.0.1:50051@a,127.0.0.1:50052@b, etcd:///pricer or k8s:///pricer.trading:grpc')
    .requiredOption('--proto <file>', 'the .proto file defining the method')
    .requiredOption('--method <pkg.Service/Method>', 'the unary method to call, e.g. fairway.test.Echo/Unary')
    .option('--data <json>', 'the request message as JSON (default {})')
    .option('--import-path <dirs>', 'extra import directories for the .proto, comma-separated')
    .option('--rate <n>', 'open loop: n calls per second, latency counted from each intended send time')
    .option('--concurrency <n>', 'closed loop: n calls in flight (default 10 when --rate is not given)')
    .option('--duration <duration>', 'how long to send (default 10s)')
    .option('--deadline <duration>', "each call's deadline (default 5s)")
    .option('--zone <zone>', "the client's zone (Fairway prefers endpoints there)")
    .option('--retry-timeout <duration>', "Fairway's attempt timeout: a timed-out attempt is retried on another endpoint")
    .option('--max-attempts <n>', 'attempts per call with --retry-timeout, first included (default 5)')
    .option('--compare <policies>', 'also run the same load through grpc-js policies, e.g. pick_first,round_robin')
    .option('--no-fairway', "skip the Fairway run: only the --compare policies (e.g. to measure the tool's own overhead)")
    .option('--etcd-endpoints <list>', 'etcd endpoints for etcd:/// targets, comma-separated')
    .option('--quiet', 'no progress on stderr')
    .option('--json', 'print one JSON object (runs[]: latency, statuses, endpoints, zones)')
    .action((target: string, o: LoadOpts) => run(() => loadCommand(target, o, io))());
}
