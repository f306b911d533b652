/**
 * Test-only: turns a README example (TypeScript, ESM, top-level await) into plain JavaScript that `node` runs
 * without tsx and without the `fairway:source` condition, once as an ES module (`.mjs`) and once as CommonJS
 * (`.cjs`, whose imports become `require()` calls and whose body runs in an async function, since CommonJS has no
 * top-level await). The files are written under the repository's node_modules/.cache, so `fairway-grpc` and
 * `@fairway/*` resolve as they would for a user: to each package's built `dist/` through its "exports".
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import ts from 'typescript';

export type ModuleSystem = 'cjs' | 'esm';

const root = new URL('../../', import.meta.url).pathname;
export const compiledExamplesDir = join(root, 'node_modules', '.cache', 'fairway-module-systems');

/** Compiles `examples/readme/<file>.ts` for `system` and returns the path of the JavaScript file to run. */
export function compileExample(file: string, system: ModuleSystem): string {
  const source = readFileSync(join(root, file), 'utf8');
  let text = source;
  if (system === 'cjs') {
    // Imports stay at the top; everything else becomes the body of an async main, which is what a CommonJS
    // user writes when the code awaits.
    const sf = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const imports = sf.statements.filter(ts.isImportDeclaration).map((s) => s.getFullText(sf));
    const body = sf.statements.filter((s) => !ts.isImportDeclaration(s)).map((s) => s.getFullText(sf));
    text = `${imports.join('')}\n(async () => {\n${body.join('')}\n})().catch((e) => {\n  console.error(e);\n  process.exit(1);\n});\n`;
  }
  const out = ts.transpileModule(text, {
    fileName: basename(file),
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: system === 'cjs' ? ts.ModuleKind.CommonJS : ts.ModuleKind.ESNext,
      esModuleInterop: true,
      verbatimModuleSyntax: false,
    },
    reportDiagnostics: true,
  });
  if (out.diagnostics && out.diagnostics.length > 0) {
    throw new Error(`${file}: ${out.diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`);
  }
  mkdirSync(compiledExamplesDir, { recursive: true });
  const target = join(compiledExamplesDir, `${basename(file, '.ts')}.${system === 'cjs' ? 'cjs' : 'mjs'}`);
  writeFileSync(target, out.outputText);
  return target;
}
