#!/usr/bin/env node
/** The `fairway` executable: runs the command line and exits with its code (see `EXIT`). */
import { runCli } from './cli.js';

const interrupted = new Promise<NodeJS.Signals>((resolve) => {
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => resolve(s));
});

// watch and register run until a signal: keep the process alive even when every socket and timer of the
// libraries underneath is unref'd.
const keepAlive = setInterval(() => {}, 1 << 30);

runCli(process.argv.slice(2), {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  interrupted,
}).then(
  (code) => {
    clearInterval(keepAlive);
    process.exitCode = code;
    // Sources and etcd clients are closed by now; exit even if a library left a handle open.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (e) => {
    process.stderr.write(`fairway: ${String(e)}\n`);
    process.exit(1);
  },
);
