/**
 * An OTLP receiver stand-in for tests: it takes what a real OpenTelemetry Collector (or Jaeger >= 1.35) would
 * take, on loopback only, and keeps the decoded spans and metric points for assertions.
 *
 * - OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` and
 *   `opentelemetry.proto.collector.metrics.v1.MetricsService/Export`.
 * - OTLP/HTTP with protobuf bodies (optionally gzip): `POST /v1/traces`, `POST /v1/metrics`.
 * - OTLP/HTTP with JSON bodies (`application/json`, the OTLP/JSON mapping: hex trace and span ids, integer
 *   enums), as `OTEL_EXPORTER_OTLP_PROTOCOL=http/json` sends them; ids in any other form are refused (400).
 *
 * Bodies are decoded with the official opentelemetry-proto definitions as shipped in the npm package
 * `@opentelemetry/otlp-grpc-exporter-base@0.38.0` (installed under the alias `opentelemetry-proto-defs`,
 * directory `build/protos`), loaded with protobufjs. Fields newer than those definitions are skipped.
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, inflateSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const here = typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url);

/** Where the `.proto` files come from: package, version and directory. */
export const OTLP_PROTO_SOURCE = {
  package: '@opentelemetry/otlp-grpc-exporter-base',
  version: '0.38.0',
  alias: 'opentelemetry-proto-defs',
  directory: 'build/protos',
} as const;

/** Absolute directory holding `opentelemetry/proto/...`. */
export function otlpProtoDirectory(): string {
  const pkg = createRequire(here).resolve(`${OTLP_PROTO_SOURCE.alias}/package.json`);
  return join(dirname(pkg), OTLP_PROTO_SOURCE.directory);
}

interface OtlpTypes {
  traceRequest: protobuf.Type;
  traceResponse: protobuf.Type;
  metricsRequest: protobuf.Type;
  metricsResponse: protobuf.Type;
}

let types: OtlpTypes | undefined;
function loadTypes(): OtlpTypes {
  if (types) return types;
  const dir = otlpProtoDirectory();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(dir, target));
  root.loadSync(
    ['opentelemetry/proto/collector/trace/v1/trace_service.proto', 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto'],
    { keepCase: false },
  );
  root.resolveAll();
  types = {
    traceRequest: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    traceResponse: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    metricsRequest: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
    metricsResponse: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse'),
  };
  return types;
}

/** An attribute value as decoded (arrays and key-value lists become arrays and objects; bytes become hex). */
export type OtlpValue = string | number | boolean | null | OtlpValue[] | { [key: string]: OtlpValue };

/** One span as received. Ids are lower-case hex; times are nanoseconds since the epoch as bigint. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Absent for a root span. */
  readonly parentSpanId?: string;
  readonly name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly serviceName: string;
  readonly resource: Readonly<Record<string, OtlpValue>>;
  readonly scope: string;
  readonly attributes: Readonly<Record<string, OtlpValue>>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  readonly status: { readonly code: number; readonly message: string };
  readonly events: readonly { readonly name: string; readonly attributes: Readonly<Record<string, OtlpValue>> }[];
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  /** How it arrived: OTLP/gRPC, OTLP/HTTP with protobuf, or OTLP/HTTP with JSON. */
  readonly transport: Transport;
}

/** How an export arrived. */
export type Transport = 'grpc' | 'http' | 'http-json';

/** One metric data point as received. */
export interface ReceivedMetricPoint {
  readonly name: string;
  readonly unit: string;
  readonly type: 'sum' | 'gauge' | 'histogram' | 'exponentialHistogram' | 'summary';
  readonly serviceName: string;
  readonly attributes: Readonly<Record<string, OtlpValue>>;
  /** Sum and gauge points. */
  readonly value?: number;
  /** Histogram points. */
  readonly count?: number;
  readonly sum?: number;
  readonly transport: Transport;
}

