/**
 * `npm run demo`: the trading pipeline on a local etcd, balanced by Fairway through a noisy neighbour and a
 * rolling restart, with a live view, a summary, a JSON summary and a trace file for Jaeger. Pricers and
 * publishers have a finite capacity (slots and a queue, `pod-load.ts`). `--compare` runs the same pipeline a
 * second time on grpc-js's default (pick_first) and shows both pod by pod. When Go is installed the fleet is
 * mixed: one Go pricer per zone (interop/go's fairway-go-server, built once and cached) beside the Node ones.
 * The live step (default; `--no-live-step`) adds a canary pricer and settings changes through the pricer
 * service's live document in etcd, shown in the live view as the driver's clients apply them.
 *
 * Usage: demo [--duration 30s] [--rate 60] [--compare] [--jaeger | --otlp URL] [--trace-file FILE]
 *             [--json-summary FILE] [--plain] [--keep-logs] [--work-ms 30] [--noisy-neighbour 0.3] [--no-go]
 *             [--no-live-step]
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { runArm, RESTART_AT_FRACTION, DEFAULT_LIVE_STEP, SLOW_CANARY, CANARY, type ArmResult, type NoisyNeighbour, type LiveStep } from './run-arm.js';
import type { BalancingMode } from './env.js';
import { createLiveView } from './view.js';
import { summarizeArm, formatArm, formatComparison, type DemoSummary, type ArmSummary, type TraceSummary } from './summary.js';
import { mergeJaegerFiles } from './traces.js';
import { bundlePipeline, type PipelineBundle } from './bundle.js';
import { startJaeger, buildGoPeers, type Jaeger } from '@fairway/testing';
import { describeJaegerTraces } from './jaeger-demo.js';

const USAGE = `Usage: npm run demo -- [options]

  --duration <time>      how long to drive load: 30s (default), 8s, 1m, 45
  --rate <n>             quotes per second over all zones (default 60)
  --mode <mode>          fairway (default) or pick_first: which balancing to run (without --compare)
  --compare              also run the same pipeline on grpc-js's default pick_first, and compare pod by pod
  --jaeger               start a real Jaeger (built once by scripts/tools/build-jaeger.sh), send the traces to it
                         over OTLP, print where to read them, and keep it running until Ctrl-C
  --otlp <url>           send traces over OTLP/gRPC to this collector (e.g. http://127.0.0.1:4317)
                         instead of writing a Jaeger JSON file
  --trace-file <file>    where the Jaeger JSON trace file goes (default ./fairway-demo-traces.json)
  --json-summary <file>  also write the summary as JSON to this file
  --trace-ratio <r>      share of quotes traced, 0..1 (default 0.1)
  --work-ms <ms>         mean pricing work per quote (default 30); each pricer works on 2 quotes at
                         once and queues the rest, so it serves about 2000/work-ms quotes/s
  --noisy-neighbour <f>  share of its CPU pricer-b-1 keeps from 10% to 20% of the run (default 0.3;
                         1 = no noisy neighbour)
  --no-live-step         no live step. By default (Fairway), from 22% of the run the pricer service's live
                         document in etcd gives a canary pricer (pricer-canary, zone-b) 10% of the calls, and
                         from 36% a settings change raises it to 25%; the driver's clients apply both without
                         a restart, and the live view shows the revision they run under and the canary's share.
                         Without --compare, from 80% the canary keeps 15% of its CPU and the clients' auto-halt
                         pulls it out (with --compare its slow calls would sit in Fairway's tail and spoil the
                         p99 comparison, so it stays healthy there). With --compare the baseline gets the same
                         canary pod, last in its static address list (equal fleets; pick_first cannot give a
                         pod a share), and no document
  --live-step            the live step (the default)
  --no-go                Node pricers only (by default one Go pricer per zone joins them when the go
                         command is installed; scripts/tools/build-go-peers.sh builds it once, 1-3 min)
  --plain                one line per second even on a terminal
  --keep-logs            keep the processes' logs (printed path) even when the run succeeds
  -h, --help             this help
`;

/** Parses `30s`, `8s`, `1m`, `500ms` or plain seconds into ms. */
export function parseDuration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
  if (!m) throw new Error(`--duration ${JSON.stringify(raw)}: write e.g. 30s, 8s, 1m or 45`);
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
  if (ms < 3000 || ms > 3_600_000) throw new Error(`--duration ${raw}: must be between 3s and 1h`);
  return ms;
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        duration: { type: 'string', default: '30s' },
        rate: { type: 'string', default: '60' },
        compare: { type: 'boolean', default: false },
        mode: { type: 'string', default: 'fairway' },
        otlp: { type: 'string' },
        jaeger: { type: 'boolean', default: false },
        'trace-file': { type: 'string', default: 'fairway-demo-traces.json' },
        'json-summary': { type: 'string' },
        plain: { type: 'boolean', default: false },
        'keep-logs': { type: 'boolean', default: false },
        'work-ms': { type: 'string', default: '30' },
        'noisy-neighbour': { type: 'string', default: '0.3' },
        'trace-ratio': { type: 'string', default: '0.1' },
        'no-go': { type: 'boolean', default: false },
        'live-step': { type: 'boolean', default: false },
        'no-live-step': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    process.stderr.write(`demo: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let durationMs: number;
  try {
    durationMs = parseDuration(args.duration!);
  } catch (e) {
    process.stderr.write(`demo: ${(e as Error).message}\n`);
    return 2;
  }
  const rate = Number(args.rate);
  if (!(rate > 0 && rate <= 5000)) {
    process.stderr.write(`demo: --rate ${args.rate}: must be a number between 1 and 5000\n`);
    return 2;
  }
  if (args.otlp !== undefined && !/^https?:\/\/[^/]+/.test(args.otlp)) {
    process.stderr.write(`demo: --otlp ${JSON.stringify(args.otlp)}: write a URL like http://127.0.0.1:4317\n`);
    return 2;
  }
  if (args.jaeger && args.otlp !== undefined) {
    process.stderr.write('demo: give --jaeger or --otlp, not both\n');
    return 2;
  }
  const workMs = Number(args['work-ms']);
  const traceRatio = Number(args['trace-ratio']);
  if (!(workMs >= 0 && workMs <= 1000)) {
    process.stderr.write(`demo: --work-ms ${args['work-ms']}: must be between 0 and 1000\n`);
    return 2;
  }
  const noisyFactor = Number(args['noisy-neighbour']);
  if (!(noisyFactor > 0 && noisyFactor <= 1)) {
    process.stderr.write(`demo: --noisy-neighbour ${args['noisy-neighbour']}: must be a share of CPU above 0 and at most 1\n`);
    return 2;
  }
  if (!(traceRatio >= 0 && traceRatio <= 1)) {
    process.stderr.write(`demo: --trace-ratio ${args['trace-ratio']}: must be between 0 and 1\n`);
    return 2;
  }

  if (args['live-step'] && args['no-live-step']) {
    process.stderr.write('demo: give --live-step or --no-live-step, not both\n');
    return 2;
  }
  const liveStep: LiveStep | undefined = args['no-live-step']
    ? undefined
    : { ...DEFAULT_LIVE_STEP, ...(args.compare ? {} : { slowCanary: SLOW_CANARY }) };

  const workDir = mkdtempSync(join(tmpdir(), 'fairway-demo-'));
  const controller = new AbortController();
  let interrupted = false;
  const onSignal = (sig: string) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\ndemo: ${sig}: stopping every process it started...\n`);
    controller.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const tty = Boolean(process.stdout.isTTY) && !args.plain;
  const out = process.stdout;
  const live = createLiveView(out, tty);
  if (args.mode !== 'fairway' && args.mode !== 'pick_first') {
    process.stderr.write(`demo: --mode ${JSON.stringify(args.mode)}: expected fairway or pick_first\n`);
    return 2;
  }
  const noisy: NoisyNeighbour | undefined = noisyFactor < 1 ? { pod: 'pricer-b-1', factor: noisyFactor, fromFraction: 0.1, toFraction: 0.2 } : undefined;
  const modes: BalancingMode[] = args.compare ? ['fairway', 'pick_first'] : [args.mode];
  const results: ArmResult[] = [];
  let failed = false;
  let bundle: PipelineBundle | undefined;
  let jaeger: Jaeger | undefined;
  try {
    if (args.jaeger) {
      jaeger = await startJaeger();
      args.otlp = jaeger.otlpGrpcUrl;
      out.write(`Jaeger ${jaeger.version} (pid ${jaeger.pid}): OTLP/gRPC ${jaeger.otlpGrpcUrl}, query API ${jaeger.queryUrl}/api/\n`);
    }
    const fromSource = process.execArgv.some((a) => a.includes('fairway:source'));
    bundle = await bundlePipeline(`${process.pid}-${Date.now().toString(36)}`, fromSource);
    const goPricerBinary = args['no-go'] ? undefined : await findGoPricer(out);
    const pricerCapacity = Math.round(2000 / Math.max(workMs, 0.001));
    out.write(
      (goPricerBinary
        ? `Fairway demo: 1 price feed, 9 pricers (2 Node and 1 Go per zone), 3 publishers (1 per zone), zones zone-a/b/c, etcd on loopback.\n`
        : `Fairway demo: 1 price feed, 6 pricers (2 per zone), 3 publishers (1 per zone), zones zone-a/b/c, etcd on loopback.\n`) +
        `Each pricer works on 2 quotes at once (~${workMs} ms each, log-normal) and queues the rest: ~${pricerCapacity} quotes/s.\n` +
        `A driver in each zone sends ${rate} quotes/s in all for ${durationMs / 1000}s` +
        (noisy ? `; ${noisy.pod} gets a noisy neighbour (keeps ${Math.round(noisy.factor * 100)}% of its CPU) from ${durationMs * noisy.fromFraction / 1000}s to ${durationMs * noisy.toFraction / 1000}s` : '') +
        `; the pricers get a rolling restart from ${Math.round(durationMs * RESTART_AT_FRACTION / 1000)}s.\n` +
        (liveStep
          ? `Live step (Fairway): from ${((durationMs * liveStep.fromFraction) / 1000).toFixed(1)}s the pricer service's live document in etcd gives canary ${CANARY.name} (${CANARY.zone}) ` +
            `${Math.round(liveStep.shares[0] * 100)}% of the calls, from ${((durationMs * liveStep.changeFraction) / 1000).toFixed(1)}s ${Math.round(liveStep.shares[1] * 100)}%` +
            (liveStep.slowCanary ? `; from ${((durationMs * liveStep.slowCanary.atFraction) / 1000).toFixed(1)}s the canary keeps ${Math.round(liveStep.slowCanary.factor * 100)}% of its CPU and the clients' auto-halt should pull it out` : '') +
            (args.compare ? `; pick_first gets the same pod, last in its address list` : '') +
            '.\n'
          : '') +
        '\n',
    );
    for (const mode of modes) {
      const title = mode === 'fairway' ? 'Fairway' : 'pick_first';
      out.write(`== ${mode === 'fairway' ? 'Fairway: p2c peak-EWMA, zone-aware, etcd discovery' : "grpc-js default: pick_first over the same pods"} ==\n`);
      let lastLine = 0;
      const result = await runArm({
        mode,
        bundle,
        durationMs,
        ratePerSecond: rate,
        workDir: join(workDir, mode),
        workMs,
        ...(goPricerBinary ? { goPricerBinary } : {}),
        ...(noisy ? { noisyNeighbour: noisy } : {}),
        ...(liveStep ? { liveStep } : {}),
        traceRatio,
        signal: controller.signal,
        ...(args.otlp ? { otlpUrl: args.otlp } : {}),
        onView: (v) => {
          // Plain mode: one line per second at most.
          if (!tty && v.stats === undefined) return;
          const now = Date.now();
          if (!tty && now - lastLine < 900) return;
          lastLine = now;
          live.update({ ...v, title });
        },
      });
      live.done();
      results.push(result);
      out.write('\n');
    }
  } catch (e) {
    failed = true;
    process.stderr.write(`\ndemo: ${interrupted ? 'interrupted' : `failed: ${(e as Error).message}`}\n`);
  }

  try {
    if (failed || results.length !== modes.length) {
      const keep = join(tmpdir(), `fairway-demo-logs-${Date.now()}`);
      try {
        cpSync(workDir, keep, { recursive: true });
        process.stderr.write(`demo: every process was stopped; logs are in ${keep}\n`);
      } catch {
        /* nothing to keep */
      }
      return interrupted ? 130 : 1;
    }
    const arms: { fairway?: ArmSummary; pick_first?: ArmSummary } = {};
    for (const r of results) arms[r.mode] = summarizeArm(r);

    let traces: TraceSummary;
    if (args.otlp) {
      traces = { kind: 'otlp', url: args.otlp };
    } else {
      const file = resolve(args['trace-file']!);
      mkdirSync(dirname(file), { recursive: true });
      const traced = results[0]!;
      const merged = mergeJaegerFiles(traced.traceDir, file);
      traces = { kind: 'jaeger-json-file', file, traces: merged.traces, spans: merged.spans };
    }
    const f = arms.fairway;
    const p = arms.pick_first;
    const summary: DemoSummary = {
      version: 1,
      finishedAt: new Date().toISOString(),
      durationSeconds: durationMs / 1000,
      ratePerSecond: rate,
      arms,
      ...(f && p
        ? {
            comparison: {
              fairwayImbalance: f.imbalance,
              pickFirstImbalance: p.imbalance,
              ratio: Math.round((p.imbalance / Math.max(0.01, f.imbalance)) * 100) / 100,
              fairwayP99Ms: f.latencyMs.p99,
              pickFirstP99Ms: p.latencyMs.p99,
              p99Ratio: Math.round((f.latencyMs.p99 / Math.max(0.01, p.latencyMs.p99)) * 100) / 100,
            },
          }
        : {}),
      traces,
    };
    out.write('== Summary ==\n');
    for (const r of Object.values(arms)) out.write(formatArm(r!).join('\n') + '\n\n');
    if (f && p) out.write(formatComparison(f, p).join('\n') + '\n\n');
    if (jaeger) {
      out.write((await describeJaegerTraces(jaeger)).join('\n') + '\n');
    } else if (traces.kind === 'otlp') out.write(`Traces: sent over OTLP/gRPC to ${traces.url}\n`);
    else {
      out.write(
        `Traces: ${traces.traces} traces (${traces.spans} spans) of the ${results[0]!.mode} run in ${traces.file}\n` +
          `        open it in Jaeger: docker run --rm -p 16686:16686 jaegertracing/all-in-one, then\n` +
          `        http://localhost:16686 -> Search -> "JSON File" -> choose that file\n`,
      );
    }
    if (args['json-summary']) {
      const file = resolve(args['json-summary']);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(summary, null, 2) + '\n');
      out.write(`Summary JSON: ${file}\n`);
    }
    if (args['keep-logs']) {
      const keep = join(tmpdir(), `fairway-demo-logs-${Date.now()}`);
      cpSync(workDir, keep, { recursive: true });
      out.write(`Logs: ${keep}\n`);
    }
    if (jaeger && !interrupted) {
      out.write('Jaeger keeps running until Ctrl-C.\n');
      await new Promise<void>((r) => (controller.signal.aborted ? r() : controller.signal.addEventListener('abort', () => r(), { once: true })));
    }
    return 0;
  } finally {
    await jaeger?.close();
    bundle?.remove();
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * The Go pricer binary, built (or found in the cache) by scripts/tools/build-go-peers.sh, or undefined, said
 * in one line, when Go is not installed or the build fails: the demo then runs with Node pricers only.
 */
async function findGoPricer(out: NodeJS.WriteStream): Promise<string | undefined> {
  try {
    return join(await buildGoPeers(), 'fairway-go-server');
  } catch (e) {
    const why = /go command is not on PATH/.test((e as Error).message) ? 'Go is not installed' : `the Go build failed (${(e as Error).message.split('\n').slice(-1)[0]!.slice(0, 160)})`;
    out.write(`Go pricers: none, ${why}; running with Node pricers only.\n`);
    return undefined;
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`demo: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
