/**
 * One client call as the call layer runs it: a sequence of attempts, each its own grpc-js call (its own pick),
 * retried only when Fairway's own attempt timer fires (see `decideRetry` in core for the rules and why).
 *
 * Two modes:
 * - **retrying** (unary and server-streaming calls with an `attemptTimeoutMs`): the request is buffered (it is
 *   one message), response headers are held until the attempt commits (for a server stream its first
 *   message; for a unary call its status, the message held until then; or a status that
 *   is not our timer firing), so the caller never sees a cancelled attempt. Attempts are looped with p-retry
 *   at a steady interval.
 * - **single** (client-streaming and bidi calls, or no `attemptTimeoutMs`): one attempt, everything passed
 *   straight through. A client or bidi stream is never retried: replaying it would mean buffering every
 *   message the caller has written, without bound, and re-sending them to a server that may already have
 *   acted on them.
 *
 * Either way: each attempt's metadata carries the client identity headers and the observers' headers, and a
 * pick context (endpoints to avoid, a callback for the pick); observers are told everything and can never
 * break a call (their exceptions are caught and reported once to the logger).
 */
import { Metadata, status as Status } from '@grpc/grpc-js';
import type { InterceptorOptions, NextCall, InterceptingListener, StatusObject } from '@grpc/grpc-js';
import pRetry from 'p-retry';
import {
  attemptTimer,
  decideRetry,
  isRetryableKind,
  CLIENT_INCARNATION_HEADER,
  CLIENT_INSTANCE_HEADER,
} from '@fairway/core';
import type {
  AttemptObserver,
  AttemptOutcome,
  CallDescription,
  CallObserver,
  MethodRetrySettings,
  PickExplanation,
  RetryBudget,
  RetryDecision,
} from '@fairway/core';
import { setAttemptPickContext } from '../attempt-context.js';
import { nowMs, startTimer } from '../clock.js';
import type { TimerHandle } from '../clock.js';

type AttemptCall = ReturnType<NextCall>;
type MessageContext = Parameters<AttemptCall['sendMessageWithContext']>[0];

/** The `details` of the status an attempt cancelled by Fairway's own timer ends with (what the picker sees). */
export const ATTEMPT_TIMEOUT_DETAILS_PREFIX = 'Fairway attempt timer:';

/** What one call needs from its client. */
export interface FairwayCallSetup {
  readonly description: CallDescription;
  readonly settings: MethodRetrySettings;
  readonly budget: RetryBudget;
  readonly observer: CallObserver | undefined;
  readonly identity: { readonly instance: string; readonly incarnation: string } | undefined;
  readonly onObserverError: (error: unknown) => void;
}

/** Wall-clock ms of a grpc-js deadline (grpc-js deadlines are wall-clock); Infinity for none. */
export function deadlineWallMs(deadline: InterceptorOptions['deadline']): number {
  if (deadline === undefined || deadline === null) return Infinity;
  if (deadline instanceof Date) return deadline.getTime();
  return Number(deadline);
}

class AttemptTimedOut extends Error {
  constructor(
    readonly attempt: number,
    readonly elapsedMs: number,
  ) {
    super(`attempt ${attempt} timed out after ${Math.round(elapsedMs)}ms`);
    this.name = 'AttemptTimedOut';
  }
}

interface AttemptState {
  readonly n: number;
  readonly call: AttemptCall;
  readonly observer: AttemptObserver | undefined;
  readonly startedMs: number;
  /** When this attempt's timer fires (wall ms). */
  readonly timerWallMs: number;
  readonly byDeadline: boolean;
  timer: TimerHandle | undefined;
  /** Ended by our timer or by cancellation: ignore whatever it still reports. */
  abandoned: boolean;
  heldMetadata: Metadata | undefined;
  /** A unary attempt's response message (or grpc-js's null for none), held until its status. */
  heldMessage: { readonly message: unknown } | undefined;
  ended: boolean;
  settle: ((error?: AttemptTimedOut) => void) | undefined;
  /** Key of the endpoint this attempt was picked onto (last pick). */
  endpointKey: string | undefined;
}

/** See the file comment. Implements grpc-js's `InterceptingCallInterface`. */
export class FairwayCall {
  private listener: Partial<InterceptingListener> | undefined;
  private metadata: Metadata | undefined;
  private request: { context: MessageContext; message: unknown } | undefined;
  private halfClosed = false;
  private current: AttemptState | undefined;
  private committed = false;
  private finished = false;
  private cancelledWith: { code: number; details: string } | undefined;
  private readonly abort = new AbortController();
  private readonly avoid = new Set<string>();
  private readonly retrying: boolean;
  private readonly callDeadlineWallMs: number;
  private lastDecision: RetryDecision | undefined;
  private attemptsStarted = 0;

