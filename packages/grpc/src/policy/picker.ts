/**
 * The immutable picker of `fairway_p2c_peak_ewma`, replaced on every state change.
 *
 * Each pick asks the shared Balancer (power of two choices over peak-EWMA cost, zone-aware), which counts
 * the call in flight at once; the chosen child's own pick_first picker supplies the subchannel; the
 * tracker releases the count exactly once.
 */
import type { PickExplanation } from '@fairway/core';
import { PickResultType } from '../grpc-internals.js';
import type { PickArgs, PickResult, Picker } from '../grpc-internals.js';
import { getAttemptPickContext } from '../attempt-context.js';
import type { PickTracker, Releasable } from './pick-tracker.js';

/** The Balancer calls the picker makes (see `Balancer` in `@fairway/core`). */
export interface PickSource {
  pick(
    nowMs: number,
    random: () => number,
    avoid?: ReadonlySet<string>,
  ): (Releasable & { readonly key: string; readonly explanation: PickExplanation }) | undefined;
  pickByKey(
    key: string,
    nowMs: number,
    avoid?: ReadonlySet<string>,
  ): (Releasable & { readonly key: string; readonly explanation: PickExplanation }) | undefined;
}

export interface PickerDeps {
  readonly balancer: PickSource;
  readonly tracker: PickTracker;
  readonly now: () => number;
  readonly random: () => number;
  /** Metadata key carrying a call's affinity key (see the `affinity` option); absent: every call is p2c. */
  readonly affinityHeader?: string;
  /** Told of every pick (subsetting's load estimate); must be cheap. */
  readonly onPick?: (nowMs: number) => void;
}

const QUEUE: PickResult = {
  pickResultType: PickResultType.QUEUE,
  subchannel: null,
  status: null,
  onCallStarted: null,
  onCallEnded: null,
};

export class FairwayPicker implements Picker {
  /** @param children READY children's pickers by endpoint key, frozen for this picker's life. */
  constructor(
    private readonly deps: PickerDeps,
    private readonly children: ReadonlyMap<string, Picker>,
  ) {}

  pick(pickArgs: PickArgs): PickResult {
    const { balancer, tracker, now, random } = this.deps;
    const context = getAttemptPickContext(pickArgs.metadata);
    const pickedAtMs = now();
    this.deps.onPick?.(pickedAtMs);
    const affinityKey = this.deps.affinityHeader === undefined ? undefined : pickArgs.metadata.get(this.deps.affinityHeader)[0];
    const handle =
      typeof affinityKey === 'string' && affinityKey !== ''
        ? balancer.pickByKey(affinityKey, pickedAtMs, context?.avoid)
        : balancer.pick(pickedAtMs, random, context?.avoid);
    if (!handle) return QUEUE;
    const child = this.children.get(handle.key);
    const result = child?.pick(pickArgs);
    if (!result || result.pickResultType !== PickResultType.COMPLETE) {
      // The balancer's view and this picker's disagree for a moment (a state change is on its way): the
      // count is released at once and the call waits for the next picker.
      handle.release({ kind: 'cancelled' }, pickedAtMs);
      return QUEUE;
    }
    if (context) {
      try {
        context.onPick(handle.explanation);
      } catch {
        // an observer must never break a call
      }
    }
    const tracked = tracker.track(handle, pickedAtMs, context?.sampleLatency ?? true);
    const childStarted = result.onCallStarted;
    const childEnded = result.onCallEnded;
    return {
      pickResultType: PickResultType.COMPLETE,
      subchannel: result.subchannel,
      status: null,
      onCallStarted: () => {
        tracked.started();
        childStarted?.();
      },
      onCallEnded: (code, details, metadata) => {
        tracked.ended(code, details, now());
        childEnded?.(code, details, metadata);
      },
    };
  }
}
