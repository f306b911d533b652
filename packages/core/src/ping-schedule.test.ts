import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createSeededRandom } from '@fairway/testing';
import { PingSchedule } from './ping-schedule.js';

const MIN = 300_000; // the servers' default minimum ping interval while they send nothing
const OPTIONS = { quietMs: 10_000, serverMinIntervalMs: MIN + 10_000, earlyPings: 2 };

// The ping policing of default-configured servers, as their sources implement it (grpc-go 1.85
// internal/transport/http2_server.go handlePing; C-core chttp2 ping_abuse_policy; grpc-java
// KeepAliveEnforcer), each with 2 strikes allowed and the strike count cleared by a server write.
interface ServerModel {
  readonly name: string;
  write(t: number): void;
  /** True when this ping makes the server send GOAWAY too_many_pings. */
  ping(t: number): boolean;
}
function grpcGo(): ServerModel {
  let reset = false;
  let lastPingAt = -Infinity;
  let strikes = 0;
  return {
    name: 'grpc-go',
    write: () => void (reset = true),
    ping(t) {
      const last = lastPingAt;
      lastPingAt = t;
      if (reset) {
        reset = false;
        strikes = 0;
        return false;
      }
      if (last + MIN > t) strikes++;
      return strikes > 2;
    },
  };
}
function cCore(): ServerModel {
  let lastRecv = -Infinity;
  let strikes = 0;
  return {
    name: 'C-core',
    write: () => ((lastRecv = -Infinity), (strikes = 0)),
    ping(t) {
      const nextAllowed = lastRecv + MIN;
      lastRecv = t;
      if (nextAllowed <= t) return false;
      strikes++;
      return strikes > 2;
    },
  };
}
function grpcJava(epoch: number): ServerModel {
  let lastValid = epoch;
  let strikes = 0;
  return {
    name: 'grpc-java',
    write: () => ((lastValid = epoch), (strikes = 0)),
    ping(t) {
      if (lastValid + MIN <= t) {
        lastValid = t;
        return false;
      }
      strikes++;
      return strikes > 2;
    },
  };
}

interface RunResult {
  goaway: string | undefined;
  pings: number[];
}

/**
 * One connection for `durationMs` with a call outstanding all along: the server writes at random (mean gap
 * `meanWriteGapMs`, Infinity = a silent stream); writes reach the client and pings reach the server after a
 * random delay of up to `maxDelayMs`. Steps of 50 ms.
 */
function run(seed: number, meanWriteGapMs: number, durationMs: number, maxDelayMs: number): RunResult {
  const rnd = createSeededRandom(seed);
  const servers = [grpcGo(), cCore(), grpcJava(0)];
  const schedule = new PingSchedule(OPTIONS, 0);
  schedule.setActive(true, 0);
  const toClient: number[] = []; // arrival times of server writes at the client
  const toServer: number[] = []; // arrival times of pings at the server
  const pings: number[] = [];
  let nextWrite = Number.isFinite(meanWriteGapMs) ? -Math.log(1 - rnd()) * meanWriteGapMs : Infinity;
  for (let t = 0; t <= durationMs; t += 50) {
    // Server side, in time order: writes and arriving pings of this step.
    const events: Array<{ at: number; kind: 'write' | 'ping' }> = [];
    while (nextWrite <= t) {
      events.push({ at: nextWrite, kind: 'write' });
      toClient.push(nextWrite + rnd() * maxDelayMs);
      nextWrite += -Math.log(1 - rnd()) * meanWriteGapMs;
    }
    for (let i = toServer.length - 1; i >= 0; i--) {
      if (toServer[i]! <= t) {
        events.push({ at: toServer[i]!, kind: 'ping' });
        toServer.splice(i, 1);
      }
    }
    events.sort((a, b) => a.at - b.at);
    for (const e of events) {
      for (const s of servers) {
        if (e.kind === 'write') s.write(e.at);
        else if (s.ping(e.at)) return { goaway: `${s.name} sent GOAWAY too_many_pings at ${e.at} ms (pings at ${pings.join(', ')})`, pings };
      }
    }
    // Client side.
    for (let i = toClient.length - 1; i >= 0; i--) {
      if (toClient[i]! <= t) {
        schedule.serverWrote(t);
        toClient.splice(i, 1);
      }
    }
    if (t >= schedule.nextPingAt()) {
      schedule.pingSent(t);
      pings.push(t);
      toServer.push(t + rnd() * maxDelayMs);
    }
  }
  return { goaway: undefined, pings };
}

describe('PingSchedule: early pings within what default-configured servers allow', () => {
  test('a silent stream: two pings after 10 s and 20 s of quiet, then one per 310 s', () => {
    const r = run(1, Infinity, 30 * 60_000, 20);
    assert.equal(r.goaway, undefined, r.goaway);
    assert.deepEqual(r.pings.slice(0, 4), [10_000, 20_000, 330_000, 640_000]);
  });

  test('no server model ever sends too_many_pings, whatever the server write pattern and delays (seeded)', () => {
    let scenarios = 0;
    for (const [g, meanGap] of [Infinity, 500, 4_000, 9_000, 12_000, 30_000, 120_000, 400_000].entries()) {
      for (const maxDelay of [0, 20, 1_000, 4_000]) {
        for (let seed = 1; seed <= 6; seed++) {
          const r = run(seed * 7919 + g * 104_729 + maxDelay, meanGap, 40 * 60_000, maxDelay);
          assert.equal(r.goaway, undefined, `mean write gap ${meanGap} ms, delay <= ${maxDelay} ms, seed ${seed}: ${r.goaway}`);
          scenarios++;
        }
      }
    }
    assert.equal(scenarios, 192);
  });

  test('pings stop when no call is outstanding and wait for quiet after calls start again', () => {
    const s = new PingSchedule(OPTIONS, 0);
    assert.equal(s.nextPingAt(), Infinity);
    s.setActive(true, 1_000);
    assert.equal(s.nextPingAt(), 11_000);
    s.serverWrote(5_000);
    assert.equal(s.nextPingAt(), 15_000);
    s.setActive(false, 6_000);
    assert.equal(s.nextPingAt(), Infinity);
  });

  test('a ping that may have crossed a server write still counts against the next stretch', () => {
    const s = new PingSchedule(OPTIONS, 0);
    s.setActive(true, 0);
    s.pingSent(10_000);
    s.pingSent(20_000);
    assert.equal(s.nextPingAt(), 330_000, 'budget spent: wait until a ping is surely allowed (310 s after the last)');
    s.serverWrote(21_000); // 1 s after the last ping: it may have reached the server after this write
    assert.equal(s.debugState().early, 1);
    assert.equal(s.nextPingAt(), 31_000, 'one early ping left');
    s.pingSent(31_000);
    assert.equal(s.nextPingAt(), 341_000);
    s.serverWrote(60_000); // long after the last ping: a fresh stretch
    assert.equal(s.debugState().early, 0);
    assert.equal(s.nextPingAt(), 70_000);
  });

  test('bad settings are refused with a message naming them', () => {
    assert.throws(() => new PingSchedule({ quietMs: 0, serverMinIntervalMs: 1, earlyPings: 2 }, 0), /quietMs/);
  });
});
