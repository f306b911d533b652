/**
 * Golden metrics through the OpenTelemetry metrics API, with bounded attribute cardinality.
 *
 * Cardinality: every attribute value that comes from the outside world (method names, endpoint addresses,
 * zones) goes through a {@link BoundedValues} set. The first N distinct values are kept as they are; any
 * further value is recorded as `_other`. So one observer produces at most
 * methods x statuses (17) x endpoints x zones series, with each factor capped (defaults: 256 methods,
 * 256 endpoint addresses, 64 zones). Rolling restarts change endpoint addresses, so a long-lived process
 * would otherwise grow a series per pod it ever saw.
 */
import { createNoopMeter, metrics, type Attributes, type Counter, type Histogram, type Meter, type MeterProvider } from '@opentelemetry/api';
import { FairwayAttributes as A, FairwayMetrics as M } from './attributes.js';
import { TELEMETRY_SCOPE_NAME, TELEMETRY_VERSION } from './version.js';

/** The value recorded in place of any attribute value beyond a cap. */
export const OVERFLOW_ATTRIBUTE_VALUE = '_other';

/** Keeps the first `max` distinct values; maps every later new value to {@link OVERFLOW_ATTRIBUTE_VALUE}. */
export class BoundedValues {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}
  map(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size < this.max) {
      this.seen.add(value);
      return value;
    }
    return OVERFLOW_ATTRIBUTE_VALUE;
  }
  get size(): number {
    return this.seen.size;
  }
}

/** Histogram bucket boundaries for latencies, in milliseconds. */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  0.5, 1, 2, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 10000, 30000,
];

interface Instruments {
  calls: Counter;
  attempts: Counter;
  retries: Counter;
  retryRefusals: Counter;
  callDuration: Histogram;
  attemptDuration: Histogram;
  crossZone: Counter;
  hedges: Counter;
  repicks: Counter;
  ejected: Counter;
  readmitted: Counter;
  canaryHalts: Counter;
}

function createInstruments(meter: Meter): Instruments {
  const advice = { explicitBucketBoundaries: [...LATENCY_BUCKETS_MS] };
  return {
    calls: meter.createCounter(M.CALLS, { description: 'Calls that ended, by method and status', unit: '{call}' }),
    attempts: meter.createCounter(M.ATTEMPTS, {
      description: 'Attempts that ended, by method, status, endpoint and zone',
      unit: '{attempt}',
    }),
    retries: meter.createCounter(M.RETRIES, {
      description: 'Attempts that were followed by a retry (only attempt time-outs are retried)',
      unit: '{retry}',
    }),
    retryRefusals: meter.createCounter(M.RETRY_REFUSALS, {
      description: 'Retries that were wanted but refused (retry budget exhausted, attempt cap, deadline)',
      unit: '{retry}',
    }),
    callDuration: meter.createHistogram(M.CALL_DURATION, {
      description: 'Call latency from start to final status, all attempts included',
      unit: 'ms',
      advice,
    }),
    attemptDuration: meter.createHistogram(M.ATTEMPT_DURATION, {
      description: 'Attempt latency, by endpoint and zone',
      unit: 'ms',
      advice,
    }),
    crossZone: meter.createCounter(M.CROSS_ZONE_ATTEMPTS, {
      description: "Attempts sent to an endpoint outside the caller's zone (both zones known)",
      unit: '{attempt}',
    }),
    hedges: meter.createCounter(M.HEDGES, {
      description: 'Hedge attempts started (no answer after the hedge delay), by method',
      unit: '{attempt}',
    }),
    repicks: meter.createCounter(M.REPICKS, {
      description: 'Attempts that never reached a server and were re-picked on another endpoint at once',
      unit: '{attempt}',
    }),
    ejected: meter.createCounter(M.EJECTED, {
      description: 'Endpoints taken out of the pick set by outlier ejection, by reason and endpoint',
      unit: '{ejection}',
    }),
    readmitted: meter.createCounter(M.READMITTED, {
      description: 'Ejected endpoints re-admitted after their probe call answered, by ejection reason and endpoint',
      unit: '{readmission}',
    }),
    canaryHalts: meter.createCounter(M.CANARY_HALTS, {
      description: 'Automatic canary halts (canary worse than stable by the configured margin)',
      unit: '{halt}',
    }),
  };
}

/** Caps for attribute values, see the module comment. */
export interface CardinalityLimits {
  /** Distinct `package.Service/Method` values kept. Default 256. */
  readonly maxMethods?: number;
  /** Distinct endpoint addresses kept. Default 256. */
  readonly maxEndpoints?: number;
  /** Distinct zone values kept. Default 64. */
  readonly maxZones?: number;
}

/**
 * Records Fairway's golden metrics; every method swallows its own errors.
 *
 * With no meter provider registered (the API's no-op meter) nothing would be recorded, so no attribute object
 * is built: the cardinality caps still count each value as it comes, so which values are kept does not
 * depend on when a provider was registered.
 */
export class GoldenMetrics {
  /** The current provider's instruments; undefined while that provider is the API's no-op one. */
  private instruments: Instruments | undefined;
  private instrumentsFrom: MeterProvider | undefined;
  private readonly methods: BoundedValues;
  private readonly endpoints: BoundedValues;
  private readonly zones: BoundedValues;

  constructor(
    private readonly meterProvider: MeterProvider | undefined,
    limits: CardinalityLimits = {},
  ) {
    this.methods = new BoundedValues(positive(limits.maxMethods, 256, 'maxMethods'));
    this.endpoints = new BoundedValues(positive(limits.maxEndpoints, 256, 'maxEndpoints'));
    this.zones = new BoundedValues(positive(limits.maxZones, 64, 'maxZones'));
  }

