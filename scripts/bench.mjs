#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --only B1,B5]`: builds the Fairway packages the benchmark loads (tsup, via
// turbo), compiles bench/*.ts to bench/dist (compiled JavaScript: under tsx a pick costs ~10x more), then runs
// bench/dist/run.js with the given flags. FAIRWAY_BENCH_SKIP_BUILD=1 skips building the packages.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);

function run(cmd, cmdArgs, label) {
  // The build's output goes to stderr: stdout carries only the benchmark's tables.
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) {
    console.error(`bench: ${label} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
    process.exit(1);
  }
}

if (!process.env.FAIRWAY_BENCH_SKIP_BUILD && !args.includes('--help') && !args.includes('-h')) {
  // The packages the bench imports, and (turbo) everything they depend on.
  const filters = ['fairway-grpc', '@fairway/testing', '@fairway/discovery-etcd', '@fairway/discovery-kubernetes'].flatMap((f) => ['--filter', f]);
  process.stderr.write('bench: building packages (turbo, cached when unchanged)\n');
  run(process.execPath, [join(root, 'node_modules/turbo/bin/turbo'), 'run', 'build', '--output-logs=errors-only', ...filters], 'building the packages');
}

const { build } = await import('tsup');
await build({
  entry: { run: 'bench/run.ts', backend: 'bench/backend.ts', 'cold-start': 'bench/cold-start.ts', 'b8-client': 'bench/b8-client.ts' },
  outDir: 'bench/dist',
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

const r = spawnSync(process.execPath, ['--expose-gc', join(root, 'bench/dist/run.js'), ...args], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
