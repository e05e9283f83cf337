/**
 * Training kernels for tfjs's WASM and pure-JS CPU backends: 1D convolutions, fused
 * training-mode BatchNorm, and the 1D max-pool gradient.
 *
 * tfjs-layers' conv1d runs as Conv2D on [N, 1, L, C] tensors, and its gradient calls
 * Conv2DBackpropInput and Conv2DBackpropFilter. The WASM backend has no
 * Conv2DBackpropFilter at all (tfjs issue 8474) and a scalar Conv2DBackpropInput; the CPU
 * backend has all three as naive loops. For the height-1 case we register kernels that call
 * the addon (native/kernels/conv1d.h: blocked SIMD GEMMs, multithreaded) on the backend's
 * own memory: on WASM, `makeOutput` allocates the result on the heap and
 * `typedArrayFromHeap` gives Float32Array views that the addon reads and writes in place.
 * Every other shape goes to the backend's original kernel.
 *
 * BatchNorm in training mode is otherwise about a dozen element-wise ops forward and two dozen
 * backward per layer (moments, normalisation and their gradients); the two kernels
 * AstrospecBatchNormTrain / AstrospecBatchNormTrainGrad do each direction in one native pass
 * (see batchnorm.ts for how the layers use them). WASM's MaxPoolGrad is a scalar loop over
 * the window for every input pixel; the 1D case here is one pass over the outputs. The 1D max
 * pool itself and global average pooling (a Mean over the middle axis, which WASM transposes
 * first, and whose tfjs gradient multiplies dy by a `ones` tensor filled in JavaScript) run on
 * the addon's thread pool too.
 */
import type * as tfType from '@tensorflow/tfjs';
import { AstrospecError } from '../errors.js';
import { native, type Conv1dGeometry, type MaxPool1dGeometry } from '../native/binding.js';

/** Kernel names of the fused training-mode BatchNorm (outputs y, mean, variance / dx, dgamma, dbeta). */
export const BATCHNORM_TRAIN = 'AstrospecBatchNormTrain';
/** The same with a ReLU applied to y (the gradient kernel then takes y as `reluY`). */
export const BATCHNORM_RELU_TRAIN = 'AstrospecBatchNormReluTrain';
/** relu(a + b) for same-shape float32 tensors: a residual sum and the ReLU after it. */
export const ADD_RELU = 'AstrospecAddRelu';
export const BATCHNORM_TRAIN_GRAD = 'AstrospecBatchNormTrainGrad';
/** Kernel name of ReLU's gradient in one pass: dx = dy · step(x). */
export const RELU_GRAD = 'AstrospecReluGrad';
/** Kernel names of the 1D convolution on [N, L, C] tensors and its two gradients. */
export const CONV1D = 'AstrospecConv1d';
export const CONV1D_BACKPROP_INPUT = 'AstrospecConv1dBackpropInput';
export const CONV1D_BACKPROP_FILTER = 'AstrospecConv1dBackpropFilter';
/** Gradient of the mean over the middle axis of [N, L, C] (global average pooling): dy / L at every l. */
export const MEAN_AXIS1_GRAD = 'AstrospecMeanAxis1Grad';

export interface Conv1dAttrs {
  stride: number;
  pad: 'same' | 'valid';
}
import type { Tf } from '../model/resnet1d.js';

type TensorInfo = tfType.TensorInfo;
type KernelConfig = ReturnType<Tf['getKernel']>;