  constructor(
    private readonly options: InterceptorOptions,
    private readonly nextCall: NextCall,
    private readonly setup: FairwayCallSetup,
  ) {
    this.retrying = isRetryableKind(setup.description.kind) && setup.settings.attemptTimeoutMs !== undefined;
    this.callDeadlineWallMs = deadlineWallMs(options.deadline);
  }

  // ---- InterceptingCallInterface -------------------------------------------------------------------------

  start(metadata: Metadata, listener?: Partial<InterceptingListener>): void {
    this.metadata = metadata;
    this.listener = listener;
    this.setup.budget.recordCall(nowMs());
    const remaining = this.callDeadlineWallMs - Date.now();
    if (remaining <= 0) {
      const details =
        `Deadline exceeded before the call started: the deadline was ${Math.round(-remaining)}ms in the past ` +
        `(or zero); no attempt was sent (Fairway)`;
      // Asynchronously: grpc-js callers attach their handlers after start() returns.
      setImmediate(() => this.finish({ code: Status.DEADLINE_EXCEEDED, details, metadata: new Metadata() }));
      return;
    }
    if (!this.retrying) {
      this.startSingle();
      return;
    }
    void this.runRetryLoop();
  }

  sendMessageWithContext(context: MessageContext, message: unknown): void {
    if (!this.retrying) {
      this.current?.call.sendMessageWithContext(context, message);
      return;
    }
    this.request = { context, message };
    const attempt = this.current;
    if (attempt && !attempt.abandoned) attempt.call.sendMessageWithContext(context, message);
  }

  sendMessage(message: unknown): void {
    this.sendMessageWithContext({}, message);
  }

  halfClose(): void {
    this.halfClosed = true;
    const attempt = this.current;
    if (attempt && !attempt.abandoned) attempt.call.halfClose();
  }

  startRead(): void {
    // Before an attempt commits, each attempt has already asked for its first message itself (see
    // runAttempt), so that a caller slow to start reading is not mistaken for a slow server.
    if (this.retrying && !this.committed) return;
    this.current?.call.startRead();
  }

  cancelWithStatus(code: Status, details: string): void {
    if (this.finished) return;
    this.cancelledWith = { code, details };
    if (this.retrying) this.abort.abort(new Error(details));
    const attempt = this.current;
    if (this.committed || !this.retrying) {
      // The attempt's own status (the cancel) reaches the caller through the normal path.
      attempt?.call.cancelWithStatus(code, details);
      if (!attempt) this.finish({ code, details, metadata: new Metadata() });
      return;
    }
    if (attempt && !attempt.ended) {
      attempt.abandoned = true;
      attempt.timer?.cancel();
      attempt.call.cancelWithStatus(code, details);
      this.endAttempt(attempt, { code, details, timedOut: false });
      attempt.settle?.();
    }
    this.finish({ code, details, metadata: new Metadata() });
  }

  getPeer(): string {
    return this.current?.call.getPeer() ?? 'unknown';
  }

  getAuthContext(): ReturnType<AttemptCall['getAuthContext']> {
    return this.current?.call.getAuthContext() ?? null;
  }

  // ---- attempts ------------------------------------------------------------------------------------------

  private attemptMetadata(observer: AttemptObserver | undefined, attemptRef: { state?: AttemptState }): Metadata {
    const md = this.metadata!.clone();
    const identity = this.setup.identity;
    if (identity) {
      md.set(CLIENT_INSTANCE_HEADER, identity.instance);
      md.set(CLIENT_INCARNATION_HEADER, identity.incarnation);
    }
    if (observer) {
      const headers = this.safe(() => observer.outgoingHeaders(), {});
      for (const [k, v] of Object.entries(headers ?? {})) {
        try {
          md.set(k, v);
        } catch (e) {
          this.setup.onObserverError(e);
        }
      }
    }
    setAttemptPickContext(md, {
      avoid: new Set(this.avoid),
      sampleLatency: this.setup.description.kind === 'unary',
      onPick: (explanation: PickExplanation) => {
        const state = attemptRef.state;
        if (state) state.endpointKey = explanation.endpointKey;
        if (observer) this.safe(() => observer.onPick(explanation), undefined);
      },
    });
    return md;
  }

