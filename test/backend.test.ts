import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { parseBackendChoice, resolveBackend } from '../src/train/backend.js';
import { BATCHNORM_TRAIN, conv1dBackpropFilterReference, conv1dGeometry } from '../src/train/kernels.js';
import { useFusedBatchNorm } from '../src/train/batchnorm.js';
import { useFusedAddRelu } from '../src/train/fuse-relu.js';
import { createAdam } from '../src/train/adam.js';
import { useNativeConv1d } from '../src/train/conv1d-layer.js';
import { native } from '../src/native/binding.js';

function randomArray(n: number, seed: number): Float32Array {
  // Park–Miller LCG mapped to roughly N(0, 1) by summing uniforms: deterministic, no tf state.
  let s = seed;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < 4; j++) {
      s = (s * 48271) % 2147483647;
      sum += s / 2147483647;
    }
    out[i] = (sum - 2) * 1.7;
  }
  return out;
}

interface Case {
  batch: number;
  length: number;
  cin: number;
  cout: number;
  kernel: number;
  stride: 1 | 2;
  padding: 'same' | 'valid';
}

/** Forward output and gradients of sum(conv1d(x, w) · r) with respect to x and w, on the active backend. */
function convAndGrads(c: Case, x: Float32Array, w: Float32Array, r: Float32Array) {
  return tf.tidy(() => {
    const xt = tf.tensor3d(x, [c.batch, c.length, c.cin]);
    const wt = tf.tensor3d(w, [c.kernel, c.cin, c.cout]);
    const y = tf.conv1d(xt, wt, c.stride, c.padding);
    const rt = tf.tensor(r, y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv1d(a as tf.Tensor3D, b as tf.Tensor3D, c.stride, c.padding), rt)))([xt, wt]);
    return { y: Float32Array.from(y.dataSync()), dx: Float32Array.from(dx!.dataSync()), dw: Float32Array.from(dw!.dataSync()), outLength: y.shape[1] };
  });
}

/** `run(true)` on the WASM backend (with the native kernels), then `run(false)` on tfjs's own CPU backend. */
async function onWasmAndCpu<T>(run: (wasm: boolean) => T): Promise<{ got: T; want: T }> {
  await tf.setBackend('wasm');
  const got = run(true);
  await tf.setBackend('cpu');
  return { got, want: run(false) };
}

function maxRelativeDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return worst;
}

const cases: Case[] = [];
for (const kernel of [1, 3, 7])
  for (const stride of [1, 2] as const)
    for (const length of [9, 26, 33]) cases.push({ batch: 3, length, cin: 5, cout: 18, kernel, stride, padding: 'same' });
cases.push({ batch: 2, length: 31, cin: 1, cout: 16, kernel: 7, stride: 2, padding: 'same' });
cases.push({ batch: 2, length: 17, cin: 32, cout: 64, kernel: 3, stride: 2, padding: 'same' });
cases.push({ batch: 2, length: 15, cin: 4, cout: 6, kernel: 3, stride: 2, padding: 'valid' });

test('backend names parse, and unknown ones are refused', () => {
  assert.equal(parseBackendChoice(undefined), 'auto');
  assert.equal(parseBackendChoice('gpu'), 'tensorflow-gpu');
  assert.equal(parseBackendChoice('WASM'), 'wasm');
  assert.throws(() => parseBackendChoice('metal'), /unknown backend/);
});

test('WASM conv1d forward and gradients match the CPU backend', async () => {
  const wasm = await resolveBackend('wasm', { quiet: true });
  assert.equal(wasm.name, 'wasm');
  assert.ok(wasm.nativeConvKernels, 'the native addon should be built for tests (npm run build:native)');
  for (const [i, c] of cases.entries()) {
    const x = randomArray(c.batch * c.length * c.cin, 11 + i);
    const w = randomArray(c.kernel * c.cin * c.cout, 101 + i);
    const outLength = c.padding === 'same' ? Math.ceil(c.length / c.stride) : Math.floor((c.length - c.kernel) / c.stride) + 1;
    const r = randomArray(c.batch * outLength * c.cout, 1001 + i);
    const { got, want } = await onWasmAndCpu(() => convAndGrads(c, x, w, r));
    const label = JSON.stringify(c);
    assert.equal(got.outLength, outLength, label);
    assert.ok(maxRelativeDiff(got.y, want.y) < 1e-5, `forward ${label}`);
    assert.ok(maxRelativeDiff(got.dx, want.dx) < 1e-5, `input gradient ${label}`);
    assert.ok(maxRelativeDiff(got.dw, want.dw) < 1e-5, `filter gradient ${label}: ${maxRelativeDiff(got.dw, want.dw)}`);
  }
});

