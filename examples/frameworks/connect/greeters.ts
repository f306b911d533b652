// Three (or any number of) connect-node gRPC servers of the example's Greeter service, each on 127.0.0.1,
// port 0, each answering after its own delay and saying which server it is.
import { createServer } from 'node:http2';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { Greeter } from './gen/greeter_pb.js';

export interface GreeterServer {
  readonly name: string;
  readonly address: string;
  /** Delay before each answer, ms; change it to make a server slow or stall. */
  delayMs: number;
  /** Calls received (answered or not). */
  calls: number;
  close(): Promise<void>;
}

export async function startGreeter(name: string, delayMs = 0): Promise<GreeterServer> {
  const sessions = new Set<ServerHttp2Session>();
  const server: Http2Server = createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(Greeter, {
          async greet(req, ctx) {
            g.calls += 1;
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, g.delayMs);
              ctx.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
            });
            return { message: `hello ${req.name}`, server: name };
          },
        }),
    }),
  );
  server.on('session', (s) => (sessions.add(s), s.once('close', () => sessions.delete(s))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const g: GreeterServer = {
    name,
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    delayMs,
    calls: 0,
    close: () => new Promise<void>((resolve) => (sessions.forEach((s) => s.destroy()), server.close(() => resolve()))),
  };
  return g;
}

/** Starts one server per delay, named a, b, c, ... */
export function startGreeters(delaysMs: readonly number[]): Promise<GreeterServer[]> {
  return Promise.all(delaysMs.map((d, i) => startGreeter(String.fromCharCode(97 + i), d)));
}
