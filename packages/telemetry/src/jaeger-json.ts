/**
 * Jaeger's JSON trace format (what Jaeger's query API `/api/traces` returns and what the Jaeger UI opens with
 * "Upload JSON file"): its types, a reader that checks the shape, and a merge for several processes' files
 * (one trace across services). The exporter that writes such a file is in `@fairway/telemetry-setup`.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** One tag (span tag, process tag or log field) in Jaeger's JSON format. */
export interface JaegerTag {
  readonly key: string;
  readonly type: 'string' | 'bool' | 'int64' | 'float64' | 'binary';
  readonly value: string | number | boolean;
}
/** A span reference; Fairway writes `CHILD_OF` for the parent. */
export interface JaegerReference {
  readonly refType: 'CHILD_OF' | 'FOLLOWS_FROM';
  readonly traceID: string;
  readonly spanID: string;
}
/** A span event, as a Jaeger log. `timestamp` in microseconds since the epoch. */
export interface JaegerLog {
  readonly timestamp: number;
  readonly fields: JaegerTag[];
}
/** One span. `startTime` in microseconds since the epoch, `duration` in microseconds. */
export interface JaegerSpan {
  readonly traceID: string;
  readonly spanID: string;
  readonly flags: number;
  readonly operationName: string;
  readonly references: JaegerReference[];
  readonly startTime: number;
  readonly duration: number;
  readonly tags: JaegerTag[];
  readonly logs: JaegerLog[];
  processID: string;
  readonly warnings: string[] | null;
}
/** A process (one service instance), referenced from spans by `processID`. */
export interface JaegerProcess {
  readonly serviceName: string;
  readonly tags: JaegerTag[];
}
/** One trace. */
export interface JaegerTrace {
  readonly traceID: string;
  readonly spans: JaegerSpan[];
  readonly processes: Record<string, JaegerProcess>;
  readonly warnings: string[] | null;
}
/** A whole file: `{ "data": [trace, ...] }`, as Jaeger's `/api/traces` answers. */
export interface JaegerTraceFile {
  readonly data: JaegerTrace[];
  readonly total: number;
  readonly limit: number;
  readonly offset: number;
  readonly errors: null;
}

function fileOf(traces: JaegerTrace[]): JaegerTraceFile {
  return { data: traces, total: traces.length, limit: 0, offset: 0, errors: null };
}

function writeAtomically(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/**
 * Reads a Jaeger JSON trace file and checks its shape (`data[]` of traces with `traceID`, `spans[]` and
 * `processes`; each span with hex ids, `operationName`, numeric `startTime`/`duration`, typed tags and a
 * `processID` present in `processes`). Throws an error naming the file and the first problem found.
 */
export function readJaegerJsonFile(path: string): JaegerTraceFile {
  const text = readFileSync(path, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not JSON: ${(error as Error).message}`);
  }
  const problem = jaegerFormatProblem(parsed);
  if (problem) throw new Error(`${path} is not a Jaeger JSON trace file: ${problem}`);
  return parsed as JaegerTraceFile;
}

const TAG_TYPES = new Set(['string', 'bool', 'int64', 'float64', 'binary']);

/** The first way `value` departs from Jaeger's JSON trace format, or undefined when it conforms. */
export function jaegerFormatProblem(value: unknown): string | undefined {
  const v = value as { data?: unknown } | null;
  if (!v || typeof v !== 'object' || !Array.isArray(v.data)) return 'top level must be an object with a "data" array';
  for (const [ti, trace] of (v.data as unknown[]).entries()) {
    const t = trace as Partial<JaegerTrace> | null;
    if (!t || typeof t.traceID !== 'string' || !/^[0-9a-f]{1,32}$/.test(t.traceID)) return `data[${ti}].traceID must be hex`;
    if (!Array.isArray(t.spans)) return `data[${ti}].spans must be an array`;
    if (!t.processes || typeof t.processes !== 'object') return `data[${ti}].processes must be an object`;
    for (const [pid, p] of Object.entries(t.processes)) {
      if (typeof p?.serviceName !== 'string' || !Array.isArray(p.tags)) return `data[${ti}].processes.${pid} needs serviceName and tags`;
    }
    for (const [si, s] of t.spans.entries()) {
      const where = `data[${ti}].spans[${si}]`;
      if (s.traceID !== t.traceID) return `${where}.traceID differs from its trace's`;
      if (typeof s.spanID !== 'string' || !/^[0-9a-f]{16}$/.test(s.spanID)) return `${where}.spanID must be 16 hex digits`;
      if (typeof s.operationName !== 'string') return `${where}.operationName must be a string`;
      if (!Number.isInteger(s.startTime) || !Number.isInteger(s.duration) || s.duration < 0) return `${where} needs integer startTime and duration (microseconds)`;
      if (!Array.isArray(s.references)) return `${where}.references must be an array`;
      for (const r of s.references) {
        if ((r.refType !== 'CHILD_OF' && r.refType !== 'FOLLOWS_FROM') || typeof r.spanID !== 'string' || typeof r.traceID !== 'string') {
          return `${where}.references has a malformed entry`;
        }
      }
      if (!Array.isArray(s.tags)) return `${where}.tags must be an array`;
      for (const tg of s.tags) {
        if (typeof tg.key !== 'string' || !TAG_TYPES.has(tg.type)) return `${where}.tags has a malformed tag`;
      }
      if (!Array.isArray(s.logs)) return `${where}.logs must be an array`;
      if (typeof s.processID !== 'string' || !(s.processID in t.processes)) return `${where}.processID is not in processes`;
    }
  }
  return undefined;
}

/**
 * Merges several Jaeger JSON files (e.g. one per process of a pipeline) into one: traces with the same id
 * become one trace, processes are renumbered, a span present in several files is kept once. Writes the result
 * to `output` when given, and returns it.
 */
export function mergeJaegerJsonFiles(inputs: readonly string[], output?: string): JaegerTraceFile {
  const merged = new Map<string, { spans: Map<string, JaegerSpan>; processes: Map<string, { id: string; process: JaegerProcess }>; warnings: string[] }>();
  for (const input of inputs) {
    const file = readJaegerJsonFile(input);
    for (const trace of file.data) {
      let m = merged.get(trace.traceID);
      if (!m) {
        m = { spans: new Map(), processes: new Map(), warnings: [] };
        merged.set(trace.traceID, m);
      }
      if (trace.warnings) m.warnings.push(...trace.warnings);
      const idMap = new Map<string, string>();
      for (const [pid, process] of Object.entries(trace.processes)) {
        const key = JSON.stringify([process.serviceName, process.tags]);
        let entry = m.processes.get(key);
        if (!entry) {
          entry = { id: `p${m.processes.size + 1}`, process };
          m.processes.set(key, entry);
        }
        idMap.set(pid, entry.id);
      }
      for (const span of trace.spans) {
        if (!m.spans.has(span.spanID)) m.spans.set(span.spanID, { ...span, processID: idMap.get(span.processID) ?? span.processID });
      }
    }
  }
  const traces: JaegerTrace[] = [...merged].map(([traceID, m]) => ({
    traceID,
    spans: [...m.spans.values()],
    processes: Object.fromEntries([...m.processes.values()].map((p) => [p.id, p.process])),
    warnings: m.warnings.length > 0 ? m.warnings : null,
  }));
  const result = fileOf(traces);
  if (output) writeAtomically(output, JSON.stringify(result));
  return result;
}
