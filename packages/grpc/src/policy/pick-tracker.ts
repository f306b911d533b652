/**
 * Releases every counted pick exactly once.
 *
 * The picker counts an in-flight call when it picks (not in `onCallStarted`, which runs after an async hop:
 * a burst of picks in one tick would all see equal counts). grpc-js then calls `onCallStarted` and
 * `onCallEnded`, except when the call is cancelled between the pick and the stream's creation, or when
 * grpc-js re-picks because the subchannel changed state meanwhile: then neither callback ever comes. So a
 * pick that has not started within `unstartedTimeoutMs` is released as `cancelled` by a sweep; if its
 * callbacks arrive after all, they are ignored (the call runs uncounted, which is safe).
 */
import { startInterval } from '../clock.js';
import type { TimerHandle } from '../clock.js';
import { outcomeKindFor } from './outcome.js';
import { HEDGE_LOST_DETAILS_PREFIX } from '@fairway/core';
import type { OutcomeKind } from './outcome.js';

/** What the tracker needs from a Balancer pick handle. */
export interface Releasable {
  release(outcome: { kind: OutcomeKind; latencyMs?: number }, nowMs: number): void;
}

export interface TrackedPick {
  started(): void;
  ended(code: number, details: string, nowMs: number): void;
}

/**
 * One tracked pick, and its `TrackedPick` methods: one object per call (a closure pair and an object around it
 * were four more allocations per call, each a share of B4's garbage-collector time).
 */
class Entry implements TrackedPick {
  done = false;

  constructor(
    private readonly unstarted: Set<Entry>,
    readonly handle: Releasable,
    readonly pickedAtMs: number,
    readonly sampleLatency: boolean,
  ) {}

  started(): void {
    this.unstarted.delete(this);
  }

  ended(code: number, details: string, nowMs: number): void {
    this.unstarted.delete(this);
    if (this.done) return;
    this.done = true;
    const kind = outcomeKindFor(code, details);
    if ((kind === 'success' && this.sampleLatency) || kind === 'timeout') {
      const hedgeLost = kind === 'timeout' && details.startsWith(HEDGE_LOST_DETAILS_PREFIX);
      this.handle.release({ kind, latencyMs: Math.max(0, nowMs - this.pickedAtMs), ...(hedgeLost ? { hedgeLost } : {}) }, nowMs);
    } else {
      this.handle.release({ kind }, nowMs);
    }
  }
}

export class PickTracker {
  private readonly unstarted = new Set<Entry>();
  private sweeper: TimerHandle | undefined;
  /** Picks released by the sweep (never started): for diagnostics and tests. */
  sweptCount = 0;

  constructor(
    private readonly clock: () => number,
    private readonly unstartedTimeoutMs = 2_000,
    private readonly sweepEveryMs = 500,
  ) {}

  /**
   * Tracks a pick. `sampleLatency` false (streams): an OK end is a success without a latency sample, since a
   * stream's duration says nothing about the endpoint's speed.
   */
  track(handle: Releasable, pickedAtMs: number, sampleLatency: boolean): TrackedPick {
    const entry = new Entry(this.unstarted, handle, pickedAtMs, sampleLatency);
    this.unstarted.add(entry);
    this.ensureSweeper();
    return entry;
  }

  /** Releases picks that never started and are older than the timeout. Returns how many. */
  sweep(nowMs: number): number {
    let n = 0;
    for (const entry of this.unstarted) {
      if (nowMs - entry.pickedAtMs < this.unstartedTimeoutMs) continue;
      this.unstarted.delete(entry);
      if (entry.done) continue;
      entry.done = true;
      entry.handle.release({ kind: 'cancelled' }, nowMs);
      n++;
    }
    this.sweptCount += n;
    if (this.unstarted.size === 0) this.stopSweeper();
    return n;
  }

  /** Picks counted but not yet started. */
  get unstartedCount(): number {
    return this.unstarted.size;
  }

  /** Releases everything still unstarted (policy destroyed) and stops the timer. */
  close(): void {
    const now = this.clock();
    for (const entry of this.unstarted) {
      if (!entry.done) {
        entry.done = true;
        entry.handle.release({ kind: 'cancelled' }, now);
      }
    }
    this.unstarted.clear();
    this.stopSweeper();
  }

  private ensureSweeper(): void {
    if (this.sweeper) return;
    this.sweeper = startInterval(this.sweepEveryMs, () => this.sweep(this.clock()));
  }

  private stopSweeper(): void {
    this.sweeper?.cancel();
    this.sweeper = undefined;
  }
}
