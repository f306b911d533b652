/**
 * Canary routing: endpoints marked canary (`EndpointInfo.canary`) get a configured share of the calls whatever
 * their number (the group is drawn first, then p2c picks inside it), optionally sticky by a request key, and
 * an automatic halt when the canary's error rate or p99 latency is worse than the stable endpoints' by a
 * configured margin over a window. Pure: time and randomness are arguments.
 *
 * @packageDocumentation
 */
import { showValue } from './show-value.js';

/** Canary settings (the live configuration document's `canary` section). */
export interface CanaryOptions {
  /** Share of calls sent to the canary endpoints, 0..1 (e.g. 0.1: one call in ten). Required. */
  readonly share: number;
  /**
   * Metadata key whose value makes the choice sticky: the same key always goes to the same group (while the
   * share stays the same). Absent: each call is drawn at random.
   */
  readonly stickyHeader?: string;
  /** Automatic halt; absent: the defaults below; `false`: never halt. */
  readonly halt?: CanaryHaltOptions | false;
}

/** When the canary is halted: worse than stable by a margin, over a window. */
export interface CanaryHaltOptions {
  /** Halt when the canary's error rate exceeds stable's by more than this (absolute, 0..1). Default 0.05 (5 points). */
  readonly errorRateMargin?: number;
  /** Halt when the canary's p99 latency exceeds this multiple of stable's (> 1). Default 2. */
  readonly p99Ratio?: number;
  /** The window the two groups are compared over, ms. Default 30_000. */
  readonly windowMs?: number;
  /** Calls each group needs in the window before a verdict. Default 20: fewer says nothing about a p99 or a rate. */
  readonly minCalls?: number;
}

export interface ResolvedCanaryOptions {
  readonly share: number;
  readonly stickyHeader: string | undefined;
  readonly halt: Required<CanaryHaltOptions> | undefined;
}

export const CANARY_HALT_DEFAULTS: Required<CanaryHaltOptions> = { errorRateMargin: 0.05, p99Ratio: 2, windowMs: 30_000, minCalls: 20 };

/** Why a canary was halted (for a span event, a metric and the CLI). */
export interface CanaryHalt {
  readonly atMs: number;
  /** `error_rate`, `p99`, or `ejection` (a canary endpoint ejected for failing: see `haltForEjection`). */
  readonly cause: 'error_rate' | 'p99' | 'ejection';
  /** E.g. `canary error rate 40.0% vs stable 0.0% over 30000ms (margin 5.0%)`. */
  readonly reason: string;
}

export type CanaryGroup = 'canary' | 'stable';

