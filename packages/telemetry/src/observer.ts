/**
 * The call observer Fairway's call layer drives: one CLIENT span per call, one child span per attempt, W3C
 * trace context in each attempt's outgoing metadata, and the golden metrics.
 */
import {
  context,
  diag,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type MeterProvider,
  type Span,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type {
  AttemptObserver,
  AttemptOutcome,
  AttemptStart,
  CallDescription,
  CallObserver,
  CallObserverFactory,
  EjectionEvent,
  PickExplanation,
} from '@fairway/core';
import { FairwayAttributes as A, FairwayEvents as E, redactTarget, splitAddress, splitMethod } from './attributes.js';
import { GoldenMetrics, type CardinalityLimits } from './metrics.js';
import { injectContext } from './propagation.js';
import { TELEMETRY_SCOPE_NAME, TELEMETRY_VERSION } from './version.js';

/** Options of {@link createTelemetryObserver}. */
export interface TelemetryObserverOptions {
  /** Where spans go. Default: the global tracer provider of `@opentelemetry/api` (set by `setupTelemetry`). */
  readonly tracerProvider?: TracerProvider;
  /**
   * Where metrics go. Default: the global meter provider of `@opentelemetry/api`, looked up again whenever it
   * changes (so an observer made before `setupTelemetry` still records).
   */
  readonly meterProvider?: MeterProvider;
  /**
   * Writes trace context into each attempt's metadata. Default: the global propagator when one is registered
   * (`setupTelemetry` registers W3C trace context + baggage), else W3C trace context alone.
   */
  readonly propagator?: TextMapPropagator;
  /** Record metrics. Default `true`. */
  readonly metrics?: boolean;
  /** Caps on distinct metric attribute values (methods 256, endpoints 256, zones 64 by default). */
  readonly cardinality?: CardinalityLimits;
  /**
   * Longest status detail text kept as a span's status message, in characters. Default 256. Status details
   * are the server's or grpc-js's error text, never metadata or message bodies.
   */
  readonly maxStatusDetailsLength?: number;
}

const NOOP_ATTEMPT: AttemptObserver = {
  onPick() {},
  outgoingHeaders: () => ({}),
  onEnd() {},
};
const NOOP_CALL: CallObserver = {
  onAttemptStart: () => NOOP_ATTEMPT,
  onEnd() {},
};

let warned = false;
function swallow(where: string, error: unknown): void {
  if (warned) return;
  warned = true;
  try {
    diag.warn(`@fairway/telemetry: ignored an error in ${where} (further ones are not logged)`, error);
  } catch {
    /* never throw */
  }
}

/**
 * Makes the observer to pass in the factory's `observers` option:
 * `createClient(PricerClient, target, creds, { observers: [createTelemetryObserver()] })`.
 *
 * Per call it opens a CLIENT span `<package.Service>/<Method>` as a child of the active context (so a call
 * made inside a traced server handler joins that trace), and one CLIENT child span per attempt carrying the
 * endpoint, zones, the pick's reason and any retry reason. Each attempt's metadata gets that attempt's W3C
 * `traceparent`. Metadata values, credentials and message bodies are never recorded. It never throws: any
 * internal error is swallowed (logged once through the OpenTelemetry diag logger).
 */
export function createTelemetryObserver(options: TelemetryObserverOptions = {}): CallObserverFactory {
  const maxDetails = options.maxStatusDetailsLength ?? 256;
  if (!Number.isInteger(maxDetails) || maxDetails < 0) {
    throw new RangeError(`maxStatusDetailsLength must be a non-negative integer, got ${String(maxDetails)}`);
  }
  const tracer: Tracer = options.tracerProvider
    ? options.tracerProvider.getTracer(TELEMETRY_SCOPE_NAME, TELEMETRY_VERSION)
    : trace.getTracer(TELEMETRY_SCOPE_NAME, TELEMETRY_VERSION);
  const golden = options.metrics === false ? undefined : new GoldenMetrics(options.meterProvider, options.cardinality);
  const shared: Shared = { tracer, golden, propagator: options.propagator, maxDetails, openCalls: new Map() };
  return {
    onCallStart(call: CallDescription): CallObserver {
      try {
        return new CallSpan(shared, call);
      } catch (error) {
        swallow('onCallStart', error);
        return NOOP_CALL;
      }
    },
    onEndpointEvent(event: EjectionEvent): void {
      try {
        endpointEvent(shared, event);
      } catch (error) {
        swallow('onEndpointEvent', error);
      }
    },
  };
}

/** Calls one ejection event is added to, at most: a latency outlier may have many calls in flight. */
const MAX_CALLS_PER_ENDPOINT_EVENT = 16;

/**
 * An ejection or re-admission: a metric, and a span event on every open call that tried that endpoint: on its
 * attempt spans still open there (the balancer decides while releasing the attempt whose outcome tipped it,
 * before that attempt's own end reaches the observer, so that attempt is among them), else on the call span
 * (an attempt that timed out has ended before its release; the call goes on with a retry). The probe
 * (ejection time over, one call allowed) is neither: the probe's pick reason already says so.
 */
function endpointEvent(shared: Shared, event: EjectionEvent): void {
  if (!event || (event.kind !== 'ejected' && event.kind !== 'readmitted')) return;
  const address = String(event.address ?? '');
  const reason = String(event.reason ?? 'unknown');
  shared.golden?.recordEndpointEvent(event.kind, reason, address);
  const attrs: Attributes = {
    [A.ENDPOINT_ADDRESS]: address,
    [A.EJECTION_REASON]: reason,
    [A.EJECTIONS_IN_A_ROW]: Number(event.ejections ?? 0),
    [A.EJECTION_DETAIL]: String(event.detail ?? ''),
  };
  if (event.kind === 'ejected' && event.durationMs !== undefined) attrs[A.EJECTION_DURATION_MS] = Number(event.durationMs);
  const name = event.kind === 'ejected' ? E.EJECTED : E.READMITTED;
  let n = 0;
  for (const call of shared.openCalls.get(address) ?? []) {
    if (n++ >= MAX_CALLS_PER_ENDPOINT_EVENT) break;
    let onAttempt = false;
    for (const a of call.open) {
      if (a.pick?.address !== address) continue;
      a.span.addEvent(name, attrs);
      onAttempt = true;
    }
    if (!onAttempt) call.span.addEvent(name, attrs);
  }
}

function register<T>(map: Map<string, Set<T>>, key: string, value: T): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function unregister<T>(map: Map<string, Set<T>>, key: string, value: T): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}

