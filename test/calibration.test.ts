import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { buildOnnxModel } from '../src/export/onnx.js';
import { COMPETITION_GRID } from '../src/io/batch.js';
import { applyTemperatureRow, expectedCalibrationError, fitTemperature, meanNll } from '../src/metrics/calibration.js';
import { buildResNet1d } from '../src/model/resnet1d.js';
import { Random } from '../src/synth/random.js';
import { modelSpec } from './classify-fixtures.js';

/** Rows whose labels are drawn from softmax(z) while the "model" reports softmax(z·sharpness). */
function overconfident(rows: number, sharpness: number, seed: number) {
  const random = new Random(seed);
  const probabilities = new Float32Array(rows * 3);
  const labels = new Int8Array(rows);
  for (let r = 0; r < rows; r++) {
    const z = [random.gauss(0, 1.5), random.gauss(0, 1.5), random.gauss(0, 1.5)];
    const truth = z.map((v) => Math.exp(v));
    const t = truth.reduce((a, b) => a + b, 0);
    const u = random.uniform() * t;
    labels[r] = u < truth[0]! ? 0 : u < truth[0]! + truth[1]! ? 1 : 2;
    const model = z.map((v) => Math.exp(v * sharpness));
    const m = model.reduce((a, b) => a + b, 0);
    model.forEach((v, j) => (probabilities[r * 3 + j] = v / m));
  }
  return { probabilities, labels };
}

test('temperature scaling recovers the over-confidence factor and lowers NLL and ECE', () => {
  const { probabilities, labels } = overconfident(20000, 2.5, 3);
  const fit = fitTemperature(probabilities, labels, 3);
  assert.ok(Math.abs(fit.temperature - 2.5) < 0.15, `T = ${fit.temperature}`);
  assert.ok(fit.nllAfter < fit.nllBefore);
  assert.ok(Math.abs(fit.nllAfter - meanNll(probabilities, labels, 3, fit.temperature)) < 1e-12);
  const scaled = new Float32Array(probabilities.length);
  const row = new Float64Array(3);
  for (let r = 0; r < labels.length; r++) {
    applyTemperatureRow(probabilities, fit.temperature, row, r * 3, 3);
    scaled.set(row, r * 3);
  }
  const before = expectedCalibrationError(probabilities, labels, 3).ece;
  const after = expectedCalibrationError(scaled, labels, 3).ece;
  assert.ok(after < 0.02 && before > 3 * after, `ECE ${before} → ${after}`);
  // Calibrated already: T stays near 1.
  const fair = overconfident(20000, 1, 4);
  assert.ok(Math.abs(fitTemperature(fair.probabilities, fair.labels, 3).temperature - 1) < 0.08);
});

test('expected calibration error by hand', () => {
  // Two rows in the 0.9–1 bin (one right), one in the 0.6–0.7 bin (right).
  const p = Float32Array.of(0.95, 0.05, 0, 0.05, 0.95, 0, 0.65, 0.25, 0.1);
  const labels = Int8Array.of(0, 0, 0);
  const { ece, bins } = expectedCalibrationError(p, labels, 3, 10);
  // bin 9: confidence 0.95, accuracy 0.5, 2 rows; bin 6: confidence 0.65, accuracy 1, 1 row.
  assert.ok(Math.abs(ece - ((2 / 3) * 0.45 + (1 / 3) * 0.35)) < 1e-6, `ece ${ece}`);
  assert.equal(bins[9]!.count, 2);
  assert.equal(bins[6]!.count, 1);
});

test('an exported model with a temperature outputs softmax(logits / T) in onnxruntime', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-calibration-'));
  try {
    if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
    const grid = { ...COMPETITION_GRID, length: 256 };
    const spec = modelSpec(grid, 4);
    const model = buildResNet1d(tf, spec.architecture, 5);
    const plainPath = join(dir, 'plain.onnx');
    const scaledPath = join(dir, 'scaled.onnx');
    const T = 1.7;
    await writeFile(plainPath, buildOnnxModel(model, spec));
    await writeFile(scaledPath, buildOnnxModel(model, { ...spec, calibration: { temperature: T, data: 'x', rows: 1, nllBefore: 0, nllAfter: 0, eceBefore: 0, eceAfter: 0 } }));
    const random = new Random(8);
    const rows = 8;
    const x = Float32Array.from({ length: rows * grid.length }, () => random.gauss(0, 1));
    const run = async (path: string) => {
      const session = await ort.InferenceSession.create(path);
      const out = await session.run({ flux: new ort.Tensor('float32', x, [rows, 1, grid.length]) });
      await session.release();
      return out.probabilities!.data as Float32Array;
    };
    const plain = await run(plainPath);
    const scaled = await run(scaledPath);
    const want = new Float64Array(3);
    for (let r = 0; r < rows; r++) {
      applyTemperatureRow(plain, T, want, r * 3, 3);
      for (let j = 0; j < 3; j++) assert.ok(Math.abs(scaled[r * 3 + j]! - want[j]!) < 1e-5, `row ${r} class ${j}: ${scaled[r * 3 + j]} vs ${want[j]}`);
    }
    model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
