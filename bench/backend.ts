/**
 * One benchmark backend process: grpc-js echo servers, each serving through a pod with a capacity (the pod
 * model of `@fairway/testing`: slots, a FIFO queue with an optional bound, a tailed service time, a capacity
 * factor, a cold start), a zone, and an extra delay for callers from another zone (standing in for cross-zone
 * distance). Driven by its parent over the IPC channel; exits when the parent goes away. One process may run
 * several servers (each its own port and id). Every server binds port 0 and reports the port it got, except a
 * restart that asks for the port it had before (B3's "zone back"), which the parent retries.
 *
 * Messages in:  {op:'listen', id, zone, crossZoneMs?, pod?, port?}   (pod absent: answer at once, no capacity)
 *               {op:'capacity', id?, factor}                      (id absent: every server)
 *               {op:'fail', id?, failure?}                        (fail-fast mode on with failure, off without)
 *               {op:'seed', id?, seed}                            (the pods' service times from now on: seeded by seed + id)
 *               {op:'stats', id?} | {op:'reset-stats', id?}
 *               {op:'close', id}
 * Messages out: {op:'ready'} | {op:'listening', seq, id, port} | {op:'ok', seq, stats?} | {op:'error', seq, message}
 */
import * as grpc from '@grpc/grpc-js';
import { createPod, createSeededRandom, PodFailingError, PodOverloadedError, type Pod, type PodFailure, type PodOptions, type PodStats } from '@fairway/testing';
import { echoService, ZONE_HEADER } from './lib/echo.js';

interface Settings {
  id: string;
  zone: string;
  crossZoneMs?: number;
  /** The pod's options without timers or random (plain data over IPC). */
  pod?: Omit<PodOptions, 'timers' | 'random'>;
}

interface Running {
  settings: Settings;
  pod: Pod | undefined;
  /** The pod's uniform source: Math.random until the parent seeds it. */
  source: { random: () => number };
  server: grpc.Server;
  port: number;
}

const servers = new Map<string, Running>();
// Bind failures are reported to the parent, which retries; grpc-js's own error log would only add noise.
grpc.setLogVerbosity(grpc.logVerbosity.NONE);

function handlerFor(settings: Settings, pod: Pod | undefined): grpc.handleUnaryCall<Buffer, Buffer> {
  const reply = Buffer.from(settings.id, 'latin1');
  const crossZoneMs = settings.crossZoneMs ?? 0;
  const answer = (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>): void => {
    const callerZone = crossZoneMs > 0 ? call.metadata.get(ZONE_HEADER)[0] : undefined;
    if (typeof callerZone === 'string' && callerZone !== settings.zone) setTimeout(() => callback(null, reply), crossZoneMs);
    else callback(null, reply);
  };
  if (!pod) return answer;
  return (call, callback) => {
    // A cancelled call (deadline, client gone) frees its slot or its place in the queue, as on a real server.
    const abort = new AbortController();
    call.once('cancelled', () => abort.abort());
    pod.serve(abort.signal).then(
      () => answer(call, callback),
      (err: unknown) => {
        if (err instanceof PodOverloadedError) callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: err.message });
        else if (err instanceof PodFailingError) callback({ code: grpc.status[err.code], details: err.message });
        else if (!abort.signal.aborted) callback({ code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) });
      },
    );
  };
}

async function listen(msg: Settings & { port?: number }): Promise<number> {
  const settings: Settings = { id: msg.id, zone: msg.zone, ...(msg.crossZoneMs ? { crossZoneMs: msg.crossZoneMs } : {}), ...(msg.pod ? { pod: msg.pod } : {}) };
  const source: Running['source'] = { random: Math.random };
  // The pod draws through `source`, so a 'seed' message can replace its sequence between rounds.
  const pod = settings.pod ? createPod({ ...settings.pod, random: () => source.random() }) : undefined;
  const server = new grpc.Server();
  server.addService(echoService, { echo: handlerFor(settings, pod) });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${msg.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
  } catch (e) {
    pod?.stop();
    throw e;
  }
  servers.set(msg.id, { settings, pod, server, port, source });
  return port;
}

function send(m: object): void {
  if (process.send) process.send(m);
}

function selected(id: unknown): Running[] {
  return [...servers.entries()].filter(([k]) => id === undefined || id === k).map(([, r]) => r);
}

process.on('message', (raw: unknown) => {
  const msg = raw as { op: string; seq?: number } & Record<string, unknown>;
  const seq = msg.seq;
  const run = async (): Promise<void> => {
    if (msg.op === 'listen') {
      const port = await listen(msg as unknown as Settings & { port?: number });
      send({ op: 'listening', seq, id: msg['id'], port });
    } else if (msg.op === 'capacity') {
      const factor = Number(msg['factor']);
      for (const r of selected(msg['id'])) r.pod?.setCapacityFactor(factor);
      send({ op: 'ok', seq });
    } else if (msg.op === 'fail') {
      const failure = msg['failure'] as PodFailure | undefined;
      for (const r of selected(msg['id'])) r.pod?.setFailing(failure ?? undefined);
      send({ op: 'ok', seq });
    } else if (msg.op === 'seed') {
      const seed = String(msg['seed']);
      for (const r of selected(msg['id'])) r.source.random = createSeededRandom(`${seed}/${r.settings.id}`);
      send({ op: 'ok', seq });
    } else if (msg.op === 'stats') {
      const stats: Record<string, PodStats> = {};
      for (const r of selected(msg['id'])) if (r.pod) stats[r.settings.id] = r.pod.stats();
      send({ op: 'ok', seq, stats });
    } else if (msg.op === 'reset-stats') {
      for (const r of selected(msg['id'])) r.pod?.resetStats();
      send({ op: 'ok', seq });
    } else if (msg.op === 'close') {
      const r = servers.get(String(msg['id']));
      servers.delete(String(msg['id']));
      r?.server.forceShutdown();
      r?.pod?.stop();
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
