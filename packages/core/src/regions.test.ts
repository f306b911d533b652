/**
 * The region tier above zones (fake clock): zones of the caller's region open before any other region's, even
 * when a remote region has more spare capacity; with the local zone gone, calls stay in the region while one of
 * its zones is READY, and only then use every zone. Region names come from the endpoints or from zone names.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeClock, createSeededRandom } from '@fairway/testing';
import { createBalancer, type BalancerOptions, type EndpointInfo, type PickHandle } from './index.js';
import { regionOfZone } from './endpoint-state.js';

/** eu-west-1a x2 (local), eu-west-1b x2, us-east-1a x4, us-east-1b x4: all READY, answered at 10 ms. */
function twoRegions(options: BalancerOptions = {}, extra: Partial<EndpointInfo> = {}) {
  const clock = createFakeClock();
  const b = createBalancer({ clientZone: 'eu-west-1a', zoneProbeIntervalMs: Infinity, ...options } as BalancerOptions);
  const zones = ['eu-west-1a', 'eu-west-1a', 'eu-west-1b', 'eu-west-1b', 'us-east-1a', 'us-east-1a', 'us-east-1a', 'us-east-1a', 'us-east-1b', 'us-east-1b', 'us-east-1b', 'us-east-1b'];
  const keys = b.update(zones.map((zone, i) => ({ address: `10.0.0.${i}:50051`, zone, ...extra })), 0).added;
  for (const k of keys) b.setReady(k, true, 0);
  const random = createSeededRandom(18);
  for (const k of keys) b.pick(0, random, new Set(keys.filter((x) => x !== k)))!.release({ kind: 'success', latencyMs: 10 }, 0);
  const zoneOf = new Map(keys.map((k, i) => [k, zones[i]!]));
  const hold = (n: number): PickHandle[] => Array.from({ length: n }, () => b.pick(clock.now(), random)!);
  return { b, clock, keys, zoneOf, hold, random, zones };
}

describe('region tier', () => {
  test('region names from zone names (AWS, GCP, Azure); anything else is its own region', () => {
    assert.equal(regionOfZone('eu-west-1a'), 'eu-west-1');
    assert.equal(regionOfZone('europe-west1-b'), 'europe-west1');
    assert.equal(regionOfZone('eastus-1'), 'eastus');
    assert.equal(regionOfZone('zone-a'), 'zone-a');
    assert.equal(regionOfZone(''), '');
  });

  test('an overloaded local zone opens its region\'s other zone first, although the other region has more spare capacity', () => {
    const z = twoRegions();
    z.b.zoneMode(0);
    const held = z.hold(5); // 2.5 per local endpoint > 2
    z.clock.advance(1_000);
    assert.deepEqual(z.b.openedZones(z.clock.now()), ['eu-west-1b'], 'us-east-1a/b have 4 endpoints each, but are in another region');
    const more = z.hold(10); // eu pool 15 / 4 = 3.75 > 2: now another region opens
    z.clock.advance(1_000);
    assert.deepEqual(z.b.openedZones(z.clock.now()).slice(0, 2), ['eu-west-1b', 'us-east-1a']);
    [...held, ...more].forEach((h) => h.release({ kind: 'cancelled' }, z.clock.now()));
  });

  test('local zone gone: calls stay in the region; region gone: every zone', () => {
    const z = twoRegions();
    for (const k of z.keys.filter((k) => z.zoneOf.get(k) === 'eu-west-1a')) z.b.setReady(k, false, 0);
    const first = z.hold(40);
    assert.ok(first.every((h) => z.zoneOf.get(h.key) === 'eu-west-1b'), `in-region: ${[...new Set(first.map((h) => z.zoneOf.get(h.key)))].join(',')}`);
    assert.equal(z.b.zoneMode(0), 'all');
    for (const k of z.keys.filter((k) => z.zoneOf.get(k) === 'eu-west-1b')) z.b.setReady(k, false, 0);
    const second = z.hold(40);
    assert.ok(second.every((h) => z.zoneOf.get(h.key)!.startsWith('us-east-')), 'the region is gone: the other region serves');
    assert.equal(new Set(second.map((h) => z.zoneOf.get(h.key))).size, 2, 'both of its zones');
  });

  test('an endpoint\'s own region wins over its zone\'s name; clientRegion overrides the derived one', () => {
    // Every endpoint says it is in region "core": the caller (clientRegion core) sees one region of four zones.
    const z = twoRegions({ clientRegion: 'core' }, { region: 'core' });
    for (const k of z.keys.filter((k) => z.zoneOf.get(k) === 'eu-west-1a')) z.b.setReady(k, false, 0);
    const zones = new Set(z.hold(200).map((h) => z.zoneOf.get(h.key)));
    assert.deepEqual([...zones].sort(), ['eu-west-1b', 'us-east-1a', 'us-east-1b']);
  });
});
