/**
 * Child process of leak-main.ts: N in-process Echo backends (argv[2], default 8) on loopback, so that the
 * measured client process does only client work. Prints one JSON line `[{id,address}]`; exits when its
 * stdin closes (the parent died or closed it).
 */
import { startEchoBackend } from '@fairway/testing';

const n = Number(process.argv[2] ?? 8);
const backends = await Promise.all(Array.from({ length: n }, (_, i) => startEchoBackend({ id: `m${i}` })));
process.stdout.write(`${JSON.stringify(backends.map((b) => ({ id: b.id, address: b.address })))}\n`);
process.stdin.resume();
process.stdin.on('close', () => {
  for (const b of backends) b.forceStop();
  process.exit(0);
});
process.stdin.on('end', () => {
  for (const b of backends) b.forceStop();
  process.exit(0);
});