/** Options of {@link startOtlpReceiver}. */
export interface OtlpReceiverOptions {
  /** Serve OTLP/gRPC. Default true. */
  readonly grpc?: boolean;
  /** Serve OTLP/HTTP (protobuf and JSON bodies). Default true. */
  readonly http?: boolean;
  /** Loopback host to bind: `127.0.0.1` (default) or `::1`. */
  readonly host?: '127.0.0.1' | '::1';
  /** Most spans kept (oldest dropped first). Default 200000. */
  readonly maxSpans?: number;
  /** Most raw request bodies kept for byte-level assertions. Default 2000. */
  readonly maxRawPayloads?: number;
}

/** A running receiver. */
export interface OtlpReceiver {
  /** Base URL of the OTLP/gRPC endpoint, e.g. `http://127.0.0.1:43170` (empty when disabled). */
  readonly grpcEndpoint: string;
  /** Base URL of the OTLP/HTTP endpoint, e.g. `http://127.0.0.1:43180` (empty when disabled). */
  readonly httpEndpoint: string;
  /** Every span received so far (a copy). */
  spans(): ReceivedSpan[];
  /** Every metric data point received so far (a copy). */
  metricPoints(): ReceivedMetricPoint[];
  /** Decompressed protobuf request bodies, newest last (bounded by `maxRawPayloads`). */
  rawPayloads(): Buffer[];
  /** Export requests received, by signal and transport. */
  requestCounts(): { traces: number; metrics: number; rejected: number };
  /**
   * Resolves with all spans once `predicate(spans)` is true; rejects after `timeoutMs` (default 15000) with an
   * error listing what did arrive.
   */
  waitForSpans(predicate: (spans: readonly ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  /** Like {@link OtlpReceiver.waitForSpans}, for metric points. */
  waitForMetricPoints(
    predicate: (points: readonly ReceivedMetricPoint[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedMetricPoint[]>;
  /** Forgets everything received. */
  clear(): void;
  /** Stops both servers. Idempotent. */
  close(): Promise<void>;
}

function hex(bytes: unknown): string {
  if (bytes instanceof Uint8Array) return Buffer.from(bytes).toString('hex');
  if (typeof bytes === 'string') return Buffer.from(bytes, 'base64').toString('hex');
  return '';
}

function num(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return Number(value);
  if (value && typeof (value as { toNumber?: unknown }).toNumber === 'function') return (value as { toNumber(): number }).toNumber();
  return Number(value ?? 0);
}

function big(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(Math.trunc(value));
  if (typeof value === 'string' && value !== '') return BigInt(value);
  if (value && typeof (value as { toString?: unknown }).toString === 'function') {
    const s = String(value);
    if (/^-?\d+$/.test(s)) return BigInt(s);
  }
  return 0n;
}

type AnyValueObj = {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: unknown;
  doubleValue?: number;
  arrayValue?: { values?: AnyValueObj[] };
  kvlistValue?: { values?: KeyValueObj[] };
  bytesValue?: unknown;
  value?: string;
};
type KeyValueObj = { key?: string; value?: AnyValueObj };

function anyValue(v: AnyValueObj | undefined): OtlpValue {
  if (!v) return null;
  const which = v.value;
  switch (which) {
    case 'stringValue':
      return v.stringValue ?? '';
    case 'boolValue':
      return Boolean(v.boolValue);
    case 'intValue':
      return num(v.intValue);
    case 'doubleValue':
      return v.doubleValue ?? 0;
    case 'arrayValue':
      return (v.arrayValue?.values ?? []).map(anyValue);
    case 'kvlistValue':
      return keyValues(v.kvlistValue?.values);
    case 'bytesValue':
      return hex(v.bytesValue);
    default:
      return null;
  }
}

function keyValues(list: KeyValueObj[] | undefined): Record<string, OtlpValue> {
  const out: Record<string, OtlpValue> = {};
  for (const kv of list ?? []) if (kv.key !== undefined) out[kv.key] = anyValue(kv.value);
  return out;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: Number, bytes: String, defaults: false, oneofs: true };

/* eslint-disable @typescript-eslint/no-explicit-any */
function decodeSpans(body: Buffer, transport: Transport): ReceivedSpan[] {
  const t = loadTypes();
  const req = t.traceRequest.toObject(t.traceRequest.decode(body), TO_OBJECT) as any;
  const out: ReceivedSpan[] = [];
  for (const rs of req.resourceSpans ?? []) {
    const resource = keyValues(rs.resource?.attributes);
    const serviceName = typeof resource['service.name'] === 'string' ? (resource['service.name'] as string) : '';
    const scopes = [...(rs.scopeSpans ?? []), ...(rs.instrumentationLibrarySpans ?? [])];
    for (const ss of scopes) {
      const scope = String(ss.scope?.name ?? ss.instrumentationLibrary?.name ?? '');
      for (const s of ss.spans ?? []) {
        const parent = hex(s.parentSpanId);
        out.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          ...(parent ? { parentSpanId: parent } : {}),
          name: String(s.name ?? ''),
          kind: num(s.kind ?? 0),
          serviceName,
          resource,
          scope,
          attributes: keyValues(s.attributes),
          status: { code: num(s.status?.code ?? 0), message: String(s.status?.message ?? '') },
          events: (s.events ?? []).map((e: any) => ({ name: String(e.name ?? ''), attributes: keyValues(e.attributes) })),
          startTimeUnixNano: big(s.startTimeUnixNano),
          endTimeUnixNano: big(s.endTimeUnixNano),
          transport,
        });
      }
    }
  }
  return out;
}

function decodeMetrics(body: Buffer, transport: Transport): ReceivedMetricPoint[] {
  const t = loadTypes();
  const req = t.metricsRequest.toObject(t.metricsRequest.decode(body), TO_OBJECT) as any;
  const out: ReceivedMetricPoint[] = [];
  for (const rm of req.resourceMetrics ?? []) {
    const resource = keyValues(rm.resource?.attributes);
    const serviceName = typeof resource['service.name'] === 'string' ? (resource['service.name'] as string) : '';
    const scopes = [...(rm.scopeMetrics ?? []), ...(rm.instrumentationLibraryMetrics ?? [])];
    for (const sm of scopes) {
      for (const m of sm.metrics ?? []) {
        const base = { name: String(m.name ?? ''), unit: String(m.unit ?? ''), serviceName, transport };
        const type = (['sum', 'gauge', 'histogram', 'exponentialHistogram', 'summary'] as const).find((k) => m[k]);
        if (!type) continue;
        for (const p of m[type].dataPoints ?? []) {
          const attributes = keyValues(p.attributes);
          if (type === 'sum' || type === 'gauge') {
            const value = p.asDouble !== undefined ? num(p.asDouble) : num(p.asInt ?? 0);
            out.push({ ...base, type, attributes, value });
          } else {
            out.push({ ...base, type, attributes, count: num(p.count ?? 0), sum: num(p.sum ?? 0) });
          }
        }
      }
    }
  }
  return out;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

const ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);

/**
 * OTLP/JSON differs from protobuf's canonical JSON in its ids: hex strings, not base64 (OTLP specification,
 * "JSON Protobuf Encoding"). Turns them into bytes so protobufjs's `fromObject` takes the rest; throws on an
 * id that is not hex, so a base64 id (the usual encoding mistake) is a visible error, not a garbled trace.
 */
function hexIdsToBytes(value: unknown, path = ''): unknown {
  if (Array.isArray(value)) return value.map((v, i) => hexIdsToBytes(v, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (ID_FIELDS.has(k) && typeof v === 'string') {
      if (v !== '' && !/^(?:[0-9a-fA-F]{2})+$/.test(v)) throw new Error(`${path}.${k} is ${JSON.stringify(v)}, not hex (OTLP/JSON encodes ids as hex)`);
      out[k] = Buffer.from(v, 'hex');
    } else out[k] = hexIdsToBytes(v, `${path}.${k}`);
  }
  return out;
}

/** An OTLP/JSON export request body as the protobuf bytes of the same request. */
function jsonToProtobuf(body: Buffer, type: protobuf.Type): Buffer {
  const parsed = JSON.parse(body.toString('utf8')) as unknown;
  return Buffer.from(type.encode(type.fromObject(hexIdsToBytes(parsed) as Record<string, unknown>)).finish());
}

interface Waiter<T> {
  check(): boolean;
  resolve(items: T[]): void;
}

/**
 * Starts the receiver on free loopback ports. Close it in `after`/`finally`.
 *
 * @example
 * ```ts
 * const receiver = await startOtlpReceiver();
 * process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.httpEndpoint;
 * const spans = await receiver.waitForSpans((s) => s.some((x) => x.name === 'trading.Pricer/Quote'));
 * ```
 */
export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1' && host !== '::1') throw new Error(`startOtlpReceiver: host must be loopback, got ${String(host)}`);
  const maxSpans = options.maxSpans ?? 200_000;
  const maxRaw = options.maxRawPayloads ?? 2000;
  const t = loadTypes();
  const spans: ReceivedSpan[] = [];
  const points: ReceivedMetricPoint[] = [];
  const raw: Buffer[] = [];
  const counts = { traces: 0, metrics: 0, rejected: 0 };
  const spanWaiters = new Set<Waiter<ReceivedSpan>>();
  const pointWaiters = new Set<Waiter<ReceivedMetricPoint>>();

  const notify = () => {
    for (const w of spanWaiters) if (w.check()) spanWaiters.delete(w);
    for (const w of pointWaiters) if (w.check()) pointWaiters.delete(w);
  };
  const keepRaw = (body: Buffer) => {
    raw.push(body);
    if (raw.length > maxRaw) raw.splice(0, raw.length - maxRaw);
  };
  const ingestTraces = (body: Buffer, transport: Transport) => {
    const decoded = decodeSpans(body, transport);
    keepRaw(body);
    counts.traces += 1;
    spans.push(...decoded);
    if (spans.length > maxSpans) spans.splice(0, spans.length - maxSpans);
    notify();
  };
  const ingestMetrics = (body: Buffer, transport: Transport) => {
    const decoded = decodeMetrics(body, transport);
    keepRaw(body);
    counts.metrics += 1;
    points.push(...decoded);
    if (points.length > maxSpans) points.splice(0, points.length - maxSpans);
    notify();
  };

  let grpcServer: grpc.Server | undefined;
  let grpcEndpoint = '';
  const urlHost = host === '::1' ? '[::1]' : host;
  if (options.grpc !== false) {
    grpcServer = new grpc.Server();
    const identity = (b: Buffer) => b;
    const method = (path: string, response: protobuf.Type) => ({
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: () => Buffer.from(response.encode(response.create({})).finish()),
      responseDeserialize: identity,
    });
    const handler =
      (ingest: (b: Buffer, tr: 'grpc') => void) =>
      (call: grpc.ServerUnaryCall<Buffer, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        try {
          ingest(call.request, 'grpc');
          callback(null, {});
        } catch (error) {
          counts.rejected += 1;
          callback({ code: grpc.status.INVALID_ARGUMENT, details: `cannot decode OTLP request: ${(error as Error).message}` });
        }
      };
    grpcServer.addService(
      { Export: method('/opentelemetry.proto.collector.trace.v1.TraceService/Export', t.traceResponse) } as grpc.ServiceDefinition,
      { Export: handler(ingestTraces) },
    );
    grpcServer.addService(
      { Export: method('/opentelemetry.proto.collector.metrics.v1.MetricsService/Export', t.metricsResponse) } as grpc.ServiceDefinition,
      { Export: handler(ingestMetrics) },
    );
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer!.bindAsync(`${urlHost}:0`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    grpcEndpoint = `http://${urlHost}:${port}`;
  }

  let httpServer: HttpServer | undefined;
  let httpEndpoint = '';
  if (options.http !== false) {
    httpServer = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 64 * 1024 * 1024) chunks.push(c);
      });
      req.on('end', () => {
        const reply = (status: number, body: Buffer | string, type = 'text/plain') => {
          res.writeHead(status, { 'content-type': type });
          res.end(body);
        };
        const path = (req.url ?? '').split('?')[0];
        const signal = path === '/v1/traces' ? 'traces' : path === '/v1/metrics' ? 'metrics' : undefined;
        if (req.method !== 'POST' || !signal) {
          counts.rejected += 1;
          return reply(404, `no OTLP endpoint at ${req.method} ${path}`);
        }
        const type = String(req.headers['content-type'] ?? '');
        const json = type.startsWith('application/json');
        if (!json && !type.startsWith('application/x-protobuf')) {
          counts.rejected += 1;
          return reply(415, `unsupported content-type ${type}: this stand-in takes application/x-protobuf or application/json`);
        }
        try {
          let body: Buffer = Buffer.concat(chunks);
          const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase();
          if (encoding === 'gzip') body = gunzipSync(body);
          else if (encoding === 'deflate') body = inflateSync(body);
          const request = signal === 'traces' ? t.traceRequest : t.metricsRequest;
          if (json) body = jsonToProtobuf(body, request);
          const transport: Transport = json ? 'http-json' : 'http';
          if (signal === 'traces') ingestTraces(body, transport);
          else ingestMetrics(body, transport);
          const response = signal === 'traces' ? t.traceResponse : t.metricsResponse;
          if (json) reply(200, JSON.stringify(response.toObject(response.create({}))), 'application/json');
          else reply(200, Buffer.from(response.encode(response.create({})).finish()), 'application/x-protobuf');
        } catch (error) {
          counts.rejected += 1;
          reply(400, `cannot decode OTLP request: ${(error as Error).message}`);
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      httpServer!.once('error', reject);
      httpServer!.listen(0, host, () => resolve());
    });
    const addr = httpServer.address();
    httpEndpoint = `http://${urlHost}:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }

  function waitFor<T>(
    items: T[],
    waiters: Set<Waiter<T>>,
    predicate: (items: readonly T[]) => boolean,
    timeoutMs: number,
    describe: () => string,
  ): Promise<T[]> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter<T> = {
        check() {
          let ok = false;
          try {
            ok = predicate(items);
          } catch (error) {
            if (timer) clearTimeout(timer);
            reject(error);
            return true;
          }
          if (ok) {
            if (timer) clearTimeout(timer);
            resolve([...items]);
          }
          return ok;
        },
        resolve,
      };
      if (waiter.check()) return;
      waiters.add(waiter);
      timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`OTLP receiver: condition not met within ${timeoutMs}ms; received ${describe()}`));
      }, timeoutMs);
    });
  }

  let closed: Promise<void> | undefined;
  return {
    grpcEndpoint,
    httpEndpoint,
    spans: () => [...spans],
    metricPoints: () => [...points],
    rawPayloads: () => [...raw],
    requestCounts: () => ({ ...counts }),
    waitForSpans: (predicate, timeoutMs = 15_000) =>
      waitFor(spans, spanWaiters, predicate, timeoutMs, () => {
        const names = [...new Set(spans.map((s) => `${s.serviceName}:${s.name}`))].slice(0, 30);
        return `${spans.length} spans (${names.join(', ')})`;
      }),
    waitForMetricPoints: (predicate, timeoutMs = 15_000) =>
      waitFor(points, pointWaiters, predicate, timeoutMs, () => {
        const names = [...new Set(points.map((p) => p.name))].slice(0, 30);
        return `${points.length} metric points (${names.join(', ')})`;
      }),
    clear() {
      spans.length = 0;
      points.length = 0;
      raw.length = 0;
    },
    close() {
      closed ??= (async () => {
        await Promise.all([
          grpcServer
            ? new Promise<void>((resolve) => {
                grpcServer!.tryShutdown(() => resolve());
                setTimeout(() => {
                  grpcServer!.forceShutdown();
                  resolve();
                }, 2000).unref();
              })
            : undefined,
          httpServer
            ? new Promise<void>((resolve) => {
                httpServer!.close(() => resolve());
                httpServer!.closeAllConnections?.();
              })
            : undefined,
        ]);
      })();
      return closed;
    },
  };
}
