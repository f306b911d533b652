/**
 * Peak-EWMA load: the per-endpoint load metric that the power-of-two-choices picker compares.
 *
 * Origin: tower `src/load/peak_ewma.rs` (Linkerd) and Finagle `loadbalancer/PeakEwma.scala`.
 * - `cost = rttEstimate x (inFlight + 1) / weight`. In-flight is counted at pick time.
 * - A sample slower than the current estimate replaces it at once (the "peak"); a faster one is blended
 *   with weight `1 - exp(-elapsed / decayMs)`; with no samples the estimate decays toward 0 as
 *   `rtt x exp(-idle / decayMs)`, so a stale average can never starve an endpoint forever.
 * - An endpoint with no answer yet is seeded by the caller (set median, 30 ms when empty) and probed once:
 *   while its first call is in flight its cost is {@link PROBE_PENDING_COST_MS} (Finagle's rule). Its first
 *   answer replaces the seed (tower blends it, so a 2 ms endpoint seeded at 30 ms looked like ~30 ms).
 *
 * Fairway's changes, for fast recovery from a lone spike (tower needs 10 s x ln 99 = 46 s for one 1 s stall
 * on a 10 ms endpoint to fall back under 20 ms, however many fast answers come):
 * 1. Spike cap. A "high" outcome (a sample above `capMs = spikeCapFactor x set median`, or a failure or a
 *    timeout penalty) that follows a normal one raises the estimate to at most `capMs`. Only a second high
 *    outcome in a row is taken in full. One slow answer is noise; two in a row is a signal.
 * 2. Agreeing answers end a held spike. While the estimate holds a lone high outcome (capped by 1), a faster
 *    answer within a factor 2 of the previous (normal) answer moves it at least {@link AGREE_WEIGHT} (25 %) of
 *    the way, whatever the elapsed time, until it is within 2x of the answers. Only then: an estimate that
 *    follows ordinary answers blends as in tower (see the end of this comment).
 * 3. Recovery probes (in the Balancer, see `recoveryProbeMs`): an endpoint whose estimate is above the set's
 *    median, with nothing in flight and no outcome for `recoveryProbeMs`, is valued at the median for one
 *    pick; if that call comes back normal, its sample *replaces* the estimate (`recovered`). Such an estimate
 *    is stale: a costly endpoint is not picked, so it gives no fresh answer, and would otherwise only decay
 *    (tower: ~40 s from a 1 s penalty to a 10 ms set). While probes come back slow the wait doubles, up to
 *    `recoveryProbeMaxMs`; after a failure no probe is sent.
 * 4. Young endpoints follow their warming answers. While an endpoint ramps (slow start), a faster answer moves
 *    its estimate at least `minWeight` of the way (the Balancer passes `YOUNG_ESTIMATE_MIN_WEIGHT`, 2 %): its
 *    first answers are a cold start, and tower's 10-s memory of them kept a warm pod at 0.7-0.8 of its share
 *    for seconds (see `slow-start.ts`).
 * Both 1 and 2 only ever move the estimate down relative to tower's, so for answers of `r` ms after a lone spike
 * in a set of median `m` the estimate is at most `r + (k m - r) exp(-t / decayMs)` at time `t`. With k = 3,
 * m = r = 10 ms, decay 10 s: under 20 ms within 10 s x ln 2 = 6.9 s whatever the traffic (with none at all, the
 * idle decay 30 x exp(-t/10 s) gets there in 4.1 s), or after 4 fast answers (1 unagreeing + 3 agreeing:
 * 20 x 0.75^3 < 10), whichever comes first.
 * Until 2026-12-03 rule 2 applied to every faster answer, not only after a held spike. It made equal pods'
 * estimates follow their last few answers, 1-3x apart from tail noise alone, and p2c chased that noise into
 * queues: in the open-loop simulation of nine pods with a capacity (`balancer-simulation.test.ts`) Fairway's p50
 * was +9 % against round robin's. Removing the rule altogether (tower's blend only) brought that to +2.5-4 %, but
 * then a lone spike on a busy endpoint (a hedge that lost its race, a GC pause) kept it at the cap for seconds,
 * and with hedging on (benchmark B1) the deterred pods' load went to the others: hedged p99 1.74x the oracle.
 *
 * @packageDocumentation
 */

/** Cost of an endpoint that has never answered while its single probe is in flight (plus its in-flight). */
export const PROBE_PENDING_COST_MS = 1e9;
/** Share by which an agreeing faster answer moves an estimate that holds a lone spike (see module doc). */
export const AGREE_WEIGHT = 0.25;
/** Estimates are never below this (ms), so `x (inFlight + 1)` still orders idle endpoints. */
export const RTT_FLOOR_MS = 1e-3;

/** The mutable load fields of one endpoint. */
export interface LoadState {
  /** RTT estimate (ms) as of `rttAtMs`; read it through {@link decayedRttMs}. */
  rttMs: number;
  rttAtMs: number;
  /** Calls picked and not yet released. */
  inFlight: number;
  /** Relative capacity (> 0); cost is divided by it. */
  weight: number;
  /** True once any outcome other than `cancelled` was recorded. */
  answered: boolean;
  /** The last recorded outcome was high (above the spike cap, or a failure/timeout). */
  lastHigh: boolean;
  /** Last recorded sample (ms); NaN before the first. */
  lastSampleMs: number;
  /**
   * The estimate holds a lone high outcome (capped) that no later answer confirmed: agreeing faster answers
   * move it {@link AGREE_WEIGHT} of the way each until it is within 2x of the answers.
   */
  spikeHeld: boolean;
  /** The last recorded outcome was a failure penalty (not a slow sample or a timeout). */
  lastFailed: boolean;
  /** A recovery probe (see the module doc) is in flight. */
  probing: boolean;
  /** Wait (ms) after a stalled outcome before the next recovery probe; 0 until the first probe is due. */
  probeWaitMs: number;
}

