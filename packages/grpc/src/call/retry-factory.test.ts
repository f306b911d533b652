// Timeout-only retries through the whole client (createClient: Fairway's policy and picker plus the call
// layer), on probe servers that are separate processes: retries go to endpoints not yet tried, a frozen
// (SIGSTOP) server under load costs no call, and a new incarnation on the same address gets a new connection.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import { credentials, status } from '@grpc/grpc-js';
import type { CallObserverFactory, PickExplanation } from '@fairway/core';
import { createScriptedDiscovery } from '@fairway/testing';
import { createClient, registerDiscoveryScheme } from '../index.js';
import { ProbeClient } from './test-support/probe-service.js';
import { startProbeServer, startProbeServers } from './test-support/probe-harness.js';
import type { ProbeServer } from './test-support/probe-harness.js';
import { callUnary, sleep } from './test-support/probe-client.js';
import type { Probe } from './test-support/probe-client.js';

const creds = credentials.createInsecure();
let seq = 0;
const nextId = (tag: string): string => `${tag}-${process.pid}-${++seq}`;

interface AttemptRecord {
  n: number;
  startedAt: number;
  pick?: PickExplanation;
  code?: number;
}

function attemptRecorder(): { factory: CallObserverFactory; attempts: AttemptRecord[]; perCall: AttemptRecord[][] } {
  const attempts: AttemptRecord[] = [];
  const perCall: AttemptRecord[][] = [];
  return {
    attempts,
    perCall,
    factory: {
      onCallStart() {
        const mine: AttemptRecord[] = [];
        perCall.push(mine);
        return {
          onAttemptStart(n) {
            const a: AttemptRecord = { n, startedAt: Date.now() };
            attempts.push(a);
            mine.push(a);
            return {
              onPick: (p) => void (a.pick = p),
              outgoingHeaders: () => ({}),
              onEnd: (o) => void (a.code = o.code),
            };
          },
          onEnd: () => undefined,
        };
      },
    },
  };
}