/** How a kernel reaches tensor memory on one backend. */
export interface Memory {
  read(t: TensorInfo): Float32Array;
  /** Allocates an output; on WASM this can grow the heap, so call it before read(). */
  alloc(shape: number[]): { info: TensorInfo; data: Float32Array };
}

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}
interface CpuBackendLike {
  data: { get(id: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

export function memoryOf(backendName: string, backend: unknown): Memory {
  if (backendName === 'wasm') {
    const b = backend as WasmBackendLike;
    return {
      read: (t) => b.typedArrayFromHeap(t),
      alloc: (shape) => {
        const info = b.makeOutput(shape, 'float32');
        return { info, data: b.typedArrayFromHeap(info) };
      },
    };
  }
  const b = backend as CpuBackendLike;
  return {
    read: (t) => {
      const values = b.data.get(t.dataId).values;
      if (!(values instanceof Float32Array)) throw new AstrospecError('UNSUPPORTED', `conv1d kernels need float32 tensors, got ${t.dtype}`);
      return values;
    },
    alloc: (shape) => {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      return { info: b.makeTensorInfo(shape, 'float32', data), data };
    },
  };
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'same' | 'valid' | number;
  dataFormat: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape?: [number, number, number, number];
  filterShape?: [number, number, number, number];
}

/** The conv1d geometry of a Conv2D call, or undefined when it isn't a height-1, undilated, channels-last conv. */
export function conv1dGeometry(tf: Tf, xShape: number[], filterShape: number[], attrs: ConvAttrs): Conv1dGeometry | undefined {
  if (attrs.dataFormat !== 'NHWC' || xShape.length !== 4 || filterShape.length !== 4) return undefined;
  if (xShape[1] !== 1 || filterShape[0] !== 1) return undefined;
  if (typeof attrs.pad !== 'string' && typeof attrs.pad !== 'number') return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || info.outHeight !== 1 || info.padInfo.top !== 0) return undefined;
  if (info.padInfo.left < 0 || info.padInfo.right < 0) return undefined;
  return {
    batch: info.batchSize,
    inLength: info.inWidth,
    inChannels: info.inChannels,
    outLength: info.outWidth,
    outChannels: info.outChannels,
    kernel: info.filterWidth,
    stride: info.strideWidth,
    padLeft: info.padInfo.left,
  };
}

/**
 * The filter gradient in plain TypeScript: the fallback when the addon can't load, and the
 * reference for tests. dw[k, i, c] = Σ_n Σ_o x[n, o·stride + k − padLeft, i] · dy[n, o, c].
 */
export function conv1dBackpropFilterReference(g: Conv1dGeometry, x: Float32Array, dy: Float32Array, dw: Float32Array): void {
  dw.fill(0);
  const { inChannels: ci, outChannels: co } = g;
  for (let n = 0; n < g.batch; n++)
    for (let o = 0; o < g.outLength; o++)
      for (let k = 0; k < g.kernel; k++) {
        const at = o * g.stride - g.padLeft + k;
        if (at < 0 || at >= g.inLength) continue;
        const xRow = (n * g.inLength + at) * ci;
        const dyRow = (n * g.outLength + o) * co;
        for (let i = 0; i < ci; i++) {
          const xv = x[xRow + i]!;
          const wRow = (k * ci + i) * co;
          for (let c = 0; c < co; c++) dw[wRow + c]! += xv * dy[dyRow + c]!;
        }
      }
}

/** The addon, or undefined where it isn't built (every kernel here then has a fallback). */
export function tryNative(): ReturnType<typeof native> | undefined {
  try {
    return native();
  } catch {
    return undefined;
  }
}

const installed = new Map<string, boolean>();

/**
 * Registers the conv1d kernels for `backendName` ('wasm' or 'cpu') once per process.
 * Returns true when they run natively; false means the addon is missing and (on WASM) only
 * the TypeScript filter gradient was registered, so training works but slowly.
 */
export function installConv1dKernels(tf: Tf, backendName: 'wasm' | 'cpu'): boolean {
  const done = installed.get(backendName);
  if (done !== undefined) return done;
  const addon = tryNative();
  // Without the addon the CPU backend's own kernels are as good as a TypeScript loop.
  if (!addon && backendName === 'cpu') {
    installed.set(backendName, false);
    return false;
  }
  const original = (name: string): KernelConfig | undefined => {
    try {
      return tf.getKernel(name, backendName);
    } catch {
      return undefined;
    }
  };
  const replace = (name: string, kernelFunc: (args: { inputs: Record<string, TensorInfo>; backend: unknown; attrs: ConvAttrs }) => TensorInfo) => {
    const before = original(name);
    if (before) tf.unregisterKernel(name, backendName);
    tf.registerKernel({
      ...(before ?? {}),
      kernelName: name,
      backendName,
      kernelFunc: kernelFunc as unknown as KernelConfig['kernelFunc'],
    });
    return before;
  };
  const fallback = (before: KernelConfig | undefined, name: string, args: unknown): TensorInfo => {
    if (!before) throw new AstrospecError('UNSUPPORTED', `${name} on the ${backendName} backend supports only 1D convolutions (height 1, no dilation, NHWC)`);
    return before.kernelFunc(args as Parameters<KernelConfig['kernelFunc']>[0]) as TensorInfo;
  };

  if (addon) {
    const conv2d = replace('Conv2D', (args) => {
      const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
      const g = conv1dGeometry(tf, x.shape, filter.shape, args.attrs);
      if (!g) return fallback(conv2d, 'Conv2D', args);
      const m = memoryOf(backendName, args.backend);
      const out = m.alloc([g.batch, 1, g.outLength, g.outChannels]);
      addon.conv1dForwardSync(m.read(x), m.read(filter), out.data, g);
      return out.info;
    });
    const backpropInput = replace('Conv2DBackpropInput', (args) => {
      const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
      const g = args.attrs.inputShape ? conv1dGeometry(tf, args.attrs.inputShape, filter.shape, args.attrs) : undefined;
      if (!g) return fallback(backpropInput, 'Conv2DBackpropInput', args);
      const m = memoryOf(backendName, args.backend);
      const out = m.alloc([g.batch, 1, g.inLength, g.inChannels]);
      addon.conv1dBackpropInputSync(m.read(dy), m.read(filter), out.data, g);
      return out.info;
    });
    // Dense layers' matrix products as 1-tap convolutions of length-M "spectra": tfjs-wasm's
    // BatchMatMul with a transposed operand (every dense gradient) runs a plain loop, ~10× slower
    // than the native GEMM for the redshift head's 5 312 × 128 layer. out[M, N] from
    //   A·B   = conv1d forward   (x = A [M, K], filter = B [K, N])
    //   Aᵀ·B  = filter gradient  (x = A [K, M], dy = B [K, N])
    //   A·Bᵀ  = input gradient   (dy = A [M, K], filter = B [N, K])
    const batchMatMul = replace('BatchMatMul', (args) => {
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
      // One matrix each ([r, c] or [1, r, c]); batched products keep tfjs's kernel.
      const matrix = (t: TensorInfo) => (t.shape.length === 2 || (t.shape.length === 3 && t.shape[0] === 1) ? t.shape.slice(-2) : undefined);
      const aShape = matrix(a);
      const bShape = matrix(b);
      if (!aShape || !bShape || (transposeA && transposeB)) return fallback(batchMatMul, 'BatchMatMul', args);
      const [aRows, aCols] = aShape as [number, number];
      const [bRows, bCols] = bShape as [number, number];
      const m = transposeA ? aCols : aRows;
      const n = transposeB ? bRows : bCols;
      const memory = memoryOf(backendName, args.backend);
      const out = memory.alloc(a.shape.length === 2 && b.shape.length === 2 ? [m, n] : [1, m, n]);
      const one = { batch: 1, kernel: 1, stride: 1, padLeft: 0 };
      if (transposeA) {
        addon.conv1dBackpropFilterSync(memory.read(a), memory.read(b), out.data, { ...one, inLength: aRows, outLength: aRows, inChannels: m, outChannels: n });
      } else if (transposeB) {
        addon.conv1dBackpropInputSync(memory.read(a), memory.read(b), out.data, { ...one, inLength: m, outLength: m, inChannels: n, outChannels: aCols });
      } else {
        addon.conv1dForwardSync(memory.read(a), memory.read(b), out.data, { ...one, inLength: m, outLength: m, inChannels: aCols, outChannels: n });
      }
      return out.info;
    });
  }
  const backpropFilter = replace('Conv2DBackpropFilter', (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const g = args.attrs.filterShape ? conv1dGeometry(tf, x.shape, args.attrs.filterShape, args.attrs) : undefined;
    if (!g) return fallback(backpropFilter, 'Conv2DBackpropFilter', args);
    const m = memoryOf(backendName, args.backend);
    const out = m.alloc([1, g.kernel, g.inChannels, g.outChannels]);
    if (addon) addon.conv1dBackpropFilterSync(m.read(x), m.read(dy), out.data, g);
    else conv1dBackpropFilterReference(g, m.read(x), m.read(dy), out.data);
    return out.info;
  });
  if (backendName === 'wasm') {
    // tfjs-core clones every tensor it saves for the backward pass, and WASM's Identity copies
    // the data (~80 activation-sized copies a training step, 11 % of it). Tensors are immutable
    // and no kernel here or in tfjs writes into its inputs, so a clone can share the buffer:
    // the CPU and WebGL backends' Identity does exactly this.
    const identity = replace('Identity', (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      if (x.dtype === 'string') return fallback(identity, 'Identity', args);
      (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    });
    // Identity's gradient is a cast to float32 of an already-float32 dy: the same sharing.
    const cast = replace('Cast', (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      if (x.dtype !== (args.attrs as unknown as { dtype: string }).dtype || x.dtype === 'string') return fallback(cast, 'Cast', args);
      (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    });
  }
  const maxPoolGrad = replace('MaxPoolGrad', (args) => {
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
    const shape = pool1dGeometry(tf, input.shape, args.attrs);
    if (!shape) return fallback(maxPoolGrad, 'MaxPoolGrad', args);
    const m = memoryOf(backendName, args.backend);
    const out = m.alloc([...input.shape]);
    if (addon) addon.maxPool1dBackwardSync(m.read(input), m.read(dy), out.data, shape);
    else maxPool1dBackprop(shape.batch, shape.inLength, shape.outLength, shape.channels, shape.window, shape.stride, shape.padLeft, m.read(input), m.read(dy), out.data);
    return out.info;
  });

  if (addon) {
    // The stem's max pool: WASM's runs on one thread.
    const maxPool = replace('MaxPool', (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const shape = x.dtype === 'float32' ? pool1dGeometry(tf, x.shape, args.attrs) : undefined;
      if (!shape) return fallback(maxPool, 'MaxPool', args);
      const m = memoryOf(backendName, args.backend);
      // tfjs-layers' 1D pools run on [N, L, 1, C].
      const out = m.alloc([shape.batch, shape.outLength, 1, shape.channels]);
      addon.maxPool1dForwardSync(m.read(x), out.data, shape);
      return out.info;
    });
    // Global average pooling, tf.mean(x, 1) on [N, L, C]: WASM transposes x before reducing.
    const mean = replace('Mean', (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
      if (x.dtype !== 'float32' || !isMiddleAxis(tf, x.shape, axis)) return fallback(mean, 'Mean', args);
      const [batch, length, channels] = x.shape as [number, number, number];
      const m = memoryOf(backendName, args.backend);
      const out = m.alloc(keepDims ? [batch, 1, channels] : [batch, channels]);
      addon.meanAxis1Sync(m.read(x), out.data, { batch, length, channels });
      return out.info;
    });
    tf.registerKernel({
      kernelName: MEAN_AXIS1_GRAD,
      backendName,
      kernelFunc: ((args: { inputs: Record<string, TensorInfo>; backend: unknown; attrs: { length: number } }) => {
        const dy = args.inputs.dy!;
        const batch = dy.shape[0]!;
        const channels = dy.shape[dy.shape.length - 1]!;
        const m = memoryOf(backendName, args.backend);
        const out = m.alloc([batch, args.attrs.length, channels]);
        addon.meanAxis1GradSync(m.read(dy), out.data, { batch, length: args.attrs.length, channels });
        return out.info;
      }) as unknown as KernelConfig['kernelFunc'],
    });
    // ReLU on the cores (tfjs-wasm's is one thread), and its gradient as one pass instead of
    // step, cast and multiply (see installReluGradient).
    const relu = replace('Relu', (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      if (x.dtype !== 'float32') return fallback(relu, 'Relu', args);
      const m = memoryOf(backendName, args.backend);
      const out = m.alloc([...x.shape]);
      addon.reluForwardSync(m.read(x), out.data);
      return out.info;
    });
    // Residual sums and gradient accumulation: same-shape float32 adds, on the cores.
    const add = replace('Add', (args) => {
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const same = a.dtype === 'float32' && b.dtype === 'float32' && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
      if (!same) return fallback(add, 'Add', args);
      const m = memoryOf(backendName, args.backend);
      const out = m.alloc([...a.shape]);
      addon.addSync(m.read(a), m.read(b), out.data);
      return out.info;
    });
    // Two same-shape inputs in, one output of their shape, one addon call.
    const registerBinary = (kernelName: string, [first, second]: [string, string], run: (a: Float32Array, b: Float32Array, out: Float32Array) => void) =>
      tf.registerKernel({
        kernelName,
        backendName,
        kernelFunc: ((args: { inputs: Record<string, TensorInfo>; backend: unknown }) => {
          const a = args.inputs[first]!;
          const b = args.inputs[second]!;
          const m = memoryOf(backendName, args.backend);
          const out = m.alloc([...a.shape]);
          run(m.read(a), m.read(b), out.data);
          return out.info;
        }) as unknown as KernelConfig['kernelFunc'],
      });
    registerBinary(RELU_GRAD, ['x', 'dy'], (x, dy, dx) => addon.reluBackwardSync(x, dy, dx));
    registerBinary(ADD_RELU, ['a', 'b'], (a, b, out) => addon.addSync(a, b, out, true));
    const batchNormTrain = (relu: boolean) =>
      ((args: { inputs: Record<string, TensorInfo>; backend: unknown; attrs: { epsilon: number; momentum: number } }) => {
        const { x, gamma, beta, movingMean, movingVariance } = args.inputs as Record<'x' | 'gamma' | 'beta' | 'movingMean' | 'movingVariance', TensorInfo>;
        const channels = x.shape[x.shape.length - 1]!;
        const m = memoryOf(backendName, args.backend);
        const y = m.alloc([...x.shape]);
        const mean = m.alloc([channels]);
        const variance = m.alloc([channels]);
        const newMovingMean = m.alloc([channels]);
        const newMovingVariance = m.alloc([channels]);
        // Views taken after the last allocation: growing the WASM heap detaches earlier ones.
        const meanData = m.read(mean.info);
        const varianceData = m.read(variance.info);
        addon.batchnormTrainForwardSync(m.read(x), m.read(gamma), m.read(beta), m.read(y.info), meanData, varianceData, {
          rows: sizeOf(x.shape) / channels,
          channels,
          epsilon: args.attrs.epsilon,
          relu,
        });
        // tfjs-layers' moving averages: moving − (moving − batch) · (1 − momentum).
        const decay = Math.fround(1 - args.attrs.momentum);
        for (const [moving, batch, out] of [[movingMean, meanData, newMovingMean], [movingVariance, varianceData, newMovingVariance]] as const) {
          const current = m.read(moving);
          const next = m.read(out.info);
          for (let c = 0; c < channels; c++) next[c] = current[c]! - Math.fround(Math.fround(current[c]! - batch[c]!) * decay);
        }
        return [y.info, mean.info, variance.info, newMovingMean.info, newMovingVariance.info];
      }) as unknown as KernelConfig['kernelFunc'];
    tf.registerKernel({ kernelName: BATCHNORM_TRAIN, backendName, kernelFunc: batchNormTrain(false) });
    tf.registerKernel({ kernelName: BATCHNORM_RELU_TRAIN, backendName, kernelFunc: batchNormTrain(true) });
    tf.registerKernel({
      kernelName: BATCHNORM_TRAIN_GRAD,
      backendName,
      kernelFunc: ((args: { inputs: Record<string, TensorInfo>; backend: unknown; attrs: { epsilon: number } }) => {
        const { x, dy, gamma, mean, variance, reluY } = args.inputs as Record<'x' | 'dy' | 'gamma' | 'mean' | 'variance', TensorInfo> & { reluY?: TensorInfo };
        const channels = x.shape[x.shape.length - 1]!;
        const m = memoryOf(backendName, args.backend);
        const dx = m.alloc([...x.shape]);
        const dgamma = m.alloc([channels]);
        const dbeta = m.alloc([channels]);
        addon.batchnormTrainBackwardSync(m.read(x), m.read(dy), m.read(gamma), m.read(mean), m.read(variance), m.read(dx.info), m.read(dgamma.info), m.read(dbeta.info), {
          rows: sizeOf(x.shape) / channels,
          channels,
          epsilon: args.attrs.epsilon,
        }, reluY ? m.read(reluY) : null);
        return [dx.info, dgamma.info, dbeta.info];
      }) as unknown as KernelConfig['kernelFunc'],
    });
    // The same convolutions on tfjs-layers' own [N, L, C] tensors (see conv1d-layer.ts): no
    // reshapes to and from 4D around every call and its gradients.
    const geometry3d = (xShape: readonly number[], filterShape: readonly number[], a: Conv1dAttrs) => {
      const g = conv1dGeometry(tf, [xShape[0]!, 1, xShape[1]!, xShape[2]!], [1, ...filterShape], { strides: [1, a.stride], pad: a.pad, dataFormat: 'NHWC' });
      if (!g) throw new AstrospecError('UNSUPPORTED', `no 1D convolution geometry for x ${JSON.stringify(xShape)}, filter ${JSON.stringify(filterShape)}`);
      return g;
    };
    tf.registerKernel({
      kernelName: CONV1D,
      backendName,
      kernelFunc: ((args: { inputs: Record<string, TensorInfo>; backend: unknown; attrs: Conv1dAttrs }) => {
        const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
        const g = geometry3d(x.shape, filter.shape, args.attrs);
        const m = memoryOf(backendName, args.backend);
        const out = m.alloc([g.batch, g.outLength, g.outChannels]);
        addon.conv1dForwardSync(m.read(x), m.read(filter), out.data, g);
        return out.info;
      }) as unknown as KernelConfig['kernelFunc'],
    });
    tf.registerKernel({
      kernelName: CONV1D_BACKPROP_INPUT,
      backendName,
      kernelFunc: ((args: { inputs: Record<string, TensorInfo>; backend: unknown; attrs: Conv1dAttrs & { inputShape: number[] } }) => {
        const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
        const g = geometry3d(args.attrs.inputShape, filter.shape, args.attrs);
        const m = memoryOf(backendName, args.backend);
        const out = m.alloc([g.batch, g.inLength, g.inChannels]);
        addon.conv1dBackpropInputSync(m.read(dy), m.read(filter), out.data, g);
        return out.info;
      }) as unknown as KernelConfig['kernelFunc'],
    });
    tf.registerKernel({
      kernelName: CONV1D_BACKPROP_FILTER,
      backendName,
      kernelFunc: ((args: { inputs: Record<string, TensorInfo>; backend: unknown; attrs: Conv1dAttrs & { filterShape: number[] } }) => {
        const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
        const g = geometry3d(x.shape, args.attrs.filterShape, args.attrs);
        const m = memoryOf(backendName, args.backend);
        const out = m.alloc([g.kernel, g.inChannels, g.outChannels]);
        addon.conv1dBackpropFilterSync(m.read(x), m.read(dy), out.data, g);
        return out.info;
      }) as unknown as KernelConfig['kernelFunc'],
    });
  }
  installed.set(backendName, addon !== undefined);
  return addon !== undefined;
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The 1D geometry of a MaxPool / MaxPoolGrad call on an NHWC input [N, L, 1, C] (how tfjs-layers
 * runs 1D pools), or undefined for any other shape, which keeps the backend's own kernel.
 */
function pool1dGeometry(tf: Tf, inputShape: readonly number[], attrs: unknown): MaxPool1dGeometry | undefined {
  const a = attrs as { filterSize: number | [number, number]; strides: number | [number, number]; pad: 'same' | 'valid' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  if (inputShape.length !== 4 || (typeof a.pad !== 'string' && typeof a.pad !== 'number')) return undefined;
  const info = tf.backend_util.computePool2DInfo(inputShape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  if (info.inWidth !== 1 || info.filterWidth !== 1 || info.outWidth !== 1 || info.dilationHeight !== 1) return undefined;
  return { batch: info.batchSize, inLength: info.inHeight, outLength: info.outHeight, channels: info.inChannels, window: info.filterHeight, stride: info.strideHeight, padLeft: info.padInfo.top };
}

/**
 * Gradient of a 1D max pool over [batch, inLength, channels]: each output's dy goes to the
 * first largest input of its window (the CPU backend's tie rule); padding never wins.
 */
export function maxPool1dBackprop(
  batch: number, inLength: number, outLength: number, channels: number, window: number, stride: number, padTop: number,
  x: Float32Array, dy: Float32Array, dx: Float32Array,
): void {
  dx.fill(0);
  for (let n = 0; n < batch; n++) {
    const xBase = n * inLength * channels;
    for (let o = 0; o < outLength; o++) {
      const start = o * stride - padTop;
      const lo = Math.max(start, 0);
      const hi = Math.min(start + window, inLength);
      const dyRow = (n * outLength + o) * channels;
      for (let c = 0; c < channels; c++) {
        let best = lo;
        let bestValue = -Infinity;
        for (let i = lo; i < hi; i++) {
          const v = x[xBase + i * channels + c]!;
          if (v > bestValue) {
            bestValue = v;
            best = i;
          }
        }
        if (hi > lo) dx[xBase + best * channels + c]! += dy[dyRow + c]!;
      }
    }
  }
}

/** True when the fused BatchNorm kernels are registered for the active backend. */
export function fusedBatchNormAvailable(tf: Tf): boolean {
  return hasKernel(tf, BATCHNORM_TRAIN);
}

const gradientsRegistered = new Set<string>();

/**
 * tf.registerGradient, once per kernel per process: tfjs keeps one gradient per kernel name in a
 * global registry (a second registration warns and replaces it), and models are built many times.
 */
export function registerGradientOnce(tf: Tf, config: Parameters<Tf['registerGradient']>[0]): void {
  if (gradientsRegistered.has(config.kernelName)) return;
  gradientsRegistered.add(config.kernelName);
  tf.registerGradient(config);
}

/**
 * Relu's gradient through RELU_GRAD where the active backend has it, tfjs-core's
 * dy · step(x) elsewhere (same values: step is 1 above zero, 0 at or below, NaN for NaN).
 */
export function installReluGradient(tf: Tf): void {
  registerGradientOnce(tf, {
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy: tfType.Tensor | tfType.Tensor[], saved: tfType.Tensor[]) => {
      const g = dy as tfType.Tensor;
      const [x] = saved as [tfType.Tensor];
      const fused = x.dtype === 'float32' && g.dtype === 'float32' && hasKernel(tf, RELU_GRAD);
      return { x: () => (fused ? (tf.engine().runKernel(RELU_GRAD, { x, dy: g }) as tfType.Tensor) : tf.mul(g, tf.cast(tf.step(x), 'float32'))) };
    },
  });
}

/** True when `axis` (tfjs's Mean attribute: a number or list, negative from the end) is exactly the middle axis of a 3D shape. */
function isMiddleAxis(tf: Tf, shape: readonly number[], axis: number | number[]): boolean {
  if (shape.length !== 3) return false;
  const axes = tf.util.parseAxisParam(axis, shape as number[]);
  return axes.length === 1 && axes[0] === 1;
}

/**
 * Mean's gradient through MEAN_AXIS1_GRAD for global average pooling where the active backend
 * has it; elsewhere tfjs-core's own: dy reshaped to keep the reduced axes, times ones(x.shape),
 * over the number of values averaged (the same values: dy / L).
 */
export function installMeanGradient(tf: Tf): void {
  registerGradientOnce(tf, {
    kernelName: 'Mean',
    inputsToSave: ['x'],
    gradFunc: (dy: tfType.Tensor | tfType.Tensor[], saved: tfType.Tensor[], attrs: unknown) => {
      const g = dy as tfType.Tensor;
      const [x] = saved as [tfType.Tensor];
      const { axis } = attrs as { axis: number | number[] };
      if (x.dtype === 'float32' && g.dtype === 'float32' && isMiddleAxis(tf, x.shape, axis) && hasKernel(tf, MEAN_AXIS1_GRAD)) {
        return { x: () => tf.engine().runKernel(MEAN_AXIS1_GRAD, { dy: g }, { length: x.shape[1]! }) as tfType.Tensor };
      }
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const reduceSize = axes.reduce((size, a) => size * x.shape[a]!, 1);
      return {
        x: () => {
          const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
          return tf.div(tf.mul(tf.reshape(g, expanded), tf.ones(x.shape, 'float32')), reduceSize);
        },
      };
    },
  });
}

/** True when `name` is registered for the active backend. */
export function hasKernel(tf: Tf, name: string): boolean {
  try {
    return tf.getKernel(name, tf.getBackend()) !== undefined;
  } catch {
    return false;
  }
}
