/**
 * One unary call as the connect transport runs it: the connect-node side of core's `CallMachine`, which makes
 * every decision (timeout-only retries on another endpoint, transparent re-picks, hedges, commits), exactly as
 * the grpc-js call layer (`@fairway/grpc`, `call/fairway-call.ts`) does. This file only executes the machine's
 * commands: each attempt is its own pick and its own call on that endpoint's connect-node transport, with its
 * own AbortController (the machine's cancel aborts it, and the abort reaches the server as RST_STREAM).
 *
 * Each attempt carries the call's deadline to the endpoint's transport (so to the server as `grpc-timeout`);
 * the machine's attempt timer ends an attempt that has not answered.
 *
 * An attempt provably never reached a server when no endpoint could be picked for it or when its connection
 * could not be made (ECONNREFUSED and the like) or the server refused the stream (REFUSED_STREAM).
 */
import { Code, ConnectError } from '@connectrpc/connect';
import type { ContextValues, Transport, UnaryResponse } from '@connectrpc/connect';

/** connect's request header argument (`HeadersInit` of the fetch API). */
type RequestHeaders = Parameters<Transport['unary']>[3];
import type { DescMessage, DescMethodUnary, MessageInitShape } from '@bufbuild/protobuf';
import { CallMachine, outcomeKindFor } from '@fairway/core';
import type { AttemptObserver, AttemptStart, CallCommand, CallObserver, CallPlan, PickHandle } from '@fairway/core';
import type { EndpointPool } from './endpoints.js';

/** Node error codes of a connection that could not be made: the request never left. */
const NEVER_CONNECTED_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** What one call needs from its transport. */
export interface UnaryCallSetup {
  readonly pool: EndpointPool;
  readonly plan: CallPlan;
  readonly observer: CallObserver | undefined;
  readonly now: () => number;
  readonly target: string;
  /** Sent on every attempt (the client identity headers). */
  readonly headers: Readonly<Record<string, string>>;
}

/** The arguments of connect's `Transport.unary`. */
export interface UnaryArgs<I extends DescMessage, O extends DescMessage> {
  readonly method: DescMethodUnary<I, O>;
  readonly signal: AbortSignal | undefined;
  readonly timeoutMs: number | undefined;
  readonly header: RequestHeaders;
  readonly input: MessageInitShape<I>;
  readonly contextValues: ContextValues | undefined;
}

interface AttemptState<I extends DescMessage, O extends DescMessage> {
  readonly n: number;
  readonly abort: AbortController;
  readonly observer: AttemptObserver | undefined;
  handle: PickHandle | undefined;
  releaseConnection: (() => void) | undefined;
  startedMs: number;
  live: boolean;
  result: { ok: true; response: UnaryResponse<I, O> } | { ok: false; error: ConnectError } | undefined;
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

/** Runs the call; resolves with the committed attempt's response, or rejects with a `ConnectError`. */
export function runUnary<I extends DescMessage, O extends DescMessage>(setup: UnaryCallSetup, args: UnaryArgs<I, O>): Promise<UnaryResponse<I, O>> {
  return new Promise((resolve, reject) => {
    const { pool, now } = setup;
    const machine = new CallMachine(setup.plan);
    const attempts: Array<AttemptState<I, O>> = [];
    const timers = new Map<number, NodeJS.Timeout>();
    let committed: AttemptState<I, O> | undefined;
    let finished = false;
    const callDeadlineMs = args.timeoutMs === undefined ? Infinity : now() + args.timeoutMs;

    const safe = <T>(fn: () => T, fallback: T): T => {
      try {
        return fn();
      } catch {
        return fallback; // observers are guarded by the transport; this is a second net
      }
    };

    const finish = (code: number, details: string, attempt: number | undefined): void => {
      if (finished) return;
      finished = true;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      args.signal?.removeEventListener('abort', onCallerAbort);
      if (setup.observer) safe(() => setup.observer!.onEnd({ code, details }), undefined);
      const result = attempt !== undefined ? attempts[attempt - 1]?.result : undefined;
      if (result?.ok) resolve(result.response);
      else if (result && !result.ok) reject(result.error);
      else reject(new ConnectError(details, code as Code));
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
            if (a.result === undefined) a.result = { ok: false, error };
            // What the balancer learns: Fairway's attempt timer -> timeout; a caller's cancel -> nothing.
            a.handle?.release({ kind: outcomeKindFor(c.code, c.details), latencyMs: now() - a.startedMs }, now());
            a.abort.abort(error);
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
      const a: AttemptState<I, O> = { n, abort: new AbortController(), observer, handle: undefined, releaseConnection: undefined, startedMs: now(), live: true, result: undefined };
      attempts[n - 1] = a;
      void send(a);
    };

    const report = (a: AttemptState<I, O>, code: number, details: string, reached: boolean): void => {
      if (!a.live && committed !== a) return;
      const t = now();
      a.handle?.release({ kind: outcomeKindFor(code, details), latencyMs: t - a.startedMs }, t);
      // Any failure may be a broken connection: the endpoint stays pickable only while its session is up.
      if (code !== 0 && a.handle) pool.checkConnection(a.handle.key);
      execute(machine.status(a.n, code, details, reached, t));
      a.live = false;
    };

    const send = async (a: AttemptState<I, O>): Promise<void> => {
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
        const details = `${setup.target}: no endpoint to send the call to before its deadline: ${pool.whyNothing()}`;
        a.result = { ok: false, error: new ConnectError(details, Code.Unavailable) };
        report(a, Code.Unavailable, details, true);
        return;
      }
      a.handle = handle;
      a.startedMs = now(); // latency counts from the pick, not from the wait for readiness
      machine.picked(a.n, handle.key);
      if (a.observer) safe(() => a.observer!.onPick(handle.explanation), undefined);
      const acquired = pool.acquire(handle.key);
      if (!acquired) {
        const details = `${handle.explanation.address} left the endpoint set before the attempt was sent`;
        a.result = { ok: false, error: new ConnectError(details, Code.Unavailable) };
        report(a, Code.Unavailable, details, false);
        return;
      }
      a.releaseConnection = acquired.release;
      const headers = new Headers(args.header);
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
      const transport: Transport = acquired.connection.transport;
      try {
        const response = await transport.unary(args.method, a.abort.signal, Number.isFinite(remaining) ? Math.max(1, Math.floor(remaining)) : undefined, headers, args.input, args.contextValues);
        if (a.result === undefined) a.result = { ok: true, response };
        report(a, 0, '', true);
      } catch (e) {
        const error = ConnectError.from(e);
        if (a.result === undefined) a.result = { ok: false, error };
        report(a, error.code, error.rawMessage, !neverReached(error));
      } finally {
        acquired.release();
      }
    };

    const onCallerAbort = (): void => {
      if (finished) return;
      const reason: unknown = args.signal?.reason;
      const error = ConnectError.from(reason ?? new ConnectError('the call was cancelled by the caller', Code.Canceled));
      execute(machine.cancel(error.code, error.rawMessage, now()));
    };
    if (args.signal?.aborted) {
      reject(ConnectError.from(args.signal.reason ?? new ConnectError('the call was cancelled by the caller before it started', Code.Canceled)));
      return;
    }
    args.signal?.addEventListener('abort', onCallerAbort, { once: true });
    execute(machine.start(now(), callDeadlineMs));
  });
}
