// Fairway's keepalive defaults against a C-core server (Debian's python3-grpcio), which polices client pings
// (by default at most one per 5 minutes while it sends nothing, 2 strikes, then GOAWAY too_many_pings). A quick
// check; test/interop/keepalive-default-servers.test.ts holds a stream silent for more than 5 minutes against
// C-core, grpc-go and grpc-java servers.
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
