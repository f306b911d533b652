/**
 * One client call as a state machine: every decision of the call layer, with no I/O, no timers and no
 * clock. The grpc-js adapter (`@fairway/grpc`, `call/fairway-call.ts`) feeds it events (the call started,
 * an attempt was picked onto an endpoint, a response message, an attempt's status, a timer fired, the caller
 * cancelled), each with `nowMs` from one monotonic clock, and executes the commands it returns (open an
 * attempt avoiding endpoints X, arm a timer of N ms, cancel attempt k, commit attempt k to the caller, tell
 * observers how an attempt ended, finish the call).
 *
 * The rules, and why:
 * - **Retries only when Fairway's own attempt timer fires** (the game back-end rule): any status a server
 *   sent goes back to the caller as it is, since only the application knows whether answering twice is safe.
 *   At most `maxAttempts` attempts, spaced by a steady `retryIntervalMs` (a fixed-size retry wave is
 *   predictable; the budget, not back-off, stops a storm), each on an endpoint not tried yet, each allowed
 *   by the retry budget. Unary calls retry; server-streaming calls only before their first message (it
 *   commits the attempt and stops its timer); client-streaming and bidi calls never (replaying them would
 *   mean buffering every message without bound). Each attempt's timer is `attemptTimeoutMs`, unless the
 *   call's deadline comes first: then grpc-js's deadline ends the attempt and the call.
 * - **Transparent re-picks**: an attempt that provably never reached a server (the adapter says so: no
 *   stream was created, or the stream was refused) is re-picked on another endpoint at once. It is not a
 *   retry of the transaction (the server never saw it), so neither the timeout-only rule, nor `maxAttempts`,
 *   nor the retry budget applies; it is bounded by one re-pick per endpoint tried (gRFC A6's transparent
 *   retries, Envoy's `reset-before-request`, with the endpoint avoided this time).
 * - **Hedging** (opt-in per idempotent method): when the first attempt has not answered after the hedge
 *   delay, a second attempt goes to an endpoint not tried yet, if the hedge budget allows; the first answer
 *   wins and the others are cancelled. An UNAVAILABLE answer while another attempt is still in flight does
 *   not win the race: it says the endpoint failed, and a fast failure must never beat a slower success.
 *
 * A unary attempt commits on its status (its message, and grpc-js's `null` "no message" just before a
 * status, are held by the adapter until then): a server that froze between message and trailers must not
 * stop the timer. A server-streaming attempt commits on its first message.
 *
 * @packageDocumentation
 */
import type { AttemptOutcome, AttemptStart, CallDescription } from '../contracts.js';
import type { RetryBudget } from '../retry-budget.js';
import type { MethodRetrySettings } from '../retry-config.js';
import type { LatencyWindow } from './latency-window.js';
import { ATTEMPT_TIMEOUT_DETAILS_PREFIX, HEDGE_LOST_DETAILS_PREFIX, StatusCode } from './status.js';

/** Timer id of the pause between a timed-out attempt and the next one. Attempt timers use the attempt's number (1, 2, ...). */
export const RETRY_TIMER = 0;
/** Timer id of the hedge delay. */
export const HEDGE_TIMER = -1;

/**
 * A first attempt picked onto an endpoint whose latency estimate is above this many times the set's median
 * estimate, and above the hedge delay, hedges at the method's median latency rather than at its hedge delay. Finagle's backup requests wait
 * for the latency quantile because they cannot tell which calls will be slow; the picker can: a call on an
 * endpoint that answers far slower than the others (a pod that lost CPU) is the tail the hedge exists for, and
 * waiting the full delay only confirms it. Still only when the call has not answered by then, still within the
 * hedge budget.
 */
export const SLOW_ENDPOINT_HEDGE_FACTOR = 2;

/** Why an attempt was opened. */
export type AttemptReason = AttemptStart['reason'];

