/**
 * Retry configuration: what a user writes under the factory's `retry` option, validated once into a
 * {@link RetryConfig}. A bad value is an error that names the field and what is wrong, e.g.
 * `retry.methods['trading.Pricer/Quote'].maxAttempts: 7 is outside 1..6`.
 *
 * Pure: no I/O.
 */
import { showValue } from './show-value.js';

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
  /** Hedging of idempotent methods. Default: none (no method is hedged). */
  hedging?: HedgingOptions;
}

/**
 * Hedging (as Finagle's backup requests and gRFC A6's `hedgingPolicy`, with the hedge sent to an endpoint not
 * tried yet): when a call of a hedged method has no answer after a delay, a second attempt goes to another
 * endpoint; the first answer wins and the other attempt is cancelled. Only for methods that are safe to run
 * twice, so it is opt-in per method.
 */
export interface HedgingOptions {
  /**
   * Methods to hedge, `'package.Service/Method'` (a leading `/` is accepted). Default none. Each needs
   * `maxAttempts` 2 or more (its own, or the top-level one): a method with 1 attempt is refused, as it could
   * never be hedged.
   */
  methods?: readonly string[];
  /**
   * Also hedge every method whose proto declares `option idempotency_level = IDEMPOTENT` or `NO_SIDE_EFFECTS`
   * (visible when the client class was made by `@grpc/proto-loader`). Default false.
   */
  idempotent?: boolean;
  /**
   * Fixed delay before the hedge, milliseconds > 0. Default: none, the delay is the `percentile` of the
   * method's recent attempt latencies (no hedge until 20 calls have answered).
   */
  delayMs?: number;
  /**
   * Latency percentile that sets the delay when `delayMs` is not given, 50..99.9. Default 98: about 2 % of
   * calls are hedged in steady state, which leaves most of the 5 % budget for when an endpoint stalls
   * (hedging at the budget's own percentile, p95, would spend it all on ordinary tail latency).
   */
  percentile?: number;
  /** Hedges per call at most, 1..5 (attempts in all stay within `maxAttempts`). Default 1. */
  maxHedges?: number;
  /**
   * Hedges allowed as a share of the hedged methods' calls over a 10 s window, 0..1. Default 0.05 (at most
   * 5 % extra load).
   */
  budgetRatio?: number;
}

/** Validated hedging settings. */
export interface HedgingSettings {
  /** Keyed `package.Service/Method` (no leading slash). */
  readonly methods: ReadonlySet<string>;
  readonly idempotent: boolean;
  readonly delayMs: number | undefined;
  readonly percentile: number;
  readonly maxHedges: number;
  readonly budget: RetryBudgetSettings;
}

/** Default hedging percentile (of the method's recent latencies). */
export const DEFAULT_HEDGE_PERCENTILE = 98;
/** Default hedge budget: 5 % of hedged calls over 10 s, no reserve. */
export const DEFAULT_HEDGE_BUDGET: RetryBudgetSettings = Object.freeze({ ratio: 0.05, minPerSecond: 0, windowMs: 10_000 });

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
  /** Undefined: no method is hedged. */
  readonly hedging: HedgingSettings | undefined;
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
const TOP_FIELDS = [...METHOD_FIELDS, 'budget', 'methods', 'hedging'] as const;
const HEDGING_FIELDS = ['methods', 'idempotent', 'delayMs', 'percentile', 'maxHedges', 'budgetRatio'] as const;
const BUDGET_FIELDS = ['ratio', 'minPerSecond', 'windowMs'] as const;
const METHOD_KEY_RE = /^[A-Za-z_][\w.]*\/[A-Za-z_]\w*$/;

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
    throw new RetryOptionsError(path, `${showValue(value)} is not a number`);
  }
  const problem = check(value);
  if (problem !== undefined) throw new RetryOptionsError(path, `${showValue(value)} ${problem}`);
  return value;
}

