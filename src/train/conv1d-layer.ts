/**
 * Conv1D layers straight onto the native kernels.
 *
 * tf.conv1d reshapes its [N, L, C] input and [K, Ci, Co] filter to 4D, runs Conv2D and reshapes
 * back; the gradient does the same around Conv2DBackpropInput/Filter. With every tfjs op costing
 * engine overhead (and a saved-tensor clone when gradients are recorded), that is about eight
 * extra kernel calls per convolution and step. useNativeConv1d() wraps the call() of the model's
 * bias-free, linear, undilated, channels-last Conv1D layer objects so they run AstrospecConv1d
 * (kernels.ts) on the 3D tensors directly, with its gradient registered below. Layer names,
 * weights, classes and the saved topology are unchanged.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../model/resnet1d.js';
import { CONV1D, CONV1D_BACKPROP_FILTER, CONV1D_BACKPROP_INPUT, registerGradientOnce, type Conv1dAttrs } from './kernels.js';

function registerGradient(tf: Tf): void {
  registerGradientOnce(tf, {
    kernelName: CONV1D,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy: tfType.Tensor | tfType.Tensor[], saved: tfType.Tensor[], attrs: tfType.NamedAttrMap) => {
      const g = dy as tfType.Tensor;
      const [x, filter] = saved as [tfType.Tensor, tfType.Tensor];
      return {
        x: () => tf.engine().runKernel(CONV1D_BACKPROP_INPUT, { dy: g, filter }, { ...attrs, inputShape: x.shape }) as tfType.Tensor,
        filter: () => tf.engine().runKernel(CONV1D_BACKPROP_FILTER, { x, dy: g }, { ...attrs, filterShape: filter.shape }) as tfType.Tensor,
      };
    },
  });
}

interface Conv1dInternals {
  rank: number;
  kernel: { read(): tfType.Tensor };
  bias: unknown;
  strides: number[];
  padding: string;
  dataFormat: string;
  dilationRate: number[];
  activation?: { getClassName(): string };
  call(inputs: tfType.Tensor | tfType.Tensor[], kwargs: Record<string, unknown>): tfType.Tensor | tfType.Tensor[];
}

/** True when the native conv1d kernel is registered for the active backend. */
function available(tf: Tf): boolean {
  return tf.getKernel(CONV1D, tf.getBackend()) !== undefined;
}

/** Wraps the model's eligible Conv1D layers (see above); returns how many. */
export function useNativeConv1d(tf: Tf, model: tfType.LayersModel): number {
  if (!available(tf)) return 0;
  registerGradient(tf);
  let wrapped = 0;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Conv1D') continue;
    const conv = layer as unknown as Conv1dInternals;
    const linear = !conv.activation || conv.activation.getClassName() === 'linear';
    const eligible = conv.rank === 1 && conv.bias == null && linear && conv.dataFormat === 'channelsLast' && (conv.dilationRate[0] ?? 1) === 1 && (conv.padding === 'same' || conv.padding === 'valid');
    if (!eligible) continue;
    const original = conv.call.bind(conv);
    const attrs: Conv1dAttrs = { stride: conv.strides[0]!, pad: conv.padding as 'same' | 'valid' };
    conv.call = (inputs, kwargs) => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      if (x.rank !== 3 || x.dtype !== 'float32' || !available(tf)) return original(inputs, kwargs);
      return tf.engine().runKernel(CONV1D, { x, filter: conv.kernel.read() }, attrs as unknown as tfType.NamedAttrMap) as tfType.Tensor;
    };
    wrapped++;
  }
  return wrapped;
}