interface Shared {
  readonly tracer: Tracer;
  readonly golden: GoldenMetrics | undefined;
  readonly propagator: TextMapPropagator | undefined;
  readonly maxDetails: number;
  /** Open call spans by the addresses their attempts picked (for ejection events). */
  readonly openCalls: Map<string, Set<CallSpan>>;
}

function details(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

class CallSpan implements CallObserver {
  readonly span: Span;
  readonly ctx: Context;
  readonly spanName: string;
  readonly baseAttributes: Attributes;
  readonly metricMethod: Attributes | undefined;
  readonly clientZone: string | undefined;
  readonly startMs = performance.now();
  readonly open = new Set<AttemptSpan>();
  /** Addresses this call is registered under in `shared.openCalls`. */
  readonly addresses = new Set<string>();
  attempts = 0;
  lastPick: PickExplanation | undefined;
  ended = false;

  constructor(
    readonly shared: Shared,
    call: CallDescription,
  ) {
    const parts = splitMethod(String(call.method ?? ''));
    this.spanName = parts.spanName;
    this.clientZone = call.clientZone || undefined;
    this.baseAttributes = {
      [A.RPC_SYSTEM]: 'grpc',
      [A.RPC_SERVICE]: parts.service,
      [A.RPC_METHOD]: parts.method,
      // On every attempt span too (they start from these): which settings the attempt ran under.
      ...(typeof call.configRevision === 'number' ? { [A.CONFIG_REVISION]: call.configRevision } : {}),
    };
    const attributes: Attributes = { ...this.baseAttributes, [A.TARGET]: redactTarget(String(call.target ?? '')) };
    if (this.clientZone) attributes[A.CLIENT_ZONE] = this.clientZone;
    const parent = context.active();
    this.span = shared.tracer.startSpan(this.spanName, { kind: SpanKind.CLIENT, attributes }, parent);
    this.ctx = trace.setSpan(parent, this.span);
    this.metricMethod = shared.golden?.methodAttributes(parts.service, parts.method);
  }

  onAttemptStart(attempt: number, start?: AttemptStart): AttemptObserver {
    try {
      if (this.ended) return NOOP_ATTEMPT;
      this.attempts = Math.max(this.attempts, attempt);
      const a = new AttemptSpan(this, attempt, start);
      this.open.add(a);
      return a;
    } catch (error) {
      swallow('onAttemptStart', error);
      return NOOP_ATTEMPT;
    }
  }

  onEnd(status: { readonly code: number; readonly details: string }): void {
    try {
      if (this.ended) return;
      this.ended = true;
      // Defensive: an attempt the call layer never ended is closed here (without metrics).
      for (const a of this.open) a.abandon();
      this.open.clear();
      for (const address of this.addresses) unregister(this.shared.openCalls, address, this);
      this.addresses.clear();
      const code = Number(status?.code ?? 2);
      const span = this.span;
      span.setAttribute(A.RPC_GRPC_STATUS_CODE, code);
      span.setAttribute(A.ATTEMPTS, this.attempts);
      try {
        if (this.lastPick) {
          const { host, port } = splitAddress(this.lastPick.address);
          span.setAttribute(A.SERVER_ADDRESS, host);
          if (port !== undefined) span.setAttribute(A.SERVER_PORT, port);
        }
      } catch (error) {
        swallow('onEnd (call)', error);
      }
      try {
        if (code !== 0) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: details(String(status?.details ?? ''), this.shared.maxDetails) });
        }
      } finally {
        span.end();
      }
      if (this.shared.golden && this.metricMethod) {
        this.shared.golden.recordCall({
          method: this.metricMethod,
          clientZone: this.clientZone,
          code,
          durationMs: performance.now() - this.startMs,
        });
      }
    } catch (error) {
      swallow('onEnd (call)', error);
    }
  }
}

