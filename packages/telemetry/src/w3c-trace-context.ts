/**
 * W3C Trace Context (`traceparent` / `tracestate`, https://www.w3.org/TR/trace-context/) as a propagator on
 * the OpenTelemetry API alone. `@opentelemetry/core` has one too, but it brings `@opentelemetry/semantic-
 * conventions` (about 11 MB installed) into every install of Fairway; this is the fallback used only when no
 * SDK registered a global propagator, so the small format is written here.
 */
import {
  createTraceState,
  isSpanContextValid,
  trace,
  type Context,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
} from '@opentelemetry/api';

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';

/**
 * version-traceid-parentid-flags. Version ff is invalid; a higher version may append fields after a dash,
 * which this reader ignores (the spec's forward-compatibility rule). All-zero ids are checked below.
 */
const TRACEPARENT_FORMAT = /^\s*((?!ff)[0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?\s*$/;

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Reads and writes W3C `traceparent` and `tracestate`. */
export class W3CTraceContext implements TextMapPropagator {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const span = trace.getSpanContext(ctx);
    if (!span || !isSpanContextValid(span)) return;
    const flags = (span.traceFlags & 0xff).toString(16).padStart(2, '0');
    setter.set(carrier, TRACEPARENT, `00-${span.traceId}-${span.spanId}-${flags}`);
    const state = span.traceState?.serialize();
    if (state) setter.set(carrier, TRACESTATE, state);
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const header = first(getter.get(carrier, TRACEPARENT));
    if (!header) return ctx;
    const match = TRACEPARENT_FORMAT.exec(header);
    if (!match) return ctx;
    const [, version, traceId, spanId, flags, extra] = match;
    // Version 00 has exactly four fields; only later versions may carry more.
    if (version === '00' && extra !== undefined) return ctx;
    const stateHeader = getter.get(carrier, TRACESTATE);
    const state = Array.isArray(stateHeader) ? stateHeader.join(',') : stateHeader;
    const spanContext = {
      traceId: traceId!,
      spanId: spanId!,
      traceFlags: parseInt(flags!, 16), // flags this version does not know are passed on as they came
      isRemote: true,
      ...(state ? { traceState: createTraceState(state) } : {}),
    };
    if (!isSpanContextValid(spanContext)) return ctx; // all-zero trace or span id
    return trace.setSpanContext(ctx, spanContext);
  }

  fields(): string[] {
    return [TRACEPARENT, TRACESTATE];
  }
}
