import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { DEFAULT_INT8_MODEL } from '../src/cli/shipped-models.js';
import { exportHandler } from '../src/cli/commands/export.js';
import { synthHandler } from '../src/cli/commands/synth.js';
import { quantizeOnnxModel } from '../src/export/int8.js';
import { buildOnnxModel, onnxModelSpec } from '../src/export/onnx.js';
import { decodeModel, encodeModel, type ModelProto, type TensorProto } from '../src/export/onnx-proto.js';
import {
  activationParams,
  dequantizeValue,
  foldBatchIntoRows,
  onnxQuantizationInfo,
  quantizeBias,
  quantizeGraph,
  quantizeValue,
  quantizeWeights,
  QUANTIZATION_METADATA_KEY,
  QuantDataType,
  RangeCollector,
  roundHalfEven,
} from '../src/export/quantize.js';
import { classifyFile } from '../src/infer/classify.js';
import { readPredictions } from '../src/infer/predictions.js';
import { FEATURE_NAMES } from '../src/preprocess/reference.js';
import { buildResNet1d } from '../src/model/resnet1d.js';
import { saveModel } from '../src/model/io.js';
import type { ModelSpec } from '../src/model/spec.js';
import { random } from './classify-fixtures.js';

await tf.setBackend('cpu');

const BOSS = '../shared/data/boss';
const DEFAULT_MODEL = 'models/default.onnx';

test('round half to even, and the uint8 / int8 quantisation of scalars', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 2.5001, 3].map(roundHalfEven), [0, 2, 2, -0, -2, -2, 2, 3, 3]);
  const rand = random(3);
  for (let trial = 0; trial < 200; trial++) {
    const a = (rand() - 0.7) * 10 ** (4 * rand() - 2);
    const b = a + rand() * 10 ** (4 * rand() - 2);
    for (const type of ['uint8', 'int8'] as const) {
      const p = activationParams({ min: a, max: b }, type);
      const [qmin, qmax] = type === 'uint8' ? [0, 255] : [-128, 127];
      assert.ok(p.scale > 0 && Number.isFinite(p.scale));
      assert.ok(Number.isInteger(p.zeroPoint) && p.zeroPoint >= qmin && p.zeroPoint <= qmax);
      // Zero is exact (zero padding, ReLU's floor); the range [min(0, a), max(0, b)] is covered to half a step.
      assert.equal(dequantizeValue(quantizeValue(0, p, qmin, qmax), p), 0);
      const lo = Math.min(0, a);
      const hi = Math.max(0, b);
      for (let k = 0; k <= 20; k++) {
        const x = lo + ((hi - lo) * k) / 20;
        const q = quantizeValue(x, p, qmin, qmax);
        // The scalar reference: q = clamp(round(x / s) + z).
        assert.equal(q, Math.min(qmax, Math.max(qmin, roundHalfEven(Math.fround(x / p.scale)) + p.zeroPoint)));
        // Half a step, plus the float32 quotient's rounding (≤ 2⁻²⁴ of up to 255 steps).
        assert.ok(Math.abs(dequantizeValue(q, p) - x) <= p.scale * (0.5 + 1e-4), `${x} → ${q}`);
      }
    }
  }
  assert.deepEqual(activationParams({ min: 0, max: 0 }, 'uint8'), { scale: 1, zeroPoint: 0 });
  // A ReLU output (min 0) uses the zero point 0: saturation at 0 is the ReLU.
  assert.equal(activationParams({ min: 0, max: 3 }, 'uint8').zeroPoint, 0);
  assert.throws(() => activationParams({ min: Number.NaN, max: 1 }, 'uint8'), /finite/);
});

