/**
 * The call layer for a client that reaches a Fairway channel without Fairway's interceptor: a client made
 * with a bare `{ channelOverride: channel }`, and every client of a library that makes its grpc-js clients
 * itself (nice-grpc's `createClient(definition, channel)` passes no interceptors). Such a client calls
 * `channel.createCall` directly; the channel answers with a {@link CarriedCall}, which runs the channel's
 * retries and observers around the real attempts, so those options are never silently dropped.
 *
 * A channel sees serialized messages and does not know the method's shape, which the call layer needs
 * (a unary or server-streaming request can be replayed, a request stream cannot). grpc-js reveals it by the
 * order of its calls within the tick that starts the call (client-interceptors.ts, client.ts in 1.14):
 * - a method without a response stream asks for its first message (`startRead`) right after `start`, before
 *   it sends anything; a method with one asks only when the caller reads;
 * - a unary or server-streaming request is sent and half-closed synchronously after `start`; a request
 *   stream's messages come later.
 * So the call is held until the end of the tick that started it (a microtask), then classified. A request
 * stream written and ended in that same tick is one known message: replaying it is as safe as a unary's.
 */
import { Metadata, status as Status } from '@grpc/grpc-js';
import type { CallCredentials, Channel, Interceptor, InterceptingListener, InterceptorOptions, StatusObject } from '@grpc/grpc-js';
import type { AuthContext, RawCall, MessageContext } from './grpc-internals.js';
import { DuplicateGrpcError } from './register.js';

type CreateCallArgs = Parameters<Channel['createCall']>;
type RawListener = InterceptingListener;
type Upper = ReturnType<Interceptor>;

const passThrough = (b: Buffer): Buffer => b;

/** What a carried call needs from its channel. */
export interface CarriedCallHost {
  /** The channel's call layer (retries, observers, concurrency limit), outermost first. */
  readonly interceptors: readonly Interceptor[];
  /** Opens one real attempt on the channel (bypassing the carried layer). */
  readonly createRawCall: (...args: CreateCallArgs) => RawCall;
  /** Reports a call from a client of another grpc-js copy (once per channel is enough). */
  readonly onForeignClient: (error: DuplicateGrpcError) => void;
}

let callNumbers = 0;

/** One call of a client that skipped Fairway's interceptor; see the file comment. */
export class CarriedCall implements RawCall {
  private readonly callNumber = ++callNumbers;
  private listener: RawListener | undefined;
  private metadata: Metadata | undefined;
  private credentials: CallCredentials | undefined;
  private readonly messages: { context: MessageContext; message: Buffer }[] = [];
  private halfClosed = false;
  private readFirst: boolean | undefined;
  private reads = 0;
  private inner: Upper | undefined;
  private unary = false;
  private ended = false;

  constructor(
    private readonly host: CarriedCallHost,
    private readonly args: CreateCallArgs,
  ) {}

  start(metadata: Metadata, listener: RawListener): void {
    this.listener = listener;
    if (!(metadata instanceof Metadata)) {
      // A client of another grpc-js copy: its calls would run on this copy's internals by accident.
      const error = new DuplicateGrpcError(
        `a client of another @grpc/grpc-js (e.g. nice-grpc with its own copy) uses a Fairway channel`,
        (grpc) => typeof grpc['Metadata'] === 'function' && (metadata as unknown) instanceof (grpc['Metadata'] as new () => object),
      );
      this.host.onForeignClient(error);
      this.fail(Status.FAILED_PRECONDITION, error.message);
      return;
    }
    this.metadata = metadata;
    queueMicrotask(() => this.decide());
  }

  sendMessageWithContext(context: MessageContext, message: Buffer): void {
    if (this.ended) return;
    if (this.inner) return this.inner.sendMessageWithContext(context, message);
    this.readFirst ??= false;
    this.messages.push({ context, message });
  }

  startRead(): void {
    if (this.ended) return;
    if (this.inner) {
      if (!this.unary) this.inner.startRead();
      return;
    }
    this.readFirst ??= true;
    this.reads += 1;
  }

  halfClose(): void {
    if (this.ended) return;
    if (this.inner) return this.inner.halfClose();
    this.halfClosed = true;
  }

  cancelWithStatus(code: Status, details: string): void {
    if (this.ended) return;
    if (this.inner) return this.inner.cancelWithStatus(code, details);
    this.fail(code, details);
  }

