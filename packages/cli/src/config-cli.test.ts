// `fairway config get|set|validate|watch` against a real etcd.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcdForSuite, startRefusingEndpoint } from '@fairway/testing';
import { runCli, EXIT } from './index.js';

function captureIo() {
  let out = '';
  let err = '';
  const interrupted = new Promise<NodeJS.Signals>(() => undefined);
  return {
    io: { out: (t: string) => void (out += t), err: (t: string) => void (err += t), interrupted },
    get out() {
      return out;
    },
    get err() {
      return err;
    },
  };
}

describe('fairway config', { timeout: 60_000 }, () => {
  const etcd = startEtcdForSuite();

  test('validate: exit 0 when valid, 2 naming the field when not (no etcd needed)', async () => {
    const ok = captureIo();
    assert.equal(await runCli(['config', 'validate', '{"version":1,"endpoints":{"p-1":{"weight":0}}}', '--json'], ok.io), EXIT.OK);
    assert.deepEqual(JSON.parse(ok.out), { valid: true });
    const bad = captureIo();
    assert.equal(await runCli(['config', 'validate', '{"endpoints":{"p-1":{"weight":-2}}}', '--json'], bad.io), EXIT.USAGE);
    const j = JSON.parse(bad.out);
    assert.equal(j.valid, false);
    assert.equal(j.field, 'endpoints["p-1"].weight');
    assert.match(j.error, /got -2/);
    const text = captureIo();
    assert.equal(await runCli(['config', 'validate', '{"zoneband":1}'], text.io), EXIT.USAGE);
    assert.match(text.out, /invalid: zoneband: unknown field/);
  });

  test('etcd unreachable: get, set and watch exit 3 saying what they could not do to which key where (etcd3 text as the cause)', async () => {
    const refusing = await startRefusingEndpoint();
    try {
      const runs: Array<[string[], string]> = [
        [['config', 'get', 'cfgx'], 'read'],
        [['config', 'set', 'cfgx', '{"version":1}'], 'write'],
        [['config', 'watch', 'cfgx'], 'watch'],
      ];
      for (const [args, doing] of runs) {
        const c = captureIo();
        assert.equal(await runCli([...args, '--etcd-endpoints', refusing.address, '--timeout', '1s'], c.io), EXIT.UNREACHABLE, args.join(' '));
        const where = `cannot ${doing} the live configuration document "_fairway_config/cfgx" in etcd at ${refusing.address}: `;
        assert.ok(c.err.includes(where), `${args.join(' ')}: ${c.err}`);
      }
    } finally {
      await refusing.close();
    }
  });

  test('set refuses a bad document (nothing written), writes a good one; get and watch show it', async () => {
    const ep = etcd.endpointsCsv;
    const refused = captureIo();
    assert.equal(await runCli(['config', 'set', 'cfgsvc', '{"endpoints":{"a":{"weight":"x"}}}', '--etcd-endpoints', ep], refused.io), EXIT.USAGE);
    assert.match(refused.err, /endpoints\["a"\]\.weight/);
    const none = captureIo();
    assert.equal(await runCli(['config', 'get', 'cfgsvc', '--etcd-endpoints', ep, '--json'], none.io), EXIT.OK);
    assert.deepEqual(JSON.parse(none.out), { key: '_fairway_config/cfgsvc', revision: 0, document: null, valid: true });

    const watch = captureIo();
    const watching = runCli(['config', 'watch', 'cfgsvc', '--etcd-endpoints', ep, '--json', '--timeout', '4s'], watch.io);
    await new Promise((r) => setTimeout(r, 500));
    const set = captureIo();
    assert.equal(await runCli(['config', 'set', 'cfgsvc', '{"version":1,"endpoints":{"a":{"weight":0}}}', '--etcd-endpoints', ep, '--json'], set.io), EXIT.OK);
    const written = JSON.parse(set.out);
    assert.equal(written.key, '_fairway_config/cfgsvc');
    assert.ok(written.revision > 0);

    const got = captureIo();
    assert.equal(await runCli(['config', 'get', 'cfgsvc', '--etcd-endpoints', ep, '--json'], got.io), EXIT.OK);
    const doc = JSON.parse(got.out);
    assert.deepEqual(doc.document, { version: 1, endpoints: { a: { weight: 0 } } });
    assert.equal(doc.revision, written.revision);

    // A bad value written around the CLI: get and watch show it as invalid, naming the field.
    await etcd.etcdctl(['put', '_fairway_config/cfgsvc', '{"endpoints":{"a":{"weight":-1}}}']);
    const bad = captureIo();
    await runCli(['config', 'get', 'cfgsvc', '--etcd-endpoints', ep], bad.io);
    assert.match(bad.out, /INVALID, clients keep their last good one: endpoints\["a"\]\.weight/);

    assert.equal(await watching, EXIT.OK);
    const lines = watch.out.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines[0].document, null, 'the current state first');
    assert.ok(lines.some((l) => l.valid && l.document?.endpoints?.a?.weight === 0), watch.out);
    assert.ok(lines.some((l) => l.valid === false && l.field === 'endpoints["a"].weight'), watch.out);
  });
});
