/**
 * "In flight" as the client sees it: a call is in flight on a connection from its pick until the client sees
 * that connection close. A killed peer sends no GOAWAY, so calls picked onto its connection in the moment before
 * the client saw it close fail like the calls the dead server had received (README "Transparent re-picks").
 * These helpers record where each failed call was last picked and when the client saw each killed endpoint go,
 * so a test can assert what the balancer owes: no call picked after the client saw a close fails.
 */
import type { Client } from '@grpc/grpc-js';
import type { CallObserverFactory } from '@fairway/core';
import { policyOf } from './policy-introspection.js';

/** A failed call's last pick: which endpoint (instance, or address when it has none), and when (performance.now()). */
export interface FailedPick {
  readonly instance: string;
  readonly pickedAt: number;
  readonly status: string;
}

/** A call observer that records where each failed call's last attempt was picked, and when. */
export const recordFailedPicks = (failed: FailedPick[]): CallObserverFactory => ({
  onCallStart: () => {
    let last: { instance: string; pickedAt: number } | undefined;
    return {
      onAttemptStart: () => ({
        onPick: (p) => void (last = { instance: p.instance ?? p.address, pickedAt: performance.now() }),
        outgoingHeaders: () => ({}),
        onEnd: () => {},
      }),
      onEnd: (st) => void (st.code !== 0 ? failed.push({ instance: last?.instance ?? '(no pick)', pickedAt: last?.pickedAt ?? -1, status: `${st.code} ${st.details}` }) : 0),
    };
  },
});

/**
 * Resolves once the client's policy no longer holds any of `instances` (instance ids, or addresses for
 * endpoints without one) READY, or after `timeoutMs`; records in `sawDownAt` when it first saw each go
 * (checked every turn of the event loop).
 */
export function watchDown(client: Client, instances: readonly string[], sawDownAt: Map<string, number>, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    const until = performance.now() + timeoutMs;
    const check = () => {
      const children = policyOf(client).children();
      for (const id of instances) {
        if (sawDownAt.has(id)) continue;
        const c = children.find((x) => x.key.startsWith(`${id}#`));
        if (!c || c.state !== 'READY') sawDownAt.set(id, performance.now());
      }
      if (instances.every((id) => sawDownAt.has(id)) || performance.now() > until) resolve();
      else setImmediate(check);
    };
    check();
  });
}

/** The failed calls picked onto an endpoint after the client saw it go (or onto one never seen go), described. */
export function failuresAfterSeenDown(failedPicks: readonly FailedPick[], sawDownAt: ReadonlyMap<string, number>): string[] {
  const out: string[] = [];
  for (const f of failedPicks) {
    const seen = sawDownAt.get(f.instance);
    if (seen !== undefined && f.pickedAt <= seen) continue;
    out.push(`a call picked onto ${f.instance} ${seen === undefined ? '(never seen down)' : `${(f.pickedAt - seen).toFixed(2)} ms after the client saw its connection close`} failed: ${f.status}`);
  }
  return out;
}