test('per-channel int8 weights: symmetric, scale max|w|/127, error at most half a step; int32 biases', () => {
  const rand = random(11);
  const channels = 5;
  const inner = 7;
  const w = Float32Array.from({ length: channels * inner }, (_, i) => (rand() - 0.5) * (Math.floor(i / inner) + 1) * 0.1);
  w.fill(0, 2 * inner, 3 * inner); // an all-zero channel
  for (const perChannel of [true, false]) {
    const q = quantizeWeights(w, channels, 0, perChannel);
    assert.equal(q.scales.length, perChannel ? channels : 1);
    for (let i = 0; i < w.length; i++) {
      const c = perChannel ? Math.floor(i / inner) : 0;
      assert.ok(q.values[i]! >= -127 && q.values[i]! <= 127);
      assert.ok(Math.abs(q.values[i]! * q.scales[c]! - w[i]!) <= q.scales[c]! / 2 + 1e-9);
    }
    if (perChannel) {
      for (let c = 0; c < channels; c++) {
        const m = Math.max(...Array.from(w.subarray(c * inner, (c + 1) * inner), Math.abs));
        assert.equal(q.scales[c], Math.fround(m > 0 ? m / 127 : 1));
        if (m > 0) assert.equal(Math.max(...Array.from(q.values.subarray(c * inner, (c + 1) * inner), Math.abs)), 127);
      }
    }
  }
  // Channels along the last axis (Gemm B [K, N]).
  const g = quantizeWeights(Float32Array.of(1, -2, 0.5, 4), 2, 1, true);
  assert.deepEqual(Array.from(g.scales), [Math.fround(1 / 127), Math.fround(4 / 127)]);
  assert.deepEqual(Array.from(g.values), [127, -64, 64, 127]);
  const b = quantizeBias(Float32Array.of(0.3, -1.2), 0.01, Float32Array.of(0.5, 0.25));
  assert.deepEqual(Array.from(b.values), [roundHalfEven(0.3 / Math.fround(0.005)), roundHalfEven(-1.2 / Math.fround(0.0025))]);
});

test('calibration ranges: min/max, percentile (one pass, histogram rebinned as values grow), least squared error', () => {
  const values = Float32Array.from({ length: 100_000 }, (_, i) => (i % 1000) / 1000);
  values[5] = 50; // one outlier in 100 000
  const minmax = new RangeCollector('minmax');
  const pct = new RangeCollector('percentile', 99.99);
  const mse = new RangeCollector('mse');
  // Growing batches: the last ones hold the largest values, so the histogram must be rebinned.
  for (const c of [minmax, pct, mse]) for (let at = 0; at < values.length; at += 10_000) c.add('x', values.slice(at, at + 10_000).reverse());
  assert.deepEqual(minmax.range('x'), { min: 0, max: 50 });
  const p = pct.range('x');
  assert.equal(p.min, 0);
  assert.ok(p.max >= 0.99 && p.max <= 1.1, `percentile max ${p.max}`);
  // The least-squares range: its actual quantise-dequantise error is no larger than either other's.
  const squaredError = (range: { min: number; max: number }) => {
    const q = activationParams(range, 'uint8');
    let sum = 0;
    for (const v of values) sum += (dequantizeValue(quantizeValue(v, q, 0, 255), q) - v) ** 2;
    return sum;
  };
  const e = mse.range('x');
  assert.ok(squaredError(e) <= squaredError(p) && squaredError(e) <= squaredError({ min: 0, max: 50 }), `least-squares range ${JSON.stringify(e)}`);
  // Without the outlier the bulk is kept whole.
  const bulk = new RangeCollector('mse');
  bulk.add('x', values.slice(1000));
  assert.ok(bulk.range('x').max >= 0.99, JSON.stringify(bulk.range('x')));
  assert.throws(() => minmax.range('y'), /no calibration statistics/);
  assert.throws(() => new RangeCollector('minmax').add('z', Float32Array.of(1, Number.NaN, Number.POSITIVE_INFINITY)), /not finite/);
});

