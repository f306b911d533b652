/**
 * Incarnations: which start of a process an endpoint or a client is. Fairway's own incarnations are
 * `<start time in ms>-<4 hex digits>`, e.g. `1764032400123-4f1c`, so two of them can be ordered: the later
 * start is the newer incarnation. Incarnations from elsewhere (a Kubernetes Pod uid) carry no order; for
 * those, the one seen last is treated as the newest.
 *
 * Pure: time and randomness are passed in.
 */

/** A new incarnation string: `<nowMs>-<4 hex digits>` (e.g. `1764032400123-4f1c`). */
export function newIncarnation(nowMs: number, random: () => number): string {
  if (!Number.isFinite(nowMs) || nowMs < 0) throw new RangeError(`newIncarnation: nowMs must be a finite time >= 0, got ${nowMs}`);
  const suffix = Math.floor(random() * 0x10000)
    .toString(16)
    .padStart(4, '0')
    .slice(-4);
  return `${Math.floor(nowMs)}-${suffix}`;
}

const TIMESTAMP_RE = /^(\d{1,16})(?:-|$)/;

/** The start time in ms an incarnation begins with, or undefined when it has no such prefix. */
export function incarnationStartMs(incarnation: string): number | undefined {
  const m = TIMESTAMP_RE.exec(incarnation);
  return m ? Number(m[1]) : undefined;
}

/**
 * Orders two incarnations: negative when `a` is older than `b`, positive when newer, 0 when equal.
 * Both must begin with a start timestamp (see {@link newIncarnation}); they compare by that number, then
 * by the whole string. Returns `undefined` when either has no timestamp prefix: their order is unknown.
 */
export function compareIncarnations(a: string, b: string): number | undefined {
  if (a === b) return 0;
  const ta = incarnationStartMs(a);
  const tb = incarnationStartMs(b);
  if (ta === undefined || tb === undefined) return undefined;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a < b ? -1 : 1;
}

/** Metadata header in which a Fairway client sends its instance name on every call (when configured). */
export const CLIENT_INSTANCE_HEADER = 'fairway-client-instance';
/** Metadata header in which a Fairway client sends its incarnation on every call (when configured). */
export const CLIENT_INCARNATION_HEADER = 'fairway-client-incarnation';
