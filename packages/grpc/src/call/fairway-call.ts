/**
 * One client call as the call layer runs it: the grpc-js side of `CallMachine` (in `@fairway/core`), which
 * makes every decision (retries, transparent re-picks, hedges, commits). This file only executes its
 * commands: it opens attempts (each its own grpc-js call, with its own pick), starts and stops timers, holds
 * an attempt's response headers (and a unary attempt's message) until the attempt commits, so the caller
 * never sees a cancelled attempt, and reports what grpc-js says back to the machine with `nowMs` from the one
 * clock (`clock.ts`).
 *
 * What grpc-js 1.14 tells about an attempt that never reached a server (for re-picks), as the interceptor
 * sees it: the status carries no `progress` or `rstCode` (RetryingCall strips them), so
 * - no stream was created: the picker's `onCallStarted` (relayed through the attempt's pick context) never
 *   ran for the attempt;
 * - the server refused the stream (REFUSED_STREAM, also what a stream above a GOAWAY's last-stream-id gets):
 *   UNAVAILABLE with details `Stream refused by server`;
 * - the request message could not be written: UNAVAILABLE with details `Write error: ...` (the write's callback
 *   failed: its stream or session closed first, e.g. `Session closed with error code 8` when the connection was
 *   shut down under it) or `Write failed with error ...` (the write threw); see {@link requestNeverWritten}.
 * grpc-js's own transparent retries (on by default: Fairway sets no retryPolicy) already re-pick a request
 * whose stream could not be created and a first refusal, without avoiding the endpoint; what reaches this
 * layer is what they did not absorb. A connection dropped after the stream was written (`kill -9` of the
 * server) is indistinguishable from a server that crashed while working on the request: never re-picked.
 *
 * Each attempt's metadata carries the client identity headers and the observers' headers, and a pick context
 * (endpoints to avoid, callbacks for the pick and the stream's creation); observers can never break a call
 * (their exceptions are caught and reported to the logger). Each observer call has its own try/catch rather
 * than going through a helper taking a closure: they run on every call, and B8 counts every allocation.
 */
import { Metadata, status as Status } from '@grpc/grpc-js';
import type { InterceptorOptions, NextCall, InterceptingListener, StatusObject } from '@grpc/grpc-js';
import { CallMachine, CLIENT_INCARNATION_HEADER, CLIENT_INSTANCE_HEADER, reportRejection } from '@fairway/core';
import type { AttemptObserver, AttemptStart, CallCommand, CallDescription, CallObserver, CallPlan, PickExplanation } from '@fairway/core';
import { setAttemptPickContext, type AttemptPickContext } from '../attempt-context.js';
import { later, nowMs, startTimer } from '../clock.js';
import type { TimerHandle } from '../clock.js';

type AttemptCall = ReturnType<NextCall>;
type MessageContext = Parameters<AttemptCall['sendMessageWithContext']>[0];

/** The details grpc-js gives a stream the server refused (REFUSED_STREAM), `subchannel-call.ts` in 1.14. */
const REFUSED_STREAM_DETAILS = 'Stream refused by server';

/**
 * Whether grpc-js's status says the attempt's request message was never written (`subchannel-call.ts` in 1.14:
 * `sendMessageWithContext` ends the call UNAVAILABLE `Write error: <error>` when the write's callback fails,
 * `Write failed with error <error>` when the write throws). A unary or server-streaming request is one message
 * and then the end of the stream, and a gRPC server runs such a handler only once it has both, so an attempt
 * whose message was never written never reached a handler. Seen on Node 24 when a connection closed while a call
 * was being started on it (test/reliability/region-failover: five calls on the shut-down servers).
 */
export function requestNeverWritten(code: number, details: string): boolean {
  return code === Status.UNAVAILABLE && (details.startsWith('Write error: ') || details.startsWith('Write failed with error '));
}

