import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SpectrumBatch } from '../src/io/batch.js';
import { loadModel } from '../src/model/io.js';
import { resolveBackend } from '../src/train/backend.js';
import {
  classWeights,
  collectLabelledSet,
  epochOrder,
  preprocessInTypeScript,
  stratifiedSplit,
  subset,
  type PreprocessSettings,
} from '../src/train/dataset.js';
import { LAST_DIR, LOG_FILE, evaluate, learningRate, trainModel, type TrainOptions } from '../src/train/trainer.js';
import { trainHandler } from '../src/cli/commands/train.js';
import { createSpectraSink } from '../src/io/sink.js';
import { FEATURE_NAMES } from '../src/preprocess/index.js';
import { Random } from '../src/synth/random.js';

const PIXELS = 96;

/** Toy spectra whose class shows in the shape: a red continuum with a dip, a narrow line, a blue continuum with a broad bump. */
function toyBatch(rows: number, seed: number, firstRow = 0): SpectrumBatch {
  const random = new Random(seed);
  const flux = new Float32Array(rows * PIXELS);
  const labels = new Int8Array(rows);
  for (let r = 0; r < rows; r++) {
    // 70 / 20 / 10 %: imbalanced like the survey.
    const u = random.uniform();
    const label = u < 0.7 ? 0 : u < 0.9 ? 1 : 2;
    labels[r] = label;
    const centre = 20 + random.int(50);
    for (let i = 0; i < PIXELS; i++) {
      const t = i / PIXELS;
      let v = label === 0 ? 2 - t - 0.8 * Math.exp(-(((i - centre) / 2) ** 2)) : label === 1 ? 1 + 1.5 * Math.exp(-(((i - centre) / 1.5) ** 2)) : 0.5 + t + Math.exp(-(((i - centre) / 10) ** 2));
      v *= 1 + 0.05 * (random.uniform() - 0.5);
      flux[r * PIXELS + i] = v + 0.05 * (random.uniform() - 0.5);
    }
  }
  return { ids: Array.from({ length: rows }, (_, i) => `toy${firstRow + i}`), flux, labels, grid: { start: 3800, step: 2, length: PIXELS }, firstRow };
}

function toySource(batches: number, rowsPerBatch: number, seed: number) {
  return {
    path: 'toy',
    async *batches() {
      for (let b = 0; b < batches; b++) yield toyBatch(rowsPerBatch, seed + b, b * rowsPerBatch);
    },
  };
}

const settings: PreprocessSettings = { normalisation: 'l2', bin: 2, smoothWindow: 0, features: [] };

test('stratified split keeps every class on both sides and is seeded', () => {
  const labels = Int8Array.from({ length: 200 }, (_, i) => (i % 20 === 0 ? 2 : i % 5 === 0 ? 1 : 0));
  const a = stratifiedSplit(labels, 0.1, 7);
  const b = stratifiedSplit(labels, 0.1, 7);
  assert.deepEqual(a, b);
  assert.equal(a.train.length + a.validation.length, 200);
  assert.equal(new Set([...a.train, ...a.validation]).size, 200);
  for (const c of [0, 1, 2]) assert.ok([...a.validation].some((r) => labels[r] === c), `class ${c} in validation`);
});

test('oversampling tops rare classes up; augmentation is drawn alike for every class; class weights average to one', () => {
  const labels = Int8Array.from({ length: 100 }, (_, i) => (i < 84 ? 0 : i < 96 ? 1 : 2));
  const rows = Int32Array.from({ length: 100 }, (_, i) => i);
  const order = epochOrder(rows, labels, 'oversample', new Random(3));
  const perClass = [0, 0, 0];
  for (const r of order.rows) perClass[labels[r]!]!++;
  assert.deepEqual(perClass, [84, 30, 30]);
  assert.equal(order.augment.reduce((a, b) => a + b, 0), 0, 'no augmentation unless asked');
  // With augmentation, the chance of noise is the same for every class (no "noisy = rare class" cue).
  const big = Int32Array.from({ length: 30000 }, (_, i) => i);
  const bigLabels = Int8Array.from(big, (i) => (i % 100 < 84 ? 0 : i % 100 < 96 ? 1 : 2));
  const noisy = epochOrder(big, bigLabels, 'oversample', new Random(4), 0.3);
  const share = [0, 1, 2].map((c) => {
    let n = 0;
    let k = 0;
    noisy.rows.forEach((r, i) => {
      if (bigLabels[r] !== c) return;
      n++;
      k += noisy.augment[i]!;
    });
    return k / n;
  });
  for (const s of share) assert.ok(Math.abs(s - 0.3) < 0.02, `augmented share per class ${share.join(', ')}`);
  assert.equal(epochOrder(rows, labels, 'none', new Random(3)).rows.length, 100);
  const w = classWeights([84, 12, 4]);
  assert.ok(Math.abs((84 * w[0]! + 12 * w[1]! + 4 * w[2]!) / 100 - 1) < 1e-12);
  assert.ok(w[2]! > w[1]! && w[1]! > w[0]!);
});

