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
