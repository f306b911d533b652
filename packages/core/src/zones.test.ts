import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeClock, createSeededRandom } from '@fairway/testing';
import { createBalancer, type BalancerOptions, type PickHandle } from './index.js';

/** 2 endpoints in zone a, 2 in b, 4 in c; all READY and answered at 10 ms. */
function threeZones(options: BalancerOptions) {
  const clock = createFakeClock();
  const b = createBalancer({ clientZone: 'a', ...options });
  const zones = ['a', 'a', 'b', 'b', 'c', 'c', 'c', 'c'];
  const keys = b.update(zones.map((zone, i) => ({ address: `10.0.0.${i}:50051`, zone })), 0).added;
  for (const k of keys) b.setReady(k, true, 0);
  const random = createSeededRandom(21);
  for (const k of keys) b.pick(0, random, new Set(keys.filter((x) => x !== k)))!.release({ kind: 'success', latencyMs: 10 }, 0);
  const zoneOfKey = new Map(keys.map((k, i) => [k, zones[i]!]));
  const hold = (n: number): PickHandle[] => Array.from({ length: n }, () => b.pick(clock.now(), random)!);
  const releaseAll = (hs: PickHandle[]): void => hs.forEach((h) => h.release({ kind: 'cancelled' }, clock.now()));
  return { b, clock, keys, zoneOfKey, hold, releaseAll, random };
}

