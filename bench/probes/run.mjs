#!/usr/bin/env node
// `node bench/probes/run.mjs [--node-flag ...] -- <probe flags>`: compiles the probes (tsup) into bench/probes/dist and
// runs `client-path.js` with compiled JavaScript (under tsx a pick costs ~10x more). Build the packages first
// (`npm run build`): the probe loads @fairway/grpc's dist. Node flags before `--` (e.g. --cpu-prof) go to node.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('../..', import.meta.url));
const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const nodeFlags = sep < 0 ? [] : argv.slice(0, sep);
const probeArgs = sep < 0 ? argv : argv.slice(sep + 1);
const script = process.env.FAIRWAY_PROBE ?? 'client-path';

const { build } = await import('tsup');
await build({
  entry: {
    'client-path': 'bench/probes/client-path.ts',
    'probe-server': 'bench/probes/probe-server.ts',
    'profile-summary': 'bench/probes/profile-summary.ts',
    'picker-cost': 'bench/probes/picker-cost.ts',
    'b1-share-bound': 'bench/probes/b1-share-bound.ts',
  },
  outDir: 'bench/probes/dist',
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  clean: true,
  splitting: false,
  skipNodeModulesBundle: true,
  silent: true,
  config: false,
  tsconfig: 'tsconfig.json',
});
const r = spawnSync(process.execPath, [...nodeFlags, join(root, `bench/probes/dist/${script}.js`), ...probeArgs], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
