import { test } from 'node:test';
import assert from 'node:assert/strict';
import { showValue } from './show-value.js';

test('numbers JSON cannot write are shown as they are, also inside objects and arrays', () => {
  assert.equal(showValue(Number.NaN), 'NaN');
  assert.equal(showValue(Number.POSITIVE_INFINITY), 'Infinity');
  assert.equal(showValue(Number.NEGATIVE_INFINITY), '-Infinity');
  assert.equal(showValue(-0), '-0');
  assert.equal(showValue({ low: Number.NaN, high: 2 }), '{"low":NaN,"high":2}');
  assert.equal(showValue([1, Number.POSITIVE_INFINITY, undefined]), '[1,Infinity,undefined]');
  assert.equal(showValue({ a: { b: undefined } }), '{"a":{"b":undefined}}');
});

test('other values: strings quoted, the rest by their kind', () => {
  assert.equal(showValue('x"y'), '"x\\"y"');
  assert.equal(showValue(''), '""');
  assert.equal(showValue(undefined), 'undefined');
  assert.equal(showValue(null), 'null');
  assert.equal(showValue(true), 'true');
  assert.equal(showValue(12n), '12n');
  assert.equal(showValue({ n: 12n }), '{"n":12n}');
  assert.equal(showValue(function named() {}), 'a function (named)');
  assert.equal(showValue(Symbol('s')), 'Symbol(s)');
  assert.equal(showValue({ a: 1, b: 'two' }), '{"a":1,"b":"two"}');
  assert.equal(showValue(new Date(0)), '"1970-01-01T00:00:00.000Z"');
});

test('never throws (cycles) and cuts long values', () => {
  const cycle: Record<string, unknown> = {};
  cycle['self'] = cycle;
  assert.equal(showValue(cycle), '[object Object]');
  assert.equal(showValue('x'.repeat(500), 20), `"${'x'.repeat(16)}...`);
  assert.equal(showValue('x'.repeat(500), 20).length, 20);
});