test('the TypeScript filter gradient (no-addon fallback) matches the CPU backend', async () => {
  await tf.setBackend('cpu');
  for (const [i, c] of cases.entries()) {
    const x = randomArray(c.batch * c.length * c.cin, 21 + i);
    const w = randomArray(c.kernel * c.cin * c.cout, 201 + i);
    const g = conv1dGeometry(tf, [c.batch, 1, c.length, c.cin], [1, c.kernel, c.cin, c.cout], { strides: [1, c.stride], pad: c.padding, dataFormat: 'NHWC' });
    assert.ok(g);
    const r = randomArray(c.batch * g.outLength * c.cout, 2001 + i);
    const want = convAndGrads(c, x, w, r);
    const dw = new Float32Array(w.length);
    conv1dBackpropFilterReference(g, x, r, dw);
    assert.ok(maxRelativeDiff(dw, want.dw) < 1e-5, JSON.stringify(c));
  }
});

test('conv1dGeometry declines shapes that are not 1D convolutions', () => {
  assert.equal(conv1dGeometry(tf, [1, 3, 8, 2], [1, 3, 2, 4], { strides: 1, pad: 'same', dataFormat: 'NHWC' }), undefined);
  assert.equal(conv1dGeometry(tf, [1, 1, 8, 2], [1, 3, 2, 4], { strides: 1, pad: 'same', dataFormat: 'NCHW' }), undefined);
  assert.equal(conv1dGeometry(tf, [1, 1, 8, 2], [1, 3, 2, 4], { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 2 }), undefined);
});

test('fused training BatchNorm on WASM matches tfjs-layers on the CPU backend: output, gradients, moving averages', async () => {
  await resolveBackend('wasm', { quiet: true });
  const shape = [3, 37, 20];
  const x = randomArray(shape[0]! * shape[1]! * shape[2]!, 5);
  for (let i = 0; i < x.length; i++) x[i] = x[i]! * 3 + 1.5; // mean and scale away from 0 and 1
  const r = randomArray(x.length, 6);
  const run = (fused: boolean) => {
    const input = tf.input({ shape: shape.slice(1) });
    const bn = tf.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-3, gammaInitializer: tf.initializers.randomNormal({ seed: 3 }), betaInitializer: tf.initializers.randomNormal({ seed: 4 }) });
    const model = tf.model({ inputs: input, outputs: bn.apply(input) as tf.SymbolicTensor });
    assert.equal(useFusedBatchNorm(tf, model), fused ? 1 : 0);
    const xt = tf.tensor(x, shape);
    const rt = tf.tensor(r, shape);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.apply(xt, { training: true }) as tf.Tensor, rt)) as tf.Scalar, vars);
    const [dx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(model.apply(a, { training: true }) as tf.Tensor, rt)))([xt]);
    const y = model.apply(xt, { training: true }) as tf.Tensor;
    const out = {
      y: Float32Array.from(y.dataSync()),
      dx: Float32Array.from(dx!.dataSync()),
      dgamma: Float32Array.from(grads[vars[0]!.name]!.dataSync()),
      dbeta: Float32Array.from(grads[vars[1]!.name]!.dataSync()),
      value: value.dataSync()[0]!,
      // Three training calls so far: the moving averages moved three times.
      moving: Float32Array.from(model.getWeights().slice(2).flatMap((w) => Array.from(w.dataSync()))),
    };
    model.dispose();
    return out;
  };
  assert.ok(tf.getKernel(BATCHNORM_TRAIN, 'wasm'));
  const { got, want } = await onWasmAndCpu(run);
  for (const key of ['y', 'dx', 'dgamma', 'dbeta', 'moving'] as const) {
    assert.ok(maxRelativeDiff(got[key], want[key]) < 2e-5, `${key}: ${maxRelativeDiff(got[key], want[key])}`);
  }
  // On a backend without the fused kernels nothing is wrapped (checked above with fused = false on CPU).
});

