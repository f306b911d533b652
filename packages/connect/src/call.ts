/**
 * One call as the connect transport runs it: the connect-node side of core's `CallMachine`, which makes every
 * decision (timeout-only retries on another endpoint, transparent re-picks, hedges, commits), exactly as the
 * grpc-js call layer (`@fairway/grpc`, `call/fairway-call.ts`) does. This file only executes the machine's
 * commands: each attempt is its own pick and its own call on that endpoint's connect-node transport, with its
 * own AbortController (the machine's cancel aborts it, and the abort reaches the server as RST_STREAM).
 *
 * Unary and server-streaming calls run here (their one request message can be sent again). A unary attempt
 * commits on its status; a server-streaming attempt on its first message (the machine then stops its timer),
 * and the caller gets the stream from that moment: what follows is never retried.
 *
 * Each attempt carries the call's deadline to the endpoint's transport (so to the server as `grpc-timeout`);
 * the machine's attempt timer ends an attempt that has not answered.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import type { Transport } from '@connectrpc/connect';
import { CallMachine, HEDGE_LOST_DETAILS_PREFIX, outcomeKindFor } from '@fairway/core';
import type { AttemptObserver, AttemptStart, CallCommand, CallObserver, CallPlan, PickHandle } from '@fairway/core';
import type { EndpointPool } from './endpoints.js';

/** Node error codes of a connection that could not be made: the request never left. */
const NEVER_CONNECTED_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** What one call needs from its transport. */
export interface CallSetup {
  readonly pool: EndpointPool;
  readonly plan: CallPlan;
  readonly observer: CallObserver | undefined;
  readonly now: () => number;
  readonly target: string;
  /** Sent on every attempt (the client identity headers). */
  readonly headers: Readonly<Record<string, string>>;
  /** The caller's headers. */
  readonly header: ConstructorParameters<typeof Headers>[0];
  /** The caller's abort signal. */
  readonly signal: AbortSignal | undefined;
  /** The call's timeout (connect's `timeoutMs`), ms; undefined: none. */
  readonly timeoutMs: number | undefined;
}

/** What an attempt's sender tells the runner after it was sent. */
export interface AttemptEvents {
  /** A server-streaming attempt received its first message (the machine commits it). */
  firstMessage(): void;
  /** A committed server-streaming attempt ended: OK (no error) or with `error`. */
  ended(error?: ConnectError): void;
}

/**
 * Sends one attempt on `transport`. Resolves with the caller's value and whether the attempt has already ended
 * with OK (`ended`: a unary response, an empty stream); `ended: false` means a stream whose first message
 * arrived (`events.firstMessage()` was called) and which will call `events.ended()` later. Rejects with the
 * attempt's error.
 */
export type SendAttempt<R> = (transport: Transport, signal: AbortSignal, timeoutMs: number | undefined, headers: Headers, events: AttemptEvents) => Promise<{ value: R; ended: boolean }>;

interface AttemptState<R> {
  readonly n: number;
  readonly abort: AbortController;
  readonly observer: AttemptObserver | undefined;
  handle: PickHandle | undefined;
  releaseConnection: (() => void) | undefined;
  startedMs: number;
  live: boolean;
  value: R | undefined;
  error: ConnectError | undefined;
}

/**
 * Whether a failed attempt provably never reached a server: its connection could not be made (connect-node
 * says UNAVAILABLE with the socket's error code as the cause), or the server refused the stream
 * (REFUSED_STREAM, which connect-node reports as INTERNAL: a server closing its connections refuses the
 * streams it has not started).
 */
export function neverReached(error: ConnectError): boolean {
  if (/NGHTTP2_REFUSED_STREAM/.test(error.rawMessage)) return true;
  if (error.code !== Code.Unavailable) return false;
  const cause = error.cause as { code?: unknown } | undefined;
  if (cause && typeof cause.code === 'string' && NEVER_CONNECTED_CODES.has(cause.code)) return true;
  return /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH/.test(error.rawMessage);
}

