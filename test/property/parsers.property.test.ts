// Property-based tests (fast-check) of every parser that takes outside input: the target parser, the policy
// (service-config) parser, the retry options, the etcd value decoder and the EndpointSlice decoder. Each
// either returns a well-formed value or fails with its own typed error naming the input at fault (the
// decoders return a typed error or a warning instead of throwing); round trips where one exists.
// (Extends the decoder properties in packages/discovery-etcd/src/decode.test.ts and
// packages/discovery-kubernetes/src/decode.test.ts; does not repeat them.)
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  parseTarget,
  parseStaticTarget,
  parseKubernetesPath,
  hostPortProblem,
  TargetError,
  parseRetryOptions,
  RetryOptionsError,
  MIN_ATTEMPTS,
  MAX_ATTEMPTS,
} from '@fairway/core';
import { parseFairwayPolicyConfig, serviceConfigFor, PolicyConfigError } from '@fairway/grpc';
import { decodeEtcdValue, encodeEtcdValue, isDecodeError } from '@fairway/discovery-etcd';
import { decodeEndpointSlice, selectEndpoints } from '@fairway/discovery-kubernetes';
import { makeEndpointSlice } from '@fairway/testing';

const RUNS = { numRuns: 300, seed: 20261125 };
/** Arbitrary values, kept small so that a run stays fast on a loaded machine. */
const anything = () => fc.anything({ maxDepth: 2, maxKeys: 4 });

// ---- building blocks ---------------------------------------------------------------------------------------
const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(octet, octet, octet, octet).map((p) => p.join('.'));
const ipv6 = fc.ipV6();
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const hostname = fc.array(label, { minLength: 1, maxLength: 3 }).map((ls) => ls.join('.')).filter((h) => !/^[\d.]+$/.test(h));
const port = fc.integer({ min: 1, max: 65535 });
const hostPort = fc.oneof(
  fc.tuple(ipv4, port).map(([h, p]) => `${h}:${p}`),
  fc.tuple(ipv6, port).map(([h, p]) => `[${h}]:${p}`),
  fc.tuple(hostname, port).map(([h, p]) => `${h}:${p}`),
);
const zone = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,12}$/);
/** Strings that look like targets: pieces of real syntax mixed with noise. */
const targetish = fc
  .array(
    fc.oneof(
      fc.constantFrom('static:', 'etcd:', 'k8s:', 'dns:', 'ipv4:', 'ipv6:', 'unix:', 'kubernetes:', 'STATIC:', '//', '///', '/', ',', '@', ':', '[', ']', '.', ' ', '%', '\n', ''),
      hostPort,
      zone,
      label,
      fc.string({ maxLength: 6 }),
      fc.integer({ min: -10, max: 70_000 }).map(String),
    ),
    { maxLength: 8 },
  )
  .map((parts) => parts.join(''));

/** Asserts `fn` either returns or throws an instance of `ErrorClass` that satisfies `check`. */
function returnsOrThrowsTyped<T>(fn: () => T, ErrorClass: new (...a: never[]) => Error, check: (e: Error) => void): T | undefined {
  try {
    return fn();
  } catch (e) {
    assert.ok(e instanceof ErrorClass, `threw ${(e as Error)?.constructor?.name}: ${String(e)} (expected ${ErrorClass.name})`);
    check(e);
    return undefined;
  }
}

