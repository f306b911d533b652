/**
 * Logging that says the same thing at most once per interval (per key), and how often it was held back. One
 * implementation for every discovery source and registrar (etcd, Kubernetes), so each says a repeated failure
 * the same way.
 */

/** What a rate-limited log writes to: the discovery packages' loggers (`info` optional). */
export interface RateLimitedLogTarget {
  info?(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A logger whose messages are rate-limited per key. */
export interface RateLimitedLog {
  info(key: string, message: string): void;
  warn(key: string, message: string): void;
  error(key: string, message: string): void;
}

/** Messages with the same key are logged at most once per `intervalMs` (0: every time); held-back counts are appended. */
export function createRateLimitedLog(logger: RateLimitedLogTarget, intervalMs: number, now: () => number = Date.now): RateLimitedLog {
  const last = new Map<string, { atMs: number; suppressed: number }>();
  const emit = (level: keyof RateLimitedLogTarget, key: string, message: string) => {
    const t = now();
    const seen = last.get(key);
    if (seen && t - seen.atMs < intervalMs) {
      seen.suppressed++;
      return;
    }
    const suffix = seen && seen.suppressed > 0 ? ` (${seen.suppressed} similar message(s) held back)` : '';
    last.set(key, { atMs: t, suppressed: 0 });
    if (last.size > 10_000) last.delete(last.keys().next().value as string);
    try {
      logger[level]?.(message + suffix);
    } catch {
      /* a logger must never break discovery */
    }
  };
  return {
    info: (k, m) => emit('info', k, m),
    warn: (k, m) => emit('warn', k, m),
    error: (k, m) => emit('error', k, m),
  };
}
