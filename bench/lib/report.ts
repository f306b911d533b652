/** Scenario results, goal checks, the JSON file and the stdout table. */
import { SIGNAL_TO_SPREAD, type RoundValues } from './rounds.js';

/**
 * PASS / MISS: a goal met or missed. NOISE: a latency goal that does not count in this run, because the gap
 * its scenario exists to show was under 5x the run-to-run spread. INFO: context, no goal. N/A: not measured.
 */
export type Verdict = 'PASS' | 'MISS' | 'NOISE' | 'INFO' | 'N/A';

/** The signal check of a latency goal: the gap between two variants against the run-to-run spread. */
export interface GapCheck {
  /** The variant the scenario hurts (e.g. round_robin) and the one it does not (e.g. the oracle). */
  readonly between: readonly [string, string];
  /** |median(between[0]) - median(between[1])|. */
  readonly gap: number | null;
  /** Largest run-to-run spread (max - min over rounds) among fairway, the goal's reference and the pair. */
  readonly spread: number | null;
  /** gap / spread. */
  readonly times: number | null;
  /** gap >= 5 x spread (and both measured). */
  readonly counts: boolean;
}

/** One printed figure: Fairway's value next to every baseline's value from the same run. */
export interface Figure {
  readonly name: string;
  readonly unit: string;
  /** Variant name -> value (null: not measured for that variant). */
  readonly values: Record<string, number | null>;
  /** The goal in words, e.g. `<= 1.25 x oracle`. Absent for informational figures. */
  readonly goal?: string;
  /** Fairway's value divided by the goal's reference (a baseline or the absolute bound). */
  readonly ratio?: number | null;
  readonly verdict: Verdict;
  readonly note?: string;
  /** Variant -> run-to-run spread (max - min over the rounds) when the figure is a median of rounds. */
  readonly spreads?: Record<string, number | null>;
  /** How many rounds each value is the median of. */
  readonly rounds?: number;
  /** For a latency goal: whether the scenario's gap stood out of the noise. */
  readonly gap?: GapCheck;
}

export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  status: 'ok' | 'skipped' | 'error';
  /** Why skipped, or the error. */
  reason?: string;
  durationMs: number;
  /** The scenario's sizes as run (rates, counts, durations). */
  params: Record<string, unknown>;
  /** Variant names in column order; 'fairway' first. */
  variants: string[];
  figures: Figure[];
  notes: string[];
  /** Extra per-scenario data (per-second series, per-phase details). */
  details: Record<string, unknown>;
}

export function newScenario(id: string, title: string): ScenarioResult {
  return { id, title, status: 'ok', durationMs: 0, params: {}, variants: [], figures: [], notes: [], details: {} };
}

/** A scenario's figure values (figure name -> variant -> value), filled as each variant runs. */
export interface FigureTable {
  put(figure: string, variant: string, value: number | null): void;
  /** Every variant's value of `figure` (empty when none was put). */
  get(figure: string): Record<string, number | null>;
}

export function figureTable(): FigureTable {
  const fig: Record<string, Record<string, number | null>> = {};
  return {
    put: (figure, variant, value) => void ((fig[figure] ??= {})[variant] = value),
    get: (figure) => fig[figure] ?? {},
  };
}

/** Notes that a variant broke: its figures are missing, and the scenario goes on with the other variants. */
export function noteBroken(s: ScenarioResult, variant: string, e: unknown): void {
  s.notes.push(`${variant} broke, its figures are missing: ${e instanceof Error ? e.message : String(e)}`);
}

type Op = '<=' | '>=' | '<' | '>';

function holds(value: number, op: Op, bound: number): boolean {
  switch (op) {
    case '<=':
      return value <= bound;
    case '>=':
      return value >= bound;
    case '<':
      return value < bound;
    case '>':
      return value > bound;
  }
}

