/**
 * What one load run measured: an HDR histogram of call latency (from each call's intended send time), calls
 * by status, and per endpoint and per zone the attempts sent there and their latency.
 */
import * as hdr from 'hdr-histogram-js';

/** Latency percentiles in milliseconds (recorded in microseconds, 3 significant digits). */
export interface LatencySummary {
  readonly count: number;
  readonly minMs: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

/** Attempts that went to one endpoint (or one zone). */
export interface ShareRow {
  /** `host:port`, or the zone name (`(no zone)` when the endpoint has none). */
  readonly key: string;
  readonly zone?: string;
  readonly attempts: number;
  /** Fraction of all attempts, 0..1. */
  readonly share: number;
  /** Attempts that ended with a status other than OK (including Fairway's attempt timeouts). */
  readonly failed: number;
  readonly latency: LatencySummary;
}

const newHistogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
type Histogram = ReturnType<typeof newHistogram>;

function summarize(h: Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  if (h.totalCount === 0) return { count: 0, minMs: 0, meanMs: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 };
  // HDR reports a percentile as the top of its bucket (3 significant digits), which can lie a little above the
  // largest value recorded (p99.9 26.031 ms above max 26.017): a percentile is never more than the max.
  const max = h.maxValue;
  const at = (p: number) => ms(Math.min(h.getValueAtPercentile(p), max));
  return {
    count: h.totalCount,
    minMs: ms(h.minNonZeroValue),
    meanMs: ms(h.mean),
    p50Ms: at(50),
    p90Ms: at(90),
    p99Ms: at(99),
    p999Ms: at(99.9),
    maxMs: ms(max),
  };
}

interface Bucket {
  zone: string | undefined;
  attempts: number;
  failed: number;
  histogram: Histogram;
}

/** Collects one run's numbers. Latencies are given in milliseconds (fractions allowed). */
export class LoadRecorder {
  private readonly calls = newHistogram();
  private readonly okCalls = newHistogram();
  private readonly statuses = new Map<string, number>();
  private readonly firstDetails = new Map<string, string>();
  private readonly endpoints = new Map<string, Bucket>();
  private attemptsTotal = 0;
  /** Calls sent so far. */
  sent = 0;
  /** Calls ended so far. */
  ended = 0;
  /** Calls that needed more than one attempt. */
  retried = 0;

  /** A call ended with `statusName` after `latencyMs` (from its intended send time). */
  callEnded(statusName: string, latencyMs: number, details?: string): void {
    if (statusName !== 'OK' && details && !this.firstDetails.has(statusName)) this.firstDetails.set(statusName, details.slice(0, 300));
    this.ended++;
    const us = Math.max(1, Math.round(latencyMs * 1000));
    this.calls.recordValue(us);
    if (statusName === 'OK') this.okCalls.recordValue(us);
    this.statuses.set(statusName, (this.statuses.get(statusName) ?? 0) + 1);
  }

  /** One attempt went to `address` (in `zone`) and ended, OK or not, after `latencyMs`. */
  attemptEnded(address: string, zone: string | undefined, ok: boolean, latencyMs: number): void {
    this.attemptsTotal++;
    let b = this.endpoints.get(address);
    if (!b) this.endpoints.set(address, (b = { zone, attempts: 0, failed: 0, histogram: newHistogram() }));
    if (zone !== undefined) b.zone = zone;
    b.attempts++;
    if (!ok) b.failed++;
    b.histogram.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
  }

  /** Calls ended so far, by status name (`OK`, `DEADLINE_EXCEEDED`, `UNAVAILABLE`...). */
  statusCounts(): Record<string, number> {
    return Object.fromEntries([...this.statuses.entries()].sort((a, b) => b[1] - a[1]));
  }

  /** The details of the first call that ended with each error status (what to look at first). */
  errorDetails(): Record<string, string> {
    return Object.fromEntries(this.firstDetails);
  }

  latency(): LatencySummary {
    return summarize(this.calls);
  }

  okLatency(): LatencySummary {
    return summarize(this.okCalls);
  }

  /** Per endpoint, most attempts first. */
  endpointRows(): ShareRow[] {
    return [...this.endpoints.entries()]
      .map(([key, b]) => ({
        key,
        ...(b.zone !== undefined ? { zone: b.zone } : {}),
        attempts: b.attempts,
        share: this.attemptsTotal ? b.attempts / this.attemptsTotal : 0,
        failed: b.failed,
        latency: summarize(b.histogram),
      }))
      .sort((a, b) => b.attempts - a.attempts || a.key.localeCompare(b.key));
  }

  /** Per zone (endpoints without a zone under `(no zone)`), most attempts first. */
  zoneRows(): ShareRow[] {
    const zones = new Map<string, Bucket>();
    for (const b of this.endpoints.values()) {
      const key = b.zone || '(no zone)';
      let z = zones.get(key);
      if (!z) zones.set(key, (z = { zone: key, attempts: 0, failed: 0, histogram: newHistogram() }));
      z.attempts += b.attempts;
      z.failed += b.failed;
      z.histogram.add(b.histogram);
    }
    return [...zones.entries()]
      .map(([key, b]) => ({ key, attempts: b.attempts, share: this.attemptsTotal ? b.attempts / this.attemptsTotal : 0, failed: b.failed, latency: summarize(b.histogram) }))
      .sort((a, b) => b.attempts - a.attempts || a.key.localeCompare(b.key));
  }

  get attempts(): number {
    return this.attemptsTotal;
  }
}
