/**
 * A read-only view of one endpoint's balancing state, for CLIs, demos, metrics and tests.
 *
 * @packageDocumentation
 */
import type { EndpointState } from './endpoint-state.js';
import { decayedRttMs, loadCost } from './peak-ewma.js';
import type { EjectionReason } from './ejection.js';

/** One row of `Balancer.snapshot`. */
export interface EndpointStats {
  readonly key: string;
  readonly address: string;
  readonly zone?: string;
  readonly instance?: string;
  readonly incarnation?: string;
  readonly weight: number;
  readonly ready: boolean;
  /** False while an active health check reports NOT_SERVING. */
  readonly serving: boolean;
  /** True when picks can choose it now: READY, serving, weight above 0 (weight 0 = draining). */
  readonly pickable: boolean;
  /** Calls picked and not yet released. */
  readonly inFlight: number;
  /** Peak-EWMA RTT estimate decayed to now (ms). */
  readonly rttEstimateMs: number;
  /** What p2c compares: `rttEstimateMs x (inFlight + 1) / weight` (Infinity at weight 0), or >= 1e9 while the first probe is out. */
  readonly cost: number;
  /** False until the endpoint's first answer (success, failure or timeout). */
  readonly answered: boolean;
  /** Outlier ejection: `none`, `ejected` (not picked until `ejectedForMs` passes), or `probe` (back for one call). */
  readonly ejection: 'none' | 'ejected' | 'probe';
  /** Why it was ejected (while `ejection` is not `none`). */
  readonly ejectionReason?: EjectionReason;
  /** Ejection time left, ms (while `ejected`). */
  readonly ejectedForMs?: number;
  /** Ejections in a row so far (the next lasts longer). */
  readonly ejections: number;
  /** Slow-start weight factor in (0, 1]: 1 once the endpoint is warm; lifted with the other ramps when together they would load the rest beyond `slowStart.maxExtraLoadPercent` (see `slow-start.ts`). */
  readonly slowStartFactor: number;
}

/** Builds the stats row of `st` at `nowMs`. */
export function endpointStats(st: EndpointState, nowMs: number, decayMs: number, slowStartFactor = 1): EndpointStats {
  const { info } = st;
  const row: { -readonly [K in keyof EndpointStats]: EndpointStats[K] } = {
    key: st.key,
    address: info.address,
    weight: st.weight,
    ready: st.ready,
    serving: st.serving,
    pickable: st.allIndex >= 0,
    inFlight: st.inFlight,
    rttEstimateMs: decayedRttMs(st, nowMs, decayMs),
    cost: loadCost(st, nowMs, decayMs),
    answered: st.answered,
    ejection: st.ejection,
    ejections: st.ejections,
    slowStartFactor,
  };
  if (st.ejection !== 'none' && st.ejectionReason !== undefined) row.ejectionReason = st.ejectionReason;
  if (st.ejection === 'ejected') row.ejectedForMs = Math.max(0, st.ejectedUntilMs - nowMs);
  if (info.zone !== undefined) row.zone = info.zone;
  if (info.instance !== undefined) row.instance = info.instance;
  if (info.incarnation !== undefined) row.incarnation = info.incarnation;
  return row;
}
