/**
 * Statistical simulations of the balancer (Finagle's style): >= 100 nodes or >= 100,000 picks, a seeded
 * random, a simulated clock and a closed loop of callers (see `test-support/closed-loop.ts`). Tolerances
 * are stated per test; the seeds are fixed, so a run is reproducible.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSeededRandom } from '@fairway/testing';
import { createBalancer, type Balancer, type BalancerOptions, type EndpointInfo } from './index.js';
import { runClosedLoop } from './test-support/closed-loop.js';

function setup(n: number, options: BalancerOptions = {}, zoneOf?: (i: number) => string): { b: Balancer; keys: string[] } {
  const b = createBalancer(options);
  const eps: EndpointInfo[] = Array.from({ length: n }, (_, i) => ({
    address: `10.0.${i >> 8}.${i & 255}:50051`,
    ...(zoneOf ? { zone: zoneOf(i) } : {}),
  }));
  const keys = b.update(eps, 0).added;
  for (const k of keys) b.setReady(k, true, 0);
  return { b, keys };
}

describe('p2c + peak-EWMA simulations', { timeout: 60_000 }, () => {
  test('100 equal nodes, 100,000 picks: every node within 15% of the mean', () => {
    const { b, keys } = setup(100);
    const random = createSeededRandom(1);
    const res = runClosedLoop({ balancer: b, random, picks: 100_000, concurrency: () => 100, latencyMs: () => 5 + 10 * random() });
    const counts = keys.map((k) => res.picks.get(k) ?? 0);
    assert.equal(res.failedPicks, 0);
    for (const c of counts) assert.ok(c > 850 && c < 1150, `min ${Math.min(...counts)} max ${Math.max(...counts)}`);
  });

  // Inverse proportionality would give 4:2:1. p2c bounds what the fastest tier can take (a node is a
  // candidate in only 2/n of the picks), so its lead is compressed: measured 1.6 and 2.3-2.4 per doubling
  // over seeds 2-4 and concurrency 30-200.
  test('load is about inversely proportional to latency: 10/20/40 ms tiers, each doubling 1.45x..3.2x fewer picks', () => {
    const { b, keys } = setup(99);
    const random = createSeededRandom(2);
    const tier = (k: string): number => keys.indexOf(k) % 3;
    const base = [10, 20, 40];
    const res = runClosedLoop({ balancer: b, random, picks: 100_000, concurrency: () => 100, latencyMs: (k) => base[tier(k)]! * (0.8 + 0.4 * random()) });
    const perTier = [0, 0, 0];
    for (const [k, n] of res.picks) perTier[tier(k)]! += n;
    const r1 = perTier[0]! / perTier[1]!;
    const r2 = perTier[1]! / perTier[2]!;
    console.log(`picks per tier 10/20/40 ms: ${perTier.join(' / ')} (ratios ${r1.toFixed(2)}, ${r2.toFixed(2)})`);
    assert.ok(r1 > 1.45 && r1 < 3.2, `10 ms vs 20 ms: ${r1}`);
    assert.ok(r2 > 1.45 && r2 < 3.2, `20 ms vs 40 ms: ${r2}`);
  });

  test('a new node is probed exactly once until its first answer', () => {
    const { b } = setup(100);
    const random = createSeededRandom(3);
    const newcomer = { address: '10.9.9.9:50051' };
    let newKey = '';
    let joinedAt = -1;
    let answeredAt = Infinity;
    let picksWhileProbing = 0;
    let picksAfter = 0;
    const res = runClosedLoop({
      balancer: b,
      random,
      picks: 120_000,
      concurrency: () => 100,
      latencyMs: (k, now) => {
        if (k !== newKey) return 5 + 10 * random();
        if (answeredAt === Infinity) return (answeredAt = now + 2_000) - now; // first call: 2 s
        return 5 + 10 * random();
      },
      onPick: (k, now) => {
        if (k !== newKey) return;
        if (now < answeredAt) picksWhileProbing++;
        else picksAfter++;
      },
      onTick: (now) => {
        if (joinedAt < 0 && now >= 3_000) {
          joinedAt = now;
          const r = b.update([...b.snapshot(now).map((s) => ({ address: s.address })), newcomer], now);
          newKey = r.added[0]!;
          b.setReady(newKey, true, now);
        }
      },
    });
    assert.ok(joinedAt > 0 && answeredAt < res.endMs, 'the probe answered within the run');
    assert.equal(picksWhileProbing, 1, 'one probe while its first call is out (about 20,000 picks meanwhile)');
    assert.ok(picksAfter > 100, `after its first answer it takes its share: ${picksAfter}`);
  });

  test('10 nodes, one 10x slower: it gets <= 3% of 100,000 picks (and is still probed)', () => {
    for (const concurrency of [1, 10, 40]) {
      const { b, keys } = setup(10);
      const random = createSeededRandom(4);
      const slow = keys[0]!;
      const res = runClosedLoop({ balancer: b, random, picks: 100_000, concurrency: () => concurrency, latencyMs: (k) => (k === slow ? 100 : 10) * (0.8 + 0.4 * random()) });
      const share = (res.picks.get(slow) ?? 0) / 100_000;
      assert.ok(share <= 0.03, `concurrency ${concurrency}: slow node share ${share}`);
      assert.ok((res.picks.get(slow) ?? 0) >= 2, `concurrency ${concurrency}: the slow node is not starved forever`);
    }
  });

  test('a lone 1 s spike on a 10 ms node stops deterring picks within the stated bound (6.9 s; tower ~46 s)', () => {
    const { b, keys } = setup(10);
    const random = createSeededRandom(5);
    const x = keys[0]!;
    let spikeAnsweredAt = -1;
    let spiked = false;
    let recoveredAt = -1;
    let windowPicks = 0;
    let windowTotal = 0;
    runClosedLoop({
      balancer: b,
      random,
      picks: 60_000,
      concurrency: () => 5,
      latencyMs: (k, now) => {
        if (k === x && !spiked && now >= 5_000) {
          spiked = true;
          spikeAnsweredAt = now + 1_000;
          return 1_000;
        }
        return 10 * (0.9 + 0.2 * random());
      },
      onPick: (k, now) => {
        if (recoveredAt >= 0 && now >= recoveredAt && now < recoveredAt + 5_000) {
          windowTotal++;
          if (k === x) windowPicks++;
        }
      },
      tickMs: 1,
      onTick: (now) => {
        if (spikeAnsweredAt >= 0 && now > spikeAnsweredAt && recoveredAt < 0) {
          if (b.snapshot(now).find((s) => s.key === x)!.rttEstimateMs < 20) recoveredAt = now;
        }
      },
    });
    const took = recoveredAt - spikeAnsweredAt;
    console.log(`estimate back under 20 ms ${took} ms after the 1 s answer; share over the next 5 s ${(windowPicks / windowTotal).toFixed(3)}`);
    assert.ok(recoveredAt > 0 && took <= 6_932, `took ${took} ms`);
    assert.ok(windowPicks / windowTotal > 0.06, `share after recovery ${windowPicks / windowTotal} (fair 0.10)`);
  });
});

describe('recovery from a stall of many samples (recovery probes)', { timeout: 60_000 }, () => {
  /**
   * 10 nodes, 5 callers; from 5 s to 10 s every attempt on node x times out after 500 ms, then x is healthy
   * again. Returns how long after the stall ended x's share of picks over a 1 s window is back above 6 %
   * (fair: 10 %), or Infinity within the 60 s run.
   */
  function recoveryAfterStall(options: BalancerOptions): number {
    const { b, keys } = setup(10, options);
    const random = createSeededRandom(6);
    const x = keys[0]!;
    const stalled = (k: string, at: number) => k === x && at >= 5_000 && at < 10_000;
    const windowPicks: number[] = []; // picks of x per 1 s window after the stall
    const windowTotals: number[] = [];
    runClosedLoop({
      balancer: b,
      random,
      picks: 40_000,
      concurrency: () => 5,
      latencyMs: (k, now) => (stalled(k, now) ? 500 : 10 * (0.9 + 0.2 * random())),
      outcome: (k, startedMs) => (stalled(k, startedMs) ? 'timeout' : 'success'),
      onPick: (k, now) => {
        if (now < 10_000) return;
        const w = Math.floor((now - 10_000) / 1_000);
        windowTotals[w] = (windowTotals[w] ?? 0) + 1;
        if (k === x) windowPicks[w] = (windowPicks[w] ?? 0) + 1;
      },
    });
    for (let w = 0; w < windowTotals.length; w++) if ((windowPicks[w] ?? 0) / windowTotals[w]! > 0.06) return w * 1_000;
    return Infinity;
  }

  test('a 5 s stall (every attempt times out): back to a fair share within 4 s of its end; without probes (tower) > 25 s', () => {
    // Ejection off: this measures the recovery probes alone (with ejection on, five timeouts in a row eject the
    // endpoint, and its return is the ejection's business: see the ejection simulations).
    const withProbes = recoveryAfterStall({ ejection: false });
    const towerLike = recoveryAfterStall({ recoveryProbeMs: Infinity, ejection: false });
    console.log(`back above a 6 % share ${withProbes} ms after the stall ended; without recovery probes ${towerLike} ms`);
    // Probes after the first timeouts (~5.5 s) at +0.25 s, then waits of 0.5, 1 and 2 s while the stall lasts
    // (each probe times out after 500 ms): the next wait, 4 s at most, ends by ~14 s with a normal answer.
    assert.ok(withProbes <= 4_000, `with probes: ${withProbes} ms`);
    assert.ok(towerLike > 25_000, `without probes: ${towerLike} ms`);
  });
});

