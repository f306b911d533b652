/**
 * A loopback TCP proxy for tests: forwards `127.0.0.1:<port>` to a target, and can cut every connection and
 * refuse new ones (`cut()`), then accept again (`restore()`). Drops a client's streams (e.g. an etcd watch)
 * without touching the server behind it.
 */
import { createServer, connect, type Socket } from 'node:net';

export interface TcpProxy {
  /** `127.0.0.1:<port>` to connect to instead of the target. */
  readonly address: string;
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Destroys every open connection and refuses (resets) new ones until `restore()`. */
  cut(): void;
  /** Accepts and forwards connections again. */
  restore(): void;
  close(): Promise<void>;
}

/** Starts a proxy to `targetHost:targetPort` on a free loopback port. */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let isCut = false;
  let count = 0;
  const server = createServer((client) => {
    if (isCut) {
      client.resetAndDestroy();
      return;
    }
    count++;
    const upstream = connect(targetPort, targetHost);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    address: `127.0.0.1:${port}`,
    port,
    get connections() {
      return count;
    },
    cut() {
      isCut = true;
      for (const s of open) s.destroy();
      open.clear();
    },
    restore() {
      isCut = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        isCut = true;
        for (const s of open) s.destroy();
        open.clear();
        server.close(() => resolve());
      }),
  };
}
