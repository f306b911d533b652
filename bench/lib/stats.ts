/** Latency histograms (hdr-histogram-js) and per-call aggregations. */
import * as hdr from 'hdr-histogram-js';
import type { CallRecord } from './load.js';

export interface LatencySummary {
  readonly count: number;
  /** Milliseconds. */
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

/**
 * Summarises latencies (ms) measured from each call's intended send time: of successful calls, or of every
 * call that ended (failed ones at the time they failed) when `includeFailed`.
 */
export function latency(records: readonly CallRecord[], filter?: (r: CallRecord) => boolean, includeFailed = false): LatencySummary {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
  let n = 0;
  for (const r of records) {
    if ((r.code !== 0 && !includeFailed) || r.endMs < 0) continue;
    if (filter && !filter(r)) continue;
    h.recordValue(Math.max(1, Math.round((r.endMs - r.intendedMs) * 1000)));
    n++;
  }
  const ms = (us: number): number => Math.round(us) / 1000;
  const out: LatencySummary =
    n === 0
      ? { count: 0, p50: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN }
      : {
          count: n,
          p50: ms(h.getValueAtPercentile(50)),
          p99: ms(h.getValueAtPercentile(99)),
          p999: ms(h.getValueAtPercentile(99.9)),
          max: ms(h.maxValue),
          mean: ms(h.mean),
        };
  h.destroy();
  return out;
}

/** Number of calls that ended with a non-OK status (or never ended). */
export function failures(records: readonly CallRecord[], filter?: (r: CallRecord) => boolean): number {
  let n = 0;
  for (const r of records) if (r.code !== 0 && (!filter || filter(r))) n++;
  return n;
}

/** Share of successful calls served by each backend id. */
export function shares(records: readonly CallRecord[], filter?: (r: CallRecord) => boolean): Map<string, number> {
  const counts = new Map<string, number>();
  let n = 0;
  for (const r of records) {
    if (r.code !== 0) continue;
    if (filter && !filter(r)) continue;
    counts.set(r.backend, (counts.get(r.backend) ?? 0) + 1);
    n++;
  }
  const out = new Map<string, number>();
  for (const [k, v] of counts) out.set(k, n === 0 ? 0 : v / n);
  return out;
}

/** Status codes of failed calls, e.g. {"4": 12} (DEADLINE_EXCEEDED x 12). */
export function failureCodes(records: readonly CallRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) if (r.code !== 0) out[String(r.code)] = (out[String(r.code)] ?? 0) + 1;
  return out;
}

export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Percentile of a plain number list (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}