test('1D max-pool gradient on WASM matches the CPU backend', async () => {
  await resolveBackend('wasm', { quiet: true });
  for (const [length, pad] of [[31, 'same'], [32, 'same'], [17, 'valid']] as const) {
    const x = randomArray(2 * length * 5, length);
    const grad = () =>
      tf.tidy(() => {
        const xt = tf.tensor3d(x, [2, length, 5]);
        const pool = tf.layers.maxPooling1d({ poolSize: 3, strides: 2, padding: pad });
        const r = tf.tensor(randomArray(2 * (pool.computeOutputShape([2, length, 5]) as number[])[1]! * 5, 77), pool.computeOutputShape([2, length, 5]) as number[]);
        const [dx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(pool.apply(a) as tf.Tensor, r)))([xt]);
        return Float32Array.from(dx!.dataSync());
      });
    const { got, want } = await onWasmAndCpu(grad);
    assert.ok(maxRelativeDiff(got, want) < 1e-6, `length ${length} ${pad}`);
  }
});

test('1D max pool on WASM matches the CPU backend, NaN and padding never winning', async () => {
  await resolveBackend('wasm', { quiet: true });
  assert.ok(tf.getKernel('MaxPool', 'wasm'));
  for (const [length, pad] of [[31, 'same'], [32, 'same'], [17, 'valid']] as const) {
    const x = randomArray(2 * length * 5, length + 100);
    // Channel 1's first window is NaN only: −∞ on both (WASM's own kernel gives NaN).
    x[1] = NaN;
    x[5 + 1] = NaN;
    x[10 + 1] = NaN;
    x[17] = Infinity;
    const pool = () => tf.tidy(() => Float32Array.from((tf.layers.maxPooling1d({ poolSize: 3, strides: 2, padding: pad }).apply(tf.tensor3d(x, [2, length, 5])) as tf.Tensor).dataSync()));
    const { got, want } = await onWasmAndCpu(pool);
    assert.equal(want[1], -Infinity);
    assert.deepEqual(got, want, `length ${length} ${pad}`);
  }
});

test('global average pooling (Mean over the middle axis) and its gradient on WASM match the CPU backend', async () => {
  await resolveBackend('wasm', { quiet: true });
  const x = randomArray(3 * 41 * 7, 5);
  const r = randomArray(3 * 7, 6);
  const run = () =>
    tf.tidy(() => {
      const xt = tf.tensor3d(x, [3, 41, 7]);
      const gap = tf.layers.globalAveragePooling1d();
      const [dx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(gap.apply(a) as tf.Tensor, tf.tensor2d(r, [3, 7]))))([xt]);
      // keepDims and a negative axis take the native kernels too; other axes keep tfjs's.
      const [dxKeep] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.mean(a, -2, true), tf.tensor3d(r, [3, 1, 7]))))([xt]);
      const [dxOther] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.mean(a, 2), tf.scalar(2))))([xt]);
      return {
        y: Float32Array.from((gap.apply(xt) as tf.Tensor).dataSync()),
        dx: Float32Array.from(dx!.dataSync()),
        dxKeep: Float32Array.from(dxKeep!.dataSync()),
        other: Float32Array.from(tf.mean(xt, [0, 2]).dataSync()),
        dxOther: Float32Array.from(dxOther!.dataSync()),
      };
    });
  const { got, want } = await onWasmAndCpu(run);
  for (const key of ['y', 'dx', 'dxKeep', 'other', 'dxOther'] as const) assert.ok(maxRelativeDiff(got[key], want[key]) < 1e-6, `${key}: ${maxRelativeDiff(got[key], want[key])}`);
  assert.deepEqual(got.dx, want.dx, 'dy / L, bit for bit');
});

