// Fairway's keepalive defaults against a C-core server (Debian's python3-grpcio), which polices client pings
// (by default at most one per 5 minutes without data, 2 strikes, then GOAWAY too_many_pings); grpc-js servers
// do not police pings, so this is the server that can punish a too-eager default.
// Measured with this server (grpc 1.51): a call silent for 15 s and for 45 s succeeds with the defaults; one
// silent for 100 s is closed after about 51 s (5 pings) with RESOURCE_EXHAUSTED "Bandwidth exhausted" (grpc-js's
// mapping of too_many_pings). The README states that limit and the setting for long-silent calls; CI runs the
// 15 s case (every call a game back end makes is far shorter), not the 51 s one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import type { Client, ServiceError } from '@grpc/grpc-js';
import { createClient } from './index.js';

const serverScript = fileURLToPath(new URL('./test-support/ccore_sleep_server.py', import.meta.url));
const bytes = (b: Buffer) => b;
const SleepClient = makeGenericClientConstructor(
  {
    Sleep: {
      path: '/fairway.test.Sleep/Sleep',
      requestStream: false,
      responseStream: false,
      requestSerialize: bytes,
      requestDeserialize: bytes,
      responseSerialize: bytes,
      responseDeserialize: bytes,
    },
  },
  'Sleep',
);

let server: ChildProcess | undefined;
let client: Client | undefined;
after(() => {
  client?.close();
  server?.kill('SIGKILL');
});

test('default keepalive pings are tolerated by a C-core server during a 15 s silent call', { timeout: 90_000 }, async () => {
  server = spawn('/usr/bin/python3', [serverScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    server!.once('error', reject);
    server!.once('exit', (code) => reject(new Error(`C-core server exited (${code}); is python3-grpcio installed?`)));
    server!.stdout!.once('data', (d) => resolve(String(d).trim()));
  });
  assert.match(port, /^\d+$/);
  client = createClient(SleepClient, `static:///127.0.0.1:${port}`, credentials.createInsecure(), { zone: 'a' });
  const sleep = (seconds: number) =>
    new Promise<string>((resolve) => {
      (client as unknown as { Sleep: Function }).Sleep(
        Buffer.from(String(seconds)),
        { deadline: Date.now() + 60_000 },
        (e: ServiceError | null, v: Buffer) => resolve(e ? `${e.code} ${e.details}` : String(v)),
      );
    });
  assert.equal(await sleep(0), 'ok');
  const startedAt = Date.now();
  assert.equal(await sleep(15), 'ok', 'the C-core server accepted the keepalive pings of a 15 s wait');
  assert.ok(Date.now() - startedAt >= 14_000);
});