describe('zone simulations (HAZL band 0.8..2.0, 120 nodes in 3 zones)', { timeout: 60_000 }, () => {
  const zoneOf = (i: number): string => ['a', 'b', 'c'][i % 3]!;
  const zones = (keys: string[]): Map<string, string> => new Map(keys.map((k, i) => [k, zoneOf(i)]));
  const latency = (z: string | undefined, random: () => number): number => (z === 'a' ? 20 : 24) * (0.8 + 0.4 * random());

  test('>= 95% of picks stay in-zone while the local zone is healthy', () => {
    const { b, keys } = setup(120, { clientZone: 'a' }, zoneOf);
    const zk = zones(keys);
    const random = createSeededRandom(6);
    let local = 0;
    let total = 0;
    runClosedLoop({
      balancer: b, random, picks: 100_000, concurrency: () => 50, latencyMs: (k) => latency(zk.get(k), random),
      onPick: (k) => { total++; if (zk.get(k) === 'a') local++; },
    });
    assert.ok(local / total >= 0.95, `in-zone share ${local / total}`);
    assert.equal(b.zoneModeChanges, 0);
  });

  test('spills when the local zone is overloaded, in proportion to spare capacity, and returns when it recovers', () => {
    const changes: string[] = [];
    const { b, keys } = setup(120, { clientZone: 'a', onZoneModeChange: (f, t, why) => changes.push(`${f}->${t}: ${why}`) }, zoneOf);
    const zk = zones(keys);
    const random = createSeededRandom(7);
    const demand = (t: number): number => (t < 10_000 ? 40 : t < 20_000 ? 200 : 20); // per local endpoint: 1.0, 5.0, 0.5
    const remoteShare = [0, 0, 0].map(() => ({ remote: 0, total: 0 }));
    const modes: string[] = [];
    runClosedLoop({
      balancer: b, random, picks: 200_000, concurrency: demand, latencyMs: (k) => latency(zk.get(k), random),
      onPick: (k, t) => {
        const phase = t < 10_000 ? 0 : t >= 12_000 && t < 20_000 ? 1 : t >= 24_000 ? 2 : -1;
        if (phase < 0) return;
        remoteShare[phase]!.total++;
        if (zk.get(k) !== 'a') remoteShare[phase]!.remote++;
      },
      onTick: (t) => { if (t % 1_000 === 0 && t <= 30_000) modes.push(`${t / 1000}:${b.zoneMode(t)}`); },
    });
    const share = remoteShare.map((s) => s.remote / s.total);
    console.log(`remote share before / during / after overload: ${share.map((x) => x.toFixed(3)).join(' / ')}; ${modes.join(' ')}`);
    console.log(changes.join('\n'));
    assert.ok(share[0]! <= 0.05, 'local while healthy');
    assert.ok(share[1]! >= 0.4, `spilled while overloaded: ${share[1]}`);
    assert.ok(share[2]! <= 0.05, `back to local after recovery: ${share[2]}`);
    assert.ok(modes.includes('12:spill'), modes.join(' '));
    assert.ok(modes.includes('24:local'), modes.join(' '));
    assert.ok(b.zoneModeChanges <= 4, `mode changes ${b.zoneModeChanges}`);
  });

  test('no flapping: demand oscillating around the HIGH edge and across the band changes mode at most twice', () => {
    for (const [lo, hi] of [[72, 88], [30, 90]] as const) {
      const { b, keys } = setup(120, { clientZone: 'a' }, zoneOf);
      const zk = zones(keys);
      const random = createSeededRandom(8);
      const res = runClosedLoop({
        balancer: b, random, picks: 200_000,
        concurrency: (t) => (Math.floor(t / 700) % 2 === 0 ? lo : hi), // flips every 0.7 s
        latencyMs: (k) => latency(zk.get(k), random),
      });
      assert.ok(res.endMs > 40_000, `simulated ${res.endMs} ms`);
      assert.ok(b.zoneModeChanges <= 2, `${lo}..${hi}: ${b.zoneModeChanges} mode changes in ${res.endMs} ms`);
    }
  });

  test('local zone all not READY: "all" at once, no failed pick; back to local after it recovers', () => {
    const { b, keys } = setup(120, { clientZone: 'a' }, zoneOf);
    const zk = zones(keys);
    const localKeys = keys.filter((k) => zk.get(k) === 'a');
    const random = createSeededRandom(9);
    let wrongZoneWhileDown = 0;
    let down = false;
    const modes: string[] = [];
    const res = runClosedLoop({
      balancer: b, random, picks: 60_000, concurrency: () => 30, latencyMs: (k) => latency(zk.get(k), random),
      onPick: (k, _t, h) => {
        if (down && zk.get(k) === 'a') wrongZoneWhileDown++;
        if (down) assert.equal(h.explanation.zoneMode, 'all');
      },
      onTick: (t) => {
        if (t === 5_000) {
          for (const k of localKeys) b.setReady(k, false, t);
          down = true;
          assert.equal(b.zoneMode(t), 'all');
        }
        if (t === 10_000) {
          for (const k of localKeys) b.setReady(k, true, t);
          down = false;
        }
        if (t % 1_000 === 0) modes.push(b.zoneMode(t));
      },
    });
    assert.equal(res.failedPicks, 0);
    assert.equal(wrongZoneWhileDown, 0);
    assert.equal(modes[7], 'all');
    assert.equal(modes[modes.length - 1], 'local', modes.join(' '));
  });
});

