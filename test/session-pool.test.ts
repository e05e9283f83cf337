import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SessionPool, defaultSessionSettings } from '../src/infer/session-pool.js';
import { modelSpec, random, writeRandomModel } from './classify-fixtures.js';

const grid = { start: 3800, step: 2, length: 128 };
const features = ['mean', 'wien_temperature'];
const B = 8;
let dir: string;
let modelBytes: Uint8Array;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'astrospec-pool-'));
  modelBytes = await readFile((await writeRandomModel(dir, modelSpec(grid, 4, features), 11)).path);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function batch(seed: number): { flux: Float32Array; features: Float32Array } {
  const rand = random(seed);
  return {
    flux: Float32Array.from({ length: B * grid.length }, () => 0.05 + 0.1 * rand()),
    features: Float32Array.from({ length: B * features.length }, () => rand() * 2 - 1),
  };
}

test('slots reused across runs and workers give what one plain session gives for each batch; misuse is refused', async () => {
  const session = await ort.InferenceSession.create(modelBytes);
  const pool = await SessionPool.start(modelBytes, { inputLength: grid.length, featureCount: features.length }, defaultSessionSettings({ batchSize: B, workers: 2, intraOpThreads: 1 }));
  try {
    assert.deepEqual(pool.shape.outputs.map((o) => o.name), session.outputNames);
    assert.equal(pool.shape.outputs.find((o) => o.name === 'probabilities')!.perRow, 3);
    // Twelve batches through at most three slots, three in flight at a time over two workers.
    const inputs = Array.from({ length: 12 }, (_, k) => batch(100 + k));
    const seen = new Set<number>();
    const results: Record<string, Float32Array>[] = [];
    let next = 0;
    const start = () => {
      const k = next++;
      const slot = pool.slot();
      seen.add(slot.index);
      slot.flux.set(inputs[k]!.flux);
      slot.features.set(inputs[k]!.features);
      return pool.run(slot).then((done) => {
        results[k] = Object.fromEntries(Object.entries(done.outputs).map(([name, v]) => [name, v.slice()]));
        return done;
      });
    };
    const queue = [start(), start(), start()];
    while (queue.length > 0) {
      const done = await queue.shift()!;
      pool.release(done);
      if (next < inputs.length) queue.push(start());
    }
    assert.ok(seen.size <= 4, `${seen.size} slots made for 3 batches in flight`);
    for (let k = 0; k < inputs.length; k++) {
      const want = await session.run({
        flux: new ort.Tensor('float32', inputs[k]!.flux, [B, 1, grid.length]),
        features: new ort.Tensor('float32', inputs[k]!.features, [B, features.length]),
      });
      for (const name of session.outputNames) {
        const w = want[name]!.data as Float32Array;
        const got = results[k]![name]!;
        assert.equal(got.length, w.length, name);
        for (let i = 0; i < w.length; i++) assert.ok(Math.abs(got[i]! - w[i]!) <= 1e-6, `batch ${k} ${name}[${i}]: ${got[i]} vs ${w[i]}`);
      }
    }
    // The outputs vary between batches: the comparison above was not of one constant.
    assert.notDeepEqual(results[0]!.probabilities, results[1]!.probabilities);

    const slot = pool.slot();
    const running = pool.run(slot);
    await assert.rejects(pool.run(slot), /already running/);
    assert.throws(() => pool.release(slot), /still running/);
    pool.release(await running);
    assert.throws(() => pool.release(slot), /already free/);
    await assert.rejects(pool.run(slot), /released/);
  } finally {
    await pool.close();
    await session.release();
  }
  // A stop after a close (an error while the output is closed, beside the sessions) finds the
  // threads gone and returns, rather than waiting for an exit that has already happened.
  const stopped = await Promise.race([pool.terminate().then(() => 'stopped'), new Promise((resolve) => setTimeout(() => resolve('hung'), 5000))]);
  assert.equal(stopped, 'stopped');
});

test('a pool started from a model file reads it in its workers and takes the input shape from the graph', async () => {
  const path = join(dir, 'from-file.onnx');
  await writeFile(path, modelBytes);
  const pool = await SessionPool.start(path, undefined, defaultSessionSettings({ batchSize: B, workers: 2, intraOpThreads: 1 }), path);
  try {
    assert.equal(pool.shape.inputLength, grid.length);
    assert.equal(pool.shape.featureCount, features.length);
    // The same outputs as from the bytes with the shape given.
    const session = await ort.InferenceSession.create(modelBytes);
    const input = batch(7);
    const slot = pool.slot();
    slot.flux.set(input.flux);
    slot.features.set(input.features);
    const done = await pool.run(slot);
    const expected = await session.run({ flux: new ort.Tensor('float32', input.flux, [B, 1, grid.length]), features: new ort.Tensor('float32', input.features, [B, features.length]) });
    assert.deepEqual(done.outputs.probabilities, expected.probabilities!.data);
    pool.release(done);
    await session.release();
  } finally {
    await pool.close();
  }
  await assert.rejects(SessionPool.start(join(dir, 'missing.onnx'), undefined, defaultSessionSettings({ batchSize: B, workers: 1, intraOpThreads: 1 })), /missing\.onnx.*doesn't exist/);
});