/** What one call needs from its client. */
export interface FairwayCallSetup {
  readonly description: CallDescription;
  readonly plan: CallPlan;
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

/**
 * One attempt: its state, and also its pick context (what the picker reads and calls back) and its grpc-js
 * listener, each a method forwarding to the call: one object per attempt instead of a state, a context and a
 * listener object with five closures between them (every traced call has at least one attempt, and B8 counts
 * every allocation). grpc-js calls a listener's handlers as methods (or binds them), the picker calls the
 * context's as methods.
 */
class AttemptState implements AttemptPickContext, InterceptingListener {
  call: AttemptCall | undefined = undefined;
  /** False once the machine is done with it (ended, cancelled by us): whatever it still reports is ignored. */
  live = true;
  /** grpc-js created its HTTP/2 stream. */
  streamStarted = false;
  heldMetadata: Metadata | undefined = undefined;
  /** A unary attempt's response message (or grpc-js's null for none) is held until its status. */
  holdsMessage = false;
  heldMessage: unknown = undefined;
  status: StatusObject | undefined = undefined;

  constructor(
    private readonly owner: FairwayCall,
    readonly n: number,
    readonly observer: AttemptObserver | undefined,
    /** The call's tried endpoints, live (`CallMachine.avoiding`). */
    readonly avoid: ReadonlySet<string>,
    readonly sampleLatency: boolean,
  ) {}

  // ---- AttemptPickContext ----
  onPick(explanation: PickExplanation): void {
    this.owner.attemptPicked(this, explanation);
  }

  onStarted(): void {
    this.streamStarted = true;
  }

  // ---- InterceptingListener ----
  onReceiveMetadata(md: Metadata): void {
    this.owner.attemptReceivedMetadata(this, md);
  }

  onReceiveMessage(msg: unknown): void {
    this.owner.attemptReceivedMessage(this, msg);
  }

  onReceiveStatus(status: StatusObject): void {
    this.owner.attemptReceivedStatus(this, status);
  }
}

/** See the file comment. Implements grpc-js's `InterceptingCallInterface`. */
export class FairwayCall {
  private listener: Partial<InterceptingListener> | undefined;
  private metadata: Metadata | undefined;
  private request: { context: MessageContext; message: unknown } | undefined;
  private halfClosed = false;
  private readonly machine: CallMachine;
  private readonly attempts: AttemptState[] = [];
  /** Made at the first timer: a call with no attempt timer and no hedge arms none. */
  private timers: Map<number, TimerHandle> | undefined;
  private committed: AttemptState | undefined;
  private finished = false;
  private readonly unary: boolean;
  private readonly callDeadlineWallMs: number;
  private starting = false;

  constructor(
    private readonly options: InterceptorOptions,
    private readonly nextCall: NextCall,
    private readonly setup: FairwayCallSetup,
  ) {
    this.machine = new CallMachine(setup.plan);
    this.unary = setup.description.kind === 'unary';
    this.callDeadlineWallMs = deadlineWallMs(options.deadline);
  }

  // ---- InterceptingCallInterface -------------------------------------------------------------------------

  start(metadata: Metadata, listener?: Partial<InterceptingListener>): void {
    this.metadata = metadata;
    this.listener = listener;
    const now = nowMs();
    // The one conversion from grpc-js's wall-clock deadline to the monotonic clock every event uses.
    const deadlineMs = Number.isFinite(this.callDeadlineWallMs) ? now + (this.callDeadlineWallMs - Date.now()) : Infinity;
    this.starting = true;
    this.execute(this.machine.start(now, deadlineMs));
    this.starting = false;
  }

  sendMessageWithContext(context: MessageContext, message: unknown): void {
    if (this.committed && !this.machineReplays()) {
      this.committed.call?.sendMessageWithContext(context, message);
      return;
    }
    this.request = { context, message };
    for (const a of this.attempts) if (a.live) a.call?.sendMessageWithContext(context, message);
  }

  sendMessage(message: unknown): void {
    this.sendMessageWithContext({}, message);
  }

  halfClose(): void {
    this.halfClosed = true;
    for (const a of this.attempts) if (a.live || a === this.committed) a.call?.halfClose();
  }

  startRead(): void {
    // Before an attempt commits, each attempt has already asked for its first message itself (see
    // openAttempt), so that a caller slow to start reading is not mistaken for a slow server.
    if (!this.committed) return;
    this.committed.call?.startRead();
  }

  cancelWithStatus(code: Status, details: string): void {
    if (this.finished) return;
    this.execute(this.machine.cancel(code, details, nowMs()));
  }

  getPeer(): string {
    return (this.committed ?? this.attempts[this.attempts.length - 1])?.call?.getPeer() ?? 'unknown';
  }

