/**
 * The 1D ResNet18 classifier, defined once in the tfjs layers API.
 *
 * He et al., "Deep Residual Learning for Image Recognition" (2016), with 1D convolutions:
 * a 7-tap stride-2 stem, 3-tap max-pool stride 2, four stages of two BasicBlocks
 * (3-tap conv–BN–ReLU–3-tap conv–BN, identity or 1×1 stride-2 projection shortcut),
 * global average pooling, optional side features concatenated, dense softmax.
 * With a redshift head (spec.redshift) a second output: stages 3 and 4 flattened, a ReLU dense
 * layer, and a softmax over redshift bins (see RedshiftHeadSpec).
 *
 * Layers are named deterministically (stem_conv, s2b1_conv1, s2b1_proj, ...) so the ONNX
 * exporter can walk them. Input layout is tfjs's channels-last [N, L, 1].
 */
import type * as tfType from '@tensorflow/tfjs';
import type { ArchitectureSpec } from './spec.js';

export type Tf = typeof tfType;

/** BatchNorm epsilon: tfjs's default, written explicitly so the ONNX export can copy it. */
export const BN_EPSILON = 1e-3;
export const BN_MOMENTUM = 0.99;
export const STAGE_MULTIPLIERS = [1, 2, 4, 8] as const;
export const BLOCKS_PER_STAGE = 2;

export function buildResNet1d(tf: Tf, arch: ArchitectureSpec, seed = 1): tfType.LayersModel {
  let seedCounter = seed;
  const init = () => tf.initializers.heNormal({ seed: seedCounter++ });
  const conv = (x: tfType.SymbolicTensor, filters: number, kernelSize: number, strides: number, name: string) =>
    tf.layers
      .conv1d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: init(), name })
      .apply(x) as tfType.SymbolicTensor;
  const bn = (x: tfType.SymbolicTensor, name: string) =>
    tf.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name }).apply(x) as tfType.SymbolicTensor;
  const relu = (x: tfType.SymbolicTensor, name: string) =>
    tf.layers.reLU({ name }).apply(x) as tfType.SymbolicTensor;

  const flux = tf.input({ shape: [arch.inputLength, 1], name: 'flux' });
  let x = conv(flux, arch.width, 7, 2, 'stem_conv');
  x = relu(bn(x, 'stem_bn'), 'stem_relu');
  x = tf.layers.maxPooling1d({ poolSize: 3, strides: 2, padding: 'same', name: 'stem_pool' }).apply(x) as tfType.SymbolicTensor;

  let channels = arch.width;
  const stageOutputs: tfType.SymbolicTensor[] = [];
  STAGE_MULTIPLIERS.forEach((multiplier, s) => {
    const filters = arch.width * multiplier;
    for (let b = 0; b < BLOCKS_PER_STAGE; b++) {
      const name = `s${s + 1}b${b + 1}`;
      const stride = s > 0 && b === 0 ? 2 : 1;
      let shortcut = x;
      if (stride !== 1 || channels !== filters) {
        shortcut = bn(conv(x, filters, 1, stride, `${name}_proj`), `${name}_proj_bn`);
      }
      let y = relu(bn(conv(x, filters, 3, stride, `${name}_conv1`), `${name}_bn1`), `${name}_relu1`);
      y = bn(conv(y, filters, 3, 1, `${name}_conv2`), `${name}_bn2`);
      x = relu(tf.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as tfType.SymbolicTensor, `${name}_relu2`);
      channels = filters;
    }
    stageOutputs.push(x);
  });

  let pooled = tf.layers.globalAveragePooling1d({ name: 'gap' }).apply(x) as tfType.SymbolicTensor;
  const inputs: tfType.SymbolicTensor[] = [flux];
  if (arch.featureCount > 0) {
    const features = tf.input({ shape: [arch.featureCount], name: 'features' });
    inputs.push(features);
    pooled = tf.layers.concatenate({ name: 'head_concat' }).apply([pooled, features]) as tfType.SymbolicTensor;
  }
  const probabilities = tf.layers
    .dense({ units: arch.classCount, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seedCounter++ }), name: 'head' })
    .apply(pooled) as tfType.SymbolicTensor;
  const name = `resnet18_1d_w${arch.width}`;
  if (!arch.redshift) return tf.model({ inputs, outputs: probabilities, name });
  // Channels-last flatten keeps position-major order: [pixel 0 channels, pixel 1 channels, ...].
  const flattened = [2, 3].map((stage) => tf.layers.flatten({ name: `z_flatten${stage + 1}` }).apply(stageOutputs[stage]!) as tfType.SymbolicTensor);
  let z = tf.layers.concatenate({ name: 'z_concat' }).apply(flattened) as tfType.SymbolicTensor;
  z = tf.layers
    .dense({ units: arch.redshift.hidden, activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: seedCounter++ }), name: 'z_hidden' })
    .apply(z) as tfType.SymbolicTensor;
  const zProbabilities = tf.layers
    .dense({ units: arch.redshift.bins, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seedCounter++ }), name: 'z_head' })
    .apply(z) as tfType.SymbolicTensor;
  return tf.model({ inputs, outputs: [probabilities, zProbabilities], name });
}