/** Creates the load of a new endpoint seeded with `seedRttMs`. */
export function createLoadState(seedRttMs: number, weight: number, nowMs: number): LoadState {
  return {
    rttMs: Math.max(seedRttMs, RTT_FLOOR_MS),
    rttAtMs: nowMs,
    inFlight: 0,
    weight,
    answered: false,
    lastHigh: false,
    lastSampleMs: Number.NaN,
    lastFailed: false,
    spikeHeld: false,
    probing: false,
    probeWaitMs: 0,
  };
}

/** The RTT estimate decayed to `nowMs`: `rttMs x exp(-(nowMs - rttAtMs) / decayMs)`, floored at 1 us. */
export function decayedRttMs(s: LoadState, nowMs: number, decayMs: number): number {
  return decayedFromMs(s.rttMs, s.rttAtMs, nowMs, decayMs);
}

/** {@link decayedRttMs} of an estimate `rttMs` taken at `rttAtMs` (a snapshot of the load fields). */
export function decayedFromMs(rttMs: number, rttAtMs: number, nowMs: number, decayMs: number): number {
  const idle = nowMs - rttAtMs;
  const v = idle > 0 ? rttMs * decayFactor(idle / decayMs) : rttMs;
  return v > RTT_FLOOR_MS ? v : RTT_FLOOR_MS;
}

/** Where {@link decayFactor} switches from its series to `Math.exp`. */
const SMALL_DECAY = 1 / 64;

/**
 * `exp(-x)` for `x >= 0`. Below {@link SMALL_DECAY} (the usual case: an estimate a few ms old against a decay
 * of seconds) by its Taylor series to x^3, whose error is below x^4 / 24 (< 3e-9 relative); `Math.exp`
 * beyond. Every pick decays both candidates' estimates: ~1.9 ns each instead of `Math.exp`'s ~4.9 (measured alone).
 */
export function decayFactor(x: number): number {
  return x < SMALL_DECAY ? 1 - x * (1 - x * (0.5 - x * (1 / 6))) : Math.exp(-x);
}

/**
 * The cost the picker compares (lower is better): `decayedRtt x (inFlight + 1) / weight`, or
 * `PROBE_PENDING_COST_MS + inFlight` while a never-answered endpoint has a call in flight.
 */
export function loadCost(s: LoadState, nowMs: number, decayMs: number): number {
  return costFrom(s, decayedRttMs(s, nowMs, decayMs));
}

/** {@link loadCost} from an already decayed estimate. */
export function costFrom(s: LoadState, decayedMs: number): number {
  if (!s.answered && s.inFlight > 0) return PROBE_PENDING_COST_MS + s.inFlight;
  return (decayedMs * (s.inFlight + 1)) / s.weight;
}

/**
 * Records one outcome of `sampleMs` at `nowMs`.
 * @param high - true for a failure/timeout penalty, or a sample above `capMs`.
 * @param capMs - spike cap (`spikeCapFactor x set median`): a lone high outcome raises the estimate to at
 *   most this; `Infinity` disables the cap.
 * @param recovered - the sample answers a recovery probe: a normal one replaces the estimate outright.
 * @param minWeight - the least weight of a faster sample in the blend (0: tower's time-based weight alone;
 *   the Balancer passes slow start's `YOUNG_ESTIMATE_MIN_WEIGHT` for an endpoint that ramps).
 */
export function recordSample(
  s: LoadState,
  sampleMs: number,
  high: boolean,
  capMs: number,
  nowMs: number,
  decayMs: number,
  recovered = false,
  minWeight = 0,
): void {
  const sample = sampleMs > RTT_FLOOR_MS ? sampleMs : RTT_FLOOR_MS;
  const elapsed = nowMs > s.rttAtMs ? nowMs - s.rttAtMs : 0;
  const keep = decayFactor(elapsed / decayMs);
  const decayed = Math.max(s.rttMs * keep, RTT_FLOOR_MS);
  let next: number;
  let held = false;
  if (!s.answered) {
    // The seed was a guess, not evidence: the first answer replaces it (a lone high one up to the cap).
    next = high ? Math.min(sample, capMs) : sample;
    held = high;
  } else if (recovered && !high) {
    // A normal answer to a recovery probe: the stall the estimate remembers is over.
    next = sample;
  } else if (sample >= decayed) {
    // Peak: a slower sample replaces the estimate at once; a lone high one only up to the cap.
    const lone = high && !s.lastHigh;
    next = lone ? Math.max(decayed, Math.min(sample, capMs)) : sample;
    held = lone;
  } else {
    // Faster: tower's blend (move toward the sample with weight 1 - exp(-elapsed/decay)) ...
    next = sample + (s.rttMs - sample) * (1 - keep < minWeight ? 1 - minWeight : keep);
    // ... or, while the estimate holds a lone spike, further when the answer agrees with the previous one.
    const prev = s.lastSampleMs;
    if (s.spikeHeld && !s.lastHigh && prev === prev && sample <= 2 * prev && prev <= 2 * sample) {
      const fast = sample + (decayed - sample) * (1 - AGREE_WEIGHT);
      if (fast < next) next = fast;
    }
    held = s.spikeHeld && next > 2 * sample;
  }
  s.spikeHeld = held;
  s.rttMs = next;
  s.rttAtMs = nowMs;
  s.answered = true;
  s.lastHigh = high;
  s.lastSampleMs = sample;
}
