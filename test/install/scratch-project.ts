// The machinery of the tests that install Fairway as a user does: every package packed (`npm pack`), installed
// from the tarballs into a scratch project (registry dependencies from npm's local cache first), and programs
// run there with plain `node`: no workspace links, no tsx, no source condition. Needs `npm run build` first.
// Used by install-footprint.test.ts (issue 20) and test/frameworks/ (issue 19 item 3).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = new URL('../..', import.meta.url).pathname;

/** Workspace folders of what `npm install fairway-grpc` brings. */
export const DEFAULT_PACKAGES = ['core', 'grpc', 'discovery-etcd', 'telemetry', 'server', 'fairway'];

/** The environment for npm and node in a scratch project: nothing of the workspace's `npm test` run. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('npm_') || k === 'NODE_OPTIONS' || k.startsWith('FAIRWAY_') || k.startsWith('OTEL_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export function run(cmd: string, args: string[], cwd: string, env = cleanEnv(), timeout = 300_000): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} in ${cwd} failed (${r.status ?? r.signal}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** Packs each workspace package folder into `work/tarballs/<folder>/`; returns folder -> tarball path. */
export function packPackages(work: string, folders: readonly string[]): Map<string, string> {
  const tarball = new Map<string, string>();
  for (const folder of folders) {
    assert.ok(existsSync(join(repoRoot, 'packages', folder, 'dist', 'index.cjs')), `packages/${folder} is not built (run \`npm run build\` first)`);
    // One folder per package: @fairway/grpc and fairway-grpc both pack to fairway-grpc-0.1.0.tgz.
    const dest = join(work, 'tarballs', folder);
    mkdirSync(dest, { recursive: true });
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dest, '-w', `packages/${folder}`], repoRoot)) as { filename: string }[];
    tarball.set(folder, join(dest, packed[0]!.filename));
  }
  return tarball;
}

/**
 * Makes `work/<name>` a project (`package.json` with `extra` merged in, e.g. `{ type: 'module' }`) and installs
 * `specs` (tarball paths and registry specs) into it, preferring npm's cache. Returns the project folder.
 */
export function installScratch(work: string, name: string, specs: readonly string[], extra: Record<string, unknown> = {}): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `scratch-${name}`, version: '1.0.0', private: true, ...extra }));
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...specs], dir);
  return dir;
}

/** Runs `node file` in a scratch project; returns its last stdout line. */
export function runNode(dir: string, file: string, env: Record<string, string> = {}, timeout = 120_000): string {
  const r = spawnSync(process.execPath, [file], { cwd: dir, env: cleanEnv(env), encoding: 'utf8', timeout });
  assert.equal(r.status, 0, `node ${file} in the scratch project failed (${r.status ?? r.signal}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout.trim().split('\n').pop()!;
}

/**
 * Like runNode but without blocking this process (servers the scratch program calls may live in this
 * process and must keep answering while it runs).
 */
export function runNodeAsync(dir: string, file: string, env: Record<string, string> = {}, timeout = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: dir, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trim().split('\n').pop()!);
      else reject(new Error(`node ${file} in the scratch project failed (${code ?? signal}):\n${err}\n${out}`));
    });
  });
}
