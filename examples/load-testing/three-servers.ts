// Three Echo servers on loopback for trying `fairway load` (the README's load-testing figures come from it):
// two in zone-a (one answers in 2 ms, one in 40 ms) and one in zone-b (2 ms). Prints the static: target, then
// serves until Ctrl-C. Run from the repository: node --conditions=fairway:source --import tsx examples/load-testing/three-servers.ts
import { startEchoBackend } from '@fairway/testing';

const fast = await startEchoBackend({ id: 'fast', zone: 'zone-a', serviceTimeMs: 2 });
const slow = await startEchoBackend({ id: 'slow', zone: 'zone-a', serviceTimeMs: 40 });
const other = await startEchoBackend({ id: 'other', zone: 'zone-b', serviceTimeMs: 2 });
console.log(`static:///${fast.address}@zone-a,${slow.address}@zone-a,${other.address}@zone-b`);
const stop = () => {
  for (const b of [fast, slow, other]) b.forceStop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
