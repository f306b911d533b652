/**
 * The endpoint table: one row per endpoint with its state, as text or JSON, and the difference between two
 * snapshots (for `watch`).
 */
import { compareIncarnations } from '@fairway/core';
import type { EndpointInfo, EndpointSnapshot, EndpointStats } from '@fairway/core';

/**
 * `ready`: a Fairway client routes to it. `superseded`: a newer incarnation of the same instance is listed,
 * so clients use that one instead. `stale`: the source cannot reach its back end and is re-sending its last
 * good set. `not-ready` and `terminating` (Kubernetes): listed by the Service but not routed to, because the
 * Pod is not ready, or is terminating while others are ready.
 */
export type EndpointState = 'ready' | 'superseded' | 'stale' | UnusedEndpoint['state'];

/** An endpoint a source lists but hands to no balancer, and why (see `unusedEndpointsOf` of `@fairway/discovery-kubernetes`). */
export interface UnusedEndpoint extends EndpointInfo {
  readonly state: 'not-ready' | 'terminating';
}

export interface EndpointRow {
  readonly address: string;
  readonly zone: string | null;
  readonly instance: string | null;
  readonly incarnation: string | null;
  readonly weight: number;
  readonly state: EndpointState;
  /** Present (true) for an endpoint registered as a canary (shown as `<state>, canary`). */
  readonly canary?: true;
}

/** Rows of a snapshot and of the endpoints its source left out (`unused`), sorted by zone, instance, address. */
export function rowsOf(snapshot: EndpointSnapshot, unused: readonly UnusedEndpoint[] = []): EndpointRow[] {
  const newest = new Map<string, string>();
  for (const e of snapshot.endpoints) {
    if (e.instance === undefined || e.incarnation === undefined) continue;
    const seen = newest.get(e.instance);
    if (seen === undefined || (compareIncarnations(e.incarnation, seen) ?? 0) > 0) newest.set(e.instance, e.incarnation);
  }
  const state = (e: EndpointInfo): EndpointState => {
    if (e.instance !== undefined && e.incarnation !== undefined && newest.get(e.instance) !== e.incarnation) return 'superseded';
    return snapshot.stale ? 'stale' : 'ready';
  };
  const row = (e: EndpointInfo, s: EndpointState): EndpointRow => ({
    address: e.address,
    zone: e.zone ?? null,
    instance: e.instance ?? null,
    incarnation: e.incarnation ?? null,
    weight: e.weight ?? 1,
    state: s,
    ...(e.canary === true ? { canary: true as const } : {}),
  });
  return [...snapshot.endpoints.map((e) => row(e, state(e))), ...unused.map((e) => row(e, e.state))]
    .sort((a, b) => (a.zone ?? '').localeCompare(b.zone ?? '') || (a.instance ?? '').localeCompare(b.instance ?? '') || a.address.localeCompare(b.address));
}

const HEADERS = ['ADDRESS', 'ZONE', 'INSTANCE', 'INCARNATION', 'WEIGHT', 'STATE'] as const;

/** The rows as an aligned text table (with a header), or a line saying there are none. */
export function formatTable(rows: readonly EndpointRow[]): string {
  if (rows.length === 0) return '(no endpoints)';
  const cells = rows.map((r) => [r.address, r.zone ?? '-', r.instance ?? '-', r.incarnation ?? '-', String(r.weight), r.canary ? `${r.state}, canary` : r.state]);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  return [line(HEADERS), ...cells.map(line)].join('\n');
}

