/**
 * A tiny JSON-over-gRPC service for the call layer's loopback tests (no .proto needed): one method of each
 * kind. Each request says how each server (by name) should behave, so one call can find a slow server and
 * a fast one.
 */
import { makeGenericClientConstructor } from '@grpc/grpc-js';
import type { ServiceDefinition } from '@grpc/grpc-js';

/** How a probe server answers one call. */
export interface ProbeBehaviour {
  /** Wait this long before answering (unary) or before the first message (streams), ms. */
  sleepMs?: number;
  /** Answer with this status code (non-zero) instead of a message. */
  code?: number;
  details?: string;
  /** Server streams: messages to send (default 1). */
  messages?: number;
  /** Server streams: pause between messages, ms. */
  gapMs?: number;
  /** Server streams: after the first message, wait this long before the rest, ms. */
  afterFirstMs?: number;
}

export interface ProbeRequest {
  readonly id: string;
  readonly default?: ProbeBehaviour;
  /** Behaviour per server name (overrides `default`). */
  readonly servers?: Readonly<Record<string, ProbeBehaviour>>;
}

export interface ProbeReply {
  readonly server: string;
  readonly id: string;
  readonly i?: number;
  readonly incarnation?: string;
}

const ser = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const des = (b: Buffer): unknown => JSON.parse(b.toString('utf8'));

function method(name: string, requestStream: boolean, responseStream: boolean) {
  return {
    path: `/fairway.test.Probe/${name}`,
    requestStream,
    responseStream,
    requestSerialize: ser,
    requestDeserialize: des,
    responseSerialize: ser,
    responseDeserialize: des,
    originalName: name.charAt(0).toLowerCase() + name.slice(1),
  };
}

export const probeService = {
  unary: method('Unary', false, false),
  stream: method('Stream', false, true),
  upload: method('Upload', true, false),
  chat: method('Chat', true, true),
} satisfies ServiceDefinition;

export const ProbeClient = makeGenericClientConstructor(probeService, 'fairway.test.Probe');