// ---- targets -----------------------------------------------------------------------------------------------
describe('target parser', () => {
  test('any string: a ParsedTarget for that string, or a TargetError naming it', () => {
    fc.assert(
      fc.property(fc.oneof(targetish, fc.string(), fc.string({ unit: 'binary', maxLength: 40 })), (raw) => {
        const t = returnsOrThrowsTyped(() => parseTarget(raw), TargetError, (e) => {
          assert.equal((e as TargetError).target, raw);
          assert.ok(e.message.includes(JSON.stringify(raw)), e.message);
          assert.ok(e.message.length > JSON.stringify(raw).length + 10, `the message says what is wrong: ${e.message}`);
        });
        if (t) {
          assert.equal(t.raw, raw);
          assert.match(t.scheme, /^[a-z][a-z0-9+.-]*$/);
          // Schemes Fairway validates also parse fully.
          if (t.scheme === 'static') assert.ok(parseStaticTarget(t).length >= 1);
          if (t.scheme === 'k8s') assert.ok(parseKubernetesPath(t).service.length >= 1);
        }
      }),
      RUNS,
    );
  });

  test('non-string input is a TargetError, never a TypeError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.constant(null), fc.constant(undefined), fc.object(), fc.array(fc.nat())), (raw) => {
        assert.throws(() => parseTarget(raw as unknown as string), TargetError);
      }),
      { numRuns: 200, seed: 1 },
    );
  });

  test('round trip: a static list written out parses back to the same endpoints and zones', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(hostPort, fc.option(zone, { nil: undefined })), { minLength: 1, maxLength: 8, selector: ([a]) => a }), (list) => {
        const raw = `static:///${list.map(([a, z]) => (z === undefined ? a : `${a}@${z}`)).join(',')}`;
        const eps = parseStaticTarget(raw);
        assert.deepEqual(eps, list.map(([address, z]) => (z === undefined ? { address } : { address, zone: z })));
        for (const e of eps) assert.equal(hostPortProblem(e.address), undefined);
      }),
      RUNS,
    );
  });

  test('a static list with one broken entry is refused, naming that entry', () => {
    const broken = fc.oneof(
      fc.tuple(ipv4, fc.integer({ min: 65536, max: 999_999 })).map(([h, p]) => `${h}:${p}`),
      ipv4, // no port
      fc.tuple(ipv6, port).map(([h, p]) => `${h}:${p}`), // IPv6 without brackets
      fc.tuple(fc.constantFrom('256.1.1.1', '1.2.3', 'a_b', '-x'), port).map(([h, p]) => `${h}:${p}`),
    );
    fc.assert(
      fc.property(fc.array(hostPort, { maxLength: 4 }), broken, fc.nat(4), (good, bad, at) => {
        const list = [...good];
        list.splice(Math.min(at, list.length), 0, bad);
        const raw = `static:///${list.join(',')}`;
        assert.throws(
          () => parseStaticTarget(raw),
          (e: unknown) => e instanceof TargetError && e.target === raw && e.message.includes(bad.split(',')[0]!.slice(0, 5)),
        );
      }),
      RUNS,
    );
  });

  test('round trip: k8s:///<service>[.<namespace>][:<port>]', () => {
    const portName = fc.stringMatching(/^[a-z]([a-z0-9-]{0,12}[a-z0-9])?$/);
    fc.assert(
      fc.property(label, fc.option(label, { nil: undefined }), fc.option(fc.oneof(portName, port.map(String)), { nil: undefined }), (svc, ns, p) => {
        const raw = `k8s:///${svc}${ns !== undefined ? `.${ns}` : ''}${p !== undefined ? `:${p}` : ''}`;
        const k = parseKubernetesPath(parseTarget(raw));
        assert.deepEqual(k, { service: svc, ...(ns !== undefined ? { namespace: ns } : {}), ...(p !== undefined ? { port: p } : {}) });
      }),
      RUNS,
    );
  });
});

// ---- policy config (service config) and retry options ------------------------------------------------------
describe('policy config parser', () => {
  const near = fc.record(
    {
      zone: fc.oneof(zone, fc.string(), anything()),
      decayMs: fc.oneof(fc.integer({ min: -10, max: 100_000 }), fc.double(), anything()),
      zoneBandLow: fc.oneof(fc.double({ min: -1, max: 5 }), anything()),
      zoneBandHigh: fc.oneof(fc.double({ min: -1, max: 10 }), anything()),
      junk: anything(),
    },
    { requiredKeys: [] },
  );
  test('any JSON-ish value: settings, or a PolicyConfigError naming the field', () => {
    fc.assert(
      fc.property(fc.oneof(near, fc.jsonValue(), anything()), (raw) => {
        const s = returnsOrThrowsTyped(() => parseFairwayPolicyConfig(raw), PolicyConfigError, (e) => {
          const field = (e as PolicyConfigError).field;
          // The field at fault is one of the input's own keys, or the whole config.
          assert.ok(field === '(config)' || Object.keys(raw as object).includes(field), `field ${JSON.stringify(field)}`);
          assert.ok(e.message.includes(field), e.message);
        });
        if (s) {
          // Accepted settings survive the trip through a grpc-js service config string.
          const back = JSON.parse(serviceConfigFor(s)) as { loadBalancingConfig: Array<Record<string, unknown>> };
          const inner = Object.values(back.loadBalancingConfig[0]!)[0];
          assert.deepEqual(parseFairwayPolicyConfig(inner), s);
        }
      }),
      RUNS,
    );
  });
});

