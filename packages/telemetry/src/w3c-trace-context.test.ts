// Fairway's own W3C trace-context propagator (used when no SDK registered one) must read and write exactly
// what OpenTelemetry's reference implementation in @opentelemetry/core does (a dev dependency only here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ROOT_CONTEXT, trace, createTraceState, type TextMapGetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { W3CTraceContext } from './w3c-trace-context.js';

const ours = new W3CTraceContext();
const reference = new W3CTraceContextPropagator();
const getter: TextMapGetter<Record<string, string | string[]>> = {
  keys: (c) => Object.keys(c),
  get: (c, k) => c[k],
};
const setter = { set: (c: Record<string, string>, k: string, v: string) => void (c[k] = v) };

function extracted(p: W3CTraceContext | W3CTraceContextPropagator, headers: Record<string, string | string[]>) {
  const sc = trace.getSpanContext(p.extract(ROOT_CONTEXT, headers, getter));
  return sc && { traceId: sc.traceId, spanId: sc.spanId, traceFlags: sc.traceFlags, isRemote: sc.isRemote, state: sc.traceState?.serialize() };
}

test('reads traceparent and tracestate as the reference does, and ignores malformed ones', () => {
  const cases: Record<string, string | string[]>[] = [
    { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00', tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' },
    { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03' }, // unknown flag bits kept
    { traceparent: ' 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 ' },
    { traceparent: 'cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-adds' },
    { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra' }, // version 00 has four fields
    { traceparent: 'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    { traceparent: '00-00000000000000000000000000000000-b7ad6b7169203331-01' },
    { traceparent: '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01' },
    { traceparent: '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01' },
    { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331' },
    { traceparent: ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', '00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'] },
    { tracestate: 'a=b' },
    {},
  ];
  for (const headers of cases) assert.deepEqual(extracted(ours, headers), extracted(reference, headers), JSON.stringify(headers));
  assert.equal(extracted(ours, cases[0]!)?.spanId, 'b7ad6b7169203331', 'the valid case is read, not just equally ignored');
});

// Flags up to 0x0f: the reference writes a third hex digit for flags above 0x0f ("0ff"), which is not W3C.
test('writes what the reference writes, for any valid span context', () => {
  const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
  fc.assert(
    fc.property(hex(32), hex(16), fc.integer({ min: 0, max: 15 }), fc.boolean(), (traceId, spanId, flags, withState) => {
      const spanContext = {
        traceId,
        spanId,
        traceFlags: flags,
        ...(withState ? { traceState: createTraceState('vendor=value,other=1') } : {}),
      };
      const ctx = trace.setSpanContext(ROOT_CONTEXT, spanContext);
      const a: Record<string, string> = {};
      const b: Record<string, string> = {};
      ours.inject(ctx, a, setter);
      reference.inject(ctx, b, setter);
      assert.deepEqual(a, b);
      if (!/^0+$/.test(traceId) && !/^0+$/.test(spanId)) {
        assert.equal(a.traceparent, `00-${traceId}-${spanId}-0${flags.toString(16)}`);
        assert.deepEqual(extracted(ours, a), extracted(reference, b), 'and reads it back the same');
      }
    }),
    { seed: 20, numRuns: 300 },
  );
  assert.deepEqual(ours.fields(), reference.fields());
});