describe('zone simulation by latency: B3 on 9 nodes (3 zones x 3, client in a, +1 ms across zones)', { timeout: 60_000 }, () => {
  const zoneOf = (i: number): string => ['a', 'b', 'c'][Math.floor(i / 3)]!;
  // Phase 1 healthy (0-10 s); phase 2 zone a 5x slower, not overloaded (10-25 s); phase 3 zone a killed at 25 s,
  // back at 30 s; end at 40 s. Three callers: 1.0 in flight per local endpoint, inside the band (0.8 .. 2.0).
  const run = (clientZone: string | undefined) => {
    const changes: string[] = [];
    const { b, keys } = setup(9, { ...(clientZone ? { clientZone } : {}), onZoneModeChange: (f, t, why) => changes.push(`${f}->${t}: ${why}`) }, zoneOf);
    const zk = new Map(keys.map((k, i) => [k, zoneOf(i)]));
    const localKeys = keys.filter((k) => zk.get(k) === 'a');
    const random = createSeededRandom(13);
    const perSecond: Array<{ local: number; total: number; latencySum: number }> = [];
    let failedAtKill = 0;
    const res = runClosedLoop({
      balancer: b, random, picks: 1_000_000, untilMs: 40_000, concurrency: () => 3,
      latencyMs: (k, t) => {
        const base = 2 * (0.8 + 0.4 * random());
        const ms = zk.get(k) === 'a' ? (t >= 10_000 && t < 25_000 ? 5 * base : base) : base + 1;
        const s = (perSecond[Math.floor(t / 1000)] ??= { local: 0, total: 0, latencySum: 0 });
        s.latencySum += ms;
        return ms;
      },
      onPick: (k, t) => {
        const s = (perSecond[Math.floor(t / 1000)] ??= { local: 0, total: 0, latencySum: 0 });
        s.total++;
        if (zk.get(k) === 'a') s.local++;
        if (t >= 25_000 && t < 30_000 && zk.get(k) === 'a') failedAtKill++;
      },
      onTick: (t) => {
        if (t === 25_000) for (const k of localKeys) b.setReady(k, false, t);
        if (t === 30_000) for (const k of localKeys) b.setReady(k, true, t);
      },
    });
    const share = (from: number, to: number): number => {
      let l = 0;
      let n = 0;
      for (let s = from; s < to; s++) ((l += perSecond[s]?.local ?? 0), (n += perSecond[s]?.total ?? 0));
      return l / n;
    };
    const meanLatency = (from: number, to: number): number => {
      let sum = 0;
      let n = 0;
      for (let s = from; s < to; s++) ((sum += perSecond[s]?.latencySum ?? 0), (n += perSecond[s]?.total ?? 0));
      return sum / n;
    };
    return { b, res, changes, share, meanLatency, perSecond, failedAtKill };
  };

  test('phase 1 stays in zone; phase 2 spills and costs no more than zone-blind; phase 3 is back >= 95 % in zone within 5 s', () => {
    const zoned = run('a');
    const blind = run(undefined);
    const secondsBack = zoned.perSecond.slice(30, 40).map((s) => (s.local / s.total).toFixed(2));
    console.log(`B3 sim: in-zone phase 1 ${zoned.share(1, 10).toFixed(3)}, phase 2 ${zoned.share(12, 25).toFixed(3)}, per second after the return ${secondsBack.join(' ')}`);
    console.log(`B3 sim: phase 2 mean latency ${zoned.meanLatency(12, 25).toFixed(2)} ms vs zone-blind ${blind.meanLatency(12, 25).toFixed(2)} ms`);
    console.log(zoned.changes.join('\n'));
    assert.ok(zoned.res.endMs >= 39_990, `simulated ${zoned.res.endMs} ms`);
    assert.equal(zoned.res.failedPicks, 0);
    assert.equal(zoned.failedAtKill, 0, 'no pick to zone a while it is gone');
    assert.ok(zoned.share(1, 10) >= 0.95, `phase 1 in-zone ${zoned.share(1, 10)}`);
    assert.ok(zoned.share(12, 25) <= 0.3, `phase 2 in-zone ${zoned.share(12, 25)}: the slow zone keeps little`);
    assert.ok(zoned.meanLatency(12, 25) <= 1.2 * blind.meanLatency(12, 25), 'phase 2 latency within 1.2x zone-blind');
    assert.ok(zoned.share(35, 40) >= 0.95, `in-zone from 5 s after the return: ${zoned.share(35, 40)}`);
    assert.ok(zoned.changes.length <= 5, `mode changes: ${zoned.changes.length}`);
  });

  test('no flapping under a steady demand: a slow local zone spills once and stays spilled while it is slow', () => {
    const changes: string[] = [];
    const { b, keys } = setup(9, { clientZone: 'a', onZoneModeChange: (f, t, why) => changes.push(`${f}->${t}: ${why}`) }, zoneOf);
    const zk = new Map(keys.map((k, i) => [k, zoneOf(i)]));
    const random = createSeededRandom(14);
    const res = runClosedLoop({
      balancer: b, random, picks: 1_000_000, untilMs: 120_000, concurrency: () => 3,
      latencyMs: (k) => 2 * (0.8 + 0.4 * random()) * (zk.get(k) === 'a' ? 5 : 1) + (zk.get(k) === 'a' ? 0 : 1),
    });
    assert.ok(res.endMs >= 119_990, `simulated ${res.endMs} ms`);
    assert.equal(b.zoneModeChanges, 1, changes.join('\n'));
  });
});

