// serveAndRegisterInEtcd refuses bad options by name before it touches the server or etcd: unknown keys (a
// typo would otherwise silently mean the default), a bind address grpc-js or Node would fail on late or with a
// bare RangeError, and its own shutdown settings. No etcd is needed: each case fails before registering.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server } from '@grpc/grpc-js';
import { startRefusingEndpoint, type RefusingEndpoint } from '@fairway/testing';
import { serveAndRegisterInEtcd, serveHealth, type ServeAndRegisterOptions } from './index.js';

describe('serveAndRegisterInEtcd: bad options are refused by name, before anything is bound or registered', () => {
  let etcd: RefusingEndpoint | undefined;
  after(async () => {
    await etcd?.close();
  });

  /** The error `options` give, checking that the server was left as it was (no health service added). */
  async function refusal(options: Record<string, unknown>): Promise<Error> {
    const server = new Server();
    try {
      await serveAndRegisterInEtcd(server, { service: 'pricer', ...options } as unknown as ServeAndRegisterOptions);
    } catch (e) {
      assert.doesNotThrow(() => serveHealth(server), 'the server was not touched (its health service can still be added)');
      server.forceShutdown();
      return e as Error;
    }
    server.forceShutdown();
    assert.fail(`accepted ${JSON.stringify(options)}`);
  }

  test('an unknown option key is refused, naming it and the known ones', async () => {
    const e = await refusal({ bind: '127.0.0.1:0', drainTimoutMs: 5_000 });
    assert.match(e.message, /^serveAndRegisterInEtcd: unknown option "drainTimoutMs" \(known: bind, .*drainTimeoutMs/);
    const two = await refusal({ address: '10.0.0.1:50051', zoen: 'a', wieght: 2 });
    assert.match(two.message, /unknown options "zoen", "wieght"/);
  });

  test('a bind port out of range is a clear error, not Node\'s RangeError', async () => {
    const e = await refusal({ bind: '127.0.0.1:99999' });
    assert.ok(!(e instanceof RangeError), `${e.name}: ${e.message}`);
    assert.match(e.message, /^serveAndRegisterInEtcd: bind "127\.0\.0\.1:99999": port 99999 is out of range 1-65535 \(port 0 picks a free port\)$/);
  });

  test('other malformed bind addresses name the address and the problem', async () => {
    for (const [bind, re] of [
      ['127.0.0.1', /no port/],
      [':50051', /empty host/],
      ['::1:50051', /brackets/],
      ['127.0.0.1:-1', /port "-1" is not a number/],
      ['pricer_host:50051', /not a valid host name/],
      [50051, /bind must be "host:port", got 50051/],
    ] as const) {
      const e = await refusal({ bind });
      assert.match(e.message, re, String(bind));
      if (typeof bind === 'string') assert.ok(e.message.includes(JSON.stringify(bind)), e.message);
    }
  });

  test('its own settings are checked, the value shown as it is', async () => {
    assert.match((await refusal({ bind: '127.0.0.1:0', drainTimeoutMs: Number.NaN })).message, /drainTimeoutMs must be a finite number of milliseconds >= 0, got NaN$/);
    assert.match((await refusal({ bind: '127.0.0.1:0', deregisterGraceMs: -1 })).message, /deregisterGraceMs .* got -1$/);
    assert.match((await refusal({ bind: '127.0.0.1:0', shutdownOnSignals: 'SIGTERM' })).message, /shutdownOnSignals must be an array of signal names/);
    assert.match((await refusal({ bind: '127.0.0.1:0', health: true })).message, /health must be false or \{ serviceNames\?: string\[\] \}, got true$/);
  });

  test('every documented option passes the check (the failure is then etcd being unreachable)', async () => {
    etcd = await startRefusingEndpoint();
    const server = new Server();
    await assert.rejects(
      serveAndRegisterInEtcd(server, {
        bind: '127.0.0.1:0',
        address: '127.0.0.1:50051',
        service: 'pricer',
        zone: 'zone-a',
        region: 'region-1',
        instance: 'pricer-1',
        weight: 1,
        canary: false,
        incarnation: 'i-1',
        ttlSeconds: 10,
        endpoints: [etcd.address],
        dialTimeoutMs: 300,
        prefix: '',
        maxBackoffMs: 500,
        logger: { info() {}, warn() {}, error() {} },
        drainTimeoutMs: 1_000,
        deregisterGraceMs: 0,
        shutdownOnSignals: [],
        health: { serviceNames: ['pricer'] },
      }),
      (e: unknown) => /cannot register pricer\/pricer-1 in etcd/.test((e as Error).message),
    );
    server.forceShutdown();
  });
});