describe('retry options parser', () => {
  const methodish = fc.record(
    {
      attemptTimeoutMs: fc.oneof(fc.integer({ min: -5, max: 10_000 }), fc.double(), anything()),
      maxAttempts: fc.oneof(fc.integer({ min: -1, max: 9 }), fc.double({ min: 0, max: 10 }), anything()),
      retryIntervalMs: fc.oneof(fc.integer({ min: -5, max: 1_000 }), anything()),
    },
    { requiredKeys: [] },
  );
  const retryish = fc.oneof(
    anything(),
    fc.record(
      {
        attemptTimeoutMs: fc.oneof(fc.integer({ min: -5, max: 10_000 }), anything()),
        maxAttempts: fc.oneof(fc.integer({ min: -1, max: 9 }), anything()),
        retryIntervalMs: fc.oneof(fc.integer({ min: -5, max: 1_000 }), anything()),
        budget: fc.oneof(fc.record({ ratio: fc.oneof(fc.double(), anything()), minPerSecond: fc.double(), windowMs: fc.integer() }, { requiredKeys: [] }), anything()),
        methods: fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom('pkg.Svc/Method', '/pkg.Svc/M', 'bad key'), fc.string()), methodish, { maxKeys: 3 }), anything()),
        other: anything(),
      },
      { requiredKeys: [] },
    ),
  );
  test('any value: a RetryConfig within the documented bounds, or a RetryOptionsError naming the field', () => {
    fc.assert(
      fc.property(retryish, (raw) => {
        const cfg = returnsOrThrowsTyped(() => parseRetryOptions(raw), RetryOptionsError, (e) => {
          const field = (e as RetryOptionsError).field;
          assert.match(field, /^retry/);
          assert.ok(e.message.startsWith(field), e.message);
        });
        if (cfg) {
          for (const m of [cfg.defaults, ...cfg.methods.values()]) {
            assert.ok(Number.isInteger(m.maxAttempts) && m.maxAttempts >= MIN_ATTEMPTS && m.maxAttempts <= MAX_ATTEMPTS);
            assert.ok(m.attemptTimeoutMs === undefined || (m.attemptTimeoutMs > 0 && Number.isFinite(m.attemptTimeoutMs)));
            assert.ok(m.retryIntervalMs >= 0 && Number.isFinite(m.retryIntervalMs));
          }
          assert.ok(cfg.budget.ratio >= 0 && cfg.budget.minPerSecond >= 0 && cfg.budget.windowMs >= 100);
        }
      }),
      RUNS,
    );
  });
});

// ---- etcd values -----------------------------------------------------------------------------------------
describe('etcd value decoder (extends packages/discovery-etcd/src/decode.test.ts)', () => {
  test('round trip for IPv6 and host-name addresses, with and without Metadata; identity from the key when Metadata is absent', () => {
    fc.assert(
      fc.property(hostPort, label, fc.boolean(), fc.option(zone, { nil: undefined }), (address, id, withMetadata, z) => {
        const key = `svc/${id}`;
        const value = withMetadata ? encodeEtcdValue(address, { instance: id, ...(z ? { zone: z } : {}) }) : JSON.stringify({ Op: 0, Addr: address });
        const r = decodeEtcdValue(key, value, 'svc/');
        assert.ok(!isDecodeError(r), isDecodeError(r) ? r.message : '');
        assert.equal(r.address, address);
        if (withMetadata && z) assert.equal(r.zone, z);
        if (!withMetadata) assert.equal(r.zone, undefined);
      }),
      RUNS,
    );
  });

  test('mangled Go values (fields dropped, retyped, Op other than 0, oversized) are typed errors naming the key', () => {
    const mangled = fc.oneof(
      fc.record({ Op: fc.oneof(fc.constant(1), fc.string(), fc.constant(null)), Addr: hostPort }),
      fc.record({ Op: fc.constant(0), Addr: fc.oneof(fc.integer(), fc.constant(null), fc.string({ maxLength: 5 }), ipv4) }),
      fc.record({ Op: fc.constant(0), Addr: hostPort, Metadata: fc.record({ zone: fc.oneof(fc.integer(), fc.constant('')), weight: fc.oneof(fc.constant(-1), fc.string(), fc.constant(Number.MAX_VALUE)) }, { requiredKeys: [] }) }),
      fc.constant({ Op: 0, Addr: '10.0.0.1:5', Metadata: { zone: 'x'.repeat(70_000) } }),
    );
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }), mangled, (id, v) => {
        const key = `svc/${id}`;
        const r = decodeEtcdValue(key, new TextEncoder().encode(JSON.stringify(v)), 'svc/');
        if (isDecodeError(r)) {
          assert.equal(r.key, key);
          assert.ok(r.message.includes(JSON.stringify(key)), r.message);
        } else {
          assert.equal(hostPortProblem(r.address), undefined, `accepted ${JSON.stringify(v)}`);
        }
      }),
      RUNS,
    );
  });
});

