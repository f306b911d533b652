/**
 * How an error message shows the value it refuses. Pure: no I/O.
 */

/** Wraps what JSON cannot write while an object is stringified, to be unwrapped afterwards. */
const MARK = '\u0000';
/** `MARK` as JSON.stringify escapes it, around a value's JavaScript form, inside the quotes of a JSON string. */
const MARKED = /"\\u0000(.*?)\\u0000"/g;

/**
 * `value` as an error message should show it: a string quoted (JSON), a number as JavaScript writes it, objects
 * and arrays as JSON, cut to `maxLength` characters. Unlike `JSON.stringify`, which writes `NaN` and `Infinity`
 * as `null` (so "timeoutMs must be a number, got null" for a NaN) and leaves out `undefined`, it shows `NaN`,
 * `Infinity`, `-Infinity`, `-0`, `undefined`, bigints, functions and symbols as they are, also inside an object
 * (`{"low":NaN,"high":2}`).
 */
export function showValue(value: unknown, maxLength = 200): string {
  const shown = showWhole(value);
  return shown.length > maxLength ? `${shown.slice(0, Math.max(0, maxLength - 3))}...` : shown;
}

function showWhole(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'function':
      return value.name ? `a function (${value.name})` : 'a function';
    case 'symbol':
      return value.toString();
    case 'undefined':
    case 'boolean':
      return String(value);
    default:
      break;
  }
  if (value === null) return 'null';
  try {
    const json = JSON.stringify(value, (key: string, v: unknown) => (key !== '' && jsonCannotWrite(v) ? `${MARK}${showWhole(v)}${MARK}` : v));
    return json === undefined ? String(value) : json.replace(MARKED, '$1');
  } catch {
    // A cycle, or a toJSON that throws.
    return String(value);
  }
}

/** Values JSON.stringify writes as something else (`null`, `0`) or leaves out. */
function jsonCannotWrite(v: unknown): boolean {
  if (typeof v === 'number') return !Number.isFinite(v) || Object.is(v, -0);
  return v === undefined || typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol';
}
