/**
 * `npm run bench`: runs scenarios B1..B11 (see ../shared design benchmarks.md and README "Performance"),
 * writes bench/results/latest.json plus a timestamped copy, and prints a table on stdout.
 * Exit code: 0 when every selected scenario ran (whatever the figures), 1 when one broke, 2 on bad flags.
 */
import { Command, InvalidArgumentError } from 'commander';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { installCleanupHandlers, killAll, aliveCount } from './lib/procs.js';
import { Progress } from './lib/progress.js';
import type { BenchContext } from './lib/context.js';
import { newScenario, scenarioTable, summarize, summaryTable, type RunReport, type ScenarioResult } from './lib/report.js';
import { runB1 } from './scenarios/b1-slow-endpoint.js';
import { runB2 } from './scenarios/b2-rolling-deploy.js';
import { runB3 } from './scenarios/b3-zones.js';
import { runB4 } from './scenarios/b4-overhead.js';
import { runB5 } from './scenarios/b5-scale.js';
import { runB6 } from './scenarios/b6-half-open.js';
import { runB7 } from './scenarios/b7-propagation.js';
import { runB8 } from './scenarios/b8-tracing.js';
import { runB9 } from './scenarios/b9-saturation.js';
import { runB10 } from './scenarios/b10-fail-fast.js';
import { runB11 } from './scenarios/b11-overload.js';

/**
 * The scenario registry, in run order. A scenario that is not built yet names why (it prints "not built" and
 * counts as skipped); adding one is a line here and a module under scenarios/.
 */
const SCENARIOS: ReadonlyArray<{ id: string; title: string; run?: (ctx: BenchContext) => Promise<ScenarioResult>; notBuilt?: string }> = [
  { id: 'B1', title: 'noisy neighbour', run: runB1 },
  { id: 'B2', title: 'rolling deploy', run: runB2 },
  { id: 'B3', title: 'zones', run: runB3 },
  { id: 'B4', title: 'overhead and the sidecar tax', run: runB4 },
  { id: 'B5', title: 'scale (pure core)', run: runB5 },
  { id: 'B6', title: 'half-open peer', run: runB6 },
  { id: 'B7', title: 'discovery propagation and cold start', run: runB7 },
  { id: 'B8', title: 'the price of tracing every call', run: runB8 },
  { id: 'B9', title: 'saturation', run: runB9 },
  { id: 'B10', title: 'a pod that fails fast', run: runB10 },
  { id: 'B11', title: 'overload with timeout retries', run: runB11 },
];
const ALL_IDS = SCENARIOS.map((x) => x.id);

function parseSeed(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`--seed takes a whole number >= 0, got "${value}"`);
  return n;
}

function parseOnly(value: string): string[] {
  const ids = value
    .split(',')
    .map((v) => v.trim().toUpperCase())
    .filter(Boolean);
  const bad = ids.filter((id) => !ALL_IDS.includes(id));
  if (ids.length === 0 || bad.length > 0) throw new InvalidArgumentError(`unknown scenario ${bad.join(',') || '(none)'}; known: ${ALL_IDS.join(',')}`);
  return ids;
}

