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
 *
 * Cost: it runs on every call, sampled or not, so the per-call path builds nothing a span that is not
 * recording would drop (the pick's attributes, the status attributes) and derives nothing twice: span names
 * and metric attributes are worked out once per method, endpoint hosts and ports once per address. The
 * attempts of a call that is not recorded start no span of their own (see `AttemptSpan`): their metadata
 * carries the call's unsampled context, and their metrics are recorded as for any attempt.
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
  const shared: Shared = {
    tracer,
    golden,
    propagator: options.propagator,
    maxDetails,
    openCalls: new Map(),
    methods: new Map(),
    addresses: new Map(),
    target: undefined,
  };
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

/**
 * Addresses whose (empty) set of open calls is kept in `Shared.openCalls` for the next call: at a few calls in
 * flight each call would otherwise make and drop a set. Past this many addresses (endpoints come and go in a
 * rolling restart) an emptied set is dropped at once.
 */
const KEPT_EMPTY_ADDRESS_SETS = 64;

function register(map: Map<string, Set<CallSpan>>, key: string, value: CallSpan): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function unregister(map: Map<string, Set<CallSpan>>, key: string, value: CallSpan): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0 && map.size > KEPT_EMPTY_ADDRESS_SETS) map.delete(key);
}

/** Per method (its path as the call layer gives it): what every call of it would otherwise work out again. */
interface MethodInfo {
  readonly service: string;
  readonly method: string;
  /** `<package.Service>/<Method>`, the call span's name. */
  readonly spanName: string;
  /** `<spanName> attempt <n>` at index n, made when first needed. */
  readonly attemptNames: string[];
  /** The bounded metric attributes of the method (undefined without metrics). */
  readonly metricMethod: Attributes | undefined;
}

/** Methods, and addresses, whose derived values an observer keeps (a client calls a few; this bounds a strange one). */
const MAX_CACHED = 1_024;

/** Host and port of an endpoint address (`server.address`, `server.port`). */
type HostPort = ReturnType<typeof splitAddress>;

interface Shared {
  readonly tracer: Tracer;
  readonly golden: GoldenMetrics | undefined;
  readonly propagator: TextMapPropagator | undefined;
  readonly maxDetails: number;
  /** Open call spans by the addresses their attempts picked (for ejection events). */
  readonly openCalls: Map<string, Set<CallSpan>>;
  readonly methods: Map<string, MethodInfo>;
  readonly addresses: Map<string, HostPort>;
  /** The last target seen and its redacted form (an observer usually serves one channel). */
  target: { readonly raw: string; readonly redacted: string } | undefined;
}

function methodInfo(shared: Shared, path: string): MethodInfo {
  const cached = shared.methods.get(path);
  if (cached !== undefined) return cached;
  const parts = splitMethod(path);
  const info: MethodInfo = {
    service: parts.service,
    method: parts.method,
    spanName: parts.spanName,
    attemptNames: [],
    // Asked once per method: a method the cap kept (or folded into `_other`) stays so, whenever asked.
    metricMethod: shared.golden?.methodAttributes(parts.service, parts.method),
  };
  if (shared.methods.size < MAX_CACHED) shared.methods.set(path, info);
  return info;
}

function attemptName(info: MethodInfo, attempt: number): string {
  const cached = info.attemptNames[attempt];
  if (cached !== undefined) return cached;
  const name = `${info.spanName} attempt ${attempt}`;
  if (Number.isInteger(attempt) && attempt > 0 && attempt <= 16) info.attemptNames[attempt] = name;
  return name;
}

function hostPort(shared: Shared, address: string): HostPort {
  const cached = shared.addresses.get(address);
  if (cached !== undefined) return cached;
  const split = splitAddress(address);
  if (shared.addresses.size >= MAX_CACHED) shared.addresses.clear();
  shared.addresses.set(address, split);
  return split;
}

function redactedTarget(shared: Shared, raw: string): string {
  const last = shared.target;
  if (last !== undefined && last.raw === raw) return last.redacted;
  const redacted = redactTarget(raw);
  shared.target = { raw, redacted };
  return redacted;
}

