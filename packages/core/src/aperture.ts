/**
 * Deterministic subsetting (after Finagle's deterministic aperture): with many clients and many endpoints,
 * each client connects to a small window of the endpoints, placed so that every endpoint gets about the same
 * number of clients, and so that a change in the set moves few connections.
 *
 * The layout. Every client sorts the endpoints by a hash of their key (the same order everywhere) and lays them
 * evenly on a ring of `M` slots. Client `i` of `N` takes the `size` consecutive endpoints starting at slot
 * `floor(i x M / N + phi)`. Windows start `M / N` slots apart, so each endpoint lies in `floor` or `ceil` of
 * `N x size / M` windows: with 300 clients, 1,000 endpoints and 24 connections each, 7 or 8 clients per endpoint
 * (max/mean 1.11), where random subsets of the same size leave some endpoints with twice the mean.
 *
 * Few moves. Adding an endpoint at hash position `h` pushes the endpoints after it one slot further, so a window
 * that starts after it would lose one member and gain another. The rotation `phi` is the sum over endpoints of
 * `(1/2 - hash / 2^32)` slots; the new endpoint changes it by `1/2 - h`, which offsets the push on average for
 * every window wherever the endpoint lands: about 1 % of all connections move per added or removed endpoint (a
 * fixed origin would move 2-3 % when the change lands near it). A client more or fewer moves each window by at
 * most `M / N` slots: at most 4 of 24 connections (17 %) for the client that moves most.
 *
 * Pure: exact integer sums (hashes are 32-bit; the sum is exact below 2^21 endpoints), no clock, no randomness.
 *
 * @packageDocumentation
 */
import { hash32 } from './bounded-hash.js';

/** What {@link deterministicAperture} needs. */
export interface ApertureInput {
  /** This client's position among its peers, 0-based, `< clientCount` (e.g. from a peer registry in etcd). */
  readonly clientIndex: number;
  /** How many clients share the service (at least 1). */
  readonly clientCount: number;
  /** Every endpoint's stable key (any order: every client sorts them the same way). */
  readonly endpointKeys: readonly string[];
  /** Endpoints per client (the window), at least 1; all of them when the set is smaller. */
  readonly size: number;
}

/** Default window size (endpoints per client); Finagle's minimum aperture is 12. */
export const DEFAULT_APERTURE_SIZE = 24;

/**
 * This client's subset: the keys of the `size` endpoints in its window (all of them when there are at most
 * `size`). Throws a `RangeError` naming the field when an input is out of range.
 */
export function deterministicAperture(input: ApertureInput): string[] {
  const { clientIndex: i, clientCount: n, size } = input;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`aperture: clientCount must be an integer >= 1, got ${n}`);
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new RangeError(`aperture: clientIndex must be an integer in [0, ${n - 1}], got ${i}`);
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`aperture: size must be an integer >= 1, got ${size}`);
  const m = input.endpointKeys.length;
  if (m <= size) return [...input.endpointKeys];
  const items = input.endpointKeys.map((key) => ({ key, h: hash32(key) }));
  items.sort((a, b) => a.h - b.h || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  let phiUnits = 0; // in 2^-32 slots; exact: |sum| < m x 2^31
  for (const it of items) phiUnits += 0x80000000 - it.h;
  const phi = phiUnits / 0x100000000;
  const start = (((Math.floor((i * m) / n + phi) % m) + m) % m);
  const out: string[] = new Array(size);
  for (let t = 0; t < size; t++) out[t] = items[(start + t) % m]!.key;
  return out;
}

/** Options of {@link nextApertureSize}. */
export interface ApertureSizing {
  /** Calls in flight per window member above which the window grows. Default 2 (HAZL's high band). */
  readonly high?: number;
  /** ... below which it shrinks (never below `min`). Default 0.8 (HAZL's low band). */
  readonly low?: number;
  /** Smallest window. Default {@link DEFAULT_APERTURE_SIZE}. */
  readonly min?: number;
  /** Largest window. Default: every endpoint. */
  readonly max?: number;
}

/**
 * The window size for the next evaluation, from the load on the current one (this client's calls in flight
 * per member, averaged over the evaluation interval): `min / 2` more members above `high`, as many fewer below
 * `low` when the load after shrinking stays under `high`, unchanged inside the band (hysteresis: a steady load
 * never flaps).
 */
export function nextApertureSize(current: number, loadPerMember: number, endpointCount: number, sizing: ApertureSizing = {}): number {
  const high = sizing.high ?? 2;
  const low = sizing.low ?? 0.8;
  if (!(low > 0 && high > low)) throw new RangeError(`aperture sizing: need 0 < low < high, got low ${low}, high ${high}`);
  const min = Math.max(1, Math.min(sizing.min ?? DEFAULT_APERTURE_SIZE, endpointCount));
  const max = Math.max(min, Math.min(sizing.max ?? endpointCount, endpointCount));
  const step = Math.max(1, Math.floor(min / 2));
  const clamped = Math.max(min, Math.min(max, current));
  if (loadPerMember > high) return Math.min(max, clamped + step);
  if (loadPerMember < low && clamped > min) {
    const smaller = Math.max(min, clamped - step);
    if ((loadPerMember * clamped) / smaller <= high) return smaller;
  }
  return clamped;
}
