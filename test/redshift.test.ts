import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binCentre, binWidth, decodeRedshift, redshiftTarget, redshiftWithin } from '../src/infer/redshift.js';

const head = { bins: 180, zMin: -0.03, zMax: 5, hidden: 128 };

test('a soft target decodes back to its redshift, across the range and between bin centres', () => {
  const p = new Float32Array(head.bins);
  for (const z of [-0.01, 0, 0.003, 0.05, 0.1234, 0.5, 1.0, 2.345, 3.9, 4.9]) {
    assert.ok(redshiftTarget(head, z, p));
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    const { z: estimate, zErr } = decodeRedshift(head, p, 1);
    // Near zMax the Gaussian is cut, which pulls the mean by a fraction of a bin.
    const tolerance = z > 4.8 ? 0.6 * binWidth(head) : 0.05 * binWidth(head);
    assert.ok(Math.abs(Math.log1p(estimate[0]!) - Math.log1p(z)) < tolerance, `z ${z} decoded as ${estimate[0]}`);
    // A one-bin-σ target: z_err about one bin width in ln(1 + z).
    assert.ok(zErr[0]! / (1 + z) > 0.5 * binWidth(head) && zErr[0]! / (1 + z) < 2 * binWidth(head), `z_err ${zErr[0]} at z ${z}`);
  }
});

test('unknown or out-of-range redshifts give no target', () => {
  const p = new Float32Array(head.bins).fill(7);
  for (const z of [NaN, -0.5, -0.031, 6, Infinity]) {
    assert.equal(redshiftTarget(head, z, p), false);
    assert.ok(p.every((v) => v === 0));
  }
});

test('two peaks: z follows the larger, z_err grows with the other one', () => {
  const rows = 2;
  const p = new Float32Array(rows * head.bins);
  const a = new Float32Array(head.bins);
  const b = new Float32Array(head.bins);
  redshiftTarget(head, 0.8, a);
  redshiftTarget(head, 2.2, b);
  for (let k = 0; k < head.bins; k++) {
    p[k] = a[k]!; // row 0: one peak
    p[head.bins + k] = 0.7 * a[k]! + 0.3 * b[k]!; // row 1: 30 % at another redshift
  }
  const { z, zErr } = decodeRedshift(head, p, rows);
  assert.ok(redshiftWithin(z[0]!, 0.8, 0.002) && redshiftWithin(z[1]!, 0.8, 0.002));
  assert.ok(zErr[1]! > 10 * zErr[0]!, `z_err ${zErr[1]} vs ${zErr[0]}`);
});

test('bins are equal in ln(1 + z) and end at zMax', () => {
  assert.ok(Math.abs(Math.expm1(binCentre(head, head.bins - 1) + binWidth(head) / 2) - head.zMax) < 1e-9);
  assert.ok(redshiftWithin(1.004, 1, 0.005) && !redshiftWithin(1.011, 1, 0.005));
});
