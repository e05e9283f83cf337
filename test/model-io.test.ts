import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildResNet1d } from '../src/model/resnet1d.js';
import { loadModel, saveModel } from '../src/model/io.js';
import type { ModelSpec } from '../src/model/spec.js';

test('a saved ResNet reloads with identical predictions', async () => {
  await tf.setBackend('cpu');
  const arch = { width: 4, inputLength: 64, featureCount: 2, classCount: 3 };
  const model = buildResNet1d(tf, arch, 7);
  const spec: ModelSpec = {
    format: 'astrospec-model', version: 1, classNames: ['star', 'galaxy', 'qso'],
    grid: { start: 3800, step: 2, length: 64 }, architecture: arch,
    preprocess: { normalisation: 'l2', bin: 1, smoothWindow: 0, features: ['mean', 'std'] },
  };
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-model-'));
  try {
    await saveModel(tf, model, dir, spec);
    const { model: again, spec: specAgain } = await loadModel(tf, dir);
    assert.deepEqual(specAgain, spec);
    const x = tf.randomNormal([5, 64, 1], 0, 1, 'float32', 3);
    const f = tf.randomNormal([5, 2], 0, 1, 'float32', 4);
    const a = (model.predict([x, f]) as tf.Tensor).dataSync();
    const b = (again.predict([x, f]) as tf.Tensor).dataSync();
    assert.deepEqual(Array.from(b), Array.from(a));
    assert.equal(model.countParams(), again.countParams());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