const floatTensor = (name: string, dims: number[], data: Float32Array): TensorProto => ({ name, dims, data_type: QuantDataType.FLOAT, raw_data: new Uint8Array(data.slice().buffer) });
/** A one-graph opset-17 model around `graph` (name 'g'), for hand-built test graphs. */
const modelOf = (graph: Omit<ModelProto['graph'], 'name'>): ModelProto => ({
  ir_version: 8,
  opset_import: [{ domain: '', version: 17 }],
  producer_name: 'test',
  producer_version: '0',
  graph: { name: 'g', ...graph } as ModelProto['graph'],
  metadata_props: [],
});
const io = (name: string, dims: (number | string)[]) => ({
  name,
  type: { tensor_type: { elem_type: QuantDataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
});

test('QLinearConv in onnxruntime matches the scalar integer reference of the rewrite (Conv + ReLU fused, per-channel weights)', async () => {
  const rand = random(5);
  const [N, C, M, L, K] = [3, 2, 4, 17, 3];
  const w = Float32Array.from({ length: M * C * K }, () => rand() - 0.5);
  const bias = Float32Array.from({ length: M }, () => (rand() - 0.5) * 0.2);
  const model = modelOf({
    node: [
      { name: 'conv', op_type: 'Conv', input: ['x', 'w', 'b'], output: ['y'], attribute: [{ name: 'kernel_shape', type: 7, ints: [1, K] }, { name: 'pads', type: 7, ints: [0, 1, 0, 1] }] },
      { name: 'relu', op_type: 'Relu', input: ['y'], output: ['r'], attribute: [] },
    ],
    initializer: [floatTensor('w', [M, C, 1, K], w), floatTensor('b', [M], bias)],
    input: [io('x', ['N', C, 1, L])],
    output: [io('r', ['N', M, 1, L])],
  });
  const x = Float32Array.from({ length: N * C * L }, () => rand() * 2 - 0.8);
  const ranges = { x: { min: -0.8, max: 1.2 }, r: { min: 0, max: 1.5 } } as Record<string, { min: number; max: number }>;
  const { model: q, report } = quantizeGraph(model, (name) => ranges[name]!);
  assert.deepEqual(report.quantizedNodes, { Conv: 1 });
  assert.equal(report.fusedRelus, 1);
  assert.deepEqual(q.graph.node.map((n) => n.op_type), ['QuantizeLinear', 'QLinearConv', 'DequantizeLinear']);
  const session = await ort.InferenceSession.create(encodeModel(q), { intraOpNumThreads: 1 });
  const out = (await session.run({ x: new ort.Tensor('float32', x, [N, C, 1, L]) })).r!.data as Float32Array;
  await session.release();

  // Scalar reference: integer convolution of the quantised input and weights, int32 bias,
  // requantised to the output's uint8 parameters (saturating at the zero point 0: the ReLU).
  const xp = activationParams(ranges.x!, 'uint8');
  const yp = activationParams(ranges.r!, 'uint8');
  const qw = quantizeWeights(w, M, 0, true);
  const qb = quantizeBias(bias, xp.scale, qw.scales);
  const qx = Int32Array.from(x, (v) => quantizeValue(v, xp, 0, 255));
  let exact = 0;
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      for (let l = 0; l < L; l++) {
        let acc = qb.values[m]!;
        for (let c = 0; c < C; c++) {
          for (let k = 0; k < K; k++) {
            const at = l + k - 1;
            if (at < 0 || at >= L) continue; // zero padding = the zero point
            acc += (qx[(n * C + c) * L + at]! - xp.zeroPoint) * qw.values[(m * C + c) * K + k]!;
          }
        }
        const multiplier = Math.fround((xp.scale * qw.scales[m]!) / yp.scale);
        const qy = Math.min(255, Math.max(0, roundHalfEven(acc * multiplier) + yp.zeroPoint));
        const ortQ = Math.round(out[(n * M + m) * L + l]! / yp.scale) + yp.zeroPoint;
        assert.ok(Math.abs(ortQ - qy) <= 1, `(${n}, ${m}, ${l}): onnxruntime ${ortQ}, reference ${qy}`);
        if (ortQ === qy) exact++;
      }
    }
  }
  // onnxruntime requantises in float32 (x_scale · w_scale / y_scale as one float): off by one only at ties.
  assert.ok(exact >= 0.98 * N * M * L, `${exact} of ${N * M * L} exact`);
});

