/**
 * Deterministic subsetting in the policy: which of the resolved endpoints this client connects to, and how the
 * window grows with load. The layout and the sizing rule are pure code in core (`deterministicAperture`,
 * `nextApertureSize`); this class only keeps the state between resolutions.
 *
 * The client's place (`index` of `count` clients) comes from the policy settings (fixed, e.g. a StatefulSet
 * ordinal) or from the discovery source's peer registry (`EndpointSnapshot.peers`, e.g. the etcd source's).
 * Without either, every endpoint is used (and that is logged once).
 *
 * Sizing: the load is this client's calls in flight per window member, averaged over picks (arrivals see time
 * averages, PASTA); evaluated at most once per `SUBSET_EVALUATION_MS`.
 */
import { deterministicAperture, nextApertureSize, type EndpointInfo } from '@fairway/core';

/** Minimum time between two window-size evaluations, ms. */
export const SUBSET_EVALUATION_MS = 1_000;

export interface SubsetSettings {
  /** The smallest window (endpoints per client). */
  readonly size: number;
  readonly clientIndex?: number;
  readonly clientCount?: number;
}

export class SubsetController {
  private size: number;
  private lastEvalMs = Number.NEGATIVE_INFINITY;
  private inFlightSum = 0;
  private picks = 0;
  private endpointCount = 0;
  /** Why the last resolution was not subset (logged once by the caller), or ''. */
  whyWhole = '';

  constructor(readonly settings: SubsetSettings) {
    this.size = settings.size;
  }

  /** The window size in use now. */
  get currentSize(): number {
    return this.size;
  }

  /** The entries of `infos` whose identity (instance, else address) lies in this client's window. */
  filter(infos: readonly EndpointInfo[], peers: { index: number; count: number } | undefined): readonly EndpointInfo[] {
    const place =
      this.settings.clientIndex !== undefined && this.settings.clientCount !== undefined
        ? { index: this.settings.clientIndex, count: this.settings.clientCount }
        : peers;
    const identities = [...new Set(infos.map(identityOf))];
    this.endpointCount = identities.length;
    if (place === undefined) {
      this.whyWhole = 'subset: no client index given and the discovery source keeps no peer registry; using every endpoint';
      return infos;
    }
    if (!(place.index >= 0 && place.index < place.count)) {
      this.whyWhole = `subset: client index ${place.index} is outside [0, ${place.count}); using every endpoint`;
      return infos;
    }
    this.whyWhole = '';
    const window = new Set(deterministicAperture({ clientIndex: place.index, clientCount: place.count, endpointKeys: identities, size: this.size }));
    return infos.filter((i) => window.has(identityOf(i)));
  }

  /** Called at each pick with this client's calls in flight; true when the window size changed (re-apply the set). */
  onPick(nowMs: number, inFlight: number): boolean {
    this.inFlightSum += inFlight;
    this.picks++;
    if (nowMs - this.lastEvalMs < SUBSET_EVALUATION_MS) return false;
    const first = this.lastEvalMs === Number.NEGATIVE_INFINITY;
    this.lastEvalMs = nowMs;
    const load = this.inFlightSum / this.picks / Math.max(1, Math.min(this.size, this.endpointCount));
    this.inFlightSum = 0;
    this.picks = 0;
    if (first) return false;
    const next = nextApertureSize(this.size, load, this.endpointCount, { min: this.settings.size });
    if (next === this.size) return false;
    this.size = next;
    return true;
  }
}

function identityOf(info: EndpointInfo): string {
  return info.instance ?? info.address;
}