describe('outlier ejection simulations (B10 in miniature)', { timeout: 60_000 }, () => {
  /** 6 nodes, one answering UNAVAILABLE in 1 ms from the start; concurrency 30 of 10 ms calls. */
  function fastFailure(options: BalancerOptions, seed: number) {
    let ejectedAt = -1;
    const { b, keys } = setup(6, {
      slowStart: false,
      onEjection: (e) => {
        if (e.kind === 'ejected' && ejectedAt < 0) ejectedAt = now;
      },
      ...options,
    });
    const random = createSeededRandom(seed);
    const bad = keys[0]!;
    let now = 0;
    let failed = 0;
    let failedBeforeEjection = 0;
    let after1s = 0;
    let badAfter1s = 0;
    const res = runClosedLoop({
      balancer: b,
      random,
      picks: 150_000,
      concurrency: () => 30,
      latencyMs: (k) => (k === bad ? 1 : 10 * (0.8 + 0.4 * random())),
      outcome: (k) => (k === bad ? 'failure' : 'success'),
      onPick: (k, at) => {
        now = at;
        if (k === bad) {
          failed++;
          if (ejectedAt < 0) failedBeforeEjection++;
        }
        if (at >= 1_000) ((after1s += 1), (badAfter1s += k === bad ? 1 : 0));
      },
      onTick: (at) => {
        now = at;
      },
      tickMs: 1,
    });
    return { failed, failedBeforeEjection, ejectedAt, share: badAfter1s / after1s, endMs: res.endMs };
  }

  test('a node failing fast (1 ms) is ejected at its 5th failure; its share after 1 s <= 1 %; after that only probes reach it', () => {
    for (const seed of [1, 2, 3]) {
      const r = fastFailure({}, seed);
      const off = fastFailure({ ejection: false }, seed);
      console.log(
        `seed ${seed}: ejected at ${r.ejectedAt} ms, failed ${r.failed} (${r.failedBeforeEjection} before ejection) over ${r.endMs.toFixed(0)} ms, share after 1 s ${(100 * r.share).toFixed(3)} %; ejection off (penalty only): failed ${off.failed}, share ${(100 * off.share).toFixed(3)} %`,
      );
      assert.ok(r.ejectedAt >= 0 && r.ejectedAt <= 1_000, `ejected within 1 s: ${r.ejectedAt}`);
      assert.ok(r.share <= 0.01, `share after 1 s: ${r.share}`);
      // The threshold (5), plus calls picked while the 5th was in flight (concurrency 30).
      assert.ok(r.failedBeforeEjection >= 5 && r.failedBeforeEjection <= 8, `picked before the ejection: ${r.failedBeforeEjection}`);
      // After the ejection only re-admission probes go there: at +10, +20 (30), +30 (60) s ... (growing).
      const probes = r.failed - r.failedBeforeEjection;
      assert.ok(probes <= 3, `probes within ${r.endMs.toFixed(0)} ms: ${probes}`);
      assert.ok(probes <= r.failedBeforeEjection, 'failed calls after the ejection <= those before');
    }
  });

  test('100 nodes, 15 failing: 10 ejected (the 10 % cap), never more, and picks never fail', () => {
    const { b, keys } = setup(100, { slowStart: false });
    const random = createSeededRandom(7);
    const failing = new Set(keys.slice(0, 15));
    let maxEjectedSeen = 0;
    const res = runClosedLoop({
      balancer: b,
      random,
      picks: 100_000,
      concurrency: () => 100,
      latencyMs: (k) => (failing.has(k) ? 1 : 10 * (0.8 + 0.4 * random())),
      outcome: (k) => (failing.has(k) ? 'failure' : 'success'),
      onTick: () => {
        maxEjectedSeen = Math.max(maxEjectedSeen, b.ejectedCount);
      },
    });
    assert.equal(res.failedPicks, 0);
    assert.equal(maxEjectedSeen, 10, 'the share cap (10 % of 100) is reached and held');
  });
});

