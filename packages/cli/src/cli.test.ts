// The fairway CLI against a real etcd (packages/testing's harness: /usr/bin/etcd on loopback): resolve's
// table and --json, watch's stream of changes, register/deregister, a bad target (exit 2), an unreachable
// etcd (exit 3, said once); and the real executable as a child process (exit codes, Ctrl-C deregisters).
// Also resolve against the Kubernetes API stand-in (Pods not ready are listed, marked), an unreachable Kubernetes
// API server (exit 3, said once), and help's exit codes.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcdForSuite, startRefusingEndpoint, startKubeApiStandIn, makeEndpointSlice } from '@fairway/testing';
import { runCli, EXIT, rowsOf, formatTable, diffRows, formatDiff, balancerRowsOf, formatBalancerTable, openSource, firstAnswer } from './index.js';
import { createBalancer } from '@fairway/core';

const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));

function captureIo() {
  let out = '';
  let err = '';
  let interrupt: (s: NodeJS.Signals) => void = () => {};
  const interrupted = new Promise<NodeJS.Signals>((r) => (interrupt = r));
  return {
    io: { out: (t: string) => void (out += t), err: (t: string) => void (err += t), interrupted },
    get out() {
      return out;
    },
    get err() {
      return err;
    },
    interrupt: (s: NodeJS.Signals = 'SIGINT') => interrupt(s),
  };
}

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('fairway CLI against a real etcd', { timeout: 60_000 }, () => {
  const etcd = startEtcdForSuite();

  test('register, then resolve prints the table and --json; bad inputs exit 2', { timeout: 40_000 }, async () => {
    const ep = etcd.endpointsCsv;
    const a = captureIo();
    const b = captureIo();
    const regA = runCli(['register', '--service', 'pricer', '--address', '127.0.0.1:50051', '--zone', 'zone-a', '--instance', 'pricer-a-1', '--etcd-endpoints', ep], a.io);
    const regB = runCli(['register', '--service', 'pricer', '--address', '[::1]:50052', '--zone', 'zone-b', '--instance', 'pricer-b-1', '--weight', '2', '--etcd-endpoints', ep, '--json'], b.io);
    try {
      await until('both registrations', () => a.out.includes('registered pricer/pricer-a-1') && b.out.includes('"event":"registered"'));
      assert.match(a.out, /registered pricer\/pricer-a-1 = \{"Op":0,"Addr":"127\.0\.0\.1:50051","Metadata":\{"zone":"zone-a","instance":"pricer-a-1"/);
      const regJson = JSON.parse(b.out.trim().split('\n')[0]!);
      assert.equal(regJson.key, 'pricer/pricer-b-1');
      assert.equal(regJson.value.Addr, '[::1]:50052');
      assert.equal(regJson.value.Metadata.weight, 2);

      const text = captureIo();
      assert.equal(await runCli(['resolve', 'etcd:///pricer', '--etcd-endpoints', ep], text.io), EXIT.OK);
      const lines = text.out.trim().split('\n');
      assert.equal(lines[0], 'etcd:///pricer (etcd): 2 endpoint(s), 2 ready (zone-a: 1, zone-b: 1)');
      assert.match(lines[1]!, /^ADDRESS\s+ZONE\s+INSTANCE\s+INCARNATION\s+WEIGHT\s+STATE$/);
      assert.match(lines[2]!, /^127\.0\.0\.1:50051\s+zone-a\s+pricer-a-1\s+\d+-[0-9a-f]+\s+1\s+ready$/);
      assert.match(lines[3]!, /^\[::1\]:50052\s+zone-b\s+pricer-b-1\s+\d+-[0-9a-f]+\s+2\s+ready$/);
      assert.equal(lines.length, 4);

      // The authority form needs no --etcd-endpoints; --json gives one object.
      const json = captureIo();
      assert.equal(await runCli(['resolve', `etcd://${ep}/pricer`, '--json'], json.io), EXIT.OK);
      const doc = JSON.parse(json.out);
      assert.equal(doc.source, 'etcd');
      assert.equal(doc.stale, false);
      assert.deepEqual(
        doc.endpoints.map((e: { address: string; zone: string; instance: string; state: string; weight: number }) => [e.address, e.zone, e.instance, e.state, e.weight]),
        [
          ['127.0.0.1:50051', 'zone-a', 'pricer-a-1', 'ready', 1],
          ['[::1]:50052', 'zone-b', 'pricer-b-1', 'ready', 2],
        ],
      );
      assert.match(doc.endpoints[0].incarnation, /^\d+-[0-9a-f]+$/);

      // A service nobody registered: an empty table, exit 0.
      const empty = captureIo();
      assert.equal(await runCli(['resolve', 'etcd:///nobody', '--etcd-endpoints', ep], empty.io), EXIT.OK);
      assert.match(empty.out, /0 endpoint\(s\)[\s\S]*\(no endpoints\)/);
    } finally {
      a.interrupt();
      b.interrupt('SIGTERM');
    }
    assert.equal(await regA, EXIT.OK);
    assert.equal(await regB, EXIT.OK);
    assert.match(a.out, /deregistered pricer\/pricer-a-1 \(SIGINT\)/);
    assert.match(b.out, /"event":"deregistered","key":"pricer\/pricer-b-1","reason":"SIGTERM"/);
    // Deregistered: the keys are gone.
    const gone = captureIo();
    assert.equal(await runCli(['resolve', 'etcd:///pricer', '--etcd-endpoints', ep, '--json'], gone.io), EXIT.OK);
    assert.deepEqual(JSON.parse(gone.out).endpoints, []);
  });

  test('bad targets and options exit 2 with a message naming what is wrong', { timeout: 20_000 }, async () => {
    const cases: [string[], RegExp][] = [
      [['resolve', 'pricer'], /invalid gRPC target "pricer": no scheme/],
      [['resolve', 'etcd:///'], /invalid gRPC target "etcd:\/\/\/": no service name/],
      [['resolve', 'static:///10.0.0.1:99999'], /port 99999 is out of range/],
      [['resolve', 'k8s:///Pricer.trading:grpc'], /service name "Pricer" is not a valid DNS label/],
      [['resolve', 'dns:///pricer:50051'], /the fairway CLI resolves static:, etcd:, k8s: targets, not "dns:"/],
      [['resolve', 'etcd:///pricer', '--etcd-endpoints', 'localhost'], /etcd endpoint "localhost": no port/],
      [['resolve', 'etcd:///pricer', '--timeout', 'soon'], /--timeout "soon": write a duration/],
      [['register', '--service', 'pricer', '--address', 'nowhere', '--etcd-endpoints', etcd.endpointsCsv], /address "nowhere": no port/],
      [['register', '--service', 'pricer'], /required option '--address <host:port>' not specified/],
      [['register', '--service', 'pricer', '--address', '127.0.0.1:1', '--zone', 'bad zone', '--etcd-endpoints', etcd.endpointsCsv], /zone "bad zone" must start with a letter or digit and have only letters, digits/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['resolve', 'etcd://127.0.0.1:2379/pricer', '--etcd-endpoints', '127.0.0.1:1'], /names its etcd endpoints \(127\.0\.0\.1:2379\) and --etcd-endpoints names others \(127\.0\.0\.1:1\): give one/],
      [['resolve', 'k8s:///pricer.trading:grpc', '--kubeconfig', '/nonexistent/kc.yaml'], /--kubeconfig \/nonexistent\/kc\.yaml: no such file/],
    ];
    for (const [argv, message] of cases) {
      const c = captureIo();
      const code = await runCli(argv, c.io);
      assert.equal(code, EXIT.USAGE, `${argv.join(' ')} -> ${code}: ${c.err}`);
      assert.match(c.err, message, argv.join(' '));
    }
    // --json errors are JSON on stdout too.
    const j = captureIo();
    assert.equal(await runCli(['resolve', 'bogus', '--json'], j.io), EXIT.USAGE);
    assert.deepEqual(Object.keys(JSON.parse(j.out)), ['error', 'exitCode']);
    assert.equal(JSON.parse(j.out).exitCode, 2);
    // So are the errors commander finds itself (a missing argument, an unknown option or command).
    for (const argv of [['resolve', '--json'], ['resolve', 'static:///127.0.0.1:1', '--json', '--bogus'], ['bogus', '--json']]) {
      const c = captureIo();
      assert.equal(await runCli(argv, c.io), EXIT.USAGE, argv.join(' '));
      const doc = JSON.parse(c.out) as { error: string; exitCode: number };
      assert.equal(doc.exitCode, EXIT.USAGE);
      assert.match(doc.error, /missing required argument|unknown option '--bogus'|unknown command 'bogus'/);
    }
  });

  test('register: --weight must be plain decimal, --ttl a decimal whole number, --incarnation orderable (exit 2); good ones are registered as given', { timeout: 20_000 }, async () => {
    const ep = etcd.endpointsCsv;
    const base = ['register', '--service', 'checked', '--address', '127.0.0.1:6201', '--instance', 'c-1', '--etcd-endpoints', ep];
    const cases: [string[], RegExp][] = [
      [['--weight', '0x10'], /--weight "0x10": write a plain decimal number >= 0, e\.g\. 1, 2 or 0\.5/],
      [['--weight', '1e1'], /--weight "1e1": write a plain decimal number/],
      [['--weight', ''], /--weight "": write a plain decimal number/],
      [['--weight', '-1'], /--weight "-1": write a plain decimal number >= 0/],
      [['--ttl', '0x10'], /--ttl "0x10": must be a whole number of seconds >= 1/],
      [['--incarnation', 'xyz'], /--incarnation "xyz": write <start time in ms>-<suffix>, e\.g\. 1764032400123-4f1c .*cannot be ordered/],
      [['--incarnation', 'pod-5f2c'], /--incarnation "pod-5f2c": write <start time in ms>-<suffix>/],
    ];
    for (const [extra, message] of cases) {
      const c = captureIo();
      let code: number | undefined;
      const running = runCli([...base, ...extra], c.io).then((n) => (code = n));
      // A value wrongly accepted is registered, and register runs until a signal: end it, then fail below.
      await until('the command to end or register', () => code !== undefined || c.out.includes('registered'));
      if (code === undefined) c.interrupt();
      await running;
      assert.equal(code, EXIT.USAGE, `${extra.join(' ')}: ${c.out}${c.err}`);
      assert.match(c.err, message, extra.join(' '));
    }
    const r = captureIo();
    const reg = runCli([...base, '--weight', '0.5', '--ttl', '10', '--incarnation', '1764032400123-build7', '--json'], r.io);
    try {
      await until('the registration', () => r.out.includes('"event":"registered"'));
      const value = JSON.parse(r.out.trim().split('\n')[0]!).value as { Metadata: { weight: number; incarnation: string } };
      assert.equal(value.Metadata.weight, 0.5);
      assert.equal(value.Metadata.incarnation, '1764032400123-build7');
    } finally {
      r.interrupt();
    }
    assert.equal(await reg, EXIT.OK);
  });

  test('--etcd-endpoints reads a scheme as etcdctl does: http:// plaintext, https:// TLS; a mix or another scheme exits 2', { timeout: 30_000 }, async () => {
    const hostPort = etcd.endpointsCsv;
    for (const argv of [
      ['resolve', 'etcd:///schemes', '--etcd-endpoints', `http://${hostPort}`],
      ['resolve', 'etcd:///schemes', '--etcd-endpoints', `HTTP://${hostPort}/`],
      ['config', 'get', 'schemes', '--etcd-endpoints', `http://${hostPort}`],
    ]) {
      const c = captureIo();
      assert.equal(await runCli(argv, c.io), EXIT.OK, `${argv.join(' ')}: ${c.err}`);
    }
    // This etcd speaks plaintext: asked for TLS, the connection fails (before, the scheme was dropped and the
    // connection was plaintext whatever https:// said).
    const tls = captureIo();
    assert.equal(await runCli(['resolve', 'etcd:///schemes', '--etcd-endpoints', `https://${hostPort}`, '--timeout', '2s'], tls.io), EXIT.UNREACHABLE, tls.out);
    assert.match(tls.err, /TLS/);
    const cases: [string, RegExp][] = [
      [`http://${hostPort},https://${hostPort}`, /etcd endpoints "http:\/\/[^"]+" \(plaintext\) and "https:\/\/[^"]+" \(TLS\): one connection serves every endpoint, so write them all with one scheme/],
      [`unix://${hostPort}`, /etcd endpoint "unix:\/\/[^"]+": "unix:\/\/" is not an etcd scheme: write host:port, http:\/\/host:port \(plaintext\) or https:\/\/host:port \(TLS\)/],
    ];
    for (const [endpoints, message] of cases) {
      const c = captureIo();
      assert.equal(await runCli(['resolve', 'etcd:///schemes', '--etcd-endpoints', endpoints], c.io), EXIT.USAGE, `${endpoints}: ${c.err}`);
      assert.match(c.err, message);
    }
  });

  test('errors name the flags, not the library options behind them', async () => {
    const saved = process.env['FAIRWAY_ETCD_ENDPOINTS'];
    delete process.env['FAIRWAY_ETCD_ENDPOINTS'];
    try {
      const c = captureIo();
      assert.equal(await runCli(['resolve', 'etcd:///pricer'], c.io), EXIT.USAGE);
      assert.match(c.err, /no etcd endpoints: .*with --etcd-endpoints, or in FAIRWAY_ETCD_ENDPOINTS/);
      assert.doesNotMatch(c.err, /discovery\.etcd\.endpoints/);
    } finally {
      if (saved !== undefined) process.env['FAIRWAY_ETCD_ENDPOINTS'] = saved;
    }
  });

  test('Ctrl-C stops a command that does not wait for it (resolve against an unreachable etcd): exit 130', { timeout: 20_000 }, async (t) => {
    const refusing = await startRefusingEndpoint();
    t.after(() => refusing.close());
    const c = captureIo();
    const started = Date.now();
    const running = runCli(['resolve', 'etcd:///pricer', '--etcd-endpoints', refusing.address, '--timeout', '20s', '--json'], c.io);
    setTimeout(() => c.interrupt('SIGINT'), 300);
    assert.equal(await running, EXIT.INTERRUPTED);
    assert.ok(Date.now() - started < 10_000, 'ended on the signal, not at --timeout');
    assert.deepEqual(JSON.parse(c.out), { error: 'interrupted by SIGINT', exitCode: 130 });
  });

  test('resolve names the entries the source skipped on stderr; the table stays on stdout', { timeout: 20_000 }, async () => {
    await etcd.etcdctl(['put', 'skipped/k1', '{"Op":0,"Addr":"127.0.0.1:6101","Metadata":{"zone":"zone-a","instance":"s-1"}}']);
    await etcd.etcdctl(['put', 'skipped/k2', 'garbage']);
    const c = captureIo();
    assert.equal(await runCli(['resolve', 'etcd:///skipped', '--etcd-endpoints', etcd.endpointsCsv, '--json'], c.io), EXIT.OK);
    assert.deepEqual(JSON.parse(c.out).endpoints.map((e: { address: string }) => e.address), ['127.0.0.1:6101']);
    assert.match(c.err, /warning: .*skipped\/k2/);
  });

  test('an unreachable etcd exits 3 naming the endpoints (resolve, watch, register)', { timeout: 30_000 }, async (t) => {
    const refusing = await startRefusingEndpoint();
    t.after(() => refusing.close());
    const dead = refusing.address;
    for (const argv of [
      ['resolve', 'etcd:///pricer', '--etcd-endpoints', dead, '--timeout', '2s'],
      ['watch', 'etcd:///pricer', '--etcd-endpoints', dead, '--timeout', '2s'],
      ['register', '--service', 'pricer', '--address', '127.0.0.1:1', '--etcd-endpoints', dead, '--timeout', '1s'],
    ]) {
      const c = captureIo();
      const started = Date.now();
      const code = await runCli(argv, c.io);
      assert.equal(code, EXIT.UNREACHABLE, `${argv[0]}: ${c.err}`);
      assert.ok(c.err.includes(dead), `${argv[0]} names the etcd endpoint: ${c.err}`);
      assert.ok(Date.now() - started < 15_000, `${argv[0]} gave up in time`);
    }
  });

  test('a failure is printed once: not as a warning and then again as the error (resolve, watch; text and --json)', { timeout: 30_000 }, async (t) => {
    const refusing = await startRefusingEndpoint();
    t.after(() => refusing.close());
    for (const argv of [
      ['resolve', 'etcd:///pricer', '--etcd-endpoints', refusing.address, '--timeout', '1s'],
      ['watch', 'etcd:///pricer', '--etcd-endpoints', refusing.address, '--timeout', '1s'],
      ['watch', 'etcd:///pricer', '--etcd-endpoints', refusing.address, '--timeout', '1s', '--json'],
    ]) {
      const c = captureIo();
      assert.equal(await runCli(argv, c.io), EXIT.UNREACHABLE, `${argv.join(' ')}: ${c.err}`);
      const failure = `cannot read "pricer/" from etcd at ${refusing.address}`;
      const said = c.err.split('\n').filter((l) => l.includes(failure));
      assert.equal(said.length, 1, `${argv.join(' ')} says it once on stderr:\n${said.join('\n')}`);
      assert.match(said[0]!, /^fairway: /);
      assert.doesNotMatch(c.err, /warning/, `${argv.join(' ')}: no warning before the error (not even "held back"):\n${c.err}`);
      if (argv.includes('--json')) {
        // stdout: the error object only, no "warning" event saying the same first.
        const lines = c.out.trim().split('\n').map((l) => JSON.parse(l) as { error?: string; event?: string });
        assert.equal(lines.length, 1, c.out);
        assert.ok(lines[0]!.error?.includes(failure), c.out);
      }
    }
  });

  test('watch prints the table, then each change, as JSON lines', { timeout: 40_000 }, async () => {
    const ep = etcd.endpointsCsv;
    const w = captureIo();
    const watching = runCli(['watch', 'etcd:///quotes', '--etcd-endpoints', ep, '--json'], w.io);
    await until('the first snapshot', () => w.out.includes('"event":"snapshot"'));
    const r = captureIo();
    const reg = runCli(['register', '--service', 'quotes', '--address', '127.0.0.1:6001', '--zone', 'zone-c', '--instance', 'q-1', '--etcd-endpoints', ep], r.io);
    await until('the added endpoint', () => w.out.includes('"added":[{"address":"127.0.0.1:6001"'));
    r.interrupt();
    assert.equal(await reg, EXIT.OK);
    await until('the removed endpoint', () => w.out.includes('"removed":[{"address":"127.0.0.1:6001"'));
    w.interrupt();
    assert.equal(await watching, EXIT.OK);
    const events = w.out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; endpoints?: unknown[] });
    assert.equal(events[0]!.event, 'snapshot');
    assert.deepEqual(events[0]!.endpoints, []);
    assert.deepEqual(events.filter((e) => e.event === 'update').map((e) => e.endpoints!.length), [1, 0]);
    assert.equal(events.at(-1)!.event, 'end');
  });

  test('the fairway executable: table output, exit 2 for a bad target, Ctrl-C deregisters', { timeout: 50_000 }, async () => {
    const ep = etcd.endpointsCsv;
    const run = (args: string[]) => {
      const child = spawn(process.execPath, ['--conditions=fairway:source', '--import', 'tsx', BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const done = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      return { child, done, out: () => out, err: () => err };
    };
    const reg = run(['register', '--service', 'feed', '--address', '127.0.0.1:7001', '--zone', 'zone-a', '--instance', 'feed-1', '--etcd-endpoints', ep]);
    try {
      await until('the executable registered', () => reg.out().includes('registered feed/feed-1'), 30_000);
      const bad = run(['resolve', 'nope']);
      assert.equal(await bad.done, 2);
      assert.match(bad.err(), /^fairway: invalid gRPC target "nope": no scheme/);
      const ok = captureIo();
      assert.equal(await runCli(['resolve', 'etcd:///feed', '--etcd-endpoints', ep], ok.io), EXIT.OK);
      assert.match(ok.out, /127\.0\.0\.1:7001\s+zone-a\s+feed-1/);
      reg.child.kill('SIGINT');
      assert.equal(await reg.done, 0);
      assert.match(reg.out(), /deregistered feed\/feed-1 \(SIGINT\)/);
      const gone = captureIo();
      assert.equal(await runCli(['resolve', 'etcd:///feed', '--etcd-endpoints', ep], gone.io), EXIT.OK);
      assert.match(gone.out, /\(no endpoints\)/);
    } finally {
      reg.child.kill('SIGKILL');
    }
  });
});

/** A kubeconfig in `dir` for the Kubernetes API stand-in (its URL, CA and token); returns its path. */
function writeStandInKubeconfig(dir: string, api: { url: string; caPem: string; token: string }): string {
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{ name: stand-in, cluster: { server: "${api.url}", certificate-authority-data: "${Buffer.from(api.caPem).toString('base64')}" } }]`,
      `users: [{ name: u, user: { token: "${api.token}" } }]`,
      'contexts: [{ name: c, context: { cluster: stand-in, user: u } }]',
      'current-context: c',
    ].join('\n'),
  );
  return kubeconfig;
}

describe('fairway resolve k8s: (a Kubernetes API stand-in)', () => {
  test('lists every Pod of the Service: ready ones routed to, the others marked not-ready or terminating; the snapshot (the balancer\'s input) holds only the ready ones', { timeout: 30_000 }, async (t) => {
    const api = await startKubeApiStandIn();
    const dir = mkdtempSync(join(tmpdir(), 'fairway-cli-k8s-'));
    t.after(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const kubeconfig = writeStandInKubeconfig(dir, api);
    api.applySlice(
      makeEndpointSlice({
        name: 'pricer-x1',
        namespace: 'trading',
        service: 'pricer',
        endpoints: [
          { ip: '10.1.0.1', zone: 'zone-a', pod: 'pricer-1' },
          { ip: '10.1.0.2', zone: 'zone-a', pod: 'pricer-2', ready: false, serving: false },
          { ip: '10.1.0.3', zone: 'zone-b', pod: 'pricer-3', ready: false, serving: true, terminating: true },
          { ip: '10.1.0.4', zone: 'zone-b', pod: 'pricer-4' },
        ],
      }),
    );
    const target = 'k8s:///pricer.trading:grpc';
    const json = captureIo();
    assert.equal(await runCli(['resolve', target, '--kubeconfig', kubeconfig, '--json'], json.io), EXIT.OK, json.err);
    const doc = JSON.parse(json.out) as { endpoints: { address: string; instance: string; state: string }[] };
    assert.deepEqual(
      doc.endpoints.map((e) => [e.address, e.instance, e.state]),
      [
        ['10.1.0.1:50051', 'pricer-1', 'ready'],
        ['10.1.0.2:50051', 'pricer-2', 'not-ready'],
        ['10.1.0.3:50051', 'pricer-3', 'terminating'],
        ['10.1.0.4:50051', 'pricer-4', 'ready'],
      ],
    );
    const text = captureIo();
    assert.equal(await runCli(['resolve', target, '--kubeconfig', kubeconfig], text.io), EXIT.OK, text.err);
    assert.equal(text.out.split('\n')[0], `${target} (k8s): 4 endpoint(s), 2 ready, 1 not-ready, 1 terminating (zone-a: 1, zone-b: 1)`);
    assert.match(text.out, /10\.1\.0\.2:50051\s+zone-a\s+pricer-2\s+\S+\s+1\s+not-ready\n/);
    // What a balancer gets is unchanged: the ready endpoints only.
    const opened = await openSource(target, { kubeconfig, dialTimeoutMs: 5000, warn: () => {} });
    try {
      const snapshot = await firstAnswer(opened, 10_000);
      assert.deepEqual(snapshot.endpoints.map((e) => e.address), ['10.1.0.1:50051', '10.1.0.4:50051']);
    } finally {
      await opened.source.close();
    }
  });
});

describe('fairway watch k8s: (a Kubernetes API stand-in)', () => {
  test('a Pod that is not ready yet shows at once, though the ready set (the balancer\'s input) did not change', { timeout: 30_000 }, async (t) => {
    const api = await startKubeApiStandIn();
    const dir = mkdtempSync(join(tmpdir(), 'fairway-cli-k8s-watch-'));
    t.after(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const kubeconfig = writeStandInKubeconfig(dir, api);
    const slice = (extra: { ip: string; zone: string; pod: string; ready: boolean; serving: boolean }[]) =>
      makeEndpointSlice({ name: 'quotes-x1', namespace: 'trading', service: 'quotes', endpoints: [{ ip: '10.2.0.1', zone: 'zone-a', pod: 'quotes-1' }, ...extra] });
    api.applySlice(slice([]));
    const w = captureIo();
    const watching = runCli(['watch', 'k8s:///quotes.trading:grpc', '--kubeconfig', kubeconfig, '--json'], w.io);
    try {
      await until('the first snapshot', () => w.out.includes('"event":"snapshot"'), 10_000);
      // A rollout's new Pod, not ready yet: the ready set is the same, so no snapshot is sent.
      api.applySlice(slice([{ ip: '10.2.0.2', zone: 'zone-b', pod: 'quotes-2', ready: false, serving: false }]));
      await until('the not-ready Pod', () => w.out.includes('"added":[{"address":"10.2.0.2:50051"'), 10_000);
      // Ready now: it joins the set (a snapshot), shown as changed.
      api.applySlice(slice([{ ip: '10.2.0.2', zone: 'zone-b', pod: 'quotes-2', ready: true, serving: true }]));
      await until('the Pod ready', () => (w.out.match(/"event":"update"/g) ?? []).length >= 2, 10_000);
    } finally {
      w.interrupt(); // also when a wait above failed: a watch left running would keep the test process alive
    }
    assert.equal(await watching, EXIT.OK);
    const events = w.out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; endpoints?: { address: string; state: string }[] });
    const states = events.filter((e) => e.event !== 'end').map((e) => e.endpoints!.map((x) => `${x.address} ${x.state}`));
    assert.deepEqual(states, [
      ['10.2.0.1:50051 ready'],
      ['10.2.0.1:50051 ready', '10.2.0.2:50051 not-ready'],
      ['10.2.0.1:50051 ready', '10.2.0.2:50051 ready'],
    ]);
  });
});

describe('fairway against an unreachable Kubernetes API server', () => {
  test('a failure is printed once: not as a warning and then again as the error (resolve, watch; text and --json)', { timeout: 30_000 }, async (t) => {
    const refusing = await startRefusingEndpoint();
    const dir = mkdtempSync(join(tmpdir(), 'fairway-cli-k8s-down-'));
    t.after(async () => {
      await refusing.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{ name: down, cluster: { server: "https://${refusing.address}", insecure-skip-tls-verify: true } }]`,
        'users: [{ name: u, user: { token: "unused" } }]',
        'contexts: [{ name: c, context: { cluster: down, user: u, namespace: trading } }]',
        'current-context: c',
      ].join('\n'),
    );
    const target = 'k8s:///pricer.trading:grpc';
    for (const argv of [
      ['resolve', target, '--kubeconfig', kubeconfig, '--timeout', '2s'],
      ['watch', target, '--kubeconfig', kubeconfig, '--timeout', '2s'],
      ['watch', target, '--kubeconfig', kubeconfig, '--timeout', '2s', '--json'],
    ]) {
      const c = captureIo();
      assert.equal(await runCli(argv, c.io), EXIT.UNREACHABLE, `${argv.join(' ')}: ${c.err}`);
      const failure = `cannot reach the Kubernetes API server https://${refusing.address}`;
      const said = c.err.split('\n').filter((l) => l.includes(failure));
      assert.equal(said.length, 1, `${argv.join(' ')} says it once on stderr:\n${c.err}`);
      assert.match(said[0]!, /^fairway: /);
      // Not as the source's log line either ("...; retrying (attempt 1)"): the command stops here, it retries nothing.
      assert.doesNotMatch(c.err, /warning|retrying/, `${argv.join(' ')}:\n${c.err}`);
      if (argv.includes('--json')) {
        const lines = c.out.trim().split('\n').map((l) => JSON.parse(l) as { error?: string; event?: string });
        assert.equal(lines.length, 1, c.out);
        assert.ok(lines[0]!.error?.includes(failure), c.out);
      }
    }
  });
});