async function main(): Promise<number> {
  const program = new Command()
    .name('npm run bench --')
    .description('Fairway benchmarks B1..B11 against baselines measured in the same run')
    .option('--quick', 'small sizes: a smoke check (< 2 min)', false)
    .option('--only <ids>', 'comma-separated scenario ids, e.g. B1,B5', parseOnly)
    .option('--progress', 'show progress bars on stderr even when it is not a TTY')
    .option('--no-progress', 'never show progress bars')
    .option('--print <file>', 'print the tables of a saved report (e.g. bench/results/latest.json) and exit: what the README\'s table is made from')
    .option('--seed <n>', "the service-time seed of this run (an integer): every round of every variant replays the same seeded service times; default: drawn at random and printed", parseSeed)
    .option('--out <dir>', 'where to write latest.json and the timestamped copy', join(dirname(fileURLToPath(import.meta.url)), '..', 'results'))
    .exitOverride();
  try {
    program.parse(process.argv);
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  const opts = program.opts<{ quick: boolean; only?: string[]; progress?: boolean; out: string; print?: string; seed?: number }>();
  if (opts.print) {
    const saved = JSON.parse(readFileSync(resolve(opts.print), 'utf8')) as RunReport;
    if (saved.schema !== 'fairway-bench/2') {
      process.stderr.write(`bench: ${opts.print} is not a fairway-bench/2 report (schema ${String(saved.schema)})\n`);
      return 2;
    }
    process.stdout.write(`Fairway benchmarks (${saved.quick ? 'quick' : 'default'} sizes), ${saved.startedAt}, node ${String(saved.machine['node'])}, ${String(saved.machine['cpus'])} cores${saved.seed === undefined ? '' : `, seed ${saved.seed}`}\n\n`);
    for (const sc of saved.scenarios) process.stdout.write(`${scenarioTable(sc)}\n(${(sc.durationMs / 1000).toFixed(1)} s)\n\n`);
    process.stdout.write(`${summaryTable(saved)}\n`);
    return 0;
  }
  const ids = opts.only ?? ALL_IDS;
  const progressOn = opts.progress ?? Boolean(process.stderr.isTTY);
  const progress = new Progress(progressOn);
  const seed = opts.seed ?? randomInt(1, 2 ** 31);
  const ctx: BenchContext = { quick: opts.quick, seed, progress, log: (m) => progress.log(m) };
  installCleanupHandlers();

  const report: RunReport = {
    schema: 'fairway-bench/2',
    startedAt: new Date().toISOString(),
    finishedAt: '',
    quick: opts.quick,
    seed,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryMiB: Math.round(totalmem() / 1048576),
      loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      note: 'shared and noisy machine: compare the ratios (same run, same backends), not the absolute times',
    },
    scenarios: [],
    summary: { pass: 0, miss: 0, noise: 0, na: 0, errors: 0, skipped: 0 },
  };
  process.stdout.write(`Fairway benchmarks (${opts.quick ? 'quick' : 'default'} sizes), ${report.startedAt}, node ${process.version}, ${cpus().length} cores, seed ${seed}\n\n`);
  for (const id of ids) {
    const entry = SCENARIOS.find((x) => x.id === id)!;
    const t = performance.now();
    let result: ScenarioResult;
    if (!entry.run) {
      result = newScenario(id, entry.title);
      result.status = 'skipped';
      result.reason = entry.notBuilt ?? 'not built';
    } else {
      ctx.log(`${id} ${entry.title}: running`);
      try {
        result = await entry.run(ctx);
      } catch (e) {
        progress.end();
        result = newScenario(id, entry.title);
        result.status = 'error';
        result.reason = e instanceof Error ? `${e.message}\n${e.stack?.split('\n').slice(1, 4).join('\n') ?? ''}` : String(e);
      }
    }
    result.durationMs = Math.round(performance.now() - t);
    // How busy the machine was (other jobs included) while this scenario ran: context for its figures.
    result.params['loadavg1mAtEnd'] = Math.round((loadavg()[0] ?? 0) * 100) / 100;
    report.scenarios.push(result);
    process.stdout.write(`${scenarioTable(result)}\n(${(result.durationMs / 1000).toFixed(1)} s)\n\n`);
  }
  report.finishedAt = new Date().toISOString();
  report.machine['loadavgAtEnd'] = loadavg().map((x) => Math.round(x * 100) / 100);
  report.summary = summarize(report);
  process.stdout.write(`${summaryTable(report)}\n`);
  const outDir = resolve(opts.out);
  mkdirSync(outDir, { recursive: true });
  const json = `${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  writeFileSync(join(outDir, 'latest.json'), json);
  writeFileSync(join(outDir, `${stamp}${opts.quick ? '-quick' : ''}.json`), json);
  process.stdout.write(`\nwrote ${join(outDir, 'latest.json')} and ${stamp}${opts.quick ? '-quick' : ''}.json\n`);
  return report.summary.errors > 0 ? 1 : 0;
}

main()
  .then((code) => {
    killAll();
    if (aliveCount() > 0) process.stderr.write('bench: some child processes may still be running\n');
    process.exit(code);
  })
  .catch((e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    killAll();
    process.exit(1);
  });
