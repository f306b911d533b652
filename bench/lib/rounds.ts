/**
 * Interleaved rounds and their spread. A latency figure from one run of one variant on this shared 2-core
 * machine moves by tens of percent between runs, so every scenario with a latency goal runs its variants in
 * rounds, interleaved (A B C A B C: never all of one and then all of the next, so a busy minute hurts every
 * variant alike), reports the median of the rounds, and the run-to-run spread (max - min over the rounds) of
 * each variant. A goal then counts only when the gap the scenario exists to show (e.g. round_robin vs the
 * oracle) is at least {@link SIGNAL_TO_SPREAD} times that spread (see `gatedRelativeFigure` in report.ts).
 */
import { median } from './stats.js';

/** A gap must be at least this many times the spread for its goal to count (benchmarks.md, "Signal over noise"). */
export const SIGNAL_TO_SPREAD = 5;

/** Per-round values of every figure: figure name -> variant -> one value per round that measured it. */
export class RoundValues {
  private readonly data = new Map<string, Map<string, number[]>>();

  /** Records one round's value; null or NaN (not measured) is skipped; +Infinity means "never" (e.g. never back in zone). */
  put(figure: string, variant: string, value: number | null | undefined): void {
    let byVariant = this.data.get(figure);
    if (!byVariant) this.data.set(figure, (byVariant = new Map()));
    let values = byVariant.get(variant);
    if (!values) byVariant.set(variant, (values = []));
    if (value !== null && value !== undefined && !Number.isNaN(value)) values.push(value);
  }

  /** Every round's value (in round order) of one variant. */
  values(figure: string, variant: string): readonly number[] {
    return this.data.get(figure)?.get(variant) ?? [];
  }

  /** Variant -> median over its rounds (null: never measured). */
  medians(figure: string, variants: readonly string[]): Record<string, number | null> {
    return Object.fromEntries(variants.map((v) => {
      const xs = this.values(figure, v);
      return [v, xs.length === 0 ? null : median(xs)];
    }));
  }

  /** Variant -> run-to-run spread, max - min over its rounds (null with fewer than 2 rounds or an infinite value). */
  spreads(figure: string, variants: readonly string[]): Record<string, number | null> {
    return Object.fromEntries(variants.map((v) => {
      const xs = this.values(figure, v);
      return [v, xs.length < 2 || xs.some((x) => !Number.isFinite(x)) ? null : Math.max(...xs) - Math.min(...xs)];
    }));
  }

  /** Everything, for the JSON details. */
  toJSON(): Record<string, Record<string, number[]>> {
    const out: Record<string, Record<string, number[]>> = {};
    for (const [f, byVariant] of this.data) out[f] = Object.fromEntries(byVariant);
    return out;
  }
}

/**
 * Runs `runOne` for each variant in turn, `rounds` times over (A B C A B C). A variant that throws is
 * reported through `onError` and the others go on; it is tried again in the next round.
 */
export async function interleave<V>(
  variants: readonly V[],
  rounds: number,
  runOne: (variant: V, round: number) => Promise<void>,
  onError: (variant: V, round: number, error: unknown) => void,
): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const v of variants) {
      try {
        await runOne(v, round);
      } catch (e) {
        onError(v, round, e);
      }
    }
  }
}
