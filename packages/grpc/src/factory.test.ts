// Misconfiguration is loud: malformed targets, unknown options, bad policy configs, unregistered schemes and
// a second copy of grpc-js are errors at creation that name what is wrong. register() is idempotent.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Client, Channel, experimental } from '@grpc/grpc-js';
import { TargetError } from '@fairway/core';
import { loadEcho } from '@fairway/testing';
import {
  createClient,
  createChannel,
  clientOptions,
  register,
  FairwayOptionsError,
  DuplicateGrpcError,
  PolicyConfigError,
  parseFairwayPolicyConfig,
  POLICY_NAME,
  RetryOptionsError,
  serviceConfigFor,
} from './index.js';
import { FairwayPolicyConfig } from './policy/config.js';
import { resolveOptions } from './options.js';
import { setDefaultLogger, consoleLogger } from './logger.js';

const creds = credentials.createInsecure();

describe('loud misconfiguration', () => {
  test('a malformed target is a TargetError naming the target and the problem', () => {
    const { EchoClient } = loadEcho();
    for (const [target, re] of [
      ['static:///10.0.0.1:99999', /out of range/],
      ['static:///10.0.0.1', /no port/],
      ['pricer', /no scheme/],
      ['etcd:///', /no service name/],
      // grpc-js's own schemes: refused here rather than failing at the first call
      ['ipv4:garbage', /"garbage" is not an IPv4 address/],
      ['ipv6:[::1]:99999', /out of range/],
      ['unix:///', /no socket path/],
    ] as const) {
      assert.throws(() => createClient(EchoClient, target, creds), (e: unknown) => {
        assert.ok(e instanceof TargetError, String(e));
        assert.ok(e.message.includes(JSON.stringify(target)), e.message);
        assert.match(e.message, re);
        return true;
      });
      assert.throws(() => createChannel(target, creds), TargetError);
      assert.throws(() => new EchoClient(target, creds, clientOptions()), TargetError);
    }
  });

  test("well-formed targets of grpc-js's ipv4:, ipv6: and unix: schemes are accepted", () => {
    const { EchoClient } = loadEcho();
    for (const target of ['ipv4:127.0.0.1:50051,127.0.0.2:50051', 'ipv4:///127.0.0.1:50051', 'ipv6:[::1]:50051', 'ipv6:::1', 'unix:///tmp/fairway.sock']) {
      createChannel(target, creds).close();
      createClient(EchoClient, target, creds).close();
    }
  });

  test('a scheme with no registered source is an error naming the scheme (grpc-js would quietly try dns)', () => {
    // grpc-js 1.14 has no unix-abstract: resolver either
    assert.throws(() => createChannel('unix-abstract:fairway', creds), /no discovery source is registered for scheme "unix-abstract"/);
    assert.throws(() => createChannel('nosuch:///pricer', creds), (e: unknown) => {
      assert.ok(e instanceof TargetError);
      assert.match(e.message, /no discovery source is registered for scheme "nosuch"/);
      return true;
    });
    assert.throws(() => createChannel('etcd:///pricer', creds), /import createClient from 'fairway-grpc'|scheme "etcd"/);
  });

  test('an unknown option is an error naming the key', () => {
    assert.throws(
      () => createChannel('static:///127.0.0.1:1', creds, { zoen: 'a' } as never),
      (e: unknown) => e instanceof FairwayOptionsError && e.option === 'zoen' && /zoen/.test(e.message),
    );
    assert.throws(
      () => clientOptions({ keepalive: { timeMs: 10_000, timeout: 1 } } as never),
      (e: unknown) => e instanceof FairwayOptionsError && e.option === 'keepalive.timeout',
    );
  });

  test("keepalive: Fairway's pinger gets the settings, grpc-js's fixed-interval keepalive stays off", () => {
    const o = clientOptions({ keepalive: { timeMs: 20_000 } }) as Record<string, unknown>;
    assert.equal(o['grpc.keepalive_time_ms'], undefined);
    assert.equal(o['grpc.keepalive_permit_without_calls'], 0);
    assert.deepEqual(o['grpc.internal.no_subchannel.fairway.keepalive'], { timeMs: 20_000, timeoutMs: 5_000, serverMinIntervalMs: 310_000 });
    // Connections pinged with other settings are never shared.
    assert.equal(o['fairway.keepalive'], '20000/5000/310000');
    const off = clientOptions({ keepalive: false }) as Record<string, unknown>;
    assert.equal(off['grpc.internal.no_subchannel.fairway.keepalive'], undefined);
    assert.equal(off['fairway.keepalive'], undefined);
  });

  test('bad option values name the option', () => {
    assert.throws(() => clientOptions({ decayMs: -1 }), (e: unknown) => e instanceof FairwayOptionsError && e.option === 'decayMs');
    assert.throws(() => clientOptions({ zone: '' }), (e: unknown) => e instanceof FairwayOptionsError && e.option === 'zone');
    // A zone that could never match an endpoint's (spaces, "@", a 1 MB string) is refused, as in a static target.
    for (const zone of [' zone-a ', 'zone a', 'zone@a', 'z'.repeat(300)]) {
      assert.throws(() => clientOptions({ zone }), (e: unknown) => e instanceof FairwayOptionsError && e.option === 'zone' && /letters, digits|at most 253/.test(e.message), zone);
    }
    assert.throws(() => clientOptions({ region: 'eu west' }), (e: unknown) => e instanceof FairwayOptionsError && e.option === 'region');
    assert.throws(() => resolveOptions({}, { FAIRWAY_ZONE: 'zone/a' }), (e: unknown) => e instanceof FairwayOptionsError && e.option === 'zone (from FAIRWAY_ZONE)');
    assert.equal(resolveOptions({}, { FAIRWAY_ZONE: ' zone-a ' }).settings.zone, 'zone-a', 'the environment variable is trimmed');
    assert.throws(
      () => clientOptions({ zoneBandLow: 3, zoneBandHigh: 2 }),
      (e: unknown) => e instanceof FairwayOptionsError && e.option === 'zoneBandLow',
    );
    assert.throws(() => clientOptions({ keepalive: { timeMs: 5 } }), (e: unknown) => e instanceof FairwayOptionsError && e.option === 'keepalive.timeMs');
    assert.throws(
      () => clientOptions({ keepalive: { serverMinIntervalMs: 0 } }),
      (e: unknown) => e instanceof FairwayOptionsError && e.option === 'keepalive.serverMinIntervalMs',
    );
    assert.throws(() => clientOptions({ observers: [{}] as never }), (e: unknown) => e instanceof FairwayOptionsError && e.option === 'observers[0]');
    assert.throws(() => clientOptions({ retry: { attemptTimeoutMs: -5 } }), RetryOptionsError);
    assert.throws(
      () => clientOptions({ discovery: { etdc: { endpoints: [] } } }),
      (e: unknown) => e instanceof FairwayOptionsError && e.option === 'discovery.etdc',
    );
  });

  test('option messages show NaN and Infinity as they are, never as "null"', () => {
    for (const [options, option, re] of [
      [{ decayMs: Number.NaN }, 'decayMs', /must be a finite number, got NaN$/],
      [{ zoneBandHigh: Number.POSITIVE_INFINITY }, 'zoneBandHigh', /must be a finite number, got Infinity$/],
      [{ keepalive: { timeMs: Number.NaN } }, 'keepalive.timeMs', /must be an integer number of ms, got NaN$/],
      [{ subset: Number.NaN }, 'subset', /got NaN$/],
      [{ affinity: { header: 'x-user', epsilon: Number.NaN } }, 'affinity.epsilon', /got NaN$/],
      [{ zone: Number.NaN }, 'zone', /must be a non-empty string, got NaN$/],
      [{ concurrencyLimit: Number.NaN }, 'concurrencyLimit', /got NaN$/],
      [{ outlierEjection: Number.NaN }, 'outlierEjection', /got NaN$/],
    ] as const) {
      assert.throws(() => clientOptions(options as never), (e: unknown) => {
        assert.ok(e instanceof FairwayOptionsError, String(e));
        assert.equal(e.option, option);
        assert.match(e.message, re);
        return true;
      });
    }
  });

  test("a retry or hedging method of the client's own service that it does not have is refused; other services' pass", () => {
    const { EchoClient } = loadEcho();
    const make = (retry: object) => createClient(EchoClient, 'static:///127.0.0.1:1', creds, { zone: 'z', retry } as never).close();
    assert.throws(
      () => make({ methods: { 'fairway.test.Echo/Unray': { attemptTimeoutMs: 100 } } }),
      (e: unknown) => e instanceof RetryOptionsError && /retry\.methods\['fairway\.test\.Echo\/Unray'\]: fairway\.test\.Echo has no method "Unray" \(its methods: .*Unary/.test(e.message),
    );
    assert.throws(
      () => make({ hedging: { methods: ['/fairway.test.Echo/Unray'] } }),
      (e: unknown) => e instanceof RetryOptionsError && /retry\.hedging\.methods: 'fairway\.test\.Echo\/Unray': fairway\.test\.Echo has no method "Unray"/.test(e.message),
    );
    // One options object for several clients: another service's methods are not this client's business.
    make({ methods: { 'fairway.test.Echo/Unary': { attemptTimeoutMs: 100 }, 'trading.Pricer/Quote': { attemptTimeoutMs: 100 } }, hedging: { methods: ['trading.Pricer/Quote'] } });
  });

  test('a hedged method left with maxAttempts 1 is refused at creation, naming the method and the field', () => {
    const { EchoClient } = loadEcho();
    assert.throws(
      () => createClient(EchoClient, 'static:///127.0.0.1:1', creds, { zone: 'z', retry: { maxAttempts: 1, hedging: { methods: ['fairway.test.Echo/Unary'] } } }),
      (e: unknown) => e instanceof RetryOptionsError && e.field === 'retry.maxAttempts' && /'fairway\.test\.Echo\/Unary'/.test(e.message),
    );
    assert.throws(
      () => createChannel('static:///127.0.0.1:1', creds, { zone: 'z', retry: { methods: { 'fairway.test.Echo/Unary': { maxAttempts: 1 } }, hedging: { methods: ['fairway.test.Echo/Unary'] } } }),
      (e: unknown) => e instanceof RetryOptionsError && e.field === "retry.methods['fairway.test.Echo/Unary'].maxAttempts",
    );
  });

  test('a service config naming another policy is an error; method configs are kept', () => {
    assert.throws(
      () => clientOptions({ channelOptions: { 'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }) } }),
      /round_robin/,
    );
    const opts = clientOptions({
      zone: 'z1',
      channelOptions: { 'grpc.service_config': JSON.stringify({ methodConfig: [{ name: [{ service: 'x.Y' }], timeout: '1s' }] }) },
    });
    const sc = JSON.parse(String(opts['grpc.service_config']));
    assert.deepEqual(sc.methodConfig, [{ name: [{ service: 'x.Y' }], timeout: '1s' }]);
    assert.equal(sc.loadBalancingConfig[0][POLICY_NAME].zone, 'z1');
  });

  test('serviceConfigFor is what the factory puts on the channel, user method configs merged in', () => {
    const user = JSON.stringify({ methodConfig: [{ name: [{ service: 'x.Y' }], timeout: '2s' }] });
    const opts = clientOptions({ zone: 'z2', decayMs: 5000, channelOptions: { 'grpc.service_config': user } });
    const settings = { zone: 'z2', decayMs: 5000, zoneBandLow: 0.8, zoneBandHigh: 2 };
    assert.equal(opts['grpc.service_config'], serviceConfigFor(settings, user));
    assert.deepEqual(JSON.parse(serviceConfigFor(settings, user)).methodConfig, [{ name: [{ service: 'x.Y' }], timeout: '2s' }]);
    assert.throws(() => serviceConfigFor(settings, '{not json'), (e: unknown) => e instanceof FairwayOptionsError && /not valid JSON/.test(e.message));
  });

  test("grpc-js's transparent retries stay on: no grpc.enable_retries option is set", () => {
    assert.equal(clientOptions({ zone: 'z' })['grpc.enable_retries'], undefined);
    assert.equal(clientOptions({ zone: 'z', retry: { attemptTimeoutMs: 100 } })['grpc.enable_retries'], undefined);
  });

  test('reconnect back-off is capped at 2 s unless the channel options set it', () => {
    assert.equal(clientOptions({})['grpc.max_reconnect_backoff_ms'], 2_000);
    assert.equal(clientOptions({ channelOptions: { 'grpc.max_reconnect_backoff_ms': 30_000 } })['grpc.max_reconnect_backoff_ms'], 30_000);
  });

  test('a bad policy config names the field, and is logged loudly when grpc-js parses it', () => {
    assert.throws(() => parseFairwayPolicyConfig({ decayMs: 'fast' }), (e: unknown) => e instanceof PolicyConfigError && e.field === 'decayMs');
    assert.throws(() => parseFairwayPolicyConfig({ zone: 'a', speed: 1 }), (e: unknown) => e instanceof PolicyConfigError && e.field === 'speed');
    const logged: string[] = [];
    setDefaultLogger({ info: () => undefined, warn: (m) => logged.push(m), error: (m) => logged.push(m) });
    try {
      register();
      // What grpc-js does with a config from a resolver: it swallows the throw and falls back to pick_first.
      assert.equal(experimental.selectLbConfigFromList([{ [POLICY_NAME]: { decayMs: 0 } }], false), null);
      assert.throws(() => FairwayPolicyConfig.createFromJson({ zoneBandHigh: 'x' }), PolicyConfigError);
    } finally {
      setDefaultLogger(consoleLogger);
    }
    assert.equal(logged.length, 2);
    assert.match(logged[0]!, /decayMs/);
    assert.match(logged[0]!, /NOT balanced/);
    assert.match(logged[1]!, /zoneBandHigh/);
  });

  test('credentials or a client class from another grpc-js copy are refused with an explanation', () => {
    // A second copy's credentials: same shape, different class.
    const foreign = Object.create({ compose() {}, _isSecure() { return false; } }) as never;
    assert.throws(() => createChannel('static:///127.0.0.1:1', foreign), DuplicateGrpcError);
    assert.throws(() => createChannel('static:///127.0.0.1:1', {} as never), TypeError);
    class ForeignClient {
      makeUnaryRequest() {}
      getChannel() {}
    }
    class Generated extends ForeignClient {}
    assert.throws(() => createClient(Generated as never, 'static:///127.0.0.1:1', creds), (e: unknown) => {
      assert.ok(e instanceof DuplicateGrpcError);
      assert.match(e.message, /two copies of @grpc\/grpc-js/);
      assert.match(e.message, /npm ls @grpc\/grpc-js/);
      return true;
    });
  });
});

describe('zone', () => {
  test('with no zone anywhere, Fairway says once that it balances zone-blind', () => {
    const saved = process.env['FAIRWAY_ZONE'];
    delete process.env['FAIRWAY_ZONE'];
    try {
      const said: string[] = [];
      const logger = { info: (m: string) => said.push(m), warn: (m: string) => said.push(m), error: (m: string) => said.push(m) };
      createChannel('static:///127.0.0.1:1', creds, { logger }).close();
      createChannel('static:///127.0.0.1:1', creds, { logger }).close();
      assert.equal(said.length, 1);
      assert.match(said[0]!, /zone-blind/);
      const quiet: string[] = [];
      const other = { info: (m: string) => quiet.push(m), warn: (m: string) => quiet.push(m), error: (m: string) => quiet.push(m) };
      process.env['FAIRWAY_ZONE'] = 'zone-env';
      const opts = clientOptions({ logger: other });
      assert.deepEqual(quiet, []);
      assert.equal(JSON.parse(String(opts['grpc.service_config'])).loadBalancingConfig[0][POLICY_NAME].zone, 'zone-env');
    } finally {
      if (saved === undefined) delete process.env['FAIRWAY_ZONE'];
      else process.env['FAIRWAY_ZONE'] = saved;
    }
  });
});

describe('register', () => {
  test('is idempotent and installs the policy and the static scheme', () => {
    register();
    register();
    assert.ok(experimental.isLoadBalancerNameRegistered(POLICY_NAME));
    const config = experimental.parseLoadBalancingConfig({ [POLICY_NAME]: { zone: 'a' } });
    assert.equal(config.getLoadBalancerName(), POLICY_NAME);
    const channel = createChannel('static:///127.0.0.1:1@a', creds);
    assert.ok(channel instanceof Channel);
    channel.close();
  });

  test('generated, proto-loader and channelOverride clients all work with the factory', () => {
    const { EchoClient } = loadEcho();
    const a = createClient(EchoClient, 'static:///127.0.0.1:1', creds, { zone: 'a' });
    assert.ok(a instanceof Client);
    const channel = createChannel('static:///127.0.0.1:1', creds);
    const b = new EchoClient('static:///127.0.0.1:1', creds, { ...clientOptions(), channelOverride: channel });
    assert.equal(b.getChannel(), channel);
    a.close();
    b.close();
    channel.close();
  });
});
