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
        (load && load.capacityFactor < 1 ? `  <- ${pct0(load.capacityFactor)} CPU (noisy neighbour)` : ''),
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

/** One line per second (no TTY). */
export function renderLine(v: ViewState): string {
  const s = v.stats;
  // Past the set duration the run goes on until the rolling restart is over: say so rather than show t > total.
  const over = v.elapsedMs > v.durationMs + 500 ? '+restart' : '';
  const t = `t=${(v.elapsedMs / 1000).toFixed(0)}s/${(v.durationMs / 1000).toFixed(0)}s${over}`;
  if (!s) return `${t} waiting for the driver`;
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
    (v.noisyNeighbour ? ` | noisy neighbour: ${v.noisyNeighbour}` : '')
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
