/**
 * "Newest connection wins" for long-lived streams, on the server.
 *
 * A peer that reconnects before its old connection has timed out (a half-open socket, a restarted process,
 * a client that gave up on a frozen link) leaves two streams behind, and only the newer one is any use
 * (Guild Wars' rule; MQTT does the same with a second connection under one client id, and Akka tells
 * incarnations apart by a uid). This helper keeps one live stream per (peer instance, method):
 *
 * - When the same peer opens the stream again, the older stream ends with `ABORTED` and a message naming
 *   the newer incarnation. Its handler is told too: the old call emits `'cancelled'`, as for a client cancel.
 * - A stream from an *older* incarnation that arrives after a newer one has been seen is refused with
 *   `FAILED_PRECONDITION` (a zombie process that woke up must not take the stream back).
 * - Incarnation order: Fairway's incarnations start with their process's start time in ms
 *   (`1764032400123-4f1c`, see `newIncarnation`) and compare by it. Incarnations with no such prefix (a Pod uid)
 *   have no order; for those the stream that arrived last wins.
 * - Calls without identity headers are passed through untouched.
 *
 * The peer identity comes from the `fairway-client-instance` and `fairway-client-incarnation` metadata
 * headers, which Fairway's clients send on every call when given an `identity`.
 */
import { status as Status } from '@fairway/grpc';
import type * as grpc from '@fairway/grpc';
import { CLIENT_INCARNATION_HEADER, CLIENT_INSTANCE_HEADER, compareIncarnations } from '@fairway/core';

/** Who opened a stream. */
export interface PeerIdentity {
  readonly instance: string;
  readonly incarnation: string;
}

/** Options of {@link createStreamTakeover}. */
export interface StreamTakeoverOptions {
  /**
   * Reads the peer's identity from a call's metadata; undefined means "not tracked". Default: the
   * `fairway-client-instance` / `fairway-client-incarnation` headers (both must be present).
   */
  readonly identify?: (metadata: grpc.Metadata) => PeerIdentity | undefined;
  /**
   * How many peer instances' newest incarnations to remember (to refuse late streams from older ones).
   * Oldest entries are forgotten first. Default 10_000 (entries).
   */
  readonly maxRememberedPeers?: number;
  /** Told whenever a stream is superseded or refused (e.g. for a log line or a metric). Default none. */
  readonly onEvent?: (event: StreamTakeoverEvent) => void;
}

/** What the helper did. */
export type StreamTakeoverEvent =
  | { readonly kind: 'superseded'; readonly method: string; readonly instance: string; readonly older: string; readonly newer: string }
  | { readonly kind: 'refused'; readonly method: string; readonly instance: string; readonly incarnation: string; readonly newest: string };

/** Any grpc-js server call that has streams. */
type StreamCall = grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown>;

interface LiveStream {
  readonly incarnation: string;
  end(code: Status, details: string): void;
}

/** Keeps one live stream per (peer instance, method). */
export interface StreamTakeover {
  /** Wraps a server-streaming handler. */
  serverStream<Req, Res>(handler: grpc.handleServerStreamingCall<Req, Res>): grpc.handleServerStreamingCall<Req, Res>;
  /** Wraps a bidi handler. */
  bidi<Req, Res>(handler: grpc.handleBidiStreamingCall<Req, Res>): grpc.handleBidiStreamingCall<Req, Res>;
  /** Wraps a client-streaming handler (the older call is ended through its callback). */
  clientStream<Req, Res>(handler: grpc.handleClientStreamingCall<Req, Res>): grpc.handleClientStreamingCall<Req, Res>;
  /** Number of tracked live streams. */
  readonly size: number;
  /** Ends every tracked stream with `code` and `details` (e.g. `UNAVAILABLE`, `server draining`). */
  endAll(code: Status, details: string): void;
}

function defaultIdentify(metadata: grpc.Metadata): PeerIdentity | undefined {
  const instance = metadata.get(CLIENT_INSTANCE_HEADER)[0];
  const incarnation = metadata.get(CLIENT_INCARNATION_HEADER)[0];
  if (typeof instance !== 'string' || typeof incarnation !== 'string' || instance === '' || incarnation === '') return undefined;
  return { instance, incarnation };
}

