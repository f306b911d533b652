/**
 * How the call layer (retry interceptor) and the picker talk about one attempt, without putting anything on
 * the wire.
 *
 * Each attempt's outgoing `Metadata` gets a fresh options object that carries the attempt's context under a
 * symbol key (grpc-js reads only its own named flags from it; a symbol is invisible to `Object.keys` and
 * JSON); the picker reads `pickArgs.metadata.getOptions()`. This rests on grpc-js passing the options object
 * by reference through `Metadata.clone()` (an implementation detail of 1.14, covered by a test): a metadata
 * header would reach the server, `extraPickInfo` is only filled by a resolver ConfigSelector, and
 * AsyncLocalStorage is wrong for picks queued on a cold channel. (A WeakMap keyed by the options object did
 * the same at ~1 us of client CPU per call, its ephemeron entries costing the garbage collector too.)
 */
import type { Metadata } from '@grpc/grpc-js';
import type { PickExplanation } from '@fairway/core';

/** What the picker may know about the attempt it is picking for. */
export interface AttemptPickContext {
  /**
   * Keys (see `endpointKey` in core) of endpoints this call's attempts were picked onto so far. Live: read it
   * at pick time, since it grows while an attempt's pick waits in grpc-js's queue (a hedge picked in the same
   * tick as the first attempt avoids the first attempt's endpoint). The picker avoids them whenever another
   * READY endpoint exists.
   */
  readonly avoid: ReadonlySet<string>;
  /** The picker reports its choice; may be called more than once if grpc-js re-picks the attempt. */
  onPick(explanation: PickExplanation): void;
  /**
   * grpc-js created the attempt's HTTP/2 stream on the picked endpoint (the picker's `onCallStarted`). An
   * attempt that ends without it never left the client. Optional.
   */
  onStarted?(): void;
  /**
   * Whether the time from pick to the attempt's end is a latency sample for the endpoint. Default true (unary
   * calls). Set false for streaming calls: a stream's duration says nothing about the endpoint's speed (the
   * attempt still counts as in flight while it runs).
   */
  readonly sampleLatency?: boolean;
}

/** Where an attempt's context sits on its metadata's options object. */
const CONTEXT = Symbol('fairway.attemptPickContext');

type OptionsWithContext = ReturnType<Metadata['getOptions']> & { [CONTEXT]?: AttemptPickContext };

/** Attaches `context` to this attempt's metadata (gives it a fresh options object first). */
export function setAttemptPickContext(metadata: Metadata, context: AttemptPickContext): void {
  // A copy then an assignment: a spread with a computed key is V8's slow path, and this runs for every attempt.
  const options: OptionsWithContext = Object.assign({}, metadata.getOptions());
  options[CONTEXT] = context;
  metadata.setOptions(options);
}

/** The context the call layer attached to this attempt's metadata, if any. */
export function getAttemptPickContext(metadata: Metadata): AttemptPickContext | undefined {
  return (metadata.getOptions() as OptionsWithContext)[CONTEXT];
}