describe('help', () => {
  test('no command is a usage error: help on stderr, exit 2; --help and help <command> print it on stdout, exit 0', async () => {
    for (const argv of [[], ['config']]) {
      const c = captureIo();
      assert.equal(await runCli(argv, c.io), EXIT.USAGE, `fairway ${argv.join(' ')}`);
      assert.match(c.err, /^Usage: fairway/, `fairway ${argv.join(' ')}: help on stderr`);
      assert.equal(c.out, '', `fairway ${argv.join(' ')}: nothing on stdout`);
    }
    // commander's own exit code for `help` follows process.exitCode (set by the test runner once a test failed).
    const savedExitCode = process.exitCode;
    try {
      for (const exitCodeBefore of [undefined, 1]) {
        process.exitCode = exitCodeBefore;
        for (const argv of [['--help'], ['help'], ['help', 'resolve'], ['config', '--help']]) {
          const c = captureIo();
          assert.equal(await runCli(argv, c.io), EXIT.OK, `fairway ${argv.join(' ')}`);
          assert.match(c.out, /^Usage: fairway/, `fairway ${argv.join(' ')}: help on stdout`);
          assert.equal(c.err, '', `fairway ${argv.join(' ')}: nothing on stderr`);
        }
      }
    } finally {
      process.exitCode = savedExitCode;
    }
  });
});