/** A goal relative to another variant's value, e.g. fairway p99 <= 1.25 x oracle p99. */
export function relativeFigure(
  name: string,
  unit: string,
  values: Record<string, number | null>,
  op: Op,
  factor: number,
  reference: string,
  note?: string,
): Figure {
  const f = values['fairway'];
  const ref = values[reference];
  const goal = `${op} ${factor} x ${reference}`;
  if (f == null || ref == null || !Number.isFinite(f) || !Number.isFinite(ref) || ref === 0) {
    return { name, unit, values, goal, ratio: null, verdict: 'N/A', note: note ?? `no ${f == null ? 'fairway' : reference} value` };
  }
  const ratio = f / ref;
  return { name, unit, values, goal, ratio: round3(ratio), verdict: holds(ratio, op, factor) ? 'PASS' : 'MISS', ...(note ? { note } : {}) };
}

/**
 * A goal relative to another variant measured in the same rounds, judged on the median of the per-round ratios
 * (fairway's round r over the reference's round r) instead of the ratio of the two medians. For figures that
 * drift with the machine (CPU per call, calls/s on shared cores: the same variant moves by 30-50 % between
 * rounds a minute apart), a round's two variants run back to back, so the drift they share cancels in their
 * ratio; the ratio of medians pairs a fast round of one with a slow round of the other. The printed values
 * stay the medians; the note says how the ratio was formed and gives every round's ratio. `pairing` says how
 * close in time a round's two variants ran (default: back to back).
 */
export function pairedRelativeFigure(
  name: string,
  unit: string,
  values: Record<string, number | null>,
  perRound: Record<string, readonly (number | null)[]>,
  op: Op,
  factor: number,
  reference: string,
  note?: string,
  pairing = 'each pair run back to back',
): Figure {
  const base = relativeFigure(name, unit, values, op, factor, reference, note);
  const mine = perRound['fairway'] ?? [];
  const theirs = perRound[reference] ?? [];
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(mine.length, theirs.length); i++) {
    const a = mine[i];
    const b = theirs[i];
    if (a != null && b != null && Number.isFinite(a) && Number.isFinite(b) && b !== 0) ratios.push(a / b);
  }
  if (ratios.length === 0) return base;
  const ratio = medianOf(ratios);
  const how = `ratio = median of the ${ratios.length} per-round ratios fairway / ${reference} (${ratios.map((r) => r.toFixed(3)).join(', ')}), ${pairing}`;
  return { ...base, ratio: round3(ratio), verdict: holds(ratio, op, factor) ? 'PASS' : 'MISS', note: note ? `${how}; ${note}` : how };
}

/** A goal with an absolute bound, e.g. slow share <= 3 %. */
export function absoluteFigure(
  name: string,
  unit: string,
  values: Record<string, number | null>,
  op: Op,
  bound: number,
  note?: string,
): Figure {
  const f = values['fairway'];
  const goal = `${op} ${bound} ${unit}`.trim();
  // +Infinity is a value here ("never"), and misses any upper bound.
  if (f == null || Number.isNaN(f)) return { name, unit, values, goal, ratio: null, verdict: 'N/A', note: note ?? 'no fairway value' };
  const ratio = bound === 0 ? null : round3(f / bound);
  return { name, unit, values, goal, ratio, verdict: holds(f, op, bound) ? 'PASS' : 'MISS', ...(note ? { note } : {}) };
}

/**
 * A latency goal on medians of interleaved rounds, e.g. fairway's p99 <= 1.2 x the oracle's, that counts only
 * when the gap between `between[0]` and `between[1]` (what the scenario exists to show, e.g. round_robin vs
 * the oracle) is at least 5x the largest run-to-run spread among the variants involved. When it is not, the
 * verdict is NOISE (the figures are still printed) and the note says by how much.
 */