test('the addon pooling functions refuse shapes their arrays cannot hold, naming the field', () => {
  const addon = native();
  const shape = { batch: 2, inLength: 8, outLength: 4, channels: 3, window: 3, stride: 2, padLeft: 1 };
  const x = new Float32Array(2 * 8 * 3);
  addon.maxPool1dForwardSync(x, new Float32Array(2 * 4 * 3), shape);
  assert.throws(() => addon.maxPool1dForwardSync(x, new Float32Array(2 * 4 * 3 - 1), shape), /maxPool1dForwardSync: y must hold batch × outLength × channels values/);
  assert.throws(() => addon.maxPool1dForwardSync(x.subarray(1), new Float32Array(24), shape), /x must hold/);
  assert.throws(() => addon.maxPool1dForwardSync(x, new Float32Array(24), { ...shape, stride: 1.5 }), /shape\.stride must be an integer ≥ 1/);
  assert.throws(() => addon.maxPool1dBackwardSync(x, new Float32Array(24), x, { ...shape, padLeft: undefined as unknown as number }), /shape\.padLeft must be a number/);
  const dims = { batch: 2, length: 8, channels: 3 };
  addon.meanAxis1Sync(x, new Float32Array(6), dims);
  addon.meanAxis1GradSync(new Float32Array(6), x, dims);
  assert.throws(() => addon.meanAxis1Sync(x, new Float32Array(5), dims), /meanAxis1Sync: y must hold batch × channels values/);
  assert.throws(() => addon.meanAxis1GradSync(new Float32Array(6), x.subarray(1), dims), /meanAxis1GradSync: dx must hold/);
  assert.throws(() => addon.meanAxis1Sync(x, new Float32Array(6), { ...dims, length: 0 }), /dims\.length must be an integer ≥ 1/);
  assert.throws(() => addon.meanAxis1Sync(x, new Float32Array(6), null as unknown as typeof dims), /dims must be an object/);
});

test('one-kernel Adam on WASM follows tf.train.adam on the CPU backend, and its state saves and restores', async () => {
  await resolveBackend('wasm', { quiet: true });
  const start = randomArray(40, 8);
  const run = async (backend: 'wasm' | 'cpu') => {
    await tf.setBackend(backend);
    const w = tf.variable(tf.tensor2d(start, [8, 5]), true, `adam_test_${backend}`);
    const optimizer = backend === 'wasm' ? createAdam(tf, 0.05) : tf.train.adam(0.05);
    for (let step = 0; step < 5; step++) {
      optimizer.minimize(() => tf.sum(tf.square(tf.sub(w, tf.scalar(step * 0.1)))) as tf.Scalar, false, [w]);
    }
    const weights = await optimizer.getWeights();
    const out = { w: Float32Array.from(w.dataSync()), names: weights.map((x) => x.name), moments: Float32Array.from(weights.slice(1).flatMap((x) => Array.from(x.tensor.dataSync()))) };
    optimizer.dispose();
    w.dispose();
    return out;
  };
  const got = await run('wasm');
  const want = await run('cpu');
  assert.ok(maxRelativeDiff(got.w, want.w) < 1e-5, `weights ${maxRelativeDiff(got.w, want.w)}`);
  assert.ok(maxRelativeDiff(got.moments, want.moments) < 1e-5, 'moments');
  assert.deepEqual(got.names.map((n) => n.replace('wasm', 'x')), want.names.map((n) => n.replace('cpu', 'x')));
});

