/**
 * `fairway trace <trace-id>`: reads one trace from Jaeger's query API (`--jaeger http://host:16686`) or from a
 * Jaeger JSON file (what `@fairway/telemetry`'s `JaegerJsonFileExporter` and the demo write, and what
 * `/api/traces` answers), and prints it as a tree of spans: each call with its service and status, each attempt
 * with the pod it went to, that pod's zone, why the picker chose it and, when it was retried, why.
 */
import { readFileSync } from 'node:fs';
import { UsageError, UnreachableError } from './sources.js';

/** A tag as Jaeger's JSON format writes it. */
export interface TraceTag {
  readonly key: string;
  readonly type?: string;
  readonly value: string | number | boolean;
}
/** A span in Jaeger's JSON format (times in microseconds). */
export interface TraceSpan {
  readonly traceID: string;
  readonly spanID: string;
  readonly operationName: string;
  readonly references?: ReadonlyArray<{ readonly refType: string; readonly traceID: string; readonly spanID: string }>;
  readonly startTime: number;
  readonly duration: number;
  readonly tags?: readonly TraceTag[];
  readonly processID: string;
}
/** A trace in Jaeger's JSON format. */
export interface TraceDocument {
  readonly traceID: string;
  readonly spans: readonly TraceSpan[];
  readonly processes: Readonly<Record<string, { readonly serviceName: string; readonly tags?: readonly TraceTag[] }>>;
}

/** One node of the printed tree (also the `--json` output). */
export interface TraceNode {
  readonly spanId: string;
  readonly service: string;
  readonly operation: string;
  /** `client`, `server`, ... or `internal`. */
  readonly kind: string;
  /** Start, microseconds since the epoch. */
  readonly startTime: number;
  /** Microseconds. */
  readonly durationUs: number;
  /** Offset from the trace's first span, microseconds. */
  readonly offsetUs: number;
  /** gRPC status code when recorded. */
  readonly grpcStatus?: number;
  readonly error: boolean;
  readonly errorMessage?: string;
  /** Present on Fairway attempt spans. */
  readonly attempt?: {
    readonly number: number;
    readonly pod?: string;
    readonly zone?: string;
    readonly address?: string;
    readonly clientZone?: string;
    readonly crossZone?: boolean;
    readonly pickReason?: string;
    readonly retryReason?: string;
    readonly retryRefused?: string;
    readonly timedOut?: boolean;
  };
  readonly children: TraceNode[];
}

/** The normalised trace id (lower case, leading zeros kept as given); throws {@link UsageError} when not hex. */
export function parseTraceId(raw: string): string {
  const id = String(raw ?? '').trim().toLowerCase();
  if (!/^[0-9a-f]{1,32}$/.test(id)) throw new UsageError(`trace id ${JSON.stringify(raw)}: write the 32 hex digits of a trace id`);
  return id;
}

function sameTraceId(a: string, b: string): boolean {
  const strip = (s: string) => s.toLowerCase().replace(/^0+/, '');
  return strip(a) === strip(b);
}

function shapeProblem(trace: unknown): string | undefined {
  const t = trace as Partial<TraceDocument> | null;
  if (!t || typeof t !== 'object' || typeof t.traceID !== 'string') return 'a trace needs a traceID';
  if (!Array.isArray(t.spans)) return `trace ${t.traceID}: spans must be an array`;
  if (!t.processes || typeof t.processes !== 'object') return `trace ${t.traceID}: processes must be an object`;
  for (const [i, s] of t.spans.entries()) {
    if (typeof s?.spanID !== 'string' || typeof s.operationName !== 'string' || typeof s.startTime !== 'number' || typeof s.duration !== 'number') {
      return `trace ${t.traceID}: spans[${i}] needs spanID, operationName, startTime and duration`;
    }
  }
  return undefined;
}