export function gatedRelativeFigure(
  name: string,
  unit: string,
  rv: RoundValues,
  variants: readonly string[],
  op: Op,
  factor: number,
  reference: string,
  between: readonly [string, string],
  note?: string,
): Figure {
  const values = rv.medians(name, variants);
  const spreads = rv.spreads(name, variants);
  const base = relativeFigure(name, unit, values, op, factor, reference, note);
  const a = values[between[0]];
  const b = values[between[1]];
  const gap = a == null || b == null ? null : Math.abs(a - b);
  const involved = [...new Set(['fairway', reference, ...between])].map((v) => spreads[v]);
  const spread = involved.some((x) => x == null) ? null : Math.max(...(involved as number[]));
  const times = gap === null || spread === null ? null : spread === 0 ? Number.POSITIVE_INFINITY : gap / spread;
  const counts = times !== null && times >= SIGNAL_TO_SPREAD;
  const check: GapCheck = { between, gap: gap === null ? null : round3(gap), spread: spread === null ? null : round3(spread), times: times === null ? null : round3(times), counts };
  const rounds = Math.max(0, ...variants.map((v) => rv.values(name, v).length));
  if (base.verdict === 'N/A' || counts) return { ...base, spreads, rounds, gap: check };
  const why =
    spread === null
      ? `does not count: the spread needs 2 or more rounds of each variant`
      : `does not count: the gap ${between[0]} - ${between[1]} (${fmt(gap)} ${unit}) is ${fmt(times)}x the run-to-run spread (${fmt(spread)} ${unit}), under ${SIGNAL_TO_SPREAD}x`;
  return { ...base, spreads, rounds, gap: check, verdict: 'NOISE', note: note ? `${why}; ${note}` : why };
}

/**
 * A latency goal measured over several draws of the pods' luck (B9: each draw seeds every pod's service
 * times; at 90 % utilization one draw's busiest pod decides how much round_robin queues, so one draw's ratio
 * is the ratio for that draw alone). `draws[d]` holds the rounds of draw d, every variant measured in each.
 * - A variant's value in a draw is the median of that draw's rounds (with two, their mean); the printed
 *   value is the median over draws.
 * - The ratio is the median over draws of fairway / reference within each draw (both saw the same luck).
 * - The gap (`between[0]` - `between[1]`) is the median over draws of the per-draw gap; the spread is timing
 *   noise only: the largest max - min among rounds of the same draw, over the variants involved. A draw's
 *   luck is what the ratios vary over, not noise, so it is not in the spread.
 * Counts when gap >= 5x spread, as for {@link gatedRelativeFigure}; the note lists every draw's ratio.
 */