/** What the adapter must do, in order. */
export type CallCommand =
  /**
   * Start attempt `attempt` (its own grpc-js call, its own pick), asking the picker to avoid the endpoints
   * already tried when it can (`avoid` is a snapshot for logs; the picker should read {@link CallMachine.avoiding}).
   */
  | { readonly type: 'open'; readonly attempt: number; readonly reason: AttemptReason; readonly detail: string; readonly avoid: readonly string[] }
  /** Start timer `timer` (see {@link RETRY_TIMER}, {@link HEDGE_TIMER}, or an attempt number); report it with {@link CallMachine.timerFired}. */
  | { readonly type: 'arm'; readonly timer: number; readonly delayMs: number }
  /** Stop timer `timer` (it may already have fired). */
  | { readonly type: 'disarm'; readonly timer: number }
  /** Cancel attempt `attempt` with this status (and ignore whatever it reports from now on). */
  | { readonly type: 'cancel'; readonly attempt: number; readonly code: number; readonly details: string }
  /** Attempt `attempt` is the one the caller sees: pass its held headers (and held message) on, then everything it sends. */
  | { readonly type: 'commit'; readonly attempt: number }
  /** Tell the attempt's observers how it ended (exactly once per opened attempt). */
  | { readonly type: 'attemptEnded'; readonly attempt: number; readonly outcome: AttemptOutcome }
  /**
   * End the call with this status. With `attempt`, pass that attempt's own status object on (its trailers
   * included); `code`/`details` are the same as that status's.
   */
  | { readonly type: 'finish'; readonly code: number; readonly details: string; readonly attempt?: number };

/** Hedging for one method, resolved once per client. */
export interface HedgePlan {
  /** Fixed hedge delay, ms; undefined: the method's live latency quantile ({@link HedgePlan.latency}). */
  readonly delayMs: number | undefined;
  /** Hedges per call at most (attempts opened by the hedge timer), >= 1. */
  readonly maxHedges: number;
  /** The method's recent attempt latencies (recorded by the machine at each commit). */
  readonly latency: LatencyWindow;
  /** The hedge budget, shared by the client's hedged methods (a deposit per hedged call, a withdrawal per hedge). */
  readonly budget: RetryBudget;
}

/** What one call is allowed to do. */
export interface CallPlan {
  readonly kind: CallDescription['kind'];
  readonly settings: MethodRetrySettings;
  /** The client's retry budget (a deposit per call, a withdrawal per retry). */
  readonly budget: RetryBudget;
  /** Undefined: no hedging for this method. */
  readonly hedge?: HedgePlan | undefined;
}

/** The kinds of call whose request can be sent again (it is one message, buffered). */
export function isReplayableKind(kind: CallDescription['kind']): boolean {
  return kind === 'unary' || kind === 'server_stream';
}

const NO_COMMANDS: readonly CallCommand[] = Object.freeze([]);
/** The `avoid` snapshot of an attempt opened before any pick (every call's first attempt): one shared array. */
const NOTHING_TO_AVOID: readonly string[] = Object.freeze([]);

interface Attempt {
  readonly n: number;
  readonly reason: AttemptReason;
  readonly startedMs: number;
  live: boolean;
  timerArmed: boolean;
  /** Key of the endpoint of its last pick. */
  endpoint: string | undefined;
}

function ms(n: number): string {
  return `${Math.round(n)}ms`;
}

/** See the file comment. One instance per call; not reusable. */
export class CallMachine {
  private readonly attempts: Attempt[] = [];
  private readonly replayable: boolean;
  /** Distinct endpoint keys picked by this call's attempts, in order. */
  private readonly tried = new Set<string>();
  /** Endpoints an attempt was re-picked away from (one re-pick per endpoint); made at the first re-pick. */
  private repickedFrom: string[] | undefined;
  private deadlineMs = Infinity;
  private live = 0;
  /** Attempts counted towards `maxAttempts` (re-picks are not). */
  private counted = 0;
  private hedges = 0;
  private committed = 0;
  private finished = false;
  private retryArmed = false;
  private hedgeArmed = false;
  private hedgeDelayMs: number | undefined;
  /** Why the hedge was brought forward (a slow endpoint), for the hedge attempt's detail. */
  private hedgeSoonerWhy: string | undefined;

  constructor(private readonly plan: CallPlan) {
    this.replayable = isReplayableKind(plan.kind);
  }

  /** True once the call has been given its final status. */
  get isFinished(): boolean {
    return this.finished;
  }