/** Finds trace `traceId` in a parsed Jaeger JSON document (`{ data: [...] }`); `where` names the source in errors. */
export function pickTrace(document: unknown, traceId: string, where: string): TraceDocument {
  const data = (document as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw new UsageError(`${where} is not Jaeger JSON: expected an object with a "data" array of traces`);
  const found = data.find((t) => typeof (t as TraceDocument)?.traceID === 'string' && sameTraceId((t as TraceDocument).traceID, traceId));
  if (!found) {
    throw new UsageError(`${where} has no trace ${traceId}${data.length > 0 ? ` (it has ${data.length} trace(s), e.g. ${(data[0] as TraceDocument).traceID})` : ' (it has no traces)'}`);
  }
  const problem = shapeProblem(found);
  if (problem) throw new UsageError(`${where}: ${problem}`);
  return found as TraceDocument;
}

/** Reads trace `traceId` from a Jaeger JSON file. */
export function traceFromFile(file: string, traceId: string): TraceDocument {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--file ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--file ${file} is not JSON: ${(e as Error).message}`);
  }
  return pickTrace(parsed, traceId, file);
}

/** Reads trace `traceId` from Jaeger's query API at `baseUrl` (`GET /api/traces/<id>`). */
export async function traceFromJaeger(baseUrl: string, traceId: string, timeoutMs: number): Promise<TraceDocument> {
  let base: URL;
  try {
    base = new URL(baseUrl);
  } catch {
    throw new UsageError(`--jaeger ${JSON.stringify(baseUrl)}: write the query service's URL, e.g. http://127.0.0.1:16686`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new UsageError(`--jaeger ${baseUrl}: must be an http:// or https:// URL`);
  const url = new URL(`${base.pathname.replace(/\/+$/, '')}/api/traces/${traceId}`, base);
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
  } catch (e) {
    if ((e as Error).name === 'TimeoutError') throw new UnreachableError(`Jaeger at ${base.origin} did not answer ${url.pathname} within ${timeoutMs} ms`);
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.message === 'bad port') {
      // Node's fetch (undici) refuses the ports the Fetch standard blocks (1, 6000, ...) before connecting, so
      // no Jaeger on that port can ever be read: the URL is the problem, not Jaeger.
      throw new UsageError(
        `--jaeger ${baseUrl}: Node's fetch refuses port ${base.port} ("bad port": the Fetch standard blocks it for HTTP), so no request was sent; run Jaeger's query service on another port (its default is 16686)`,
      );
    }
    throw new UnreachableError(`Jaeger at ${base.origin} did not answer ${url.pathname}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  }
  const text = await response.text();
  if (response.status === 404) throw new UsageError(`Jaeger at ${base.origin} has no trace ${traceId} (HTTP 404)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UnreachableError(`Jaeger at ${base.origin} answered ${url.pathname} with HTTP ${response.status} and no JSON: ${text.slice(0, 200)}`);
  }
  if (response.status !== 200) {
    const errors = (parsed as { errors?: Array<{ msg?: string }> }).errors;
    throw new UnreachableError(`Jaeger at ${base.origin}: HTTP ${response.status}${errors?.[0]?.msg ? `: ${errors[0].msg}` : ''}`);
  }
  return pickTrace(parsed, traceId, `Jaeger at ${base.origin}`);
}

function tagMap(span: TraceSpan): Map<string, string | number | boolean> {
  return new Map((span.tags ?? []).map((t) => [t.key, t.value]));
}

const str = (v: unknown): string | undefined => (v === undefined || v === null || v === '' ? undefined : String(v));
const bool = (v: unknown): boolean | undefined => (v === undefined ? undefined : v === true || v === 'true');

