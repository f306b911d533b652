/**
 * Power of two choices: two distinct READY endpoints, keep the cheaper one. The first candidate walks the
 * pool in turn (a rotation that starts at a random place), the second is drawn uniformly from the others.
 *
 * Origin: Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing" (2001); tower
 * `src/balance/p2c` and Finagle `P2CLeastLoaded` draw two *distinct* endpoints. Envoy and gRFC A48 draw with
 * replacement, so with two endpoints the worse one still wins 25 % of the time; Fairway does not.
 *
 * Why a rotation for the first candidate: with two uniform draws an endpoint is offered for comparison a
 * random number of times, and over a few dozen picks some are offered well above their share; near
 * saturation those take more than their share and queue. Walking the pool offers every endpoint once per
 * pass, as round robin does, and the random second candidate keeps what two choices are for: each pick still
 * weighs a random alternative, and clients' rotations start at independent places, so many clients do not
 * move in step. On exact queue lengths at 90 % utilization (B9's set-up: nine pods of two slots; the
 * "90 % utilization" simulation, seeds 1-6) it takes two choices' p99 from 0.55-0.75x round robin's to
 * 0.50-0.69x with Poisson arrivals, and from 0.68-0.81x to 0.63-0.75x with evenly spaced ones (4-10 % lower in
 * every case): about where three uniform choices are, still comparing only two.
 *
 * The pool is a short list of dense arrays (one per zone in use, or the set-wide one), so a draw is index
 * arithmetic: O(number of zones in the pool), independent of the number of endpoints. Ties are broken at
 * random. With an `avoid` set (endpoints already tried by this call) a draw is repeated at most
 * {@link MAX_REDRAWS} times, then the pool is scanned once: bounded work, and an avoided endpoint is used
 * only when nothing else exists.
 *
 * @packageDocumentation
 */
import type { EndpointState } from './endpoint-state.js';

/** Rejection-sampling attempts per candidate before falling back to one scan of the pool. */
export const MAX_REDRAWS = 8;

/** Number of endpoints in a pool of arrays. */
export function poolSize(pool: readonly (readonly EndpointState[])[]): number {
  let n = 0;
  for (const a of pool) n += a.length;
  return n;
}

function at(pool: readonly (readonly EndpointState[])[], i: number): EndpointState {
  for (const a of pool) {
    if (i < a.length) return a[i]!;
    i -= a.length;
  }
  throw new RangeError('p2c: index outside the pool');
}

/** The two candidates of one pick; `second` is undefined when only one was eligible. */
export interface Candidates {
  first: EndpointState;
  second: EndpointState | undefined;
}

/**
 * Draws up to two distinct candidates from `pool` (size `n`, > 0), skipping keys in `avoid`. Without `avoid`
 * the first is the pool's endpoint at `rotation` modulo `n` (a counter the caller advances once per pick; a
 * negative or non-finite one draws it uniformly), the second is uniform among the others. With `avoid` (a
 * call's retry or hedge: the pool minus what it tried) both are drawn uniformly. Returns undefined when every
 * endpoint of the pool is avoided.
 *
 * The candidates are written into `out` and `out` is returned: the balancer passes one object it reuses, so a
 * pick allocates nothing here (garbage collection was 5 % of a pick's CPU profile with an object per pick).
 */
export function drawCandidates(
  pool: readonly (readonly EndpointState[])[],
  n: number,
  random: () => number,
  avoid: ReadonlySet<string> | undefined,
  rotation = -1,
  out: Candidates = { first: undefined as unknown as EndpointState, second: undefined },
): Candidates | undefined {
  if (n <= 0) return undefined; // an empty pool is "nothing READY", never an index into nothing
  if (avoid === undefined || avoid.size === 0) {
    const i = rotation >= 0 && rotation < Number.MAX_SAFE_INTEGER ? rotation % n : randomIndex(random, n);
    if (n === 1) {
      out.first = at(pool, 0);
      out.second = undefined;
      return out;
    }
    let j = randomIndex(random, n - 1);
    if (j >= i) j++;
    out.first = at(pool, i);
    out.second = at(pool, j);
    return out;
  }
  const first = drawOne(pool, n, random, avoid, undefined);
  if (first === undefined) return undefined;
  out.first = first;
  out.second = n > 1 ? drawOne(pool, n, random, avoid, first) : undefined;
  return out;
}

function drawOne(
  pool: readonly (readonly EndpointState[])[],
  n: number,
  random: () => number,
  avoid: ReadonlySet<string>,
  not: EndpointState | undefined,
): EndpointState | undefined {
  for (let k = 0; k < MAX_REDRAWS; k++) {
    const e = at(pool, randomIndex(random, n));
    if (e !== not && !avoid.has(e.key)) return e;
  }
  // Most of the pool is excluded: pick uniformly among what is left, in one scan.
  let chosen: EndpointState | undefined;
  let seen = 0;
  for (const a of pool) {
    for (const e of a) {
      if (e === not || avoid.has(e.key)) continue;
      seen++;
      if (randomIndex(random, seen) === 0) chosen = e; // reservoir sampling of size 1
    }
  }
  return chosen;
}

/** A uniform index in [0, n) from `random`; a source outside [0, 1) (or NaN) still gives one in range. */
export function randomIndex(random: () => number, n: number): number {
  const i = Math.floor(random() * n);
  if (i >= 0 && i < n) return i;
  return i >= n ? n - 1 : 0; // must not break the pick
}
