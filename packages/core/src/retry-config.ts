/**
 * Retry configuration: what a user writes under the factory's `retry` option, validated once into a
 * {@link RetryConfig}. A bad value is an error that names the field and what is wrong, e.g.
 * `retry.methods['trading.Pricer/Quote'].maxAttempts: 7 is outside 1..6`.
 *
 * Pure: no I/O.
 */

/** Retry settings for one method (or the default for all methods). */
export interface MethodRetryOptions {
  /**
   * How long one attempt may take before Fairway gives up on it and (budget and attempts permitting) tries
   * another endpoint. Milliseconds, > 0. Default: none, so no attempt timer and therefore no retries: only
   * the method's owner knows how long a healthy answer can take, and a guessed default would cut off and
   * duplicate slow-but-healthy calls. For server-streaming calls it bounds the wait for the first message.
   */
  attemptTimeoutMs?: number;
  /** Attempts in all, first one included. Integer 1..6. Default 5 (the game back-end rule: 4 to 6). */
  maxAttempts?: number;
  /**
   * Steady pause between an attempt timing out and the next attempt starting. Milliseconds, >= 0.
   * Default 50: long enough not to hammer, short next to any useful attempt timeout. Never grows, no jitter.
   */
  retryIntervalMs?: number;
}

/** The retry budget (as in Linkerd and Finagle): retries allowed = `ratio` x calls + `minPerSecond` x window. */
export interface RetryBudgetOptions {
  /** Retries allowed per call made, over the window. 0..1000, default 0.2 (20%). */
  ratio?: number;
  /** Retries always allowed per second of window, whatever the traffic. >= 0, default 10. */
  minPerSecond?: number;
  /** The sliding window the budget counts over. Milliseconds, >= 100, default 10_000. */
  windowMs?: number;
}

/** The factory's `retry` option. */
export interface RetryOptions extends MethodRetryOptions {
  /** Retry budget for the whole client (all methods share it). Defaults: 20% + 10/s over 10 s. */
  budget?: RetryBudgetOptions;
  /**
   * Per-method overrides keyed `'package.Service/Method'` (a leading `/` is accepted). Unset fields fall back
   * to the top-level settings.
   */
  methods?: Readonly<Record<string, MethodRetryOptions>>;
}

/** Validated settings for one method. */
export interface MethodRetrySettings {
  /** Undefined: no attempt timer, so the call makes exactly one attempt. */
  readonly attemptTimeoutMs: number | undefined;
  readonly maxAttempts: number;
  readonly retryIntervalMs: number;
}

/** Validated budget settings. */
export interface RetryBudgetSettings {
  readonly ratio: number;
  readonly minPerSecond: number;
  readonly windowMs: number;
}

/** Validated `retry` option. */
export interface RetryConfig {
  readonly defaults: MethodRetrySettings;
  /** Keyed `package.Service/Method` (no leading slash). */
  readonly methods: ReadonlyMap<string, MethodRetrySettings>;
  readonly budget: RetryBudgetSettings;
}

/** Default number of attempts (first one included). */
export const DEFAULT_MAX_ATTEMPTS = 5;
/** Smallest and largest allowed `maxAttempts`. */
export const MIN_ATTEMPTS = 1;
export const MAX_ATTEMPTS = 6;
/** Default steady pause between attempts, ms. */
export const DEFAULT_RETRY_INTERVAL_MS = 50;
/** Default budget: 20% of calls plus 10 retries per second over 10 s (Linkerd's and Finagle's figures). */
export const DEFAULT_RETRY_BUDGET: RetryBudgetSettings = Object.freeze({ ratio: 0.2, minPerSecond: 10, windowMs: 10_000 });

/** A bad `retry` option. `message` names the field, e.g. `retry.maxAttempts: 7 is outside 1..6`. */
export class RetryOptionsError extends Error {
  /** Path of the offending field, e.g. `retry.methods['trading.Pricer/Quote'].maxAttempts`. */
  readonly field: string;
  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'RetryOptionsError';
    this.field = field;
  }
}

const METHOD_FIELDS = ['attemptTimeoutMs', 'maxAttempts', 'retryIntervalMs'] as const;
const TOP_FIELDS = [...METHOD_FIELDS, 'budget', 'methods'] as const;
const BUDGET_FIELDS = ['ratio', 'minPerSecond', 'windowMs'] as const;
const METHOD_KEY_RE = /^[A-Za-z_][\w.]*\/[A-Za-z_]\w*$/;

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(path: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new RetryOptionsError(`${path}.${key}`, `unknown option (allowed: ${allowed.join(', ')})`);
    }
  }
}

function number(path: string, value: unknown, check: (n: number) => string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new RetryOptionsError(path, `${show(value)} is not a number`);
  }
  const problem = check(value);
  if (problem !== undefined) throw new RetryOptionsError(path, `${show(value)} ${problem}`);
  return value;
}