  /**
   * The endpoints this call's attempts were picked onto so far, live: give it to the picker rather than an
   * `open` command's snapshot, so that an attempt whose pick waits (a cold channel queues picks) still avoids
   * the endpoint an earlier attempt was given meanwhile (a hedge and the first attempt picked in one tick).
   */
  get avoiding(): ReadonlySet<string> {
    return this.tried;
  }

  /** The attempt the caller sees, 0 before one commits. */
  get committedAttempt(): number {
    return this.committed;
  }

  /**
   * The call starts. `deadlineMs` is the call's deadline on the same clock as `nowMs` (`Infinity`: none).
   * Opens the first attempt, or finishes at once when the deadline has already passed.
   */
  start(nowMs: number, deadlineMs: number): readonly CallCommand[] {
    const out: CallCommand[] = [];
    this.deadlineMs = deadlineMs;
    this.plan.budget.recordCall(nowMs);
    const hedge = this.replayable ? this.plan.hedge : undefined;
    if (hedge) hedge.budget.recordCall(nowMs);
    const remaining = deadlineMs - nowMs;
    if (!(remaining > 0)) {
      this.finish(
        out,
        StatusCode.DEADLINE_EXCEEDED,
        `Deadline exceeded before the call started: the deadline was ${ms(-remaining)} in the past (or zero); no attempt was sent (Fairway)`,
      );
      return out;
    }
    if (hedge) {
      // Armed before the first attempt opens: its pick may come while the open is executed, and bring it forward.
      const delay = hedge.delayMs ?? hedge.latency.value();
      if (delay !== undefined && delay < remaining && (this.plan.settings.attemptTimeoutMs === undefined || delay < this.plan.settings.attemptTimeoutMs)) {
        this.hedgeDelayMs = delay;
        this.hedgeArmed = true;
        out.push({ type: 'arm', timer: HEDGE_TIMER, delayMs: delay });
      }
    }
    this.open(out, 'first', 'first attempt', nowMs);
    if (!this.replayable) {
      // A client or bidi stream is passed straight through: the caller sees its only attempt from the start.
      this.commit(out, this.attempts[0]!, nowMs);
      return out;
    }
    return out;
  }

  /**
   * The picker chose `endpointKey` for attempt `attempt` (grpc-js may re-pick: the last one counts).
   * @param estimate the chosen endpoint's latency estimate and the set's median, ms (the pick explanation's
   *   `rttEstimateMs` / `setMedianRttMs`), when known: a first attempt on an endpoint above
   *   {@link SLOW_ENDPOINT_HEDGE_FACTOR} x the median and above the hedge delay brings its hedge forward to the
   *   method's median latency.
   * @returns commands to execute (re-arming the hedge timer), usually none.
   */
  picked(
    attempt: number,
    endpointKey: string,
    nowMs?: number,
    estimate?: { readonly rttEstimateMs?: number | undefined; readonly setMedianRttMs?: number | undefined },
  ): readonly CallCommand[] {
    const a = this.attempts[attempt - 1];
    if (!a) return NO_COMMANDS;
    a.endpoint = endpointKey;
    this.tried.add(endpointKey);
    const hedge = this.plan.hedge;
    const rtt = estimate?.rttEstimateMs;
    const median = estimate?.setMedianRttMs;
    if (
      attempt !== 1 || !this.hedgeArmed || hedge === undefined || hedge.delayMs !== undefined || nowMs === undefined ||
      rtt === undefined || median === undefined || !(rtt > SLOW_ENDPOINT_HEDGE_FACTOR * median)
    ) {
      return NO_COMMANDS;
    }
    const sooner = hedge.latency.median();
    const elapsed = nowMs - a.startedMs;
    // Both: far slower than the others (not one endpoint's passing peak among equals: a peak EWMA remembers its
    // peaks), and expected past the hedge delay anyway (the call is the tail the delay waits for).
    if (sooner === undefined || this.hedgeDelayMs === undefined || !(rtt > this.hedgeDelayMs) || !(sooner < this.hedgeDelayMs)) return NO_COMMANDS;
    this.hedgeSoonerWhy =
      `its endpoint's estimate ${ms(rtt)} is above ${SLOW_ENDPOINT_HEDGE_FACTOR}x the set's median ${ms(median)}, so at the method's median ` +
      `latency instead of ${ms(this.hedgeDelayMs)}`;
    this.hedgeDelayMs = sooner;
    return [{ type: 'arm', timer: HEDGE_TIMER, delayMs: Math.max(0, sooner - elapsed) }];
  }

