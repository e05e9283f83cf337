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

// ---- z and z_err through classify, the predictions files and evaluate -------------------------

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { classifyFile } from '../src/infer/classify.js';
import { createPredictionWriter, readPredictions } from '../src/infer/predictions.js';
import { scorePredictions, evaluatePredictionsAgainstLabels } from '../src/infer/evaluate.js';
import { preprocess } from '../src/preprocess/index.js';
import { modelSpec, syntheticBatch, writeArrowSpectra, writeRandomModel } from './classify-fixtures.js';

test('classify writes z and z_err from the z_probabilities output (empty for stars), in CSV and Arrow alike', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-z-'));
  try {
    const grid = { start: 3800, step: 2, length: 256 };
    const spec = modelSpec(grid, 4);
    spec.architecture.redshift = { bins: 30, zMin: -0.03, zMax: 5, hidden: 8 };
    const { path: model, model: tfModel } = await writeRandomModel(dir, spec, 7);
    tfModel.dispose();
    const input = join(dir, 'in.arrow');
    await writeArrowSpectra(input, 120, grid, 5);
    for (const name of ['p.csv', 'p.arrow']) {
      const output = join(dir, name);
      await classifyFile(input, { model, output, batchSize: 16, workers: 1, intraOpThreads: 1 });
      const table = await readPredictions(output);
      assert.ok(table.z && table.zErr);
      // The same spectra straight through onnxruntime: the decoded z of every galaxy/QSO row.
      const batch = syntheticBatch(120, grid, 5);
      const pre = await preprocess(batch, { normalisation: 'l2', bin: 1, smoothWindow: 0, features: false });
      const session = await ort.InferenceSession.create(model);
      const out = await session.run({ flux: new ort.Tensor('float32', pre.flux, [120, 1, grid.length]) });
      await session.release();
      const expected = decodeRedshift(spec.architecture.redshift, out.z_probabilities!.data as Float32Array, 120);
      let stars = 0;
      let given = 0;
      for (let i = 0; i < 120; i++) {
        if (table.status[i] !== 'ok' || table.predicted[i] === 0) {
          assert.ok(Number.isNaN(table.z[i]!) && Number.isNaN(table.zErr[i]!), `row ${i}: no z for a star or an unclassified row`);
          if (table.predicted[i] === 0) stars++;
          continue;
        }
        given++;
        // CSV keeps 5 decimals; batches of 16 and of 120 differ in float rounding, which moves the
        // mean of this random model's nearly flat distributions by up to ~1e-4.
        assert.ok(Math.abs(table.z[i]! - expected.z[i]!) < 5e-4, `row ${i}: z ${table.z[i]} vs ${expected.z[i]}`);
        assert.ok(Math.abs(table.zErr[i]! - expected.zErr[i]!) < 5e-4);
      }
      assert.ok(given > 0, `some rows predicted galaxy or QSO (stars ${stars})`);
      if (name.endsWith('.csv')) assert.match((await readFile(output, 'utf8')).split('\n')[0]!, /,status,z,z_err$/);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('evaluate scores redshifts per true class: a missing z is a miss; labels CSVs give z from their z column', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-z-eval-'));
  try {
    const path = join(dir, 'p.csv');
    const writer = await createPredictionWriter(path, { redshift: true });
    // rows: galaxy z right; galaxy z 2 % off; galaxy predicted star (no z); qso z right; star.
    const probabilities = Float32Array.of(0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0);
    await writer.write({
      firstRow: 0,
      ids: ['a', 'b', 'c', 'd', 'e'],
      probabilities,
      status: ['ok', 'ok', 'ok', 'ok', 'ok'],
      z: Float32Array.of(0.1001, 0.1224, NaN, 2.5, NaN),
      zErr: Float32Array.of(0.001, 0.002, NaN, 0.01, NaN),
    });
    await writer.close();
    const table = await readPredictions(path);
    const truth = { file: 't', ids: ['a', 'b', 'c', 'd', 'e'], labels: Int8Array.of(1, 1, 1, 2, 0), redshift: Float32Array.of(0.1, 0.1, 0.3, 2.51, 0) };
    const scores = scorePredictions(table, truth).redshift!;
    const galaxy = scores.find((s) => s.class === 'galaxy')!;
    assert.equal(galaxy.rows, 3);
    assert.equal(galaxy.predicted, 2);
    assert.equal(galaxy.within['0.005'], 1 / 3);
    assert.equal(galaxy.within['0.05'], 2 / 3);
    const qso = scores.find((s) => s.class === 'qso')!;
    assert.deepEqual([qso.rows, qso.predicted, qso.within['0.005']], [1, 1, 1]);

    const labels = join(dir, 'labels.csv');
    await writeFile(labels, 'file,class,z\na.fits,galaxy,0.1\nb.fits,galaxy,0.1\nc.fits,galaxy,0.3\nd.fits,qso,2.51\ne.fits,star,\n');
    const viaLabels = await evaluatePredictionsAgainstLabels(path, labels);
    assert.deepEqual(viaLabels.redshift, scores);
    await writeFile(labels, 'file,class,z\na.fits,galaxy,abc\n');
    await assert.rejects(evaluatePredictionsAgainstLabels(path, labels), /z "abc" is not a number/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
