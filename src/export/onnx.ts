/**
 * ONNX export of the 1D ResNet (src/model/resnet1d.ts), written directly as a ModelProto.
 *
 * The graph is channels-first: input `flux` [N, 1, L] float32 (plus `features` [N, F] when the
 * model has a side input), output `probabilities` [N, classes], N dynamic. Inside, the flux is
 * viewed as [N, 1, 1, L] and every conv/pool is a 1×k 2-D op (faster in onnxruntime, see
 * below). Because L is fixed per model, every padding is static and is computed here from the
 * actual length at each layer.
 *
 * Where tfjs and ONNX differ, and what is done about it:
 * - conv1d kernels are [k, Cin, Cout] in tfjs and [Cout, Cin, k] in ONNX: transposed.
 * - 'same' padding puts the odd pixel at the end (k = 7, stride 2 on 2600 pixels pads [2, 3]);
 *   ONNX's auto_pad SAME_UPPER would agree, but explicit pads make the file unambiguous.
 * - maxPooling1d 'same' ignores padded positions (−inf semantics); ONNX MaxPool never takes
 *   pads into the maximum, so the same explicit pads give the same result.
 * - BatchNormalization (epsilon 1e-3 in tfjs, 1e-5 by default in ONNX) is folded into the
 *   preceding convolution using the layer's own epsilon, so no BN node and no epsilon remain.
 * - With a redshift head, tfjs flattens [N, L, C] pixel-major; the ONNX graph transposes its
 *   [N, C, (1,) L] stage outputs to [N, L, (1,) C] before Flatten, so the dense weights keep their order.
 * The whole ModelSpec is stored in metadata_props under `astrospec.spec`, so the file alone
 * says which grid, normalisation and features it expects.
 */
import { readFile } from 'node:fs/promises';
import type * as tfType from '@tensorflow/tfjs';
import { AstrospecError } from '../errors.js';
import { writeFileAtomic } from '../io/partial-files.js';
import { BLOCKS_PER_STAGE, STAGE_MULTIPLIERS } from '../model/resnet1d.js';
import type { ModelSpec } from '../model/spec.js';
import {
  AttributeType,
  DataType,
  decodeModelMetadata,
  encodeModel,
  type AttributeProto,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './onnx-proto.js';
import { appendOodScore, specForOnnx } from './ood-graph.js';

/** Opset 17 and IR version 8: the newest pair that Debian 12's onnx (1.12) checker accepts; onnxruntime 1.30 runs both. */
export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;
export const SPEC_METADATA_KEY = 'astrospec.spec';
export const ONNX_NAMES = { flux: 'flux', features: 'features', probabilities: 'probabilities', zProbabilities: 'z_probabilities' } as const;

export interface SamePadding {
  outLength: number;
  /** [begin, end] */
  pads: [number, number];
}

/** tfjs/TensorFlow 'same' padding: out = ceil(L / s), the odd pixel of padding goes at the end. */
export function samePadding(length: number, kernel: number, stride: number): SamePadding {
  const outLength = Math.ceil(length / stride);
  const total = Math.max((outLength - 1) * stride + kernel - length, 0);
  const begin = Math.floor(total / 2);
  return { outLength, pads: [begin, total - begin] };
}

/** tfjs conv1d kernel [k, Cin, Cout] → ONNX Conv weight [Cout, Cin, k]. */
export function convKernelToOnnx(kernel: Float32Array, k: number, cin: number, cout: number): Float32Array {
  if (kernel.length !== k * cin * cout) throw new RangeError(`kernel has ${kernel.length} values, expected ${k}×${cin}×${cout}`);
  const out = new Float32Array(kernel.length);
  for (let t = 0; t < k; t++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let co = 0; co < cout; co++) out[(co * cin + ci) * k + t] = kernel[(t * cin + ci) * cout + co]!;
    }
  }
  return out;
}

export interface OnnxExportOptions {
  /**
   * Make the output of this tfjs layer (channels-first) the graph's only output instead of
   * `probabilities`; used to check parity layer by layer. A BatchNorm layer's output is its
   * folded convolution's output.
   */
  probe?: string;
  /** Free text stored as the model's doc_string. */
  description?: string;
  /**
   * Write the convolutions and the pool as 1-D ops on [N, C, L] instead of 1×k 2-D ops on
   * [N, C, 1, L]. Same numbers, slower in onnxruntime; kept for comparisons.
   */
  conv1d?: boolean;
  /** Leave out the spec's temperature scaling (astrospec calibrate fits it on raw probabilities). */
  uncalibrated?: boolean;
}

