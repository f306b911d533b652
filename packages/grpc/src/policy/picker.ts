/**
 * The immutable picker of `fairway_p2c_peak_ewma`, replaced on every state change.
 *
 * Each pick asks the shared Balancer (power of two choices over peak-EWMA cost, zone-aware), which counts
 * the call in flight at once; the chosen child's own pick_first picker supplies the subchannel; the
 * tracker releases the count exactly once.
 */
import type { CanaryController, CanaryGroup, CanaryHalt, PickedEndpoint, PickExplanation } from '@fairway/core';
import { PickResultType } from '../grpc-internals.js';
import type { PickArgs, PickResult, Picker } from '../grpc-internals.js';
import { getAttemptPickContext, type AttemptPickContext } from '../attempt-context.js';
import { TrackedPick, bareOutcome, type PickTracker, type Releasable } from './pick-tracker.js';

/** The Balancer calls the picker makes (see `Balancer` in `@fairway/core`). */
export interface PickSource {
  pick(
    nowMs: number,
    random: () => number,
    avoid?: ReadonlySet<string>,
  ): PickSourceHandle | undefined;
  pickByKey(key: string, nowMs: number, avoid?: ReadonlySet<string>): PickSourceHandle | undefined;
  pickEndpoint(nowMs: number, random: () => number, avoid?: ReadonlySet<string>): PickedEndpoint | undefined;
  releasePicked(picked: PickedEndpoint, outcome: Parameters<Releasable['release']>[0], nowMs: number): void;
}

/** A Balancer pick handle, as the picker uses it. */
type PickSourceHandle = Releasable & { readonly key: string; readonly explanation: PickExplanation };

export interface PickerDeps {
  readonly balancer: PickSource;
  readonly tracker: PickTracker;
  readonly now: () => number;
  readonly random: () => number;
  /** Metadata key carrying a call's affinity key (see the `affinity` option); absent: every call is p2c. */
  readonly affinityHeader?: string;
  /** Told of every pick (subsetting's load estimate); must be cheap. */
  readonly onPick?: (nowMs: number) => void;
  /** Canary routing (a live document's `canary` section, with canary and stable endpoints both present). */
  readonly canary?: CanaryRouting;
}

/** What the picker needs for canary routing. */
export interface CanaryRouting {
  readonly controller: CanaryController;
  /** Keys of the canary endpoints, and of the others. */
  readonly canaryKeys: ReadonlySet<string>;
  readonly stableKeys: ReadonlySet<string>;
  /** Told once when an outcome halts the canary. */
  readonly onHalt: (halt: CanaryHalt) => void;
  /** The halt not yet reported to an attempt (the next pick reports it once, for its span event). */
  readonly takeHalt: () => CanaryHalt | undefined;
}

/** gRPC codes that say the endpoint failed (for the canary's error rate); CANCELLED is the caller's doing. */
const ENDPOINT_FAILURE_CODES = new Set([2, 4, 8, 12, 13, 14, 15]);

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
    const { balancer, now, random } = this.deps;
    const context = getAttemptPickContext(pickArgs.metadata);
    const pickedAtMs = now();
    this.deps.onPick?.(pickedAtMs);
    const affinityKey = this.deps.affinityHeader === undefined ? undefined : pickArgs.metadata.get(this.deps.affinityHeader)[0];
    let avoid = context?.avoid;
    let group: CanaryGroup | undefined;
    const canary = this.deps.canary;
    if (canary !== undefined) {
      // The group first (so the canaries share the calls whatever their number), then p2c inside it: the other
      // group is avoided (it still takes the call when this group has no READY endpoint).
      const header = canary.controller.options.stickyHeader;
      const sticky = header === undefined ? undefined : pickArgs.metadata.get(header)[0];
      group = canary.controller.choose(random, typeof sticky === 'string' ? sticky : undefined);
      const other = group === 'canary' ? canary.stableKeys : canary.canaryKeys;
      avoid = avoid === undefined || avoid.size === 0 ? other : new Set([...other, ...avoid]);
    }
    // A handle when the call layer reads the pick's explanation (an attempt's pick context) or the call has an
    // affinity key; otherwise the bare endpoint, released by the result itself (no handle object per call).
    let handle: PickSourceHandle | undefined;
    let picked: PickedEndpoint | undefined;
    if (typeof affinityKey === 'string' && affinityKey !== '') handle = balancer.pickByKey(affinityKey, pickedAtMs, avoid);
    else if (context !== undefined) handle = balancer.pick(pickedAtMs, random, avoid);
    else picked = balancer.pickEndpoint(pickedAtMs, random, avoid);
    const key = handle !== undefined ? handle.key : picked?.key;
    if (key === undefined) return QUEUE;
    const child = this.children.get(key);
    const result = child?.pick(pickArgs);
    if (!result || result.pickResultType !== PickResultType.COMPLETE) {
      // The balancer's view and this picker's disagree for a moment (a state change is on its way): the
      // count is released at once and the call waits for the next picker.
      if (handle !== undefined) handle.release(bareOutcome('cancelled'), pickedAtMs);
      else balancer.releasePicked(picked!, bareOutcome('cancelled'), pickedAtMs);
      return QUEUE;
    }
    if (context && handle !== undefined) {
      try {
        let explanation = handle.explanation;
        if (canary !== undefined) {
          const halt = canary.takeHalt();
          const landed = canary.canaryKeys.has(key) ? 'canary' : 'stable';
          explanation = { ...explanation, canary: { group: landed, ...(halt !== undefined ? { halted: halt.reason } : {}) } };
        }
        context.onPick(explanation);
      } catch {
        // an observer must never break a call
      }
    }
    return new TrackedResult(this.deps, handle, picked, key, pickedAtMs, result, context);
  }
}

