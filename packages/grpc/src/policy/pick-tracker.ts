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
  release(outcome: { kind: OutcomeKind; latencyMs?: number; hedgeLost?: boolean }, nowMs: number): void;
}

/** The release of a kind without a latency: one shared object per kind (nothing allocated per call). */
const BARE_OUTCOMES: { readonly [K in OutcomeKind]: { readonly kind: K } } = {
  success: { kind: 'success' },
  failure: { kind: 'failure' },
  timeout: { kind: 'timeout' },
  cancelled: { kind: 'cancelled' },
};

/** The outcome a release records for a kind with no latency. */
export function bareOutcome(kind: OutcomeKind): { readonly kind: OutcomeKind } {
  return BARE_OUTCOMES[kind];
}

/**
 * One tracked pick: released exactly once, by `ended` or by the tracker's sweep; a subclass says how
 * (`releasePick`). One object per call: the picker's result extends it (an object, a closure pair and the
 * result around them were more allocations per call, each a share of B4's garbage-collector time). While
 * unstarted it is a link of its tracker's list (`prev`/`next`): a `Set` add and delete per call cost a
 * hash-table update each and rehashed the table as calls came and went (seen in an allocation profile: ~100
 * bytes per call).
 */
export abstract class TrackedPick {
  /** @internal Released (by `ended`, the sweep or `close`). */
  done = false;
  /** @internal Neighbours in the tracker's unstarted list; both null and not the head: not in it. */
  prev: TrackedPick | null = null;
  /** @internal */
  next: TrackedPick | null = null;

  /** Counts the pick as unstarted in `tracker` at once. */
  constructor(
    private readonly tracker: PickTracker,
    readonly pickedAtMs: number,
    /** False (streams): an OK end is a success without a latency sample. */
    readonly sampleLatency: boolean,
  ) {
    tracker.link(this);
  }

  /** @internal Uncounts the pick and records `outcome` (called exactly once). */
  abstract releasePick(outcome: Parameters<Releasable['release']>[0], nowMs: number): void;

  /** The call's stream was created. */
  started(): void {
    this.tracker.unlink(this);
  }

  /** The call ended with `code` / `details` at `nowMs`: releases the pick with its outcome (once). */
  ended(code: number, details: string, nowMs: number): void {
    this.tracker.unlink(this);
    if (this.done) return;
    this.done = true;
    const kind = outcomeKindFor(code, details);
    if ((kind === 'success' && this.sampleLatency) || kind === 'timeout') {
      const latencyMs = Math.max(0, nowMs - this.pickedAtMs);
      this.releasePick(kind === 'timeout' && details.startsWith(HEDGE_LOST_DETAILS_PREFIX) ? { kind, latencyMs, hedgeLost: true } : { kind, latencyMs }, nowMs);
    } else {
      this.releasePick(BARE_OUTCOMES[kind], nowMs);
    }
  }
}

/** A tracked pick released through its Balancer handle. */
class HandlePick extends TrackedPick {
  constructor(
    tracker: PickTracker,
    readonly handle: Releasable,
    pickedAtMs: number,
    sampleLatency: boolean,
  ) {
    super(tracker, pickedAtMs, sampleLatency);
  }

  releasePick(outcome: Parameters<Releasable['release']>[0], nowMs: number): void {
    this.handle.release(outcome, nowMs);
  }
}

export class PickTracker {
  /**
   * Picks counted but not started, oldest first: a doubly linked list through the entries (picks are added in
   * time order, so the sweep stops at the first one younger than the timeout).
   */
  private head: TrackedPick | null = null;
  private tail: TrackedPick | null = null;
  private size = 0;
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
    return new HandlePick(this, handle, pickedAtMs, sampleLatency);
  }

  /** @internal Appends a new pick to the unstarted list (its constructor calls this). */
  link(entry: TrackedPick): void {
    const tail = this.tail;
    if (tail === null) this.head = entry;
    else {
      tail.next = entry;
      entry.prev = tail;
    }
    this.tail = entry;
    this.size++;
    this.ensureSweeper();
  }

  /** @internal Takes `entry` out of the unstarted list (no-op when it is not in it). */
  unlink(entry: TrackedPick): void {
    const { prev, next } = entry;
    if (prev === null && next === null && this.head !== entry) return;
    if (prev === null) this.head = next;
    else prev.next = next;
    if (next === null) this.tail = prev;
    else next.prev = prev;
    entry.prev = null;
    entry.next = null;
    this.size--;
  }

  /** Releases picks that never started and are older than the timeout. Returns how many. */
  sweep(nowMs: number): number {
    let n = 0;
    // Oldest first; a pick's time never decreases along the list (one clock), so the first young one ends it.
    while (this.head !== null && nowMs - this.head.pickedAtMs >= this.unstartedTimeoutMs) {
      const entry = this.head;
      this.unlink(entry);
      if (entry.done) continue;
      entry.done = true;
      entry.releasePick(BARE_OUTCOMES.cancelled, nowMs);
      n++;
    }
    this.sweptCount += n;
    if (this.size === 0) this.stopSweeper();
    return n;
  }

  /** Picks counted but not yet started. */
  get unstartedCount(): number {
    return this.size;
  }

  /** Releases everything still unstarted (policy destroyed) and stops the timer. */
  close(): void {
    const now = this.clock();
    while (this.head !== null) {
      const entry = this.head;
      this.unlink(entry);
      if (!entry.done) {
        entry.done = true;
        entry.releasePick(BARE_OUTCOMES.cancelled, now);
      }
    }
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
