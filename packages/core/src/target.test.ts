import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { parseTarget, parseStaticTarget, parseKubernetesPath, TargetError } from './target.js';

describe('parseTarget', () => {
  test('splits scheme, authority and path', () => {
    assert.deepEqual(parseTarget('etcd:///pricer'), { scheme: 'etcd', authority: '', path: 'pricer', raw: 'etcd:///pricer' });
    assert.deepEqual(parseTarget('etcd://127.0.0.1:2379,127.0.0.1:22379/pricer'), {
      scheme: 'etcd', authority: '127.0.0.1:2379,127.0.0.1:22379', path: 'pricer', raw: 'etcd://127.0.0.1:2379,127.0.0.1:22379/pricer',
    });
    assert.equal(parseTarget('dns:///pricer:50051').path, 'pricer:50051');
    assert.equal(parseTarget('dns:pricer:50051').path, 'pricer:50051');
    assert.equal(parseTarget('ipv4:127.0.0.1:1,127.0.0.1:2').path, '127.0.0.1:1,127.0.0.1:2');
    assert.equal(parseTarget('k8s:///pricer.trading:grpc').path, 'pricer.trading:grpc');
  });

  test('a bare host:port is dns, as in grpc-js', () => {
    assert.equal(parseTarget('pricer.trading.svc:50051').scheme, 'dns');
    assert.equal(parseTarget('[::1]:50051').scheme, 'dns');
    assert.equal(parseTarget('localhost:50051').path, 'localhost:50051');
  });

  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['pricer', /no scheme/],
    ['static:///', /no endpoints/],
    ['static:///10.0.0.1', /no port/],
    ['static:///10.0.0.1:0', /out of range/],
    ['static:///10.0.0.1:70000', /out of range/],
    ['static:///300.0.0.1:5', /not an IPv4/],
    ['static:///::1:5', /brackets/],
    ['static:///[::1:5', /unclosed/],
    ['static:///a:1,,b:2', /empty entry/],
    ['static:///a:1@', /zone/],
    ['static:///a:1,a:1', /twice/],
    ['static://x/a:1', /no authority/],
    ['etcd:///', /no service name/],
    ['etcd://127.0.0.1/pricer', /no port/],
    ['k8s:///', /no service/],
    ['k8s:///Pricer.ns:grpc', /DNS label/],
    ['k8s:///p.ns.svc:grpc', /no cluster domain/],
    ['k8s:///p.ns:0', /out of range/],
    ['k8s:///p.ns:', /empty port/],
    ['dns:', /no scheme|no address/],
    // ipv4: / ipv6: address lists, checked as grpc-js's IP resolver reads them (it would fail only at the first call)
    ['ipv4:garbage', /address "garbage": "garbage" is not an IPv4 address/],
    ['ipv4:127.0.0.1:50051,garbage:1', /address "garbage:1"/],
    ['ipv4:127.0.0.1:x', /port "x" is not a number/],
    ['ipv4:127.0.0.1:', /port "" is not a number/],
    ['ipv4:127.0.0.1:99999', /out of range/],
    ['ipv4:127.0.0.1:0', /out of range/],
    ['ipv4:127.0.0.1:1,', /empty entry/],
    ['ipv4:/127.0.0.1:1', /single "\/"/],
    ['ipv4:[127.0.0.1]:1', /only an IPv6 address/],
    ['ipv4:[::1]:1', /is an IPv6 address: use an "ipv6:" target/],
    ['ipv4:pricer:50051', /not an IPv4 address \(for a host name use "dns:"\)/],
    ['ipv6:garbage', /"garbage" is not an IPv6 address/],
    ['ipv6:127.0.0.1:50051', /is an IPv4 address: use an "ipv4:" target/],
    ['ipv6:[::1', /unclosed/],
    ['ipv6:[::1]50051', /write "\[ipv6\]" or "\[ipv6\]:port"/],
    ['ipv6:[::1]:70000', /out of range/],
    ['ipv6:[::g]:1', /not an IPv6 address/],
    ['unix:///', /no socket path/],
  ];
  for (const [raw, re] of bad) {
    test(`rejects ${JSON.stringify(raw)}`, () => {
      assert.throws(() => parseTarget(raw), (e: unknown) => {
        assert.ok(e instanceof TargetError);
        assert.equal(e.target, raw);
        assert.match(e.message, re);
        assert.ok(e.message.includes(JSON.stringify(raw)), e.message);
        return true;
      });
    });
  }
});

describe('ipv4: and ipv6: targets', () => {
  test('every form grpc-js 1.14 accepts is accepted', () => {
    for (const raw of [
      'ipv4:127.0.0.1:50051,127.0.0.2:50051',
      'ipv4:///127.0.0.1:50051',
      'ipv4:127.0.0.1', // grpc-js: port 443
      'IPV4:10.0.0.1:1',
      'ipv6:[::1]:50051',
      'ipv6:///[::1]:50051,[fe80::1%eth0]:50052',
      'ipv6:::1', // a bare IPv6 address, port 443
      'ipv6:[::1]',
      'ipv6:[::ffff:10.0.0.1]:5',
      'unix:///run/pricer.sock',
      'unix:pricer.sock',
    ]) {
      assert.doesNotThrow(() => parseTarget(raw), raw);
    }
  });

  test('an ipv6: address is accepted exactly when Node (and so grpc-js) takes it for one', () => {
    const candidates = [
      '::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:::2', ':1:2',
      '::ffff:1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '::1.2.3.256', '::01.2.3.4', 'fe80::1%eth0', 'fe80::1%', '::1%a:b', '::1%ä',
      'abcd::12345', 'ABCD::EF', 'g::1', '1.2.3.4',
    ];
    for (const address of candidates) {
      const accepted = (() => {
        try {
          parseTarget(`ipv6:[${address}]:1`);
          return true;
        } catch {
          return false;
        }
      })();
      assert.equal(accepted, isIPv6(address), address);
    }
  });
});

describe('parseStaticTarget', () => {
  test('addresses with optional zones, IPv6 in brackets', () => {
    assert.deepEqual(parseStaticTarget('static:///10.0.0.1:50051@zone-a,[::1]:50052@zone-b,host.example:7'), [
      { address: '10.0.0.1:50051', zone: 'zone-a' },
      { address: '[::1]:50052', zone: 'zone-b' },
      { address: 'host.example:7' },
    ]);
  });
  test('rejects other schemes', () => {
    assert.throws(() => parseStaticTarget('dns:///x:1'), TargetError);
  });
});

describe('parseKubernetesPath', () => {
  test('service, namespace and port', () => {
    assert.deepEqual(parseKubernetesPath(parseTarget('k8s:///pricer.trading:grpc')), { service: 'pricer', namespace: 'trading', port: 'grpc' });
    assert.deepEqual(parseKubernetesPath(parseTarget('k8s:///pricer:50051')), { service: 'pricer', port: '50051' });
    assert.deepEqual(parseKubernetesPath(parseTarget('k8s:///pricer')), { service: 'pricer' });
  });
});
