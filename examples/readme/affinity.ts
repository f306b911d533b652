// example: examples/readme/affinity.ts
// Affinity by key with bounded load: each player's calls go to the same server (its state is warm there), a hot
// player spills to the next server once its owner carries more than 1.25x the mean, and a client can connect to
// a deterministic subset of a large fleet.
import { credentials, Metadata } from '@grpc/grpc-js';
import { createClient } from 'fairway-grpc';
import { loadEcho, startEchoBackend } from '@fairway/testing';

const servers = await Promise.all(['a', 'b', 'c', 'd'].map((id) => startEchoBackend({ id, serviceTimeMs: 20 })));
const { EchoClient } = loadEcho();
const target = `static:///${servers.map((s) => s.address).join(',')}`;

// Calls that carry the header `x-player-id` follow its value; calls without it are balanced as usual.
const client = createClient(EchoClient, target, credentials.createInsecure(), {
  affinity: { header: 'x-player-id', epsilon: 0.25 }, // at most 1.25x the mean calls in flight per server
});
const play = (player: string) =>
  new Promise<string>((resolve, reject) => {
    const md = new Metadata();
    md.set('x-player-id', player);
    client.Unary({ message: 'move' }, md, { deadline: Date.now() + 5_000 }, (err: Error | null, r: { server_id: string }) =>
      err ? reject(err) : resolve(r.server_id),
    );
  });

for (let i = 0; i < 8; i++) await play(`warm-up-${i}`); // connect to every server first
const home: Record<string, string[]> = {};
for (const player of ['ann', 'bob', 'cy', 'dee', 'eve', 'fay']) {
  home[player] = [...new Set(await Promise.all([1, 2, 3].map(() => play(player))))]; // 3 at once: one server each
}
const whale = await Promise.all(Array.from({ length: 40 }, () => play('whale'))); // 40 at once: spread at the bound
const whaleServers = Object.fromEntries([...new Set(whale)].map((s) => [s, whale.filter((x) => x === s).length]));

// Deterministic subsetting: client 0 of 2 connects to its own half of the fleet (a window of 2 servers).
const half = createClient(EchoClient, target, credentials.createInsecure(), { subset: { size: 2, clientIndex: 0, clientCount: 2 } });
const used = new Set<string>();
for (let i = 0; i < 20; i++) {
  used.add(await new Promise<string>((res, rej) => half.Unary({ message: 'x' }, (e: Error | null, r: { server_id: string }) => (e ? rej(e) : res(r.server_id)))));
}

console.log(JSON.stringify({ home, whaleServers, subset: [...used].sort() }));
client.close();
half.close();
servers.forEach((s) => s.forceStop());