/** Builds the span tree of a trace: children under their CHILD_OF parent, ordered by start time. */
export function buildTraceTree(trace: TraceDocument): TraceNode[] {
  const first = Math.min(...trace.spans.map((s) => s.startTime));
  const nodes = new Map<string, TraceNode>();
  for (const span of trace.spans) {
    const tags = tagMap(span);
    const attemptNumber = tags.get('fairway.attempt');
    const statusCode = tags.get('rpc.grpc.status_code');
    const error = tags.get('error') === true || tags.get('error') === 'true' || tags.get('otel.status_code') === 'ERROR';
    const node: TraceNode = {
      spanId: span.spanID,
      service: trace.processes[span.processID]?.serviceName ?? span.processID,
      operation: span.operationName,
      kind: str(tags.get('span.kind')) ?? 'internal',
      startTime: span.startTime,
      durationUs: span.duration,
      offsetUs: span.startTime - first,
      ...(statusCode !== undefined ? { grpcStatus: Number(statusCode) } : {}),
      error,
      ...(error && str(tags.get('otel.status_description')) ? { errorMessage: str(tags.get('otel.status_description')) } : {}),
      ...(attemptNumber !== undefined
        ? {
            attempt: {
              number: Number(attemptNumber),
              ...opt('pod', str(tags.get('fairway.endpoint.instance'))),
              ...opt('zone', str(tags.get('fairway.endpoint.zone'))),
              ...opt('address', str(tags.get('fairway.endpoint.address'))),
              ...opt('clientZone', str(tags.get('fairway.client.zone'))),
              ...opt('crossZone', bool(tags.get('fairway.cross_zone'))),
              ...opt('pickReason', str(tags.get('fairway.pick.reason'))),
              ...opt('retryReason', str(tags.get('fairway.retry.reason'))),
              ...opt('retryRefused', str(tags.get('fairway.retry.refused'))),
              ...opt('timedOut', bool(tags.get('fairway.attempt.timed_out'))),
            },
          }
        : {}),
      children: [],
    };
    nodes.set(span.spanID, node);
  }
  const roots: TraceNode[] = [];
  for (const span of trace.spans) {
    const node = nodes.get(span.spanID)!;
    const parentRef = (span.references ?? []).find((r) => r.refType === 'CHILD_OF') ?? span.references?.[0];
    const parent = parentRef ? nodes.get(parentRef.spanID) : undefined;
    if (parent && parent !== node) parent.children.push(node);
    else roots.push(node);
  }
  const order = (list: TraceNode[]) => {
    list.sort((a, b) => a.startTime - b.startTime || a.operation.localeCompare(b.operation));
    for (const n of list) order(n.children);
  };
  order(roots);
  return roots;
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function ms(us: number): string {
  const v = us / 1000;
  return v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`;
}

function statusText(node: TraceNode): string {
  if (node.grpcStatus !== undefined) return node.grpcStatus === 0 ? 'OK' : `status ${node.grpcStatus}${node.errorMessage ? ` (${node.errorMessage})` : ''}`;
  return node.error ? `error${node.errorMessage ? ` (${node.errorMessage})` : ''}` : 'ok';
}

/** The tree as text lines (what `fairway trace` prints). */
export function formatTraceTree(traceId: string, roots: readonly TraceNode[]): string[] {
  const all: TraceNode[] = [];
  const walk = (n: TraceNode) => {
    all.push(n);
    n.children.forEach(walk);
  };
  roots.forEach(walk);
  const services = [...new Set(all.map((n) => n.service))];
  const attempts = all.filter((n) => n.attempt).length;
  const lines = [`trace ${traceId}: ${all.length} spans, ${services.length} services (${services.join(', ')}), ${attempts} attempt(s)`];
  const emit = (node: TraceNode, prefix: string, last: boolean, top: boolean) => {
    const branch = top ? '' : last ? '└─ ' : '├─ ';
    const a = node.attempt;
    const head = a
      ? `attempt ${a.number} -> ${a.pod ?? a.address ?? '?'}${a.zone ? ` (${a.zone}${a.crossZone ? ', cross-zone' : ''})` : ''}`
      : `${node.service}: ${node.operation}${node.kind !== 'internal' ? ` [${node.kind}]` : ''}`;
    lines.push(`${prefix}${branch}${head}  ${statusText(node)}  +${ms(node.offsetUs)} ${ms(node.durationUs)}`);
    const detailPrefix = prefix + (top ? '' : last ? '   ' : '│  ') + (node.children.length > 0 ? '│  ' : '   ');
    if (a) {
      if (a.address && a.pod) lines.push(`${detailPrefix}address: ${a.address}`);
      if (a.pickReason) lines.push(`${detailPrefix}pick: ${a.pickReason}`);
      if (a.timedOut) lines.push(`${detailPrefix}timed out (Fairway's attempt timer)`);
      if (a.retryReason) lines.push(`${detailPrefix}retry: ${a.retryReason}`);
      if (a.retryRefused) lines.push(`${detailPrefix}retry refused: ${a.retryRefused}`);
    }
    const childPrefix = prefix + (top ? '' : last ? '   ' : '│  ');
    node.children.forEach((c, i) => emit(c, childPrefix, i === node.children.length - 1, false));
  };
  roots.forEach((r) => emit(r, '', true, true));
  return lines;
}
