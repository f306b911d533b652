/**
 * Compiles the pipeline's processes once per demo run (esbuild), so each of the ~17 processes starts with plain
 * `node` instead of a TypeScript loader: tsx hooks every module load, which makes a process's start-up
 * (grpc-js, etcd3, OpenTelemetry, ...) about 2.5 times more expensive, and the demo starts many processes
 * on a small machine.
 *
 * Fairway's workspace packages are bundled in (from their TypeScript sources when the runner itself runs
 * with `--conditions=fairway:source`, else from their built `dist`); every other package stays external and
 * loads from node_modules. Output goes to `dist/` next to `src/`, so `../proto/...` paths still resolve.
 */
import { build, type Plugin } from 'esbuild';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The processes the demo runs, by entry file (under src/). */
export const ENTRIES = ['feed', 'pricer', 'publisher', 'driver'] as const;
export type Entry = (typeof ENTRIES)[number];

const isWorkspace = (path: string) => path === 'fairway-grpc' || path.startsWith('fairway-grpc/') || path.startsWith('@fairway/');

const externals: Plugin = {
  name: 'node-modules-external',
  setup(b) {
    // Bare imports other than Fairway's own packages load from node_modules at run time.
    b.onResolve({ filter: /^[^./]/ }, (args) => (isWorkspace(args.path) || args.path.startsWith('node:') ? undefined : { path: args.path, external: true }));
  },
};

export interface PipelineBundle {
  /** Absolute path of each entry's compiled file. */
  readonly files: Readonly<Record<Entry, string>>;
  /** Removes the compiled files. */
  remove(): void;
}

/** Compiles the entries into `dist/<entry>-<runId>.js` (plus shared chunks). */
export async function bundlePipeline(runId: string, fromSource: boolean): Promise<PipelineBundle> {
  const outdir = join(PACKAGE_ROOT, 'dist');
  const result = await build({
    entryPoints: ENTRIES.map((e) => join(PACKAGE_ROOT, 'src', `${e}.ts`)),
    outdir,
    entryNames: `[name]-${runId}`,
    chunkNames: `chunk-${runId}-[hash]`,
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: fromSource ? ['fairway:source'] : [],
    plugins: [externals],
    // Bundled CommonJS code (if any) may call require().
    banner: { js: "import { createRequire as __fairwayCreateRequire } from 'node:module'; const require = __fairwayCreateRequire(import.meta.url);" },
    logLevel: 'silent',
    metafile: true,
  });
  const written = Object.keys(result.metafile.outputs).map((f) => join(process.cwd(), f));
  const files = Object.fromEntries(ENTRIES.map((e) => [e, join(outdir, `${e}-${runId}.js`)])) as Record<Entry, string>;
  return {
    files,
    remove() {
      for (const f of written) rmSync(f, { force: true });
    },
  };
}