  /**
   * The instruments for the current provider, re-made when the global provider changes (the metrics API has
   * no proxy); undefined when its meter is the API's no-op meter.
   */
  private get(): Instruments | undefined {
    const provider = this.meterProvider ?? metrics.getMeterProvider();
    if (provider !== this.instrumentsFrom) {
      const meter = provider.getMeter(TELEMETRY_SCOPE_NAME, TELEMETRY_VERSION);
      this.instruments = meter === createNoopMeter() ? undefined : createInstruments(meter);
      this.instrumentsFrom = provider;
    }
    return this.instruments;
  }

  /**
   * Bounded method attributes for a span name `package.Service/Method`. The observer asks once per method
   * and passes the object to every record of it: never modified.
   */
  methodAttributes(service: string, method: string): Attributes {
    const kept = this.methods.map(`${service}/${method}`);
    if (kept === OVERFLOW_ATTRIBUTE_VALUE) {
      return { [A.RPC_SERVICE]: OVERFLOW_ATTRIBUTE_VALUE, [A.RPC_METHOD]: OVERFLOW_ATTRIBUTE_VALUE };
    }
    return { [A.RPC_SERVICE]: service, [A.RPC_METHOD]: method };
  }

  zone(zone: string | undefined): string {
    return zone === undefined || zone === '' ? 'unknown' : this.zones.map(zone);
  }

  endpoint(address: string | undefined): string {
    return address === undefined || address === '' ? 'none' : this.endpoints.map(address);
  }

  /*
   * Attribute objects are literals plus assignments, never `{ ...method, key: value }`: in V8 a spread that
   * then adds keys takes a slow path (about 0.4 us per object in Node 20), and these run on every call.
   */

  recordAttempt(input: {
    method: Attributes;
    clientZone: string | undefined;
    code: number;
    durationMs: number;
    address: string | undefined;
    endpointZone: string | undefined;
    retried: boolean;
    refused: boolean;
    repicked?: boolean;
  }): void {
    try {
      const inst = this.get();
      const address = this.endpoint(input.address);
      const endpointZone = this.zone(input.endpointZone);
      const clientZone = this.zone(input.clientZone);
      if (inst === undefined) return;
      const service = input.method[A.RPC_SERVICE];
      const method = input.method[A.RPC_METHOD];
      const attrs: Attributes = {
        [A.RPC_SERVICE]: service,
        [A.RPC_METHOD]: method,
        [A.RPC_GRPC_STATUS_CODE]: input.code,
        [A.ENDPOINT_ADDRESS]: address,
        [A.ENDPOINT_ZONE]: endpointZone,
        [A.CLIENT_ZONE]: clientZone,
      };
      inst.attempts.add(1, attrs);
      inst.attemptDuration.record(Math.max(0, input.durationMs), attrs);
      const crossZone =
        input.clientZone !== undefined &&
        input.clientZone !== '' &&
        input.endpointZone !== undefined &&
        input.endpointZone !== '' &&
        input.clientZone !== input.endpointZone;
      if (input.retried || input.repicked || crossZone) {
        const where: Attributes = { [A.RPC_SERVICE]: service, [A.RPC_METHOD]: method, [A.ENDPOINT_ADDRESS]: address, [A.ENDPOINT_ZONE]: endpointZone };
        if (input.retried) inst.retries.add(1, where);
        if (input.repicked) inst.repicks.add(1, where);
        if (crossZone) inst.crossZone.add(1, { ...where, [A.CLIENT_ZONE]: clientZone });
      }
      if (input.refused) inst.retryRefusals.add(1, { [A.RPC_SERVICE]: service, [A.RPC_METHOD]: method });
    } catch {
      /* metrics must never break a call */
    }
  }

  /** An endpoint was ejected or re-admitted (outlier ejection). */
  recordEndpointEvent(kind: 'ejected' | 'readmitted', reason: string, address: string): void {
    try {
      const inst = this.get();
      const endpoint = this.endpoint(address);
      if (inst === undefined) return;
      const attrs: Attributes = { [A.EJECTION_REASON]: reason, [A.ENDPOINT_ADDRESS]: endpoint };
      (kind === 'ejected' ? inst.ejected : inst.readmitted).add(1, attrs);
    } catch {
      /* metrics must never break a pick */
    }
  }

  /** The canary was halted automatically. */
  recordCanaryHalt(method: Attributes): void {
    try {
      this.get()?.canaryHalts.add(1, { ...method });
    } catch {
      /* metrics must never break a call */
    }
  }

  /** A hedge attempt started. */
  recordHedge(method: Attributes): void {
    try {
      this.get()?.hedges.add(1, { ...method });
    } catch {
      /* metrics must never break a call */
    }
  }

  recordCall(input: { method: Attributes; clientZone: string | undefined; code: number; durationMs: number }): void {
    try {
      const inst = this.get();
      const clientZone = this.zone(input.clientZone);
      if (inst === undefined) return;
      const attrs: Attributes = {
        [A.RPC_SERVICE]: input.method[A.RPC_SERVICE],
        [A.RPC_METHOD]: input.method[A.RPC_METHOD],
        [A.RPC_GRPC_STATUS_CODE]: input.code,
        [A.CLIENT_ZONE]: clientZone,
      };
      inst.calls.add(1, attrs);
      inst.callDuration.record(Math.max(0, input.durationMs), attrs);
    } catch {
      /* metrics must never break a call */
    }
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`telemetry cardinality limit ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}