/** Runs the call; resolves with the committed attempt's value, or rejects with a `ConnectError`. */
export function runCall<R>(setup: CallSetup, send: SendAttempt<R>): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const { pool, now } = setup;
    const unary = setup.plan.kind === 'unary';
    const machine = new CallMachine(setup.plan);
    const attempts: Array<AttemptState<R>> = [];
    const timers = new Map<number, NodeJS.Timeout>();
    let committed: AttemptState<R> | undefined;
    let settled = false;
    let finished = false;
    const callDeadlineMs = setup.timeoutMs === undefined ? Infinity : now() + setup.timeoutMs;

    const safe = <T>(fn: () => T, fallback: T): T => {
      try {
        return fn();
      } catch {
        return fallback; // observers are guarded by the transport; this is a second net
      }
    };
    const settle = (outcome: { value: R } | { error: ConnectError }): void => {
      if (settled) return;
      settled = true;
      if ('value' in outcome) resolve(outcome.value);
      else reject(outcome.error);
    };

    const finish = (code: number, details: string, attempt: number | undefined): void => {
      if (finished) return;
      finished = true;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      setup.signal?.removeEventListener('abort', onCallerAbort);
      if (setup.observer) safe(() => setup.observer!.onEnd({ code, details }), undefined);
      const a = attempt !== undefined ? attempts[attempt - 1] : undefined;
      if (a?.error) settle({ error: a.error });
      else if (a && code === 0 && a.value !== undefined) settle({ value: a.value });
      else settle({ error: new ConnectError(details, code as Code) });
    };

    const execute = (commands: readonly CallCommand[]): void => {
      for (const c of commands) {
        switch (c.type) {
          case 'open':
            open(c.attempt, { reason: c.reason, detail: c.detail });
            break;
          case 'arm': {
            const timer = c.timer;
            const old = timers.get(timer);
            if (old) clearTimeout(old);
            timers.set(
              timer,
              setTimeout(() => {
                timers.delete(timer);
                execute(machine.timerFired(timer, now()));
              }, c.delayMs),
            );
            break;
          }
          case 'disarm': {
            const t = timers.get(c.timer);
            if (t) clearTimeout(t);
            timers.delete(c.timer);
            break;
          }
          case 'cancel': {
            const a = attempts[c.attempt - 1];
            if (!a) break;
            const error = new ConnectError(c.details, c.code as Code);
            if (a !== committed) a.live = false;
            a.error ??= error;
            // What the balancer learns: Fairway's attempt timer -> timeout; a caller's cancel -> nothing.
            a.handle?.release({ kind: outcomeKindFor(c.code, c.details), ...(unary ? { latencyMs: now() - a.startedMs } : {}), ...(c.details.startsWith(HEDGE_LOST_DETAILS_PREFIX) ? { hedgeLost: true } : {}) }, now());
            a.abort.abort(error);
            a.releaseConnection?.();
            break;
          }
          case 'commit':
            committed = attempts[c.attempt - 1];
            break;
          case 'attemptEnded': {
            const a = attempts[c.attempt - 1];
            if (a && a !== committed) a.live = false;
            if (a?.observer) safe(() => a.observer!.onEnd(c.outcome), undefined);
            break;
          }
          case 'finish':
            finish(c.code, c.details, c.attempt);
            break;
        }
      }
    };

    const open = (n: number, start: AttemptStart): void => {
      const observer = setup.observer ? safe(() => setup.observer!.onAttemptStart(n, start), undefined) : undefined;
      const a: AttemptState<R> = { n, abort: new AbortController(), observer, handle: undefined, releaseConnection: undefined, startedMs: now(), live: true, value: undefined, error: undefined };
      attempts[n - 1] = a;
      // Never an unhandled rejection: whatever goes wrong ends this attempt with its error.
      sendAttempt(a).catch((e: unknown) => reportError(a, e));
    };

    /** The attempt's status reaches the machine (once: later reports of an attempt it is done with are ignored). */
    const report = (a: AttemptState<R>, code: number, details: string, reached: boolean): void => {
      if (!a.live && committed !== a) return;
      const t = now();
      // A stream's latency is not sampled (its duration says nothing about the endpoint), as on the grpc-js path.
      a.handle?.release({ kind: outcomeKindFor(code, details), ...(unary ? { latencyMs: t - a.startedMs } : {}) }, t);
      a.releaseConnection?.();
      // Any failure may be a broken connection: the endpoint stays pickable only while its session is up.
      if (code !== 0 && a.handle) pool.checkConnection(a.handle.key);
      execute(machine.status(a.n, code, details, reached, t));
      a.live = false;
    };
    const reportError = (a: AttemptState<R>, e: unknown): void => {
      const error = ConnectError.from(e);
      a.error ??= error;
      report(a, error.code, error.rawMessage, !neverReached(error));
    };

    const sendAttempt = async (a: AttemptState<R>): Promise<void> => {
      // Wait for a pickable endpoint until the call's deadline or this attempt's end.
      const waitAbort = new AbortController();
      const stopWaiting = (): void => waitAbort.abort();
      a.abort.signal.addEventListener('abort', stopWaiting, { once: true });
      const remainingAtStart = callDeadlineMs - now();
      const waitTimer = Number.isFinite(remainingAtStart) ? setTimeout(stopWaiting, Math.max(0, remainingAtStart)) : undefined;
      let handle: PickHandle | undefined;
      try {
        handle = await pool.pick(machine.avoiding, waitAbort.signal);
      } finally {
        if (waitTimer) clearTimeout(waitTimer);
        a.abort.signal.removeEventListener('abort', stopWaiting);
      }
      if (!a.live) {
        handle?.release({ kind: 'cancelled' }, now());
        return;
      }
      if (!handle) {
        // Nothing became pickable before the deadline: the call ends with UNAVAILABLE saying why.
        reportError(a, new ConnectError(`${setup.target}: no endpoint to send the call to before its deadline: ${pool.whyNothing()}`, Code.Unavailable));
        return;
      }
      a.handle = handle;
      a.startedMs = now(); // latency counts from the pick, not from the wait for readiness
      execute(machine.picked(a.n, handle.key, now(), handle));
      if (a.observer) safe(() => a.observer!.onPick(handle.explanation), undefined);
      const acquired = pool.acquire(handle.key);
      if (!acquired) {
        a.error = new ConnectError(`${handle.explanation.address} left the endpoint set before the attempt was sent`, Code.Unavailable);
        report(a, Code.Unavailable, a.error.rawMessage, false);
        return;
      }
      a.releaseConnection = acquired.release;
      const headers = new Headers(setup.header);
      for (const [k, v] of Object.entries(setup.headers)) headers.set(k, v);
      if (a.observer) {
        for (const [k, v] of Object.entries(safe(() => a.observer!.outgoingHeaders(), {}) ?? {})) {
          try {
            headers.set(k, v);
          } catch {
            // an observer's header name Headers refuses: the call goes on without it
          }
        }
      }
      const remaining = callDeadlineMs - now();
      const events: AttemptEvents = {
        firstMessage: () => {
          if (a.live) execute(machine.message(a.n, now()));
        },
        ended: (error) => (error ? reportError(a, error) : report(a, 0, '', true)),
      };
      try {
        const { value, ended } = await send(acquired.connection.transport, a.abort.signal, Number.isFinite(remaining) ? Math.max(1, Math.floor(remaining)) : undefined, headers, events);
        a.value = value;
        if (ended) report(a, 0, '', true);
        else if (committed === a) settle({ value }); // a stream: the caller reads it from its first message on
      } catch (e) {
        reportError(a, e);
      }
    };

    const onCallerAbort = (): void => {
      if (finished) return;
      const error = ConnectError.from(setup.signal?.reason ?? new ConnectError('the call was cancelled by the caller', Code.Canceled));
      execute(machine.cancel(error.code, error.rawMessage, now()));
    };
    if (setup.signal?.aborted) {
      reject(ConnectError.from(setup.signal.reason ?? new ConnectError('the call was cancelled by the caller before it started', Code.Canceled)));
      return;
    }
    setup.signal?.addEventListener('abort', onCallerAbort, { once: true });
    execute(machine.start(now(), callDeadlineMs));
  });
}