/** Creates a takeover registry; share one per server (or per group of methods). */
export function createStreamTakeover(options: StreamTakeoverOptions = {}): StreamTakeover {
  const identify = options.identify ?? defaultIdentify;
  const maxPeers = options.maxRememberedPeers ?? 10_000;
  if (!Number.isInteger(maxPeers) || maxPeers < 1) {
    throw new RangeError(`createStreamTakeover: maxRememberedPeers must be a whole number >= 1, got ${maxPeers}`);
  }
  const live = new Map<string, LiveStream>();
  /** instance -> newest incarnation seen (insertion order = age, for forgetting). */
  const newest = new Map<string, string>();

  const report = (event: StreamTakeoverEvent): void => {
    try {
      options.onEvent?.(event);
    } catch {
      // An observer never breaks a stream.
    }
  };

  function remember(instance: string, incarnation: string): void {
    newest.delete(instance);
    newest.set(instance, incarnation);
    if (newest.size > maxPeers) newest.delete(newest.keys().next().value!);
  }

  /**
   * Admits a stream or refuses it. Returns the release function when admitted, or undefined after ending
   * `end` with the refusal.
   */
  function admit(method: string, peer: PeerIdentity, stream: LiveStream, onEnd: (f: () => void) => void): boolean {
    const seen = newest.get(peer.instance);
    if (seen !== undefined) {
      const order = compareIncarnations(peer.incarnation, seen);
      if (order !== undefined && order < 0) {
        report({ kind: 'refused', method, instance: peer.instance, incarnation: peer.incarnation, newest: seen });
        stream.end(
          Status.FAILED_PRECONDITION,
          `stream refused: peer instance "${peer.instance}" incarnation ${peer.incarnation} is older than incarnation ` +
            `${seen}, which has already connected (newest connection wins)`,
        );
        return false;
      }
    }
    remember(peer.instance, peer.incarnation);
    const key = `${peer.instance}\u0000${method}`;
    const previous = live.get(key);
    if (previous) {
      report({ kind: 'superseded', method, instance: peer.instance, older: previous.incarnation, newer: peer.incarnation });
      const same = previous.incarnation === peer.incarnation;
      previous.end(
        Status.ABORTED,
        `stream superseded by a newer ${method} stream from peer instance "${peer.instance}" ` +
          (same ? `(same incarnation ${peer.incarnation}, opened again)` : `incarnation ${peer.incarnation} (this stream: incarnation ${previous.incarnation})`) +
          ' (newest connection wins)',
      );
    }
    live.set(key, stream);
    onEnd(() => {
      if (live.get(key) === stream) live.delete(key);
    });
    return true;
  }

  /** Lets `'cancelled'` reach a tracked call's handler once, whether Fairway or grpc-js says it first. */
  function cancelOnce(call: StreamCall): void {
    const emit = call.emit.bind(call);
    let cancelled = false;
    call.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event === 'cancelled') {
        if (cancelled) return false;
        cancelled = true;
      }
      return emit(event, ...args);
    }) as typeof call.emit;
  }

  function track(call: StreamCall, end: (code: Status, details: string) => void): boolean {
    const peer = identify(call.metadata);
    if (!peer) return true;
    cancelOnce(call);
    const method = call.getPath();
    let ended = false;
    const stream: LiveStream = {
      incarnation: peer.incarnation,
      end(code, details) {
        if (ended) return;
        ended = true;
        end(code, details);
      },
    };
    return admit(method, peer, stream, (release) => {
      const done = () => {
        ended = true;
        release();
      };
      call.once('cancelled', done);
      call.once('close', done);
      call.once('finish', done);
    });
  }

  /** Ends a writable (server-stream or bidi) call with a status, and tells its handler it is over. */
  function endWritable(call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>) {
    return (code: Status, details: string) => {
      call.emit('error', { code, details });
      // Handlers stop on 'cancelled' (grpc-js emits it when a client cancels): the stream is over for them too.
      (call as { cancelled: boolean }).cancelled = true;
      call.emit('cancelled', 'superseded');
    };
  }

  return {
    serverStream(handler) {
      return (call) => {
        const c = call as unknown as grpc.ServerWritableStream<unknown, unknown>;
        if (track(c, endWritable(c))) handler(call);
      };
    },
    bidi(handler) {
      return (call) => {
        const c = call as unknown as grpc.ServerDuplexStream<unknown, unknown>;
        if (track(c, endWritable(c))) handler(call);
      };
    },
    clientStream<Req, Res>(handler: grpc.handleClientStreamingCall<Req, Res>): grpc.handleClientStreamingCall<Req, Res> {
      return (call: grpc.ServerReadableStream<Req, Res>, callback: grpc.sendUnaryData<Res>) => {
        let answered = false;
        const once: grpc.sendUnaryData<Res> = (error, value, trailer, flags) => {
          if (answered) return;
          answered = true;
          callback(error, value, trailer, flags);
        };
        const c = call as unknown as grpc.ServerReadableStream<unknown, unknown>;
        const admitted = track(c, (code, details) => {
          once({ code, details });
          (c as { cancelled: boolean }).cancelled = true;
          c.emit('cancelled', 'superseded');
        });
        if (admitted) handler(call, once);
      };
    },
    get size() {
      return live.size;
    },
    endAll(code, details) {
      for (const stream of [...live.values()]) stream.end(code, details);
      live.clear();
    },
  };
}

/**
 * Wraps one server-streaming or bidi handler with its own takeover registry: the simplest form.
 * `server.addService(def, { watch: newestStreamWins(watchHandler) })`. Use {@link createStreamTakeover} to share
 * one registry (and `endAll` on drain) between several methods.
 */
export function newestStreamWins<Req, Res>(
  handler: grpc.handleServerStreamingCall<Req, Res>,
  options?: StreamTakeoverOptions,
): grpc.handleServerStreamingCall<Req, Res>;
export function newestStreamWins<Req, Res>(
  handler: grpc.handleBidiStreamingCall<Req, Res>,
  options?: StreamTakeoverOptions,
): grpc.handleBidiStreamingCall<Req, Res>;
export function newestStreamWins<Req, Res>(
  handler: grpc.handleServerStreamingCall<Req, Res> | grpc.handleBidiStreamingCall<Req, Res>,
  options?: StreamTakeoverOptions,
): grpc.handleServerStreamingCall<Req, Res> | grpc.handleBidiStreamingCall<Req, Res> {
  const takeover = createStreamTakeover(options);
  // Both kinds are writable streams ended the same way; the handler gets the call it was given.
  return takeover.bidi(handler as grpc.handleBidiStreamingCall<Req, Res>);
}
