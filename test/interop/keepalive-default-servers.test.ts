// Fairway's default keepalive against servers with DEFAULT settings in three gRPC implementations: grpc-go
// (interop/go), C-core (grpcio, interop/python) and grpc-java (Netty, interop/java). Each allows a client
// ping no more often than every 5 minutes while it sends nothing and answers a third early ping with GOAWAY
// too_many_pings, which grpc-js reports as RESOURCE_EXHAUSTED ("Bandwidth exhausted").
//
// One file, every server started at once, every case in parallel, so the whole file takes about 5.5 minutes:
// - with Fairway's defaults a server stream that stays silent for 330 s (past the first ping at 310 s) ends
//   with its reply on all three;
// - a 10 s keepalive (the old default) is refused by all three within a minute: the servers do enforce;
// - a server frozen under a silent stream (SIGSTOP) is still detected by the default keepalive (310 s + 5 s),
//   long before the call's 20-minute deadline.
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
}

const clients: Client[] = [];
const peers: PeerProcess[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(peers.map((p) => p.kill('SIGKILL')));
});

/** Opens Silent.Wait(seconds) on `peer` with a fresh Fairway client and resolves when the stream ends. */
function silentStream(peer: PeerProcess, seconds: number, options: FairwayOptions = {}, onStarted?: () => void): Promise<WaitOutcome> {
  const client = createClient(SilentClient, `static:///${peer.address}`, credentials.createInsecure(), {
    zone: 'a',
    logger: { info() {}, warn() {}, error() {} },
    ...options,
  }) as unknown as Client & { Wait(req: string, opts: { deadline: number }): NodeJS.EventEmitter & { cancel(): void } };
  clients.push(client);
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const messages: string[] = [];
    const stream = client.Wait(String(seconds), { deadline: Date.now() + 20 * 60_000 });
    stream.on('metadata', () => onStarted?.());
    stream.on('data', (m: string) => messages.push(m));
    stream.on('error', () => {}); // the status event carries it
    stream.on('status', (s: { code: number; details: string }) => resolve({ messages, code: s.code, details: s.details, elapsedMs: Date.now() - startedAt }));
    if (onStarted) setTimeout(onStarted, 2_000).unref(); // no headers come on a silent stream: start the clock after 2 s
  });
}

before(async () => {
  // First run on a machine builds the Go and Java peers (minutes, cached afterwards).
  await Promise.all([buildGoPeers(), buildJavaPeer()]);
  peers.push(...(await Promise.all([startGoPeer({ id: 'go-default' }), startCcorePeer(), startJavaPeer(), startGoPeer({ id: 'go-to-freeze' })])));
}, { timeout: 900_000 });

test('default keepalive: no too_many_pings from default grpc-go, C-core and grpc-java servers over a 330 s silent stream; a frozen peer is still detected', { timeout: 600_000 }, async () => {
  assert.deepEqual({ ...KEEPALIVE_DEFAULTS }, { timeMs: 310_000, timeoutMs: 5_000 });
  const [go, ccore, java, toFreeze] = peers as [PeerProcess, PeerProcess, PeerProcess, PeerProcess];
  const servers = [go, ccore, java];

  const silent = servers.map((p) => silentStream(p, 330));
  // The old default, 10 s: each server closes the connection after a few pings.
  const eager = servers.map((p) => silentStream(p, 150, { keepalive: { timeMs: 10_000, timeoutMs: 5_000 } }));
  // A half-open peer under a silent stream: frozen once the call is on its way.
  let frozenAt = 0;
  const frozen = silentStream(toFreeze, 900, {}, () => {
    if (frozenAt === 0) {
      frozenAt = Date.now();
      toFreeze.stop();
    }
  });

  const eagerOutcomes = await Promise.all(eager);
  eagerOutcomes.forEach((o, i) => {
    assert.equal(o.code, status.RESOURCE_EXHAUSTED, `${servers[i]!.kind} server with a 10 s client keepalive: ${JSON.stringify(o)}`);
    assert.ok(o.elapsedMs < 120_000, `${servers[i]!.kind}: closed only after ${o.elapsedMs} ms`);
  });

  const silentOutcomes = await Promise.all(silent);
  silentOutcomes.forEach((o, i) => {
    const kind = servers[i]!.kind;
    assert.equal(o.code, status.OK, `${kind} server, default keepalive: ${JSON.stringify(o)}\n${servers[i]!.stderr().slice(-1000)}`);
    assert.deepEqual(o.messages, ['ok'], kind);
    assert.ok(o.elapsedMs >= 329_000, `${kind}: ended after ${o.elapsedMs} ms, before the silence was over`);
  });

  const f = await frozen;
  const detectedAfter = Date.now() - frozenAt;
  assert.equal(f.code, status.UNAVAILABLE, `frozen Go server: ${JSON.stringify(f)}`);
  // The first ping goes out 310 s after the call started and is given 5 s: detection well before the deadline.
  assert.ok(detectedAfter >= 300_000 && detectedAfter < 400_000, `frozen server detected ${detectedAfter} ms after it froze`);
});
