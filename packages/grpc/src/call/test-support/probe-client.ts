/** Client helpers for the call layer's loopback tests. */
import { credentials, Metadata } from '@grpc/grpc-js';
import type { Client, ClientOptions, ServiceError, ClientReadableStream } from '@grpc/grpc-js';
import { ProbeClient } from './probe-service.js';
import type { ProbeReply, ProbeRequest } from './probe-service.js';

export type Probe = Client & {
  unary(req: ProbeRequest, md: Metadata, opts: { deadline?: number | Date }, cb: (err: ServiceError | null, reply?: ProbeReply) => void): { cancel(): void };
  stream(req: ProbeRequest, md: Metadata, opts: { deadline?: number | Date }): ClientReadableStream<ProbeReply>;
  upload(md: Metadata, opts: { deadline?: number | Date }, cb: (err: ServiceError | null, reply?: ProbeReply) => void): {
    write(m: ProbeRequest): boolean;
    end(): void;
  };
  chat(md: Metadata, opts: { deadline?: number | Date }): {
    write(m: ProbeRequest): boolean;
    end(): void;
    on(ev: string, f: (...a: never[]) => void): unknown;
  };
};

/** A probe client on grpc-js's own round_robin over `addresses`, with `options` (e.g. interceptors). */
export function roundRobinProbeClient(addresses: readonly string[], options: ClientOptions): Probe {
  return new ProbeClient(`ipv4:${addresses.join(',')}`, credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    ...options,
  }) as unknown as Probe;
}

export interface UnaryResult {
  readonly reply?: ProbeReply;
  readonly error?: ServiceError;
  readonly elapsedMs: number;
}

export function callUnary(client: Probe, req: ProbeRequest, deadline?: number | Date): Promise<UnaryResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    client.unary(req, new Metadata(), deadline === undefined ? {} : { deadline }, (error, reply) => {
      resolve({ ...(error ? { error } : {}), ...(reply ? { reply } : {}), elapsedMs: performance.now() - started });
    });
  });
}

export interface StreamResult {
  readonly messages: ProbeReply[];
  readonly error?: ServiceError;
}

export function callStream(client: Probe, req: ProbeRequest, deadline?: number | Date): Promise<StreamResult> {
  return new Promise((resolve) => {
    const messages: ProbeReply[] = [];
    const s = client.stream(req, new Metadata(), deadline === undefined ? {} : { deadline });
    let error: ServiceError | undefined;
    s.on('data', (m: ProbeReply) => messages.push(m));
    s.on('error', (e: ServiceError) => (error = e));
    s.on('status', () => setImmediate(() => resolve({ messages, ...(error ? { error } : {}) })));
  });
}

/** Polls `cond` every 20 ms until true or `timeoutMs` passes; returns whether it became true. */
export async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