  /**
   * Attempt `attempt` received a response message (for unary calls grpc-js's `null` "no message" counts
   * too: it is not a commit). A server stream's first message commits its attempt.
   */
  message(attempt: number, nowMs: number): readonly CallCommand[] {
    const a = this.attempts[attempt - 1];
    if (!a || !a.live || this.finished || this.committed !== 0 || this.plan.kind === 'unary') return NO_COMMANDS;
    const out: CallCommand[] = [];
    this.plan.hedge?.latency.record(nowMs - a.startedMs);
    this.commit(out, a, nowMs);
    return out;
  }

  /**
   * Attempt `attempt` ended with a status from grpc-js (the server's, or one grpc-js made).
   * @param reachedServer false only when the adapter can prove the request never reached a server (no
   *   stream was created, or the server refused the stream): such an attempt may be re-picked.
   */
  status(attempt: number, code: number, details: string, reachedServer: boolean, nowMs: number): readonly CallCommand[] {
    const a = this.attempts[attempt - 1];
    if (!a || !a.live || this.finished) return NO_COMMANDS;
    const out: CallCommand[] = [];
    this.end(out, a);
    if (this.committed === a.n) {
      out.push({ type: 'attemptEnded', attempt: a.n, outcome: { code, details, timedOut: false } });
      this.finish(out, code, details, a.n);
      return out;
    }
    if (this.committed !== 0) return out; // another attempt is the caller's (cannot happen: the others were cancelled)
    if (!reachedServer && this.canRepick(a, nowMs)) {
      (this.repickedFrom ??= []).push(a.endpoint!);
      const repickReason =
        `attempt ${a.n} never reached ${a.endpoint} (${details}); re-picked at once on another endpoint ` +
        `(not a retry: the server never saw it)`;
      out.push({ type: 'attemptEnded', attempt: a.n, outcome: { code, details, timedOut: false, repickReason } });
      this.open(out, 'repick', repickReason, nowMs);
      return out;
    }
    if (this.live > 0 && (code === StatusCode.UNAVAILABLE || !reachedServer)) {
      // A hedge race goes on: a failing endpoint's answer does not beat the other attempts.
      out.push({
        type: 'attemptEnded',
        attempt: a.n,
        outcome: { code, details, timedOut: false, retryRefusedReason: `attempt ${a.n} failed while another attempt is in flight; waiting for it` },
      });
      return out;
    }
    if (code === StatusCode.OK) this.plan.hedge?.latency.record(nowMs - a.startedMs);
    this.commit(out, a, nowMs);
    out.push({ type: 'attemptEnded', attempt: a.n, outcome: { code, details, timedOut: false } });
    this.finish(out, code, details, a.n);
    return out;
  }

  /** Timer `timer` fired (a timer that was disarmed meanwhile is ignored). */
  timerFired(timer: number, nowMs: number): readonly CallCommand[] {
    if (this.finished) return NO_COMMANDS;
    if (timer === RETRY_TIMER) {
      if (!this.retryArmed) return NO_COMMANDS;
      this.retryArmed = false;
      const out: CallCommand[] = [];
      this.open(out, 'retry', 'retry after a timed-out attempt', nowMs);
      return out;
    }
    if (timer === HEDGE_TIMER) {
      if (!this.hedgeArmed) return NO_COMMANDS;
      this.hedgeArmed = false;
      return this.hedge(nowMs);
    }
    const a = this.attempts[timer - 1];
    if (!a || !a.live || !a.timerArmed || this.committed === a.n) return NO_COMMANDS;
    return this.timeOut(a, nowMs);
  }

