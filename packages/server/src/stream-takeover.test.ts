// Newest connection wins, server side: real client PROCESSES with the same identity against a grpc-js server
// using the takeover helper.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials, status, credentials, Metadata } from '@grpc/grpc-js';
import type { ServerWritableStream, ServerDuplexStream, ServerReadableStream, sendUnaryData } from '@grpc/grpc-js';
import { CLIENT_INCARNATION_HEADER, CLIENT_INSTANCE_HEADER } from '@fairway/core';
import { createStreamTakeover, drainServer } from './index.js';
import type { StreamTakeoverEvent } from './index.js';
import { feedService, FeedClient } from './test-support/feed-service.js';
import { childNodeArgs } from '@fairway/testing';

const clientScript = fileURLToPath(new URL('./test-support/feed-client.ts', import.meta.url));

interface ClientProc {
  child: ChildProcess;
  data: number[];
  status: Promise<{ code: number; details: string }>;
  firstData: Promise<void>;
  stop(): Promise<void>;
}

function startClient(target: string, instance: string, incarnation: string, method: 'watch' | 'chat' = 'watch'): ClientProc {
  const child = spawn(process.execPath, [...childNodeArgs(), clientScript], {
    env: { ...process.env, FEED_TARGET: target, FEED_INSTANCE: instance, FEED_INCARNATION: incarnation, FEED_METHOD: method },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const data: number[] = [];
  let onFirst!: () => void;
  const firstData = new Promise<void>((r) => (onFirst = r));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const statusP = new Promise<{ code: number; details: string }>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const ev = JSON.parse(line) as { ev: string; n?: number; code?: number; details?: string };
      if (ev.ev === 'data') {
        data.push(ev.n!);
        onFirst();
      } else if (ev.ev === 'status') resolve({ code: ev.code!, details: ev.details! });
    });
    child.once('exit', () => resolve({ code: -1, details: 'client process exited without a status' }));
  });
  return {
    child,
    data,
    status: statusP,
    firstData,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** The same as a client process, in this process (cheaper; used where separate processes add nothing). */
function startInProcess(target: string, instance: string, incarnation: string, method: 'watch' | 'chat' = 'watch'): ClientProc & { close(): void } {
  const client = new FeedClient(target, credentials.createInsecure()) as unknown as {
    watch(req: unknown, md: Metadata): NodeJS.EventEmitter & { cancel(): void };
    chat(md: Metadata): NodeJS.EventEmitter & { cancel(): void; write(m: unknown): boolean };
    close(): void;
  };
  const md = new Metadata();
  md.set(CLIENT_INSTANCE_HEADER, instance);
  md.set(CLIENT_INCARNATION_HEADER, incarnation);
  const call = method === 'chat' ? client.chat(md) : client.watch({}, md);
  if (method === 'chat') (call as unknown as { write(m: unknown): boolean }).write({ hello: true });
  const data: number[] = [];
  let onFirst!: () => void;
  const firstData = new Promise<void>((r) => (onFirst = r));
  let ended = false;
  const statusP = new Promise<{ code: number; details: string }>((resolve) => {
    call.on('data', (m: { n: number }) => {
      data.push(m.n);
      onFirst();
    });
    call.on('error', () => undefined);
    call.on('status', (st: { code: number; details: string }) => {
      ended = true;
      resolve({ code: st.code, details: st.details });
    });
  });
  return {
    child: { exitCode: null } as unknown as ChildProcess,
    data,
    status: statusP,
    firstData,
    get ended() {
      return ended;
    },
    async stop() {
      call.cancel();
      client.close();
    },
    close() {
      client.close();
    },
  } as ClientProc & { close(): void; ended: boolean };
}

async function waitUntil(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms))]);
}

