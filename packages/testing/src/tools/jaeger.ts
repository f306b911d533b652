/**
 * A real Jaeger v2 for tests and the demo: the `jaeger` binary built from the Go module
 * `github.com/jaegertracing/jaeger/cmd/jaeger` by `scripts/tools/build-jaeger.sh`, started on loopback with a
 * configuration of its own (in-memory storage; OTLP gRPC and HTTP receivers; the query service's HTTP API) in
 * which every listener binds port 0. Jaeger logs the address each listener actually bound, and the launcher
 * reads them from its JSON log, so no port is chosen or probed here.
 *
 * The module carries no built UI: the query port serves Jaeger's placeholder page at `/` and the JSON API at
 * `/api/...` (`/api/services`, `/api/traces?service=...`, `/api/traces/<id>`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolBinary } from './tool-cache.js';

/** The Jaeger version `scripts/tools/build-jaeger.sh` builds. */
export const JAEGER_VERSION = 'v1.75.0';

/** Options of {@link startJaeger}. */
export interface JaegerOptions {
  /** Path of the `jaeger` binary. Default: `FAIRWAY_JAEGER_BIN`, else the tool cache's `jaeger-v1.75.0/jaeger`. */
  readonly binary?: string;
  /** How long to wait for every listener to be up, in ms. Default 60000 (a cold start on a busy 2-core machine). */
  readonly startTimeoutMs?: number;
  /** Most traces the in-memory store keeps (oldest dropped first). Default 100000. */
  readonly maxTraces?: number;
  /** How long the batch processor waits before storing a partial batch, in ms. Default 200 (tests read back soon). */
  readonly batchTimeoutMs?: number;
}

/** A tag, log field or process tag as Jaeger's query API returns it. */
export interface JaegerApiTag {
  readonly key: string;
  readonly type: string;
  readonly value: string | number | boolean;
}
/** A span as Jaeger's query API returns it (times in microseconds). */
export interface JaegerApiSpan {
  readonly traceID: string;
  readonly spanID: string;
  readonly operationName: string;
  readonly references: ReadonlyArray<{ readonly refType: string; readonly traceID: string; readonly spanID: string }>;
  readonly startTime: number;
  readonly duration: number;
  readonly tags: readonly JaegerApiTag[];
  readonly logs: ReadonlyArray<{ readonly timestamp: number; readonly fields: readonly JaegerApiTag[] }>;
  readonly processID: string;
}
/** A trace as Jaeger's query API returns it. */
export interface JaegerApiTrace {
  readonly traceID: string;
  readonly spans: readonly JaegerApiSpan[];
  readonly processes: Readonly<Record<string, { readonly serviceName: string; readonly tags: readonly JaegerApiTag[] }>>;
}

/** Query parameters of `/api/traces` (a service is required by Jaeger). */
export interface JaegerTraceQuery {
  readonly service: string;
  readonly operation?: string;
  /** Most traces returned. Default 20. */
  readonly limit?: number;
  /** How far back to look, e.g. `1h`. Default `1h`. */
  readonly lookback?: string;
  /** Tag filters, e.g. `{ 'fairway.attempt': '2' }`. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** A running Jaeger. */
export interface Jaeger {
  readonly version: string;
  /** `127.0.0.1:port` of the OTLP/gRPC receiver. */
  readonly otlpGrpcEndpoint: string;
  /** `http://127.0.0.1:port` of the OTLP/gRPC receiver (what OTLP gRPC exporters take). */
  readonly otlpGrpcUrl: string;
  /** `http://127.0.0.1:port` of the OTLP/HTTP receiver (POST `/v1/traces`). */
  readonly otlpHttpUrl: string;
  /** `http://127.0.0.1:port` of the query service: the JSON API under `/api/`, a placeholder page at `/`. */
  readonly queryUrl: string;
  /** The process id. */
  readonly pid: number;
  /** The last lines Jaeger logged (JSON lines). */
  log(): string;
  /** Service names Jaeger has spans of (`/api/services`). */
  services(): Promise<string[]>;
  /** Traces matching `query` (`/api/traces`). */
  findTraces(query: JaegerTraceQuery): Promise<JaegerApiTrace[]>;
  /** One trace by id (`/api/traces/<id>`), or undefined when Jaeger has none with that id. */
  getTrace(traceId: string): Promise<JaegerApiTrace | undefined>;
  /** Stops Jaeger (SIGTERM, then SIGKILL after 5 s) and removes its config directory. Idempotent. */
  close(): Promise<void>;
}

/** The configuration: every listener on 127.0.0.1 port 0; spans into memory; metrics accepted and dropped. */
export function jaegerConfig(options: { maxTraces: number; batchTimeoutMs: number }): Record<string, unknown> {
  const loopback0 = '127.0.0.1:0';
  return {
    service: {
      extensions: ['jaeger_storage', 'jaeger_query'],
      pipelines: {
        traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['jaeger_storage_exporter'] },
        // Fairway's exporters can send metrics too: accept them so they do not fail, keep none.
        metrics: { receivers: ['otlp'], exporters: ['nop'] },
      },
      telemetry: {
        // `none` also removes the collector's own Prometheus endpoint (a fixed port 8888 otherwise).
        metrics: { level: 'none' },
        logs: { level: 'info', encoding: 'json' },
      },
    },
    extensions: {
      jaeger_storage: { backends: { memstore: { memory: { max_traces: options.maxTraces } } } },
      jaeger_query: {
        storage: { traces: 'memstore' },
        // v2 turns self-tracing on by default; it would add Jaeger's own spans to what tests read back.
        enable_tracing: false,
        http: { endpoint: loopback0 },
        grpc: { endpoint: loopback0 },
      },
    },
    receivers: { otlp: { protocols: { grpc: { endpoint: loopback0 }, http: { endpoint: loopback0 } } } },
    processors: { batch: { timeout: `${options.batchTimeoutMs}ms` } },
    exporters: { jaeger_storage_exporter: { trace_storage: 'memstore' }, nop: {} },
  };
}