describe('retries through createClient on separate server processes', { timeout: 150_000 }, () => {
  let servers: ProbeServer[] = [];
  const clients: Probe[] = [];
  const extra: ProbeServer[] = [];
  const fronts: NetServer[] = [];
  before(async () => {
    servers = await startProbeServers(['a', 'b', 'c']);
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const f of fronts) f.close();
    await Promise.all([...servers, ...extra].map((s) => s.stop()));
  });
  const staticTarget = () => `static:///${servers.map((s) => s.address).join(',')}`;
  const make = (target: string, options: Parameters<typeof createClient>[3]): Probe => {
    const c = createClient(ProbeClient, target, creds, options) as unknown as Probe;
    clients.push(c);
    return c;
  };
  const warm = async (c: Probe, n: number) => {
    for (let i = 0; i < n; i++) await callUnary(c, { id: `warm-${i}` }, Date.now() + 10_000);
  };

  test('each retry goes to an endpoint not yet tried: 3 servers, 4 attempts = 3 distinct + 1', { timeout: 40_000 }, async () => {
    const rec = attemptRecorder();
    const c = make(staticTarget(), {
      retry: { attemptTimeoutMs: 120, retryIntervalMs: 30, maxAttempts: 4, budget: { minPerSecond: 1000 } },
      observers: [rec.factory],
    });
    await warm(c, 9);
    for (let round = 0; round < 5; round++) {
      const id = nextId('distinct');
      const r = await callUnary(c, { id, default: { sleepMs: 2000 } }, Date.now() + 10_000);
      assert.equal(r.error?.code, status.DEADLINE_EXCEEDED);
      await sleep(30);
      const seen = servers.flatMap((s) => s.callsFor(id)).sort((x, y) => x.t - y.t);
      assert.equal(seen.length, 4);
      assert.equal(new Set(seen.slice(0, 3).map((e) => e.server)).size, 3, `first three attempts on three servers: ${seen.map((e) => e.server)}`);
      const attempts = rec.perCall.at(-1)!;
      assert.deepEqual(attempts.map((a) => a.n), [1, 2, 3, 4]);
      assert.equal(new Set(attempts.slice(0, 3).map((a) => a.pick?.endpointKey)).size, 3, 'the picker reported three different endpoints');
    }
  });

  test('a server frozen with SIGSTOP under load: its calls time out and are retried elsewhere, none fail, routing leaves it', { timeout: 60_000 }, async () => {
    const rec = attemptRecorder();
    const c = make(staticTarget(), {
      retry: { attemptTimeoutMs: 400, retryIntervalMs: 20, maxAttempts: 6 },
      observers: [rec.factory],
    });
    await warm(c, 9);
    const frozen = servers[0]!;
    const results: Array<{ ok: boolean; code?: number; details?: string; at: number }> = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const r = await callUnary(c, { id: nextId('load'), default: { sleepMs: 5 } }, Date.now() + 8000);
        results.push({ ok: !r.error, ...(r.error ? { code: r.error.code, details: r.error.details } : {}), at: Date.now() });
      }
    };
    const workers = Promise.all(Array.from({ length: 4 }, worker));
    try {
      await sleep(1000);
      const frozenAt = Date.now();
      frozen.freeze();
      await sleep(4000);
      stop = true;
      await workers;
      const failed = results.filter((r) => !r.ok);
      assert.deepEqual(failed.map((f) => ({ ...f, at: f.at - frozenAt })), [], 'no call failed');
      const afterFreeze = rec.attempts.filter((a) => a.startedAt >= frozenAt);
      const onFrozen = afterFreeze.filter((a) => a.pick?.address === frozen.address);
      const timedOutOnFrozen = onFrozen.filter((a) => a.code === status.DEADLINE_EXCEEDED);
      assert.ok(timedOutOnFrozen.length >= 1, 'some attempts timed out on the frozen server and were retried');
      const late = afterFreeze.filter((a) => a.startedAt >= frozenAt + 2500);
      const lateOnFrozen = late.filter((a) => a.pick?.address === frozen.address);
      assert.ok(late.length >= 15, `enough load in the last 1.5 s: ${late.length}`);
      assert.ok(
        lateOnFrozen.length <= Math.max(3, late.length * 0.05),
        `routing left the frozen server: ${lateOnFrozen.length} of ${late.length} attempts in the last 1.5 s`,
      );
      assert.ok(results.filter((r) => r.at >= frozenAt).length >= 30, 'calls kept completing while it was frozen');
    } finally {
      stop = true;
      await workers;
      frozen.thaw();
    }
  });

  test('a new incarnation on the same address gets a new connection, not the frozen pooled one', { timeout: 60_000 }, async () => {
    // A front on a fixed port stands for "the address": existing connections keep their upstream (the old
    // process), new connections go to whichever process now owns the address.
    const old = await startProbeServer('old', { incarnation: '1764032400000-0001' });
    extra.push(old);
    const warmDirect = async (server: ProbeServer) => {
      // A fresh process's first calls compile its handlers: warm it directly so only the routing is measured.
      const direct = createClient(ProbeClient, `static:///${server.address}`, creds, {}) as unknown as Probe;
      for (let i = 0; i < 3; i++) await callUnary(direct, { id: nextId('warm-direct') }, Date.now() + 10_000);
      direct.close();
    };
    await warmDirect(old);
    let upstreamPort = old.port;
    let accepted = 0;
    const sockets = new Set<Socket>();
    const front = createServer((client) => {
      accepted++;
      const up = connect(upstreamPort, '127.0.0.1');
      sockets.add(client).add(up);
      const drop = () => {
        client.destroy();
        up.destroy();
      };
      client.on('error', drop).on('close', drop);
      up.on('error', drop).on('close', drop);
      client.pipe(up);
      up.pipe(client);
    });
    fronts.push(front);
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
    const address = `127.0.0.1:${(front.address() as { port: number }).port}`;

    const discovery = createScriptedDiscovery();
    registerDiscoveryScheme('h6restart', discovery.factory);
    discovery.push([{ address, instance: 'pricer-a', incarnation: '1764032400000-0001' }]);
    const c = make('h6restart:///pricer', { retry: { attemptTimeoutMs: 300, retryIntervalMs: 20, maxAttempts: 4 } });
    for (let i = 0; i < 10; i++) {
      const r = await callUnary(c, { id: nextId('before') }, Date.now() + 10_000);
      assert.equal(r.reply?.server, 'old', r.error?.message);
    }
    const connectionsBefore = accepted;

    // The old process freezes (its connection is now half-open), a new one takes the address.
    old.freeze();
    const fresh = await startProbeServer('new', { incarnation: '1764032455000-0002' });
    extra.push(fresh);
    await warmDirect(fresh);
    upstreamPort = fresh.port;
    // Control: with the old incarnation still listed, calls ride the pooled (frozen) connection and time out.
    const control = await callUnary(c, { id: nextId('control') }, Date.now() + 5000);
    assert.equal(control.error?.code, status.DEADLINE_EXCEEDED, 'the pooled connection is frozen');
    assert.equal(accepted, connectionsBefore, 'no new connection without a new incarnation');
    discovery.push([{ address, instance: 'pricer-a', incarnation: '1764032455000-0002' }]);
    await sleep(100);
    const afterIds: string[] = [];
    for (let i = 0; i < 10; i++) {
      const id = nextId('after');
      afterIds.push(id);
      const r = await callUnary(c, { id }, Date.now() + 5000);
      assert.equal(r.error, undefined, `call ${i} after the update: ${r.error?.message}`);
      assert.equal(r.reply?.server, 'new');
    }
    assert.ok(accepted > connectionsBefore, 'a new connection was made to the same address');
    // Thawed, the old process reads what was sent to it while frozen: the control call, and none of the others.
    old.thaw();
    await sleep(500);
    assert.ok(old.events.some((e) => e.ev === 'call' && e.id.startsWith('control-')), 'the control call did reach the old process');
    const leaked = afterIds.filter((id) => old.callsFor(id).length > 0);
    assert.deepEqual(leaked, [], 'no attempt after the update went over the old connection');
  });
});
