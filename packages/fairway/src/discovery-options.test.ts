// A bad `discovery` option is refused where the client or channel is made, naming the field, as every other
// option is: before, `createClient` accepted it and the first call failed UNAVAILABLE (`endpoints: 5` as "raw is
// not iterable"), and a typo (`endpoint:`) or a whole bad `kubernetes` entry was ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials } from '@grpc/grpc-js';
import { loadEcho } from '@fairway/testing';
import { createChannel, createClient, clientOptions, checkEtcdDiscoveryOptions, FairwayOptionsError } from './index.js';

const { EchoClient } = loadEcho();
const creds = credentials.createInsecure();

const bad: Array<[string, unknown, RegExp]> = [
  ['etcd endpoints of the wrong type', { etcd: { endpoints: 5 } }, /discovery\.etcd: .*endpoints must be "host:port,host:port" or an array/],
  ['an etcd endpoint without a port', { etcd: { endpoints: ['127.0.0.1'] } }, /discovery\.etcd: .*etcd endpoint "127\.0\.0\.1"/],
  ['a typo in an etcd field', { etcd: { endpoint: ['127.0.0.1:2379'] } }, /unknown option discovery\.etcd\.endpoint \(known: endpoints,/],
  ['a negative etcd dial timeout', { etcd: { dialTimeoutMs: -1 } }, /dialTimeoutMs must be a positive number of milliseconds, got -1/],
  ['an etcd TLS file that does not exist', { etcd: { tls: { ca: '/nonexistent/fairway-ca.pem' } } }, /tls\.ca: cannot read file "\/nonexistent\/fairway-ca\.pem"/],
  ['an etcd logger without methods', { etcd: { logger: {} } }, /logger must have info, warn and error methods/],
  ['etcd options that are not an object', { etcd: 'x' }, /discovery\.etcd options must be an object/],
  ['kubernetes options that are not an object', { kubernetes: 'x' }, /discovery\.kubernetes must be an object, got "x"/],
  ['a kubernetes API server that is not a URL', { kubernetes: { apiServerUrl: 5 } }, /discovery\.kubernetes\.apiServerUrl must be an http\(s\) URL/],
  ['a typo in a kubernetes field', { kubernetes: { tokn: 'secret' } }, /unknown option discovery\.kubernetes\.tokn/],
  ['a kubernetes back-off that is not positive', { kubernetes: { retryInitialMs: 0 } }, /discovery\.kubernetes\.retryInitialMs must be a positive number, got 0/],
  ['a kubernetes peers target that is not k8s', { kubernetes: { peers: { target: 'static:///1.2.3.4:5' } } }, /discovery\.kubernetes\.peers\.target/],
  ['a scheme no source is registered for', { zookeeper: { hosts: 'x' } }, /invalid Fairway option discovery\.zookeeper: names no registered discovery scheme \(registered: .*etcd/],
];

for (const [what, discovery, re] of bad) {
  test(`${what}: refused by createClient, createChannel and clientOptions, naming the field`, () => {
    const options = { zone: 'z', discovery } as never;
    const check = (f: () => unknown): void => {
      assert.throws(f, (e: unknown) => {
        assert.ok(e instanceof FairwayOptionsError, String(e));
        assert.match(e.message, re);
        return true;
      });
    };
    check(() => createClient(EchoClient, 'etcd:///pricer', creds, options));
    check(() => createChannel('etcd:///pricer', creds, options));
    check(() => clientOptions(options));
  });
}

test('a token given in the wrong form is never quoted back', () => {
  assert.throws(
    () => createClient(EchoClient, 'k8s:///pricer.trading:grpc', creds, { zone: 'z', discovery: { kubernetes: { token: 12345678 } } } as never),
    (e: unknown) => e instanceof FairwayOptionsError && /discovery\.kubernetes\.token must be a non-empty string/.test(e.message) && !e.message.includes('12345678'),
  );
});

test('good discovery options are accepted, and nothing connects when the client is made', () => {
  const client = createClient(EchoClient, 'etcd:///pricer', creds, {
    zone: 'z',
    discovery: {
      etcd: { endpoints: ['127.0.0.1:1', 'http://127.0.0.1:2'], dialTimeoutMs: 1_000, prefix: 'svc/', peerRegistry: { id: 'me' } },
      kubernetes: { apiServerUrl: 'https://127.0.0.1:6443', token: 't', caPem: '-----BEGIN CERTIFICATE-----', retryInitialMs: 100, retryMaxMs: 1_000, liveConfig: true },
    },
  });
  client.close();
  checkEtcdDiscoveryOptions({ endpoints: '127.0.0.1:2379,127.0.0.1:22379' });
});