export function drawsGatedRelativeFigure(
  name: string,
  unit: string,
  draws: readonly RoundValues[],
  variants: readonly string[],
  op: Op,
  factor: number,
  reference: string,
  between: readonly [string, string],
  note?: string,
): Figure {
  // The true median (mean of the middle two for an even count): with two rounds a draw is their mean.
  const perDraw = draws.map((rv) => Object.fromEntries(variants.map((v) => {
    const xs = rv.values(name, v).filter((x) => Number.isFinite(x));
    return [v, xs.length ? medianOf(xs) : null];
  })) as Record<string, number | null>);
  const finite = (x: number | null | undefined): x is number => x != null && Number.isFinite(x);
  const values: Record<string, number | null> = {};
  const spreads: Record<string, number | null> = {};
  for (const v of variants) {
    const xs = perDraw.map((d) => d[v]).filter(finite);
    values[v] = xs.length ? medianOf(xs) : null;
    const within = draws.map((rv) => rv.values(name, v)).filter((r) => r.length >= 2 && r.every((x) => Number.isFinite(x)));
    spreads[v] = within.length ? Math.max(...within.map((r) => Math.max(...r) - Math.min(...r))) : null;
  }
  const rounds = draws.reduce((n, rv) => n + Math.max(0, ...variants.map((v) => rv.values(name, v).length)), 0);
  const base = relativeFigure(name, unit, values, op, factor, reference, note);
  const ratios: number[] = [];
  const gaps: number[] = [];
  for (const d of perDraw) {
    const f = d['fairway'];
    const ref = d[reference];
    if (finite(f) && finite(ref) && ref !== 0) ratios.push(f / ref);
    const a = d[between[0]];
    const b = d[between[1]];
    if (finite(a) && finite(b)) gaps.push(Math.abs(a - b));
  }
  const gap = gaps.length ? medianOf(gaps) : null;
  const involved = [...new Set(['fairway', reference, ...between])].map((v) => spreads[v]);
  const spread = involved.some((x) => x == null) ? null : Math.max(...(involved as number[]));
  const times = gap === null || spread === null ? null : spread === 0 ? Number.POSITIVE_INFINITY : gap / spread;
  const counts = times !== null && times >= SIGNAL_TO_SPREAD;
  const check: GapCheck = { between, gap: gap === null ? null : round3(gap), spread: spread === null ? null : round3(spread), times: times === null ? null : round3(times), counts };
  const how = `ratio = median over ${ratios.length} draw${ratios.length === 1 ? '' : 's'} of the pods' service times of fairway / ${reference} within the draw (${ratios.map((r) => r.toFixed(3)).join(', ')}); spread = largest max - min between rounds of the same draw`;
  const withHow = note ? `${how}; ${note}` : how;
  if (base.verdict === 'N/A' || ratios.length === 0) return { ...base, spreads, rounds, gap: check };
  const ratio = medianOf(ratios);
  const judged: Figure = { ...base, ratio: round3(ratio), verdict: holds(ratio, op, factor) ? 'PASS' : 'MISS', note: withHow, spreads, rounds, gap: check };
  if (counts) return judged;
  const why =
    spread === null
      ? 'does not count: the spread needs 2 or more rounds of each draw'
      : `does not count: the gap ${between[0]} - ${between[1]} (${fmt(gap)} ${unit}, median over draws) is ${fmt(times)}x the run-to-run spread (${fmt(spread)} ${unit}), under ${SIGNAL_TO_SPREAD}x`;
  return { ...judged, verdict: 'NOISE', note: `${why}; ${withHow}` };
}