test('our QuantizeLinear arithmetic is onnxruntime\'s: same codes for random values, ties and saturation', async () => {
  const p = activationParams({ min: -0.37, max: 1.9 }, 'uint8');
  const rand = random(9);
  const x = Float32Array.from({ length: 4000 }, (_, i) => (i < 1000 ? (Math.floor(rand() * 300) - 30 + 0.5) * p.scale : (rand() - 0.3) * 3));
  const model = modelOf({
    node: [{ name: 'q', op_type: 'QuantizeLinear', input: ['x', 's', 'z'], output: ['y'], attribute: [] }],
    initializer: [floatTensor('s', [], Float32Array.of(p.scale)), { name: 'z', dims: [], data_type: QuantDataType.UINT8, raw_data: Uint8Array.of(p.zeroPoint) }],
    input: [io('x', [x.length])],
    output: [{ name: 'y', type: { tensor_type: { elem_type: QuantDataType.UINT8, shape: { dim: [{ dim_value: x.length }] } } } }],
  });
  const session = await ort.InferenceSession.create(encodeModel(model));
  const y = (await session.run({ x: new ort.Tensor('float32', x, [x.length]) })).y!.data as Uint8Array;
  await session.release();
  let same = 0;
  for (let i = 0; i < x.length; i++) if (y[i] === quantizeValue(x[i]!, p, 0, 255)) same++;
  assert.equal(same, x.length);
});

/** Arrow file of synthetic spectra (the mixed generator, training templates). */
async function synthetic(dir: string, name: string, n: number, seed: number): Promise<string> {
  const output = join(dir, name);
  await synthHandler({ n, seed, output, generator: 'mixed', templates: 'train', mix: '0.5,0.25,0.25', snrMin: 1, snrMax: 100, quiet: true });
  return output;
}