function details(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

/*
 * Attribute objects are built as literals plus assignments, never as `{ ...base, key: value }`: a spread that
 * then adds a key is a slow path in V8 (about 0.4 us per object in Node 20), paid on every call.
 */

class CallSpan implements CallObserver {
  readonly span: Span;
  readonly ctx: Context;
  readonly info: MethodInfo;
  readonly configRevision: number | undefined;
  readonly clientZone: string | undefined;
  readonly startMs = performance.now();
  /** Attempts not ended yet (a few at most: an array is cheaper than a set per call). */
  readonly open: AttemptSpan[] = [];
  /** Addresses this call is registered under in `shared.openCalls`. */
  readonly addresses: string[] = [];
  attempts = 0;
  lastPick: PickExplanation | undefined;
  ended = false;

  constructor(
    readonly shared: Shared,
    call: CallDescription,
  ) {
    this.info = methodInfo(shared, String(call.method ?? ''));
    this.clientZone = call.clientZone || undefined;
    // On every attempt span too (they start from these): which settings the attempt ran under.
    this.configRevision = typeof call.configRevision === 'number' ? call.configRevision : undefined;
    const attributes: Attributes = {
      [A.RPC_SYSTEM]: 'grpc',
      [A.RPC_SERVICE]: this.info.service,
      [A.RPC_METHOD]: this.info.method,
    };
    if (this.configRevision !== undefined) attributes[A.CONFIG_REVISION] = this.configRevision;
    attributes[A.TARGET] = redactedTarget(shared, String(call.target ?? ''));
    if (this.clientZone) attributes[A.CLIENT_ZONE] = this.clientZone;
    const parent = context.active();
    this.span = shared.tracer.startSpan(this.info.spanName, { kind: SpanKind.CLIENT, attributes }, parent);
    this.ctx = trace.setSpan(parent, this.span);
  }

  onAttemptStart(attempt: number, start?: AttemptStart): AttemptObserver {
    try {
      if (this.ended) return NOOP_ATTEMPT;
      this.attempts = Math.max(this.attempts, attempt);
      const a = new AttemptSpan(this, attempt, start);
      this.open.push(a);
      return a;
    } catch (error) {
      swallow('onAttemptStart', error);
      return NOOP_ATTEMPT;
    }
  }

  /** The attempt reported its end: no longer open. */
  closed(a: AttemptSpan): void {
    const i = this.open.indexOf(a);
    if (i >= 0) this.open.splice(i, 1);
  }

  onEnd(status: { readonly code: number; readonly details: string }): void {
    try {
      if (this.ended) return;
      this.ended = true;
      // Defensive: an attempt the call layer never ended is closed here (without metrics).
      for (const a of this.open) a.abandon();
      this.open.length = 0;
      for (const address of this.addresses) unregister(this.shared.openCalls, address, this);
      this.addresses.length = 0;
      const code = Number(status?.code ?? 2);
      const span = this.span;
      try {
        // A span that is not recording drops attributes and status: nothing to work out for it.
        if (span.isRecording()) {
          span.setAttribute(A.RPC_GRPC_STATUS_CODE, code);
          span.setAttribute(A.ATTEMPTS, this.attempts);
          try {
            if (this.lastPick) {
              const { host, port } = hostPort(this.shared, this.lastPick.address);
              span.setAttribute(A.SERVER_ADDRESS, host);
              if (port !== undefined) span.setAttribute(A.SERVER_PORT, port);
            }
          } catch (error) {
            swallow('onEnd (call)', error);
          }
          if (code !== 0) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: details(String(status?.details ?? ''), this.shared.maxDetails) });
          }
        }
      } finally {
        span.end();
      }
      const metricMethod = this.info.metricMethod;
      if (this.shared.golden && metricMethod) {
        this.shared.golden.recordCall({
          method: metricMethod,
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
    const info = call.info;
    if (!call.span.isRecording()) {
      // The call is not recorded (not sampled), so neither are its attempts: an attempt span without its call
      // would be an orphan in the trace. No span is started: the sampler and the id generator are skipped for
      // every attempt of the calls a sampling ratio leaves out, and the attempt carries the call's own
      // (unsampled) context downstream, which says "not sampled" as an attempt's own would.
      this.span = trace.wrapSpanContext(call.span.spanContext());
      this.ctx = call.ctx;
    } else {
      const attributes: Attributes = {
        [A.RPC_SYSTEM]: 'grpc',
        [A.RPC_SERVICE]: info.service,
        [A.RPC_METHOD]: info.method,
      };
      if (call.configRevision !== undefined) attributes[A.CONFIG_REVISION] = call.configRevision;
      attributes[A.ATTEMPT] = attempt;
      if (call.clientZone) attributes[A.CLIENT_ZONE] = call.clientZone;
      if (start?.reason) attributes[A.ATTEMPT_REASON] = String(start.reason);
      this.span = call.shared.tracer.startSpan(attemptName(info, attempt), { kind: SpanKind.CLIENT, attributes }, call.ctx);
      this.ctx = trace.setSpan(call.ctx, this.span);
    }
    if (start?.reason === 'hedge') {
      this.span.addEvent(E.HEDGED, { 'fairway.hedge.detail': String(start.detail ?? '') });
      if (call.shared.golden && info.metricMethod) call.shared.golden.recordHedge(info.metricMethod);
    }
  }

  onPick(pick: PickExplanation): void {
    try {
      if (this.ended || !pick) return;
      this.picks += 1;
      const span = this.span;
      const call = this.call;
      const recording = span.isRecording();
      if (recording && this.picks > 1 && this.pick && this.pick.address !== pick.address) {
        span.addEvent('fairway.repick', { 'fairway.previous.endpoint.address': this.pick.address });
      }
      // Ejection events go to the open calls' spans: a call that records none has nothing to register for.
      if (recording && !call.ended && !call.addresses.includes(pick.address)) {
        call.addresses.push(pick.address);
        register(call.shared.openCalls, pick.address, call);
      }
      this.pick = pick;
      call.lastPick = pick;
      const halted = pick.canary?.halted;
      if (halted) {
        span.addEvent(E.CANARY_HALTED, { [A.CANARY_HALT_REASON]: halted });
        if (call.shared.golden && call.info.metricMethod) call.shared.golden.recordCanaryHalt(call.info.metricMethod);
      }
      // The pick's attributes are the bulk of an attempt span: worked out only for a span that keeps them, and
      // set one by one (in the order an attributes object would list them): `setAttributes` with an object
      // costs that object and a for-in over it, and then sets them one by one all the same.
      if (!recording) return;
      span.setAttribute(A.ENDPOINT_ADDRESS, pick.address);
      span.setAttribute(A.ZONE_MODE, pick.zoneMode);
      span.setAttribute(A.PICK_REASON, pick.reason);
      span.setAttribute(A.PICK_COUNT, this.picks);
      const { host, port } = hostPort(call.shared, pick.address);
      span.setAttribute(A.SERVER_ADDRESS, host);
      if (port !== undefined) span.setAttribute(A.SERVER_PORT, port);
      if (pick.zone) span.setAttribute(A.ENDPOINT_ZONE, pick.zone);
      if (pick.instance) span.setAttribute(A.ENDPOINT_INSTANCE, pick.instance);
      if (pick.incarnation) span.setAttribute(A.ENDPOINT_INCARNATION, pick.incarnation);
      const clientZone = pick.clientZone || call.clientZone;
      if (clientZone) span.setAttribute(A.CLIENT_ZONE, clientZone);
      if (clientZone && pick.zone) span.setAttribute(A.CROSS_ZONE, clientZone !== pick.zone);
      if (pick.canary) span.setAttribute(A.CANARY_GROUP, pick.canary.group);
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
      this.call.closed(this);
      const code = Number(outcome?.code ?? 2);
      const span = this.span;
      try {
        if (span.isRecording()) {
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
        }
      } finally {
        span.end();
      }
      const golden = this.call.shared.golden;
      const metricMethod = this.call.info.metricMethod;
      if (golden && metricMethod) {
        golden.recordAttempt({
          method: metricMethod,
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