  /** The caller cancelled the call. */
  cancel(code: number, details: string, nowMs: number): readonly CallCommand[] {
    void nowMs;
    if (this.finished) return NO_COMMANDS;
    const out: CallCommand[] = [];
    this.disarmCallTimers(out);
    let committedLive = false;
    for (const a of this.attempts) {
      if (!a.live) continue;
      if (a.n === this.committed) {
        // Its own status (the cancel) reaches the caller through `status`.
        committedLive = true;
        out.push({ type: 'cancel', attempt: a.n, code, details });
        continue;
      }
      this.end(out, a);
      out.push({ type: 'cancel', attempt: a.n, code, details });
      out.push({ type: 'attemptEnded', attempt: a.n, outcome: { code, details, timedOut: false } });
    }
    if (!committedLive) this.finish(out, code, details);
    return out;
  }

  // ---- decisions ---------------------------------------------------------------------------------------

  private canRepick(a: Attempt, nowMs: number): boolean {
    return (
      this.replayable &&
      a.endpoint !== undefined &&
      !(this.repickedFrom?.includes(a.endpoint) ?? false) &&
      this.deadlineMs - nowMs > 0
    );
  }

  private timeOut(a: Attempt, nowMs: number): readonly CallCommand[] {
    const out: CallCommand[] = [];
    const elapsed = nowMs - a.startedMs;
    const what = `attempt ${a.n} timed out after ${ms(elapsed)}`;
    this.end(out, a);
    out.push({ type: 'cancel', attempt: a.n, code: StatusCode.DEADLINE_EXCEEDED, details: `${ATTEMPT_TIMEOUT_DETAILS_PREFIX} ${what}` });
    const details = `${ATTEMPT_TIMEOUT_DETAILS_PREFIX} ${what}`;
    if (this.retryArmed) {
      // Another attempt (a hedge) timed out just before: the retry already scheduled replaces both.
      out.push({ type: 'attemptEnded', attempt: a.n, outcome: { code: StatusCode.DEADLINE_EXCEEDED, details, timedOut: true } });
      return out;
    }
    const { maxAttempts, retryIntervalMs } = this.plan.settings;
    const remaining = this.deadlineMs - nowMs;
    let refused: string | undefined;
    if (this.counted >= maxAttempts) {
      refused = `${what}: all ${maxAttempts} attempts used (maxAttempts ${maxAttempts})`;
    } else if (remaining <= retryIntervalMs) {
      refused = `${what}: the call's deadline leaves ${ms(remaining)}, not more than the ${ms(retryIntervalMs)} retry interval`;
    } else if (!this.plan.budget.tryWithdraw(nowMs)) {
      refused = `${what}: retry budget exhausted (${this.plan.budget.describe(nowMs)})`;
    }
    if (refused !== undefined) {
      out.push({
        type: 'attemptEnded',
        attempt: a.n,
        outcome: { code: StatusCode.DEADLINE_EXCEEDED, details, timedOut: true, retryRefusedReason: refused },
      });
      if (this.live === 0) {
        this.finish(out, StatusCode.DEADLINE_EXCEEDED, `${refused} (Fairway retries only attempts that time out)`);
      }
      return out;
    }
    const retryReason =
      `${what}; retrying in ${ms(retryIntervalMs)} on another endpoint (attempt ${this.counted + 1} of ${maxAttempts})`;
    out.push({ type: 'attemptEnded', attempt: a.n, outcome: { code: StatusCode.DEADLINE_EXCEEDED, details, timedOut: true, retryReason } });
    if (retryIntervalMs <= 0) {
      this.open(out, 'retry', retryReason, nowMs);
    } else {
      this.retryArmed = true;
      out.push({ type: 'arm', timer: RETRY_TIMER, delayMs: retryIntervalMs });
    }
    return out;
  }

  private hedge(nowMs: number): readonly CallCommand[] {
    const hedge = this.plan.hedge!;
    // A retry already scheduled counts: it will be opened, and attempts in all stay within maxAttempts.
    const planned = this.counted + (this.retryArmed ? 1 : 0);
    if (this.committed !== 0 || planned >= this.plan.settings.maxAttempts || this.hedges >= hedge.maxHedges) return NO_COMMANDS;
    if (this.deadlineMs - nowMs <= 0) return NO_COMMANDS;
    if (!hedge.budget.tryWithdraw(nowMs)) return NO_COMMANDS;
    const out: CallCommand[] = [];
    this.hedges++;
    const why = this.hedgeSoonerWhy === undefined ? '' : ` (${this.hedgeSoonerWhy})`;
    this.open(out, 'hedge', `no answer after ${ms(this.hedgeDelayMs ?? 0)}${why}: hedged on another endpoint (hedge ${this.hedges} of ${hedge.maxHedges})`, nowMs);
    if (this.hedges < hedge.maxHedges && planned + 1 < this.plan.settings.maxAttempts) {
      this.hedgeArmed = true;
      out.push({ type: 'arm', timer: HEDGE_TIMER, delayMs: this.hedgeDelayMs ?? 0 });
    }
    return out;
  }

