import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeEndpointSlice, selectEndpoints } from './decode.js';

const slice = (endpoints: unknown[], extra: Record<string, unknown> = {}) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'pricer-x1', namespace: 'trading' },
  addressType: 'IPv4',
  ports: [{ name: 'grpc', port: 50051, protocol: 'TCP' }, { name: 'metrics', port: 9090 }],
  endpoints,
  ...extra,
});

describe('decodeEndpointSlice', () => {
  test('maps address, port by name, zone, Pod identity and conditions', () => {
    const d = decodeEndpointSlice(
      slice([
        { addresses: ['10.0.0.1', '10.0.0.99'], conditions: { ready: true }, zone: 'eu-1a', targetRef: { kind: 'Pod', name: 'pricer-1', uid: 'u1' } },
        { addresses: ['10.0.0.2'], hints: { forZones: [{ name: 'eu-1b' }] } },
        { addresses: ['10.0.0.3'], conditions: { ready: false, serving: true, terminating: true }, zone: 'eu-1c', hints: { forZones: [{ name: 'eu-1x' }] } },
      ]),
      { port: 'metrics' },
    );
    assert.deepEqual(d.warnings, []);
    assert.equal(d.name, 'pricer-x1');
    assert.deepEqual(d.endpoints, [
      { address: '10.0.0.1:9090', zone: 'eu-1a', instance: 'pricer-1', incarnation: 'u1', ready: true, serving: true, terminating: false },
      { address: '10.0.0.2:9090', zone: 'eu-1b', ready: true, serving: true, terminating: false },
      { address: '10.0.0.3:9090', zone: 'eu-1c', ready: false, serving: true, terminating: true },
    ]);
  });

  test('IPv6 addresses are bracketed; a port number is used as given; one unnamed port is used when none is named', () => {
    const v6 = decodeEndpointSlice(slice([{ addresses: ['fd00::7'] }], { addressType: 'IPv6' }), { port: '8080' });
    assert.deepEqual(v6.endpoints.map((e) => e.address), ['[fd00::7]:8080']);
    const one = decodeEndpointSlice(slice([{ addresses: ['10.0.0.1'] }], { ports: [{ name: '', port: 7000 }] }));
    assert.deepEqual(one.endpoints.map((e) => e.address), ['10.0.0.1:7000']);
    const two = decodeEndpointSlice(slice([{ addresses: ['10.0.0.1'] }]));
    assert.deepEqual(two.endpoints, []);
    assert.match(two.warnings[0]!, /EndpointSlice trading\/pricer-x1: the target names no port and the slice has 2 ports/);
  });

  test('an IPv4 address in an IPv6 slice, a missing named port, null endpoints', () => {
    const mixed = decodeEndpointSlice(slice([{ addresses: ['10.0.0.1'] }], { addressType: 'IPv6' }), { port: 'grpc' });
    assert.deepEqual(mixed.endpoints, []);
    assert.match(mixed.warnings[0]!, /endpoint 0: address "10\.0\.0\.1" is not a valid IPv6 address; skipped/);
    const noPort = decodeEndpointSlice(slice([{ addresses: ['10.0.0.1'] }]), { port: 'http' });
    assert.match(noPort.warnings[0]!, /has no port named "http" \(ports: grpc, metrics\); slice ignored/);
    const empty = decodeEndpointSlice(slice([], { endpoints: null }), { port: 'grpc' });
    assert.deepEqual(empty, { name: 'pricer-x1', endpoints: [], warnings: [] });
  });

  test('warnings are capped per slice', () => {
    const d = decodeEndpointSlice(slice(Array.from({ length: 50 }, () => 'junk')), { port: 'grpc' });
    assert.equal(d.warnings.length, 6);
    assert.match(d.warnings[5]!, /more problems not shown/);
  });

  test('property: any JSON value decodes without throwing, and every warning names the slice', () => {
    const endpointArb = fc.oneof(
      fc.anything(),
      fc.record(
        {
          addresses: fc.oneof(fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string(), fc.integer())), fc.anything()),
          conditions: fc.oneof(fc.record({ ready: fc.oneof(fc.boolean(), fc.anything()), serving: fc.boolean(), terminating: fc.boolean() }, { requiredKeys: [] }), fc.anything()),
          zone: fc.oneof(fc.string(), fc.anything()),
          targetRef: fc.oneof(fc.record({ name: fc.string(), uid: fc.string() }), fc.anything()),
        },
        { requiredKeys: [] },
      ),
    );
    const sliceArb = fc.oneof(
      fc.anything(),
      fc.record(
        {
          metadata: fc.oneof(fc.record({ name: fc.string({ minLength: 1 }) }), fc.anything()),
          addressType: fc.oneof(fc.constantFrom('IPv4', 'IPv6', 'FQDN'), fc.anything()),
          ports: fc.oneof(fc.array(fc.record({ name: fc.oneof(fc.constant('grpc'), fc.string()), port: fc.oneof(fc.integer(), fc.anything()) })), fc.anything()),
          endpoints: fc.oneof(fc.array(endpointArb, { maxLength: 20 }), fc.anything()),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(sliceArb, fc.option(fc.constantFrom('grpc', '50051', 'http')), (obj, port) => {
        const d = decodeEndpointSlice(obj, port === null ? {} : { port });
        for (const w of d.warnings) assert.match(w, /^(EndpointSlice |an EndpointSlice is )/);
        for (const e of d.endpoints) {
          assert.match(e.address, /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):\d{1,5}$/);
          assert.equal(typeof e.ready, 'boolean');
        }
        // Selecting never yields two endpoints with one address.
        const sel = selectEndpoints([d.endpoints]);
        assert.equal(new Set(sel.endpoints.map((e) => e.address)).size, sel.endpoints.length);
      }),
      { numRuns: 500, seed: 42 },
    );
  });
});

