/**
 * Test-only child process (run with --expose-gc): 50,000 real unary calls through Fairway's createClient with
 * the telemetry observer, while setupTelemetry exports (traces and metrics) to a collector that is not there.
 * Prints `MEMORY <json>`: calls ok / failed, heap used after GC at checkpoints, wall time.
 *
 * Env: FW_COLLECTOR (unreachable OTLP endpoint), FW_PROTOCOL (`otlp-grpc` | `otlp-http`), FW_CALLS (default
 * 50000), FW_WARMUP (default 2000), FW_CONCURRENCY (default 64).
 */
import * as grpc from '@grpc/grpc-js';
import { createClient } from '@fairway/grpc';
import { loadEcho, startBackendProcess } from '@fairway/testing';
import { createTelemetryObserver, type TraceExporterKind } from '@fairway/telemetry';
import { setupTelemetry } from '../index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('memory-child: run with --expose-gc');
  process.exit(2);
}

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage().heapUsed;
}

async function main(): Promise<void> {
  const telemetry = setupTelemetry({
    serviceName: 'memory-probe',
    exporter: (process.env.FW_PROTOCOL ?? 'otlp-grpc') as TraceExporterKind,
    endpoint: process.env.FW_COLLECTOR!,
    scheduledDelayMs: 200,
    metricExportIntervalMs: 1000,
    exportTimeoutMs: 2000,
    shutdownTimeoutMs: 3000,
  });
  // The backend is its own process, so the two share the machine's cores.
  const backend = await startBackendProcess({ zone: 'zone-a', startTimeoutMs: 60_000 });
  const { EchoClient } = loadEcho();
  const client = createClient(EchoClient, `static:///${backend.address}@zone-a`, grpc.credentials.createInsecure(), {
    zone: 'zone-a',
    observers: process.env.FW_NO_OBSERVER ? [] : [createTelemetryObserver()],
    logger: { info() {}, warn() {}, error: (m: string) => console.error(m) },
  }) as unknown as grpc.Client & { Unary: Function };

  const total = Number(process.env.FW_CALLS ?? 50_000);
  const warmup = Number(process.env.FW_WARMUP ?? 2000);
  const concurrency = Number(process.env.FW_CONCURRENCY ?? 64);
  let ok = 0;
  let failed = 0;
  let firstError = '';
  const one = () =>
    new Promise<void>((resolve) =>
      client.Unary({ message: 'm' }, { deadline: Date.now() + 30_000 }, (err: grpc.ServiceError | null) => {
        if (err) {
          failed += 1;
          firstError ||= `${err.code} ${err.details}`;
        } else ok += 1;
        resolve();
      }),
    );
  async function run(n: number): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, n) }, async () => {
        while (next < n) {
          next += 1;
          await one();
        }
      }),
    );
  }

  await run(warmup);
  const samples: { calls: number; heapUsed: number }[] = [{ calls: 0, heapUsed: heapAfterGc() }];
  const t0 = performance.now();
  const step = total / 5;
  for (let done = 0; done < total; done += step) {
    await run(step);
    samples.push({ calls: done + step, heapUsed: heapAfterGc() });
  }
  const wallMs = Math.round(performance.now() - t0);
  client.close();
  await backend.close();
  await telemetry.shutdown();
  process.stdout.write(
    `MEMORY ${JSON.stringify({ ok, failed, firstError, warmup, samples, wallMs, rss: process.memoryUsage().rss, config: telemetry.config })}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
