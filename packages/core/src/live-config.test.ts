import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyLiveConfig, formatLiveConfig, parseLiveConfig, EMPTY_LIVE_CONFIG } from './index.js';

test('a valid document: overrides by instance or address, instance first; others unchanged', () => {
  const r = parseLiveConfig('{"version":1,"endpoints":{"p-1":{"weight":0},"10.0.0.2:1":{"weight":2.5},"10.0.0.1:1":{"weight":9}}}');
  assert.ok(r.ok);
  const eps = [
    { address: '10.0.0.1:1', instance: 'p-1', weight: 1 },
    { address: '10.0.0.2:1', instance: 'p-2' },
    { address: '10.0.0.3:1', instance: 'p-3' },
  ];
  const out = applyLiveConfig(eps, r.config);
  assert.deepEqual(out.map((e) => e.weight), [0, 2.5, undefined]);
  assert.equal(out[2], eps[2], 'untouched endpoints are the same objects');
  assert.deepEqual(JSON.parse(formatLiveConfig(r.config)), { version: 1, endpoints: { 'p-1': { weight: 0 }, '10.0.0.2:1': { weight: 2.5 }, '10.0.0.1:1': { weight: 9 } } });
  assert.deepEqual(applyLiveConfig(eps, EMPTY_LIVE_CONFIG), eps);
  assert.ok(parseLiveConfig('{}').ok, 'an empty document is valid: no overrides');
});

test('a bad document is refused with the field and the value named', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['{{{ not json', '(document)', /not valid JSON/],
    ['[1]', '(document)', /must be a JSON object, got \[1\]/],
    ['{"decay":5}', 'decay', /unknown field/],
    ['{"version":2}', 'version', /must be 1, got 2/],
    ['{"endpoints":[]}', 'endpoints', /must be an object/],
    ['{"endpoints":{"p-1":{"weight":-1}}}', 'endpoints["p-1"].weight', /from 0 \(drain\) to 1000000, got -1/],
    ['{"endpoints":{"p-1":{"weight":"2"}}}', 'endpoints["p-1"].weight', /got "2"/],
    ['{"endpoints":{"p-1":{"weight":1e9}}}', 'endpoints["p-1"].weight', /got 1000000000/],
    ['{"endpoints":{"p-1":{"wieght":1}}}', 'endpoints["p-1"].wieght', /unknown field/],
    ['{"endpoints":{"p-1":3}}', 'endpoints["p-1"]', /must be an object/],
    ['{"endpoints":{"":{"weight":1}}}', 'endpoints[""]', /must not be empty/],
  ];
  for (const [text, field, message] of cases) {
    const r = parseLiveConfig(text);
    assert.equal(r.ok, false, text);
    if (r.ok) continue;
    assert.equal(r.error.field, field, text);
    assert.match(r.error.message, message, text);
    assert.ok(r.error.message.startsWith(field), `${text}: the message names the field first: ${r.error.message}`);
  }
});

test('balancer and retry sections: validated, kept as written', () => {
  const text = JSON.stringify({
    version: 1,
    balancer: { decayMs: 5000, zoneBandLow: 0.5, zoneBandHigh: 3, zoneLatencyRatio: 2, zoneOrder: ['b'], slowStart: { windowMs: 2000, maxExtraLoadPercent: 20 }, outlierEjection: false },
    retry: { attemptTimeoutMs: 200, methods: { 'trading.Pricer/Quote': { attemptTimeoutMs: 50, maxAttempts: 3 } }, hedging: { methods: ['trading.Pricer/Quote'] } },
  });
  const r = parseLiveConfig(text);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.config.balancer, { decayMs: 5000, zoneBandLow: 0.5, zoneBandHigh: 3, zoneLatencyRatio: 2, zoneOrder: ['b'], slowStart: { windowMs: 2000, maxExtraLoadPercent: 20 }, outlierEjection: false });
  assert.equal(r.config.retry?.defaults.attemptTimeoutMs, 200);
  assert.equal(r.config.retry?.methods.get('trading.Pricer/Quote')?.attemptTimeoutMs, 50);
  assert.ok(r.config.retry?.hedging?.methods.has('trading.Pricer/Quote'));
  const again = parseLiveConfig(formatLiveConfig(r.config));
  assert.ok(again.ok);
  assert.deepEqual(JSON.parse(formatLiveConfig(again.config)), JSON.parse(formatLiveConfig(r.config)), 'round-trips');
  const bare = parseLiveConfig('{"version":1}');
  assert.ok(bare.ok && bare.config.balancer === undefined && bare.config.retry === undefined, 'absent sections stay absent');
});

