/**
 * W3C trace-context propagation over plain header maps (gRPC metadata as `Record<string, string>`), without
 * importing grpc-js.
 */
import { propagation, type Context, type TextMapGetter, type TextMapPropagator, type TextMapSetter } from '@opentelemetry/api';
import { W3CTraceContext } from './w3c-trace-context.js';

/** Incoming headers as gRPC metadata's `getMap()` or Node's `IncomingHttpHeaders` give them. */
export type IncomingHeaders = Readonly<Record<string, string | readonly string[] | Uint8Array | number | undefined>>;

const w3c = new W3CTraceContext();

/**
 * The propagator to use: the given one; else the global one when an SDK registered one (e.g. by
 * `setupTelemetry` or `NodeSDK`, which also carries baggage); else W3C trace context alone.
 */
export function effectivePropagator(given?: TextMapPropagator): TextMapPropagator {
  if (given) return given;
  try {
    if (propagation.fields().length > 0) return propagation as unknown as TextMapPropagator;
  } catch {
    /* fall through */
  }
  return w3c;
}

const headerGetter: TextMapGetter<IncomingHeaders> = {
  keys(carrier) {
    return Object.keys(carrier);
  },
  get(carrier, key) {
    const lower = key.toLowerCase();
    let value = carrier[lower];
    if (value === undefined && lower !== key) value = carrier[key];
    if (typeof value === 'string') return value;
    if (Array.isArray(value)) {
      const strings = value.filter((v): v is string => typeof v === 'string');
      return strings.length > 0 ? strings : undefined;
    }
    // Binary (`-bin`) metadata and numbers never carry trace context.
    return undefined;
  },
};

/** Returns the context carried by `headers` (W3C `traceparent`/`tracestate`), on top of `base`. */
export function extractContext(base: Context, headers: IncomingHeaders, propagator?: TextMapPropagator): Context {
  return effectivePropagator(propagator).extract(base, headers, headerGetter);
}

/** Writes into a header map, keys lower-cased (gRPC metadata keys are). One object for every call. */
const headerSetter: TextMapSetter<Record<string, string>> = {
  set(carrier, key, value) {
    carrier[key.toLowerCase()] = String(value);
  },
};

/** Writes the context's trace headers (W3C `traceparent`, `tracestate`, baggage when configured) into a new map. */
export function injectContext(ctx: Context, propagator?: TextMapPropagator): Record<string, string> {
  const carrier: Record<string, string> = {};
  effectivePropagator(propagator).inject(ctx, carrier, headerSetter);
  return carrier;
}