  private openAttempt(listener: InterceptingListener, deadline: number, timerWallMs: number, byDeadline: boolean): AttemptState {
    const n = ++this.attemptsStarted;
    const observer = this.setup.observer ? this.safe(() => this.setup.observer!.onAttemptStart(n), undefined) : undefined;
    const ref: { state?: AttemptState } = {};
    const md = this.attemptMetadata(observer, ref);
    const call = this.nextCall({ ...this.options, deadline: Number.isFinite(deadline) ? deadline : Infinity });
    const state: AttemptState = {
      n,
      call,
      observer,
      startedMs: nowMs(),
      timerWallMs,
      byDeadline,
      timer: undefined,
      abandoned: false,
      heldMetadata: undefined,
      heldMessage: undefined,
      ended: false,
      settle: undefined,
      endpointKey: undefined,
    };
    ref.state = state;
    this.current = state;
    call.start(md, listener);
    return state;
  }

  /** One attempt, everything passed straight through. */
  private startSingle(): void {
    let state: AttemptState | undefined = undefined;
    const listener: InterceptingListener = {
      onReceiveMetadata: (md) => this.listener?.onReceiveMetadata?.(md),
      onReceiveMessage: (msg) => this.listener?.onReceiveMessage?.(msg),
      onReceiveStatus: (status) => {
        if (state) this.endAttempt(state, { code: status.code, details: status.details, timedOut: false });
        this.finish(status);
      },
    };
    this.committed = true;
    state = this.openAttempt(listener, this.callDeadlineWallMs, this.callDeadlineWallMs, true);
  }

  private async runRetryLoop(): Promise<void> {
    const settings = this.setup.settings;
    try {
      await pRetry((attemptNumber) => this.runAttempt(attemptNumber), {
        retries: settings.maxAttempts - 1,
        factor: 1,
        minTimeout: settings.retryIntervalMs,
        maxTimeout: settings.retryIntervalMs,
        randomize: false,
        signal: this.abort.signal,
        onFailedAttempt: ({ error, attemptNumber }) => {
          if (!(error instanceof AttemptTimedOut)) return;
          const attempt = this.current;
          const decision = decideRetry(
            {
              kind: this.setup.description.kind,
              attempt: attemptNumber,
              settings,
              timedOut: true,
              byDeadline: false,
              receivedMessage: false,
              remainingMs: this.callDeadlineWallMs - Date.now(),
              elapsedMs: error.elapsedMs,
            },
            this.setup.budget,
            nowMs(),
          );
          this.lastDecision = decision;
          if (attempt) {
            this.endAttempt(attempt, {
              code: Status.DEADLINE_EXCEEDED,
              details: error.message,
              timedOut: true,
              ...(decision.retry ? { retryReason: decision.reason } : {}),
              ...(!decision.retry && decision.refusedReason ? { retryRefusedReason: decision.refusedReason } : {}),
            });
          }
        },
        shouldRetry: ({ error }) => error instanceof AttemptTimedOut && this.lastDecision?.retry === true,
      });
    } catch (error) {
      if (this.finished) return;
      if (this.cancelledWith) {
        this.finish({ ...this.cancelledWith, metadata: new Metadata() });
        return;
      }
      if (error instanceof AttemptTimedOut) {
        const decision = this.lastDecision;
        const why = decision && !decision.retry && decision.refusedReason ? decision.refusedReason : error.message;
        this.finish({
          code: Status.DEADLINE_EXCEEDED,
          details: `${why} (Fairway retries only attempts that time out)`,
          metadata: new Metadata(),
        });
        return;
      }
      this.finish({
        code: Status.INTERNAL,
        details: `Fairway call layer failed: ${error instanceof Error ? error.message : String(error)}`,
        metadata: new Metadata(),
      });
    }
  }

