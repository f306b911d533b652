/**
 * The benchmark's gRPC service: one unary method whose request and response are raw bytes (no protobuf cost,
 * the same for every variant). The response is the serving backend's id, so the client knows who served it.
 * The caller's zone travels in the `x-bench-zone` metadata header.
 */
import * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;

export const ECHO_PATH = '/fairway.bench.Echo/Call';
export const ZONE_HEADER = 'x-bench-zone';

export const echoService = {
  echo: {
    path: ECHO_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName: 'echo',
  },
} satisfies grpc.ServiceDefinition;

/** A client constructor for the echo service (what `createClient` and `new` both take). */
export const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');
export type EchoClientInstance = InstanceType<typeof EchoClient>;

/** The outcome of one call. */
export interface CallResult {
  /** gRPC status code, 0 = OK. */
  readonly code: number;
  /** Id of the backend that answered ('' on failure). */
  readonly backend: string;
}

const empty = Buffer.alloc(0);

/** Issues one unary call on `client`; never rejects. */
export function callOnce(
  client: grpc.Client,
  zone: string | undefined,
  deadlineMs: number,
): Promise<CallResult> {
  return new Promise((resolve) => {
    const md = new grpc.Metadata();
    if (zone) md.set(ZONE_HEADER, zone);
    const fn = (client as unknown as Record<string, Function>)['echo']!;
    fn.call(
      client,
      empty,
      md,
      { deadline: Date.now() + deadlineMs },
      (err: grpc.ServiceError | null, res?: Buffer) => {
        if (err) resolve({ code: err.code ?? grpc.status.UNKNOWN, backend: '' });
        else resolve({ code: 0, backend: res ? res.toString('latin1') : '' });
      },
    );
  });
}