type Layer = tfType.layers.Layer;

function layerConfig(layer: Layer): Record<string, unknown> {
  return layer.getConfig() as Record<string, unknown>;
}

function scalarOf(value: unknown): number {
  return Array.isArray(value) ? Number(value[0]) : Number(value);
}

function weightsByRole(layer: Layer): Map<string, Float32Array> {
  const values = layer.getWeights();
  const out = new Map<string, Float32Array>();
  layer.weights.forEach((w, i) => {
    // Variable names are `<layer>/<role>`, possibly with a `_N` suffix when names repeat in a process.
    const role = (w.originalName ?? w.name).split('/').pop()!.replace(/_\d+$/, '');
    out.set(role, values[i]!.dataSync() as Float32Array);
  });
  return out;
}

function tensor(name: string, dims: number[], data: Float32Array): TensorProto {
  const copy = new Float32Array(data); // own buffer, little-endian as ONNX raw_data requires (x86/ARM hosts)
  return { name, dims, data_type: DataType.FLOAT, raw_data: new Uint8Array(copy.buffer) };
}

const ints = (name: string, values: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: values });
const int = (name: string, value: number): AttributeProto => ({ name, type: AttributeType.INT, i: value });

function valueInfo(name: string, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

/** Builds the ONNX ModelProto bytes for a tfjs ResNet built by buildResNet1d. */
export function buildOnnxModel(model: tfType.LayersModel, spec: ModelSpec, options: OnnxExportOptions = {}): Uint8Array {
  const arch = spec.architecture;
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const layer = (name: string): Layer => {
    const l = byName.get(name);
    if (!l) throw new AstrospecError('MODEL', `the model has no layer '${name}'; only ResNets built by astrospec can be exported`);
    return l;
  };
  const inputShape = model.inputs[0]!.shape;
  if (inputShape[1] !== arch.inputLength || inputShape[2] !== 1) {
    throw new AstrospecError('MODEL', `the model's input is [${inputShape.join(', ')}] but its spec says ${arch.inputLength} pixels`);
  }
  const featureCount = model.inputs.length > 1 ? Number(model.inputs[1]!.shape[1]) : 0;
  if (featureCount !== arch.featureCount) {
    throw new AstrospecError('MODEL', `the model takes ${featureCount} side features but its spec says ${arch.featureCount}`);
  }

  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const shapes = new Map<string, (number | string)[]>();
  let probeOutput: string | undefined;
  const node = (opType: string, name: string, inputs: string[], attribute: AttributeProto[] = []): string => {
    nodes.push({ name, op_type: opType, input: inputs, output: [name], attribute });
    return name;
  };
  const mark = (layerName: string, tensorName: string, dims: (number | string)[]) => {
    shapes.set(tensorName, dims);
    if (options.probe === layerName) probeOutput = tensorName;
  };

  // By default the network runs as 2-D ops on [N, C, 1, L] (one Unsqueeze after `flux`):
  // onnxruntime's blocked NCHWc convolutions (AVX2/AVX-512) only take 4-D tensors, and the 1×k
  // form measured 1.4–3× faster than 1-D Conv on this machine (bench/README.md).
  const twoD = options.conv1d !== true;
  // Spatial attributes and shapes in the chosen rank: 1-D [v] or 2-D [1, v].
  const sp = (v: number) => (twoD ? [1, v] : [v]);
  const spPads = (p: [number, number]) => (twoD ? [0, p[0], 0, p[1]] : p);
  const spShape = (c: number, l: number): (number | string)[] => (twoD ? ['N', c, 1, l] : ['N', c, l]);
  let x: string = ONNX_NAMES.flux;
  if (twoD) {
    initializers.push({ name: 'flux_unsqueeze_axes', dims: [1], data_type: DataType.INT64, raw_data: new Uint8Array(new BigInt64Array([2n]).buffer) });
    x = node('Unsqueeze', 'flux_2d', [x, 'flux_unsqueeze_axes']);
  }
  let length = arch.inputLength;
  let channels = 1;

  /** Conv1d ('same', no dilation) followed by its BatchNorm, folded into one Conv. */
  const convBn = (convName: string, bnName: string): string => {
    const conv = layer(convName);
    const cfg = layerConfig(conv);
    if (cfg.padding !== 'same') throw new AstrospecError('UNSUPPORTED', `layer ${convName}: padding '${String(cfg.padding)}' (only 'same' is exported)`);
    if (scalarOf(cfg.dilationRate ?? 1) !== 1) throw new AstrospecError('UNSUPPORTED', `layer ${convName}: dilated convolutions are not exported`);
    const k = scalarOf(cfg.kernelSize);
    const stride = scalarOf(cfg.strides);
    const cout = Number(cfg.filters);
    const w = weightsByRole(conv);
    const weight = convKernelToOnnx(w.get('kernel')!, k, channels, cout);
    const bias = new Float64Array(cout);
    const convBias = w.get('bias');
    if (convBias) bias.set(convBias);

    const bn = layer(bnName);
    const bnCfg = layerConfig(bn);
    const axis = Number(bnCfg.axis);
    if (axis !== -1 && axis !== 2) throw new AstrospecError('UNSUPPORTED', `layer ${bnName}: BatchNorm over axis ${axis}`);
    const epsilon = Number(bnCfg.epsilon);
    const b = weightsByRole(bn);
    const gamma = b.get('gamma');
    const beta = b.get('beta');
    const mean = b.get('moving_mean')!;
    const variance = b.get('moving_variance')!;
    // y = γ (conv(x) + c − μ) / √(σ² + ε) + β  =  conv(x)·s + (c − μ)·s + β,  s = γ / √(σ² + ε)
    const foldedBias = new Float32Array(cout);
    for (let co = 0; co < cout; co++) {
      const s = (gamma ? gamma[co]! : 1) / Math.sqrt(variance[co]! + epsilon);
      for (let j = co * channels * k; j < (co + 1) * channels * k; j++) weight[j] = weight[j]! * s;
      foldedBias[co] = (bias[co]! - mean[co]!) * s + (beta ? beta[co]! : 0);
    }
    initializers.push(tensor(`${convName}_weight`, twoD ? [cout, channels, 1, k] : [cout, channels, k], weight));
    initializers.push(tensor(`${convName}_bias`, [cout], foldedBias));
    const { outLength, pads } = samePadding(length, k, stride);
    const out = node('Conv', convName, [x, `${convName}_weight`, `${convName}_bias`], [
      ints('kernel_shape', sp(k)),
      ints('strides', sp(stride)),
      ints('pads', spPads(pads)),
      ints('dilations', sp(1)),
      int('group', 1),
    ]);
    length = outLength;
    channels = cout;
    mark(bnName, out, spShape(channels, length));
    return out;
  };
  const relu = (input: string, name: string): string => {
    const out = node('Relu', name, [input]);
    mark(name, out, shapes.get(input)!);
    return out;
  };

  x = relu(convBn('stem_conv', 'stem_bn'), 'stem_relu');
  {
    const cfg = layerConfig(layer('stem_pool'));
    if (cfg.padding !== 'same') throw new AstrospecError('UNSUPPORTED', `layer stem_pool: padding '${String(cfg.padding)}'`);
    const k = scalarOf(cfg.poolSize);
    const stride = scalarOf(cfg.strides ?? k);
    const { outLength, pads } = samePadding(length, k, stride);
    x = node('MaxPool', 'stem_pool', [x], [ints('kernel_shape', sp(k)), ints('strides', sp(stride)), ints('pads', spPads(pads))]);
    length = outLength;
    mark('stem_pool', x, spShape(channels, length));
  }

  const stageOutputs: string[] = [];
  STAGE_MULTIPLIERS.forEach((_, s) => {
    for (let b = 0; b < BLOCKS_PER_STAGE; b++) {
      const name = `s${s + 1}b${b + 1}`;
      const blockInput = x;
      const inputLength = length;
      const inputChannels = channels;
      let shortcut = blockInput;
      if (byName.has(`${name}_proj`)) {
        shortcut = convBn(`${name}_proj`, `${name}_proj_bn`);
        length = inputLength; // rewind: the main path starts from the block input too
        channels = inputChannels;
      }
      const y1 = relu(convBn(`${name}_conv1`, `${name}_bn1`), `${name}_relu1`);
      x = y1;
      const y2 = convBn(`${name}_conv2`, `${name}_bn2`);
      const sum = node('Add', `${name}_add`, [y2, shortcut]);
      mark(`${name}_add`, sum, spShape(channels, length));
      x = relu(sum, `${name}_relu2`);
    }
    stageOutputs.push(x);
  });

  const gap = node('GlobalAveragePool', 'gap_pool', [x]);
  let pooled = node('Flatten', 'gap', [gap], [int('axis', 1)]);
  mark('gap', pooled, ['N', channels]);
  let headInputs = channels;
  if (featureCount > 0) {
    pooled = node('Concat', 'head_concat', [pooled, ONNX_NAMES.features], [int('axis', 1)]);
    headInputs += featureCount;
    mark('head_concat', pooled, ['N', headInputs]);
  }
  {
    const head = layer('head');
    const cfg = layerConfig(head);
    const w = weightsByRole(head);
    const units = Number(cfg.units);
    initializers.push(tensor('head_weight', [headInputs, units], w.get('kernel')!));
    initializers.push(tensor('head_bias', [units], w.get('bias') ?? new Float32Array(units)));
    const logits = node('Gemm', 'head_logits', [pooled, 'head_weight', 'head_bias'], [int('transB', 0)]);
    if (cfg.activation !== 'softmax') throw new AstrospecError('UNSUPPORTED', `layer head: activation '${String(cfg.activation)}' (expected softmax)`);
    // Temperature scaling (astrospec calibrate): softmax(logits / T), so every consumer of the
    // file gets the calibrated probabilities, not only astrospec classify.
    const temperature = options.uncalibrated ? undefined : spec.calibration?.temperature;
    let scaled = logits;
    if (temperature !== undefined) {
      if (!(temperature > 0 && Number.isFinite(temperature))) throw new AstrospecError('MODEL', `calibration temperature must be positive, got ${temperature}`);
      initializers.push(tensor('inverse_temperature', [], Float32Array.of(1 / temperature)));
      scaled = node('Mul', 'head_logits_scaled', [logits, 'inverse_temperature']);
    }
    node('Softmax', ONNX_NAMES.probabilities, [scaled], [int('axis', 1)]);
    mark('head', ONNX_NAMES.probabilities, ['N', units]);
  }

  const redshiftHead = arch.redshift;
  if (redshiftHead) {
    // Stages 3 and 4 flattened pixel-major (as tfjs does channels-last), then ReLU dense and softmax.
    const flattened = [2, 3].map((stage) => {
      const t = stageOutputs[stage]!;
      const dims = shapes.get(t)!;
      const c = Number(dims[1]);
      const l = Number(dims[dims.length - 1]);
      const transposed = node('Transpose', `z_transpose${stage + 1}`, [t], [ints('perm', twoD ? [0, 3, 2, 1] : [0, 2, 1])]);
      const flat = node('Flatten', `z_flatten${stage + 1}`, [transposed], [int('axis', 1)]);
      mark(`z_flatten${stage + 1}`, flat, ['N', c * l]);
      return { flat, size: c * l };
    });
    const zIn = node('Concat', 'z_concat', flattened.map((f) => f.flat), [int('axis', 1)]);
    let size = flattened.reduce((n, f) => n + f.size, 0);
    mark('z_concat', zIn, ['N', size]);
    let z = zIn;
    for (const [name, activation] of [['z_hidden', 'relu'], ['z_head', 'softmax']] as const) {
      const dense = layer(name);
      const cfg = layerConfig(dense);
      if (cfg.activation !== activation) throw new AstrospecError('UNSUPPORTED', `layer ${name}: activation '${String(cfg.activation)}' (expected ${activation})`);
      const w = weightsByRole(dense);
      const units = Number(cfg.units);
      initializers.push(tensor(`${name}_weight`, [size, units], w.get('kernel')!));
      initializers.push(tensor(`${name}_bias`, [units], w.get('bias') ?? new Float32Array(units)));
      const pre = node('Gemm', `${name}_linear`, [z, `${name}_weight`, `${name}_bias`], [int('transB', 0)]);
      z = activation === 'relu' ? node('Relu', name, [pre]) : node('Softmax', ONNX_NAMES.zProbabilities, [pre], [int('axis', 1)]);
      size = units;
      mark(name, z, ['N', units]);
    }
  }

  let output: string = ONNX_NAMES.probabilities;
  if (options.probe !== undefined) {
    if (probeOutput === undefined) throw new AstrospecError('BAD_ARGUMENT', `no layer output named '${options.probe}' to probe`);
    output = probeOutput;
  }
  const outputs = [output];
  if (redshiftHead && options.probe === undefined) outputs.push(ONNX_NAMES.zProbabilities);
  // Keep only what the outputs depend on (everything, unless probing an inner layer).
  const needed = new Set(outputs);
  const kept: NodeProto[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!n.output.some((o) => needed.has(o))) continue;
    kept.unshift(n);
    for (const input of n.input) needed.add(input);
  }
  const inputs = [valueInfo(ONNX_NAMES.flux, ['N', 1, arch.inputLength])];
  if (featureCount > 0 && needed.has(ONNX_NAMES.features)) inputs.push(valueInfo(ONNX_NAMES.features, ['N', featureCount]));

  const graph: GraphProto = {
    name: model.name,
    node: kept,
    initializer: initializers.filter((t) => needed.has(t.name)),
    input: inputs,
    output: outputs.map((o) => valueInfo(o, shapes.get(o)!)),
  };
  // The out-of-distribution score (astrospec calibrate fits it) as a second output, ood_score [N].
  if (spec.ood && options.probe === undefined) appendOodScore(graph, spec.ood);
  return encodeModel({
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    producer_name: 'astrospec',
    producer_version: '0.1.0',
    doc_string: options.description ?? `1D ResNet18 (width ${arch.width}) classifying spectra into ${spec.classNames.join(', ')}`,
    graph,
    metadata_props: [
      { key: SPEC_METADATA_KEY, value: JSON.stringify(specForOnnx(spec)) },
      { key: 'class_names', value: spec.classNames.join(',') },
    ],
  });
}