  getAuthContext(): ReturnType<AttemptCall['getAuthContext']> {
    return (this.committed ?? this.attempts[this.attempts.length - 1])?.call?.getAuthContext() ?? null;
  }

  // ---- executing the machine's commands ------------------------------------------------------------------

  /** Client and bidi streams are passed straight through: their messages are never kept for a replay. */
  private machineReplays(): boolean {
    return this.setup.description.kind === 'unary' || this.setup.description.kind === 'server_stream';
  }

  private execute(commands: readonly CallCommand[]): void {
    for (const c of commands) {
      switch (c.type) {
        case 'open':
          this.openAttempt(c.attempt, { reason: c.reason, detail: c.detail });
          break;
        case 'arm': {
          const timer = c.timer;
          const timers = (this.timers ??= new Map());
          timers.get(timer)?.cancel();
          timers.set(
            timer,
            startTimer(c.delayMs, () => {
              timers.delete(timer);
              this.execute(this.machine.timerFired(timer, nowMs()));
            }),
          );
          break;
        }
        case 'disarm': {
          const timers = this.timers;
          if (timers === undefined) break;
          timers.get(c.timer)?.cancel();
          timers.delete(c.timer);
          break;
        }
        case 'cancel': {
          const a = this.attempts[c.attempt - 1];
          if (!a) break;
          // The committed attempt's own status (the cancel) still reaches the caller.
          if (a !== this.committed) a.live = false;
          a.call?.cancelWithStatus(c.code, c.details);
          break;
        }
        case 'commit': {
          const a = this.attempts[c.attempt - 1]!;
          this.committed = a;
          if (a.heldMetadata) this.listener?.onReceiveMetadata?.(a.heldMetadata);
          a.heldMetadata = undefined;
          if (a.holdsMessage) {
            const message = a.heldMessage;
            a.holdsMessage = false;
            a.heldMessage = undefined;
            this.listener?.onReceiveMessage?.(message);
          }
          break;
        }
        case 'attemptEnded': {
          const a = this.attempts[c.attempt - 1];
          if (a && a !== this.committed) a.live = false;
          const observer = a?.observer;
          if (observer) {
            try {
              reportRejection(observer.onEnd(c.outcome), this.setup.onObserverError);
            } catch (error) {
              this.setup.onObserverError(error);
            }
          }
          break;
        }
        case 'finish': {
          const status = c.attempt !== undefined ? this.attempts[c.attempt - 1]?.status : undefined;
          const final = status ?? { code: c.code, details: c.details, metadata: new Metadata() };
          // grpc-js callers attach their handlers after start() returns: never end the call inside it.
          if (this.starting) later(() => this.finish(final));
          else this.finish(final);
          break;
        }
      }
    }
  }

  private attemptMetadata(observer: AttemptObserver | undefined, attempt: AttemptState): Metadata {
    const md = this.metadata!.clone();
    const identity = this.setup.identity;
    if (identity) {
      md.set(CLIENT_INSTANCE_HEADER, identity.instance);
      md.set(CLIENT_INCARNATION_HEADER, identity.incarnation);
    }
    if (observer) {
      let headers: Readonly<Record<string, string>> | undefined;
      try {
        headers = observer.outgoingHeaders();
      } catch (error) {
        this.setup.onObserverError(error);
      }
      if (headers) {
        for (const k of Object.keys(headers)) {
          try {
            md.set(k, headers[k]!);
          } catch (e) {
            this.setup.onObserverError(e);
          }
        }
      }
    }
    setAttemptPickContext(md, attempt);
    return md;
  }

  /** @internal The picker chose an endpoint for attempt `attempt` (its pick context's `onPick`). */
  attemptPicked(attempt: AttemptState, explanation: PickExplanation): void {
    // Usually no command; a first attempt on a far slower endpoint re-arms the hedge timer sooner.
    const commands = this.machine.picked(attempt.n, explanation.endpointKey, nowMs(), explanation);
    if (commands.length > 0) this.execute(commands);
    const observer = attempt.observer;
    if (observer) {
      try {
        reportRejection(observer.onPick(explanation), this.setup.onObserverError);
      } catch (error) {
        this.setup.onObserverError(error);
      }
    }
  }