test('the default model quantised: valid int8 graph, classify runs it unchanged, and its classes agree with fp32 on real BOSS and synthetic spectra', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-quantize-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const calibration = await synthetic(dir, 'calibration.arrow', 1024, 3);
  const output = join(dir, 'default.int8.onnx');
  const result = await exportHandler({ model: DEFAULT_MODEL, output, quantize: 'int8', calibration, calibrationRows: 1024, quiet: true });
  const bytes = await readFile(output);
  assert.equal(result.bytes, bytes.byteLength);
  const fp32 = await readFile(DEFAULT_MODEL);
  assert.ok(bytes.byteLength < fp32.byteLength / 3, `int8 file ${bytes.byteLength} bytes, fp32 ${fp32.byteLength}`);
  // The spec (grid, preprocessing, calibration temperature) is carried over; the settings are recorded.
  assert.deepEqual(onnxModelSpec(bytes), onnxModelSpec(fp32));
  const info = onnxQuantizationInfo(bytes)!;
  assert.equal(info.calibration.rows, 1024);
  // The classifier head and the redshift head's two dense layers.
  assert.deepEqual(info.report.quantizedNodes, { Conv: 20, MaxPool: 1, Add: 8, Gemm: 3 });

  // Every QLinear node's scales are positive and finite, zero points in range, weights int8 per channel.
  const model = decodeModel(bytes);
  const init = new Map(model.graph.initializer.map((i) => [i.name, i]));
  const floats = (name: string) => { const r = init.get(name)!.raw_data; return new Float32Array(new Uint8Array(r).buffer); };
  const convs = model.graph.node.filter((n) => n.op_type === 'QLinearConv');
  assert.equal(convs.length, 20);
  for (const n of convs) {
    const [, xs, xz, w, ws, wz, ys, yz, b] = n.input;
    for (const s of [xs!, ys!]) { const v = floats(s); assert.equal(v.length, 1); assert.ok(v[0]! > 0 && Number.isFinite(v[0]!), `${s} = ${v[0]}`); }
    for (const z of [xz!, yz!]) { assert.equal(init.get(z)!.data_type, QuantDataType.UINT8); assert.equal(init.get(z)!.dims.length, 0); }
    const weight = init.get(w!)!;
    assert.equal(weight.data_type, QuantDataType.INT8);
    const channels = Number(weight.dims[0]);
    const scales = floats(ws!);
    assert.equal(scales.length, channels);
    assert.ok(scales.every((s) => s > 0 && Number.isFinite(s)));
    assert.ok(new Int8Array(new Uint8Array(init.get(wz!)!.raw_data).buffer).every((z) => z === 0));
    assert.ok(new Int8Array(new Uint8Array(weight.raw_data).buffer).every((q) => q >= -127));
    assert.equal(init.get(b!)!.data_type, QuantDataType.INT32);
  }
  // Outputs keep their names and float type.
  assert.deepEqual(model.graph.output.map((o) => o.name), decodeModel(fp32).graph.output.map((o) => o.name));

  // classify runs both models unchanged; compare on the real BOSS spectra and 1 000 synthetic ones.
  // Measured with these 1 024 calibration spectra: the current default model's classes agree on
  // 100 % of BOSS (mean |Δp| 0.009) and 99.9 % of the synthetic ones (mean |Δp| 0.003); the
  // previous model's on 95.7 % of BOSS (6 of 140; 2 with 4 096 calibration spectra), mean |Δp|
  // 0.021, and 99.7 % of the synthetic ones. The fp32 model itself changes 0–2 BOSS classes under
  // ±0.001 input noise, about half the int8 input step (docs/onnx.md). A broken rewrite agrees
  // on far fewer.
  const test = await synthetic(dir, 'test.arrow', 1000, 2);
  for (const [name, data, labels, minAgreement, maxMeanDiff] of [
    ['BOSS', join(BOSS, 'spectra'), join(BOSS, 'labels.csv'), 0.93, 0.03],
    ['synthetic', test, undefined, 0.985, 0.01],
  ] as const) {
    const predictions = [];
    for (const m of [DEFAULT_MODEL, output]) {
      const out = join(dir, `${name}-${m === output ? 'int8' : 'fp32'}.csv`);
      await classifyFile(data, { model: m, output: out, labels, workers: 1, intraOpThreads: 1 });
      predictions.push(await readPredictions(out));
    }
    const [a, b] = predictions as [Awaited<ReturnType<typeof readPredictions>>, Awaited<ReturnType<typeof readPredictions>>];
    assert.equal(a.ids.length, b.ids.length);
    let agree = 0;
    let sumDiff = 0;
    for (let i = 0; i < a.ids.length; i++) {
      if (a.predicted[i] === b.predicted[i]) agree++;
      for (let k = 0; k < 3; k++) sumDiff += Math.abs(a.probabilities[i * 3 + k]! - b.probabilities[i * 3 + k]!) / 3;
    }
    // Other outputs (an out-of-distribution score) pass through: computed in float from int8 features.
    assert.equal(b.oodScore !== undefined, a.oodScore !== undefined);
    if (a.oodScore && b.oodScore) {
      let rel = 0;
      for (let i = 0; i < a.ids.length; i++) rel += Math.abs(a.oodScore[i]! - b.oodScore[i]!) / Math.max(Math.abs(a.oodScore[i]!), 1e-6) / a.ids.length;
      t.diagnostic(`${name}: ood_score mean relative difference ${rel.toFixed(4)}`);
    }
    const agreement = agree / a.ids.length;
    const meanDiff = sumDiff / a.ids.length;
    t.diagnostic(`${name}: ${a.ids.length} spectra, classes agree on ${(100 * agreement).toFixed(1)} %, mean |Δp| ${meanDiff.toFixed(4)}`);
    assert.ok(agreement >= minAgreement, `${name}: classes agree on ${agreement}`);
    assert.ok(meanDiff <= maxMeanDiff, `${name}: mean |Δp| ${meanDiff}`);
  }
});

