/**
 * A tiny JSON-over-gRPC service for the call layer's loopback tests (no .proto needed): one method of each
 * kind. Each request says how each server (by name) should behave, so one call can find a slow server and
 * a fast one.
 */
import { defineJsonService } from '@fairway/testing';

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

const probe = defineJsonService('fairway.test.Probe', {
  unary: 'unary',
  stream: 'server-stream',
  upload: 'client-stream',
  chat: 'bidi',
});

export const probeService = probe.definition;

export const ProbeClient = probe.Client;
