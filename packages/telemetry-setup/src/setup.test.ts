import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trace } from '@opentelemetry/api';
import { startOtlpReceiver, type OtlpReceiver } from '@fairway/testing';
import { resolveTelemetryConfig, setupTelemetry } from './setup.js';
import { continueTrace } from '@fairway/telemetry';
import { createTelemetryObserver } from '@fairway/telemetry';
import { readJaegerJsonFile } from '@fairway/telemetry';
import { childNodeArgs } from '@fairway/testing';
import { closedPort, parentEnvWithout } from './test-support/process-env.js';

const here = dirname(fileURLToPath(import.meta.url));
const PROBE = 'fairway.setup.Probe/Ping';

interface ChildRun {
  code: number | null;
  config: Record<string, unknown>;
  doneMs: number | undefined;
  stdout: string;
  stderr: string;
  wallMs: number;
}

/** Runs setup-child.ts with exactly these OTEL_* variables (the parent's are removed) and options. */
function runChild(env: Record<string, string>, options: Record<string, unknown>, timeoutMs = 100_000): Promise<ChildRun> {
  const base = parentEnvWithout('OTEL_');
  const t0 = performance.now();
  const child = spawn(process.execPath, [...childNodeArgs(), join(here, 'test-support', 'setup-child.ts')], {
    env: { ...base, ...env, FW_SETUP_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const config = /CONFIG (.*)\n/.exec(stdout);
      const done = /DONE (\d+)/.exec(stdout);
      resolve({
        code,
        config: config ? JSON.parse(config[1]!) : {},
        doneMs: done ? Number(done[1]) : undefined,
        stdout,
        stderr,
        wallMs: performance.now() - t0,
      });
    });
  });
}

