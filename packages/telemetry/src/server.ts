/**
 * Server side: continue the caller's trace (W3C `traceparent` in the incoming metadata) in a SERVER span, so
 * that a call the handler makes through Fairway is a child of it and a chain of services is one trace.
 *
 * grpc-js is not imported: handlers and calls are typed by the little they must have (`metadata.getMap()`,
 * `getPath()`), so this works with any grpc-js 1.x server.
 */
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapPropagator,
  type TracerProvider,
} from '@opentelemetry/api';
import { FairwayAttributes as A, splitMethod } from './attributes.js';
import { extractContext, type IncomingHeaders } from './propagation.js';
import { TELEMETRY_SCOPE_NAME, TELEMETRY_VERSION } from './version.js';

/** Options of {@link startServerSpan}, {@link continueTrace} and {@link traceGrpcHandlers}. */
export interface ServerTraceOptions {
  /** Where spans go. Default: the global tracer provider. */
  readonly tracerProvider?: TracerProvider;
  /** Reads trace context from the headers. Default: the global propagator if registered, else W3C trace context. */
  readonly propagator?: TextMapPropagator;
  /** Extra span attributes (yours: never put metadata values or credentials here). Default none. */
  readonly attributes?: Attributes;
}

/** A started SERVER span; `end` is idempotent. */
export interface ServerSpan {
  readonly span: Span;
  /** The context to run the handler in (the SERVER span is its active span). */
  readonly context: Context;
  /** Ends the span with the gRPC status the caller receives (code 0 = OK). */
  end(status?: { readonly code: number; readonly details?: string }): void;
}

/**
 * Starts a SERVER span `<package.Service>/<Method>` whose parent is the trace context carried in `headers`
 * (W3C `traceparent`; a new trace when absent or malformed). Header values are never recorded.
 *
 * @param headers - incoming metadata, e.g. grpc-js `call.metadata.getMap()`
 * @param method - full method path, e.g. `/trading.Pricer/Quote` (grpc-js `call.getPath()`)
 */
export function startServerSpan(headers: IncomingHeaders, method: string, options: ServerTraceOptions = {}): ServerSpan {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(TELEMETRY_SCOPE_NAME, TELEMETRY_VERSION);
  const parent = extractContext(ROOT_CONTEXT, headers ?? {}, options.propagator);
  const parts = splitMethod(String(method ?? ''));
  const span = tracer.startSpan(
    parts.spanName,
    {
      kind: SpanKind.SERVER,
      attributes: {
        ...options.attributes,
        [A.RPC_SYSTEM]: 'grpc',
        [A.RPC_SERVICE]: parts.service,
        [A.RPC_METHOD]: parts.method,
      },
    },
    parent,
  );
  let ended = false;
  return {
    span,
    context: trace.setSpan(parent, span),
    end(status = { code: 0 }) {
      if (ended) return;
      ended = true;
      try {
        const code = Number.isInteger(status.code) ? status.code : 2;
        span.setAttribute(A.RPC_GRPC_STATUS_CODE, code);
        // OpenTelemetry's gRPC server convention: only server-side faults mark the span as an error.
        if (SERVER_ERROR_CODES.has(code)) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: (status.details ?? '').slice(0, 256) });
        }
        span.end();
      } catch {
        /* never throw from telemetry */
      }
    },
  };
}

/** UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
const SERVER_ERROR_CODES = new Set([2, 4, 12, 13, 14, 15]);

function statusOf(error: unknown): { code: number; details: string } {
  const e = error as { code?: unknown; details?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'number' && Number.isInteger(e.code) && e.code > 0 && e.code <= 16 ? e.code : 2;
  const details = typeof e?.details === 'string' ? e.details : typeof e?.message === 'string' ? e.message : String(error);
  return { code, details };
}

/**
 * Runs `fn` inside a SERVER span continuing the trace in `headers`, so Fairway calls made inside `fn` are its
 * children. The span ends when `fn` returns, or when its promise settles; a throw or rejection (with a
 * numeric gRPC `code` when it has one, else UNKNOWN) is recorded as the status and passed on.
 *
 * @example
 * ```ts
 * async quote(call) {
 *   return continueTrace(call.metadata.getMap(), call.getPath(), () => publisher.publish(...));
 * }
 * ```
 */