/** The true median (the mean of the middle two for an even count; `stats.median` takes the lower one). */
function medianOf(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Applies the signal rule to a goal whose gap is not a difference between two variants of the same figure
 * (e.g. B2: round_robin's p99 during the deploy minus before it): counts when gap >= 5 x spread.
 */
export function gateFigure(f: Figure, between: readonly [string, string], gap: number | null, spread: number | null, gapUnit: string): Figure {
  const times = gap === null || spread === null ? null : spread === 0 ? Number.POSITIVE_INFINITY : Math.abs(gap) / spread;
  const counts = times !== null && times >= SIGNAL_TO_SPREAD;
  const check: GapCheck = { between, gap: gap === null ? null : round3(gap), spread: spread === null ? null : round3(spread), times: times === null ? null : round3(times), counts };
  if (f.verdict === 'N/A' || counts) return { ...f, gap: check };
  const why =
    spread === null
      ? 'does not count: the spread needs 2 or more rounds'
      : `does not count: the gap ${between[0]} - ${between[1]} (${fmt(gap)} ${gapUnit}) is ${fmt(times)}x the run-to-run spread (${fmt(spread)} ${gapUnit}), under ${SIGNAL_TO_SPREAD}x`;
  return { ...f, gap: check, verdict: 'NOISE', note: f.note ? `${why}; ${f.note}` : why };
}

/** Medians of rounds, each with its spread, for context (no goal). */
export function roundsInfoFigure(name: string, unit: string, rv: RoundValues, variants: readonly string[], note?: string): Figure {
  const rounds = Math.max(0, ...variants.map((v) => rv.values(name, v).length));
  return { name, unit, values: rv.medians(name, variants), spreads: rv.spreads(name, variants), rounds, verdict: 'INFO', ...(note ? { note } : {}) };
}

/** An absolute goal on medians of rounds (no gap rule: it compares with a fixed bound, not another variant). */
export function roundsAbsoluteFigure(name: string, unit: string, rv: RoundValues, variants: readonly string[], op: Op, bound: number, note?: string): Figure {
  const rounds = Math.max(0, ...variants.map((v) => rv.values(name, v).length));
  return { ...absoluteFigure(name, unit, rv.medians(name, variants), op, bound, note), spreads: rv.spreads(name, variants), rounds };
}

/** A relative goal on medians of rounds without the gap rule (throughput, CPU: not latency goals). */
export function roundsRelativeFigure(name: string, unit: string, rv: RoundValues, variants: readonly string[], op: Op, factor: number, reference: string, note?: string): Figure {
  const rounds = Math.max(0, ...variants.map((v) => rv.values(name, v).length));
  return { ...relativeFigure(name, unit, rv.medians(name, variants), op, factor, reference, note), spreads: rv.spreads(name, variants), rounds };
}

/** A goal that a median of rounds lies in [low, high], e.g. a share within 20 % of a capacity share. */
export function bandFigure(name: string, unit: string, rv: RoundValues, variants: readonly string[], low: number, high: number, note?: string): Figure {
  const values = rv.medians(name, variants);
  const rounds = Math.max(0, ...variants.map((v) => rv.values(name, v).length));
  const f = values['fairway'];
  const goal = `${low}-${high} ${unit}`.trim();
  const base = { name, unit, values, spreads: rv.spreads(name, variants), rounds, goal, ...(note ? { note } : {}) };
  if (f == null || !Number.isFinite(f)) return { ...base, ratio: null, verdict: 'N/A' };
  return { ...base, ratio: round3(f), verdict: f >= low && f <= high ? 'PASS' : 'MISS' };
}

/** A figure printed for context, with no goal. */
export function infoFigure(name: string, unit: string, values: Record<string, number | null>, note?: string): Figure {
  return { name, unit, values, verdict: 'INFO', ...(note ? { note } : {}) };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function fmt(v: number | null | undefined): string {
  if (v == null || Number.isNaN(v)) return '-';
  if (v === Number.POSITIVE_INFINITY) return 'never';
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a === 0) return '0';
  return v.toFixed(a >= 1 ? 2 : 3);
}

/** The readable table for one scenario. */
export function scenarioTable(s: ScenarioResult): string {
  const lines: string[] = [];
  const head = `${s.id}  ${s.title}`;
  lines.push(head);
  lines.push('='.repeat(Math.min(110, head.length)));
  if (s.status !== 'ok') {
    lines.push(`${s.status.toUpperCase()}: ${s.reason ?? ''}`);
    for (const n of s.notes) lines.push(`  note: ${n}`);
    return lines.join('\n');
  }
  const params = Object.entries(s.params)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  if (params) lines.push(`params: ${params}`);
  const withGaps = s.figures.some((f) => f.gap);
  const cols = ['figure', ...s.variants, 'goal', 'ratio', ...(withGaps ? ['gap / spread'] : []), 'result'];
  const rows: string[][] = [];
  for (const f of s.figures) {
    rows.push([
      `${f.name}${f.unit ? ` (${f.unit})` : ''}`,
      ...s.variants.map((v) => cell(f.values[v], f.spreads?.[v])),
      f.goal ?? '',
      f.ratio == null ? '' : fmt(f.ratio),
      ...(withGaps ? [f.gap ? `${fmt(f.gap.gap)} / ${fmt(f.gap.spread)} = ${f.gap.times == null ? '-' : `${fmt(f.gap.times)}x`}` : ''] : []),
      f.verdict === 'INFO' ? '' : f.verdict,
    ]);
  }
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  lines.push(line(cols));
  lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) lines.push(line(r));
  const missed = s.figures.filter((f) => f.verdict === 'MISS');
  const passed = s.figures.filter((f) => f.verdict === 'PASS');
  const noisy = s.figures.filter((f) => f.verdict === 'NOISE');
  lines.push(
    (missed.length === 0
      ? `=> ${passed.length} goal(s) met${passed.length === 0 && noisy.length === 0 ? ' (no goal checked)' : ''}`
      : `=> MISSED ${missed.length} goal(s): ${missed.map((f) => f.name).join('; ')} (met ${passed.length})`) +
      (noisy.length ? `; ${noisy.length} not counted (gap under ${SIGNAL_TO_SPREAD}x the spread): ${noisy.map((f) => f.name).join('; ')}` : ''),
  );
  const rounds = Math.max(0, ...s.figures.map((f) => f.rounds ?? 0));
  if (rounds > 0) {
    lines.push(
      `  values: median of ${rounds} interleaved round(s)` +
        (rounds > 1 ? `, "±s" = run-to-run spread s (max - min over the rounds); gap / spread: the gap the goal's scenario exists to show, against the largest spread of the variants involved (counts at >= ${SIGNAL_TO_SPREAD}x)` : ''),
    );
  }
  for (const f of s.figures) if (f.note) lines.push(`  ${f.name}: ${f.note}`);
  for (const n of s.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}

/** A value with its run-to-run spread, e.g. `31.2 ±2.1`. */
function cell(v: number | null | undefined, spread: number | null | undefined): string {
  if (v == null || Number.isNaN(v) || spread == null) return fmt(v);
  return `${fmt(v)} ±${fmt(spread)}`;
}

export interface RunReport {
  readonly schema: 'fairway-bench/2';
  readonly startedAt: string;
  finishedAt: string;
  readonly quick: boolean;
  /** The service-time seed of the run (absent in reports written before seeds). */
  readonly seed?: number;
  readonly machine: Record<string, unknown>;
  readonly scenarios: ScenarioResult[];
  summary: { pass: number; miss: number; noise: number; na: number; errors: number; skipped: number };
}

export function summarize(r: RunReport): RunReport['summary'] {
  const all = r.scenarios.flatMap((s) => s.figures);
  return {
    pass: all.filter((f) => f.verdict === 'PASS').length,
    miss: all.filter((f) => f.verdict === 'MISS').length,
    noise: all.filter((f) => f.verdict === 'NOISE').length,
    na: all.filter((f) => f.verdict === 'N/A').length,
    errors: r.scenarios.filter((s) => s.status === 'error').length,
    skipped: r.scenarios.filter((s) => s.status === 'skipped').length,
  };
}

export function summaryTable(r: RunReport): string {
  const lines = ['Summary', '======='];
  for (const s of r.scenarios) {
    if (s.status !== 'ok') {
      lines.push(`${s.id.padEnd(3)} ${s.status.toUpperCase()}: ${s.reason ?? ''}`);
      continue;
    }
    const miss = s.figures.filter((f) => f.verdict === 'MISS').map((f) => f.name);
    const noisy = s.figures.filter((f) => f.verdict === 'NOISE').map((f) => f.name);
    const pass = s.figures.filter((f) => f.verdict === 'PASS').length;
    lines.push(
      `${s.id.padEnd(3)} ${miss.length > 0 ? 'MISS' : pass === 0 && noisy.length > 0 ? 'NOISE' : 'PASS'}  ${pass} met${miss.length ? `, missed: ${miss.join('; ')}` : ''}${noisy.length ? `, not counted (noise): ${noisy.join('; ')}` : ''}`,
    );
  }
  const t = r.summary;
  lines.push(`goals met ${t.pass}, missed ${t.miss}, not counted (gap under ${SIGNAL_TO_SPREAD}x spread) ${t.noise}, not measurable ${t.na}; scenarios errored ${t.errors}, skipped ${t.skipped}`);
  return lines.join('\n');
}
