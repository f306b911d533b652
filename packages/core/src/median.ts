/**
 * Median of a list of numbers in expected O(n) (Hoare's quickselect, in place on a scratch array).
 * Used to seed new endpoints and to set the spike cap from the set's median RTT estimate.
 *
 * @packageDocumentation
 */

/** The two middle values of a list: equal when its length is odd. */
export interface Middles {
  lower: number;
  upper: number;
}

/**
 * The lower and upper middle values of `values[0..count)` into `out` (equal when `count` is odd).
 * Reorders `values` (pass a scratch array). `count` must be >= 1.
 */
export function middlesInPlace(values: number[], count: number, out: Middles): Middles {
  if (count <= 0) throw new RangeError('middlesInPlace: count must be >= 1');
  const mid = count >> 1;
  const upper = select(values, 0, count - 1, mid);
  out.upper = upper;
  if (count % 2 === 1) {
    out.lower = upper;
    return out;
  }
  // The lower middle is the maximum of the left part, which select() left below index mid.
  let lower = -Infinity;
  for (let i = 0; i < mid; i++) if (values[i]! > lower) lower = values[i]!;
  out.lower = lower;
  return out;
}

/**
 * The median of `values[0..count)` (the mean of the two middle values when `count` is even).
 * Reorders `values` (pass a scratch array). `count` must be >= 1.
 */
export function medianInPlace(values: number[], count: number): number {
  if (count <= 0) throw new RangeError('medianInPlace: count must be >= 1');
  const m = middlesInPlace(values, count, { lower: 0, upper: 0 });
  return (m.lower + m.upper) / 2;
}

function select(a: number[], lo: number, hi: number, k: number): number {
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}