describe('newest connection wins: server-side stream takeover', { timeout: 90_000 }, () => {
  let server: Server;
  let target = '';
  const events: StreamTakeoverEvent[] = [];
  const takeover = createStreamTakeover({ onEvent: (e) => events.push(e) });
  const procs: ClientProc[] = [];
  let handlerStops = 0;

  before(async () => {
    server = new Server();
    server.addService(feedService, {
      watch: takeover.serverStream((call: ServerWritableStream<{ from: string }, { n: number }>) => {
        let n = 0;
        const timer = setInterval(() => call.write({ n: n++ }), 50);
        call.on('cancelled', () => {
          handlerStops++;
          clearInterval(timer);
        });
      }),
      chat: takeover.bidi((call: ServerDuplexStream<unknown, { n: number }>) => {
        let n = 0;
        const timer = setInterval(() => call.write({ n: n++ }), 50);
        call.on('cancelled', () => clearInterval(timer));
        call.on('end', () => {
          clearInterval(timer);
          call.end();
        });
      }),
      upload: takeover.clientStream((call: ServerReadableStream<unknown, { n: number }>, callback: sendUnaryData<{ n: number }>) => {
        let n = 0;
        call.on('data', () => n++);
        call.on('end', () => callback(null, { n }));
      }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    target = `127.0.0.1:${port}`;
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    server.forceShutdown();
  });

  const start = (...args: Parameters<typeof startClient>): ClientProc => {
    const p = startClient(...args);
    procs.push(p);
    return p;
  };

  test('a second client process with the same instance ends the older stream with ABORTED naming the newer incarnation', { timeout: 40_000 }, async () => {
    const older = start(target, 'pricer-7f9c', '1764032400123-aaaa');
    await withTimeout(older.firstData, 20_000, 'the first stream');
    const stopsBefore = handlerStops;
    const newer = start(target, 'pricer-7f9c', '1764032455000-bbbb');
    const s = await withTimeout(older.status, 20_000, 'the older stream to end');
    assert.equal(s.code, status.ABORTED);
    assert.match(s.details, /superseded by a newer \/fairway\.test\.Feed\/Watch stream from peer instance "pricer-7f9c" incarnation 1764032455000-bbbb/);
    assert.match(s.details, /this stream: incarnation 1764032400123-aaaa/);
    await withTimeout(newer.firstData, 20_000, 'the newer stream');
    const before = newer.data.length;
    await waitUntil(() => newer.data.length > before, 10_000);
    assert.ok(newer.data.length > before, 'the newer stream keeps flowing');
    assert.equal(handlerStops, stopsBefore + 1, "the older stream's handler was told to stop");
    assert.deepEqual(events.at(-1), {
      kind: 'superseded',
      method: '/fairway.test.Feed/Watch',
      instance: 'pricer-7f9c',
      older: '1764032400123-aaaa',
      newer: '1764032455000-bbbb',
    });

    // A process of an OLDER incarnation arriving now is refused, and the newer stream is untouched.
    const zombie = start(target, 'pricer-7f9c', '1764032400999-cccc');
    const z = await withTimeout(zombie.status, 20_000, 'the zombie to be refused');
    assert.equal(z.code, status.FAILED_PRECONDITION);
    assert.match(z.details, /stream refused: peer instance "pricer-7f9c" incarnation 1764032400999-cccc is older than incarnation 1764032455000-bbbb/);
    assert.deepEqual(zombie.data, []);
    const n = newer.data.length;
    await waitUntil(() => newer.data.length > n, 10_000);
    assert.ok(newer.data.length > n, 'the newer stream is still flowing');
    await newer.stop();
  });

  test('other instances, other methods and the same incarnation reconnecting', { timeout: 40_000 }, async () => {
    const a = startInProcess(target, 'book-1', '1764032400000-0001');
    const b = startInProcess(target, 'book-2', '1764032400000-0002');
    const aChat = startInProcess(target, 'book-1', '1764032400000-0001', 'chat');
    await withTimeout(Promise.all([a.firstData, b.firstData, aChat.firstData]), 20_000, 'three streams');
    await new Promise((r) => setTimeout(r, 200));
    const live = (p: ClientProc) => !(p as unknown as { ended: boolean }).ended;
    assert.ok(live(a) && live(b) && live(aChat), 'other instances and other methods coexist');
    // The same incarnation opening the same method again (a new connection from the same process): newest wins.
    const again = startInProcess(target, 'book-1', '1764032400000-0001', 'chat');
    const s = await withTimeout(aChat.status, 20_000, 'the older chat to end');
    assert.equal(s.code, status.ABORTED);
    assert.match(s.details, /same incarnation 1764032400000-0001, opened again/);
    await withTimeout(again.firstData, 20_000, 'the new chat');
    assert.ok(live(a), 'the watch stream of the same instance is untouched');
    // Pod uids have no order: the stream that arrived last wins, whichever it is.
    const u1 = startInProcess(target, 'pod-x', '6b7f2a40-uid-one');
    await withTimeout(u1.firstData, 20_000, 'uid stream 1');
    const u2 = startInProcess(target, 'pod-x', '0a11c0de-uid-two');
    const us = await withTimeout(u1.status, 20_000, 'uid stream 1 to end');
    assert.equal(us.code, status.ABORTED);
    await withTimeout(u2.firstData, 20_000, 'uid stream 2');
    await Promise.all([a.stop(), b.stop(), again.stop(), aChat.stop(), u1.stop(), u2.stop()]);
  });

  test('calls without identity are not tracked; drain ends tracked streams with UNAVAILABLE', { timeout: 40_000 }, async () => {
    const client = new FeedClient(target, credentials.createInsecure()) as unknown as {
      watch(req: unknown, md: Metadata): NodeJS.EventEmitter & { cancel(): void };
    };
    const anonymous = [client.watch({}, new Metadata()), client.watch({}, new Metadata())];
    const got = anonymous.map(() => 0);
    anonymous.forEach((c, i) => {
      c.on('data', () => got[i]!++);
      c.on('error', () => undefined);
    });
    await waitUntil(() => got.every((n) => n > 0), 10_000);
    assert.ok(got.every((n) => n > 0), 'two anonymous streams coexist');
    anonymous.forEach((c) => c.cancel());

    const p = startInProcess(target, 'risk-1', '1764032400000-0009');
    await withTimeout(p.firstData, 20_000, 'the stream');
    const drained = drainServer(server, { graceMs: 3000, streams: [takeover] });
    const s = await withTimeout(p.status, 20_000, 'the drained stream');
    assert.equal(s.code, status.UNAVAILABLE);
    assert.match(s.details, /server draining/);
    const result = await withTimeout(drained, 10_000, 'the drain');
    assert.equal(typeof result.forced, 'boolean');
    assert.equal(takeover.size, 0);
    await p.stop();
  });
});