/**
 * Pods of 4 slots, each serving its calls in arrival order on the slot that frees first. `serve(key, arrivalMs,
 * serviceMs)` returns when the call ends; `serviceMs` gets the number of calls the pod took before this one (a
 * cold start counts them).
 */
function fourSlotPods(): (key: string, arrivalMs: number, serviceMs: (callsBefore: number) => number) => number {
  const slots = new Map<string, number[]>();
  const served = new Map<string, number>();
  return (key, arrivalMs, serviceMs) => {
    let free = slots.get(key);
    if (free === undefined) slots.set(key, (free = [0, 0, 0, 0]));
    let i = 0;
    for (let j = 1; j < free.length; j++) if (free[j]! < free[i]!) i = j;
    const n = served.get(key) ?? 0;
    served.set(key, n + 1);
    const end = Math.max(arrivalMs, free[i]!) + serviceMs(n);
    free[i] = end;
    return end;
  };
}

describe('slow start simulations (B2 in miniature: rolling deploy with cold starts, pods with a capacity)', { timeout: 60_000 }, () => {
  /**
   * 6 pods of 4 slots each, service 5-15 ms (x3 for a pod's first 200 calls: a cold start); a closed loop of
   * 14 callers (~60 % utilization). From 10 s, every 5 s one pod is replaced by a new one on a new address.
   * Latency includes queueing at the pod (FIFO over its slots). Returns p99 before and during the deploy, and
   * the newest pod's share of the calls in its first second (fair: 1/6).
   */
  function rollingDeploy(options: BalancerOptions, seed: number) {
    const b = createBalancer({ ejection: false, ...options });
    const random = createSeededRandom(seed);
    let next = 0;
    const addr = () => `10.1.0.${next++}:50051`;
    let live = Array.from({ length: 6 }, addr);
    let newest = '';
    let replacedAt = -1;
    const sync = (now: number) => {
      const r = b.update(live.map((address) => ({ address })), now);
      for (const k of r.added) b.setReady(k, true, now);
      if (now > 0) ((newest = r.added[0]!), (replacedAt = now));
    };
    sync(0);
    const serve = fourSlotPods();
    const before: number[] = [];
    const during: number[] = [];
    let firstSecond = 0;
    let firstSecondNewest = 0;
    runClosedLoop({
      balancer: b,
      random,
      picks: 60_000,
      concurrency: () => 14,
      latencyMs: (k, now) => {
        const latency = serve(k, now, (n) => 10 * (0.5 + random()) * (n < 200 ? 3 : 1)) - now;
        if (now >= 3_000 && now < 10_000) before.push(latency);
        else if (now >= 10_000 && now < 40_000) during.push(latency);
        if (replacedAt >= 0 && now < replacedAt + 1_000) ((firstSecond += 1), (firstSecondNewest += k === newest ? 1 : 0));
        return latency;
      },
      onTick: (now) => {
        if (now >= 10_000 && now < 40_000 && now % 5_000 === 0) {
          live = [...live.slice(1), addr()];
          sync(now);
        }
      },
    });
    const p99 = (xs: number[]) => xs.sort((a, c) => a - c)[Math.floor(0.99 * (xs.length - 1))]!;
    return { before: p99(before), during: p99(during), newestShare: firstSecondNewest / firstSecond };
  }

  test('the newest pod takes less than its fair share in its first second, and p99 is no worse than without slow start', () => {
    for (const seed of [1, 2, 3]) {
      const on = rollingDeploy({}, seed);
      const off = rollingDeploy({ slowStart: false }, seed);
      console.log(
        `seed ${seed}: p99 during/before: slow start ${(on.during / on.before).toFixed(2)} (${on.before.toFixed(1)} -> ${on.during.toFixed(1)} ms), off ${(off.during / off.before).toFixed(2)}; newest pod's first-second share ${(100 * on.newestShare).toFixed(1)} % vs ${(100 * off.newestShare).toFixed(1)} % (fair 16.7 %)`,
      );
      assert.ok(on.newestShare < off.newestShare, 'slow start lowers the first-second share');
      assert.ok(on.newestShare < 1 / 6, 'below a fair share while cold');
      assert.ok(on.during <= off.during * 1.05, `p99 during the deploy: ${on.during} vs ${off.during} without`);
    }
  });
});

