import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classificationMetrics, ConfusionMatrix } from '../src/metrics/classification.js';

const names = ['star', 'galaxy', 'qso'];

test('hand-computed case', () => {
  // truth:     s s s s g g q q
  // predicted: s s s g g s q g
  const m = classificationMetrics([0, 0, 0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 0, 2, 1], names);
  assert.deepEqual(m.confusion, [[3, 1, 0], [1, 1, 0], [0, 1, 1]]);
  // star: P = 3/4, R = 3/4, F1 = 0.75. galaxy: P = 1/3, R = 1/2, F1 = 0.4. qso: P = 1, R = 1/2, F1 = 2/3.
  assert.ok(Math.abs(m.perClass[0]!.f1 - 0.75) < 1e-12);
  assert.ok(Math.abs(m.perClass[1]!.f1 - 0.4) < 1e-12);
  assert.ok(Math.abs(m.perClass[2]!.f1 - 2 / 3) < 1e-12);
  assert.ok(Math.abs(m.macroF1 - (0.75 + 0.4 + 2 / 3) / 3) < 1e-12);
  assert.equal(m.accuracy, 5 / 8);
  assert.equal(m.total, 8);
});

test('a class that is never predicted scores 0 and still counts in the macro mean', () => {
  const m = classificationMetrics([0, 0, 1, 2], [0, 0, 1, 1], names);
  assert.equal(m.perClass[2]!.predicted, 0);
  assert.equal(m.perClass[2]!.precision, 0);
  assert.equal(m.perClass[2]!.f1, 0);
  // star 1, galaxy: P = 1/2, R = 1 → 2/3, qso 0.
  assert.ok(Math.abs(m.macroF1 - (1 + 2 / 3 + 0) / 3) < 1e-12);
});

test('a class absent from truth and predictions is left out of the macro mean', () => {
  const m = classificationMetrics([0, 1, 1], [0, 1, 1], names);
  assert.equal(m.macroF1, 1);
  assert.equal(m.perClass[2]!.support, 0);
});

test('out-of-range classes are rejected', () => {
  const c = new ConfusionMatrix(names);
  assert.throws(() => c.add(3, 0), RangeError);
  assert.throws(() => c.add(0, -1), RangeError);
});
