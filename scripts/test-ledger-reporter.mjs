// A node:test reporter that writes one JSON line per finished test (file, leaf or suite, pass or fail) so
// scripts/run-tests.mjs can tell which files failed and count results across a re-run.
export default async function* ledgerReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const d = event.data;
    const suite = d.details?.type === 'suite';
    yield `${JSON.stringify({ file: d.file ?? '', nesting: d.nesting, suite, ok: event.type === 'test:pass', skip: Boolean(d.skip || d.todo) })}\n`;
  }
}
