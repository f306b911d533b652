/** Where Fairway writes what a user should know (zone-blind mode, rejected configs, discovery errors). */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Writes to `console.error` with a `[fairway]` prefix (stderr, so it never mixes with program output). */
export const consoleLogger: Logger = {
  info: (m) => console.error(`[fairway] ${m}`),
  warn: (m) => console.error(`[fairway] warning: ${m}`),
  error: (m) => console.error(`[fairway] error: ${m}`),
};

let defaultLogger: Logger = consoleLogger;

/** The logger used where no per-channel logger is known (policy config errors from a resolver). */
export function getDefaultLogger(): Logger {
  return defaultLogger;
}

/** Replaces the process-wide default logger (e.g. to route Fairway's messages into the app's logger). */
export function setDefaultLogger(logger: Logger): void {
  defaultLogger = logger;
}

const said = new WeakMap<Logger, Set<string>>();

/** Logs `message` once per logger per `key` (e.g. "running zone-blind"). */
export function logOnce(logger: Logger, key: string, level: keyof Logger, message: string): void {
  let keys = said.get(logger);
  if (!keys) said.set(logger, (keys = new Set()));
  if (keys.has(key)) return;
  keys.add(key);
  logger[level](message);
}