function parseMethod(path: string, raw: unknown, base: MethodRetrySettings): MethodRetrySettings {
  if (raw === undefined) return base;
  if (!isPlainObject(raw)) throw new RetryOptionsError(path, `expected an object, got ${show(raw)}`);
  checkKeys(path, raw, path === 'retry' ? TOP_FIELDS : METHOD_FIELDS);
  const attemptTimeoutMs = number(`${path}.attemptTimeoutMs`, raw['attemptTimeoutMs'], (n) =>
    n > 0 && Number.isFinite(n) ? undefined : 'must be a finite number of milliseconds > 0',
  );
  const maxAttempts = number(`${path}.maxAttempts`, raw['maxAttempts'], (n) =>
    Number.isInteger(n) && n >= MIN_ATTEMPTS && n <= MAX_ATTEMPTS
      ? undefined
      : Number.isInteger(n)
        ? `is outside ${MIN_ATTEMPTS}..${MAX_ATTEMPTS}`
        : `is not a whole number of attempts (${MIN_ATTEMPTS}..${MAX_ATTEMPTS})`,
  );
  const retryIntervalMs = number(`${path}.retryIntervalMs`, raw['retryIntervalMs'], (n) =>
    n >= 0 && Number.isFinite(n) ? undefined : 'must be a finite number of milliseconds >= 0',
  );
  return {
    attemptTimeoutMs: attemptTimeoutMs ?? base.attemptTimeoutMs,
    maxAttempts: maxAttempts ?? base.maxAttempts,
    retryIntervalMs: retryIntervalMs ?? base.retryIntervalMs,
  };
}

function parseBudget(raw: unknown): RetryBudgetSettings {
  const path = 'retry.budget';
  if (raw === undefined) return DEFAULT_RETRY_BUDGET;
  if (!isPlainObject(raw)) throw new RetryOptionsError(path, `expected an object, got ${show(raw)}`);
  checkKeys(path, raw, BUDGET_FIELDS);
  const ratio = number(`${path}.ratio`, raw['ratio'], (n) =>
    n >= 0 && n <= 1000 ? undefined : 'must be between 0 and 1000 (0.2 = 20% of calls)',
  );
  const minPerSecond = number(`${path}.minPerSecond`, raw['minPerSecond'], (n) =>
    n >= 0 && Number.isFinite(n) ? undefined : 'must be a finite number >= 0',
  );
  const windowMs = number(`${path}.windowMs`, raw['windowMs'], (n) =>
    n >= 100 && Number.isFinite(n) ? undefined : 'must be a finite number of milliseconds >= 100',
  );
  return {
    ratio: ratio ?? DEFAULT_RETRY_BUDGET.ratio,
    minPerSecond: minPerSecond ?? DEFAULT_RETRY_BUDGET.minPerSecond,
    windowMs: windowMs ?? DEFAULT_RETRY_BUDGET.windowMs,
  };
}

/** Normalises a method name to `package.Service/Method` (drops one leading `/`). */
export function retryMethodKey(method: string): string {
  return method.startsWith('/') ? method.slice(1) : method;
}

/**
 * Validates the factory's `retry` option (undefined gives the defaults). Throws {@link RetryOptionsError}
 * naming the field and the problem.
 */
export function parseRetryOptions(raw: unknown): RetryConfig {
  const base: MethodRetrySettings = {
    attemptTimeoutMs: undefined,
    maxAttempts: DEFAULT_MAX_ATTEMPTS,
    retryIntervalMs: DEFAULT_RETRY_INTERVAL_MS,
  };
  if (raw === undefined || raw === null) {
    return { defaults: base, methods: new Map(), budget: DEFAULT_RETRY_BUDGET };
  }
  const defaults = parseMethod('retry', raw, base);
  const obj = raw as Record<string, unknown>;
  const budget = parseBudget(obj['budget']);
  const methods = new Map<string, MethodRetrySettings>();
  const rawMethods = obj['methods'];
  if (rawMethods !== undefined) {
    if (!isPlainObject(rawMethods)) throw new RetryOptionsError('retry.methods', `expected an object keyed 'package.Service/Method', got ${show(rawMethods)}`);
    for (const [name, settings] of Object.entries(rawMethods)) {
      const key = retryMethodKey(name);
      const path = `retry.methods[${show(name).replace(/^"|"$/g, "'")}]`;
      if (!METHOD_KEY_RE.test(key)) {
        throw new RetryOptionsError(path, `the method name must look like 'package.Service/Method'`);
      }
      methods.set(key, parseMethod(path, settings, defaults));
    }
  }
  return { defaults, methods, budget };
}

/** The settings that apply to `method` (`/package.Service/Method` or `package.Service/Method`). */
export function retrySettingsFor(config: RetryConfig, method: string): MethodRetrySettings {
  return config.methods.get(retryMethodKey(method)) ?? config.defaults;
}
