/**
 * The out-of-distribution score as ONNX nodes (src/model/spec.ts OodSpec), appended to a graph
 * the exporter builds or to an existing ONNX file, and the extra outputs of pooled layer
 * features that the statistics are fitted from.
 *
 * Per layer, with z = f·W + b (whitened features) and m_k the whitened class means,
 *   ‖z − m_k‖² = ‖z‖² − 2 z·m_k + ‖m_k‖²,
 * so the graph is one Gemm for z, ReduceSumSquare for ‖z‖², one Gemm (alpha −2, bias ‖m_k‖²) for
 * the rest, ReduceMin over the classes, then √(max(0, ·) / (D·scale²)); the score is the Max over
 * layers. Centring is folded into b, so the cancellation in the sum stays small in float32.
 */
import { AstrospecError } from '../errors.js';
import { BLOCKS_PER_STAGE } from '../model/resnet1d.js';
import type { ModelSpec, OodSpec } from '../model/spec.js';
import { AttributeType, DataType, decodeModel, encodeModel, type AttributeProto, type GraphProto, type ModelProto, type TensorProto, type ValueInfoProto } from './onnx-proto.js';

export const OOD_OUTPUT = 'ood_score';
/** The Gemm whose input is the features the head sees. */
const HEAD_NODE = 'head_logits';
const SPEC_KEY = 'astrospec.spec';
const PREFIX = 'ood_';

function floatTensor(name: string, dims: number[], values: ArrayLike<number>): TensorProto {
  const data = Float32Array.from(values);
  return { name, dims, data_type: DataType.FLOAT, raw_data: new Uint8Array(data.buffer) };
}

function output(name: string, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
  };
}

/** The spec as stored in an ONNX file's metadata: the OOD statistics live in the graph, not in the JSON. */
export function specForOnnx(spec: ModelSpec): ModelSpec {
  if (!spec.ood?.statistics) return spec;
  const { statistics: _statistics, ...ood } = spec.ood;
  return { ...spec, ood };
}

/** Name of the tensor the head's Gemm reads (the pooled features, with side features when the model has them). */
export function headInputOf(graph: GraphProto): string {
  const head = graph.node.find((n) => n.name === HEAD_NODE && n.op_type === 'Gemm');
  if (!head) throw new AstrospecError('MODEL', `the graph has no '${HEAD_NODE}' Gemm; only models exported by astrospec have an OOD score`);
  return head.input[0]!;
}

/** Layers the score can use (OodSpec.layers names). */
export const OOD_LAYERS = ['stage1', 'stage2', 'stage3', 'stage4', 'head', 'redshift'] as const;

/**
 * Adds (once) the nodes giving layer `name`'s pooled features [N, D] and returns the tensor's
 * name and D: the head's input, a stage's last block output averaged over wavelength, or the
 * redshift head's hidden layer (models with one): the only features that keep where along the
 * spectrum things are, which pooling discards.
 */
function layerFeatures(graph: GraphProto, name: string): { tensor: string; dimension: number } {
  if (name === 'redshift') {
    const hidden = graph.node.find((n) => n.name === 'z_hidden' && n.op_type === 'Relu');
    const weight = graph.initializer.find((t) => t.name === 'z_hidden_weight');
    if (!hidden || !weight || weight.dims.length !== 2) throw new AstrospecError('MODEL', "OOD layer 'redshift' needs a model with a redshift head (no z_hidden node)");
    return { tensor: hidden.output[0]!, dimension: Number(weight.dims[1]) };
  }
  if (name === 'head') {
    const head = graph.node.find((n) => n.name === HEAD_NODE)!;
    const weight = graph.initializer.find((t) => t.name === head.input[1]);
    if (!weight || weight.dims.length !== 2) throw new AstrospecError('MODEL', "the head's weight is not a matrix");
    return { tensor: headInputOf(graph), dimension: Number(weight.dims[0]) };
  }
  const stage = /^stage([1-9])$/.exec(name);
  if (!stage) throw new AstrospecError('BAD_ARGUMENT', `no OOD layer '${name}' (layers: ${OOD_LAYERS.join(', ')})`);
  const block = `s${stage[1]}b${BLOCKS_PER_STAGE}`;
  const output = graph.node.find((n) => n.name === `${block}_relu2`);
  const conv = graph.initializer.find((t) => t.name === `${block}_conv2_weight`);
  if (!output || !conv) throw new AstrospecError('MODEL', `the graph has no stage ${stage[1]} (no ${block}_relu2 node)`);
  const tensor = `${PREFIX}${name}_features`;
  if (!graph.node.some((n) => n.name === tensor)) {
    const pooled = `${PREFIX}${name}_pool`;
    graph.node.push({ name: pooled, op_type: 'GlobalAveragePool', input: [output.output[0]!], output: [pooled], attribute: [] });
    graph.node.push({ name: tensor, op_type: 'Flatten', input: [pooled], output: [tensor], attribute: [{ name: 'axis', type: AttributeType.INT, i: 1 }] });
  }
  return { tensor, dimension: Number(conv.dims[0]) };
}