export function continueTrace<T>(
  headers: IncomingHeaders,
  method: string,
  fn: (span: Span) => T,
  options: ServerTraceOptions = {},
): T {
  const server = startServerSpan(headers, method, options);
  let result: T;
  try {
    result = context.with(server.context, () => fn(server.span));
  } catch (error) {
    server.end(statusOf(error));
    throw error;
  }
  if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
    (result as unknown as PromiseLike<unknown>).then(
      () => server.end({ code: 0 }),
      (error: unknown) => server.end(statusOf(error)),
    );
  } else {
    server.end({ code: 0 });
  }
  return result;
}

/** The little of a grpc-js server call this needs. */
export interface ServerCallLike {
  readonly metadata?: { getMap(): IncomingHeaders };
  getPath?(): string;
  once?(event: string, listener: (...args: unknown[]) => void): unknown;
}

type AnyHandler = (this: unknown, call: ServerCallLike, callback?: (...args: unknown[]) => unknown) => unknown;

/**
 * Wraps a grpc-js service implementation (`server.addService(def, traceGrpcHandlers(impl))`) so that every
 * handler runs inside a SERVER span continuing the caller's trace. Unary and client-streaming handlers end
 * their span when they call back; server-streaming and bidi handlers when the call finishes, errors or is
 * cancelled. Non-function properties are copied unchanged.
 *
 * @param serviceName - used for the span name when a call has no `getPath()` (older grpc-js), e.g. `trading.Pricer`
 */
export function traceGrpcHandlers<T extends object>(implementation: T, options: ServerTraceOptions & { serviceName?: string } = {}): T {
  if (implementation === null || typeof implementation !== 'object') {
    throw new TypeError('traceGrpcHandlers: implementation must be an object of handler functions');
  }
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(implementation)) {
    if (typeof value !== 'function') {
      out[name] = value;
      continue;
    }
    const original = value as AnyHandler;
    out[name] = function traced(this: unknown, call: ServerCallLike, callback?: (...args: unknown[]) => unknown) {
      let server: ServerSpan;
      try {
        const path =
          typeof call?.getPath === 'function' ? call.getPath() : `/${options.serviceName ?? 'unknown'}/${name}`;
        const headers = typeof call?.metadata?.getMap === 'function' ? call.metadata.getMap() : {};
        server = startServerSpan(headers, path, options);
      } catch {
        return callback === undefined ? original.call(this, call) : original.call(this, call, callback);
      }
      if (typeof callback === 'function') {
        try {
          // The caller gave up (deadline, cancel, a Fairway attempt timeout): the span ends now, as CANCELLED.
          call.once?.('cancelled', () => server.end({ code: 1, details: 'cancelled by the client' }));
        } catch {
          /* not an event emitter */
        }
        const wrappedCallback = (...args: unknown[]) => {
          const err = args[0];
          server.end(err ? statusOf(err) : { code: 0 });
          return callback(...args);
        };
        try {
          return context.with(server.context, () => original.call(this, call, wrappedCallback));
        } catch (error) {
          server.end(statusOf(error));
          throw error;
        }
      }
      try {
        call.once?.('finish', () => server.end({ code: 0 }));
        call.once?.('error', (error: unknown) => server.end(statusOf(error)));
        call.once?.('cancelled', () => server.end({ code: 1, details: 'cancelled' }));
        call.once?.('close', () => server.end({ code: 0 }));
      } catch {
        /* not an event emitter: the span ends below when the handler returns */
      }
      try {
        const result = context.with(server.context, () => original.call(this, call));
        if (typeof call?.once !== 'function') server.end({ code: 0 });
        return result;
      } catch (error) {
        server.end(statusOf(error));
        throw error;
      }
    };
  }
  return out as T;
}