// ---- EndpointSlices ----------------------------------------------------------------------------------------
describe('EndpointSlice decoder (extends packages/discovery-kubernetes/src/decode.test.ts)', () => {
  const pod = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
  const endpointSpec = fc.record({
    ip: ipv4,
    ready: fc.option(fc.boolean(), { nil: undefined }),
    serving: fc.option(fc.boolean(), { nil: undefined }),
    terminating: fc.option(fc.boolean(), { nil: undefined }),
    zone: fc.option(zone, { nil: undefined }),
    pod: fc.option(pod, { nil: undefined }),
  });
  test('round trip: what the API server would send decodes to exactly those addresses, zones, pods and conditions', () => {
    fc.assert(
      fc.property(fc.uniqueArray(endpointSpec, { maxLength: 12, selector: (e) => e.ip }), port, fc.constantFrom('grpc', undefined), (eps, p, portName) => {
        const spec = eps.map((e) => ({
          ip: e.ip,
          ...(e.ready !== undefined ? { ready: e.ready } : {}),
          ...(e.serving !== undefined ? { serving: e.serving } : {}),
          ...(e.terminating !== undefined ? { terminating: e.terminating } : {}),
          ...(e.zone !== undefined ? { zone: e.zone } : {}),
          ...(e.pod !== undefined ? { pod: e.pod, podUid: `uid-${e.pod}` } : {}),
        }));
        const slice = makeEndpointSlice({ name: 's', namespace: 'ns', service: 'svc', ports: [{ ...(portName ? { name: portName } : {}), port: p }], endpoints: spec });
        const d = decodeEndpointSlice(JSON.parse(JSON.stringify(slice)), portName ? { port: portName } : {});
        assert.deepEqual(d.warnings, []);
        assert.equal(d.endpoints.length, eps.length);
        for (const [i, e] of eps.entries()) {
          const got = d.endpoints[i]!;
          assert.equal(got.address, `${e.ip}:${p}`);
          assert.equal(got.zone, e.zone);
          assert.equal(got.ready, e.ready !== false, 'ready unless conditions.ready is false');
          if (e.pod !== undefined) assert.equal(got.instance, e.pod);
        }
        // The selection never invents an endpoint, and uses ready ones when there are any.
        const sel = selectEndpoints([d.endpoints]);
        const addresses = new Set(d.endpoints.map((e) => e.address));
        for (const e of sel.endpoints) assert.ok(addresses.has(e.address));
        if (d.endpoints.some((e) => e.ready)) assert.ok(sel.endpoints.every((e) => d.endpoints.find((x) => x.address === e.address)!.ready));
      }),
      RUNS,
    );
  });

  test('a slice mangled at one random place still decodes without throwing; its warnings name the slice', () => {
    const paths: Array<(o: Record<string, any>, v: unknown) => void> = [
      (o, v) => (o['metadata'] = v),
      (o, v) => (o['ports'] = v),
      (o, v) => (o['ports'][0].port = v),
      (o, v) => (o['endpoints'] = v),
      (o, v) => (o['endpoints'][0] = v),
      (o, v) => (o['endpoints'][0].addresses = v),
      (o, v) => (o['endpoints'][0].conditions = v),
      (o, v) => (o['endpoints'][0].targetRef = v),
      (o, v) => (o['addressType'] = v),
    ];
    fc.assert(
      fc.property(fc.nat(paths.length - 1), anything(), (which, v) => {
        const slice = JSON.parse(JSON.stringify(makeEndpointSlice({ name: 'mangled', namespace: 'ns', service: 'svc', ports: [{ name: 'grpc', port: 80 }], endpoints: [{ ip: '10.0.0.1', pod: 'a' }, { ip: '10.0.0.2', pod: 'b' }] }))) as Record<string, any>;
        paths[which]!(slice, v);
        const d = decodeEndpointSlice(slice, { port: 'grpc' });
        for (const w of d.warnings) assert.match(w, /^(EndpointSlice |an EndpointSlice is )/);
        for (const e of d.endpoints) assert.equal(hostPortProblem(e.address), undefined, e.address);
      }),
      RUNS,
    );
  });
});
