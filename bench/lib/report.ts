/** Scenario results, goal checks, the JSON file and the stdout table. */

export type Verdict = 'PASS' | 'MISS' | 'INFO' | 'N/A';

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
  if (f == null || !Number.isFinite(f)) return { name, unit, values, goal, ratio: null, verdict: 'N/A', note: note ?? 'no fairway value' };
  const ratio = bound === 0 ? null : round3(f / bound);
  return { name, unit, values, goal, ratio, verdict: holds(f, op, bound) ? 'PASS' : 'MISS', ...(note ? { note } : {}) };
}

/** A figure printed for context, with no goal. */
export function infoFigure(name: string, unit: string, values: Record<string, number | null>, note?: string): Figure {
  return { name, unit, values, verdict: 'INFO', ...(note ? { note } : {}) };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function fmt(v: number | null | undefined): string {
  if (v == null || Number.isNaN(v)) return '-';
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
  const cols = ['figure', ...s.variants, 'goal', 'ratio', 'result'];
  const rows: string[][] = [];
  for (const f of s.figures) {
    rows.push([
      `${f.name}${f.unit ? ` (${f.unit})` : ''}`,
      ...s.variants.map((v) => fmt(f.values[v])),
      f.goal ?? '',
      f.ratio == null ? '' : fmt(f.ratio),
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
  lines.push(
    missed.length === 0
      ? `=> ${passed.length} goal(s) met${passed.length === 0 ? ' (no goal checked)' : ''}`
      : `=> MISSED ${missed.length} goal(s): ${missed.map((f) => f.name).join('; ')} (met ${passed.length})`,
  );
  for (const f of s.figures) if (f.note) lines.push(`  ${f.name}: ${f.note}`);
  for (const n of s.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}

export interface RunReport {
  readonly schema: 'fairway-bench/1';
  readonly startedAt: string;
  finishedAt: string;
  readonly quick: boolean;
  readonly machine: Record<string, unknown>;
  readonly scenarios: ScenarioResult[];
  summary: { pass: number; miss: number; na: number; errors: number; skipped: number };
}

export function summarize(r: RunReport): RunReport['summary'] {
  const all = r.scenarios.flatMap((s) => s.figures);
  return {
    pass: all.filter((f) => f.verdict === 'PASS').length,
    miss: all.filter((f) => f.verdict === 'MISS').length,
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
    const pass = s.figures.filter((f) => f.verdict === 'PASS').length;
    lines.push(`${s.id.padEnd(3)} ${miss.length === 0 ? 'PASS' : 'MISS'}  ${pass} met${miss.length ? `, missed: ${miss.join('; ')}` : ''}`);
  }
  const t = r.summary;
  lines.push(`goals met ${t.pass}, missed ${t.miss}, not measurable ${t.na}; scenarios errored ${t.errors}, skipped ${t.skipped}`);
  return lines.join('\n');
}
