/**
 * JSON-over-gRPC services for tests: a service definition and a client constructor from a handwritten method
 * table, so a loopback test can have every kind of method (streams included) without a .proto file.
 */
import { makeGenericClientConstructor } from '@grpc/grpc-js';
import type { MethodDefinition, ServiceClientConstructor } from '@grpc/grpc-js';

/** How a method streams: `unary`, `server-stream` (one request, many replies), `client-stream` (many requests, one reply) or `bidi`. */
export type JsonMethodKind = 'unary' | 'server-stream' | 'client-stream' | 'bidi';

/** A service definition whose messages are any JSON value, one method per key of the method table. */
export type JsonServiceDefinition<K extends string> = { readonly [M in K]: MethodDefinition<unknown, unknown> };

/** What {@link defineJsonService} makes: the definition for `Server.addService` and the matching client class. */
export interface JsonService<K extends string> {
  readonly definition: JsonServiceDefinition<K>;
  readonly Client: ServiceClientConstructor;
}

const serialize = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const deserialize = (b: Buffer): unknown => JSON.parse(b.toString('utf8'));

/**
 * A JSON-over-gRPC service named `serviceName` (e.g. `fairway.test.Probe`) with one method per key of
 * `methods`. A key is the method's name on the client and in the server's handler object (e.g. `chat`); on
 * the wire the method is `/<serviceName>/<Key>`, the key with its first letter capitalised (gRPC's usual
 * method naming, e.g. `/fairway.test.Probe/Chat`).
 */
export function defineJsonService<K extends string>(serviceName: string, methods: Readonly<Record<K, JsonMethodKind>>): JsonService<K> {
  const definition = {} as Record<K, MethodDefinition<unknown, unknown>>;
  for (const key of Object.keys(methods) as K[]) {
    const kind = methods[key];
    definition[key] = {
      path: `/${serviceName}/${key.charAt(0).toUpperCase()}${key.slice(1)}`,
      requestStream: kind === 'client-stream' || kind === 'bidi',
      responseStream: kind === 'server-stream' || kind === 'bidi',
      requestSerialize: serialize,
      requestDeserialize: deserialize,
      responseSerialize: serialize,
      responseDeserialize: deserialize,
      originalName: key,
    };
  }
  return { definition, Client: makeGenericClientConstructor(definition, serviceName) };
}
