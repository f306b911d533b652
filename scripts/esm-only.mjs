// Which dependencies of a workspace package cannot be loaded with require() as CommonJS, and the tsup
// configuration every package builds with so that its CommonJS output never require()s one of them.
//
// Why: an ESM-only package (e.g. p-retry) require()d from CommonJS either throws (Node < 20.19 / < 22.12) or, where
// Node allows require(esm), returns the module namespace; the bundler's interop then takes that namespace for the
// default export, and `pRetry(...)` is "not a function" (issue 14, item 1). The CommonJS build therefore bundles
// every ESM-only dependency it imports statically (esbuild turns it into CommonJS), while the ESM build keeps it an
// ordinary external import. A dependency loaded on first use with `await import()` works from both module systems
// and stays external when the package says so (`lazyDependencies`).
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The module format Node gives `file`: by extension, else by the nearest package.json's "type". */
export function formatOfFile(file) {
  if (file.endsWith('.mjs') || file.endsWith('.mts')) return 'esm';
  if (file.endsWith('.cjs') || file.endsWith('.cts') || file.endsWith('.json') || file.endsWith('.node')) return 'cjs';
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      const type = JSON.parse(readFileSync(pj, 'utf8')).type;
      return type === 'module' ? 'esm' : 'cjs';
    }
    if (dirname(dir) === dir) return 'cjs';
  }
}

/** The folder of package `name` as Node's resolution from `fromDir` finds it (node_modules of each parent). */
function packageFolder(fromDir, name) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The target of an "exports" entry for require(): the first of the conditions require, node, default that applies. */
function exportTarget(entry) {
  if (typeof entry === 'string' || entry === null) return entry;
  if (Array.isArray(entry)) {
    for (const e of entry) {
      const t = exportTarget(e);
      if (t) return t;
    }
    return null;
  }
  for (const [condition, value] of Object.entries(entry)) {
    if (condition === 'require' || condition === 'node' || condition === 'default') {
      const t = exportTarget(value);
      if (t) return t;
    }
  }
  return null;
}

/**
 * How `require(name)` from `packageDir` would load `name`: 'cjs', 'esm' (Node would have to require() an ES
 * module), 'no-require-entry' (its "exports" offer nothing to require) or 'missing' (not installed). Resolved by
 * hand with exactly the conditions require() uses, so custom conditions of the running process (the tests'
 * `fairway:source`) do not change the answer.
 */
export function requireFormat(packageDir, name) {
  const folder = packageFolder(packageDir, name);
  if (!folder) return 'missing';
  const pj = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
  let target;
  if (pj.exports !== undefined) {
    const exp = pj.exports;
    const dotEntry = typeof exp === 'object' && exp !== null && !Array.isArray(exp) && Object.keys(exp).some((k) => k.startsWith('.')) ? exp['.'] : exp;
    target = exportTarget(dotEntry ?? null);
    if (!target) return 'no-require-entry';
  } else {
    target = pj.main ?? 'index.js';
  }
  let file = join(folder, target);
  if (!/\.(c|m)?js$|\.json$|\.node$/.test(file)) file = existsSync(`${file}.js`) ? `${file}.js` : join(file, 'index.js');
  return formatOfFile(file);
}

/** The package's runtime dependencies ("dependencies" and "optionalDependencies") that require() cannot load as CommonJS. */
export function esmOnlyDependencies(packageDir) {
  const pj = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  const names = Object.keys({ ...pj.dependencies, ...pj.optionalDependencies });
  return names.filter((n) => ['esm', 'no-require-entry'].includes(requireFormat(packageDir, n))).sort();
}

/**
 * The tsup configuration of a workspace package: ESM and CommonJS builds from the same entries, declarations for
 * both, and ESM-only dependencies bundled into the CommonJS build (see the top of this file).
 *
 * @param {string} packageDir the package's folder (where its package.json is)
 * @param {{ entry?: string[], lazyDependencies?: string[], esbuildOptions?: (o: any, ctx: { format: string }) => void }} [options]
 *   entry: entry files (default ['src/index.ts']); lazyDependencies: ESM-only dependencies the package loads only
 *   with `await import()`, left external in both builds; esbuildOptions: passed on to tsup.
 */
export function fairwayTsupConfig(packageDir, options = {}) {
  const entry = options.entry ?? ['src/index.ts'];
  const lazy = new Set(options.lazyDependencies ?? []);
  const bundledIntoCjs = esmOnlyDependencies(packageDir).filter((n) => !lazy.has(n));
  // removeNodeProtocol: false, because `node:test` exists only with its prefix (there is no bare `test` built-in) and
  // every Node this supports (>= 20) knows the prefix.
  const common = { entry, target: 'node20', sourcemap: true, clean: false, removeNodeProtocol: false, esbuildOptions: options.esbuildOptions };
  return [
    { ...common, format: ['esm'], dts: false },
    { ...common, format: ['cjs'], dts: false, noExternal: bundledIntoCjs },
    // One declaration pass emits both index.d.ts (import) and index.d.cts (require).
    { ...common, format: ['esm', 'cjs'], dts: { only: true } },
  ];
}
