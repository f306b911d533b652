/**
 * An address where nothing will answer, for tests of "the peer is down" (an unreachable etcd, a collector that
 * is down). A port found by binding 0 and closing again is not that: between the close and the test's connect,
 * another process may bind it (issue 14 item 2). This one stays bound by the test itself for as long as it is
 * needed, and resets every connection at once, so a client sees the connection fail as it would on a dead host.
 */
import { createServer, type Socket } from 'node:net';

export interface RefusingEndpoint {
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  readonly port: number;
  /** Connections reset so far. */
  readonly connectionsRefused: number;
  /** Frees the port. */
  close(): Promise<void>;
}

/** Binds a loopback port (port 0: the kernel chooses) that answers every connection with a TCP reset. */
export async function startRefusingEndpoint(): Promise<RefusingEndpoint> {
  let refused = 0;
  const open = new Set<Socket>();
  const server = createServer((socket) => {
    refused++;
    open.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => open.delete(socket));
    socket.resetAndDestroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    address: `127.0.0.1:${port}`,
    port,
    get connectionsRefused() {
      return refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
