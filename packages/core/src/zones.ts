/**
 * Zone selection with live load and hysteresis: which zones' READY endpoints the picker may use.
 *
 * Origin: Buoyant HAZL (docs): a load band LOW 0.8 .. HIGH 2.0; above HIGH add endpoints from other zones,
 * below LOW remove them; each client decides alone. Contrast Envoy zone-aware routing and Kubernetes
 * Topology Aware Routing, which split by host counts or CPU hints, not live load.
 *
 * Load (HAZL's definition, via Little's law): the time-average number of this client's calls in flight per
 * READY endpoint, i.e. latency x throughput per endpoint: `integral(inFlight) / integral(readyEndpoints)`
 * over the interval since the last evaluation, summed over the zones in the pool.
 * - `local`: only the caller's zone. Evaluated at most every `minZoneEvaluationIntervalMs`:
 *   pool load > HIGH opens other zones, nearest-first when `zoneOrder` is given, otherwise by spare capacity
 *   (`readyEndpoints x max(0, HIGH - load)`), one after another until the projected load
 *   (`in-flight / READY endpoints of the pool`) is <= HIGH. Within the pool the p2c picker sends each call
 *   to the cheaper of two endpoints, so the opened zones take traffic in proportion to their spare capacity.
 * - `spill`: local plus opened zones. The last opened zone closes only when the projected load without it
 *   is < LOW. Opening needs > HIGH and closing needs the load *after* closing to be < LOW, so a steady
 *   demand can never open and close the same zone: no flapping.
 * - `all`: the caller has no zone, or the local zone has no READY endpoint (switched at once, in the pick,
 *   so no call fails). When the local zone is READY again the selector returns through `spill` with every
 *   zone open, then closes zones as the band allows, so the local zone is not flooded.
 *
 * Endpoints without a zone form one more group (named `''`), treated as a remote zone.
 *
 * @packageDocumentation
 */
import type { ZoneMode } from './contracts.js';
import { accrue, type EndpointState, type ZoneGroup } from './endpoint-state.js';

export interface ZoneSelectorOptions {
  readonly clientZone: string | undefined;
  readonly low: number;
  readonly high: number;
  readonly minEvaluationIntervalMs: number;
  readonly zoneOrder: readonly string[] | undefined;
  readonly onModeChange: ((from: ZoneMode, to: ZoneMode, why: string) => void) | undefined;
}

export class ZoneSelector {
  mode: ZoneMode;
  /** Number of mode changes so far (the first determination, at the first pick, is not counted). */
  changes = 0;
  private started = false;
  /** Why the current mode was chosen. */
  why: string;
  /** Remote zones open in `spill` mode, in opening order. */
  private opened: ZoneGroup[] = [];
  private lastEvalMs: number;
  /** Pool arrays for the picker; rebuilt only when the mode or opened set changes. */
  private poolCache: EndpointState[][] | undefined;
  private readonly allPool: EndpointState[][];

  constructor(
    private readonly o: ZoneSelectorOptions,
    private readonly groups: Map<string, ZoneGroup>,
    private readonly all: EndpointState[],
  ) {
    this.lastEvalMs = Number.NaN; // set by the first pool() call
    this.allPool = [all];
    this.mode = o.clientZone === undefined ? 'all' : 'local';
    this.why = o.clientZone === undefined ? 'client zone unknown: zone-blind' : 'initial';
  }

  /** Brings the mode up to date (O(1) unless an evaluation is due) and returns the arrays to pick from. */
  pool(nowMs: number): EndpointState[][] {
    const zone = this.o.clientZone;
    if (zone === undefined) return this.allPool;
    if (this.lastEvalMs !== this.lastEvalMs) this.lastEvalMs = nowMs;
    const local = this.groups.get(zone);
    if (local === undefined || local.ready.length === 0) {
      if (this.mode !== 'all') {
        this.opened = [];
        const zoneless = this.groups.size === 1 && this.groups.has('');
        this.set('all', zoneless ? 'endpoints carry no zone: zone-blind' : `no READY endpoint in local zone ${zone}: using all zones`);
      }
      this.started = true;
      return this.allPool;
    }
    this.started = true;
    if (this.mode === 'all') {
      // Local is back: keep every zone open and let evaluations close them as the band allows.
      this.opened = this.remoteByPreference(nowMs);
      this.restartAverages(nowMs);
      this.set(this.opened.length > 0 ? 'spill' : 'local', `local zone ${zone} READY again`);
    } else if (nowMs - this.lastEvalMs >= this.o.minEvaluationIntervalMs) {
      this.evaluate(local, nowMs);
    }
    if (this.poolCache === undefined) {
      const arrays = [local.ready];
      for (const g of this.opened) arrays.push(g.ready);
      this.poolCache = arrays;
    }
    return this.poolCache;
  }

