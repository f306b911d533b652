/**
 * What a process writes to stderr while a test runs, for "said once, and not also on stderr" checks (a library's
 * default logger writes there). Writes still reach stderr; `restore` puts the original `write` back.
 */
export interface StderrCapture {
  /** Every chunk written since the capture began, as text. */
  readonly chunks: readonly string[];
  /** The chunks that contain `text`. */
  containing(text: string): string[];
  /** Stops capturing (idempotent). */
  restore(): void;
}

/** Starts capturing `process.stderr` writes (call `restore`, e.g. in a `finally`). */
export function captureStderr(): StderrCapture {
  const chunks: string[] = [];
  const original = process.stderr.write;
  const bound = original.bind(process.stderr) as (...args: unknown[]) => boolean;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return bound(chunk, ...rest);
  }) as typeof process.stderr.write;
  let restored = false;
  return {
    chunks,
    containing: (text) => chunks.filter((c) => c.includes(text)),
    restore() {
      if (restored) return;
      restored = true;
      process.stderr.write = original;
    },
  };
}
