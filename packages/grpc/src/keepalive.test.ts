// Fairway's keepalive defaults (a ping after 10 s with nothing received while a call waits, 5 s to answer)
// detect a frozen peer (SIGSTOP: its sockets stay open, nothing answers) in seconds: the outstanding call ends
// UNAVAILABLE long before its deadline instead of hanging on a half-open connection. That the same defaults
// never provoke GOAWAY too_many_pings from default-configured grpc-go, C-core and grpc-java servers is checked
// in test/interop/keepalive-default-servers.test.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, status } from '@grpc/grpc-js';
import type { Client } from '@grpc/grpc-js';
import { startBackendProcess, loadEcho, echoUnary } from '@fairway/testing';
import type { BackendProcess } from '@fairway/testing';
import { createClient, KEEPALIVE_DEFAULTS } from './index.js';

const { EchoClient } = loadEcho();
let proc: BackendProcess | undefined;
let client: Client | undefined;
after(async () => {
  client?.close();
  await proc?.kill('SIGKILL');
});

test('a frozen server is detected by keepalive while a call waits on it', { timeout: 90_000 }, async () => {
  assert.deepEqual({ ...KEEPALIVE_DEFAULTS }, { timeMs: 10_000, timeoutMs: 5_000, serverMinIntervalMs: 310_000 });
  proc = await startBackendProcess({ id: 'frozen' });
  client = createClient(EchoClient, `static:///${proc.address}`, credentials.createInsecure());
  assert.ok((await echoUnary(client)).ok);
  const startedAt = Date.now();
  const pending = echoUnary(client, { delay_ms: 80_000 }, { deadlineMs: 85_000 });
  for (let i = 0; i < 100 && (await proc.counts()).inFlight === 0; i++) await new Promise((r) => setTimeout(r, 20));
  proc.stop(); // SIGSTOP: the connection stays open, nothing answers, not even pings
  const r = await pending;
  const elapsed = Date.now() - startedAt;
  assert.ok(!r.ok && r.code === status.UNAVAILABLE, JSON.stringify(r));
  // 10 s + 5 s by the defaults; generous slack for a loaded machine, far below the 85 s deadline.
  assert.ok(elapsed < 40_000, `detected after ${elapsed} ms`);
  assert.ok(elapsed >= 9_000, `ended after ${elapsed} ms: sooner than the keepalive time, so not keepalive`);
});