test('a bad balancer or retry section is refused naming the field and value', () => {
  const cases: Array<[unknown, string, RegExp]> = [
    [{ balancer: 3 }, 'balancer', /must be an object, got 3/],
    [{ balancer: { decay: 5 } }, 'balancer.decay', /unknown field/],
    [{ balancer: { decayMs: 0 } }, 'balancer.decayMs', /from 1 to 3600000, got 0/],
    [{ balancer: { zoneLatencyRatio: 1 } }, 'balancer.zoneLatencyRatio', /above 1 up to 100, got 1/],
    [{ balancer: { zoneBandLow: 3 } }, 'balancer.zoneBandLow', /below zoneBandHigh/],
    [{ balancer: { zoneOrder: 'a' } }, 'balancer.zoneOrder', /array of zone names, got "a"/],
    [{ balancer: { slowStart: { windowMs: -1 } } }, 'balancer.slowStart.windowMs', /got -1/],
    [{ balancer: { slowStart: { maxExtraLoadPercent: -5 } } }, 'balancer.slowStart.maxExtraLoadPercent', /must be a number >= 0 \(Infinity: never lift\), got -5/],
    [{ balancer: { slowStart: { maxExtraLoadPercent: '10' } } }, 'balancer.slowStart.maxExtraLoadPercent', /got 10/],
    [{ balancer: { outlierEjection: { nope: 1 } } }, 'balancer.outlierEjection.nope', /unknown field/],
    [{ balancer: { outlierEjection: { maxEjectedPercent: -3 } } }, 'balancer.outlierEjection.maxEjectedPercent', /got -3/],
    [{ retry: { attemptTimeoutMs: -5 } }, 'retry.attemptTimeoutMs', /-5/],
    [{ retry: { methods: { 'a.B/C': { maxAttempts: 9 } } } }, "retry.methods['a.B/C'].maxAttempts", /9/],
  ];
  for (const [doc, field, message] of cases) {
    const r = parseLiveConfig(JSON.stringify(doc));
    assert.equal(r.ok, false, JSON.stringify(doc));
    if (r.ok) continue;
    assert.equal(r.error.field, field, JSON.stringify(doc));
    assert.match(r.error.message, message, JSON.stringify(doc));
    assert.ok(r.error.message.startsWith(field), r.error.message);
  }
});

test('the canary section: validated, unknown fields and bad values named', () => {
  const ok = parseLiveConfig('{"canary":{"share":0.1,"stickyHeader":"x-user","halt":{"windowMs":10000}}}');
  assert.ok(ok.ok);
  assert.deepEqual(ok.config.canary, { share: 0.1, stickyHeader: 'x-user', halt: { windowMs: 10000 } });
  assert.deepEqual(JSON.parse(formatLiveConfig(ok.config)).canary, ok.config.canary);
  const cases: Array<[string, string, RegExp]> = [
    ['{"canary":0.1}', 'canary', /must be an object/],
    ['{"canary":{"share":2}}', 'canary.share', /from 0 to 1, got 2/],
    ['{"canary":{"share":0.1,"shares":1}}', 'canary.shares', /unknown field/],
    ['{"canary":{"share":0.1,"halt":{"windowMs":1}}}', 'canary.halt.windowMs', /got 1/],
    ['{"canary":{"share":0.1,"halt":{"window":1}}}', 'canary.halt.window', /unknown field/],
  ];
  for (const [text, field, message] of cases) {
    const r = parseLiveConfig(text);
    assert.equal(r.ok, false, text);
    if (r.ok) continue;
    assert.equal(r.error.field, field, text);
    assert.match(r.error.message, message, text);
  }
});