test('Conv1D layers on the native 3D kernels match tfjs-layers on the CPU backend', async () => {
  await resolveBackend('wasm', { quiet: true });
  for (const [i, c] of cases.entries()) {
    const x = randomArray(c.batch * c.length * c.cin, 31 + i);
    const run = (wrap: boolean) => {
      const input = tf.input({ shape: [c.length, c.cin] });
      const conv = tf.layers.conv1d({ filters: c.cout, kernelSize: c.kernel, strides: c.stride, padding: c.padding, useBias: false, kernelInitializer: tf.initializers.heNormal({ seed: 40 + i }) });
      const model = tf.model({ inputs: input, outputs: conv.apply(input) as tf.SymbolicTensor });
      assert.equal(useNativeConv1d(tf, model), wrap ? 1 : 0);
      const xt = tf.tensor3d(x, [c.batch, c.length, c.cin]);
      const y = model.apply(xt) as tf.Tensor;
      const r = tf.tensor(randomArray(y.size, 3001 + i), y.shape);
      const w = model.trainableWeights[0]!.read() as tf.Variable;
      const f = () => tf.sum(tf.mul(model.apply(xt) as tf.Tensor, r)) as tf.Scalar;
      const { grads } = tf.variableGrads(f, [w]);
      const [dx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(model.apply(a) as tf.Tensor, r)))([xt]);
      const out = { y: Float32Array.from(y.dataSync()), dx: Float32Array.from(dx!.dataSync()), dw: Float32Array.from(grads[w.name]!.dataSync()) };
      model.dispose();
      return out;
    };
    const { got, want } = await onWasmAndCpu(run);
    for (const key of ['y', 'dx', 'dw'] as const) assert.ok(maxRelativeDiff(got[key], want[key]) < 1e-5, `${key} ${JSON.stringify(c)}`);
  }
});

test('WASM matrix products (native for one operand transposed or none) match the CPU backend, gradients included', async () => {
  await resolveBackend('wasm', { quiet: true });
  // Shapes of a dense layer's forward (x·W) and gradients (dy·Wᵀ, xᵀ·dy), odd sizes included.
  const shapes: [number, number, number][] = [[64, 5312, 128], [7, 33, 5], [1, 3, 2], [64, 128, 180]];
  const run = (m: number, k: number, n: number, seed: number) =>
    tf.tidy(() => {
      const a = tf.tensor2d(randomArray(m * k, seed), [m, k]);
      const b = tf.tensor2d(randomArray(k * n, seed + 1), [k, n]);
      const r = tf.tensor2d(randomArray(m * n, seed + 2), [m, n]);
      const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D), r)))([a, b]);
      const aT = tf.tensor2d(randomArray(m * k, seed + 3), [k, m]);
      const bT = tf.tensor2d(randomArray(k * n, seed + 4), [n, k]);
      return {
        ab: Float32Array.from(tf.matMul(a, b).dataSync()),
        atb: Float32Array.from(tf.matMul(aT, b, true, false).dataSync()),
        abt: Float32Array.from(tf.matMul(a, bT, false, true).dataSync()),
        atbt: Float32Array.from(tf.matMul(aT, bT, true, true).dataSync()),
        da: Float32Array.from(da!.dataSync()),
        db: Float32Array.from(db!.dataSync()),
      };
    });
  for (const [i, [m, k, n]] of shapes.entries()) {
    const { got, want } = await onWasmAndCpu(() => run(m, k, n, 31 + 10 * i));
    for (const key of Object.keys(want) as (keyof typeof want)[]) {
      // Sums of up to 5 312 products of O(1) values: relative to the sum's scale.
      const scale = Math.sqrt(Math.max(m, k, n));
      const diff = maxRelativeDiff(got[key].map((v) => v / scale), want[key].map((v) => v / scale));
      assert.ok(diff < 1e-5, `${key} ${m}×${k}×${n}: ${diff}`);
    }
  }
});

