/**
 * The demo's terminal view: a table redrawn in place every second on a TTY, or one plain line per second
 * otherwise (CI logs, pipes). Pure formatting: the runner feeds it the driver's stats.
 */
import type { DriverStats } from './stats.js';
import type { PodLoadReport } from './pod-load.js';

export interface ViewState {
  readonly title: string;
  readonly elapsedMs: number;
  readonly durationMs: number;
  readonly restart: string;
  readonly stats?: DriverStats;
  /** Pod names to show even before they answer (so the table does not jump). */
  readonly podNames: readonly string[];
  /** Each pricer's and publisher's latest own report: its queue and utilization over the last second. */
  readonly podLoad?: Readonly<Record<string, PodLoadReport>>;
  /** What the noisy neighbour is doing, if the run has one. */
  readonly noisyNeighbour?: string;
  /** The live step, when the run has one. */
  readonly live?: LiveViewInput;
}

/**
 * The live step's side of the view. The applied revision, the canary's calls and the halts come from the
 * driver's clients (`stats.live`); the runner only says what each revision it wrote contains, so the view can
 * name what the applied revision says.
 */
export interface LiveViewInput {
  /** The canary pods (their rows are marked). */
  readonly canaryPods: readonly string[];
  /** The documents the runner wrote: etcd revision and canary share. */
  readonly documents: readonly { readonly revision: number; readonly share: number }[];
  /** The runner's step, e.g. `rev 63 written at 3.5s: canary share 10% -> 25%`. */
  readonly runner?: string;
  /** Set when this arm reads no document at all (the baseline): shown instead, e.g. `no document (pick_first)`. */
  readonly noDocument?: string;
}

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '-');
const pct0 = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : '-');
const pad = (s: string | number, n: number) => String(s).padEnd(n);
const lpad = (s: string | number, n: number) => String(s).padStart(n);

function bar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

/** In-zone share of the driver -> pricer hop. */
export function inZoneFraction(s: Pick<DriverStats, 'inZone' | 'crossZone'>): number {
  const n = s.inZone + s.crossZone;
  return n === 0 ? NaN : s.inZone / n;
}

/**
 * The live document as the driver's clients applied it, e.g. `live: rev 63 canary 25%, canary took 24% of
 * the last 1s` (per zone client when they differ: `rev 57 canary 10% (zone-a) / rev 63 canary 25% (zone-b,
 * zone-c)`), then any halt: `canary HALTED (zone-a, zone-c): <reason>`. Undefined without a live step.
 */