const ints = (name: string, values: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: values });
const int = (name: string, value: number): AttributeProto => ({ name, type: AttributeType.INT, i: value });
const float = (name: string, value: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f: value });

/** Appends layer `index`'s score nodes; returns the name of its score tensor [N]. */
function appendLayerScore(graph: GraphProto, features: string, layer: OodSpec['layers'][number], stats: NonNullable<OodSpec['statistics']>[number]): string {
  const D = layer.dimension;
  const K = stats.classMeans.length / D;
  if (!Number.isInteger(K) || K < 1 || stats.whitening.length !== D * D || stats.bias.length !== D) {
    throw new AstrospecError('MODEL', `OOD statistics of layer ${layer.name} don't fit dimension ${D}: whitening ${stats.whitening.length}, bias ${stats.bias.length}, class means ${stats.classMeans.length}`);
  }
  if (!(layer.scale > 0 && Number.isFinite(layer.scale))) throw new AstrospecError('MODEL', `OOD layer ${layer.name}: scale must be positive, got ${layer.scale}`);
  // Gemm(z, Mᵀ) with M = the whitened class means (K × D): Mᵀ is D × K.
  const meansT = new Float32Array(D * K);
  const norms = new Float32Array(K);
  for (let k = 0; k < K; k++) {
    let s = 0;
    for (let j = 0; j < D; j++) {
      const v = stats.classMeans[k * D + j]!;
      meansT[j * K + k] = v;
      s += v * v;
    }
    norms[k] = s;
  }
  const p = `${PREFIX}${layer.name}_`;
  graph.initializer.push(
    floatTensor(`${p}whitening`, [D, D], stats.whitening),
    floatTensor(`${p}bias`, [D], stats.bias),
    floatTensor(`${p}class_means_t`, [D, K], meansT),
    floatTensor(`${p}class_norms`, [K], norms),
    floatTensor(`${p}inverse_variance`, [], [1 / (D * layer.scale * layer.scale)]),
  );
  const node = (op: string, name: string, inputs: string[], attribute: AttributeProto[] = []) => {
    graph.node.push({ name, op_type: op, input: inputs, output: [name], attribute });
    return name;
  };
  const z = node('Gemm', `${p}whitened`, [features, `${p}whitening`, `${p}bias`]);
  const zz = node('ReduceSumSquare', `${p}whitened_norm`, [z], [ints('axes', [1]), int('keepdims', 1)]);
  const cross = node('Gemm', `${p}cross`, [z, `${p}class_means_t`, `${p}class_norms`], [float('alpha', -2)]);
  const d2 = node('Add', `${p}distance2`, [cross, zz]);
  const nearest = node('ReduceMin', `${p}nearest`, [d2], [ints('axes', [1]), int('keepdims', 0)]);
  const clamped = node('Relu', `${p}nearest_clamped`, [nearest]);
  const scaled = node('Mul', `${p}scaled`, [clamped, `${p}inverse_variance`]);
  return node('Sqrt', `${p}score`, [scaled]);
}

