/**
 * Adam with one kernel call per variable on the WASM and CPU backends.
 *
 * tfjs-core's AdamOptimizer spends about fourteen element-wise ops per variable and step; the
 * ResNet has 62 variables, so ~870 kernel dispatches per step, each mostly engine overhead
 * (~11 % of a WASM training step at width 16). `AstrospecAdam` computes the same update in one
 * pass over the backend's memory (native/kernels/train_ops.h, or adamUpdate below without the
 * addon) (Kingma & Ba 2015, with tfjs's bias correction and ε placement):
 *   m ← β1·m + (1−β1)·g,   v ← β2·v + (1−β2)·g²,
 *   θ ← θ − lr · (m / (1−β1ᵗ)) / (√(v / (1−β2ᵗ)) + ε).
 * The moment variables, their names and getWeights()/setWeights() are the parent's, so
 * checkpoints and resuming are unchanged.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../model/resnet1d.js';
import type { AdamStep } from '../native/binding.js';
import { memoryOf, tryNative } from './kernels.js';

export const ADAM_UPDATE = 'AstrospecAdam';

type AdamAttrs = AdamStep;

/** The update on plain arrays; also the reference in tests. */
export function adamUpdate(
  value: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array,
  outValue: Float32Array, outM: Float32Array, outV: Float32Array, a: AdamAttrs,
): void {
  const { learningRate, beta1, beta2, epsilon, correction1, correction2 } = a;
  for (let i = 0; i < value.length; i++) {
    const gi = g[i]!;
    const mi = beta1 * m[i]! + (1 - beta1) * gi;
    const vi = beta2 * v[i]! + (1 - beta2) * gi * gi;
    outM[i] = mi;
    outV[i] = vi;
    outValue[i] = value[i]! - (learningRate * (mi / correction1)) / (Math.sqrt(vi / correction2) + epsilon);
  }
}

const registered = new Set<string>();

export function installAdamKernel(tf: Tf, backendName: 'wasm' | 'cpu'): void {
  if (registered.has(backendName)) return;
  registered.add(backendName);
  const addon = tryNative();
  tf.registerKernel({
    kernelName: ADAM_UPDATE,
    backendName,
    kernelFunc: ((args: { inputs: Record<string, tfType.TensorInfo>; backend: unknown; attrs: AdamAttrs }) => {
      const { value, m, v, gradient } = args.inputs as Record<'value' | 'm' | 'v' | 'gradient', tfType.TensorInfo>;
      const mem = memoryOf(backendName, args.backend);
      const outValue = mem.alloc([...value.shape]);
      const outM = mem.alloc([...value.shape]);
      const outV = mem.alloc([...value.shape]);
      // Views after the last allocation (a growing WASM heap detaches earlier ones).
      const views = [mem.read(value), mem.read(m), mem.read(v), mem.read(gradient), mem.read(outValue.info), mem.read(outM.info), mem.read(outV.info)] as const;
      if (addon) addon.adamUpdateSync(...views, args.attrs);
      else adamUpdate(...views, args.attrs);
      return [outValue.info, outM.info, outV.info];
    }) as unknown as ReturnType<Tf['getKernel']>['kernelFunc'],
  });
}

interface AdamInternals {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tfType.Variable;
  accBeta2: tfType.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tfType.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tfType.Variable } | undefined)[];
  incrementIterations(): void;
}

/**
 * tf.train.adam(learningRate), with applyGradients() running AstrospecAdam where the active
 * backend has it and the parent's ops elsewhere.
 */
export function createAdam(tf: Tf, learningRate: number): tfType.Optimizer {
  const optimizer = tf.train.adam(learningRate);
  const self = optimizer as unknown as AdamInternals;
  type Gradients = Parameters<tfType.Optimizer['applyGradients']>[0];
  const parentApply = optimizer.applyGradients.bind(optimizer);
  optimizer.applyGradients = (variableGradients: Gradients) => {
    if (!tf.getKernel(ADAM_UPDATE, tf.getBackend())) return parentApply(variableGradients as never);
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    const correction1 = 1 - self.accBeta1.dataSync()[0]!;
    const correction2 = 1 - self.accBeta2.dataSync()[0]!;
    tf.tidy(() => {
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name]!;
        self.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        self.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        const gradient = Array.isArray(variableGradients) ? variableGradients[i]!.tensor : variableGradients[name];
        if (gradient == null) return;
        const m = self.accumulatedFirstMoment[i]!.variable;
        const v = self.accumulatedSecondMoment[i]!.variable;
        const attrs: AdamAttrs = { learningRate: self.learningRate, beta1: self.beta1, beta2: self.beta2, epsilon: self.epsilon, correction1, correction2 };
        const [newValue, newM, newV] = tf.engine().runKernel(ADAM_UPDATE, { value, m, v, gradient }, attrs as unknown as tfType.NamedAttrMap) as tfType.Tensor[];
        m.assign(newM!);
        v.assign(newV!);
        value.assign(newValue!);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, self.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, self.beta2));
    });
    self.incrementIterations();
  };
  return optimizer;
}