test('ReLU and its gradient, adds, same-type casts and clones on WASM match the CPU backend, NaN and ±0 included', async () => {
  await resolveBackend('wasm', { quiet: true });
  // 160 000 values: several of the native kernels' 65 536-value chunks, so both threads work.
  const shape = [2, 40_000, 2];
  const x = randomArray(160_000, 21);
  x.set([Number.NaN, 0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-38, -1e-38], 0);
  const r = randomArray(160_000, 22);
  r[9] = Number.NaN;
  const bias = randomArray(2, 23);
  const run = () =>
    tf.tidy(() => {
      const xt = tf.tensor(x, shape);
      const rt = tf.tensor(r, shape);
      const [dx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), rt)))([xt]);
      // A clone outlives its source; a same-type cast is the same values.
      const source = tf.tensor(x, shape);
      const clone = tf.clone(source);
      source.dispose();
      return {
        relu: Float32Array.from(tf.relu(xt).dataSync()),
        dx: Float32Array.from(dx!.dataSync()),
        add: Float32Array.from(tf.add(xt, rt).dataSync()),
        broadcastAdd: Float32Array.from(tf.add(xt, tf.tensor1d(bias)).dataSync()),
        cast: Float32Array.from(tf.cast(xt, 'float32').dataSync()),
        clone: Float32Array.from(clone.dataSync()),
      };
    });
  const { got, want } = await onWasmAndCpu(run);
  for (const key of Object.keys(want) as (keyof typeof want)[]) {
    // Bit for bit (Object.is: NaN equals NaN, -0 differs from 0).
    const a = got[key];
    const b = want[key];
    assert.equal(a.length, b.length, key);
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${key}[${i}]: WASM ${a[i]}, CPU ${b[i]}`);
  }
  assert.ok(Number.isNaN(got.dx[0]!), 'the gradient at a NaN input is NaN');
  assert.ok(got.dx[1] === 0 && got.dx[2] === 0, 'no gradient at ±0');
});

test('ReLUs folded into BatchNorm and residual Add on WASM match tfjs-layers on the CPU backend: output, every gradient', async () => {
  await resolveBackend('wasm', { quiet: true });
  // x → BN → ReLU ─┐
  // x → BN ────────Add → ReLU → output, and a BN that is itself an output (not folded).
  const shape = [2, 45_000 / 20 + 3, 20];
  const x = randomArray(shape[0]! * shape[1]! * shape[2]!, 31);
  const r = randomArray(x.length, 32);
  const run = (fused: boolean) => {
    const input = tf.input({ shape: shape.slice(1) });
    const bn = (name: string, seed: number) => tf.layers.batchNormalization({ axis: -1, name, gammaInitializer: tf.initializers.randomNormal({ seed, mean: 1 }), betaInitializer: tf.initializers.randomNormal({ seed: seed + 1 }) });
    const a = tf.layers.reLU({ name: 'relu_a' }).apply(bn('bn_a', 1).apply(input)) as tf.SymbolicTensor;
    const b = bn('bn_b', 3).apply(input) as tf.SymbolicTensor;
    const sum = tf.layers.reLU({ name: 'relu_sum' }).apply(tf.layers.add({ name: 'add' }).apply([a, b])) as tf.SymbolicTensor;
    const side = bn('bn_side', 5).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [sum, side] });
    assert.equal(useFusedBatchNorm(tf, model), fused ? 3 : 0);
    assert.equal(useFusedAddRelu(tf, model), fused ? 1 : 0);
    const xt = tf.tensor(x, shape);
    const rt = tf.tensor(r, shape);
    const loss = (input: tf.Tensor) => {
      const [y, s] = model.apply(input, { training: true }) as tf.Tensor[];
      return tf.add(tf.sum(tf.mul(y!, rt)), tf.sum(tf.mul(tf.relu(s!), rt))) as tf.Scalar;
    };
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => loss(xt), vars);
    const [dx] = tf.grads((input: tf.Tensor) => loss(input))([xt]);
    const [y, side2] = model.apply(xt, { training: true }) as tf.Tensor[];
    const out: Record<string, Float32Array> = { y: Float32Array.from(y!.dataSync()), side: Float32Array.from(side2!.dataSync()), dx: Float32Array.from(dx!.dataSync()) };
    for (const v of vars) out[v.name.replace(/_\d+$/, '')] = Float32Array.from(grads[v.name]!.dataSync());
    model.dispose();
    return out;
  };
  const { got, want } = await onWasmAndCpu(run);
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
  assert.ok(Math.min(...got.y!) === 0 && Math.min(...got.side!) < 0, 'the sum went through its ReLU, the side output did not');
  for (const key of Object.keys(want)) assert.ok(maxRelativeDiff(got[key]!, want[key]!) < 5e-5, `${key}: ${maxRelativeDiff(got[key]!, want[key]!)}`);
});