/**
 * The pick result handed to grpc-js, which is also the tracked pick: one object and one small closure per call.
 * grpc-js 1.14 calls `onCallStarted` as a method of the result (`pickResult.onCallStarted.call(pickResult)`),
 * so it lives on the prototype; `onCallEnded` is called with the call as `this`, so it is a closure, made by
 * {@link endedCallback} so that it holds the result alone.
 */
class TrackedResult extends TrackedPick implements PickResult {
  readonly pickResultType = PickResultType.COMPLETE;
  readonly subchannel: PickResult['subchannel'];
  readonly status = null;
  readonly onCallEnded: NonNullable<PickResult['onCallEnded']>;
  private readonly childStarted: PickResult['onCallStarted'];
  private readonly childEnded: PickResult['onCallEnded'];

  /** Exactly one of `handle` (a Balancer handle) and `picked` (a bare pick) is set. */
  constructor(
    private readonly deps: PickerDeps,
    private readonly handle: Releasable | undefined,
    private readonly picked: PickedEndpoint | undefined,
    private readonly key: string,
    pickedAtMs: number,
    child: PickResult,
    private readonly context: AttemptPickContext | undefined,
  ) {
    super(deps.tracker, pickedAtMs, context?.sampleLatency ?? true);
    this.subchannel = child.subchannel;
    this.childStarted = child.onCallStarted;
    this.childEnded = child.onCallEnded;
    this.onCallEnded = endedCallback(this);
  }

  releasePick(outcome: Parameters<Releasable['release']>[0], nowMs: number): void {
    if (this.handle !== undefined) this.handle.release(outcome, nowMs);
    else this.deps.balancer.releasePicked(this.picked!, outcome, nowMs);
  }

  onCallStarted(): void {
    this.started();
    const childStarted = this.childStarted;
    childStarted?.(); // unbound, as grpc-js would call a child's own result
    this.context?.onStarted?.();
  }

  /** @internal What `onCallEnded` runs. */
  callEnded(code: Parameters<NonNullable<PickResult['onCallEnded']>>[0], details: string, metadata: Parameters<NonNullable<PickResult['onCallEnded']>>[2]): void {
    const endedAtMs = this.deps.now();
    this.ended(code, details, endedAtMs);
    const canary = this.deps.canary;
    if (canary !== undefined && code !== 1) {
      // The group the endpoint is in (the pick may have fallen back to the other group).
      const landed: CanaryGroup = canary.canaryKeys.has(this.key) ? 'canary' : 'stable';
      const halt = canary.controller.record(landed, !ENDPOINT_FAILURE_CODES.has(code), endedAtMs - this.pickedAtMs, endedAtMs);
      if (halt !== undefined) canary.onHalt(halt);
    }
    const childEnded = this.childEnded;
    childEnded?.(code, details, metadata);
  }
}

/** `onCallEnded` for `result`: a function of its own, so the closure captures the result and nothing else. */
function endedCallback(result: TrackedResult): NonNullable<PickResult['onCallEnded']> {
  return (code, details, metadata) => result.callEnded(code, details, metadata);
}