/** Validates canary options; throws a `RangeError` whose message starts with the field (`share`, `halt.windowMs`, ...). */
export function resolveCanaryOptions(o: CanaryOptions): ResolvedCanaryOptions {
  if (typeof o !== 'object' || o === null) throw new RangeError(`(canary) must be an object, got ${showValue(o)}`);
  if (!(typeof o.share === 'number' && o.share >= 0 && o.share <= 1)) throw new RangeError(`share must be a number from 0 to 1, got ${showValue(o.share)}`);
  if (o.stickyHeader !== undefined && !(typeof o.stickyHeader === 'string' && /^[0-9a-z_.-]+$/.test(o.stickyHeader))) {
    throw new RangeError(`stickyHeader must be a lower-case metadata key, got ${showValue(o.stickyHeader)}`);
  }
  let halt: Required<CanaryHaltOptions> | undefined;
  if (o.halt !== false) {
    const h = o.halt ?? {};
    if (typeof h !== 'object' || h === null) throw new RangeError(`halt must be false or an object, got ${showValue(h)}`);
    const num = (name: keyof CanaryHaltOptions, ok: (v: number) => boolean, what: string): number => {
      const v = h[name];
      if (v === undefined) return CANARY_HALT_DEFAULTS[name];
      if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new RangeError(`halt.${name} must be ${what}, got ${showValue(v)}`);
      return v;
    };
    halt = {
      errorRateMargin: num('errorRateMargin', (v) => v >= 0 && v <= 1, 'a number from 0 to 1'),
      p99Ratio: num('p99Ratio', (v) => v > 1, 'a number above 1'),
      windowMs: num('windowMs', (v) => v >= 1000 && v <= 3_600_000, 'a number of ms from 1000 to 3600000'),
      minCalls: num('minCalls', (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1'),
    };
  }
  return { share: o.share, stickyHeader: o.stickyHeader, halt };
}

/** FNV-1a of a string, as a fraction in [0, 1): the sticky key's fixed draw. */
export function stickyFraction(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // A final avalanche: FNV's low bits of short keys that differ in the last character are close together.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return (h >>> 0) / 0x100000000;
}

interface Sample {
  readonly atMs: number;
  readonly ok: boolean;
  readonly latencyMs: number;
}

/** The outcomes of one group over the window (oldest first). */
class GroupWindow {
  private samples: Sample[] = [];
  private head = 0;

  add(s: Sample): void {
    this.samples.push(s);
  }

  prune(sinceMs: number): void {
    while (this.head < this.samples.length && this.samples[this.head]!.atMs < sinceMs) this.head++;
    if (this.head > 1024 && this.head * 2 > this.samples.length) {
      this.samples = this.samples.slice(this.head);
      this.head = 0;
    }
  }

  get count(): number {
    return this.samples.length - this.head;
  }

  errorRate(): number {
    let errors = 0;
    for (let i = this.head; i < this.samples.length; i++) if (!this.samples[i]!.ok) errors++;
    return this.count === 0 ? 0 : errors / this.count;
  }

  /** p99 of the answered calls' latencies (ms); 0 when none. */
  p99(): number {
    const l: number[] = [];
    for (let i = this.head; i < this.samples.length; i++) if (this.samples[i]!.ok) l.push(this.samples[i]!.latencyMs);
    if (l.length === 0) return 0;
    l.sort((a, b) => a - b);
    return l[Math.min(l.length - 1, Math.ceil(0.99 * l.length) - 1)]!;
  }
}

/**
 * Chooses a group per call and watches both groups' outcomes. `choose` sends `share` of the calls to the
 * canary group (none once halted); `record` takes each call's outcome and, at most every `windowMs / 10`,
 * compares the two groups over the window: a canary worse than stable by the margins halts it (once; it stays
 * halted until `resume` or new settings).
 */
export class CanaryController {
  private readonly canary = new GroupWindow();
  private readonly stable = new GroupWindow();
  private lastEvaluationMs = -Infinity;
  private haltState: CanaryHalt | undefined;

  constructor(readonly options: ResolvedCanaryOptions) {}

  /** The halt, while the canary is halted. */
  get halted(): CanaryHalt | undefined {
    return this.haltState;
  }

  /** The group for a call: `random()` draws it, or the sticky key's fixed fraction when given. */
  choose(random: () => number, stickyKey?: string): CanaryGroup {
    if (this.haltState !== undefined || this.options.share <= 0) return 'stable';
    const draw = stickyKey !== undefined && stickyKey !== '' ? stickyFraction(stickyKey) : random();
    return draw < this.options.share ? 'canary' : 'stable';
  }

  /**
   * A call's outcome: `ok` false for an endpoint failure (UNAVAILABLE, a timeout, ...), `latencyMs` its
   * duration. Returns the halt when this outcome triggered it.
   */
  record(group: CanaryGroup, ok: boolean, latencyMs: number, nowMs: number): CanaryHalt | undefined {
    const h = this.options.halt;
    if (h === undefined || this.haltState !== undefined) return undefined;
    (group === 'canary' ? this.canary : this.stable).add({ atMs: nowMs, ok, latencyMs });
    if (nowMs - this.lastEvaluationMs < h.windowMs / 10) return undefined;
    this.lastEvaluationMs = nowMs;
    return this.evaluate(nowMs);
  }

  /**
   * A canary endpoint was ejected for failing (failures in a row, or a success-rate outlier; not for latency):
   * halts the canary when halting is on. Ejection takes the endpoint out of rotation after a few failures, so the
   * canary's next calls land on stable endpoints and count as stable: the error-rate comparison would see only
   * those few failures against the canary's earlier successes, under the margin at a high call rate and under
   * `minCalls` at a low one, and the canary would never be halted. Returns the halt when this caused it.
   */
  haltForEjection(detail: string, nowMs: number): CanaryHalt | undefined {
    if (this.options.halt === undefined || this.haltState !== undefined) return undefined;
    this.haltState = { atMs: nowMs, cause: 'ejection', reason: `canary endpoint ejected (${detail}): canary halted` };
    return this.haltState;
  }

  /** Sends the canary its share again (after a fix, by hand). */
  resume(): void {
    this.haltState = undefined;
    this.lastEvaluationMs = -Infinity;
  }

  private evaluate(nowMs: number): CanaryHalt | undefined {
    const h = this.options.halt!;
    this.canary.prune(nowMs - h.windowMs);
    this.stable.prune(nowMs - h.windowMs);
    if (this.canary.count < h.minCalls || this.stable.count < h.minCalls) return undefined;
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    const ce = this.canary.errorRate();
    const se = this.stable.errorRate();
    if (ce - se > h.errorRateMargin) {
      this.haltState = {
        atMs: nowMs,
        cause: 'error_rate',
        reason: `canary error rate ${pct(ce)} vs stable ${pct(se)} over ${h.windowMs}ms (margin ${pct(h.errorRateMargin)}): canary halted`,
      };
      return this.haltState;
    }
    const cp = this.canary.p99();
    const sp = this.stable.p99();
    if (sp > 0 && cp > sp * h.p99Ratio) {
      this.haltState = {
        atMs: nowMs,
        cause: 'p99',
        reason: `canary p99 ${cp.toFixed(1)}ms vs stable ${sp.toFixed(1)}ms over ${h.windowMs}ms (limit ${h.p99Ratio}x): canary halted`,
      };
      return this.haltState;
    }
    return undefined;
  }
}
