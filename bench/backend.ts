/**
 * One benchmark backend process: grpc-js echo servers with a configurable service time (base + uniform
 * jitter), a zone, and an extra delay for callers from another zone (standing in for cross-zone distance).
 * Driven by its parent over the IPC channel; exits when the parent goes away. One process may run several
 * servers (each its own port and id), so a "new endpoint on a new port" does not need a new process.
 *
 * Messages in:  {op:'listen', id, zone, port?, baseMs, jitterMs, crossZoneMs}
 *               {op:'set', id?, baseMs?, jitterMs?}        (id absent: every server)
 *               {op:'close', id}
 * Messages out: {op:'listening', id, port} | {op:'ok', seq} | {op:'error', seq, message}
 */
import * as grpc from '@grpc/grpc-js';
import { echoService, ZONE_HEADER } from './lib/echo.js';

interface Settings {
  id: string;
  zone: string;
  baseMs: number;
  jitterMs: number;
  crossZoneMs: number;
}

interface Running {
  settings: Settings;
  server: grpc.Server;
  port: number;
}

const servers = new Map<string, Running>();
// Bind failures are reported to the parent, which retries; grpc-js's own error log would only add noise.
grpc.setLogVerbosity(grpc.logVerbosity.NONE);

function handlerFor(running: { settings: Settings }): grpc.handleUnaryCall<Buffer, Buffer> {
  let reply: Buffer | undefined;
  return (call, callback) => {
    const s = running.settings;
    reply ??= Buffer.from(s.id, 'latin1');
    const callerZone = call.metadata.get(ZONE_HEADER)[0];
    let delay = s.baseMs + (s.jitterMs > 0 ? Math.random() * s.jitterMs : 0);
    if (s.crossZoneMs > 0 && typeof callerZone === 'string' && callerZone !== s.zone) delay += s.crossZoneMs;
    if (delay <= 0) callback(null, reply);
    else setTimeout(() => callback(null, reply), delay);
  };
}

async function listen(msg: Settings & { port?: number }): Promise<number> {
  const running = { settings: { ...msg } } as Running;
  const server = new grpc.Server();
  server.addService(echoService, { echo: handlerFor(running) });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${msg.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  running.server = server;
  running.port = port;
  servers.set(msg.id, running);
  return port;
}

function send(m: object): void {
  if (process.send) process.send(m);
}

process.on('message', (raw: unknown) => {
  const msg = raw as { op: string; seq?: number } & Record<string, unknown>;
  const seq = msg.seq;
  const run = async (): Promise<void> => {
    if (msg.op === 'listen') {
      const port = await listen(msg as unknown as Settings & { port?: number });
      send({ op: 'listening', seq, id: msg['id'], port });
    } else if (msg.op === 'set') {
      for (const [id, r] of servers) {
        if (msg['id'] !== undefined && msg['id'] !== id) continue;
        if (typeof msg['baseMs'] === 'number') r.settings.baseMs = msg['baseMs'];
        if (typeof msg['jitterMs'] === 'number') r.settings.jitterMs = msg['jitterMs'];
      }
      send({ op: 'ok', seq });
    } else if (msg.op === 'close') {
      const r = servers.get(String(msg['id']));
      servers.delete(String(msg['id']));
      r?.server.forceShutdown();
      send({ op: 'ok', seq });
    } else {
      throw new Error(`unknown op ${msg.op}`);
    }
  };
  run().catch((err: unknown) => send({ op: 'error', seq, message: err instanceof Error ? err.message : String(err) }));
});

// The parent went away (normal end, crash or kill): stop at once.
process.on('disconnect', () => process.exit(0));
send({ op: 'ready' });