describe('selectEndpoints', () => {
  const e = (address: string, ready: boolean, serving = ready, terminating = false, instance?: string) => ({ address, ready, serving, terminating, ...(instance ? { instance } : {}) });

  test('ready endpoints from every slice, one per address (ready copy first), sorted', () => {
    const sel = selectEndpoints([[e('10.0.0.2:1', true), e('10.0.0.3:1', false)], [e('10.0.0.1:1', true), e('10.0.0.2:1', true)]]);
    assert.equal(sel.mode, 'ready');
    assert.deepEqual(sel.endpoints.map((x) => x.address), ['10.0.0.1:1', '10.0.0.2:1']);
  });

  test('no ready endpoint: serving while terminating (KEP-1669); nothing serving: none', () => {
    const sel = selectEndpoints([[e('a:1', false, true, true), e('b:1', false, false, true), e('c:1', false, true, false)]]);
    assert.equal(sel.mode, 'terminating-fallback');
    assert.deepEqual(sel.endpoints.map((x) => x.address), ['a:1']);
    assert.deepEqual(sel.unused.map((x) => x.address), ['b:1', 'c:1']);
    const none = selectEndpoints([[e('b:1', false, false, true)]]);
    assert.deepEqual(none, { endpoints: [], mode: 'none', unused: [e('b:1', false, false, true)] });
  });

  test('a ready endpoint wins over terminating ones, and one endpoint per instance', () => {
    const sel = selectEndpoints([[e('a:1', false, true, true), e('b:1', true, true, false, 'p1'), e('c:1', true, true, false, 'p1')]]);
    assert.deepEqual(sel.endpoints, [{ address: 'b:1', instance: 'p1' }]);
    assert.deepEqual(sel.unused, [e('a:1', false, true, true)]);
  });

  test('unused: the endpoints left out for their conditions, with them, one per address, sorted; never a chosen address', () => {
    const sel = selectEndpoints([[e('10.0.0.3:1', false), e('10.0.0.2:1', true)], [e('10.0.0.3:1', false), e('10.0.0.2:1', false), e('10.0.0.1:1', false, true, true)]]);
    assert.deepEqual(sel.endpoints.map((x) => x.address), ['10.0.0.2:1']);
    assert.deepEqual(sel.unused, [e('10.0.0.1:1', false, true, true), e('10.0.0.3:1', false)]);
  });
});
