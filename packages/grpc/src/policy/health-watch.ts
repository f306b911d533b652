/**
 * Client-side active health checking (gRFC A17) for one endpoint: a `grpc.health.v1.Health/Watch` stream on
 * the endpoint's own subchannel (the connection calls use), so what it reports is about that connection.
 *
 * - Enabled by `healthCheckConfig.serviceName` in the channel's service config (`grpc.service_config`);
 *   `""` asks about the server as a whole.
 * - Until the first answer the endpoint is not serving (A17: the subchannel is not READY before it).
 * - SERVING brings it into picks, anything else (NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN) takes it out at once.
 * - A server without the health service answers UNIMPLEMENTED: A17 says treat it as healthy and log it; logged
 *   once per endpoint, never retried on that connection.
 * - Any other end of the stream (the server restarted the service, a proxy cut it) is retried with backoff
 *   (1 s doubling to 30 s) while the connection is READY; meanwhile the last status stands.
 *
 * grpc-js does not implement A17, so the stream goes through the subchannel's transport directly: messages
 * there are gRPC frames (1 flag byte, 4 length bytes, the protobuf body), built and taken apart here; the
 * protobuf bodies come from the `grpc-health-check` package's service definition.
 */
import { Metadata, status as Status } from '@grpc/grpc-js';
import type { ChannelOptions } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import type { SubchannelCallLike, SubchannelLike } from '../grpc-internals.js';
import { startTimer, type TimerHandle } from '../clock.js';

const WATCH_METHOD = '/grpc.health.v1.Health/Watch';
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;

const watchDefinition = healthService['Watch']!;

/** The health-check service name the service config asks for, or undefined when health checking is off. */
export function healthCheckServiceName(options: ChannelOptions): string | undefined {
  const raw = options['grpc.service_config'];
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = typeof raw === 'string' ? JSON.parse(raw) : raw;
  } catch {
    return undefined; // grpc-js itself reports an unparsable service config
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const hc = (parsed as Record<string, unknown>)['healthCheckConfig'];
  if (typeof hc !== 'object' || hc === null) return undefined;
  const name = (hc as Record<string, unknown>)['serviceName'];
  return typeof name === 'string' ? name : undefined;
}

/** What a {@link HealthWatch} reports. */
export interface HealthWatchListener {
  /** `true` on SERVING (or no health service on the server), `false` otherwise. */
  onServing(serving: boolean): void;
  /** The server does not implement `grpc.health.v1` (called once; the endpoint is then treated as healthy). */
  onUnimplemented(): void;
}

/** Encodes a gRPC frame around `body`. */
function frame(body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(body.length, 1);
  body.copy(out, 5);
  return out;
}

/** One Watch stream at a time on one subchannel; `stop()` ends it and any retry. */
export class HealthWatch {
  private call: SubchannelCallLike | undefined;
  private retry: TimerHandle | undefined;
  private retryMs = RETRY_FIRST_MS;
  private stopped = true;
  private unimplemented = false;
  private generation = 0;

  constructor(
    private readonly subchannel: SubchannelLike,
    private readonly serviceName: string,
    private readonly authority: string,
    private readonly listener: HealthWatchListener,
  ) {}

  /** Starts watching (the subchannel must be READY); idempotent while running. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (this.unimplemented) {
      this.listener.onServing(true);
      return;
    }
    this.open();
  }

  /** Ends the stream and any pending retry (the connection left READY, or the endpoint left). */
  stop(): void {
    this.stopped = true;
    this.generation++;
    this.retry?.cancel();
    this.retry = undefined;
    const call = this.call;
    this.call = undefined;
    try {
      call?.cancelWithStatus(Status.CANCELLED, 'health watch stopped');
    } catch {
      // already ended
    }
  }

  private open(): void {
    const generation = ++this.generation;
    const current = () => generation === this.generation && !this.stopped;
    let call: SubchannelCallLike;
    try {
      call = this.subchannel.getRealSubchannel().createCall(new Metadata(), this.authority, WATCH_METHOD, {
        onReceiveMetadata: () => undefined,
        onReceiveMessage: (message: Buffer) => {
          if (!current()) return;
          this.retryMs = RETRY_FIRST_MS;
          let serving = false;
          try {
            const reply = watchDefinition.responseDeserialize(message.subarray(5)) as { status?: unknown };
            serving = reply.status === 'SERVING' || reply.status === 1;
          } catch {
            serving = false; // an answer we cannot read is not SERVING
          }
          this.listener.onServing(serving);
          call.startRead();
        },
        onReceiveStatus: (s: { code: number; details: string }) => {
          if (!current()) return;
          this.call = undefined;
          if (s.code === Status.UNIMPLEMENTED) {
            this.unimplemented = true;
            this.listener.onUnimplemented();
            this.listener.onServing(true);
            return;
          }
          this.scheduleRetry();
        },
      });
    } catch {
      this.scheduleRetry(); // the transport went away between READY and now
      return;
    }
    this.call = call;
    const body = watchDefinition.requestSerialize({ service: this.serviceName });
    call.sendMessageWithContext({}, frame(body));
    call.halfClose();
    call.startRead();
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    this.retry = startTimer(wait, () => {
      this.retry = undefined;
      if (!this.stopped) this.open();
    });
  }
}