  getPeer(): string {
    return this.inner?.getPeer() ?? 'unknown';
  }

  getCallNumber(): number {
    return this.callNumber;
  }

  setCredentials(credentials: CallCredentials): void {
    this.credentials = credentials;
  }

  getAuthContext(): AuthContext | null {
    return (this.inner as { getAuthContext?: () => AuthContext | null } | undefined)?.getAuthContext?.() ?? null;
  }

  private fail(code: Status, details: string): void {
    if (this.ended) return;
    this.ended = true;
    const status: StatusObject = { code, details, metadata: new Metadata() };
    queueMicrotask(() => this.listener?.onReceiveStatus(status));
  }

  /** The end of the starting tick: classify the method (see the file comment) and run the call layer. */
  private decide(): void {
    if (this.ended || this.inner) return;
    const [method, deadline, host, parent, propagateFlags] = this.args;
    const responseStream = this.readFirst !== true;
    const requestStream = !(this.halfClosed && this.messages.length === 1);
    this.unary = !responseStream && !requestStream;
    const options: InterceptorOptions = {
      method_definition: { path: method, requestStream, responseStream, requestSerialize: passThrough, responseDeserialize: passThrough },
      deadline,
      ...(host ? { host } : {}),
      ...(parent ? { parent } : {}),
      ...(propagateFlags !== null && propagateFlags !== undefined ? { propagate_flags: propagateFlags } : {}),
      ...(this.credentials ? { credentials: this.credentials } : {}),
    } as InterceptorOptions;
    const open = (attemptOptions: InterceptorOptions): Upper => this.rawAttempt(attemptOptions, responseStream);
    const chain = this.host.interceptors.reduceRight<(o: InterceptorOptions) => Upper>((next, interceptor) => (o) => interceptor(o, next), open);
    let inner: Upper;
    try {
      inner = chain(options);
    } catch (error) {
      // The channel was closed in the tick that started the call ("Channel has been shut down"): this runs in a
      // microtask, where a throw would crash the host process, so the call ends with a status instead.
      this.fail(Status.UNAVAILABLE, `the call could not start: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    this.inner = inner;
    const listener = this.listener!;
    inner.start(this.metadata!, {
      onReceiveMetadata: (md: Metadata) => listener.onReceiveMetadata(md),
      // The call layer hands a unary call grpc-js's "no message" null; the client above adds its own.
      onReceiveMessage: (message: unknown) => {
        if (message !== null && message !== undefined) listener.onReceiveMessage(message);
      },
      onReceiveStatus: (status: StatusObject) => {
        this.ended = true;
        listener.onReceiveStatus(status);
      },
    });
    for (const m of this.messages.splice(0)) inner.sendMessageWithContext(m.context, m.message);
    if (this.halfClosed) inner.halfClose();
    if (!this.unary) for (; this.reads > 0; this.reads--) inner.startRead();
  }

  /** One real attempt, shaped as grpc-js's bottom intercepting call (a unary one reads by itself). */
  private rawAttempt(o: InterceptorOptions, responseStream: boolean): Upper {
    const raw = this.host.createRawCall(o.method_definition.path, o.deadline ?? Infinity, o.host, o.parent ?? null, o.propagate_flags);
    if (o.credentials) raw.setCredentials(o.credentials);
    const upper = {
      start(metadata: Metadata, listener?: Partial<RawListener>): void {
        let received = false;
        raw.start(metadata, {
          onReceiveMetadata: (md) => listener?.onReceiveMetadata?.(md),
          onReceiveMessage: (message) => {
            received = true;
            listener?.onReceiveMessage?.(message);
          },
          onReceiveStatus: (status) => {
            if (!responseStream && !received) listener?.onReceiveMessage?.(null);
            listener?.onReceiveStatus?.(status);
          },
        });
        if (!responseStream) raw.startRead();
      },
      sendMessageWithContext: (context: MessageContext, message: Buffer) => raw.sendMessageWithContext(context, message),
      sendMessage: (message: Buffer) => raw.sendMessageWithContext({}, message),
      startRead: () => raw.startRead(),
      halfClose: () => raw.halfClose(),
      cancelWithStatus: (code: Status, details: string) => raw.cancelWithStatus(code, details),
      getPeer: () => raw.getPeer(),
      getAuthContext: () => raw.getAuthContext(),
    };
    return upper as unknown as Upper;
  }
}
