/**
 * A small, fast, seeded pseudo-random generator for reproducible tests and simulations.
 *
 * Algorithm: sfc32 (Chris Doty-Humphrey's "Small Fast Chaotic" generator from PractRand, 128-bit state,
 * passes PractRand and BigCrush), seeded through splitmix32 so that nearby seeds (1, 2, 3) give unrelated
 * streams. Twelve initial outputs are discarded, as PractRand's reference does. Not for cryptography.
 *
 * @packageDocumentation
 */

/** A source of uniform numbers in [0, 1), the same shape as `Math.random`. */
export type RandomSource = () => number;

/**
 * Creates a seeded random source: the same seed always yields the same sequence.
 * @param seed - any finite number (its low 32 bits are used) or a string (hashed with FNV-1a).
 * @returns a function returning uniform numbers in [0, 1) with 32 bits of precision.
 */
export function createSeededRandom(seed: number | string): RandomSource {
  let s = typeof seed === 'string' ? fnv1a(seed) : toUint32(seed);
  const next32 = (): number => {
    // splitmix32 step
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = next32();
  let b = next32();
  let c = next32();
  let d = 1;
  const sfc32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) sfc32();
  return sfc32;
}

function toUint32(seed: number): number {
  if (!Number.isFinite(seed)) throw new RangeError(`createSeededRandom: seed must be a finite number or a string, got ${seed}`);
  return Math.trunc(seed) >>> 0;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
