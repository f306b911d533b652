// The ejection and slow-start resolvers throw a BalancerOptionError whose parts (option, field, problem) callers
// re-word without parsing the message; the message itself is unchanged ("Balancer option ejection.x ...").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BalancerOptionError, createBalancer, resolveEjectionOptions, resolveSlowStartOptions } from './index.js';

function thrown(fn: () => unknown): BalancerOptionError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BalancerOptionError, String(e));
    return e;
  }
  assert.fail('did not throw');
}

test('an unknown field: the field is the misspelt name, a RangeError', () => {
  const e = thrown(() => resolveEjectionOptions({ consecutiveFailure: 3 } as never));
  assert.deepEqual([e.option, e.field], ['ejection', 'consecutiveFailure']);
  assert.match(e.problem, /^is not a known field \(known: consecutiveFailures, /);
  assert.equal(e.message, `Balancer option ejection.consecutiveFailure ${e.problem}`);
  assert.ok(e instanceof RangeError && !(e instanceof TypeError));
  assert.equal(e.name, 'BalancerOptionError');

  const s = thrown(() => resolveSlowStartOptions({ window: 5_000 } as never));
  assert.deepEqual([s.option, s.field], ['slowStart', 'window']);
  assert.equal(s.message, 'Balancer option slowStart.window is not a known field (known: windowMs, minWeightPercent, maxExtraLoadPercent)');
});

test('a bad number: the field and the problem after its name', () => {
  const e = thrown(() => resolveEjectionOptions({ consecutiveFailures: 0 }));
  assert.deepEqual([e.option, e.field, e.problem], ['ejection', 'consecutiveFailures', 'must be a number >= 1, got 0']);
  assert.equal(e.message, 'Balancer option ejection.consecutiveFailures must be a number >= 1, got 0');
  assert.ok(e instanceof RangeError);

  const pair = thrown(() => resolveEjectionOptions({ baseEjectionMs: 5_000, maxEjectionMs: 1_000 }));
  assert.deepEqual([pair.field, pair.problem], ['maxEjectionMs', '(1000) must be >= baseEjectionMs (5000)']);

  const s = thrown(() => resolveSlowStartOptions({ windowMs: -1 }));
  assert.deepEqual([s.option, s.field, s.problem], ['slowStart', 'windowMs', 'must be a positive finite number of ms, got -1']);
  // Through createBalancer too.
  assert.equal(thrown(() => createBalancer({ slowStart: { minWeightPercent: 0 } })).field, 'minWeightPercent');
});

test('a value that is not an object: no field', () => {
  const e = thrown(() => resolveEjectionOptions('on' as never));
  assert.deepEqual([e.option, e.field, e.problem], ['ejection', undefined, 'must be an object or false, got "on"']);
  assert.equal(e.message, 'Balancer option ejection must be an object or false, got "on"');
  assert.equal(e.name, 'BalancerOptionError');
  assert.ok(e instanceof RangeError);

  const s = thrown(() => resolveSlowStartOptions(null as never));
  assert.deepEqual([s.option, s.field, s.problem], ['slowStart', undefined, 'must be an object or false, got null']);
  assert.ok(s instanceof BalancerOptionError);
  // Not every error is one.
  assert.ok(!(new RangeError('x') instanceof BalancerOptionError));
});
