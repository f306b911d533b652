// Runs the README's "See it in Jaeger" examples as they are: examples/readme/telemetry-server.ts and
// examples/readme/telemetry-client.ts, each its own process, pointed at the OTLP receiver stand-in only
// through OTEL_* variables (the client's code says otlp-grpc to localhost:4317; the variable wins).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOtlpReceiver, type OtlpReceiver } from '@fairway/testing';
import { childNodeArgs } from '@fairway/testing';
import { parentEnvWithout } from './test-support/process-env.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function node(file: string, env: Record<string, string>): { child: ChildProcess; out: () => string; exit: Promise<number | null> } {
  const base = parentEnvWithout('OTEL_');
  const child = spawn(process.execPath, [...childNodeArgs(), join(root, file)], {
    cwd: root,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, exit };
}

describe('README: See it in Jaeger', () => {
  let receiver: OtlpReceiver | undefined;
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await receiver?.close();
  });

  test('examples/readme/telemetry-server.ts and examples/readme/telemetry-client.ts make one trace', { timeout: 120_000 }, async () => {
    receiver = await startOtlpReceiver();
    const server = node('examples/readme/telemetry-server.ts', {
      PRICER_BIND: '127.0.0.1:0',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.httpEndpoint,
    });
    children.push(server.child);
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server not listening: ${server.out()}`)), 90_000);
      const check = () => {
        const m = /listening on (\d+)/.exec(server.out());
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      server.child.stdout!.on('data', check);
      check();
    });
    const client = node('examples/readme/telemetry-client.ts', {
      PRICER_TARGET: `static:///127.0.0.1:${port}@eu-west-1a`,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint,
    });
    children.push(client.child);
    assert.equal(await client.exit, 0, client.out());
    assert.match(client.out(), /ok: open Jaeger/);
    server.child.kill('SIGTERM');
    assert.equal(await server.exit, 0, server.out());

    const spans = await receiver.waitForSpans(
      (s) => s.some((x) => x.serviceName === 'pricer') && s.filter((x) => x.serviceName === 'quote-driver').length >= 2,
      30_000,
    );
    const call = spans.find((s) => s.serviceName === 'quote-driver' && s.name === 'fairway.test.Echo/Unary')!;
    const attempt = spans.find((s) => s.serviceName === 'quote-driver' && s.name === 'fairway.test.Echo/Unary attempt 1')!;
    const served = spans.find((s) => s.serviceName === 'pricer' && s.name === 'fairway.test.Echo/Unary')!;
    assert.ok(call && attempt && served, spans.map((s) => `${s.serviceName}:${s.name}`).join(', '));
    assert.equal(attempt.parentSpanId, call.spanId);
    assert.equal(served.parentSpanId, attempt.spanId);
    assert.equal(served.traceId, call.traceId);
    assert.equal(attempt.attributes['fairway.endpoint.address'], `127.0.0.1:${port}`);
    assert.equal(attempt.attributes['fairway.endpoint.zone'], 'eu-west-1a');
    assert.equal(attempt.attributes['fairway.client.zone'], 'eu-west-1a');
    assert.equal(call.transport, 'grpc', 'the client exported over gRPC (its exporter option)');
    assert.equal(served.transport, 'http', 'the server exported over HTTP/protobuf (the default)');
  });
});
