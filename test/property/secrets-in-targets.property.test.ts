// A password in a target (issue 14 item 8): `fairway resolve 'etcd://user:s3cr3tpw@127.0.0.1:2999/pricer'` used
// to answer `invalid gRPC target "etcd://user:s3cr3tpw@127.0.0.1:2999/pricer": ... IPv6 addresses must be in
// brackets`: the password echoed, with the wrong reason. Fairway refuses credentials in a target, for every scheme,
// saying so (etcd authentication goes in discovery.etcd.auth), and shows the target with `***@` in their place.
// Property: for any target with user information, the secret appears in no error (parser, createClient,
// clientOptions), no log line and no CLI output (plain and --json). No span can carry it either: the client is
// never made, so no call starts.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { credentials } from '@grpc/grpc-js';
import { parseTarget, redactTarget, TargetError } from '@fairway/core';
import { createClient, clientOptions } from 'fairway-grpc';
import { setDefaultLogger, consoleLogger } from '@fairway/grpc';
import { runCli, EXIT } from '@fairway/cli';
import { loadEcho } from '@fairway/testing';

const RUNS = { numRuns: 150, seed: 20261203 };

// RFC 3986 userinfo characters (unreserved, sub-delims, ':'), no '/', '@', '?', '#'. Every secret starts with a
// marker so that finding it in output is never a coincidence of short strings.
const userinfoChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&\'()*+,;=:'.split(''));
const secret = fc.array(userinfoChars, { minLength: 4, maxLength: 16 }).map((cs) => `Pw9${cs.join('')}`);
const user = fc.oneof(fc.constant(''), fc.stringMatching(/^[a-z][a-z0-9._-]{0,8}$/));
const scheme = fc.constantFrom('etcd', 'ETCD', 'k8s', 'kubernetes', 'dns', 'static', 'ipv4', 'xds', 'custom+scheme');
const authorityHost = fc.constantFrom('127.0.0.1:2999', 'etcd.example:2379', '[::1]:2379', '10.0.0.5:2379,10.0.0.6:2379', '', 'host');
const path = fc.constantFrom('pricer', 'pricer.trading:grpc', '10.0.0.1:50051@zone-a', '', 'a/b');
const target = fc
  .record({ scheme, user, secret, host: authorityHost, path, form: fc.constantFrom('user:secret', 'secret', 'user:secret:more') })
  .map(({ scheme, user, secret, host, path, form }) => {
    const info = form === 'secret' ? secret : form === 'user:secret' ? `${user}:${secret}` : `${user}:${secret}:x`;
    return { target: `${scheme}://${info}@${host}/${path}`, secret };
  });

const lines: string[] = [];
const capture = { info: (m: string) => void lines.push(m), warn: (m: string) => void lines.push(m), error: (m: string) => void lines.push(m) };

function captureIo() {
  let text = '';
  return {
    io: { out: (t: string) => void (text += t), err: (t: string) => void (text += t), interrupted: new Promise<NodeJS.Signals>(() => {}) },
    text: () => text,
  };
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected an error');
}

describe('credentials in a target', () => {
  before(() => setDefaultLogger(capture));
  after(() => setDefaultLogger(consoleLogger));

  test('the issue\'s example: refused for the right reason, the password not shown', async () => {
    const raw = 'etcd://user:s3cr3tpw@127.0.0.1:2999/pricer';
    const e = thrown(() => parseTarget(raw));
    assert.ok(e instanceof TargetError);
    assert.equal(e.message.includes('s3cr3tpw'), false, e.message);
    assert.match(e.message, /invalid gRPC target "etcd:\/\/\*\*\*@127\.0\.0\.1:2999\/pricer": credentials in a target \("user:password@"\) are not accepted/);
    assert.match(e.message, /discovery\.etcd\.auth/);
    assert.doesNotMatch(e.message, /IPv6/);
    assert.equal((e as TargetError).target, 'etcd://***@127.0.0.1:2999/pricer');
    const c = captureIo();
    assert.equal(await runCli(['resolve', raw, '--timeout', '1s'], c.io), EXIT.USAGE);
    assert.equal(c.text().includes('s3cr3tpw'), false, c.text());
    assert.match(c.text(), /credentials in a target/);
  });

  test('redactTarget hides the user information and nothing else', () => {
    assert.equal(redactTarget('etcd://u:p@h:1/s'), 'etcd://***@h:1/s');
    assert.equal(redactTarget('etcd://h:1/s'), 'etcd://h:1/s');
    assert.equal(redactTarget('static:///10.0.0.1:5@zone-a'), 'static:///10.0.0.1:5@zone-a', 'a zone is not user information');
    assert.equal(redactTarget('dns:pricer:50051'), 'dns:pricer:50051');
  });

  test('any target with a secret: parser, createClient, clientOptions, CLI and logger never show it', async () => {
    const { EchoClient } = loadEcho();
    await fc.assert(
      fc.asyncProperty(target, async ({ target: raw, secret: pw }) => {
        lines.length = 0;
        const parsed = thrown(() => parseTarget(raw));
        assert.ok(parsed instanceof TargetError, `${parsed}`);
        assert.match(parsed.message, /credentials in a target/);
        const errors = [
          parsed,
          thrown(() => createClient(EchoClient, raw, credentials.createInsecure(), { zone: 'z', logger: capture })),
          thrown(() => new EchoClient(raw, credentials.createInsecure(), clientOptions({ zone: 'z', logger: capture }))),
        ];
        for (const e of errors) {
          assert.equal(`${e.message}\n${e.stack ?? ''}\n${(e as TargetError).target ?? ''}`.includes(pw), false, `${e.message}`);
        }
        for (const argv of [
          ['resolve', raw, '--timeout', '1s'],
          ['resolve', raw, '--timeout', '1s', '--json'],
          ['watch', raw, '--timeout', '1s', '--json'],
        ]) {
          const c = captureIo();
          assert.equal(await runCli(argv, c.io), EXIT.USAGE, c.text());
          assert.equal(c.text().includes(pw), false, c.text());
        }
        assert.equal(lines.join('\n').includes(pw), false, lines.join('\n'));
      }),
      RUNS,
    );
  });
});