  /** Starts a new averaging interval at `nowMs`. */
  private restartAverages(nowMs: number): void {
    this.lastEvalMs = nowMs;
    for (const g of this.groups.values()) {
      accrue(g, nowMs);
      g.inFlightArea = 0;
      g.readyArea = 0;
    }
  }

  /** Forgets a zone group that was dropped from the set. */
  dropGroup(g: ZoneGroup): void {
    const i = this.opened.indexOf(g);
    if (i >= 0) this.opened.splice(i, 1);
    // Always: the cached pool holds the local group's `ready` array too, and a local group that is dropped
    // and re-created (every local endpoint replaced, as in a rolling update) must not leave a stale, empty
    // array behind.
    this.poolCache = undefined;
  }

  /** Names of the opened remote zones (for snapshots and tests). */
  openedZones(): string[] {
    return this.opened.map((g) => g.name);
  }

  private evaluate(local: ZoneGroup, nowMs: number): void {
    const elapsed = nowMs - this.lastEvalMs;
    this.lastEvalMs = nowMs;
    const loads = new Map<ZoneGroup, number>();
    let poolInFlight = 0; // time-average calls in flight in the pool
    for (const g of this.groups.values()) {
      accrue(g, nowMs);
      const avgInFlight = elapsed > 0 ? g.inFlightArea / elapsed : g.inFlightReady;
      const avgReady = elapsed > 0 ? g.readyArea / elapsed : g.ready.length;
      loads.set(g, avgReady > 0 ? avgInFlight / avgReady : 0);
      if (g === local || this.opened.includes(g)) poolInFlight += avgInFlight;
      g.inFlightArea = 0;
      g.readyArea = 0;
    }
    let poolReady = local.ready.length;
    for (const g of this.opened) poolReady += g.ready.length;
    const { low, high } = this.o;
    const before = this.opened.length;
    if (poolInFlight / poolReady > high) {
      const loadBefore = poolInFlight / poolReady;
      for (const g of this.remoteByPreference(nowMs, loads)) {
        if (poolInFlight / poolReady <= high) break;
        if (this.opened.includes(g)) continue;
        this.opened.push(g);
        poolReady += g.ready.length;
      }
      if (this.opened.length !== before) {
        this.poolCache = undefined;
        this.set('spill', `load ${fmt(loadBefore)} > high ${high}: opened ${this.openedZones().join(',')}`);
      }
      return;
    }
    while (this.opened.length > 0) {
      const last = this.opened[this.opened.length - 1]!;
      const rest = poolReady - last.ready.length;
      if (rest <= 0 || poolInFlight / rest >= low) break;
      this.opened.pop();
      poolReady = rest;
    }
    if (this.opened.length !== before) {
      this.poolCache = undefined;
      const to: ZoneMode = this.opened.length > 0 ? 'spill' : 'local';
      this.set(to, `projected load ${fmt(poolInFlight / poolReady)} < low ${low}: closed zones down to [${this.openedZones().join(',')}]`);
    }
  }

  /** Remote zones with READY endpoints: `zoneOrder` first (nearest-first), the rest by spare capacity. */
  private remoteByPreference(nowMs: number, loads?: Map<ZoneGroup, number>): ZoneGroup[] {
    const order = this.o.zoneOrder ?? [];
    const rank = (g: ZoneGroup): number => {
      const i = order.indexOf(g.name);
      return i < 0 ? order.length : i;
    };
    const spare = (g: ZoneGroup): number => {
      accrue(g, nowMs);
      const load = loads?.get(g) ?? g.inFlightReady / Math.max(1, g.ready.length);
      return g.ready.length * Math.max(0, this.o.high - load);
    };
    const remote = [...this.groups.values()].filter((g) => g.name !== this.o.clientZone && g.ready.length > 0);
    return remote.sort((a, b) => rank(a) - rank(b) || spare(b) - spare(a) || (a.name < b.name ? -1 : 1));
  }

  private set(to: ZoneMode, why: string): void {
    const from = this.mode;
    this.why = why;
    this.poolCache = undefined;
    if (from === to) return;
    this.mode = to;
    if (!this.started) return; // the first determination is not a change
    this.changes++;
    try {
      this.o.onModeChange?.(from, to, why);
    } catch {
      // An observer must never break picking.
    }
  }
}

function fmt(n: number): string {
  return Number.isFinite(n) ? n.toFixed(2) : String(n);
}
