/**
 * Test support (not shipped): a tiny gRPC service built at run time (no code generation) and connect-node
 * HTTP/2 servers for it, each on port 0 with an adjustable delay, counting the calls they answer.
 */
import { createSecureServer, createServer } from 'node:http2';
import type { Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { create, createFileRegistry } from '@bufbuild/protobuf';
import type { DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, file_google_protobuf_wrappers } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import type { HandlerContext } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';

const file = create(FileDescriptorProtoSchema, {
  name: 'fairway/test/echo.proto',
  package: 'fairway.test',
  syntax: 'proto3',
  dependency: ['google/protobuf/wrappers.proto'],
  service: [
    {
      name: 'Echo',
      method: [
        { name: 'Say', inputType: '.google.protobuf.StringValue', outputType: '.google.protobuf.StringValue', options: { idempotencyLevel: 1 } }, // NO_SIDE_EFFECTS
        { name: 'Count', inputType: '.google.protobuf.StringValue', outputType: '.google.protobuf.StringValue', serverStreaming: true },
      ],
    },
  ],
});

/** `fairway.test.Echo`: `Say` (unary) answers `<server name>:<request>`; `Count` streams three such answers. */
export const Echo: DescService = createFileRegistry(file, (name) => (name === 'google/protobuf/wrappers.proto' ? file_google_protobuf_wrappers : undefined)).getService('fairway.test.Echo')!;

/** One test server. */
export interface EchoServer {
  readonly name: string;
  readonly address: string;
  /** Delay before each answer, ms (changeable while running). */
  delayMs: number;
  /** When set, `Say` fails with this code instead of answering. */
  failWith: Code | undefined;
  /** Calls received. */
  calls: number;
  /** Headers of the last call. */
  lastHeaders: Headers | undefined;
  close(): Promise<void>;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (ms <= 0) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/** Starts a connect-node gRPC server on 127.0.0.1, port 0. */
export async function startEchoServer(name: string, delayMs = 0, tls?: { readonly key: Buffer; readonly cert: Buffer }): Promise<EchoServer> {
  const state = { delayMs, failWith: undefined as Code | undefined, calls: 0, lastHeaders: undefined as Headers | undefined };
  const handler = connectNodeAdapter({
    grpc: true,
    connect: false,
    grpcWeb: false,
    routes: (router) =>
      router.service(Echo, {
        async say(req: { value: string }, ctx: HandlerContext) {
          state.calls += 1;
          state.lastHeaders = ctx.requestHeader;
          await sleep(state.delayMs, ctx.signal);
          if (state.failWith !== undefined) throw new ConnectError(`${name} fails on purpose`, state.failWith);
          return { value: `${name}:${req.value}` };
        },
        async *count(req: { value: string }, ctx: HandlerContext) {
          state.calls += 1;
          state.lastHeaders = ctx.requestHeader;
          for (let i = 0; i < 3; i++) {
            await sleep(state.delayMs, ctx.signal);
            yield { value: `${name}:${req.value}:${i}` };
          }
        },
      } as never),
  });
  const server = (tls ? createSecureServer({ key: tls.key, cert: tls.cert }, handler) : createServer(handler)) as Http2Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const sessions = new Set<import('node:http2').ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  return Object.assign(state, {
    name,
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  }) as EchoServer;
}