/** One-line summary: counts per state and per zone. */
export function formatCounts(rows: readonly EndpointRow[]): string {
  const zones = new Map<string, number>();
  // Per zone: the endpoints clients may route to.
  for (const r of rows) if (r.state === 'ready' || r.state === 'stale') zones.set(r.zone ?? '(no zone)', (zones.get(r.zone ?? '(no zone)') ?? 0) + 1);
  const byState = (s: EndpointState) => rows.filter((r) => r.state === s).length;
  const parts = [`${rows.length} endpoint(s)`, `${byState('ready')} ready`];
  for (const s of ['superseded', 'stale', 'not-ready', 'terminating'] as const) if (byState(s)) parts.push(`${byState(s)} ${s}`);
  const z = [...zones].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k}: ${n}`);
  return `${parts.join(', ')}${z.length ? ` (${z.join(', ')})` : ''}`;
}

export interface SnapshotDiff {
  readonly added: EndpointRow[];
  readonly removed: EndpointRow[];
  /** Same address, something else changed (zone, instance, incarnation, weight, state). */
  readonly changed: { readonly from: EndpointRow; readonly to: EndpointRow }[];
}

/** What changed from `before` to `after`, by address. */
export function diffRows(before: readonly EndpointRow[], after: readonly EndpointRow[]): SnapshotDiff {
  const old = new Map(before.map((r) => [r.address, r]));
  const now = new Map(after.map((r) => [r.address, r]));
  const added = after.filter((r) => !old.has(r.address));
  const removed = before.filter((r) => !now.has(r.address));
  const changed = after
    .filter((r) => old.has(r.address) && JSON.stringify(old.get(r.address)) !== JSON.stringify(r))
    .map((to) => ({ from: old.get(to.address)!, to }));
  return { added, removed, changed };
}

function describe(r: EndpointRow): string {
  return `${r.address} zone=${r.zone ?? '-'} instance=${r.instance ?? '-'} incarnation=${r.incarnation ?? '-'} ${r.state}`;
}

/** The diff as lines: `+ added`, `- removed`, `~ changed`. */
export function formatDiff(d: SnapshotDiff): string[] {
  return [
    ...d.added.map((r) => `+ ${describe(r)}`),
    ...d.removed.map((r) => `- ${describe(r)}`),
    ...d.changed.map(({ from, to }) => {
      const what = (['zone', 'instance', 'incarnation', 'weight', 'state'] as const)
        .filter((k) => from[k] !== to[k])
        .map((k) => `${k} ${from[k] ?? '-'} -> ${to[k] ?? '-'}`)
        .join(', ');
      return `~ ${to.address} ${what}`;
    }),
  ];
}

/**
 * One row of a balancer's view (`Balancer.snapshot()`, `EndpointStats` of `@fairway/core`): what a client
 * thinks of each endpoint, with outlier ejection and slow-start state.
 */
export interface BalancerRow {
  readonly address: string;
  readonly zone: string | null;
  readonly ready: boolean;
  readonly inFlight: number;
  /** Decayed peak-EWMA estimate, ms. */
  readonly rttMs: number;
  /** `in`, `ejected (<reason>, <s> s left, #n)`, or `probe (<reason>)`. */
  readonly ejection: string;
  /** Slow-start weight, percent (100 once warm). */
  readonly slowStartPercent: number;
}

/** Balancer rows from `Balancer.snapshot(nowMs)`, sorted by zone, address. */
export function balancerRowsOf(stats: readonly EndpointStats[]): BalancerRow[] {
  return stats
    .map((s) => ({
      address: s.address,
      zone: s.zone ?? null,
      ready: s.ready,
      inFlight: s.inFlight,
      rttMs: s.rttEstimateMs,
      ejection:
        s.ejection === 'none'
          ? 'in'
          : s.ejection === 'probe'
            ? `probe (${s.ejectionReason ?? '?'})`
            : `ejected (${s.ejectionReason ?? '?'}, ${((s.ejectedForMs ?? 0) / 1000).toFixed(1)} s left, #${s.ejections})`,
      slowStartPercent: Math.round(100 * s.slowStartFactor),
    }))
    .sort((a, b) => (a.zone ?? '').localeCompare(b.zone ?? '') || a.address.localeCompare(b.address));
}

const BALANCER_HEADERS = ['ADDRESS', 'ZONE', 'READY', 'IN-FLIGHT', 'RTT', 'EJECTION', 'SLOW-START'] as const;

/** Balancer rows as an aligned text table (with a header). */
export function formatBalancerTable(rows: readonly BalancerRow[]): string {
  if (rows.length === 0) return '(no endpoints)';
  const cells = rows.map((r) => [
    r.address,
    r.zone ?? '-',
    r.ready ? 'yes' : 'no',
    String(r.inFlight),
    `${r.rttMs.toFixed(1)}ms`,
    r.ejection,
    r.slowStartPercent === 100 ? 'warm' : `${r.slowStartPercent}%`,
  ]);
  const widths = BALANCER_HEADERS.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  return [line(BALANCER_HEADERS), ...cells.map(line)].join('\n');
}
