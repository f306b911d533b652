#!/usr/bin/env node
// Is node_modules a complete install of package-lock.json? Exits 0 when it is, 1 (printing what is wrong, one
// line each, at most 10) when it is missing, incomplete or out of date. Uses only Node's own modules, so it runs
// whatever state node_modules is in.
//
// Why: an `npm ci` interrupted by Ctrl-C leaves a partial node_modules, and a check for the folder alone then
// skips the install forever; the demo later dies with ERR_MODULE_NOT_FOUND (issue 14 item 3). npm writes its
// own record of a finished install, node_modules/.package-lock.json, at the very end, after every package is
// unpacked, its scripts run and its bins linked; `npm ci` deletes node_modules first, so an interrupted `npm ci`
// never leaves one behind. This check wants that record, agreeing with package-lock.json, and every package the
// lock lists for this platform (workspace links included) on disk at its locked version with its bins linked.
//
// Usage: node scripts/check-install.mjs [<project dir>]   (default: the repository root)
import { existsSync, lstatSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const dir = resolve(process.argv[2] ?? new URL('..', import.meta.url).pathname);

/** glibc or musl (only asked on Linux; asking builds a diagnostic report, so once). */
let libcOfThisMachine;
function thisLibc() {
  if (libcOfThisMachine === undefined) {
    const header = process.report?.getReport?.().header ?? {};
    libcOfThisMachine = header.glibcVersionRuntime ? 'glibc' : 'musl';
  }
  return libcOfThisMachine;
}

/** Whether a lock entry is meant for this machine (optional platform packages such as @esbuild/linux-x64). */
function forThisPlatform(entry) {
  const fits = (list, value) => {
    if (!Array.isArray(list) || list.length === 0) return true;
    if (list.includes(`!${value}`)) return false;
    const positive = list.filter((x) => !x.startsWith('!'));
    return positive.length === 0 || positive.includes(value);
  };
  return fits(entry.os, process.platform) && fits(entry.cpu, process.arch) && (process.platform !== 'linux' || !entry.libc || fits(entry.libc, thisLibc()));
}

/** What is wrong with the install in `dir`: empty when it is complete. */
export function installProblems(projectDir) {
  const lockPath = join(projectDir, 'package-lock.json');
  if (!existsSync(lockPath)) return [`no package-lock.json in ${projectDir}`];
  const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
  if (!existsSync(join(projectDir, 'node_modules'))) return ['node_modules is missing'];
  const hiddenPath = join(projectDir, 'node_modules', '.package-lock.json');
  if (!existsSync(hiddenPath)) {
    return ['node_modules/.package-lock.json is missing: the last npm install or npm ci did not finish'];
  }
  const hidden = JSON.parse(readFileSync(hiddenPath, 'utf8')).packages ?? {};
  const problems = [];
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    if (!path.includes('node_modules/')) continue; // the root and workspace folders themselves
    if (!forThisPlatform(entry)) continue;
    // An optional package npm could not install (a failed native build, say) is left out of its record on
    // purpose: not a problem, and `npm ci` would not change it.
    if (entry.optional && hidden[path] === undefined) continue;
    const where = join(projectDir, path);
    if (entry.link) {
      let ok = false;
      try {
        ok = lstatSync(where).isSymbolicLink() && statSync(where).isDirectory();
      } catch {
        ok = false;
      }
      if (!ok) problems.push(`${path}: the link to ${entry.resolved} is missing`);
      continue;
    }
    const pj = join(where, 'package.json');
    if (!existsSync(pj)) {
      problems.push(`${path}: not installed`);
      continue;
    }
    let version;
    try {
      version = JSON.parse(readFileSync(pj, 'utf8')).version;
    } catch {
      problems.push(`${path}: package.json is unreadable (a partial unpack?)`);
      continue;
    }
    if (entry.version !== undefined && version !== entry.version) {
      problems.push(`${path}: ${version} installed, ${entry.version} locked`);
      continue;
    }
    if (hidden[path] === undefined || (entry.version !== undefined && hidden[path].version !== entry.version)) {
      problems.push(`${path}: npm's record of the install (node_modules/.package-lock.json) does not list ${entry.version ?? 'it'}`);
      continue;
    }
    // Bins are linked last: a top-level package whose bins are missing was not finished.
    if (entry.bin && path.split('node_modules/').length === 2) {
      for (const name of Object.keys(entry.bin)) {
        if (!existsSync(join(projectDir, 'node_modules', '.bin', name))) problems.push(`node_modules/.bin/${name} (from ${path}) is missing`);
      }
    }
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('check-install.mjs')) {
  const problems = installProblems(dir);
  if (problems.length > 0) {
    for (const p of problems.slice(0, 10)) console.log(`  ${p}`);
    if (problems.length > 10) console.log(`  ... and ${problems.length - 10} more`);
    process.exit(1);
  }
}
