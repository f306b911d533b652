/**
 * Merges the Jaeger JSON trace files that the pipeline's processes wrote (one per process) into one file that
 * Jaeger's UI opens ("Search" -> "JSON File"): spans of the same trace from different processes are joined,
 * so a quote is one trace from the driver through a pricer to a publisher.
 *
 * Format (what Jaeger's UI exports and imports): `{ "data": [ { "traceID", "spans": [...], "processes": {
 * "p1": { "serviceName", "tags" } } } ] }`, each span naming its process by `processID`.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface JaegerSpan {
  traceID: string;
  spanID: string;
  processID: string;
  [k: string]: unknown;
}
interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, unknown>;
  warnings?: unknown;
}

/** Reads every `*.json` in `dir`, merges them by trace id, writes `outFile`; returns the counts. */
export function mergeJaegerFiles(dir: string, outFile: string): { traces: number; spans: number; files: number } {
  const merged = new Map<string, JaegerTrace>();
  let files = 0;
  let spans = 0;
  const names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  names.forEach((name, fileIndex) => {
    let doc: { data?: JaegerTrace[] };
    try {
      doc = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { data?: JaegerTrace[] };
    } catch {
      return; // a process killed mid-write: skip its file
    }
    if (!Array.isArray(doc.data)) return;
    files += 1;
    for (const t of doc.data) {
      if (!t || typeof t.traceID !== 'string' || !Array.isArray(t.spans)) continue;
      let into = merged.get(t.traceID);
      if (!into) {
        into = { traceID: t.traceID, spans: [], processes: {}, warnings: null };
        merged.set(t.traceID, into);
      }
      // Process ids ("p1") are only unique within one file: prefix them with the file's index.
      const rename = (pid: string) => `f${fileIndex}-${pid}`;
      for (const [pid, proc] of Object.entries(t.processes ?? {})) into.processes[rename(pid)] = proc;
      for (const s of t.spans) {
        into.spans.push({ ...s, processID: rename(s.processID) });
        spans += 1;
      }
    }
  });
  writeFileSync(outFile, JSON.stringify({ data: [...merged.values()] }));
  return { traces: merged.size, spans, files };
}