describe('endpoint table (pure)', () => {
  test('static targets resolve without any back end; an older incarnation is shown as superseded', async () => {
    const c = captureIo();
    assert.equal(await runCli(['resolve', 'static:///127.0.0.1:1@zone-a,[::1]:2'], c.io), EXIT.OK);
    assert.match(c.out, /^static:\/\/\/127\.0\.0\.1:1@zone-a,\[::1\]:2 \(static\): 2 endpoint\(s\), 2 ready \(\(no zone\): 1, zone-a: 1\)/);
    const rows = rowsOf({
      endpoints: [
        { address: '10.0.0.1:1', zone: 'a', instance: 'p', incarnation: '1000-aa' },
        { address: '10.0.0.2:1', zone: 'a', instance: 'p', incarnation: '2000-bb' },
      ],
    });
    assert.deepEqual(rows.map((r) => [r.address, r.state]), [
      ['10.0.0.1:1', 'superseded'],
      ['10.0.0.2:1', 'ready'],
    ]);
    assert.match(formatTable(rows), /10\.0\.0\.1:1\s+a\s+p\s+1000-aa\s+1\s+superseded/);
    const stale = rowsOf({ endpoints: [{ address: '10.0.0.3:1' }], stale: true });
    assert.equal(stale[0]!.state, 'stale');
    const canary = rowsOf({ endpoints: [{ address: '10.0.0.4:1', instance: 'k', canary: true }, { address: '10.0.0.5:1', instance: 's' }] });
    assert.deepEqual(canary.map((r) => r.canary), [true, undefined]);
    assert.match(formatTable(canary), /10\.0\.0\.4:1\s+-\s+k\s+-\s+1\s+ready, canary\n10\.0\.0\.5:1\s+-\s+s\s+-\s+1\s+ready$/);
    const d = diffRows(rows, rowsOf({ endpoints: [{ address: '10.0.0.2:1', zone: 'b', instance: 'p', incarnation: '2000-bb' }] }));
    assert.deepEqual(formatDiff(d), ['- 10.0.0.1:1 zone=a instance=p incarnation=1000-aa superseded', '~ 10.0.0.2:1 zone a -> b']);
  });

  test('the balancer table shows ejection (reason, time left, count) and slow-start state', () => {
    const b = createBalancer();
    const keys = b.update([{ address: '10.0.0.1:1', zone: 'a' }, { address: '10.0.0.2:1', zone: 'a' }, { address: '10.0.0.3:1', zone: 'b' }], 0).added;
    for (const k of keys) b.setReady(k, true, 0);
    const others = new Set(keys.slice(1));
    let n = 0;
    const random = () => (n++ % 10) / 10;
    for (let i = 0; i < 5; i++) b.pick(1_000, random, others)!.release({ kind: 'failure' }, 1_000);
    b.update([{ address: '10.0.0.1:1', zone: 'a' }, { address: '10.0.0.2:1', zone: 'a' }, { address: '10.0.0.3:1', zone: 'b' }, { address: '10.0.0.4:1', zone: 'b' }], 1_000);
    b.setReady(b.snapshot(1_000).find((s) => s.address === '10.0.0.4:1')!.key, true, 1_000);
    const table = formatBalancerTable(balancerRowsOf(b.snapshot(3_500)));
    assert.match(table, /^ADDRESS\s+ZONE\s+READY\s+IN-FLIGHT\s+RTT\s+EJECTION\s+SLOW-START$/m);
    assert.match(table, /10\.0\.0\.1:1\s+a\s+yes\s+0\s+\S+ms\s+ejected \(consecutive-failures, 7\.5 s left, #1\)\s+warm/);
    assert.match(table, /10\.0\.0\.2:1\s+a\s+yes\s+0\s+\S+ms\s+in\s+warm/);
    // Joined at 1 s into a set READY since 0: 2.5 s into a ramp of min(10 s, 3.5 s) = 3.5 s: 10 + 90 x 2.5/3.5 = 74 %.
    assert.match(table, /10\.0\.0\.4:1\s+b\s+yes\s+0\s+\S+ms\s+in\s+74%/);
  });
});
