// No pre-chosen ports (issue 14 item 2): a server binds port 0 and reports the port it got, or retries its bind.
// The pattern that broke the demo ("listen EADDRINUSE" in its pick_first arm) is probe-and-pass: bind port 0,
// read the port, release it, hand the number to someone who binds it later; any process (an outgoing connection,
// say) can take it in between. This scans packages/, test/, examples/ and bench/ for that pattern and for
// helpers/libraries built on it, so it cannot come back unnoticed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const self = 'test/no-preselected-ports.test.ts';

/** Bind port 0, read the port, close the server before anything used it, deliver the number. */
const probeAndRelease = /\.listen\(\s*0\b[\s\S]{0,300}?\.address\(\)[\s\S]{0,200}?\.close\(\s*\(\)\s*=>\s*(resolve|res|ok|done|cb|callback)\(\s*[^)\s]/;
/** Calls of the usual names of such helpers, and npm packages that do it. */
const probeHelpers = /(?<!function\s+)\b(freePort|getFreePort|findFreePort|pickFreePort|getPort|getPorts|findPort)\s*\(/;
const probeLibraries = /from\s+['"](get-port|portfinder|detect-port|find-free-port|tcp-port-used)['"]|require\(\s*['"](get-port|portfinder|detect-port|find-free-port|tcp-port-used)['"]\s*\)/;

/** What the scan flags in `text`: one line per finding. */
export function findProbes(text: string): string[] {
  const found: string[] = [];
  const lineOf = (index: number) => text.slice(0, index).split('\n').length;
  for (const [name, re] of [
    ['binds port 0, reads it and releases it before use', probeAndRelease],
    ['calls a free-port helper', probeHelpers],
    ['uses a free-port library', probeLibraries],
  ] as const) {
    const global = new RegExp(re.source, 'g');
    for (const m of text.matchAll(global)) found.push(`line ${lineOf(m.index ?? 0)}: ${name}`);
  }
  return found;
}

function sources(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (/\.(ts|mts|cts|js|mjs|cjs|py|go|sh)$/.test(name)) out.push(path);
  }
  return out;
}

test('the scan recognizes the probe-and-pass pattern and leaves binding port 0 alone', () => {
  const probe = `export async function freePort() {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(addr.port));
    });
  });
}`;
  assert.equal(findProbes(probe).length, 1);
  assert.equal(findProbes('const port = await freePort();').length, 1);
  assert.equal(findProbes("import getPort from 'get-port';").length, 1);
  const honest = `server.listen(0, '127.0.0.1', () => resolve());
const addr = server.address();
const port = typeof addr === 'object' && addr ? addr.port : 0;
return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };`;
  assert.deepEqual(findProbes(honest), []);
  assert.deepEqual(findProbes("server.bindAsync('127.0.0.1:0', creds, (e, port) => report(port));"), []);
});

test('no probe-and-pass port anywhere in packages/, test/, examples/ and bench/', () => {
  const problems: string[] = [];
  for (const dir of ['packages', 'test', 'examples', 'bench']) {
    for (const file of sources(join(root, dir))) {
      const rel = relative(root, file);
      if (rel === self) continue;
      for (const f of findProbes(readFileSync(file, 'utf8'))) problems.push(`${rel} ${f}`);
    }
  }
  assert.deepEqual(problems, [], 'bind port 0 and use the port you got (or retry the bind on EADDRINUSE)');
});
