import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { buildResNet1d } from '../src/model/resnet1d.js';
import { saveModel } from '../src/model/io.js';
import type { ModelSpec } from '../src/model/spec.js';
import { buildOnnxModel, convKernelToOnnx, onnxModelSpec, samePadding } from '../src/export/onnx.js';
import { exportHandler } from '../src/cli/commands/export.js';
import { decodeModel } from '../src/export/onnx-proto.js';
import { random } from './classify-fixtures.js';

await tf.setBackend('cpu');


function specFor(arch: ModelSpec['architecture']): ModelSpec {
  return {
    format: 'astrospec-model',
    version: 1,
    classNames: ['star', 'galaxy', 'qso'],
    grid: { start: 3800, step: 2, length: arch.inputLength },
    architecture: arch,
    preprocess: {
      normalisation: 'l2', bin: 1, smoothWindow: 0,
      features: Array.from({ length: arch.featureCount }, (_, i) => `f${i}`),
      featureMean: Array.from({ length: arch.featureCount }, () => 0),
      featureStd: Array.from({ length: arch.featureCount }, () => 1),
    },
  };
}

/**
 * A randomly initialised ResNet whose BatchNorms are far from identity: γ, β, moving mean and
 * moving variance all random (variances spanning 0.05–3, so using ONNX's default ε instead of
 * tfjs's 1e-3 would show).
 */
function randomModel(arch: ModelSpec['architecture'], seed: number, varianceRange: [number, number] = [0.05, 3]): tf.LayersModel {
  const model = buildResNet1d(tf, arch, seed);
  const rand = random(seed * 7919);
  for (const layer of model.layers) {
    if (layer.getClassName() === 'BatchNormalization') {
      const c = layer.getWeights()[0]!.shape[0]!;
      const u = (lo: number, hi: number) => tf.tensor1d(Array.from({ length: c }, () => lo + (hi - lo) * rand()));
      const [lo, hi] = varianceRange;
      const variance = tf.tensor1d(Array.from({ length: c }, () => Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * rand())));
      layer.setWeights([u(0.5, 1.5), u(-0.5, 0.5), u(-0.5, 0.5), variance]);
    }
  }
  return model;
}

function randomInputs(rows: number, arch: ModelSpec['architecture'], seed: number) {
  const rand = random(seed);
  const flux = Float32Array.from({ length: rows * arch.inputLength }, () => 2 * rand() - 1);
  const features = Float32Array.from({ length: rows * arch.featureCount }, () => 2 * rand() - 1);
  return { flux, features };
}

async function runOnnx(bytes: Uint8Array, rows: number, arch: ModelSpec['architecture'], inputs: { flux: Float32Array; features: Float32Array }) {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const feeds: Record<string, ort.Tensor> = { flux: new ort.Tensor('float32', inputs.flux, [rows, 1, arch.inputLength]) };
    if (session.inputNames.includes('features')) feeds.features = new ort.Tensor('float32', inputs.features, [rows, arch.featureCount]);
    const out = await session.run(feeds);
    const tensor = out[session.outputNames[0]!]!;
    return { data: tensor.data as Float32Array, dims: [...tensor.dims] };
  } finally {
    await session.release();
  }
}

function runTfjs(model: tf.LayersModel, rows: number, arch: ModelSpec['architecture'], inputs: { flux: Float32Array; features: Float32Array }, layerName?: string) {
  return tf.tidy(() => {
    const target = layerName ? tf.model({ inputs: model.inputs, outputs: model.getLayer(layerName).output as tf.SymbolicTensor }) : model;
    const x: tf.Tensor[] = [tf.tensor3d(inputs.flux, [rows, arch.inputLength, 1])];
    if (arch.featureCount > 0) x.push(tf.tensor2d(inputs.features, [rows, arch.featureCount]));
    const y = target.predict(target.inputs.length === 1 ? x[0]! : x) as tf.Tensor;
    // tfjs is channels-last [N, L, C]; the ONNX graph is channels-first [N, C, L].
    return { data: (y.rank === 3 ? y.transpose([0, 2, 1]) : y).dataSync() as Float32Array, shape: y.shape };
  });
}