describe('zone selection (fake clock, exact thresholds)', { timeout: 30_000 }, () => {
  test('opens other zones when the time-averaged load passes HIGH, by spare capacity; closes below LOW', () => {
    const changes: string[] = [];
    const z = threeZones({ onZoneModeChange: (from, to, why) => changes.push(`${from}->${to}: ${why}`) });
    assert.equal(z.b.zoneMode(0), 'local');
    const held = z.hold(5); // 2.5 in flight per local endpoint
    assert.ok(held.every((h) => z.zoneOfKey.get(h.key) === 'a' && h.explanation.zoneMode === 'local'));
    z.clock.advance(999);
    assert.equal(z.b.zoneMode(z.clock.now()), 'local', 'not evaluated before the interval');
    z.clock.advance(1);
    assert.equal(z.b.zoneMode(z.clock.now()), 'spill');
    assert.deepEqual(z.b.openedZones(z.clock.now()), ['c'], 'c has the most spare capacity (4 x 2.0 > 2 x 2.0)');
    assert.match(changes[0]!, /local->spill: load 2\.50 > high 2: opened c/);
    const h = z.b.pick(z.clock.now(), z.random)!;
    assert.equal(h.explanation.zoneMode, 'spill');
    z.releaseAll([h, ...held]);
    z.clock.advance(1_000);
    assert.equal(z.b.zoneMode(z.clock.now()), 'local');
    assert.match(changes[1]!, /spill->local: closed c \(projected load 0\.00 < low 0\.8\)/);
    assert.equal(z.b.zoneModeChanges, 2);
  });

  test('zoneOrder opens the nearest zone first, and only as many as needed', () => {
    const z = threeZones({ zoneOrder: ['b', 'c'] });
    z.b.zoneMode(0);
    const held = z.hold(5);
    z.clock.advance(1_000);
    assert.deepEqual(z.b.openedZones(z.clock.now()), ['b'], 'projected 5 / 4 = 1.25 <= 2: one zone is enough');
    z.releaseAll(held);
    const more = z.hold(14); // pool a+b: 14 / 4 = 3.5 > 2 -> also c (14 / 8 = 1.75)
    z.clock.advance(1_000);
    assert.deepEqual(z.b.openedZones(z.clock.now()), ['b', 'c']);
    z.releaseAll(more);
  });

  test('the load is a time average: a short burst does not open zones', () => {
    const z = threeZones({});
    z.b.zoneMode(0);
    const burst = z.hold(8); // 4 per local endpoint, but only for 100 ms of the second
    z.clock.advance(100);
    z.releaseAll(burst);
    z.clock.advance(900);
    assert.equal(z.b.zoneMode(z.clock.now()), 'local', 'average 8 x 0.1 / 2 = 0.4');
  });

  test('hysteresis: steady demand between the thresholds never changes mode', () => {
    const z = threeZones({});
    z.b.zoneMode(0);
    let held = z.hold(6); // 3 per local endpoint: opens c (6 / 6 = 1.0 after)
    for (let i = 0; i < 30; i++) {
      z.clock.advance(1_000);
      z.b.zoneMode(z.clock.now());
      // Keep the demand steady at 6 in flight, wherever the picker put them.
      z.releaseAll(held);
      held = z.hold(6);
    }
    assert.equal(z.b.zoneMode(z.clock.now()), 'spill');
    assert.equal(z.b.zoneModeChanges, 1, 'opened once; 6 / 2 = 3.0 without c is not < 0.8, so it stays open');
    z.releaseAll(held);
  });

  test('local zone without a READY endpoint switches to all at the pick, then returns through spill', () => {
    const z = threeZones({});
    const local = z.keys.filter((k) => z.zoneOfKey.get(k) === 'a');
    assert.equal(z.b.zoneMode(0), 'local');
    for (const k of local) z.b.setReady(k, false, 0);
    const h = z.b.pick(0, z.random)!;
    assert.equal(h.explanation.zoneMode, 'all');
    assert.notEqual(z.zoneOfKey.get(h.key), 'a');
    h.release({ kind: 'cancelled' }, 0);
    z.clock.advance(10);
    for (const k of local) z.b.setReady(k, true, z.clock.now());
    assert.equal(z.b.zoneMode(z.clock.now()), 'spill', 'every zone open while the local zone takes over');
    z.clock.advance(1_000);
    assert.equal(z.b.zoneMode(z.clock.now()), 'local', 'no load: all zones close');
    assert.equal(z.b.zoneModeChanges, 3);
  });

  test('zone-blind: no client zone, or endpoints without zones', () => {
    const blind = createBalancer();
    for (const k of blind.update([{ address: 'a:1', zone: 'x' }, { address: 'b:1', zone: 'y' }], 0).added) blind.setReady(k, true, 0);
    assert.equal(blind.zoneMode(0), 'all');
    assert.equal(blind.pick(0, createSeededRandom(1))!.explanation.zoneMode, 'all');
    const zoneless = createBalancer({ clientZone: 'x' });
    for (const k of zoneless.update([{ address: 'a:1' }, { address: 'b:1' }], 0).added) zoneless.setReady(k, true, 0);
    const h = zoneless.pick(0, createSeededRandom(1))!;
    assert.equal(h.explanation.zoneMode, 'all');
    assert.equal(h.explanation.clientZone, 'x');
    assert.equal(zoneless.zoneModeChanges, 0, 'the first determination is not a change');
  });

  test('an observer that throws does not break picking', () => {
    const z = threeZones({ onZoneModeChange: () => { throw new Error('observer bug'); } });
    z.b.zoneMode(0);
    for (const k of z.keys.filter((x) => z.zoneOfKey.get(x) === 'a')) z.b.setReady(k, false, 0);
    assert.ok(z.b.pick(0, z.random));
    assert.equal(z.b.zoneModeChanges, 1);
  });
  test('every local endpoint replaced at once (a rolling update of the local zone) keeps picking', () => {
    const clock = createFakeClock();
    const b = createBalancer({ clientZone: 'a' });
    const random = createSeededRandom(5);
    const old = b.update([{ address: '10.0.0.1:1', zone: 'a' }, { address: '10.0.0.2:1', zone: 'b' }], 0).added;
    for (const k of old) b.setReady(k, true, 0);
    b.pick(clock.now(), random)!.release({ kind: 'success', latencyMs: 5 }, clock.now());
    clock.advance(2_000);
    // The only local endpoint goes away and a new one arrives: the local zone group is dropped and re-created.
    const next = b.update([{ address: '10.0.0.3:1', zone: 'a' }, { address: '10.0.0.2:1', zone: 'b' }], clock.now());
    for (const k of next.added) b.setReady(k, true, clock.now());
    for (let i = 0; i < 50; i++) {
      const h = b.pick(clock.now(), random);
      assert.ok(h, 'a READY endpoint exists, so pick must succeed');
      h.release({ kind: 'success', latencyMs: 5 }, clock.now());
      clock.advance(10);
    }
  });
});