describe('resolveTelemetryConfig: options are defaults, OTEL_* variables win', () => {
  test('defaults: OTLP over HTTP/protobuf to localhost:4318, metrics on', () => {
    const c = resolveTelemetryConfig({ serviceName: 'svc' }, {});
    assert.equal(c.exporter, 'otlp-http');
    assert.equal(c.tracesDestination, 'http://localhost:4318/v1/traces');
    assert.equal(c.metrics, 'otlp-http');
    assert.equal(c.metricsUrl, 'http://localhost:4318/v1/metrics');
    assert.equal(c.serviceName, 'svc');
    assert.equal(c.maxQueueSize, 2048);
    assert.equal(c.metricExportIntervalMs, 60_000);
  });

  test('options choose when the environment is silent', () => {
    const c = resolveTelemetryConfig({ serviceName: 'svc', exporter: 'otlp-grpc', endpoint: 'http://collector:4317' }, {});
    assert.equal(c.exporter, 'otlp-grpc');
    assert.equal(c.tracesDestination, 'http://collector:4317');
    assert.equal(c.metrics, 'otlp-grpc');
    const f = resolveTelemetryConfig({ serviceName: 'my svc', exporter: 'jaeger-json-file' }, {});
    assert.equal(f.tracesDestination, './my_svc-traces.json');
    assert.equal(f.metrics, 'none', 'no metrics without an OTLP exporter');
    const j = resolveTelemetryConfig({ serviceName: 's', exporter: 'jaeger' }, {});
    assert.equal(j.tracesDestination, 'udp://localhost:6832');
  });

  test('OTEL_* wins: service name, exporter, protocol, endpoints, intervals', () => {
    const env = {
      OTEL_SERVICE_NAME: 'from-env',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:14317',
      OTEL_METRIC_EXPORT_INTERVAL: '1500',
      OTEL_BSP_MAX_QUEUE_SIZE: '100',
    };
    const c = resolveTelemetryConfig({ serviceName: 'from-code', exporter: 'otlp-http', endpoint: 'http://other:4318' }, env);
    assert.equal(c.serviceName, 'from-env');
    assert.equal(c.exporter, 'otlp-grpc');
    assert.equal(c.tracesDestination, 'http://127.0.0.1:14317');
    assert.equal(c.metricExportIntervalMs, 1500);
    assert.equal(c.maxQueueSize, 100);
    const signal = resolveTelemetryConfig({ serviceName: 's' }, {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318/',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:9999/custom/traces',
    });
    assert.equal(signal.tracesDestination, 'http://b:9999/custom/traces', 'per-signal endpoint used as given');
    assert.equal(signal.metricsUrl, 'http://a:4318/v1/metrics', 'base endpoint gets the signal path');
    assert.equal(resolveTelemetryConfig({ serviceName: 's', exporter: 'jaeger-json-file' }, { OTEL_TRACES_EXPORTER: 'otlp' }).exporter, 'otlp-http');
    assert.equal(resolveTelemetryConfig({ serviceName: 's' }, { OTEL_TRACES_EXPORTER: 'none' }).exporter, 'none');
    assert.equal(resolveTelemetryConfig({ serviceName: 's' }, { OTEL_METRICS_EXPORTER: 'none' }).metrics, 'none');
    assert.equal(resolveTelemetryConfig({ serviceName: 's', exporter: 'jaeger-json-file' }, { OTEL_METRICS_EXPORTER: 'otlp' }).metrics, 'otlp-http');
    assert.equal(resolveTelemetryConfig({}, { OTEL_RESOURCE_ATTRIBUTES: 'a=b,service.name=from%20attrs' }).serviceName, 'from attrs');
    assert.equal(resolveTelemetryConfig({ serviceName: 's' }, { OTEL_SDK_DISABLED: 'true' }).disabled, true);
    // http/json (issue 14 item 6): a value the specification lists, served by the OpenTelemetry JS HTTP exporter.
    const json = resolveTelemetryConfig({ serviceName: 's', exporter: 'otlp-grpc' }, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' });
    assert.equal(json.exporter, 'otlp-http-json');
    assert.equal(json.tracesDestination, 'http://c:4318/v1/traces');
    assert.equal(json.metrics, 'otlp-http-json');
    assert.equal(json.metricsUrl, 'http://c:4318/v1/metrics');
    const mixed = resolveTelemetryConfig({ serviceName: 's' }, { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc' });
    assert.deepEqual([mixed.exporter, mixed.metrics], ['otlp-http-json', 'otlp-grpc']);
    assert.equal(resolveTelemetryConfig({ serviceName: 's', exporter: 'otlp-http-json' }, {}).exporter, 'otlp-http-json');
    assert.equal(resolveTelemetryConfig({ serviceName: 's' }, { OTEL_EXPORTER_JAEGER_AGENT_HOST: '127.0.0.1', OTEL_TRACES_EXPORTER: 'jaeger' }).tracesDestination, 'udp://127.0.0.1:6832');
  });

  test('wrong options are refused, naming the option', () => {
    assert.throws(() => resolveTelemetryConfig({}, {}), /serviceName is required \(or set OTEL_SERVICE_NAME\)/);
    assert.throws(() => resolveTelemetryConfig({ serviceName: 's', exporter: 'zipkin' as never }, {}), /exporter must be one of/);
    assert.throws(() => resolveTelemetryConfig({ serviceName: 's', maxQueueSize: 0 }, {}), /maxQueueSize must be a positive number/);
    assert.throws(() => resolveTelemetryConfig({ serviceName: 's', metricExportIntervalMs: -5 }, {}), /metricExportIntervalMs/);
  });
});

describe('setupTelemetry in a process', () => {
  let receiver: OtlpReceiver;
  let udp: Socket;
  const packets: Buffer[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'fairway-setup-'));
  // The child processes run side by side (each test awaits its own), to keep this file short.
  const runs: Record<string, Promise<ChildRun>> = {};
  before(async () => {
    receiver = await startOtlpReceiver();
    udp = createSocket('udp4');
    udp.on('message', (m) => packets.push(m));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', () => resolve()));
    const closed = await closedPort();
    const http = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.httpEndpoint };
    runs.env = runChild(
      { ...http, OTEL_SERVICE_NAME: 'env-named', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=ci' },
      { serviceName: 'code-named', endpoint: 'http://127.0.0.1:9' },
    );
    runs.grpc = runChild(
      { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      { serviceName: 'grpc-by-env', exporter: 'otlp-http', endpoint: 'http://127.0.0.1:9' },
    );
    runs.json = runChild({ ...http, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, { serviceName: 'json-by-env' });
    runs.disabled = runChild({ ...http, OTEL_SDK_DISABLED: 'true' }, { serviceName: 'disabled-svc' });
    runs.none = runChild({ ...http, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' }, { serviceName: 'none-svc' });
    runs.control = runChild(http, { serviceName: 'control-svc' });
    runs.lonelyGrpc = runChild({}, { serviceName: 'lonely-grpc', exporter: 'otlp-grpc', endpoint: `http://127.0.0.1:${closed}`, shutdownTimeoutMs: 3000 });
    runs.lonelyHttp = runChild({}, { serviceName: 'lonely-http', exporter: 'otlp-http', endpoint: `http://127.0.0.1:${closed}`, shutdownTimeoutMs: 3000 });
    runs.jaeger = runChild({}, { serviceName: 'jaeger-agent-svc', exporter: 'jaeger', jaeger: { host: '127.0.0.1', port: udp.address().port } });
    for (const r of Object.values(runs)) r.catch(() => {});
  });
  after(async () => {
    await Promise.allSettled(Object.values(runs));
    udp?.close();
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME point it at the receiver (HTTP/protobuf by default)', { timeout: 120_000 }, async () => {
    const run = await runs.env!;
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.config.tracesDestination, `${receiver.httpEndpoint}/v1/traces`);
    const spans = await receiver.waitForSpans((s) => s.filter((x) => x.serviceName === 'env-named').length >= 6, 20_000);
    const mine = spans.filter((s) => s.serviceName === 'env-named');
    assert.ok(mine.every((s) => s.transport === 'http'));
    assert.equal(mine.filter((s) => s.name === PROBE).length, 3);
    assert.equal(mine[0]!.resource['deployment.environment'], 'ci');
    assert.equal(typeof mine[0]!.resource['process.pid'], 'number');
    assert.equal(mine[0]!.resource['process.command_args'], undefined, 'the command line is not recorded');
    const points = await receiver.waitForMetricPoints((p) => p.some((x) => x.serviceName === 'env-named' && x.name === 'fairway.client.calls'), 20_000);
    assert.equal(points.find((x) => x.serviceName === 'env-named' && x.name === 'fairway.client.calls')!.value, 3);
    assert.ok(points.some((x) => x.serviceName === 'env-named' && x.name === 'fairway.client.cross_zone_attempts'));
  });

  test('OTEL_EXPORTER_OTLP_PROTOCOL=grpc wins over the exporter and endpoint options', { timeout: 120_000 }, async () => {
    const run = await runs.grpc!;
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.config.exporter, 'otlp-grpc');
    const spans = await receiver.waitForSpans((s) => s.some((x) => x.serviceName === 'grpc-by-env' && x.name === PROBE), 20_000);
    assert.ok(spans.filter((s) => s.serviceName === 'grpc-by-env').every((s) => s.transport === 'grpc'));
  });

  test('OTEL_EXPORTER_OTLP_PROTOCOL=http/json sends spans and metrics as OTLP/JSON', { timeout: 120_000 }, async () => {
    const run = await runs.json!;
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.doesNotMatch(run.stdout + run.stderr, /not supported|ignoring/, 'no fallback warning');
    assert.equal(run.config.exporter, 'otlp-http-json');
    const spans = await receiver.waitForSpans((s) => s.filter((x) => x.serviceName === 'json-by-env').length >= 6, 20_000);
    const mine = spans.filter((s) => s.serviceName === 'json-by-env');
    assert.ok(mine.every((s) => s.transport === 'http-json'), mine.map((s) => s.transport).join(','));
    const attempt = mine.find((s) => s.name === `${PROBE} attempt 1`)!;
    const call = mine.find((s) => s.name === PROBE)!;
    assert.equal(attempt.parentSpanId, call.spanId, 'hex ids decoded: the attempt is the call\'s child');
    assert.equal(attempt.attributes['fairway.endpoint.zone'], 'zone-b');
    const points = await receiver.waitForMetricPoints((p) => p.some((x) => x.serviceName === 'json-by-env' && x.name === 'fairway.client.calls'), 20_000);
    const calls = points.find((x) => x.serviceName === 'json-by-env' && x.name === 'fairway.client.calls')!;
    assert.equal(calls.value, 3);
    assert.equal(calls.transport, 'http-json');
  });

  test('OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none export nothing (the run still succeeds)', { timeout: 120_000 }, async () => {
    const [disabled, none, control] = await Promise.all([runs.disabled!, runs.none!, runs.control!]);
    for (const r of [disabled, none, control]) assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(disabled.config.disabled, true);
    assert.equal(none.config.exporter, 'none');
    // Each process exported (or not) before it exited; the control proves the path works.
    await receiver.waitForSpans((s) => s.some((x) => x.serviceName === 'control-svc'), 20_000);
    assert.ok(!receiver.spans().some((x) => x.serviceName === 'disabled-svc' || x.serviceName === 'none-svc'));
    assert.ok(!receiver.metricPoints().some((x) => x.serviceName === 'disabled-svc' || x.serviceName === 'none-svc'));
  });

  test('an unreachable collector changes nothing: the run succeeds and shutdown is bounded', { timeout: 120_000 }, async () => {
    for (const r of [await runs.lonelyGrpc!, await runs.lonelyHttp!]) {
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok(r.doneMs !== undefined, r.stdout + r.stderr);
      // forceFlush and shutdown are each bounded by shutdownTimeoutMs (3 s), plus scheduling slack.
      assert.ok(r.doneMs! < 2 * 3000 + 2000, `flush + shutdown took ${r.doneMs} ms`);
      assert.doesNotMatch(r.stderr, /Unhandled|uncaught/i);
    }
  });

  test('the Jaeger exporter (deprecated upstream) sends Thrift over UDP to an agent on loopback', { timeout: 120_000 }, async () => {
    const run = await runs.jaeger!;
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.config.tracesDestination, `udp://127.0.0.1:${udp.address().port}`);
    const deadline = Date.now() + 10_000;
    while (packets.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(packets.length > 0, 'a UDP packet reached the agent port');
    const all = Buffer.concat(packets);
    assert.ok(all.includes(Buffer.from('emitBatch')), 'a Thrift emitBatch call');
    assert.ok(all.includes(Buffer.from('jaeger-agent-svc')), 'naming the service');
    assert.ok(all.includes(Buffer.from(PROBE)), 'carrying the call span');
  });

  test('the jaeger-json-file exporter writes the file on shutdown; a second set-up is refused until then', { timeout: 30_000 }, async () => {
    const file = join(dir, 'in-process.json');
    const first = setupTelemetry({ serviceName: 'file-svc', exporter: 'jaeger-json-file', file });
    try {
      assert.throws(() => setupTelemetry({ serviceName: 'again', exporter: 'jaeger-json-file', file }), /already registered/);
      trace.getTracer('t').startSpan('in-process span').end();
    } finally {
      await first.shutdown();
    }
    assert.ok(existsSync(file));
    const json = readJaegerJsonFile(file);
    assert.equal(json.data[0]!.spans[0]!.operationName, 'in-process span');
    assert.equal(Object.values(json.data[0]!.processes)[0]!.serviceName, 'file-svc');
    // After shutdown the globals are free again.
    const second = setupTelemetry({ serviceName: 'again', exporter: 'jaeger-json-file', file: join(dir, 'second.json') });
    await second.shutdown();
    await second.shutdown(); // idempotent
  });

  test("exporter 'none' records nothing but still passes the caller's trace context downstream", { timeout: 30_000 }, async () => {
    const handle = setupTelemetry({ serviceName: 'pass-through', exporter: 'none' });
    try {
      const incoming = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const observer = createTelemetryObserver();
      const outgoing = await continueTrace({ traceparent: incoming }, '/trading.Pricer/Quote', async () => {
        await new Promise((r) => setTimeout(r, 5)); // across an await, as in a real handler
        const call = observer.onCallStart({ method: '/trading.Publisher/Publish', kind: 'unary', target: 't' });
        const attempt = call.onAttemptStart(1);
        const headers = attempt.outgoingHeaders();
        attempt.onEnd({ code: 0, details: '', timedOut: false });
        call.onEnd({ code: 0, details: '' });
        return headers;
      });
      assert.equal(outgoing.traceparent, incoming, 'the same trace and parent go on to the next service');
    } finally {
      await handle.shutdown();
    }
  });
});