  private openAttempt(n: number, start: AttemptStart): void {
    let observer: AttemptObserver | undefined;
    if (this.setup.observer) {
      try {
        observer = this.setup.observer.onAttemptStart(n, start);
      } catch (error) {
        this.setup.onObserverError(error);
      }
    }
    const a = new AttemptState(this, n, observer, this.machine.avoiding, this.unary);
    this.attempts[n - 1] = a;
    const md = this.attemptMetadata(observer, a);
    // Every attempt carries the CALL's deadline to grpc-js (and so to the server as grpc-timeout); the
    // machine's attempt timer ends an attempt that has not answered, and its cancel reaches the server at
    // once. A shorter grpc-js deadline per attempt would race the answer: a response whose message arrived
    // in time but whose trailers came after that deadline was turned into DEADLINE_EXCEEDED although the
    // server said OK (test/reliability/late-trailers.test.ts).
    // The caller's own options: their deadline (a Date or wall-clock ms; none is Infinity to grpc-js) is the call's.
    let call: AttemptCall;
    try {
      call = this.nextCall(this.options);
      a.call = call;
      call.start(md, a);
    } catch (error) {
      this.attemptCouldNotStart(a, error);
      return;
    }
    if (this.request) {
      // Later attempts replay the request without the caller's write callback (it was called once already).
      const context = n === 1 ? this.request.context : { flags: this.request.context.flags };
      call.sendMessageWithContext(context, this.request.message);
    }
    if (this.halfClosed) call.halfClose();
    if (!this.unary && this.machineReplays()) call.startRead(); // the first message (unary calls read by themselves)
  }

  /**
   * grpc-js refused to open attempt `a` (its channel was closed while the call waited for a retry or a hedge:
   * "Channel has been shut down"). Thrown inside a timer that would crash the host process; instead the attempt
   * ends with UNAVAILABLE naming it and the reason, after the current commands have run. It counts as reached
   * (never re-picked: on a closed channel every attempt fails the same way), so a hedge race goes on with the
   * attempts already in flight, and a call with none left ends with this status.
   */
  private attemptCouldNotStart(a: AttemptState, error: unknown): void {
    a.live = false;
    const details = `attempt ${a.n} could not start: ${error instanceof Error ? error.message : String(error)}`;
    a.status = { code: Status.UNAVAILABLE, details, metadata: new Metadata() };
    later(() => this.execute(this.machine.status(a.n, Status.UNAVAILABLE, details, true, nowMs())));
  }

  // ---- what an attempt's grpc-js call reports (its listener, see AttemptState) -------------------------------

  /** @internal */
  attemptReceivedMetadata(a: AttemptState, md: Metadata): void {
    if (this.committed === a) this.listener?.onReceiveMetadata?.(md);
    else if (a.live) a.heldMetadata = md;
  }

  /** @internal */
  attemptReceivedMessage(a: AttemptState, msg: unknown): void {
    if (this.committed === a) {
      this.listener?.onReceiveMessage?.(msg);
      return;
    }
    if (!a.live) return;
    if (this.unary) {
      // A unary attempt has answered when its status arrives, not its message: a server that froze
      // between the two would otherwise hold the call until its deadline with the timer stopped. The
      // message (or grpc-js's null for "none", emitted just before such a status) is held until then.
      a.holdsMessage = true;
      a.heldMessage = msg;
      return;
    }
    this.execute(this.machine.message(a.n, nowMs()));
    if (this.committed === a) this.listener?.onReceiveMessage?.(msg);
  }

  /** @internal */
  attemptReceivedStatus(a: AttemptState, status: StatusObject): void {
    if (!a.live && this.committed !== a) return;
    a.status = status;
    const neverReached =
      !a.streamStarted ||
      (status.code === Status.UNAVAILABLE && status.details === REFUSED_STREAM_DETAILS) ||
      (this.machineReplays() && requestNeverWritten(status.code, status.details));
    this.execute(this.machine.status(a.n, status.code, status.details, !neverReached, nowMs()));
    a.live = false;
  }

  private finish(status: StatusObject): void {
    if (this.finished) return;
    this.finished = true;
    const timers = this.timers;
    if (timers !== undefined) {
      for (const t of timers.values()) t.cancel();
      timers.clear();
    }
    const observer = this.setup.observer;
    if (observer) {
      try {
        reportRejection(observer.onEnd({ code: status.code, details: status.details }), this.setup.onObserverError);
      } catch (error) {
        this.setup.onObserverError(error);
      }
    }
    this.listener?.onReceiveStatus?.(status);
  }
}
