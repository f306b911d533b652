// An unreachable collector changes nothing for the application: 50,000 real calls through createClient with
// the telemetry observer, while traces and metrics are exported (OTLP/gRPC) to a port nobody listens on.
// Every call succeeds, nothing crashes, and the heap (measured after GC, in a child process run with
// --expose-gc) stays bounded: the batch span processor keeps at most 2048 spans and drops the rest.
//
// Bound asserted: heap used after GC grows less than 12 MB from after a 2,000-call warm-up to after the
// 50,000 calls, and less than 6 MB over the last 40,000 (a leak of ~75 bytes per span would exceed it).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childNodeArgs } from '@fairway/testing';
import { closedPort, parentEnvWithout } from './test-support/process-env.js';

const here = dirname(fileURLToPath(import.meta.url));
const MB = 1024 * 1024;

describe('telemetry with an unreachable collector', () => {
  test('50,000 calls all succeed, no crash, heap bounded', { timeout: 400_000 }, async (t) => {
    const port = await closedPort();
    const base = parentEnvWithout('OTEL_');
    const child = spawn(
      process.execPath,
      [...childNodeArgs('--expose-gc'), join(here, 'test-support', 'memory-child.ts')],
      {
        env: { ...base, FW_COLLECTOR: `http://127.0.0.1:${port}`, FW_PROTOCOL: 'otlp-grpc', FW_CALLS: '50000', FW_WARMUP: '2000' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 380_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0, `child exited ${String(code)}; stderr: ${err.slice(-2000)}`);
    const m = /MEMORY (.*)\n/.exec(out);
    assert.ok(m, `no MEMORY line; stdout: ${out}; stderr: ${err.slice(-2000)}`);
    const r = JSON.parse(m[1]!) as {
      ok: number;
      failed: number;
      firstError: string;
      samples: { calls: number; heapUsed: number }[];
      wallMs: number;
      config: { exporter: string; tracesDestination: string; metrics: string };
    };
    t.diagnostic(`heap after GC (MB) by calls: ${r.samples.map((s) => `${s.calls}:${(s.heapUsed / MB).toFixed(1)}`).join(' ')}; ${r.wallMs} ms`);
    assert.equal(r.config.exporter, 'otlp-grpc');
    assert.equal(r.config.tracesDestination, `http://127.0.0.1:${port}`);
    assert.equal(r.config.metrics, 'otlp-grpc');
    assert.equal(r.failed, 0, `failed calls, first: ${r.firstError}`);
    assert.equal(r.ok, 52_000, 'warm-up + 50,000 calls answered');
    const first = r.samples[0]!.heapUsed;
    const afterTenK = r.samples.find((s) => s.calls === 10_000)!.heapUsed;
    const last = r.samples[r.samples.length - 1]!;
    assert.equal(last.calls, 50_000);
    assert.ok(last.heapUsed - first < 12 * MB, `heap grew ${((last.heapUsed - first) / MB).toFixed(1)} MB over 50,000 calls`);
    assert.ok(last.heapUsed - afterTenK < 6 * MB, `heap grew ${((last.heapUsed - afterTenK) / MB).toFixed(1)} MB over the last 40,000 calls`);
    assert.doesNotMatch(err, /Unhandled|uncaught|FATAL/i);
  });
});