export function liveSummary(v: Pick<ViewState, 'live' | 'stats'>): string | undefined {
  if (!v.live) return undefined;
  if (v.live.noDocument !== undefined) return `live: ${v.live.noDocument}`;
  const l = v.stats?.live;
  const byRevision = new Map<number, string[]>();
  for (const [zone, rev] of Object.entries(l?.revisionByZone ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    byRevision.set(rev, [...(byRevision.get(rev) ?? []), zone]);
  }
  const says = (rev: number) => {
    if (rev === 0) return 'no document';
    const doc = v.live!.documents.find((d) => d.revision === rev);
    return doc ? `rev ${rev} canary ${pct0(doc.share)}` : `rev ${rev}`;
  };
  const revs = [...byRevision.keys()];
  let text: string;
  if (revs.length === 0 || (revs.length === 1 && revs[0] === 0)) text = 'live: no document applied yet';
  else if (revs.length === 1) text = `live: ${says(revs[0]!)}`;
  else text = `live: ${[...byRevision].sort(([a], [b]) => a - b).map(([rev, zones]) => `${says(rev)} (${zones.join(', ')})`).join(' / ')}`;
  const s = v.stats;
  if (s && l && s.windowCalls > 0 && l.canaryInstances.length > 0) text += `, canary took ${pct0(l.canaryWindowCalls / s.windowCalls)} of the last 1s`;
  if (l && l.halts.length > 0) {
    const zones = [...new Set(l.halts.map((h) => h.zone))].sort();
    text += ` | canary HALTED (${zones.join(', ')}): ${l.halts[0]!.reason}`;
  }
  return text;
}

/** The full table (TTY mode). */
export function renderTable(v: ViewState): string[] {
  const s = v.stats;
  const lines: string[] = [];
  const secs = Math.min(v.elapsedMs, v.durationMs) / 1000;
  lines.push(
    `${v.title}  ${bar(v.elapsedMs / v.durationMs, 30)} ${secs.toFixed(0)}s / ${(v.durationMs / 1000).toFixed(0)}s`,
  );
  lines.push(`rolling restart: ${v.restart}`);
  if (v.noisyNeighbour) lines.push(`noisy neighbour: ${v.noisyNeighbour}`);
  const live = liveSummary(v);
  if (live) lines.push(`${live}${v.live?.runner ? `  [step: ${v.live.runner}]` : ''}`);
  lines.push(
    `${pad('pricer pod', 18)}${pad('zone', 8)}${lpad('share', 7)}  ${pad('', 20)}${lpad('last 1s', 8)}${lpad('queue', 7)}${lpad('util', 6)}${lpad('p50 ms', 8)}${lpad('p99 ms', 8)}${lpad('starts', 7)}`,
  );
  const total = s?.ok ?? 0;
  const names = [...new Set([...v.podNames, ...Object.keys(s?.pods ?? {})])].sort();
  for (const name of names) {
    const p = s?.pods[name];
    const share = p && total > 0 ? p.calls / total : 0;
    const load = v.podLoad?.[name];
    lines.push(
      `${pad(name, 18)}${pad(p?.zone ?? '', 8)}${lpad(pct(share), 7)}  ${pad(bar(share * names.length / 2, 18), 20)}${lpad(p?.windowCalls ?? 0, 8)}${lpad(load ? load.queueLength : '-', 7)}${lpad(load ? pct0(load.utilization) : '-', 6)}${lpad((p?.p50Ms ?? 0).toFixed(1), 8)}${lpad((p?.p99Ms ?? 0).toFixed(1), 8)}${lpad(p?.incarnations.length ?? 0, 7)}` +
        (load?.runtime === 'go' ? '  Go (grpc-go)' : '') +
        (v.live?.canaryPods.includes(name) ? `  canary${canaryNote(v, p?.windowCalls ?? 0)}` : '') +
        (load && load.capacityFactor < 1 ? `  <- ${pct0(load.capacityFactor)} CPU${v.live?.canaryPods.includes(name) ? '' : ' (noisy neighbour)'}` : ''),
    );
  }
  const publishers = Object.values(v.podLoad ?? {})
    .filter((l) => l.role === 'publisher')
    .sort((a, b) => a.instance.localeCompare(b.instance));
  if (publishers.length > 0) {
    lines.push(`publishers (queue / util): ${publishers.map((l) => `${l.instance} ${l.queueLength} / ${pct0(l.utilization)}`).join('   ')}`);
  }
  if (s) {
    lines.push(
      `calls: ${s.sent} sent, ${s.ok} ok, ${s.failed} failed, ${s.inFlight} in flight` +
        (s.shed > 0 ? `, ${s.shed} shed` : '') +
        ` | in-zone ${pct(inZoneFraction(s))} (quote) ${pct(inZoneFraction({ inZone: s.publishInZone, crossZone: s.publishCrossZone }))} (publish)` +
        ` | retries ${s.retries} | last 1s: ${s.windowCalls} calls, p50 ${s.p50Ms.toFixed(1)} ms, p99 ${s.p99Ms.toFixed(1)} ms`,
    );
  } else {
    lines.push('calls: waiting for the first report from the driver');
  }
  return lines;
}

/** A canary row's note: its share of the last second's calls, and HALTED once a client halted it. */
function canaryNote(v: ViewState, windowCalls: number): string {
  const s = v.stats;
  const last = s && s.windowCalls > 0 ? `: ${pct0(windowCalls / s.windowCalls)} of the last 1s` : '';
  return last + ((s?.live?.halts.length ?? 0) > 0 ? ', HALTED' : '');
}

/** One line per second (no TTY). */
export function renderLine(v: ViewState): string {
  const s = v.stats;
  // Past the set duration the run goes on until the rolling restart is over: say so rather than show t > total.
  const over = v.elapsedMs > v.durationMs + 500 ? '+restart' : '';
  const t = `t=${(v.elapsedMs / 1000).toFixed(0)}s/${(v.durationMs / 1000).toFixed(0)}s${over}`;
  if (!s) return `${t} waiting for the driver`;
  const live = liveSummary(v);
  // Each pricer's share of the calls, then (when pods report their load) its queue and utilization now.
  const shares = Object.entries(s.pods)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([n, p]) => {
      const load = v.podLoad?.[n];
      const share = `${n.replace(/^pricer-/, '')}=${s.ok > 0 ? ((p.calls / s.ok) * 100).toFixed(0) : 0}%`;
      return load ? `${share}(q${load.queueLength},${pct0(load.utilization)}${load.capacityFactor < 1 ? `,cpu${pct0(load.capacityFactor)}` : ''})` : share;
    })
    .join(' ');
  return (
    `${t} sent=${s.sent} ok=${s.ok} failed=${s.failed} inflight=${s.inFlight} in-zone=${pct(inZoneFraction(s))} ` +
    `retries=${s.retries} p50=${s.p50Ms.toFixed(1)}ms p99=${s.p99Ms.toFixed(1)}ms | ${shares} | restart: ${v.restart}` +
    (v.noisyNeighbour ? ` | noisy neighbour: ${v.noisyNeighbour}` : '') +
    (live ? ` | ${live}` : '')
  );
}

/** Writes the view: redraws in place on a TTY, appends a line otherwise. */
export function createLiveView(out: NodeJS.WriteStream, tty: boolean) {
  let drawn = 0;
  return {
    update(v: ViewState): void {
      if (tty) {
        const lines = renderTable(v);
        const cols = out.columns || 160;
        const clipped = lines.map((l) => (l.length > cols ? l.slice(0, cols - 1) : l));
        out.write((drawn > 0 ? `\x1b[${drawn}A\x1b[0J` : '') + clipped.join('\n') + '\n');
        drawn = clipped.length;
      } else {
        out.write(renderLine(v) + '\n');
      }
    },
    /** Keeps the last table on screen and starts fresh below it. */
    done(): void {
      drawn = 0;
    },
  };
}