test('export --quantize from a trained run directory (side features), from an ONNX file; bad arguments', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-quantize-run-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const arch = { width: 4, inputLength: 2600, featureCount: 2, classCount: 3 };
  const spec: ModelSpec = {
    format: 'astrospec-model', version: 1, classNames: ['star', 'galaxy', 'qso'], grid: { start: 3800, step: 2, length: 2600 }, architecture: arch,
    preprocess: { normalisation: 'l2', bin: 1, smoothWindow: 0, features: FEATURE_NAMES.slice(0, 2), featureMean: [0, 0], featureStd: [1e4, 1] },
  };
  const model = buildResNet1d(tf, arch, 4);
  await saveModel(tf, model, join(dir, 'run'), spec);
  model.dispose();
  const calibration = await synthetic(dir, 'calibration.arrow', 200, 7);
  const output = join(dir, 'run.int8.onnx');
  const result = await exportHandler({ model: join(dir, 'run'), output, quantize: 'int8', calibration, quiet: true });
  assert.equal(result.quantization!.calibration.rows, 200);
  const bytes = await readFile(output);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  assert.deepEqual([...session.inputNames].sort(), ['features', 'flux']);
  const rows = 4;
  const out = await session.run({
    flux: new ort.Tensor('float32', new Float32Array(rows * 2600).fill(1 / Math.sqrt(2600)), [rows, 1, 2600]),
    features: new ort.Tensor('float32', new Float32Array(rows * 2), [rows, 2]),
  });
  await session.release();
  const p = out.probabilities!.data as Float32Array;
  for (let r = 0; r < rows; r++) assert.ok(Math.abs(p[r * 3]! + p[r * 3 + 1]! + p[r * 3 + 2]! - 1) < 1e-4);

  // Per-tensor weights, a node kept in float, the QDQ form: all load and run.
  const fp32 = await readFile(DEFAULT_MODEL);
  for (const options of [{ perChannel: false }, { keepFloat: ['stem_conv'] }, { format: 'qdq' as const }]) {
    const q = await quantizeOnnxModel(fp32, { calibration, calibrationRows: 64, ...options });
    const s = await ort.InferenceSession.create(q.bytes, { intraOpNumThreads: 1 });
    const y = await s.run({ flux: new ort.Tensor('float32', new Float32Array(2 * 650).fill(1 / Math.sqrt(650)), [2, 1, 650]) });
    await s.release();
    assert.ok((y.probabilities!.data as Float32Array).every(Number.isFinite), JSON.stringify(options));
  }

  await assert.rejects(exportHandler({ model: DEFAULT_MODEL, output, quiet: true }), /already an ONNX model/);
  await assert.rejects(exportHandler({ model: DEFAULT_MODEL, output, quantize: 'int8', quiet: true }), /needs --calibration/);
  await assert.rejects(exportHandler({ model: output, output: join(dir, 'again.onnx'), quantize: 'int8', calibration, quiet: true }), /already quantised/);
  await assert.rejects(exportHandler({ model: DEFAULT_MODEL, output, quantize: 'int8', calibration, keepFloat: ['nope'], quiet: true }), /no node nope/);
});