/** The ModelSpec stored in an exported file's metadata (throws MODEL if the file has none). */
export function onnxModelSpec(bytes: Uint8Array, file?: string): ModelSpec {
  let props: { key: string; value: string }[];
  try {
    props = decodeModelMetadata(bytes);
  } catch (error) {
    throw new AstrospecError('MODEL', `not an ONNX model (${(error as Error).message})`, { file }, { cause: error });
  }
  const entry = props.find((p) => p.key === SPEC_METADATA_KEY);
  if (!entry) throw new AstrospecError('MODEL', `this ONNX file has no '${SPEC_METADATA_KEY}' metadata; export it with astrospec export`, { file });
  const spec = JSON.parse(entry.value) as ModelSpec;
  if (spec.format !== 'astrospec-model') throw new AstrospecError('MODEL', 'the ONNX metadata is not an astrospec model spec', { file });
  return spec;
}

export async function readOnnxModelSpec(path: string): Promise<ModelSpec> {
  return onnxModelSpec(await readFile(path), path);
}

export interface ExportResult {
  output: string;
  bytes: number;
  spec: ModelSpec;
}

/** The ONNX bytes of a model directory written by saveModel, and its spec. */
export async function onnxBytesFromRun(modelDir: string, options: OnnxExportOptions = {}): Promise<{ bytes: Uint8Array; spec: ModelSpec }> {
  const tf = await import('@tensorflow/tfjs');
  // Only weights are read; the pure-JS backend is always there and loads instantly.
  if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
  // The CPU backend's "install tfjs-node to speed things up" banner is noise for a weights-only read.
  tf.env().set('PROD', true);
  const { loadModel } = await import('../model/io.js');
  const { model, spec } = await loadModel(tf, modelDir);
  try {
    return { bytes: buildOnnxModel(model, spec, options), spec };
  } finally {
    model.dispose();
  }
}

/** Loads a model directory written by saveModel and writes it as one ONNX file (atomically). */
export async function exportOnnx(modelDir: string, output: string, options: OnnxExportOptions = {}): Promise<ExportResult> {
  const { bytes, spec } = await onnxBytesFromRun(modelDir, options);
  await writeFileAtomic(output, bytes);
  return { output, bytes: bytes.byteLength, spec };
}
