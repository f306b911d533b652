// Helpers for this package's tests (not a test file itself; not exported).
import type { DiscoveryError, DiscoveryListener, EndpointSnapshot } from '@fairway/core';
import type { EtcdLogger } from './connection.js';

export interface Recorder extends DiscoveryListener {
  readonly snapshots: EndpointSnapshot[];
  readonly errors: DiscoveryError[];
  last(): EndpointSnapshot | undefined;
  waitFor(pred: (s: EndpointSnapshot) => boolean, timeoutMs?: number, what?: string): Promise<EndpointSnapshot>;
  waitForError(timeoutMs?: number): Promise<DiscoveryError>;
}

export function recorder(): Recorder {
  const snapshots: EndpointSnapshot[] = [];
  const errors: DiscoveryError[] = [];
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const wait = async <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}; last snapshot: ${JSON.stringify(snapshots.at(-1))}; errors: ${JSON.stringify(errors.map((e) => e.message))}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  };
  return {
    snapshots,
    errors,
    onSnapshot(s) {
      snapshots.push(s);
      poke();
    },
    onError(e) {
      errors.push(e);
      poke();
    },
    last: () => snapshots.at(-1),
    waitFor: (pred, timeoutMs = 15000, what = 'a matching snapshot') =>
      wait(() => {
        const s = snapshots.at(-1);
        return s && pred(s) ? s : undefined;
      }, timeoutMs, what),
    waitForError: (timeoutMs = 15000) => wait(() => errors.at(-1), timeoutMs, 'a discovery error'),
  };
}

export function memoryLogger(): EtcdLogger & { lines: string[]; waitForLine(test: RegExp, timeoutMs: number): Promise<boolean> } {
  const lines: string[] = [];
  return {
    lines,
    /** True once a line matches `test`; false when none did within `timeoutMs` (the caller asserts). */
    async waitForLine(test, timeoutMs) {
      for (const until = Date.now() + timeoutMs; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
        if (lines.some((l) => test.test(l))) return true;
      }
      return lines.some((l) => test.test(l));
    },
    info: (m) => lines.push(`info: ${m}`),
    warn: (m) => lines.push(`warn: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
  };
}

export const addrs = (s: EndpointSnapshot | undefined): string[] => (s ? s.endpoints.map((e) => e.address).sort() : []);

export function goValue(addr: string, metadata: unknown = null): string {
  return JSON.stringify({ Op: 0, Addr: addr, Metadata: metadata });
}
