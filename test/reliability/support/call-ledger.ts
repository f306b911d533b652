/**
 * A call ledger for fault tests: every call issued is recorded with when it started and ended and how. At the
 * end every call must have ended with a reply or with a status that says why (a code and non-empty details);
 * each call has a hard watchdog, and a call still open when it fires is a "hanging call" that fails the test.
 * Kills are recorded too, with the calls in flight at that moment, so a test can report and bound the calls
 * each kill cost.
 */
import type { EchoResult } from '@fairway/testing';

export interface LedgerEntry {
  readonly id: number;
  readonly label: string;
  readonly startedAt: number;
  endedAt?: number;
  result?: EchoResult;
  /** Set when the watchdog fired before the call ended. */
  hanging?: boolean;
}

export interface KillRecord {
  readonly what: string;
  readonly at: number;
  /** Ids of calls in flight when the kill started. */
  readonly inFlight: ReadonlySet<number>;
  /** Time the killed process was seen gone. */
  doneAt?: number;
}

export interface CallLedger {
  /** Issues one call through `run` (which must never reject) and records it; resolves with its entry. */
  track(label: string, run: () => Promise<EchoResult>): Promise<LedgerEntry>;
  /** Records a kill (or freeze) now, with the calls in flight; call `done()` when the process is gone. */
  kill(what: string): { done(): void; record: KillRecord };
  readonly entries: readonly LedgerEntry[];
  readonly kills: readonly KillRecord[];
  inFlightCount(): number;
  /** Waits (bounded) until no call is in flight. */
  drain(timeoutMs: number): Promise<void>;
  /**
   * Throws unless every call ended, none hung, and every failure carries a code and non-empty details.
   * Returns a one-line summary.
   */
  assertAllAccounted(): string;
  /** Failed calls that ended at or after `fromMs` and before `toMs`. */
  failedBetween(fromMs: number, toMs: number): LedgerEntry[];
  /**
   * Per kill: calls in flight at the kill, failed calls among them (ended after the kill), and failed calls
   * issued after it (up to the next kill; a call still in flight at the next kill counts there, not here).
   */
  killReport(): Array<{ what: string; inFlight: number; failedOfThose: number; failedIssuedAfter: number }>;
}

export function createCallLedger(options: { readonly watchdogMs: number }): CallLedger {
  const entries: LedgerEntry[] = [];
  const open = new Map<number, LedgerEntry>();
  const kills: KillRecord[] = [];
  const watchdogs = new Set<NodeJS.Timeout>();
  let next = 0;
  const ledger: CallLedger = {
    entries,
    kills,
    track(label, run) {
      const entry: LedgerEntry = { id: next++, label, startedAt: Date.now() };
      entries.push(entry);
      open.set(entry.id, entry);
      return new Promise<LedgerEntry>((resolve) => {
        const dog = setTimeout(() => {
          watchdogs.delete(dog);
          if (entry.endedAt === undefined) {
            entry.hanging = true;
            open.delete(entry.id);
            resolve(entry);
          }
        }, options.watchdogMs);
        watchdogs.add(dog);
        const finish = (result: EchoResult) => {
          clearTimeout(dog);
          watchdogs.delete(dog);
          if (entry.hanging) return; // already reported as hanging; a late end does not excuse it
          entry.endedAt = Date.now();
          entry.result = result;
          open.delete(entry.id);
          resolve(entry);
        };
        run().then(finish, (e: unknown) =>
          finish({ ok: false, code: -1, details: `the call promise rejected (a bug in the test): ${String(e)}`, ms: 0 }),
        );
      });
    },
    kill(what) {
      const record: KillRecord = { what, at: Date.now(), inFlight: new Set(open.keys()) };
      kills.push(record);
      return { record, done: () => void ((record as { doneAt?: number }).doneAt = Date.now()) };
    },
    inFlightCount: () => open.size,
    async drain(timeoutMs) {
      const until = Date.now() + timeoutMs;
      while (open.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    },
    assertAllAccounted() {
      for (const d of watchdogs) clearTimeout(d);
      watchdogs.clear();
      const hanging = entries.filter((e) => e.hanging);
      if (hanging.length > 0) {
        throw new Error(`${hanging.length} hanging call(s) (no reply and no status within ${options.watchdogMs} ms): ${hanging.slice(0, 5).map((h) => `#${h.id} ${h.label}`).join(', ')}`);
      }
      const unended = entries.filter((e) => e.result === undefined);
      if (unended.length > 0) throw new Error(`${unended.length} call(s) never ended (still open at the end of the test)`);
      const silent = entries.filter((e) => e.result && !e.result.ok && (e.result.code < 0 || e.result.details.trim() === ''));
      if (silent.length > 0) {
        throw new Error(`${silent.length} failed call(s) without a status that says why: ${JSON.stringify(silent.slice(0, 3).map((s) => s.result))}`);
      }
      const failed = entries.filter((e) => e.result && !e.result.ok).length;
      return `${entries.length} calls issued, ${entries.length - failed} replies, ${failed} statuses, 0 hanging`;
    },
    failedBetween(fromMs, toMs) {
      return entries.filter((e) => e.result && !e.result.ok && e.endedAt! >= fromMs && e.endedAt! < toMs);
    },
    killReport() {
      return kills.map((k, i) => {
        const nextAt = kills[i + 1]?.at ?? Infinity;
        const failedOfThose = entries.filter((e) => k.inFlight.has(e.id) && e.result && !e.result.ok && e.endedAt! >= k.at).length;
        // A call issued after this kill that was still in flight at the next one is that kill's to count.
        const next = kills[i + 1];
        const failedIssuedAfter = entries.filter(
          (e) => e.startedAt >= k.at && e.startedAt < nextAt && !next?.inFlight.has(e.id) && e.result && !e.result.ok,
        ).length;
        return { what: k.what, inFlight: k.inFlight.size, failedOfThose, failedIssuedAfter };
      });
    },
  };
  return ledger;
}
