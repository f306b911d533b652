import { UsageError } from './sources.js';

/** Parses `5s`, `500ms`, `2m` or plain seconds into ms; throws {@link UsageError}. */
export function parseDurationMs(raw: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
  if (!m) throw new UsageError(`${option} ${JSON.stringify(raw)}: write a duration like 5s, 500ms, 2m or 10`);
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
  if (!(ms > 0)) throw new UsageError(`${option} ${raw}: must be more than 0`);
  return ms;
}