/** Appends the ood_score nodes (from `ood.statistics`) and the `ood_score` [N] output. */
export function appendOodScore(graph: GraphProto, ood: OodSpec): void {
  const stats = ood.statistics;
  if (!stats || stats.length !== ood.layers.length) throw new AstrospecError('MODEL', 'the OOD spec has no statistics (one per layer) to build the score from');
  const scores = ood.layers.map((layer, i) => {
    const { tensor, dimension } = layerFeatures(graph, layer.name);
    if (dimension !== layer.dimension) throw new AstrospecError('MODEL', `OOD layer ${layer.name} has ${layer.dimension} features in the spec, ${dimension} in the graph`);
    return appendLayerScore(graph, tensor, layer, stats[i]!);
  });
  graph.node.push({ name: OOD_OUTPUT, op_type: scores.length > 1 ? 'Max' : 'Identity', input: scores, output: [OOD_OUTPUT], attribute: [] });
  graph.output.push(output(OOD_OUTPUT, ['N']));
}

/** Removes the ood_score nodes, initializers and outputs (to fit again). */
function removeOodScore(graph: GraphProto): void {
  graph.node = graph.node.filter((n) => !n.name.startsWith(PREFIX) && n.name !== OOD_OUTPUT);
  graph.initializer = graph.initializer.filter((t) => !t.name.startsWith(PREFIX));
  graph.output = graph.output.filter((o) => o.name !== OOD_OUTPUT && !o.name.startsWith(PREFIX));
}

function readSpec(model: ModelProto): ModelSpec {
  const entry = (model.metadata_props ?? []).find((p) => p.key === SPEC_KEY);
  if (!entry) throw new AstrospecError('MODEL', `this ONNX file has no '${SPEC_KEY}' metadata; export it with astrospec export`);
  return JSON.parse(entry.value) as ModelSpec;
}

function writeSpec(model: ModelProto, spec: ModelSpec): void {
  const value = JSON.stringify(specForOnnx(spec));
  model.metadata_props = (model.metadata_props ?? []).map((p) => (p.key === SPEC_KEY ? { key: SPEC_KEY, value } : p));
}

function decode(bytes: Uint8Array): ModelProto {
  try {
    return decodeModel(bytes);
  } catch (error) {
    throw new AstrospecError('MODEL', `not an ONNX model (${(error as Error).message})`, {}, { cause: error });
  }
}

/** Output name of layer `name`'s pooled features in a model made by withFeatureOutputs. */
export const featureOutputName = (name: string) => `${PREFIX}features_${name}`;

/**
 * The same model without any OOD score, with each layer's pooled features as an extra output
 * (featureOutputName(layer), [N, D]), for fitting the statistics. Returns D per layer.
 */
export function withFeatureOutputs(bytes: Uint8Array, layers: readonly string[]): { bytes: Uint8Array; dimensions: number[] } {
  const model = decode(bytes);
  removeOodScore(model.graph);
  const { ood: _ood, ...spec } = readSpec(model);
  writeSpec(model, spec);
  const dimensions = layers.map((name) => {
    const { tensor, dimension } = layerFeatures(model.graph, name);
    // An Identity gives the output its own name, whatever the features' tensor is called.
    const out = featureOutputName(name);
    model.graph.node.push({ name: out, op_type: 'Identity', input: [tensor], output: [out], attribute: [] });
    model.graph.output.push(output(out, ['N', dimension]));
    return dimension;
  });
  return { bytes: encodeModel(model), dimensions };
}

/** An exported model with its OOD score replaced by (or added as) `ood`, which must carry statistics; the spec in its metadata gets `ood` too. */
export function withOodScore(bytes: Uint8Array, ood: OodSpec): Uint8Array {
  const model = decode(bytes);
  const spec = readSpec(model);
  removeOodScore(model.graph);
  appendOodScore(model.graph, ood);
  writeSpec(model, { ...spec, ood });
  return encodeModel(model);
}
