/**
 * BatchNorm for training on the WASM and CPU backends.
 *
 * 1. useFusedBatchNorm(): the model's BatchNormalization layers, in training mode, run the
 *    fused native kernels of kernels.ts (one pass forward, one backward) instead of tfjs-layers'
 *    moments + batchNorm composition. The layer objects, names, weights and saved topology are
 *    untouched: only the instance's call() is wrapped, and inference takes the original path.
 *
 * 2. installBatchNormGradient(): where the fused kernels are missing, the composed path's
 *    FusedBatchNorm gradient, without Tile.
 *
 * tfjs-core's gradient builds d/dx as dy · tile(rsqrt(var + ε), x.shape[:-1]) · γ: it
 * materialises a full-size tensor of 1/σ per BatchNorm layer, and the WASM backend's generic
 * Tile kernel made that over half of a training step (profile in docs/training.md). The
 * same products with broadcasting give identical values without the copy. The other
 * partial derivatives are tfjs-core's formulas unchanged.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../model/resnet1d.js';
import { foldedRelu, onlyReluConsumer, passFoldedThrough } from './fuse-relu.js';
import { BATCHNORM_RELU_TRAIN, BATCHNORM_TRAIN, BATCHNORM_TRAIN_GRAD, fusedBatchNormAvailable, registerGradientOnce } from './kernels.js';

export function installBatchNormGradient(tf: Tf): void {
  registerGradientOnce(tf, {
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy: tfType.Tensor | tfType.Tensor[], saved: tfType.Tensor[], attrs: tfType.NamedAttrMap) => {
      const g = dy as tfType.Tensor;
      const varianceEpsilon = attrs.varianceEpsilon as number;
      const [x, mean, variance, scale] = saved as [tfType.Tensor, tfType.Tensor, tfType.Tensor, tfType.Tensor | undefined];
      const scaleValue = scale ?? tf.scalar(1);
      const reductionAxes = tf.broadcast_util.getReductionAxes(mean.shape, x.shape);
      const reduce = (t: tfType.Tensor) => (mean.rank === 1 ? tf.sum(t, reductionAxes) : t);
      const xMinusMean = tf.sub(x, mean);
      const dyTimesScale = tf.mul(g, scaleValue);
      const oneOverSigma = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
      const minusHalfRCube = tf.mul(tf.mul(tf.mul(oneOverSigma, oneOverSigma), oneOverSigma), tf.scalar(-0.5));
      return {
        x: () => tf.reshape(tf.mul(dyTimesScale, oneOverSigma), x.shape),
        mean: () => tf.reshape(reduce(tf.mul(tf.mul(oneOverSigma, tf.scalar(-1)), dyTimesScale)), mean.shape),
        variance: () => tf.reshape(reduce(tf.mul(tf.mul(minusHalfRCube, xMinusMean), dyTimesScale)), mean.shape),
        scale: () => tf.reshape(reduce(tf.mul(g, tf.mul(xMinusMean, oneOverSigma))), mean.shape),
        offset: () => tf.reshape(reduce(g), mean.shape),
      };
    },
  });
}

/** The gradient of the fused kernel: one call of its backward kernel gives dx, dγ and dβ. */
function registerFusedGradient(tf: Tf): void {
  for (const relu of [false, true]) {
    registerGradientOnce(tf, {
      kernelName: relu ? BATCHNORM_RELU_TRAIN : BATCHNORM_TRAIN,
      inputsToSave: ['x', 'gamma'],
      // With the ReLU folded in, its gradient needs y too.
      outputsToSave: [relu, true, true, false, false],
      gradFunc: (dys: tfType.Tensor | tfType.Tensor[], saved: tfType.Tensor[], attrs: tfType.NamedAttrMap) => {
        const [x, gamma, ...outputs] = saved as tfType.Tensor[];
        const [reluY, mean, variance] = (relu ? outputs : [undefined, ...outputs]) as [tfType.Tensor | undefined, tfType.Tensor, tfType.Tensor];
        // Only y feeds the loss (mean and variance go to the moving averages, outside the gradient).
        const dy = (Array.isArray(dys) ? dys[0] : dys) ?? tf.zerosLike(x!);
        // Called once per layer, in the backward pass's scope: the closures below hand out
        // tensors that already exist, so each input's tidy keeps them.
        const inputs = { x: x!, dy, gamma: gamma!, mean, variance, ...(reluY ? { reluY } : {}) };
        const [dx, dgamma, dbeta] = tf.engine().runKernel(BATCHNORM_TRAIN_GRAD, inputs, attrs) as tfType.Tensor[];
        // The moving statistics are not trained: they get no gradient.
        return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta!, movingMean: () => tf.zerosLike(gamma!), movingVariance: () => tf.zerosLike(gamma!) };
      },
    });
  }
}

interface BatchNormInternals {
  axis: number;
  epsilon: number;
  momentum: number;
  center: boolean;
  scale: boolean;
  gamma: { read(): tfType.Tensor };
  beta: { read(): tfType.Tensor };
  movingMean: { read(): tfType.Tensor; write(t: tfType.Tensor): void };
  movingVariance: { read(): tfType.Tensor; write(t: tfType.Tensor): void };
  call(inputs: tfType.Tensor | tfType.Tensor[], kwargs: Record<string, unknown>): tfType.Tensor | tfType.Tensor[];
}

/**
 * Routes the training-mode forward of every channels-last BatchNormalization layer of `model`
 * through the fused kernels, when the active backend has them. Returns how many layers were
 * wrapped. The moving averages are updated exactly as tfjs-layers does
 * (moving ← moving − (moving − batch) · (1 − momentum), with the biased batch variance), inside
 * the kernel.
 */
export function useFusedBatchNorm(tf: Tf, model: tfType.LayersModel): number {
  if (!fusedBatchNormAvailable(tf)) return 0;
  registerFusedGradient(tf);
  let wrapped = 0;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const bn = layer as unknown as BatchNormInternals;
    if (!bn.center || !bn.scale) continue;
    // A ReLU layer that only this layer feeds is folded into the kernel (fuse-relu.ts).
    const relu = onlyReluConsumer(model, layer);
    if (relu) passFoldedThrough(relu);
    const original = bn.call.bind(bn);
    bn.call = (inputs, kwargs) => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const lastAxis = bn.axis === -1 || bn.axis === x.rank - 1;
      if (!kwargs?.training || !lastAxis || x.dtype !== 'float32' || !fusedBatchNormAvailable(tf)) return original(inputs, kwargs);
      return tf.tidy(() => {
        // The kernel also returns the updated moving averages, saving six small ops per layer.
        const [y, , , movingMean, movingVariance] = tf.engine().runKernel(
          relu ? BATCHNORM_RELU_TRAIN : BATCHNORM_TRAIN,
          { x, gamma: bn.gamma.read(), beta: bn.beta.read(), movingMean: bn.movingMean.read(), movingVariance: bn.movingVariance.read() },
          { epsilon: bn.epsilon, momentum: bn.momentum },
        ) as tfType.Tensor[];
        bn.movingMean.write(movingMean!);
        bn.movingVariance.write(movingVariance!);
        return relu ? foldedRelu(y!) : y!;
      });
    };
    wrapped++;
  }
  return wrapped;
}
