/**
 * A closed-loop, event-driven simulation of callers using a {@link Balancer}, on a fake clock (Finagle's
 * "simulation" load balancer tests, e.g. `BalancerTest` / `LoadBalancerFactoryTest`, in spirit).
 *
 * `concurrency(nowMs)` callers each keep one call in flight: a caller picks, its call completes after
 * `latencyMs(key, nowMs)` of simulated time, it releases the handle with that latency and picks again.
 * Completions are processed in time order from a binary heap; a tick every `tickMs` lets the number of
 * callers grow while nothing completes. No real time passes.
 *
 * @packageDocumentation
 */
import type { Balancer, PickHandle } from '../index.js';

export interface ClosedLoopOptions {
  readonly balancer: Balancer;
  readonly random: () => number;
  /** Simulated start time, ms. Default 0. */
  readonly startMs?: number;
  /** Stop after this many picks. */
  readonly picks: number;
  /** Callers wanted at `nowMs` (each keeps one call in flight). */
  concurrency(nowMs: number): number;
  /** Latency of a call to `key` picked at `nowMs`. */
  latencyMs(key: string, nowMs: number): number;
  /** Outcome of that call; default `success`. */
  outcome?(key: string, nowMs: number): 'success' | 'failure' | 'timeout';
  /** How a caller picks; default `balancer.pick(nowMs, random)` (e.g. `pickByKey` for affinity runs). */
  pick?(nowMs: number): PickHandle | undefined;
  /** Called after every pick. */
  onPick?(key: string, nowMs: number, handle: PickHandle): void;
  /** Called at every tick (every `tickMs`), e.g. to change the endpoint set. */
  onTick?(nowMs: number): void;
  /** Tick period, ms. Default 10. */
  readonly tickMs?: number;
}

export interface ClosedLoopResult {
  /** Picks per endpoint key. */
  readonly picks: Map<string, number>;
  /** Picks that returned undefined (no READY endpoint). */
  readonly failedPicks: number;
  readonly endMs: number;
  /** Calls still in flight at the end (released as `cancelled` before returning). */
  readonly leftInFlight: number;
}

interface Ev {
  at: number;
  seq: number;
  handle: PickHandle | undefined; // undefined: tick
  key: string;
  startedMs: number;
  latency: number;
}

export function runClosedLoop(o: ClosedLoopOptions): ClosedLoopResult {
  const heap: Ev[] = [];
  const picks = new Map<string, number>();
  let now = o.startMs ?? 0;
  let seq = 0;
  let active = 0;
  let picked = 0;
  let failedPicks = 0;
  const tickMs = o.tickMs ?? 10;
  const push = (ev: Ev): void => {
    heap.push(ev);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(heap[p]!, heap[i]!)) break;
      [heap[p], heap[i]] = [heap[i]!, heap[p]!];
      i = p;
    }
  };
  const pop = (): Ev => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  const topUp = (): void => {
    while (active < o.concurrency(now) && picked < o.picks) {
      const h = o.pick !== undefined ? o.pick(now) : o.balancer.pick(now, o.random);
      if (h === undefined) {
        failedPicks++;
        return;
      }
      picked++;
      active++;
      picks.set(h.key, (picks.get(h.key) ?? 0) + 1);
      o.onPick?.(h.key, now, h);
      const latency = o.latencyMs(h.key, now);
      push({ at: now + latency, seq: seq++, handle: h, key: h.key, startedMs: now, latency });
    }
  };
  push({ at: now, seq: seq++, handle: undefined, key: '', startedMs: now, latency: 0 });
  while (heap.length > 0 && picked < o.picks) {
    const ev = pop();
    now = ev.at;
    if (ev.handle === undefined) {
      o.onTick?.(now);
      push({ at: now + tickMs, seq: seq++, handle: undefined, key: '', startedMs: now, latency: 0 });
    } else {
      active--;
      const kind = o.outcome?.(ev.key, ev.startedMs) ?? 'success';
      ev.handle.release({ kind, latencyMs: ev.latency }, now);
    }
    topUp();
  }
  let leftInFlight = 0;
  for (const ev of heap) {
    if (ev.handle !== undefined) {
      leftInFlight++;
      ev.handle.release({ kind: 'cancelled' }, now);
    }
  }
  return { picks, failedPicks, endMs: now, leftInFlight };
}

function less(a: Ev, b: Ev): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Shares of picks per key (sums to 1). */
export function shares(picks: Map<string, number>): Map<string, number> {
  let total = 0;
  for (const n of picks.values()) total += n;
  const out = new Map<string, number>();
  for (const [k, n] of picks) out.set(k, n / total);
  return out;
}