/**
 * Scales the head so the largest logit on these inputs is about 2: random BatchNorm statistics
 * compound through 8 residual blocks, and a saturated softmax would hide any error before it.
 */
function calibrateHead(model: tf.LayersModel, rows: number, arch: ModelSpec['architecture'], inputs: { flux: Float32Array; features: Float32Array }) {
  const head = model.getLayer('head');
  const before = arch.featureCount > 0 ? 'head_concat' : 'gap';
  const [kernel, bias] = head.getWeights();
  const logits = tf.tidy(() => tf.matMul(tf.tensor2d(runTfjs(model, rows, arch, inputs, before).data, [rows, kernel!.shape[0]!]), kernel as tf.Tensor2D));
  const largest = logits.abs().max().dataSync()[0]!;
  head.setWeights([kernel!.mul(2 / Math.max(largest, 1e-12)), bias!]);
  logits.dispose();
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test("'same' padding follows tfjs: the odd pixel goes at the end", () => {
  assert.deepEqual(samePadding(2600, 7, 2), { outLength: 1300, pads: [2, 3] });
  assert.deepEqual(samePadding(1300, 3, 2), { outLength: 650, pads: [0, 1] });
  assert.deepEqual(samePadding(999, 7, 2), { outLength: 500, pads: [3, 3] });
  assert.deepEqual(samePadding(325, 3, 1), { outLength: 325, pads: [1, 1] });
  assert.deepEqual(samePadding(2600, 1, 2), { outLength: 1300, pads: [0, 0] });
  assert.deepEqual(samePadding(163, 1, 2), { outLength: 82, pads: [0, 0] });
});

test('conv1d kernels are transposed from [k, Cin, Cout] to [Cout, Cin, k]', () => {
  const k = 3, cin = 2, cout = 4;
  const tfjs = Float32Array.from({ length: k * cin * cout }, (_, i) => i);
  const onnx = convKernelToOnnx(tfjs, k, cin, cout);
  for (let t = 0; t < k; t++) for (let ci = 0; ci < cin; ci++) for (let co = 0; co < cout; co++) {
    assert.equal(onnx[(co * cin + ci) * k + t], tfjs[(t * cin + ci) * cout + co]);
  }
});

const parityCases = [
  { width: 4, inputLength: 2600, featureCount: 0, classCount: 3 },
  { width: 8, inputLength: 999, featureCount: 3, classCount: 3 },
  { width: 16, inputLength: 300, featureCount: 0, classCount: 3 },
  { width: 6, inputLength: 1301, featureCount: 5, classCount: 3 },
];

for (const [i, arch] of parityCases.entries()) {
  test(`onnxruntime matches tfjs: width ${arch.width}, ${arch.inputLength} pixels, ${arch.featureCount} side features`, async () => {
    const model = randomModel(arch, 11 + i);
    const spec = specFor(arch);
    const rows = 5;
    const inputs = randomInputs(rows, arch, 100 + i);
    calibrateHead(model, rows, arch, inputs);
    const bytes = buildOnnxModel(model, spec);
    const onnx = await runOnnx(bytes, rows, arch, inputs);
    const reference = runTfjs(model, rows, arch, inputs);
    assert.deepEqual(onnx.dims, [rows, 3]);
    const error = maxAbsDiff(onnx.data, reference.data);
    assert.ok(error <= 1e-4, `max abs error ${error}`);
    // The comparison means something only if the probabilities are not all 0/1.
    assert.ok(reference.data.some((p) => p > 0.02 && p < 0.98), `saturated probabilities ${reference.data}`);
    const graph = decodeModel(bytes).graph;
    assert.ok(!graph.node.some((n) => n.op_type === 'BatchNormalization'), 'BatchNorm is folded into the convolutions');
    assert.deepEqual(onnxModelSpec(bytes), spec);
    model.dispose();
  });
}

test('layer-by-layer parity: stem, max-pool and strided blocks line up on even and odd lengths', async () => {
  for (const inputLength of [2600, 999, 130]) {
    const arch = { width: 4, inputLength, featureCount: 0, classCount: 3 };
    // Variances down to 1e-4: with ε = 1e-5 in place of tfjs's 1e-3 these channels would be ~3× off.
    const model = randomModel(arch, inputLength, [1e-4, 2]);
    const rows = 2;
    const inputs = randomInputs(rows, arch, inputLength + 1);
    for (const probe of ['stem_bn', 'stem_pool', 's1b2_relu2', 's2b1_add', 's4b2_relu2', 'gap']) {
      const onnx = await runOnnx(buildOnnxModel(model, specFor(arch), { probe }), rows, arch, inputs);
      const reference = runTfjs(model, rows, arch, inputs, probe);
      const scale = Math.max(1, ...Array.from(reference.data, Math.abs));
      const error = maxAbsDiff(onnx.data, reference.data);
      assert.ok(error <= 1e-4 * scale, `${inputLength} pixels, ${probe}: max abs error ${error} (values up to ${scale})`);
    }
    model.dispose();
  }
});

test('the batch dimension is dynamic', async () => {
  const arch = { width: 4, inputLength: 200, featureCount: 2, classCount: 3 };
  const model = randomModel(arch, 5);
  const inputs = randomInputs(7, arch, 9);
  calibrateHead(model, 7, arch, inputs);
  const session = await ort.InferenceSession.create(buildOnnxModel(model, specFor(arch)));
  const reference = runTfjs(model, 7, arch, inputs);
  for (const rows of [1, 7]) {
    const out = await session.run({
      flux: new ort.Tensor('float32', inputs.flux.subarray(0, rows * 200), [rows, 1, 200]),
      features: new ort.Tensor('float32', inputs.features.subarray(0, rows * 2), [rows, 2]),
    });
    const p = out.probabilities!.data as Float32Array;
    assert.ok(maxAbsDiff(p, reference.data.subarray(0, rows * 3)) <= 1e-4);
  }
  await session.release();
  model.dispose();
});

test('astrospec export (exportOnnx) writes a self-describing file from a saved model directory; onnx.checker accepts it', async (t) => {
  const arch = { width: 4, inputLength: 128, featureCount: 2, classCount: 3 };
  const spec = specFor(arch);
  const model = randomModel(arch, 21);
  const inputs = randomInputs(3, arch, 4);
  calibrateHead(model, 3, arch, inputs);
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-export-'));
  try {
    await saveModel(tf, model, join(dir, 'run'), spec);
    const output = join(dir, 'model.onnx');
    const result = await exportHandler({ model: join(dir, 'run'), output, quiet: true });
    assert.deepEqual(await readdir(dir), ['model.onnx', 'run']);
    const bytes = await readFile(output);
    assert.equal(result.bytes, bytes.byteLength);
    assert.deepEqual(onnxModelSpec(bytes), spec);
    const onnx = await runOnnx(bytes, 3, arch, inputs);
    assert.ok(maxAbsDiff(onnx.data, runTfjs(model, 3, arch, inputs).data) <= 1e-4);

    const python = '/usr/bin/python3';
    const probe = existsSync(python)
      ? (() => { try { return execFileSync(python, ['-c', 'import onnx; print(onnx.__version__)'], { encoding: 'utf8' }).trim(); } catch { return undefined; } })()
      : undefined;
    if (!probe) {
      t.skip(`onnx.checker not run: ${python} cannot import onnx (apt-get install python3-onnx)`);
      return;
    }
    const check = `import onnx, sys\nm = onnx.load(sys.argv[1])\nonnx.checker.check_model(m, full_check=True)\nprint(m.opset_import[0].version)`;
    const opset = execFileSync(python, ['-c', check, output], { encoding: 'utf8' }).trim();
    assert.equal(opset, '17');
  } finally {
    model.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a spec that disagrees with the model is refused', () => {
  const arch = { width: 4, inputLength: 64, featureCount: 0, classCount: 3 };
  const model = randomModel(arch, 2);
  assert.throws(() => buildOnnxModel(model, specFor({ ...arch, inputLength: 65 })), /65 pixels/);
  assert.throws(() => buildOnnxModel(model, specFor({ ...arch, featureCount: 2 })), /side features/);
  model.dispose();
});

test('the 1-D form of the graph (conv1d option) gives the same probabilities as the default 1×k 2-D form', async () => {
  const arch = { width: 4, inputLength: 515, featureCount: 2, classCount: 3 };
  const model = randomModel(arch, 31);
  const inputs = randomInputs(4, arch, 32);
  calibrateHead(model, 4, arch, inputs);
  const oneD = buildOnnxModel(model, specFor(arch), { conv1d: true });
  const twoD = buildOnnxModel(model, specFor(arch));
  assert.ok(decodeModel(twoD).graph.node.some((n) => n.op_type === 'Unsqueeze'));
  assert.ok(!decodeModel(oneD).graph.node.some((n) => n.op_type === 'Unsqueeze'));
  const reference = runTfjs(model, 4, arch, inputs);
  for (const bytes of [oneD, twoD]) {
    const out = await runOnnx(bytes, 4, arch, inputs);
    assert.ok(maxAbsDiff(out.data, reference.data) <= 1e-4);
  }
  model.dispose();
});

test('a redshift head exports as a second output, z_probabilities, equal to tfjs in the 2-D and 1-D graphs', async () => {
  const arch = { width: 4, inputLength: 301, featureCount: 2, classCount: 3, redshift: { bins: 24, zMin: -0.03, zMax: 5, hidden: 8 } };
  const model = randomModel(arch, 41);
  const rows = 5;
  const inputs = randomInputs(rows, arch, 42);
  const tfjsOutputs = () =>
    tf.tidy(() => {
      const x = [tf.tensor3d(inputs.flux, [rows, arch.inputLength, 1]), tf.tensor2d(inputs.features, [rows, arch.featureCount])];
      return (model.predict(x) as tf.Tensor[]).map((t) => t.dataSync() as Float32Array);
    });
  // Scale the bins' dense layer so the largest logit is about 3: a saturated softmax would hide errors.
  const zHead = model.getLayer('z_head');
  const hidden = tf.model({ inputs: model.inputs, outputs: model.getLayer('z_hidden').output as tf.SymbolicTensor });
  const [kernel, bias] = zHead.getWeights();
  const largest = tf.tidy(() => {
    const h = hidden.predict([tf.tensor3d(inputs.flux, [rows, arch.inputLength, 1]), tf.tensor2d(inputs.features, [rows, arch.featureCount])]) as tf.Tensor2D;
    return tf.matMul(h, kernel as tf.Tensor2D).abs().max().dataSync()[0]!;
  });
  zHead.setWeights([kernel!.mul(3 / Math.max(largest, 1e-12)), bias!]);
  const [probabilities, zProbabilities] = tfjsOutputs();
  assert.equal(zProbabilities!.length, rows * 24);
  // The bins are not a one-hot: the check below compares a spread distribution.
  assert.ok(Math.max(...zProbabilities!) < 0.9);
  for (const conv1d of [false, true]) {
    const bytes = buildOnnxModel(model, specFor(arch), { conv1d });
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    try {
      assert.deepEqual([...session.outputNames], ['probabilities', 'z_probabilities']);
      const out = await session.run({
        flux: new ort.Tensor('float32', inputs.flux, [rows, 1, arch.inputLength]),
        features: new ort.Tensor('float32', inputs.features, [rows, arch.featureCount]),
      });
      assert.ok(maxAbsDiff(out.probabilities!.data as Float32Array, probabilities!) <= 1e-4, `probabilities (conv1d ${conv1d})`);
      assert.deepEqual([...out.z_probabilities!.dims], [rows, 24]);
      assert.ok(maxAbsDiff(out.z_probabilities!.data as Float32Array, zProbabilities!) <= 1e-4, `z_probabilities (conv1d ${conv1d})`);
    } finally {
      await session.release();
    }
  }
  model.dispose();
});