class AttemptSpan implements AttemptObserver {
  readonly span: Span;
  readonly ctx: Context;
  readonly startMs = performance.now();
  pick: PickExplanation | undefined;
  picks = 0;
  ended = false;

  constructor(
    readonly call: CallSpan,
    readonly attempt: number,
    start: AttemptStart | undefined,
  ) {
    const attributes: Attributes = { ...call.baseAttributes, [A.ATTEMPT]: attempt };
    if (call.clientZone) attributes[A.CLIENT_ZONE] = call.clientZone;
    if (start?.reason) attributes[A.ATTEMPT_REASON] = String(start.reason);
    this.span = call.shared.tracer.startSpan(
      `${call.spanName} attempt ${attempt}`,
      { kind: SpanKind.CLIENT, attributes },
      call.ctx,
    );
    this.ctx = trace.setSpan(call.ctx, this.span);
    if (start?.reason === 'hedge') {
      this.span.addEvent(E.HEDGED, { 'fairway.hedge.detail': String(start.detail ?? '') });
      if (call.shared.golden && call.metricMethod) call.shared.golden.recordHedge(call.metricMethod);
    }
  }

  onPick(pick: PickExplanation): void {
    try {
      if (this.ended || !pick) return;
      this.picks += 1;
      const span = this.span;
      if (this.picks > 1 && this.pick && this.pick.address !== pick.address) {
        span.addEvent('fairway.repick', { 'fairway.previous.endpoint.address': this.pick.address });
      }
      if (!this.call.ended && !this.call.addresses.has(pick.address)) {
        this.call.addresses.add(pick.address);
        register(this.call.shared.openCalls, pick.address, this.call);
      }
      this.pick = pick;
      this.call.lastPick = pick;
      const attrs: Attributes = {
        [A.ENDPOINT_ADDRESS]: pick.address,
        [A.ZONE_MODE]: pick.zoneMode,
        [A.PICK_REASON]: pick.reason,
        [A.PICK_COUNT]: this.picks,
      };
      const { host, port } = splitAddress(pick.address);
      attrs[A.SERVER_ADDRESS] = host;
      if (port !== undefined) attrs[A.SERVER_PORT] = port;
      if (pick.zone) attrs[A.ENDPOINT_ZONE] = pick.zone;
      if (pick.instance) attrs[A.ENDPOINT_INSTANCE] = pick.instance;
      if (pick.incarnation) attrs[A.ENDPOINT_INCARNATION] = pick.incarnation;
      const clientZone = pick.clientZone || this.call.clientZone;
      if (clientZone) attrs[A.CLIENT_ZONE] = clientZone;
      if (clientZone && pick.zone) attrs[A.CROSS_ZONE] = clientZone !== pick.zone;
      if (pick.canary) {
        attrs[A.CANARY_GROUP] = pick.canary.group;
        if (pick.canary.halted) {
          span.addEvent(E.CANARY_HALTED, { [A.CANARY_HALT_REASON]: pick.canary.halted });
          if (this.call.shared.golden && this.call.metricMethod) this.call.shared.golden.recordCanaryHalt(this.call.metricMethod);
        }
      }
      span.setAttributes(attrs);
    } catch (error) {
      swallow('onPick', error);
    }
  }

