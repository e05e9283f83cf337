/**
 * ReLU folded into the layer before it, for training on the native kernels.
 *
 * In the ResNet every ReLU layer follows a BatchNormalization (conv → BN → ReLU) or a residual
 * Add (… → Add → ReLU) whose output feeds nothing else. A separate ReLU costs a pass over the
 * activations forward, another backward, and two kernel dispatches; folded into the BN or Add
 * kernel it costs a select per value. The producer's wrapped call() (batchnorm.ts, and
 * useFusedAddRelu() below) returns relu(its output) and records the tensor here; the ReLU layer's
 * wrapped call() hands a recorded tensor through unchanged (ReLU is idempotent, so even a
 * misrouted tensor would get the right values) and computes anything else itself. Layer objects,
 * names, weights and the saved topology are unchanged, so export and inference don't see it.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../model/resnet1d.js';
import { ADD_RELU, RELU_GRAD, hasKernel, registerGradientOnce } from './kernels.js';

/** Tensors that already are relu(…) of a folded producer. */
const alreadyRelu = new WeakSet<object>();

type Layer = tfType.layers.Layer;
interface LayerInternals {
  inboundNodes: unknown[];
  outboundNodes: { outboundLayer: Layer }[];
  maxValue?: number | null;
  call(inputs: tfType.Tensor | tfType.Tensor[], kwargs: Record<string, unknown>): tfType.Tensor | tfType.Tensor[];
}

/**
 * The plain ReLU layer that is the only consumer of `layer`'s output in `model` (each applied
 * once, not a model output), or undefined.
 */
export function onlyReluConsumer(model: tfType.LayersModel, layer: Layer): Layer | undefined {
  const l = layer as unknown as LayerInternals;
  if (l.inboundNodes.length !== 1 || l.outboundNodes.length !== 1 || model.outputLayers.includes(layer)) return undefined;
  const consumer = l.outboundNodes[0]!.outboundLayer;
  const c = consumer as unknown as LayerInternals;
  if (consumer.getClassName() !== 'ReLU' || c.maxValue != null || c.inboundNodes.length !== 1) return undefined;
  return consumer;
}

/** Records `t` as a folded ReLU's output and makes `reluLayer` pass it through. */
export function foldedRelu<T extends tfType.Tensor>(t: T): T {
  alreadyRelu.add(t);
  return t;
}

const passThrough = new WeakSet<object>();

/** Wraps the ReLU layer's call() once so that it hands folded outputs through. */
export function passFoldedThrough(reluLayer: Layer): void {
  if (passThrough.has(reluLayer)) return;
  passThrough.add(reluLayer);
  const r = reluLayer as unknown as LayerInternals;
  const original = r.call.bind(r);
  r.call = (inputs, kwargs) => {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return alreadyRelu.has(x) ? x : original(inputs, kwargs);
  };
}

function registerAddReluGradient(tf: Tf): void {
  registerGradientOnce(tf, {
    kernelName: ADD_RELU,
    outputsToSave: [true],
    gradFunc: (dy: tfType.Tensor | tfType.Tensor[], saved: tfType.Tensor[]) => {
      // step(relu(z)) = step(z): the output stands in for the sum.
      const dz = tf.engine().runKernel(RELU_GRAD, { x: saved[0]!, dy: dy as tfType.Tensor }) as tfType.Tensor;
      // Two tensor objects: the tape may dispose each input's gradient separately.
      return { a: () => dz, b: () => tf.clone(dz) };
    },
  });
}

/**
 * In training mode, the model's two-input Add layers whose only consumer is a ReLU run
 * AstrospecAddRelu when the active backend has it. Returns how many were wrapped.
 */
export function useFusedAddRelu(tf: Tf, model: tfType.LayersModel): number {
  if (!hasKernel(tf, ADD_RELU)) return 0;
  registerAddReluGradient(tf);
  let wrapped = 0;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Add') continue;
    const relu = onlyReluConsumer(model, layer);
    if (!relu) continue;
    const add = layer as unknown as LayerInternals;
    const original = add.call.bind(add);
    add.call = (inputs, kwargs) => {
      const [a, b] = Array.isArray(inputs) ? inputs : [inputs];
      const fusable = kwargs?.training && Array.isArray(inputs) && inputs.length === 2 && a!.dtype === 'float32' && b!.dtype === 'float32' && a!.shape.join() === b!.shape.join() && hasKernel(tf, ADD_RELU);
      if (!fusable) return original(inputs, kwargs);
      return foldedRelu(tf.engine().runKernel(ADD_RELU, { a: a!, b: b! }) as tfType.Tensor);
    };
    passFoldedThrough(relu);
    wrapped++;
  }
  return wrapped;
}
