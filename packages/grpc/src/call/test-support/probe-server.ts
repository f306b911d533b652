/**
 * A probe server run as its own process (so a test can SIGSTOP or kill it). Environment: `PROBE_NAME`,
 * `PROBE_PORT` (0 = any), `PROBE_INCARNATION`. Writes JSON lines on stdout: `{"ev":"ready","port":N}` once
 * listening, then `{"ev":"call",...}` for every call it receives (with its arrival time, the grpc-timeout it
 * was given and the client identity headers), and `{"ev":"end",...}` when a call ends.
 */
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import type { Metadata, ServerUnaryCall, ServerWritableStream, ServerReadableStream, ServerDuplexStream, sendUnaryData } from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { probeService } from './probe-service.js';
import type { ProbeBehaviour, ProbeRequest, ProbeReply } from './probe-service.js';

const name = process.env['PROBE_NAME'] ?? 'probe';
const port = Number(process.env['PROBE_PORT'] ?? '0');
const incarnation = process.env['PROBE_INCARNATION'] ?? '';

const now = (): number => performance.timeOrigin + performance.now();
const emit = (ev: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(ev)}\n`);

function record(method: string, md: Metadata, id: string | undefined, deadline: Date | number): void {
  const t = now();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  emit({
    ev: 'call',
    server: name,
    method,
    id,
    t,
    // What the call's deadline (grpc-timeout) left at arrival, ms; null when none.
    remainingMs: Number.isFinite(deadlineMs) ? Math.round(deadlineMs - Date.now()) : null,
    clientInstance: md.get('fairway-client-instance')[0] ?? null,
    clientIncarnation: md.get('fairway-client-incarnation')[0] ?? null,
  });
}

function behaviourOf(req: ProbeRequest): ProbeBehaviour {
  return req.servers?.[name] ?? req.default ?? {};
}

function sleep(ms: number | undefined, call: { on(ev: 'cancelled', f: () => void): unknown }): Promise<boolean> {
  return new Promise((resolve) => {
    if (!ms) return resolve(true);
    const t = setTimeout(() => resolve(true), ms);
    call.on('cancelled', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

const server = new Server();
server.addService(probeService, {
  unary: async (call: ServerUnaryCall<ProbeRequest, ProbeReply>, callback: sendUnaryData<ProbeReply>) => {
    const req = call.request;
    record('Unary', call.metadata, req.id, call.getDeadline());
    const b = behaviourOf(req);
    const alive = await sleep(b.sleepMs, call);
    emit({ ev: 'end', server: name, method: 'Unary', id: req.id, t: now(), cancelled: !alive });
    if (!alive) return;
    if (b.code) callback({ code: b.code, details: b.details ?? `probe ${name} answers ${b.code}` });
    else callback(null, { server: name, id: req.id, incarnation });
  },
  stream: async (call: ServerWritableStream<ProbeRequest, ProbeReply>) => {
    const req = call.request;
    record('Stream', call.metadata, req.id, call.getDeadline());
    const b = behaviourOf(req);
    let alive = await sleep(b.sleepMs, call);
    const n = b.messages ?? 1;
    for (let i = 0; alive && i < n; i++) {
      if (i === 1) alive = await sleep(b.afterFirstMs, call);
      else if (i > 1) alive = await sleep(b.gapMs, call);
      if (alive) call.write({ server: name, id: req.id, i });
    }
    emit({ ev: 'end', server: name, method: 'Stream', id: req.id, t: now(), cancelled: !alive });
    if (!alive) return;
    if (b.code) call.emit('error', { code: b.code, details: b.details ?? `probe ${name} answers ${b.code}` });
    else call.end();
  },
  upload: (call: ServerReadableStream<ProbeRequest, ProbeReply>, callback: sendUnaryData<ProbeReply>) => {
    let id = '';
    let count = 0;
    let behaviour: ProbeBehaviour = {};
    call.on('data', (req: ProbeRequest) => {
      if (count === 0) {
        id = req.id;
        behaviour = behaviourOf(req);
        record('Upload', call.metadata, id, call.getDeadline());
      }
      count++;
    });
    call.on('end', async () => {
      const alive = await sleep(behaviour.sleepMs, call);
      if (!alive) return;
      if (behaviour.code) callback({ code: behaviour.code, details: behaviour.details ?? `probe ${name}` });
      else callback(null, { server: name, id, i: count });
    });
  },
  chat: (call: ServerDuplexStream<ProbeRequest, ProbeReply>) => {
    let first = true;
    call.on('data', async (req: ProbeRequest) => {
      if (first) record('Chat', call.metadata, req.id, call.getDeadline());
      first = false;
      const b = behaviourOf(req);
      if (await sleep(b.sleepMs, call)) call.write({ server: name, id: req.id });
    });
    call.on('end', () => call.end());
  },
});

server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    emit({ ev: 'error', message: err.message });
    process.exit(1);
  }
  emit({ ev: 'ready', port: bound, pid: process.pid });
});

function shutdown(): void {
  server.tryShutdown(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// The parent's pipe closing means the test is gone: never outlive it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
void status;