  // ---- command helpers ---------------------------------------------------------------------------------

  private open(out: CallCommand[], reason: AttemptReason, detail: string, nowMs: number): void {
    const n = this.attempts.length + 1;
    const a: Attempt = { n, reason, startedMs: nowMs, live: true, timerArmed: false, endpoint: undefined };
    this.attempts.push(a);
    this.live++;
    if (reason !== 'repick') this.counted++;
    out.push({ type: 'open', attempt: n, reason, detail, avoid: this.tried.size === 0 ? NOTHING_TO_AVOID : [...this.tried] });
    const timeout = this.plan.settings.attemptTimeoutMs;
    if (this.replayable && timeout !== undefined && timeout < this.deadlineMs - nowMs) {
      // Otherwise the call's deadline comes first: grpc-js ends the attempt, and with it the call.
      a.timerArmed = true;
      out.push({ type: 'arm', timer: n, delayMs: timeout });
    }
  }

  /** Marks an attempt as over (its timer disarmed); the caller adds the outcome. */
  private end(out: CallCommand[], a: Attempt): void {
    a.live = false;
    this.live--;
    if (a.timerArmed) {
      a.timerArmed = false;
      out.push({ type: 'disarm', timer: a.n });
    }
  }

  private commit(out: CallCommand[], a: Attempt, nowMs: number): void {
    this.committed = a.n;
    if (a.timerArmed) {
      a.timerArmed = false;
      out.push({ type: 'disarm', timer: a.n });
    }
    out.push({ type: 'commit', attempt: a.n });
    this.disarmCallTimers(out);
    this.cancelOthers(out, a.n, nowMs);
  }

  private disarmCallTimers(out: CallCommand[]): void {
    if (this.retryArmed) {
      this.retryArmed = false;
      out.push({ type: 'disarm', timer: RETRY_TIMER });
    }
    if (this.hedgeArmed) {
      this.hedgeArmed = false;
      out.push({ type: 'disarm', timer: HEDGE_TIMER });
    }
  }

  /**
   * Cancels every live attempt but `winner` (hedges that lost the race). A loser that had been waiting at least
   * the hedge delay was late by the hedge's own measure, and its endpoint learns a time-out (see
   * `outcomeKindFor`); one that had waited less was merely beaten (typically the hedge itself, sent moments
   * before the first attempt answered) and teaches its endpoint nothing: counted as a time-out, every hedge
   * that lost to a slightly late first attempt penalised a healthy endpoint, and five in a row ejected it
   * (seen with hedging on equal servers: one of three ejected for 10 s, p50 up 30 %).
   */
  private cancelOthers(out: CallCommand[], winner: number, nowMs: number): void {
    if (this.live === 0 || (this.live === 1 && this.attempts[winner - 1]?.live)) return;
    const late = `${HEDGE_LOST_DETAILS_PREFIX} attempt ${winner} answered first`;
    const beaten = `Fairway: attempt ${winner} answered first`;
    const lateAfterMs = this.hedgeDelayMs ?? 0;
    for (const a of this.attempts) {
      if (!a.live || a.n === winner) continue;
      this.end(out, a);
      const details = nowMs - a.startedMs >= lateAfterMs ? late : beaten;
      out.push({ type: 'cancel', attempt: a.n, code: StatusCode.CANCELLED, details });
      out.push({ type: 'attemptEnded', attempt: a.n, outcome: { code: StatusCode.CANCELLED, details, timedOut: false } });
    }
  }

  private finish(out: CallCommand[], code: number, details: string, attempt?: number): void {
    this.finished = true;
    this.disarmCallTimers(out);
    out.push(attempt === undefined ? { type: 'finish', code, details } : { type: 'finish', code, details, attempt });
  }
}
