/**
 * A span exporter that writes Jaeger's JSON trace format (what Jaeger's query API `/api/traces` returns and
 * what the Jaeger UI opens with "Upload JSON file"), for machines without a Jaeger. Plus a merge helper for
 * several processes' files (one trace across services) and a reader that checks the shape.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SpanKind, SpanStatusCode, type AttributeValue, type Attributes, type HrTime } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

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

function hrToMicros(t: HrTime): number {
  return t[0] * 1_000_000 + Math.floor(t[1] / 1000);
}

function tag(key: string, value: AttributeValue | undefined): JaegerTag | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return { key, type: 'bool', value };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { key, type: 'int64', value } : { key, type: 'float64', value };
  }
  if (typeof value === 'string') return { key, type: 'string', value };
  return { key, type: 'string', value: JSON.stringify(value) };
}

function tags(attributes: Attributes | undefined): JaegerTag[] {
  const out: JaegerTag[] = [];
  for (const [key, value] of Object.entries(attributes ?? {})) {
    const t = tag(key, value);
    if (t) out.push(t);
  }
  return out;
}

type TraceAccumulator = Map<string, { spans: JaegerSpan[]; processes: Map<string, { id: string; process: JaegerProcess }> }>;

/** Converts one finished span and adds it to `acc` (grouped by trace id; one process per distinct resource). */
function addSpan(acc: TraceAccumulator, span: ReadableSpan): void {
  const ctx = span.spanContext();
  let trace = acc.get(ctx.traceId);
  if (!trace) {
    trace = { spans: [], processes: new Map() };
    acc.set(ctx.traceId, trace);
  }
  const resourceAttrs = span.resource?.attributes ?? {};
  const serviceName = String(resourceAttrs['service.name'] ?? 'unknown_service');
  const processTags = tags(Object.fromEntries(Object.entries(resourceAttrs).filter(([k]) => k !== 'service.name')));
  const processKey = JSON.stringify([serviceName, processTags]);
  let proc = trace.processes.get(processKey);
  if (!proc) {
    proc = { id: `p${trace.processes.size + 1}`, process: { serviceName, tags: processTags } };
    trace.processes.set(processKey, proc);
  }
  const spanTags = tags(span.attributes);
  if (span.kind !== SpanKind.INTERNAL) spanTags.push({ key: 'span.kind', type: 'string', value: SpanKind[span.kind].toLowerCase() });
  if (span.status.code !== SpanStatusCode.UNSET) {
    spanTags.push({ key: 'otel.status_code', type: 'string', value: SpanStatusCode[span.status.code] });
    if (span.status.message) spanTags.push({ key: 'otel.status_description', type: 'string', value: span.status.message });
  }
  if (span.status.code === SpanStatusCode.ERROR) spanTags.push({ key: 'error', type: 'bool', value: true });
  if (span.instrumentationScope?.name) {
    spanTags.push({ key: 'otel.scope.name', type: 'string', value: span.instrumentationScope.name });
  }
  const references: JaegerReference[] = [];
  const parent = span.parentSpanContext;
  if (parent?.spanId) references.push({ refType: 'CHILD_OF', traceID: parent.traceId, spanID: parent.spanId });
  for (const link of span.links ?? []) {
    references.push({ refType: 'FOLLOWS_FROM', traceID: link.context.traceId, spanID: link.context.spanId });
  }
  trace.spans.push({
    traceID: ctx.traceId,
    spanID: ctx.spanId,
    flags: ctx.traceFlags,
    operationName: span.name,
    references,
    startTime: hrToMicros(span.startTime),
    duration: Math.max(0, hrToMicros(span.duration)),
    tags: spanTags,
    logs: (span.events ?? []).map((event) => ({
      timestamp: hrToMicros(event.time),
      fields: [{ key: 'event', type: 'string', value: event.name } as JaegerTag, ...tags(event.attributes)],
    })),
    processID: proc.id,
    warnings: null,
  });
}

function tracesOf(acc: TraceAccumulator): JaegerTrace[] {
  return [...acc].map(([traceID, t]) => ({
    traceID,
    spans: t.spans,
    processes: Object.fromEntries([...t.processes.values()].map((p) => [p.id, p.process])),
    warnings: null,
  }));
}

/** Converts finished OpenTelemetry spans to Jaeger JSON traces (grouped by trace id; one process per resource). */
export function spansToJaegerTraces(spans: readonly ReadableSpan[]): JaegerTrace[] {
  const acc: TraceAccumulator = new Map();
  for (const span of spans) addSpan(acc, span);
  return tracesOf(acc);
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

/** Options of {@link JaegerJsonFileExporter}. */
export interface JaegerJsonFileExporterOptions {
  /** Path of the JSON file; written (replaced) on every `forceFlush()` and on `shutdown()`. Required. */
  readonly file: string;
  /**
   * Most spans kept in memory (and so in the file), default 50000 (about 1-2 KB each). Further spans are
   * dropped and counted; the file's first trace then carries a warning saying how many.
   */
  readonly maxSpans?: number;
}

/**
 * Collects spans in memory (bounded) and writes them as one Jaeger JSON file on `forceFlush()` /
 * `shutdown()`. For one process; merge several processes' files with {@link mergeJaegerJsonFiles}.
 */
export class JaegerJsonFileExporter implements SpanExporter {
  readonly file: string;
  private readonly maxSpans: number;
  /** Spans are converted as they arrive (the SDK's span objects are not kept). */
  private readonly traces: TraceAccumulator = new Map();
  private kept = 0;
  private droppedSpans = 0;
  private stopped = false;

  constructor(options: JaegerJsonFileExporterOptions) {
    if (!options || typeof options.file !== 'string' || options.file === '') {
      throw new TypeError('JaegerJsonFileExporter: option `file` (the path of the JSON file to write) is required');
    }
    const maxSpans = options.maxSpans ?? 50_000;
    if (!Number.isInteger(maxSpans) || maxSpans < 1) {
      throw new RangeError(`JaegerJsonFileExporter: maxSpans must be a positive integer, got ${String(options.maxSpans)}`);
    }
    this.file = options.file;
    this.maxSpans = maxSpans;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.stopped) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('JaegerJsonFileExporter is shut down') });
      return;
    }
    try {
      for (const span of spans) {
        if (this.kept < this.maxSpans) {
          addSpan(this.traces, span);
          this.kept += 1;
        } else this.droppedSpans += 1;
      }
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      resultCallback({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }

  /** Spans dropped because `maxSpans` was reached. */
  get dropped(): number {
    return this.droppedSpans;
  }

  /** Writes every span collected so far to the file (replacing it). */
  async forceFlush(): Promise<void> {
    this.write();
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.write();
    this.stopped = true;
  }

  private write(): void {
    const traces = tracesOf(this.traces);
    if (this.droppedSpans > 0 && traces[0]) {
      (traces[0] as { warnings: string[] | null }).warnings = [
        `${this.droppedSpans} spans were dropped: the file exporter keeps at most ${this.maxSpans}`,
      ];
    }
    writeAtomically(this.file, JSON.stringify(fileOf(traces)));
  }
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