interface LogLine {
  msg?: string;
  endpoint?: string;
  port?: number;
  'otelcol.component.id'?: string;
  [key: string]: unknown;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function killOnExit(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) p.kill('SIGKILL');
  });
}

/** Starts Jaeger (see {@link JaegerOptions}) and resolves once its OTLP receivers and query API are listening. */
export async function startJaeger(options: JaegerOptions = {}): Promise<Jaeger> {
  const binary = toolBinary('jaeger', JAEGER_VERSION, 'jaeger', 'FAIRWAY_JAEGER_BIN', 'scripts/tools/build-jaeger.sh', options.binary);
  const maxTraces = options.maxTraces ?? 100_000;
  const batchTimeoutMs = options.batchTimeoutMs ?? 200;
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  if (!Number.isInteger(maxTraces) || maxTraces < 1) throw new RangeError(`startJaeger: maxTraces must be a positive integer, got ${maxTraces}`);
  if (!(batchTimeoutMs >= 0)) throw new RangeError(`startJaeger: batchTimeoutMs must be >= 0, got ${batchTimeoutMs}`);

  const dir = mkdtempSync(join(tmpdir(), 'fairway-jaeger-'));
  const configFile = join(dir, 'config.json'); // YAML is a superset of JSON: the collector reads it as is
  writeFileSync(configFile, JSON.stringify(jaegerConfig({ maxTraces, batchTimeoutMs }), null, 2));
  const proc = spawn(binary, ['--config', `file:${configFile}`], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  killOnExit(proc);
  const lines: string[] = [];
  let partial = '';
  const found: { otlpGrpc?: string; otlpHttp?: string; queryHttp?: number; ready?: boolean } = {};
  let notify: () => void = () => {};
  const onData = (chunk: Buffer) => {
    partial += chunk.toString();
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      lines.push(line);
      if (lines.length > 400) lines.shift();
      let entry: LogLine;
      try {
        entry = JSON.parse(line) as LogLine;
      } catch {
        continue;
      }
      const component = entry['otelcol.component.id'];
      if (component === 'otlp' && entry.msg === 'Starting GRPC server' && entry.endpoint) found.otlpGrpc = entry.endpoint;
      if (component === 'otlp' && entry.msg === 'Starting HTTP server' && entry.endpoint) found.otlpHttp = entry.endpoint;
      if (component === 'jaeger_query' && entry.msg === 'Starting HTTP server' && typeof entry.port === 'number') found.queryHttp = entry.port;
      if (typeof entry.msg === 'string' && entry.msg.startsWith('Everything is ready')) found.ready = true;
      notify();
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Jaeger did not report its listeners within ${startTimeoutMs} ms; its log:\n${lines.slice(-30).join('\n')}`)),
        startTimeoutMs,
      );
      notify = () => {
        if (found.ready && found.otlpGrpc && found.otlpHttp && found.queryHttp) {
          clearTimeout(timer);
          resolve();
        }
      };
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`Jaeger (${binary}) exited with code ${code} during start; its log:\n${lines.slice(-30).join('\n')}`));
      });
    });
  } catch (error) {
    await close();
    throw error;
  }
  notify = () => {};

  const queryUrl = `http://127.0.0.1:${found.queryHttp}`;
  const api = async (path: string): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(`${queryUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`Jaeger ${path}: HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`);
    }
    return { status: response.status, body };
  };
  const dataOf = (path: string, r: { status: number; body: unknown }): JaegerApiTrace[] => {
    const data = (r.body as { data?: unknown }).data;
    if (r.status !== 200 || !Array.isArray(data)) throw new Error(`Jaeger ${path}: HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`);
    return data as JaegerApiTrace[];
  };

  return {
    version: JAEGER_VERSION,
    otlpGrpcEndpoint: found.otlpGrpc!,
    otlpGrpcUrl: `http://${found.otlpGrpc!}`,
    otlpHttpUrl: `http://${found.otlpHttp!}`,
    queryUrl,
    pid: proc.pid!,
    log: () => lines.join('\n'),
    async services() {
      const r = await api('/api/services');
      return ((r.body as { data?: string[] | null }).data ?? []).slice().sort();
    },
    async findTraces(query) {
      const params = new URLSearchParams({ service: query.service, limit: String(query.limit ?? 20), lookback: query.lookback ?? '1h' });
      if (query.operation) params.set('operation', query.operation);
      if (query.tags) params.set('tags', JSON.stringify(query.tags));
      const path = `/api/traces?${params}`;
      return dataOf(path, await api(path));
    },
    async getTrace(traceId) {
      if (!/^[0-9a-fA-F]{1,32}$/.test(traceId)) throw new Error(`getTrace: ${JSON.stringify(traceId)} is not a hex trace id`);
      const path = `/api/traces/${traceId}`;
      const r = await api(path);
      if (r.status === 404) return undefined;
      return dataOf(path, r)[0];
    },
    close,
  };
}