describe('a rolling deploy every 2 s (B2 in miniature: the imbalance goal, 6 pods of 4 slots, 64 callers)', { timeout: 60_000 }, () => {
  /**
   * B2's shape: 6 pods of 4 slots, service log-normal around 5 ms (sigma 0.5), a pod's first 200 calls 3x
   * slower (a cold start); a closed loop of 64 callers whose calls also spend 14 ms in the client (B2's client
   * is CPU-bound at ~3,000 calls/s, so the pods run at ~65 %). After 3 s, every 2 s one pod is replaced by a
   * new one on a new address, six times. Returns, for each replacement, the imbalance (busiest pod's calls /
   * a sixth of all) in the whole second that starts 1 s after it (B2's figure), and the p99 from 3 s on.
   */
  function deployEvery2s(options: BalancerOptions, seed: number) {
    const b = createBalancer({ ejection: false, ...options });
    const random = createSeededRandom(seed);
    const sigma = 0.5;
    const mu = Math.log(5) - (sigma * sigma) / 2;
    const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const clientMs = 14;
    let next = 0;
    const addr = () => `10.2.0.${next++}:50051`;
    let live = Array.from({ length: 6 }, addr);
    const isNew = new Set<string>();
    const sync = (now: number) => {
      const r = b.update(live.map((address) => ({ address })), now);
      for (const k of r.added) b.setReady(k, true, now);
      return r.added;
    };
    sync(0);
    const serve = fourSlotPods();
    const perSecond = new Map<number, Map<string, number>>();
    const replacedAt: number[] = [];
    const latencies: number[] = [];
    runClosedLoop({
      balancer: b,
      random,
      picks: 1_000_000,
      untilMs: 18_000,
      concurrency: () => 64,
      latencyMs: (k, now) => {
        const end = serve(k, now + clientMs / 2, (n) => Math.exp(mu + sigma * normal()) * (isNew.has(k) && n < 200 ? 3 : 1));
        const sec = Math.floor(now / 1_000);
        let counts = perSecond.get(sec);
        if (counts === undefined) perSecond.set(sec, (counts = new Map()));
        counts.set(k, (counts.get(k) ?? 0) + 1);
        if (now >= 3_000) latencies.push(end + clientMs / 2 - now);
        return end + clientMs / 2 - now;
      },
      onTick: (now) => {
        if (now >= 3_000 && now < 15_000 && (now - 3_000) % 2_000 === 0) {
          live = [...live.slice(1), addr()];
          for (const k of sync(now)) isNew.add(k);
          replacedAt.push(now);
        }
      },
    });
    const imbalance = replacedAt.map((t) => {
      const counts = [...perSecond.get(Math.floor((t + 1_000) / 1_000))!.values()];
      return Math.max(...counts) / (counts.reduce((a, c) => a + c, 0) / 6);
    });
    latencies.sort((a, c) => a - c);
    return { imbalance, worst: Math.max(...imbalance), p99: latencies[Math.floor(0.99 * (latencies.length - 1))]! };
  }

  test('ramps lifted together and young estimates that follow the warming answers keep every second within 1.3x fair', () => {
    const worst = { fairway: [] as number[], unlifted: [] as number[], off: [] as number[] };
    for (const seed of [1, 2, 3]) {
      const f = deployEvery2s({}, seed);
      const unlifted = deployEvery2s({ slowStart: { maxExtraLoadPercent: Infinity } }, seed);
      const off = deployEvery2s({ slowStart: false }, seed);
      const fmt = (r: { imbalance: number[]; p99: number }) => `${r.imbalance.map((x) => x.toFixed(2)).join(' ')} (p99 ${r.p99.toFixed(1)} ms)`;
      console.log(`seed ${seed}: imbalance 1-2 s after each replacement: Fairway ${fmt(f)}; ramps not lifted ${fmt(unlifted)}; slow start off ${fmt(off)}`);
      worst.fairway.push(f.worst);
      worst.unlifted.push(unlifted.worst);
      worst.off.push(off.worst);
      assert.ok(f.worst <= 1.3, `seed ${seed}: worst imbalance ${f.worst}`);
      // Unlifted, four overlapping ramps load the two old pods: the last replacements are the worst.
      assert.ok(unlifted.worst > f.worst + 0.05, `seed ${seed}: unlifted ${unlifted.worst} vs ${f.worst}`);
      assert.ok(f.p99 <= off.p99 * 1.05, `seed ${seed}: p99 ${f.p99} vs ${off.p99} without slow start`);
    }
    // Without slow start the cold pod's 10-s memory alone costs more than the lifted ramps do (1.29-1.34 here).
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
    assert.ok(mean(worst.fairway) < mean(worst.off), `mean worst ${mean(worst.fairway)} vs off ${mean(worst.off)}`);
  });
});

