// Fairway's default keepalive against servers with DEFAULT settings in three gRPC implementations: grpc-go
// (interop/go), C-core (grpcio, interop/python) and grpc-java (Netty, interop/java). Each allows a client ping
// no more often than every 5 minutes while it sends nothing and answers the third early ping with GOAWAY
// too_many_pings (grpc-js reports RESOURCE_EXHAUSTED "Bandwidth exhausted"); data it sends clears the count.
//
// One file, every server started at once, every case in parallel: the file takes about 6 minutes.
// - With Fairway's defaults, a server stream silent for 345 s (pings at 10 s, 20 s and 330 s) and one with a
//   message every 15 s (a ping in each quiet stretch) both end with their reply, on all three servers.
// - A plain 10 s keepalive (Fairway's old default, grpc-js's fixed interval) is refused by all three.
// - A server frozen (SIGSTOP) 2 s into a silent stream is detected within seconds (ping after 10 s of quiet,
//   5 s to answer); one frozen after the two early pings of a long silence is detected by the next ping the
//   servers allow, about 330 s into the call: both long before the call's 20-minute deadline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, makeGenericClientConstructor, status, type Client } from '@grpc/grpc-js';
import { startGoPeer, startCcorePeer, startJavaPeer, buildGoPeers, buildJavaPeer, type PeerProcess } from '@fairway/testing';
import { createClient, type FairwayOptions } from 'fairway-grpc';
import { KEEPALIVE_DEFAULTS } from '@fairway/grpc';

// fairway.interop.Silent/Wait: a google.protobuf.StringValue each way (field 1, a short string).
const encode = (s: string): Buffer => {
  const v = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([0x0a, v.length]), v]);
};
const decode = (b: Buffer): string => (b.length >= 2 && b[0] === 0x0a ? b.subarray(2, 2 + b[1]!).toString('utf8') : '');
const SilentClient = makeGenericClientConstructor(
  {
    Wait: {
      path: '/fairway.interop.Silent/Wait',
      requestStream: false,
      responseStream: true,
      requestSerialize: encode,
      requestDeserialize: decode,
      responseSerialize: encode,
      responseDeserialize: decode,
    },
  },
  'Silent',
);

interface WaitOutcome {
  readonly messages: readonly string[];
  readonly code: number;
  readonly details: string;
  readonly elapsedMs: number;
  /** Date.now() when the stream ended. */
  readonly endedAt: number;
}

const clients: Client[] = [];
const peers: PeerProcess[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(peers.map((p) => p.kill('SIGKILL')));
});

/**
 * Opens Silent.Wait(`request`) on `peer` with a fresh Fairway client on its own connection (`connection` names
 * it: clients with equal options would share one) and resolves when the stream ends.
 */
function silentStream(peer: PeerProcess, request: string, connection: string, options: FairwayOptions = {}): Promise<WaitOutcome> {
  const client = createClient(SilentClient, `static:///${peer.address}`, credentials.createInsecure(), {
    zone: 'a',
    logger: { info() {}, warn() {}, error() {} },
    channelOptions: { 'fairway.test.connection': connection },
    ...options,
  }) as unknown as Client & { Wait(req: string, opts: { deadline: number }): NodeJS.EventEmitter };
  clients.push(client);
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const messages: string[] = [];
    const stream = client.Wait(request, { deadline: Date.now() + 20 * 60_000 });
    stream.on('data', (m: string) => messages.push(m));
    stream.on('error', () => {}); // the status event carries it
    stream.on('status', (s: { code: number; details: string }) => resolve({ messages, code: s.code, details: s.details, elapsedMs: Date.now() - startedAt, endedAt: Date.now() }));
  });
}

/** Freezes `peer` `afterMs` from now; resolves the time it froze. */
function freezeAfter(peer: PeerProcess, afterMs: number): Promise<number> {
  return new Promise((resolve) =>
    setTimeout(() => {
      peer.stop();
      resolve(Date.now());
    }, afterMs),
  );
}

before(async () => {
  // The first run on a machine builds the Go and Java peers (minutes; cached afterwards).
  await Promise.all([buildGoPeers(), buildJavaPeer()]);
  peers.push(
    ...(await Promise.all([
      startGoPeer({ id: 'go-default' }),
      startCcorePeer(),
      startJavaPeer(),
      startGoPeer({ id: 'go-freeze-early' }),
      startGoPeer({ id: 'go-freeze-late' }),
    ])),
  );
}, { timeout: 900_000 });

test('default keepalive: no too_many_pings from default grpc-go, C-core and grpc-java servers over silent and chatty streams of 345 s; frozen peers are detected', { timeout: 700_000 }, async () => {
  assert.deepEqual({ ...KEEPALIVE_DEFAULTS }, { timeMs: 10_000, timeoutMs: 5_000, serverMinIntervalMs: 310_000 });
  const [go, ccore, java, freezeEarly, freezeLate] = peers as [PeerProcess, PeerProcess, PeerProcess, PeerProcess, PeerProcess];
  const servers = [go, ccore, java];

  const silent = servers.map((p) => silentStream(p, '345', 'silent'));
  const chatty = servers.map((p) => silentStream(p, '345/15', 'chatty'));
  const eager = servers.map((p) => silentStream(p, '150', 'eager', { keepalive: { timeMs: 10_000, timeoutMs: 5_000, serverMinIntervalMs: 10_000 } }));
  const early = silentStream(freezeEarly, '900', 'freeze-early');
  const earlyFrozenAt = freezeAfter(freezeEarly, 2_000);
  const late = silentStream(freezeLate, '900', 'freeze-late');
  const lateFrozenAt = freezeAfter(freezeLate, 40_000);

  const eagerOutcomes = await Promise.all(eager);
  eagerOutcomes.forEach((o, i) => {
    assert.equal(o.code, status.RESOURCE_EXHAUSTED, `${servers[i]!.kind} server, a plain 10 s keepalive: ${JSON.stringify(o)}`);
    assert.ok(o.elapsedMs < 120_000, `${servers[i]!.kind}: closed only after ${o.elapsedMs} ms`);
  });

  const e = await early;
  const earlyDetected = e.endedAt - (await earlyFrozenAt);
  assert.equal(e.code, status.UNAVAILABLE, `Go server frozen 2 s into a silent stream: ${JSON.stringify(e)}`);
  assert.ok(earlyDetected < 40_000, `frozen 2 s into the call, detected ${earlyDetected} ms after it froze`);

  const outcomes = await Promise.all([...silent, ...chatty]);
  outcomes.forEach((o, i) => {
    const server = servers[i % 3]!;
    const what = `${server.kind} server, ${i < 3 ? 'silent' : 'chatty'} stream, default keepalive`;
    assert.equal(o.code, status.OK, `${what}: ${JSON.stringify(o)}\n${server.stderr().slice(-1000)}`);
    assert.equal(o.messages.at(-1), 'ok', what);
    if (i >= 3) assert.ok(o.messages.length >= 20, `${what}: ${o.messages.length} messages`);
    assert.ok(o.elapsedMs >= 344_000, `${what}: ended after ${o.elapsedMs} ms, before the call was over`);
  });

  const l = await late;
  const lateDetected = l.endedAt - (await lateFrozenAt);
  assert.equal(l.code, status.UNAVAILABLE, `Go server frozen 40 s into a silent stream: ${JSON.stringify(l)}`);
  // Pings at 10 s and 20 s used the early allowance; the next one the servers accept goes out at 330 s.
  assert.ok(lateDetected >= 270_000 && lateDetected < 400_000, `frozen 40 s into the call, detected ${lateDetected} ms after it froze`);
});
