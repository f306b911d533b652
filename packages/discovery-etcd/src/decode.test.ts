// decodeEtcdValue: the Go naming format (with and without Metadata), what counts as bad, and properties:
// it never throws, every accepted address is a valid host:port, and encode -> decode is the identity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hostPortProblem } from '@fairway/core';
import { decodeEtcdValue, encodeEtcdValue, isDecodeError } from './decode.js';

const enc = (s: string) => new TextEncoder().encode(s);

test('Go endpoints.Manager values: Metadata object, null, absent, or another JSON type', () => {
  assert.deepEqual(
    decodeEtcdValue('pricer/p-1', enc('{"Op":0,"Addr":"10.0.0.7:50051","Metadata":{"zone":"eu-west-1a","instance":"pricer-7f9c","incarnation":"1764032400123-4f1c","weight":1}}'), 'pricer/'),
    { address: '10.0.0.7:50051', zone: 'eu-west-1a', instance: 'pricer-7f9c', incarnation: '1764032400123-4f1c', weight: 1 },
  );
  assert.deepEqual(decodeEtcdValue('pricer/go-1', enc('{"Op":0,"Addr":"10.0.0.8:50051","Metadata":null}'), 'pricer/'), { address: '10.0.0.8:50051', instance: 'go-1' });
  assert.deepEqual(decodeEtcdValue('pricer/go-2', '{"Addr":"[::1]:50051"}', 'pricer/'), { address: '[::1]:50051', instance: 'go-2' });
  assert.deepEqual(decodeEtcdValue('pricer/go-3', '{"Addr":"h.example:1","Metadata":"..."}', 'pricer/'), { address: 'h.example:1', instance: 'go-3' });
  // A canary registration; `canary: false` is the same as none.
  assert.deepEqual(decodeEtcdValue('pricer/c', '{"Op":0,"Addr":"10.0.0.9:1","Metadata":{"canary":true}}', 'pricer/'), { address: '10.0.0.9:1', instance: 'c', canary: true });
  assert.deepEqual(decodeEtcdValue('pricer/c', '{"Op":0,"Addr":"10.0.0.9:1","Metadata":{"canary":false}}', 'pricer/'), { address: '10.0.0.9:1', instance: 'c' });
  // Metadata without an instance: the key's id is the instance.
  assert.deepEqual(decodeEtcdValue('pricer/k', '{"Op":0,"Addr":"10.0.0.9:1","Metadata":{"zone":"z"}}', 'pricer/'), { address: '10.0.0.9:1', zone: 'z', instance: 'k' });
});

test('bad values are errors naming the key and the problem', () => {
  const bad: Array<[string, RegExp]> = [
    ['not json', /not JSON/],
    ['[1,2]', /not a JSON object/],
    ['{"Op":1,"Addr":"10.0.0.1:1"}', /"Op" is 1/],
    ['{"Op":0}', /"Addr" is missing/],
    ['{"Op":0,"Addr":"10.0.0.1"}', /no port/],
    ['{"Op":0,"Addr":"10.0.0.1:0"}', /out of range/],
    ['{"Op":0,"Addr":"10.0.0.1:65536"}', /out of range/],
    ['{"Op":0,"Addr":"::1:80"}', /brackets/],
    ['{"Op":0,"Addr":"10.0.0.1:1","Metadata":{"weight":-1}}', /weight/],
    ['{"Op":0,"Addr":"10.0.0.1:1","Metadata":{"zone":5}}', /zone/],
    ['{"Op":0,"Addr":"10.0.0.1:1","Metadata":{"canary":"yes"}}', /"Metadata.canary" "yes" is not true or false/],
  ];
  for (const [value, re] of bad) {
    const r = decodeEtcdValue('svc/x', value, 'svc/');
    assert.ok(isDecodeError(r), value);
    assert.match(r.message, /etcd key "svc\/x"/);
    assert.match(r.message, re, value);
  }
  const nonUtf8 = decodeEtcdValue('svc/x', new Uint8Array([0xff, 0xfe, 0x00]), 'svc/');
  assert.ok(isDecodeError(nonUtf8) && /UTF-8/.test(nonUtf8.message));
});

test('encodeEtcdValue writes exactly what Go marshals (keys Op, Addr, Metadata in that order)', () => {
  assert.equal(encodeEtcdValue('10.0.0.7:50051', null), '{"Op":0,"Addr":"10.0.0.7:50051","Metadata":null}');
  assert.equal(
    encodeEtcdValue('10.0.0.7:50051', { zone: 'eu-west-1a', instance: 'pricer-7f9c', incarnation: '1764032400123-4f1c', weight: 1 }),
    '{"Op":0,"Addr":"10.0.0.7:50051","Metadata":{"zone":"eu-west-1a","instance":"pricer-7f9c","incarnation":"1764032400123-4f1c","weight":1}}',
  );
});

test('property: decoding never throws; what it accepts has a valid address', () => {
  fc.assert(
    fc.property(fc.string(), fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.string(), fc.json()), (key, value) => {
      const r = decodeEtcdValue(key, value);
      if (isDecodeError(r)) {
        assert.ok(r.message.includes(JSON.stringify(key)));
      } else {
        assert.equal(hostPortProblem(r.address), undefined);
      }
    }),
    { numRuns: 500 },
  );
});

test('property: encode then decode gives back the endpoint', () => {
  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
  const name = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/);
  fc.assert(
    fc.property(
      ipv4,
      fc.integer({ min: 1, max: 65535 }),
      fc.option(name, { nil: undefined }),
      name,
      fc.option(fc.stringMatching(/^\d{13}-[0-9a-f]{4}$/), { nil: undefined }),
      fc.option(fc.double({ min: 0.01, max: 1000, noNaN: true }), { nil: undefined }),
      (host, port, zone, instance, incarnation, weight) => {
        const address = `${host}:${port}`;
        const md = { ...(zone ? { zone } : {}), instance, ...(incarnation ? { incarnation } : {}), ...(weight ? { weight } : {}) };
        const r = decodeEtcdValue(`svc/${instance}`, enc(encodeEtcdValue(address, md)), 'svc/');
        assert.deepEqual(r, { address, ...md });
      },
    ),
    { numRuns: 300 },
  );
});