function parseMethod(path: string, raw: unknown, base: MethodRetrySettings): MethodRetrySettings {
  if (raw === undefined) return base;
  if (!isPlainObject(raw)) throw new RetryOptionsError(path, `expected an object, got ${showValue(raw)}`);
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
  if (!isPlainObject(raw)) throw new RetryOptionsError(path, `expected an object, got ${showValue(raw)}`);
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

function parseHedging(raw: unknown): HedgingSettings | undefined {
  const path = 'retry.hedging';
  if (raw === undefined) return undefined;
  if (!isPlainObject(raw)) throw new RetryOptionsError(path, `expected an object, got ${showValue(raw)}`);
  checkKeys(path, raw, HEDGING_FIELDS);
  const methods = new Set<string>();
  const rawMethods = raw['methods'];
  if (rawMethods !== undefined) {
    if (!Array.isArray(rawMethods)) throw new RetryOptionsError(`${path}.methods`, `expected an array of 'package.Service/Method', got ${showValue(rawMethods)}`);
    rawMethods.forEach((name: unknown, i) => {
      const key = typeof name === 'string' ? retryMethodKey(name) : '';
      if (!METHOD_KEY_RE.test(key)) {
        throw new RetryOptionsError(`${path}.methods[${i}]`, `${showValue(name)}: the method name must look like 'package.Service/Method'`);
      }
      methods.add(key);
    });
  }
  const idempotent = raw['idempotent'];
  if (idempotent !== undefined && typeof idempotent !== 'boolean') throw new RetryOptionsError(`${path}.idempotent`, `${showValue(idempotent)} is not a boolean`);
  const delayMs = number(`${path}.delayMs`, raw['delayMs'], (n) => (n > 0 && Number.isFinite(n) ? undefined : 'must be a finite number of milliseconds > 0'));
  const percentile = number(`${path}.percentile`, raw['percentile'], (n) => (n >= 50 && n <= 99.9 ? undefined : 'is outside 50..99.9'));
  const maxHedges = number(`${path}.maxHedges`, raw['maxHedges'], (n) => (Number.isInteger(n) && n >= 1 && n <= 5 ? undefined : 'is not a whole number in 1..5'));
  const budgetRatio = number(`${path}.budgetRatio`, raw['budgetRatio'], (n) => (n >= 0 && n <= 1 ? undefined : 'is outside 0..1 (0.05 = 5% extra calls)'));
  return {
    methods,
    idempotent: idempotent ?? false,
    delayMs,
    percentile: percentile ?? DEFAULT_HEDGE_PERCENTILE,
    maxHedges: maxHedges ?? 1,
    budget: budgetRatio === undefined ? DEFAULT_HEDGE_BUDGET : { ...DEFAULT_HEDGE_BUDGET, ratio: budgetRatio },
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
    return { defaults: base, methods: new Map(), budget: DEFAULT_RETRY_BUDGET, hedging: undefined };
  }
  const defaults = parseMethod('retry', raw, base);
  const obj = raw as Record<string, unknown>;
  const budget = parseBudget(obj['budget']);
  const methods = new Map<string, MethodRetrySettings>();
  /** Where each method's maxAttempts was written, for an error about it (absent: `retry.maxAttempts`). */
  const maxAttemptsField = new Map<string, string>();
  const rawMethods = obj['methods'];
  if (rawMethods !== undefined) {
    if (!isPlainObject(rawMethods)) throw new RetryOptionsError('retry.methods', `expected an object keyed 'package.Service/Method', got ${showValue(rawMethods)}`);
    for (const [name, settings] of Object.entries(rawMethods)) {
      const key = retryMethodKey(name);
      const path = `retry.methods[${showValue(name).replace(/^"|"$/g, "'")}]`;
      if (!METHOD_KEY_RE.test(key)) {
        throw new RetryOptionsError(path, `the method name must look like 'package.Service/Method'`);
      }
      // '/a.B/C' and 'a.B/C' are one method: the later one would silently replace the earlier.
      if (methods.has(key)) throw new RetryOptionsError(path, `names the same method as another key (one with or without the leading '/')`);
      methods.set(key, parseMethod(path, settings, defaults));
      if (isPlainObject(settings) && settings['maxAttempts'] !== undefined) maxAttemptsField.set(key, `${path}.maxAttempts`);
    }
  }
  const hedging = parseHedging(obj['hedging']);
  if (hedging !== undefined) checkHedgedMethodsHaveAttempts(hedging, defaults, methods, maxAttemptsField);
  return { defaults, methods, budget, hedging };
}

/**
 * A hedge is a second attempt, counted within `maxAttempts`, so a hedged method whose `maxAttempts` is 1 could
 * never be hedged: refused rather than silently never hedging (gRFC A6 likewise requires a `hedgingPolicy`'s
 * `maxAttempts` to be 2 or more, and grpc-js refuses such a service config). For `hedging.idempotent` the
 * methods are known only from the client's proto, so it is refused only when no method could get two attempts.
 */
function checkHedgedMethodsHaveAttempts(
  hedging: HedgingSettings,
  defaults: MethodRetrySettings,
  methods: ReadonlyMap<string, MethodRetrySettings>,
  maxAttemptsField: ReadonlyMap<string, string>,
): void {
  const need = `hedging needs maxAttempts 2 or more (the hedge is the second attempt; gRFC A6's hedgingPolicy.maxAttempts must be >= 2 too)`;
  for (const method of hedging.methods) {
    const maxAttempts = (methods.get(method) ?? defaults).maxAttempts;
    if (maxAttempts < 2) {
      throw new RetryOptionsError(
        maxAttemptsField.get(method) ?? 'retry.maxAttempts',
        `${maxAttempts} leaves no attempt for a hedge of '${method}', which retry.hedging.methods lists: ${need}. ` +
          `Raise it, or take '${method}' out of retry.hedging.methods`,
      );
    }
  }
  if (hedging.idempotent && defaults.maxAttempts < 2 && ![...methods.values()].some((m) => m.maxAttempts >= 2)) {
    throw new RetryOptionsError(
      'retry.maxAttempts',
      `${defaults.maxAttempts} leaves no attempt for a hedge of any method, and retry.hedging.idempotent is true: ${need}. ` +
        `Raise it, give the idempotent methods their own retry.methods[...].maxAttempts, or drop retry.hedging.idempotent`,
    );
  }
}

/** The settings that apply to `method` (`/package.Service/Method` or `package.Service/Method`). */
export function retrySettingsFor(config: RetryConfig, method: string): MethodRetrySettings {
  return config.methods.get(retryMethodKey(method)) ?? config.defaults;
}