  outgoingHeaders(): Readonly<Record<string, string>> {
    try {
      return injectContext(this.ctx, this.call.shared.propagator);
    } catch (error) {
      swallow('outgoingHeaders', error);
      return {};
    }
  }

  onEnd(outcome: AttemptOutcome): void {
    try {
      if (this.ended) return;
      this.ended = true;
      this.call.open.delete(this);
      const code = Number(outcome?.code ?? 2);
      const span = this.span;
      try {
        span.setAttribute(A.RPC_GRPC_STATUS_CODE, code);
        if (outcome?.timedOut) span.setAttribute(A.ATTEMPT_TIMED_OUT, true);
        if (outcome?.retryReason) span.setAttribute(A.RETRY_REASON, String(outcome.retryReason));
        if (outcome?.retryRefusedReason) span.setAttribute(A.RETRY_REFUSED, String(outcome.retryRefusedReason));
        if (outcome?.repickReason) {
          span.setAttribute(A.REPICK_REASON, String(outcome.repickReason));
          span.addEvent(E.REPICKED, { [A.REPICK_REASON]: String(outcome.repickReason) });
        }
        if (code !== 0) {
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: details(String(outcome?.details ?? ''), this.call.shared.maxDetails),
          });
        }
      } finally {
        span.end();
      }
      const golden = this.call.shared.golden;
      if (golden && this.call.metricMethod) {
        golden.recordAttempt({
          method: this.call.metricMethod,
          clientZone: this.pick?.clientZone || this.call.clientZone,
          code,
          durationMs: performance.now() - this.startMs,
          address: this.pick?.address,
          endpointZone: this.pick?.zone,
          retried: Boolean(outcome?.retryReason),
          refused: Boolean(outcome?.retryRefusedReason),
          repicked: Boolean(outcome?.repickReason),
        });
      }
    } catch (error) {
      swallow('onEnd (attempt)', error);
    }
  }

  /** Ends the span of an attempt the call layer never ended. */
  abandon(): void {
    if (this.ended) return;
    this.ended = true;
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: 'call ended before this attempt reported its end' });
    this.span.end();
  }
}