describe('open loop on pods with a capacity (B1 in miniature: 9 pods x 2 slots, log-normal service, Poisson arrivals)', { timeout: 120_000 }, () => {
  /**
   * 9 pods of 2 slots, service log-normal around 20 ms (sigma 0.5), Poisson arrivals at 630/s (70 % of the
   * fleet), 30 s simulated; a call waits in FIFO order for a slot of the pod it was sent to. `slowPod`: pod 4
   * serves 3x slower from 10 s to 20 s. Returns p50 and p99 of the calls sent after a 3-s warm-up. `ratePerMs`:
   * arrivals per ms (0.81 is B9's 90 %); `even`: one arrival every 1/rate ms, as the benchmarks' open loop sends,
   * instead of Poisson arrivals (many independent callers).
   */
  function openLoop(
    route: (nowMs: number) => { key: string; done(latencyMs: number, nowMs: number): void },
    keys: readonly string[],
    seed: number,
    slowPod: boolean,
    ratePerMs = 0.63,
    even = false,
  ) {
    const random = createSeededRandom(seed);
    const sigma = 0.5;
    const mu = Math.log(20) - (sigma * sigma) / 2;
    const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const freeAt = keys.map(() => [0, 0]);
    const pending: Array<{ at: number; done: () => void }> = [];
    const latencies: number[] = [];
    for (let t = 0; t < 30_000; ) {
      t += even ? 1 / ratePerMs : -Math.log(1 - random()) / ratePerMs;
      pending.sort((a, b) => a.at - b.at);
      while (pending.length > 0 && pending[0]!.at <= t) pending.shift()!.done();
      const r = route(t);
      const i = keys.indexOf(r.key);
      const slots = freeAt[i]!;
      const slot = slots[0]! <= slots[1]! ? 0 : 1;
      const service = Math.exp(mu + sigma * normal()) * (slowPod && i === 4 && t >= 10_000 && t < 20_000 ? 3 : 1);
      const end = Math.max(t, slots[slot]!) + service;
      slots[slot] = end;
      if (t >= 3_000) latencies.push(end - t);
      pending.push({ at: end, done: () => r.done(end - t, end) });
    }
    latencies.sort((a, b) => a - b);
    const q = (x: number) => latencies[Math.floor(x * (latencies.length - 1))]!;
    return { p50: q(0.5), p99: q(0.99) };
  }
  function fairway(seed: number, slowPod: boolean, ratePerMs?: number, even?: boolean) {
    const { b, keys } = setup(9, { ejection: false });
    const random = createSeededRandom(seed + 100);
    return openLoop((now) => {
      const h = b.pick(now, random)!;
      return { key: h.key, done: (latencyMs, t) => h.release({ kind: 'success', latencyMs }, t) };
    }, keys, seed, slowPod, ratePerMs, even);
  }
  function roundRobin(seed: number, slowPod: boolean, ratePerMs?: number, even?: boolean) {
    const { keys } = setup(9);
    let next = 0;
    return openLoop(() => ({ key: keys[next++ % keys.length]!, done: () => {} }), keys, seed, slowPod, ratePerMs, even);
  }
  /**
   * Join the shortest queue among `choices` pods drawn at random (all 9: HAProxy's `leastconn`), on exact
   * in-flight counts: the ideal a balancer of that many choices can reach, with no latency estimate at all.
   * `firstInTurn` (two choices only): the first candidate walks the pods in turn, the second is any other.
   */
  function shortestOf(choices: number, seed: number, ratePerMs: number, even: boolean, firstInTurn = false) {
    const { keys } = setup(9);
    const random = createSeededRandom(seed + 200);
    const inFlight = keys.map(() => 0);
    let turn = 0;
    return openLoop(() => {
      const order = keys.map((_, i) => i);
      for (let i = 0; i < choices; i++) {
        const j = i + Math.floor(random() * (order.length - i));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      if (firstInTurn) {
        order[0] = turn++ % order.length;
        order[1] = (order[0] + 1 + Math.floor(random() * (order.length - 1))) % order.length;
      }
      let best = order[0]!;
      for (let i = 1; i < choices; i++) if (inFlight[order[i]!]! < inFlight[best]!) best = order[i]!;
      inFlight[best]!++;
      return { key: keys[best]!, done: () => void inFlight[best]!-- };
    }, keys, seed, false, ratePerMs, even);
  }

  // Issue 13's item 3 in miniature. With equal pods p2c over peak-EWMA was behind round robin (p50 +9 %, p99 +5-11 %
  // over seeds 1-3) while every faster answer that agreed with the one before moved the estimate 25 % of the way to
  // it: equal pods' estimates then followed their last few answers, 1-3x apart from tail noise alone, and the cost
  // followed that spread into queues. Now that rule only ends a held lone spike (peak-ewma.ts), and the gap is
  // p50 +2.5-4.5 %, p99 within +-3 %; the slow-pod run's p99 fell too (73-77 -> 70-72 ms). The bounds hold today's
  // figures with a margin, so a change that brings the noise back fails here.
  test('equal pods: Fairway\'s p50 and p99 within 6 % of round robin\'s; a pod 3x slower for 10 s: Fairway\'s p99 far below round robin\'s', () => {
    for (const seed of [1, 2, 3]) {
      const f = fairway(seed, false);
      const rr = roundRobin(seed, false);
      const fs = fairway(seed, true);
      const rrs = roundRobin(seed, true);
      console.log(
        `seed ${seed}: equal pods p50/p99 Fairway ${f.p50.toFixed(1)}/${f.p99.toFixed(1)} ms, round robin ${rr.p50.toFixed(1)}/${rr.p99.toFixed(1)} ms; ` +
          `one pod 3x slower: Fairway ${fs.p50.toFixed(1)}/${fs.p99.toFixed(1)}, round robin ${rrs.p50.toFixed(1)}/${rrs.p99.toFixed(1)}`,
      );
      assert.ok(f.p50 <= rr.p50 * 1.06, `p50 ${f.p50} vs round robin ${rr.p50}`);
      assert.ok(f.p99 <= rr.p99 * 1.06, `p99 ${f.p99} vs round robin ${rr.p99}`);
      assert.ok(fs.p99 < rrs.p99 / 5, `slow pod: p99 ${fs.p99} vs round robin ${rrs.p99}`);
    }
  });

  // B9 in miniature (9 equal pods at 90 %): its goal, p99 <= 0.7x round_robin's, met by HAProxy's leastconn and
  // missed by every power-of-two balancer with uniform draws (Fairway 0.70-0.85x, HAProxy random(2) 0.70-0.84x
  // in the runs of 2026-12-06). Without I/O, on exact queue lengths (seeds 1-6): two uniform choices read
  // 0.55-0.75x round robin's p99 with Poisson arrivals and 0.68-0.81x with evenly spaced sends (the benchmark's
  // open loop, where round robin hands each pod perfectly regular arrivals), all nine 0.47-0.68x. Until
  // 2026-12-06 Fairway drew both candidates uniformly and sat 1-5 % above the ideal two uniform choices. Since
  // then its first candidate walks the pool in turn (p2c.ts): every pod is offered once per pass, as round robin
  // offers it, and the second candidate is still random. On exact queue lengths that takes two choices to
  // 0.50-0.69x (Poisson) and 0.63-0.75x (even), 4-10 % lower in every case; Fairway, on its estimates, reads
  // 0.53-0.73x and 0.65-0.78x: 2.5 % below the ideal two uniform choices on average (one case in twelve 0.6 %
  // above) and within 10 % of two choices with the first in turn. With uniform draws this test fails.
  test('90 % utilization: Fairway below the ideal two uniform choices on average, within 10 % of two with the first in turn; all nine do better', () => {
    const vsUniform: number[] = [];
    for (const even of [false, true]) {
      for (const seed of [1, 2, 3, 4, 5, 6]) {
        const rr = roundRobin(seed, false, 0.81, even);
        const f = fairway(seed, false, 0.81, even);
        const two = shortestOf(2, seed, 0.81, even);
        const inTurn = shortestOf(2, seed, 0.81, even, true);
        const all = shortestOf(9, seed, 0.81, even);
        const x = (p99: number) => `${p99.toFixed(1)} (${(p99 / rr.p99).toFixed(3)}x)`;
        console.log(
          `${even ? 'even sends' : 'Poisson'}, seed ${seed}: p99 round robin ${rr.p99.toFixed(1)} ms, Fairway ${x(f.p99)}, ` +
            `two uniform choices ${x(two.p99)}, two with the first in turn ${x(inTurn.p99)}, all nine ${x(all.p99)}`,
        );
        vsUniform.push(f.p99 / two.p99);
        assert.ok(f.p99 <= two.p99 * 1.03, `Fairway p99 ${f.p99} vs two uniform choices ${two.p99}`);
        assert.ok(f.p99 <= inTurn.p99 * 1.1, `Fairway p99 ${f.p99} vs two with the first in turn ${inTurn.p99}`);
        assert.ok(inTurn.p99 < two.p99, `first in turn ${inTurn.p99} vs uniform ${two.p99}`);
        assert.ok(all.p99 < inTurn.p99, `all nine ${all.p99} vs two choices ${inTurn.p99}`);
        assert.ok(f.p99 < rr.p99, `Fairway p99 ${f.p99} vs round robin ${rr.p99}`);
      }
    }
    // With uniform draws Fairway was 1-5 % above the ideal two uniform choices in every case; in turn it is 2.5 %
    // below on average (one case in twelve is a little above: the bound per case is 1.03x).
    const mean = vsUniform.reduce((a, v) => a + v, 0) / vsUniform.length;
    console.log(`Fairway / two uniform choices, mean over ${vsUniform.length} cases: ${mean.toFixed(3)}`);
    assert.ok(mean <= 0.99, `Fairway / two uniform choices, mean ${mean}`);
  });
});
