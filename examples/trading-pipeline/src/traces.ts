/**
 * Joins the Jaeger JSON trace files that the pipeline's processes wrote (one per process) into one file that
 * Jaeger's UI opens ("Search" -> "JSON File"), with `mergeJaegerJsonFiles` from `@fairway/telemetry`: spans
 * of one trace from different processes become one trace, so a quote reads driver -> pricer -> publisher.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { mergeJaegerJsonFiles, readJaegerJsonFile } from '@fairway/telemetry';

/** Merges every readable `*.json` in `dir` into `outFile`; returns the counts. */
export function mergeJaegerFiles(dir: string, outFile: string): { traces: number; spans: number; files: number } {
  const inputs = readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((n) => join(dir, n))
    .filter((file) => {
      try {
        readJaegerJsonFile(file);
        return true;
      } catch {
        return false; // e.g. a process that was killed before it flushed
      }
    });
  const merged = mergeJaegerJsonFiles(inputs, outFile);
  return { traces: merged.data.length, spans: merged.data.reduce((n, t) => n + t.spans.length, 0), files: inputs.length };
}