test('learning-rate schedules start at the peak and decay', () => {
  assert.equal(learningRate('cosine', 1e-3, 1, 10), 1e-3);
  assert.ok(learningRate('cosine', 1e-3, 10, 10) < 1e-4);
  assert.equal(learningRate('step', 1e-3, 9, 10), 1e-3 * 0.01);
  assert.equal(learningRate('step', 1e-3, 6, 10), 1e-3 * 0.1);
  assert.equal(learningRate('constant', 1e-3, 8, 10), 1e-3);
});

test('a tiny ResNet trains on WASM: loss falls, the log is complete, saved models reload exactly, resume continues', async () => {
  const { tf, name } = await resolveBackend('wasm', { quiet: true });
  const set = await collectLabelledSet(toySource(4, 60, 1), settings, preprocessInTypeScript);
  assert.equal(set.rows, 240);
  assert.equal(set.inputLength, PIXELS / 2);
  const split = stratifiedSplit(set.labels, 0.2, 5);
  const validation = subset(set, split.validation);
  const out = await mkdtemp(join(tmpdir(), 'astrospec-train-'));
  const options: TrainOptions = {
    width: 4, epochs: 3, batchSize: 16, lr: 3e-3, schedule: 'cosine', balance: 'oversample', seed: 9,
    patience: 0, noiseSnr: [10, 40], augment: 0.3, out, logEvery: 2, quiet: true,
  };
  try {
    const data = { set, trainRows: split.train, validation, source: 'toy' };
    const result = await trainModel(tf, name, data, settings, options);
    const lines = (await readFile(join(out, LOG_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines[0].type, 'start');
    assert.equal(lines[0].backend, 'wasm');
    assert.equal(lines[0].trainRows, split.train.length);
    assert.equal(lines[0].valRows, split.validation.length);
    assert.equal(lines[0].spec.architecture.inputLength, PIXELS / 2);
    // ~13 steps per epoch: BatchNorm's moving averages get a horizon a few times shorter.
    assert.ok(lines[0].options.bnMomentum < 0.8, `momentum ${lines[0].options.bnMomentum}`);
    const steps = lines.filter((l) => l.type === 'step');
    const epochs = lines.filter((l) => l.type === 'epoch');
    assert.ok(steps.length > 3);
    assert.equal(epochs.length, 3);
    for (const e of epochs) {
      for (const key of ['epoch', 'lr', 'loss', 'accuracy', 'valLoss', 'valAccuracy', 'valMacroF1', 'valPerClass', 'valConfusion', 'spectraPerSecond', 'seconds', 'best']) {
        assert.ok(key in e, `epoch line has ${key}`);
      }
      assert.equal(e.valPerClass.length, 3);
      assert.equal(e.valConfusion.flat().reduce((a: number, b: number) => a + b, 0), validation.rows);
    }
    assert.equal(lines.at(-1).type, 'end');
    assert.equal(lines.at(-1).bestEpoch, result.bestEpoch);
    // The loss falls: the last epoch's mean training loss is below the first steps'.
    assert.ok(epochs[2].loss < steps[0].loss, `loss ${steps[0].loss} -> ${epochs[2].loss}`);
    assert.ok(epochs[2].loss < epochs[0].loss);

    // last/ holds the final model: identical predictions after reloading.
    const { model: last } = await loadModel(tf, join(out, LAST_DIR));
    const x = tf.tensor3d(validation.inputs, [validation.rows, set.inputLength, 1]);
    const a = (result.model.predict(x) as import('@tensorflow/tfjs').Tensor).dataSync();
    const b = (last.predict(x) as import('@tensorflow/tfjs').Tensor).dataSync();
    assert.deepEqual(Array.from(b), Array.from(a));
    // The best model reproduces its epoch's validation confusion matrix.
    const { model: best, spec } = await loadModel(tf, out);
    assert.equal(spec.training?.epoch, result.bestEpoch);
    assert.deepEqual(evaluate(tf, best, validation, undefined).confusion.counts, epochs[result.bestEpoch - 1].valConfusion);
    result.model.dispose();

    // Resuming continues after the last completed epoch and appends to the log.
    const resumed = await trainModel(tf, name, data, settings, { ...options, epochs: 4, resume: out });
    assert.deepEqual(resumed.epochs.map((e) => e.epoch), [4]);
    const after = (await readFile(join(out, LOG_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(after.filter((l) => l.type === 'start').length, 2);
    resumed.model.dispose();
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('astrospec train reads a file, preprocesses natively, trains with side features and writes the model', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-train-cli-'));
  try {
    const data = join(dir, 'toy.arrow');
    const sink = await createSpectraSink(data, { grid: { start: 3800, step: 2, length: PIXELS }, hasLabels: true });
    for (let b = 0; b < 3; b++) await sink.write(toyBatch(50, 40 + b, b * 50));
    await sink.close();
    const out = join(dir, 'run');
    const result = await trainHandler({
      data, valFraction: 0.2, width: 4, bin: 2, smooth: 0, epochs: 2, batchSize: 16, lr: 3e-3, schedule: 'cosine', norm: 'l2',
      features: true, balance: 'weights', noiseSnr: '20', augment: 0.2, patience: 0, seed: 3, out, backend: 'wasm', logEvery: 0, quiet: true,
    });
    const { tf } = await resolveBackend('wasm', { quiet: true });
    const { model, spec } = await loadModel(tf, out);
    assert.equal(spec.architecture.inputLength, PIXELS / 2);
    assert.deepEqual(spec.preprocess.features, [...FEATURE_NAMES]);
    assert.equal(spec.preprocess.featureMean?.length, FEATURE_NAMES.length);
    assert.ok(spec.preprocess.featureStd?.every((v) => v > 0));
    assert.equal(spec.architecture.featureCount, FEATURE_NAMES.length);
    assert.equal(model.inputs.length, 2);
    assert.equal(result.epochs.length, 2);
    const log = (await readFile(join(out, LOG_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(log[0].options.balance, 'weights');
    assert.ok(log[0].options.classWeights[2] > log[0].options.classWeights[0]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('with a redshift column, astrospec train adds a redshift head that learns where the line is; it saves, reloads and exports', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-train-z-'));
  try {
    // The toy galaxies' and QSOs' line centre (pixel 20–69) stands for a redshift 0–2; stars get none.
    const zOf = (centre: number) => ((centre - 20) / 50) * 2;
    const withRedshift = (batch: SpectrumBatch): SpectrumBatch => {
      const redshift = new Float32Array(batch.ids.length);
      for (let r = 0; r < batch.ids.length; r++) {
        const row = batch.flux.subarray(r * PIXELS, (r + 1) * PIXELS);
        let centre = 0;
        // Galaxies: the line is the maximum; QSOs: the bump's maximum after the rising continuum is removed.
        const detrended = Array.from(row, (v, i) => v - (batch.labels![r] === 2 ? 0.5 + i / PIXELS : 0));
        for (let i = 1; i < PIXELS; i++) if (detrended[i]! > detrended[centre]!) centre = i;
        redshift[r] = batch.labels![r] === 0 ? NaN : zOf(centre);
      }
      return { ...batch, extra: { redshift } };
    };
    const data = join(dir, 'toy.arrow');
    const sink = await createSpectraSink(data, { grid: { start: 3800, step: 2, length: PIXELS }, hasLabels: true, extraColumns: ['redshift'] });
    for (let b = 0; b < 8; b++) await sink.write(withRedshift(toyBatch(100, 70 + b, b * 100)));
    await sink.close();
    const out = join(dir, 'run');
    const result = await trainHandler({
      data, valFraction: 0.25, width: 8, bin: 1, smooth: 0, epochs: 8, batchSize: 32, lr: 3e-3, schedule: 'cosine', norm: 'l2',
      features: false, balance: 'oversample', noiseSnr: '20', augment: 0, patience: 0, seed: 4, out, backend: 'wasm', logEvery: 0, quiet: true,
      redshiftBins: 40,
    });
    const { tf } = await resolveBackend('wasm', { quiet: true });
    const { model, spec } = await loadModel(tf, out);
    assert.deepEqual(spec.architecture.redshift, { bins: 40, zMin: -0.03, zMax: 5, hidden: 128 });
    assert.equal(model.outputs.length, 2);
    const first = result.epochs[0]!.valRedshiftWithin001!;
    const last = result.epochs.at(-1)!.valRedshiftWithin001!;
    assert.ok(Number.isFinite(first) && Number.isFinite(last));
    // A bin is 0.045 wide in ln(1 + z) here, so "within 0.01 (1 + z)" needs the right bin and
    // interpolation: a head that had not learnt the line's position would stay near chance (< 5 %).
    assert.ok(last > 0.3, `validation z within 0.01(1+z): ${first} after one epoch, ${last} after ${result.epochs.length}`);
    model.dispose();

    const { onnxBytesFromRun } = await import('../src/export/onnx.js');
    const { bytes } = await onnxBytesFromRun(out);
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(bytes);
    assert.deepEqual([...session.outputNames], ['probabilities', 'z_probabilities']);
    await session.release();

    // Without a head (--redshift-bins 0) the model has one output, as before.
    const plain = await trainHandler({
      data, valFraction: 0.25, width: 4, bin: 2, smooth: 0, epochs: 1, batchSize: 32, lr: 3e-3, schedule: 'cosine', norm: 'l2',
      features: false, balance: 'oversample', noiseSnr: '20', augment: 0, patience: 0, seed: 4, out: join(dir, 'plain'), backend: 'wasm', logEvery: 0, quiet: true,
      redshiftBins: 0,
    });
    assert.equal(plain.spec.architecture.redshift, undefined);
    const { model: plainModel } = await loadModel(tf, join(dir, 'plain'));
    assert.equal(plainModel.outputs.length, 1);
    plainModel.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
