// End to end without any collector: each process of the chain writes Jaeger's JSON trace format to its own
// file (setupTelemetry's `jaeger-json-file` exporter); the merge is one file the Jaeger UI opens, with one
// trace per call across three services, and every span's parent in it.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeJaegerJsonFiles, readJaegerJsonFile } from '@fairway/telemetry';
import { chainSuite } from './test-support/chain-processes.js';

describe('Jaeger JSON files from a three-process chain', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fairway-jaeger-chain-'));
  // Registered first: its after hook stops the processes before the one below removes their files.
  const chain = chainSuite();
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('each process writes a loadable file; merged, every span has its parent and each call is one trace', { timeout: 90_000 }, async () => {
    const file = (name: string) => join(dir, `${name}.json`);
    const publisher = await chain.start({ CHAIN_ROLE: 'publisher', CHAIN_EXPORTER: 'jaeger-json-file', CHAIN_FILE: file('publisher') });
    const pricer = await chain.start({
      CHAIN_ROLE: 'pricer',
      CHAIN_ZONE: 'zone-a',
      CHAIN_DOWNSTREAM: `static:///127.0.0.1:${publisher.port}@zone-a`,
      CHAIN_EXPORTER: 'jaeger-json-file',
      CHAIN_FILE: file('pricer'),
    });
    const client = await chain.start({
      CHAIN_ROLE: 'client',
      CHAIN_ZONE: 'zone-a',
      CHAIN_DOWNSTREAM: `static:///127.0.0.1:${pricer.port}@zone-a`,
      CHAIN_CALLS: '2',
      CHAIN_EXPORTER: 'jaeger-json-file',
      CHAIN_FILE: file('client'),
    });
    const results = await client.result();
    assert.ok(results.every((r) => r.ok), JSON.stringify(results));
    await Promise.all([pricer.stop(), publisher.stop()]);

    const files = ['client', 'pricer', 'publisher'].map(file);
    for (const f of files) readJaegerJsonFile(f); // each loads and has Jaeger's shape
    const out = join(dir, 'all-traces.json');
    mergeJaegerJsonFiles(files, out);
    const json = JSON.parse(readFileSync(out, 'utf8')) as {
      data: { traceID: string; spans: { spanID: string; operationName: string; processID: string; references: { refType: string; traceID: string; spanID: string }[] }[]; processes: Record<string, { serviceName: string }> }[];
    };
    assert.equal(json.data.length, 2, 'one trace per client call');
    for (const trace of json.data) {
      assert.equal(trace.spans.length, 6);
      const ids = new Set(trace.spans.map((s) => s.spanID));
      const roots = trace.spans.filter((s) => s.references.length === 0);
      assert.equal(roots.length, 1, 'one root');
      assert.equal(roots[0]!.operationName, 'fairway.chain.Pricer/Quote');
      assert.equal(trace.processes[roots[0]!.processID]!.serviceName, 'client');
      for (const s of trace.spans) {
        for (const r of s.references) {
          assert.equal(r.refType, 'CHILD_OF');
          assert.equal(r.traceID, trace.traceID);
          assert.ok(ids.has(r.spanID), `parent of ${s.operationName} is in the file`);
        }
      }
      assert.deepEqual(Object.values(trace.processes).map((p) => p.serviceName).sort(), ['client', 'pricer', 'publisher']);
    }
  });
});
