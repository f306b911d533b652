/**
 * A span exporter that writes Jaeger's JSON trace format (see `@fairway/telemetry`'s reader and merge), for
 * machines without a Jaeger.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SpanKind, SpanStatusCode, type AttributeValue, type Attributes, type HrTime } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { JaegerProcess, JaegerReference, JaegerSpan, JaegerTag, JaegerTrace, JaegerTraceFile } from '@fairway/telemetry';

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