test('the batch folded into image rows gives the same outputs (fp32 and int8); graphs it cannot prove row-wise are left alone', async () => {
  const fp32 = await readFile(DEFAULT_MODEL);
  const folded = foldBatchIntoRows(decodeModel(fp32))!;
  assert.ok(folded);
  assert.ok(!folded.graph.node.some((n) => n.op_type === 'GlobalAveragePool'));
  const rand = random(17);
  const rows = 37; // not the batch size classify uses: the fold doesn't depend on N
  const flux = Float32Array.from({ length: rows * 650 }, () => rand() * 0.08 - 0.01);
  const run = async (bytes: Uint8Array) => {
    const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    const out = await s.run({ flux: new ort.Tensor('float32', flux, [rows, 1, 650]) });
    await s.release();
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  };
  const a = await run(fp32);
  const b = await run(encodeModel(folded));
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  for (const k of Object.keys(a)) for (let i = 0; i < a[k]!.length; i++) assert.ok(Math.abs(a[k]![i]! - b[k]![i]!) <= 1e-5 * Math.max(1, Math.abs(a[k]![i]!)), `${k}[${i}]: ${a[k]![i]} vs ${b[k]![i]}`);

  // int8 with and without the fold: the same integer arithmetic per row, so nearly the same numbers.
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-fold-'));
  try {
    const calibration = await synthetic(dir, 'calibration.arrow', 128, 3);
    const q = await quantizeOnnxModel(fp32, { calibration, calibrationRows: 128 });
    const u = await quantizeOnnxModel(fp32, { calibration, calibrationRows: 128, foldBatch: false });
    assert.equal(q.info.foldedBatch, true);
    assert.equal(u.info.foldedBatch, false);
    const pq = (await run(q.bytes)).probabilities!;
    const pu = (await run(u.bytes)).probabilities!;
    const pf = a.probabilities!;
    // Requantisation rounds the same integers, but a float ReduceMean/Transpose instead of
    // GlobalAveragePool and kernel-order differences can move a code by one: far below int8's own error.
    let foldDiff = 0;
    let int8Diff = 0;
    for (let i = 0; i < pq.length; i++) {
      foldDiff += Math.abs(pq[i]! - pu[i]!) / pq.length;
      int8Diff += Math.abs(pu[i]! - pf[i]!) / pq.length;
    }
    assert.ok(foldDiff <= 0.1 * int8Diff, `folded vs unfolded int8: mean |Δp| ${foldDiff}; int8 vs fp32 ${int8Diff}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  // The 1-D form has no [N, C, 1, L] part; a 1×k conv with a vertical stride can't be folded.
  const arch = { width: 4, inputLength: 128, featureCount: 0, classCount: 3 };
  const spec: ModelSpec = { format: 'astrospec-model', version: 1, classNames: ['star', 'galaxy', 'qso'], grid: { start: 3800, step: 2, length: 128 }, architecture: arch, preprocess: { normalisation: 'l2', bin: 1, smoothWindow: 0, features: [] } };
  const model = buildResNet1d(tf, arch, 2);
  assert.equal(foldBatchIntoRows(decodeModel(buildOnnxModel(model, spec, { conv1d: true }))), undefined);
  const twoD = decodeModel(buildOnnxModel(model, spec));
  model.dispose();
  assert.ok(foldBatchIntoRows(twoD));
  const conv = twoD.graph.node.find((n) => n.op_type === 'Conv')!;
  conv.attribute = conv.attribute.map((a) => (a.name === 'strides' ? { ...a, ints: [2, 2] } : a));
  assert.equal(foldBatchIntoRows(twoD), undefined);
});

test('Gemm (transB = 1, bias) and MatMul on a 3-D input become QGemm and MatMulIntegerToFloat, close to float; the QDQ form too', async () => {
  const rand = random(23);
  const [K, N, M] = [12, 5, 4];
  const gemmW = Float32Array.from({ length: N * K }, () => rand() - 0.5); // [N, K], transB = 1
  const gemmB = Float32Array.from({ length: N }, () => rand() - 0.5);
  const matW = Float32Array.from({ length: N * M }, () => rand() - 0.5); // [N, M]
  const model = modelOf({
    node: [
      { name: 'gemm', op_type: 'Gemm', input: ['x', 'gw', 'gb'], output: ['h'], attribute: [{ name: 'transB', type: 2, i: 1 }] },
      { name: 'relu', op_type: 'Relu', input: ['h'], output: ['r'], attribute: [] },
      { name: 'unsqueeze', op_type: 'Unsqueeze', input: ['r', 'axes'], output: ['r3'], attribute: [] },
      { name: 'matmul', op_type: 'MatMul', input: ['r3', 'mw'], output: ['y'], attribute: [] },
    ],
    initializer: [floatTensor('gw', [N, K], gemmW), floatTensor('gb', [N], gemmB), floatTensor('mw', [N, M], matW), { name: 'axes', dims: [1], data_type: 7, raw_data: new Uint8Array(new BigInt64Array([0n]).buffer) }],
    input: [io('x', ['B', K])],
    output: [io('y', [1, 'B', M])],
  });
  const rows = 50;
  const x = Float32Array.from({ length: rows * K }, () => rand() * 2 - 1);
  const run = async (m: ModelProto) => {
    const s = await ort.InferenceSession.create(encodeModel(m), { intraOpNumThreads: 1 });
    const y = (await s.run({ x: new ort.Tensor('float32', x, [rows, K]) })).y!.data as Float32Array;
    await s.release();
    return y;
  };
  const reference = await run(model);
  // Ranges from the float run itself (min/max of each tensor).
  const collector = new RangeCollector('minmax');
  collector.add('x', x);
  const hidden = new Float32Array(rows * N);
  for (let r = 0; r < rows; r++) for (let n = 0; n < N; n++) {
    let acc = gemmB[n]!;
    for (let k = 0; k < K; k++) acc += x[r * K + k]! * gemmW[n * K + k]!;
    hidden[r * N + n] = Math.max(0, acc);
  }
  collector.add('r', hidden);
  collector.add('r3', hidden);
  let span = 0;
  for (const v of reference) span = Math.max(span, Math.abs(v));
  for (const format of ['qoperator', 'qdq'] as const) {
    const { model: q, report } = quantizeGraph(structuredClone(model), (name) => collector.range(name), { format });
    assert.deepEqual(report.quantizedNodes, { Gemm: 1, MatMul: 1 });
    if (format === 'qoperator') assert.deepEqual(q.graph.node.filter((n) => n.op_type !== 'QuantizeLinear' && n.op_type !== 'DequantizeLinear').map((n) => n.op_type), ['QGemm', 'Relu', 'Unsqueeze', 'MatMulIntegerToFloat']);
    const y = await run(q);
    let max = 0;
    for (let i = 0; i < y.length; i++) max = Math.max(max, Math.abs(y[i]! - reference[i]!));
    assert.ok(max <= 0.02 * span, `${format}: max error ${max} of outputs up to ${span}`);
  }
});

test('models/default.int8.onnx is the int8 export of models/default.onnx, made as scripts/quantize-default.sh makes it', async () => {
  const fp32 = decodeModel(await readFile(DEFAULT_MODEL));
  const bytes = await readFile(DEFAULT_INT8_MODEL);
  const int8 = decodeModel(bytes);
  // Everything the fp32 model records (spec, temperature, out-of-distribution statistics) is carried
  // over unchanged: a retrained fp32 model without a new int8 export fails here.
  assert.deepEqual(
    int8.metadata_props?.filter((p) => p.key !== QUANTIZATION_METADATA_KEY),
    fp32.metadata_props,
  );
  const info = onnxQuantizationInfo(bytes)!;
  assert.deepEqual(info.calibration, { method: 'percentile', percentile: 99.99, rows: 4096 });
  assert.deepEqual(info.report.quantizedNodes, { Conv: 20, MaxPool: 1, Add: 8, Gemm: 3 });
});
