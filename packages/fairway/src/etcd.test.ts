// End to end: `createClient` with `etcd:` targets, a real etcd started by the test, real grpc-js Echo
// backends on loopback, and the registrar / serve helper on the server side. (The README examples run in
// etcd-readme.test.ts.)
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, credentials, status, type Client, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { captureStderr, startEtcdForSuite, startEchoBackend, loadEcho, startRefusingEndpoint, type EchoBackend, type EchoReply, type EchoRequest } from '@fairway/testing';
import { createClient, registerInEtcd, serveAndRegisterInEtcd } from './index.js';

type EchoClient = Client & {
  Unary(req: EchoRequest, opts: { deadline: number }, cb: (err: (Error & { code?: number; details?: string }) | null, reply?: EchoReply) => void): void;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const goValue = (addr: string, md: unknown = null) => JSON.stringify({ Op: 0, Addr: addr, Metadata: md });

describe('etcd: targets through createClient from fairway', { timeout: 150_000 }, () => {
  const backends: EchoBackend[] = [];
  const clients: Client[] = [];
  after(() => {
    for (const c of clients) c.close();
    for (const b of backends) b.forceStop();
  });
  // After the hook above, so etcd closes last (after hooks run in order), once nothing uses it any more.
  const etcd = startEtcdForSuite();
  async function backend(id: string): Promise<EchoBackend> {
    const b = await startEchoBackend({ id, zone: 'zone-a' });
    backends.push(b);
    return b;
  }
  function client(target: string, etcdOptions: Record<string, unknown> = {}): EchoClient {
    const { EchoClient } = loadEcho();
    const c = createClient(EchoClient, target, credentials.createInsecure(), {
      zone: 'zone-a',
      discovery: { etcd: { endpoints: etcd.endpoints, maxBackoffMs: 500, logger: { info() {}, warn() {}, error() {} }, ...etcdOptions } },
    }) as unknown as EchoClient;
    clients.push(c);
    return c;
  }
  const call = (c: EchoClient, deadlineMs = 5000, req: EchoRequest = { message: 'hi' }) =>
    new Promise<EchoReply>((resolve, reject) => c.Unary(req, { deadline: Date.now() + deadlineMs }, (err, reply) => (err ? reject(err) : resolve(reply!))));
  /** Calls until `pred(reply)` holds, at most `max` calls / `timeoutMs`. */
  async function callUntil(c: EchoClient, pred: (r: EchoReply) => boolean, what: string, max = 400, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < max && Date.now() < deadline; i++) {
      if (pred(await call(c))) return;
      await sleep(20);
    }
    throw new Error(`no call matched: ${what}`);
  }
  async function servers(c: EchoClient, n: number): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add((await call(c)).server_id);
    return seen;
  }

  test('adds, removals and updates reach the balancer; Go-format keys and garbage values', { timeout: 60_000 }, async () => {
    const [b1, b2, b3] = [await backend('b1'), await backend('b2'), await backend('b3')];
    const r1 = await registerInEtcd({ service: 'echo1', address: b1.address, zone: 'zone-a', instance: 'b1', endpoints: etcd.endpoints });
    const r2 = await registerInEtcd({ service: 'echo1', address: b2.address, zone: 'zone-a', instance: 'b2', endpoints: etcd.endpoints, ttlSeconds: 5 });
    try {
      const c = client('etcd:///echo1');
      await callUntil(c, (r) => r.server_id === 'b2', 'b2 answers');
      await callUntil(c, (r) => r.server_id === 'b1', 'b1 answers');
      // Garbage next to them disturbs nothing.
      await etcd.etcdctl(['put', 'echo1/junk', '{"Op":0,"Addr":"nonsense"}']);
      await etcd.etcdctl(['put', 'echo1/junk2', '{{{ not json']);
      assert.deepEqual(await servers(c, 20).then((s) => [...s].every((x) => x === 'b1' || x === 'b2')), true);
      // Removal: b1 deregisters; calls go to b2 only.
      await r1.deregister();
      await callUntil(c, (r) => r.server_id === 'b2', 'b2 after b1 left');
      await sleep(300);
      assert.deepEqual([...(await servers(c, 20))], ['b2']);
      // A plain Go registration (Metadata null, so no zone), written with etcdctl, is discovered. While the
      // zone-a endpoint b2 is there, a zone-a client keeps its calls in zone-a; once b2 leaves, b3 takes them.
      await etcd.etcdctl(['put', 'echo1/go-b3', goValue(b3.address)]);
      await r2.deregister();
      await callUntil(c, (r) => r.server_id === 'b3', 'b3 via a Go-format key');
      await sleep(300);
      assert.deepEqual([...(await servers(c, 20))], ['b3']);
    } finally {
      await r1.deregister();
      await r2.deregister();
      await etcd.etcdctl(['del', 'echo1/', '--prefix']);
    }
  });

  test("the client's logger also gets the etcd source's warnings (a garbage value), unless discovery.etcd names its own", { timeout: 30_000 }, async () => {
    const b = await backend('lg1');
    await etcd.etcdctl(['put', 'logged/lg1', goValue(b.address, { zone: 'zone-a', instance: 'lg1' })]);
    await etcd.etcdctl(['put', 'logged/junk', 'not json']);
    const lines: string[] = [];
    const { EchoClient } = loadEcho();
    const c = createClient(EchoClient, 'etcd:///logged', credentials.createInsecure(), {
      zone: 'zone-a',
      logger: { info: (m) => void lines.push(`info: ${m}`), warn: (m) => void lines.push(`warn: ${m}`), error: (m) => void lines.push(`error: ${m}`) },
      discovery: { etcd: { endpoints: etcd.endpoints } },
    }) as unknown as EchoClient;
    clients.push(c);
    assert.equal((await call(c)).server_id, 'lg1');
    assert.ok(lines.some((l) => l.startsWith('warn: ') && l.includes('"logged/junk"')), lines.join('\n'));
  });

  test('an update of a key (same instance, new address) moves the calls to the new address', { timeout: 30_000 }, async () => {
    const [u1, u2, u3] = [await backend('u1'), await backend('u2'), await backend('u3')];
    await etcd.etcdctl(['put', 'echo6/u1', goValue(u1.address, { zone: 'zone-a', instance: 'u1' })]);
    await etcd.etcdctl(['put', 'echo6/u2', goValue(u2.address, { zone: 'zone-a', instance: 'u2' })]);
    try {
      const c = client('etcd:///echo6');
      await callUntil(c, (r) => r.server_id === 'u1', 'u1');
      await callUntil(c, (r) => r.server_id === 'u2', 'u2');
      await etcd.etcdctl(['del', 'echo6/u1']);
      await callUntil(c, (r) => r.server_id === 'u2', 'u2 alone');
      // The key of instance u2 now says u3's address (the service moved; same key, same instance).
      await etcd.etcdctl(['put', 'echo6/u2', goValue(u3.address, { zone: 'zone-a', instance: 'u2' })]);
      await callUntil(c, (r) => r.server_id === 'u3', 'u3 after the update');
      await sleep(300);
      assert.deepEqual([...(await servers(c, 20))], ['u3']);
      // A registrar registration (with an incarnation) whose key is then overwritten by hand, without one.
      const reg = await registerInEtcd({ service: 'echo6', address: u1.address, zone: 'zone-a', instance: 'u9', endpoints: etcd.endpoints });
      await etcd.etcdctl(['del', 'echo6/u2']);
      await callUntil(c, (r) => r.server_id === 'u1', 'u1 registered as u9');
      await etcd.etcdctl(['put', reg.key, goValue(u2.address, { zone: 'zone-a', instance: 'u9' })]);
      await callUntil(c, (r) => r.server_id === 'u2', 'u2 after the hand-written update');
      await sleep(300);
      assert.deepEqual([...(await servers(c, 20))], ['u2']);
      await reg.deregister();
    } finally {
      await etcd.etcdctl(['del', 'echo6/', '--prefix']);
    }
  });

  test('a newer incarnation of an instance takes over at once', { timeout: 30_000 }, async () => {
    const [old, neu] = [await backend('old'), await backend('new')];
    await etcd.etcdctl(['put', 'echo2/p-1', goValue(old.address, { instance: 'p', incarnation: '1000-0001' })]);
    const c = client('etcd:///echo2');
    assert.equal((await call(c)).server_id, 'old');
    await etcd.etcdctl(['put', 'echo2/p-2', goValue(neu.address, { instance: 'p', incarnation: '2000-0002' })]);
    await callUntil(c, (r) => r.server_id === 'new', 'the new incarnation');
    assert.deepEqual([...(await servers(c, 30))], ['new'], 'once the new incarnation is known, the old one gets nothing');
    await etcd.etcdctl(['del', 'echo2/', '--prefix']);
  });

  test('restarting etcd under load fails no call', { timeout: 60_000 }, async () => {
    const [a, b] = [await backend('ra'), await backend('rb')];
    const ra = await registerInEtcd({ service: 'echo3', address: a.address, instance: 'ra', endpoints: etcd.endpoints });
    const rb = await registerInEtcd({ service: 'echo3', address: b.address, instance: 'rb', endpoints: etcd.endpoints });
    try {
      const c = client('etcd:///echo3');
      await callUntil(c, (r) => r.server_id === 'rb', 'rb');
      let ok = 0;
      const failures: string[] = [];
      let running = true;
      const workers = Array.from({ length: 4 }, async () => {
        for (let n = 0; running && n < 100_000; n++) {
          try {
            await call(c, 3000);
            ok++;
          } catch (e) {
            failures.push((e as Error).message);
          }
          await sleep(5);
        }
      });
      await sleep(300);
      await etcd.kill();
      await sleep(1500);
      await etcd.start();
      await sleep(1000);
      await etcd.restart();
      await sleep(500);
      running = false;
      await Promise.all(workers);
      assert.deepEqual(failures, []);
      assert.ok(ok > 50, `only ${ok} calls`);
    } finally {
      await ra.deregister();
      await rb.deregister();
    }
  });

  test('unreachable etcd at start: the first call fails after the connect timeout with UNAVAILABLE naming the endpoints', { timeout: 30_000 }, async (t) => {
    const dead = await startRefusingEndpoint();
    t.after(() => dead.close());
    const port = dead.port;
    const { EchoClient } = loadEcho();
    const c = createClient(EchoClient, `etcd://127.0.0.1:${port}/echo4`, credentials.createInsecure(), {
      zone: 'zone-a',
      discovery: { etcd: { dialTimeoutMs: 1000, logger: { info() {}, warn() {}, error() {} } } },
    }) as unknown as EchoClient;
    clients.push(c);
    const t0 = Date.now();
    const err = await call(c, 8000).then(
      () => undefined,
      (e: Error & { code?: number; details?: string }) => e,
    );
    assert.ok(err, 'the call failed');
    assert.equal(err.code, status.UNAVAILABLE, err.message);
    assert.match(err.details ?? err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.ok(Date.now() - t0 >= 900, 'not before the connect timeout');
    assert.ok(Date.now() - t0 < 7900, 'before the call deadline');
  });

  test("unreachable etcd: the client's logger gets the failure once, at error level", { timeout: 30_000 }, async (t) => {
    const dead = await startRefusingEndpoint();
    t.after(() => dead.close());
    const lines: string[] = [];
    const logger = { info() {}, warn: (m: string) => lines.push(`warn: ${m}`), error: (m: string) => lines.push(`error: ${m}`) };
    const { EchoClient } = loadEcho();
    const c = createClient(EchoClient, `etcd://127.0.0.1:${dead.port}/echo4b`, credentials.createInsecure(), {
      zone: 'zone-a',
      logger,
      discovery: { etcd: { dialTimeoutMs: 1000 } },
    }) as unknown as EchoClient;
    clients.push(c);
    const err = await call(c, 5000).then(
      () => undefined,
      (e: Error & { code?: number }) => e,
    );
    assert.equal(err?.code, status.UNAVAILABLE);
    await sleep(200);
    // The source logs what it hands to the channel; the resolver used to log it again as a warning.
    const about = lines.filter((l) => l.includes(`127.0.0.1:${dead.port}`));
    assert.equal(about.length, 1, lines.join('\n'));
    assert.match(about[0]!, /^error: /);
  });

  test("multi: with an unreachable etcd part: calls go to the other part; the client's logger gets the part's failure once, nothing on stderr", { timeout: 30_000 }, async (t) => {
    const dead = await startRefusingEndpoint();
    t.after(() => dead.close());
    const b = await backend('multi-static');
    const lines: string[] = [];
    const logger = { info() {}, warn: (m: string) => lines.push(`warn: ${m}`), error: (m: string) => lines.push(`error: ${m}`) };
    const stderr = captureStderr();
    try {
      const { EchoClient } = loadEcho();
      const c = createClient(EchoClient, `multi:///etcd://127.0.0.1:${dead.port}/echo-multi;static:///${b.address}`, credentials.createInsecure(), {
        zone: 'zone-a',
        logger,
        discovery: { etcd: { dialTimeoutMs: 1000 } },
      }) as unknown as EchoClient;
      clients.push(c);
      assert.equal((await call(c, 5000)).server_id, 'multi-static');
      // The etcd part gives up its first try after dialTimeoutMs: the multi source hands that on, named.
      const deadline = Date.now() + 5_000;
      while (!lines.some((l) => l.includes(`127.0.0.1:${dead.port}`)) && Date.now() < deadline) await sleep(50);
      await sleep(300);
    } finally {
      stderr.restore();
    }
    const about = lines.filter((l) => l.includes(`127.0.0.1:${dead.port}`));
    assert.equal(about.length, 1, lines.join('\n'));
    assert.match(about[0]!, /^warn: multi:.*part etcd:\/\/127\.0\.0\.1:\d+\/echo-multi: /);
    assert.deepEqual(stderr.containing(`127.0.0.1:${dead.port}`), []);
  });

  test('serveAndRegisterInEtcd: register after bind; shutdown deregisters first, then drains in-flight calls', { timeout: 30_000 }, async () => {
    const { service } = loadEcho();
    const server = new Server();
    let served = 0;
    server.addService(service, {
      Unary: (callObj: ServerUnaryCall<EchoRequest, EchoReply>, cb: sendUnaryData<EchoReply>) => {
        const delay = callObj.request.delay_ms ?? 0;
        setTimeout(() => {
          served++;
          cb(null, { message: callObj.request.message ?? '', server_id: 'served-1', zone: 'zone-a', call_number: served, sequence: 1, address: '', peer: '' });
        }, delay);
      },
    });
    const handle = await serveAndRegisterInEtcd(server, { bind: '127.0.0.1:0', service: 'echo5', instance: 'served-1', zone: 'zone-a', endpoints: etcd.endpoints, drainTimeoutMs: 5000 });
    assert.match(handle.address, /^127\.0\.0\.1:\d+$/);
    const value = await etcd.etcdctl(['get', 'echo5/served-1', '--print-value-only']);
    assert.match(value, new RegExp(`"Addr":"${handle.address}"`));
    const c = client('etcd:///echo5');
    assert.equal((await call(c)).server_id, 'served-1');
    const slow = call(c, 5000, { message: 'slow', delay_ms: 800 });
    await sleep(100);
    const t0 = Date.now();
    const down = handle.shutdown();
    // The key goes first, while the slow call is still being served.
    let goneAtMs = 0;
    for (let i = 0; i < 100 && !goneAtMs; i++) {
      if ((await etcd.etcdctl(['get', 'echo5/served-1', '--print-value-only'])).trim() === '') goneAtMs = Date.now();
      else await sleep(20);
    }
    assert.ok(goneAtMs > 0, 'the key was deleted');
    // A client that has not seen the removal yet (here: a static target, which never will) still gets its
    // call answered during deregisterGraceMs (default 1 s): the drain has not started.
    const stale = client(`static:///${handle.address}`);
    assert.equal((await call(stale, 3000)).server_id, 'served-1', 'a call sent just after deregistration is answered');
    stale.close();
    const reply = await slow;
    const doneAtMs = Date.now();
    assert.equal(reply.message, 'slow', 'the in-flight call was drained, not cut');
    assert.ok(goneAtMs <= doneAtMs, 'deregistered before the in-flight call ended');
    await down;
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(handle.registration.status().state, 'deregistered');
  });
  test('serveAndRegisterInEtcd: a drain that takes too long is forced after drainTimeoutMs', { timeout: 30_000 }, async () => {
    const { service } = loadEcho();
    const server = new Server();
    server.addService(service, {
      Unary: (callObj: ServerUnaryCall<EchoRequest, EchoReply>, cb: sendUnaryData<EchoReply>) => {
        setTimeout(() => cb(null, { message: 'late', server_id: 'slow-1', zone: 'zone-a', call_number: 1, sequence: 1, address: '', peer: '' }), callObj.request.delay_ms ?? 0);
      },
    });
    const handle = await serveAndRegisterInEtcd(server, { bind: '127.0.0.1:0', service: 'echo8', instance: 'slow-1', endpoints: etcd.endpoints, drainTimeoutMs: 500 });
    const c = client('etcd:///echo8');
    const stuck = call(c, 10_000, { message: 'x', delay_ms: 8000 }).then(
      () => 'answered',
      (e: Error & { code?: number }) => `failed ${e.code}`,
    );
    await sleep(300);
    const t0 = Date.now();
    await handle.shutdown();
    const took = Date.now() - t0;
    assert.ok(took >= 400 && took < 4000, `shutdown took ${took}ms`);
    assert.match(await stuck, /^failed /, 'the call still running at the force timeout was ended');
  });
});