  /** Resolves when the attempt commits (its outcome goes to the caller); rejects when our timer fires. */
  private runAttempt(attemptNumber: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.finished || this.cancelledWith) {
        resolve();
        return;
      }
      const remaining = this.callDeadlineWallMs - Date.now();
      const timer = attemptTimer(this.setup.settings.attemptTimeoutMs, remaining);
      const unary = this.setup.description.kind === 'unary';
      // Every attempt carries the CALL's deadline to grpc-js (and so to the server as grpc-timeout); our own
      // timer ends an attempt that has not answered, and its cancel reaches the server at once. A shorter
      // grpc-js deadline per attempt would race the answer: a response whose message arrived in time but whose
      // trailers came after that deadline was turned into DEADLINE_EXCEEDED although the server said OK
      // (reproduced with trailers held back 300 ms, test/reliability/late-trailers.test.ts).
      const grpcDeadline = this.callDeadlineWallMs;
      const timerWallMs = Date.now() + timer.timerMs;
      let state: AttemptState | undefined = undefined;
      const commit = (s: AttemptState) => {
        if (this.committed) return;
        this.committed = true;
        s.timer?.cancel();
        s.settle = undefined;
        if (s.heldMetadata) this.listener?.onReceiveMetadata?.(s.heldMetadata);
        s.heldMetadata = undefined;
        resolve();
      };
      const timeOut = (s: AttemptState) => {
        if (s.abandoned || s.ended || this.committed) return;
        s.abandoned = true;
        s.timer?.cancel();
        const elapsed = nowMs() - s.startedMs;
        s.call.cancelWithStatus(
          Status.DEADLINE_EXCEEDED,
          `${ATTEMPT_TIMEOUT_DETAILS_PREFIX} attempt ${s.n} timed out after ${Math.round(elapsed)}ms`,
        );
        reject(new AttemptTimedOut(attemptNumber, elapsed));
      };
      const listener: InterceptingListener = {
        onReceiveMetadata: (md) => {
          const s = state!;
          if (s.abandoned) return;
          if (this.committed) this.listener?.onReceiveMetadata?.(md);
          else s.heldMetadata = md;
        },
        onReceiveMessage: (msg) => {
          const s = state!;
          if (s.abandoned) return;
          if (!this.committed) {
            if (unary) {
              // A unary attempt has answered when its status arrives, not its message: a server that froze
              // between the two (caught in CI: SIGSTOP between the message and the trailers) would otherwise
              // hold the call until its deadline with the timer stopped. The message is held until the status
              // (grpc-js hands a unary answer to the caller only then anyway), and dropped if our timer fires
              // first. (grpc-js's bottom unary call also emits null just before a status without a message.)
              s.heldMessage = { message: msg };
              return;
            }
            commit(s);
          }
          this.listener?.onReceiveMessage?.(msg);
        },
        onReceiveStatus: (status: StatusObject) => {
          const s = state!;
          if (s.abandoned) return;
          if (!this.committed) {
            // grpc-js's timer for this attempt's deadline may still beat ours on a stalled event loop.
            const ourDeadline =
              !s.byDeadline && status.code === Status.DEADLINE_EXCEEDED && Date.now() >= s.timerWallMs - 1;
            if (ourDeadline && unary) {
              timeOut(s);
              return;
            }
            commit(s);
            if (s.heldMessage) this.listener?.onReceiveMessage?.(s.heldMessage.message);
            s.heldMessage = undefined;
          }
          this.endAttempt(s, { code: status.code, details: status.details, timedOut: false });
          this.finish(status);
        },
      };
      state = this.openAttempt(listener, grpcDeadline, timerWallMs, timer.byDeadline);
      if (!timer.byDeadline) {
        const s = state;
        s.timer = startTimer(timer.timerMs, () => timeOut(s));
      }
      if (this.request) {
        // Later attempts replay the request without the caller's write callback (it was called once already).
        const context = attemptNumber === 1 ? this.request.context : { flags: this.request.context.flags };
        state.call.sendMessageWithContext(context, this.request.message);
      }
      state.settle = () => resolve();
      if (this.halfClosed) state.call.halfClose();
      if (!unary) state.call.startRead(); // the first message (unary calls read by themselves)
    });
  }

  private endAttempt(attempt: AttemptState, outcome: AttemptOutcome): void {
    if (attempt.ended) return;
    attempt.ended = true;
    attempt.timer?.cancel();
    if (attempt.endpointKey !== undefined) this.avoid.add(attempt.endpointKey);
    const observer = attempt.observer;
    if (observer) this.safe(() => observer.onEnd(outcome), undefined);
  }

  private finish(status: StatusObject): void {
    if (this.finished) return;
    this.finished = true;
    if (this.retrying) this.abort.abort(new Error('call finished'));
    const observer = this.setup.observer;
    if (observer) this.safe(() => observer.onEnd({ code: status.code, details: status.details }), undefined);
    this.listener?.onReceiveStatus?.(status);
  }

  private safe<T>(fn: () => T, fallback: T): T {
    try {
      return fn();
    } catch (error) {
      this.setup.onObserverError(error);
      return fallback;
    }
  }
}
