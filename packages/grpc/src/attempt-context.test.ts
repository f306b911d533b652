// The options-by-reference trick (attempt-context.ts): a context attached to an attempt's Metadata reaches the
// picker through grpc-js's Metadata.clone(), on a cold channel (the pick is queued until a connection is
// ready) and on a warm one. If grpc-js ever copies the options object instead, this test fails.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Metadata } from '@grpc/grpc-js';
import type { Client, ServiceError } from '@grpc/grpc-js';
import type { PickExplanation } from '@fairway/core';
import { startEchoBackend, loadEcho } from '@fairway/testing';
import type { EchoBackend, EchoReply } from '@fairway/testing';
import { createChannel } from './index.js';
import { setAttemptPickContext, getAttemptPickContext } from './attempt-context.js';

const creds = credentials.createInsecure();
const { EchoClient } = loadEcho();
const backends: EchoBackend[] = [];
after(() => backends.forEach((b) => b.forceStop()));

function call(c: Client, md: Metadata): Promise<EchoReply> {
  return new Promise((resolve, reject) =>
    (c as unknown as { Unary: Function }).Unary({ message: 'ctx' }, md, (e: ServiceError | null, r: EchoReply) => (e ? reject(e) : resolve(r))),
  );
}

test('Metadata.clone() keeps the options object, so the picker sees the attempt context', () => {
  const md = new Metadata();
  const ctx = { avoid: new Set<string>(), onPick: () => undefined };
  setAttemptPickContext(md, ctx);
  assert.equal(getAttemptPickContext(md), ctx);
  assert.equal(getAttemptPickContext(md.clone()), ctx, 'clone() must pass the options object by reference');
  assert.equal(getAttemptPickContext(new Metadata()), undefined);
});

test('the picker reads avoid and reports its pick, on a cold channel and on a warm one', { timeout: 30_000 }, async () => {
  const bs = await Promise.all([startEchoBackend({ id: 'ctx-1' }), startEchoBackend({ id: 'ctx-2' })]);
  backends.push(...bs);
  const target = `static:///${bs.map((b) => b.address).join(',')}`;
  const channel = createChannel(target, creds);
  // No interceptor here: the metadata's context is the only thing telling the picker what to avoid.
  const c = new EchoClient(target, creds, { channelOverride: channel });
  try {
    const avoidKey = `${bs[0]!.address}#`;
    const picks: PickExplanation[] = [];
    const md = new Metadata();
    setAttemptPickContext(md, { avoid: new Set([avoidKey]), onPick: (p) => picks.push(p) });
    const cold = await call(c, md); // first call on the channel: queued until connected
    assert.equal(cold.server_id, 'ctx-2');
    assert.equal(picks.length, 1);
    assert.equal(picks[0]!.endpointKey, `${bs[1]!.address}#`);
    assert.equal(picks[0]!.address, bs[1]!.address);
    assert.match(picks[0]!.reason, /\S/);
    for (let i = 0; i < 20; i++) {
      const warmPicks: PickExplanation[] = [];
      const m = new Metadata();
      setAttemptPickContext(m, { avoid: new Set([avoidKey]), onPick: (p) => warmPicks.push(p) });
      const r = await call(c, m);
      assert.equal(r.server_id, 'ctx-2');
      assert.equal(warmPicks.length, 1);
    }
  } finally {
    c.close();
    channel.close();
  }
});
