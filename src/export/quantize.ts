/**
 * Static int8 quantisation of an exported fp32 ONNX graph, in the QOperator form onnxruntime's
 * integer kernels run (QLinearConv, com.microsoft QLinearAdd / QGemm / MatMulIntegerToFloat), or in the QDQ form
 * (QuantizeLinear → DequantizeLinear pairs around float ops, fused by onnxruntime at load).
 *
 * - Weights: int8, symmetric (zero point 0, range ±127), one scale per output channel (or one
 *   per tensor). Biases: int32 at scale x_scale · w_scale[c], zero point 0, as QLinearConv wants.
 * - Activations: 8-bit, asymmetric, one scale per tensor, from the ranges seen on a
 *   calibration sample (min/max, or a percentile of |x| that ignores rare outliers). Every range
 *   includes 0, so zero padding and ReLU's 0 are exact.
 * - A ReLU that is the only consumer of a Conv or Add disappears into it: its output range
 *   starts at 0, and saturating at the zero point is the ReLU.
 * - MaxPool runs on the 8-bit tensor with the input's scale (max commutes with a monotone map).
 * - Everything else stays float, with DequantizeLinear in front where its input is 8-bit: the
 *   graph's outputs keep their names and types, so extra outputs (e.g. penultimate features)
 *   and metadata pass through unchanged.
 * The quantisation math (scale, zero point, round half to even, saturation) is plain TS here and
 * is tested against a scalar reference and against onnxruntime's own QuantizeLinear.
 */
import { AstrospecError } from '../errors.js';
import { AttributeType, decodeModel, encodeModel, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './onnx-proto.js';

/** TensorProto.DataType values this module writes (onnx.proto). */
export const QuantDataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6 } as const;
export const QUANTIZATION_METADATA_KEY = 'astrospec.quantization';
const MS_DOMAIN = 'com.microsoft';

export type QuantFormat = 'qoperator' | 'qdq';
export type ActivationType = 'uint8' | 'int8';
export type CalibrationMethod = 'minmax' | 'percentile' | 'mse';
/** Float op types that can be replaced by integer ones. */
export type QuantizableOp = 'Conv' | 'Gemm' | 'MatMul' | 'Add' | 'MaxPool';
export const DEFAULT_QUANTIZED_OPS: readonly QuantizableOp[] = ['Conv', 'Add', 'MaxPool', 'Gemm', 'MatMul'];

export interface QuantizeOptions {
  format?: QuantFormat;
  /** Activations as uint8 (u8·s8 products: what AVX-512 VNNI's vpdpbusd computes) or int8. */
  activations?: ActivationType;
  /** One weight scale per output channel (default) or one per tensor. */
  perChannel?: boolean;
  /** Which float ops to replace. Default: Conv, Add, MaxPool and Gemm. */
  ops?: readonly QuantizableOp[];
  /** Nodes (by name) left in float. */
  exclude?: readonly string[];
  /**
   * Graph outputs whose computation is quantised (default: `probabilities` and, for a model with
   * a redshift head, `z_probabilities`; else the first output). Nodes that
   * feed only other outputs (e.g. an out-of-distribution score computed from inner features)
   * stay float: their statistics were fitted on float features, and they cost little.
   */
  quantizedOutputs?: readonly string[];
}

/** Range of a tensor's values on the calibration sample. */
export interface ActivationRange {
  min: number;
  max: number;
}

export interface QuantParams {
  scale: number;
  zeroPoint: number;
}

// ---------------------------------------------------------------------------------------------
// Quantisation math (scalar, shared by the graph rewrite and the tests)

/** Round half to even, as onnxruntime's QuantizeLinear (std::nearbyint, default rounding mode). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function quantLimits(type: ActivationType): { qmin: number; qmax: number } {
  return type === 'uint8' ? { qmin: 0, qmax: 255 } : { qmin: -128, qmax: 127 };
}

/**
 * q = saturate(round(x / scale) + zeroPoint): ONNX QuantizeLinear, with the division in float32
 * as onnxruntime does it (ties are decided on the float32 quotient).
 */
export function quantizeValue(x: number, p: QuantParams, qmin: number, qmax: number): number {
  return Math.min(qmax, Math.max(qmin, roundHalfEven(Math.fround(x / p.scale)) + p.zeroPoint));
}

export function dequantizeValue(q: number, p: QuantParams): number {
  return (q - p.zeroPoint) * p.scale;
}

/**
 * Asymmetric per-tensor parameters covering [min, max] ∪ {0} with qmin…qmax. A constant-zero
 * tensor gets scale 1 (any positive scale represents it exactly).
 */
export function activationParams(range: ActivationRange, type: ActivationType): QuantParams {
  const { qmin, qmax } = quantLimits(type);
  if (!Number.isFinite(range.min) || !Number.isFinite(range.max) || range.min > range.max) {
    throw new AstrospecError('MODEL', `calibration range [${range.min}, ${range.max}] is not a finite interval`);
  }
  const rmin = Math.min(0, range.min);
  const rmax = Math.max(0, range.max);
  if (rmax === rmin) return { scale: 1, zeroPoint: type === 'uint8' ? 0 : 0 };
  const scale = Math.fround((rmax - rmin) / (qmax - qmin));
  const zeroPoint = Math.min(qmax, Math.max(qmin, roundHalfEven(qmin - rmin / scale)));
  return { scale, zeroPoint };
}

export interface QuantizedWeights {
  /** int8 values, same layout as the float weights. */
  values: Int8Array;
  /** One scale per channel along `axis` (or one in all when per tensor). */
  scales: Float32Array;
}

/**
 * Symmetric int8 weights (zero point 0, −127…127, as onnxruntime's own quantiser: a symmetric
 * range keeps −128 out, so negating a weight never saturates). `channels` slices along the
 * first axis (Conv [M, C, kH, kW]) when `axis` is 0, or the last (Gemm B [K, N]) when 1.
 */
export function quantizeWeights(w: Float32Array, channels: number, axis: 0 | 1, perChannel: boolean): QuantizedWeights {
  if (w.length % channels !== 0) throw new RangeError(`${w.length} weights don't split into ${channels} channels`);
  const inner = w.length / channels;
  const channelOf = axis === 0 ? (i: number) => Math.floor(i / inner) : (i: number) => i % channels;
  const maxAbs = new Float64Array(perChannel ? channels : 1);
  for (let i = 0; i < w.length; i++) {
    const c = perChannel ? channelOf(i) : 0;
    const a = Math.abs(w[i]!);
    if (!Number.isFinite(a)) throw new AstrospecError('MODEL', `a weight is ${w[i]}: the model is damaged`);
    if (a > maxAbs[c]!) maxAbs[c] = a;
  }
  const scales = Float32Array.from(maxAbs, (m) => (m > 0 ? m / 127 : 1));
  const values = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const s = scales[perChannel ? channelOf(i) : 0]!;
    values[i] = Math.min(127, Math.max(-127, roundHalfEven(w[i]! / s)));
  }
  return { values, scales };
}

/** int32 bias at scale xScale · wScale[c], zero point 0 (QLinearConv's and QGemm's C input). */
export function quantizeBias(bias: Float32Array, xScale: number, wScales: Float32Array): { values: Int32Array; scales: Float32Array } {
  const scales = new Float32Array(bias.length);
  const values = new Int32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const s = Math.fround(xScale * wScales[wScales.length === 1 ? 0 : c]!);
    scales[c] = s;
    values[c] = Math.min(2147483647, Math.max(-2147483648, roundHalfEven(bias[c]! / s)));
  }
  return { values, scales };
}

// ---------------------------------------------------------------------------------------------
// Calibration: which tensors need ranges, and a graph that outputs them all

const floatInfo = (name: string): ValueInfoProto => ({ name, type: { tensor_type: { elem_type: QuantDataType.FLOAT } } }) as unknown as ValueInfoProto;

function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

/**
 * The activation tensors whose ranges the rewrite uses, found by a dry run of it: a ReLU's
 * input that is fused away needs none, so calibration reads about half the tensors.
 */
export function tensorsToCalibrate(model: ModelProto, options: QuantizeOptions = {}): string[] {
  const names = new Set<string>();
  quantizeGraph(model, (name) => {
    names.add(name);
    return { min: 0, max: 1 };
  }, options);
  return [...names];
}

/** The float model with every tensor in `names` added as a graph output. */
export function calibrationGraph(model: ModelProto, names: string[]): Uint8Array {
  // Graph inputs are not repeated as outputs: their ranges come from the feeds.
  const outputs = new Set([...model.graph.output.map((o) => o.name), ...model.graph.input.map((i) => i.name)]);
  const extra = names.filter((n) => !outputs.has(n)).map(floatInfo);
  return encodeModel({ ...model, graph: { ...model.graph, output: [...model.graph.output, ...extra] } });
}

/**
 * Running calibration statistics per tensor: min/max, and for the percentile method a
 * histogram of |x| over [0, max|x|] kept at 2048 bins (rebinned by doubling its width when a
 * larger value arrives, so one pass suffices).
 */
export class RangeCollector {
  private readonly stats = new Map<string, { min: number; max: number; hist: Float64Array; width: number }>();
  static readonly BINS = 2048;

  constructor(readonly method: CalibrationMethod = 'minmax', readonly percentile = 99.999) {
    if (!(percentile > 50 && percentile <= 100)) throw new AstrospecError('BAD_ARGUMENT', `percentile must be in (50, 100], got ${percentile}`);
  }

  add(name: string, data: Float32Array): void {
    let s = this.stats.get(name);
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (!Number.isFinite(min) || !Number.isFinite(max)) {
      if (data.length === 0) return;
      throw new AstrospecError('MODEL', `tensor '${name}' is not finite on the calibration sample`);
    }
    if (!s) {
      s = { min, max, hist: new Float64Array(RangeCollector.BINS), width: 0 };
      this.stats.set(name, s);
    } else {
      s.min = Math.min(s.min, min);
      s.max = Math.max(s.max, max);
    }
    if (this.method === 'minmax') return;
    const top = Math.max(Math.abs(min), Math.abs(max));
    if (s.width === 0) s.width = top > 0 ? top / RangeCollector.BINS : 0;
    while (s.width > 0 && top >= s.width * RangeCollector.BINS) {
      const merged = new Float64Array(RangeCollector.BINS);
      for (let b = 0; b < RangeCollector.BINS; b++) merged[b >> 1]! += s.hist[b]!;
      s.hist = merged;
      s.width *= 2;
    }
    if (s.width === 0) {
      if (top === 0) {
        s.hist[0]! += data.length;
        return;
      }
      s.width = top / RangeCollector.BINS;
    }
    const last = RangeCollector.BINS - 1;
    for (let i = 0; i < data.length; i++) s.hist[Math.min(last, Math.floor(Math.abs(data[i]!) / s.width))]! += 1;
  }

  /**
   * The range to quantise `name` with: min/max; both ends clipped to the percentile of |x|; or
   * clipped at the threshold T that minimises the expected squared error over the histogram
   * (rounding error step²/12 for values inside, (|x| − T)² for values clipped).
   */
  range(name: string): ActivationRange {
    const s = this.stats.get(name);
    if (!s) throw new AstrospecError('MODEL', `no calibration statistics for tensor '${name}'`);
    if (this.method === 'minmax' || s.width === 0) return { min: s.min, max: s.max };
    if (this.method === 'mse') {
      const bins = RangeCollector.BINS;
      const centre = (b: number) => (b + 0.5) * s.width;
      let best = bins;
      let bestError = Infinity;
      for (let t = 16; t <= bins; t++) {
        const bound = t * s.width;
        const span = Math.min(s.max, bound) - Math.max(s.min, -bound);
        const step = Math.max(span, 0) / 255;
        let error = 0;
        for (let b = 0; b < bins; b++) {
          const c = s.hist[b]!;
          if (c === 0) continue;
          const over = centre(b) - bound;
          error += over > 0 ? c * over * over : (c * step * step) / 12;
        }
        if (error < bestError) {
          bestError = error;
          best = t;
        }
      }
      const bound = best * s.width;
      return { min: Math.max(s.min, -bound), max: Math.min(s.max, bound) };
    }
    let total = 0;
    for (const c of s.hist) total += c;
    const target = (total * this.percentile) / 100;
    let seen = 0;
    let b = 0;
    for (; b < RangeCollector.BINS; b++) {
      seen += s.hist[b]!;
      if (seen >= target) break;
    }
    const bound = (b + 1) * s.width;
    return { min: Math.max(s.min, -bound), max: Math.min(s.max, bound) };
  }

  has(name: string): boolean {
    return this.stats.has(name);
  }
}

// ---------------------------------------------------------------------------------------------
// The graph rewrite

function floatsOf(t: TensorProto & { float_data?: number[] }): Float32Array {
  if (t.data_type !== QuantDataType.FLOAT) throw new AstrospecError('UNSUPPORTED', `initializer '${t.name}' is not float32`);
  if (t.raw_data && t.raw_data.byteLength > 0) {
    const copy = new Uint8Array(t.raw_data); // aligned copy
    return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
  }
  return Float32Array.from(t.float_data ?? []);
}

const tensorOf = (name: string, dims: number[], dataType: number, data: ArrayBufferView): TensorProto => ({
  name,
  dims,
  data_type: dataType,
  raw_data: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
});

interface Quantized {
  /** Name of the 8-bit tensor. */
  name: string;
  params: QuantParams;
}

export interface QuantizeReport {
  /** Nodes replaced by integer ones, by float op type. */
  quantizedNodes: Record<string, number>;
  /** ReLUs folded into the Conv/Add before them. */
  fusedRelus: number;
  /** QuantizeLinear / DequantizeLinear nodes at the boundaries between 8-bit and float. */
  quantizeNodes: number;
  dequantizeNodes: number;
}

/**
 * Rewrites a float model into its int8 form, with activation ranges from `ranges` (see
 * RangeCollector). Returns the new ModelProto; metadata is kept.
 */
export function quantizeGraph(model: ModelProto, ranges: (name: string) => ActivationRange, options: QuantizeOptions = {}): { model: ModelProto; report: QuantizeReport } {
  const format = options.format ?? 'qoperator';
  const actType = options.activations ?? 'uint8';
  const perChannel = options.perChannel ?? true;
  const ops = new Set<string>(options.ops ?? DEFAULT_QUANTIZED_OPS);
  const excludedNames = new Set(options.exclude ?? []);
  const ancestors = ancestorNodes(model, options.quantizedOutputs ?? defaultQuantizedOutputs(model));
  const excluded = new Set(model.graph.node.filter((n) => !ancestors.has(n) || (n.name && excludedNames.has(n.name))));
  const actDataType = actType === 'uint8' ? QuantDataType.UINT8 : QuantDataType.INT8;
  const { qmin, qmax } = quantLimits(actType);
  const g = model.graph;
  const initializers = new Map(g.initializer.map((t) => [t.name, t]));
  const graphOutputs = new Set(g.output.map((o) => o.name));
  const consumers = new Map<string, NodeProto[]>();
  for (const n of g.node) for (const i of n.input) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);

  const nodes: NodeProto[] = [];
  const added: TensorProto[] = [];
  const report: QuantizeReport = { quantizedNodes: {}, fusedRelus: 0, quantizeNodes: 0, dequantizeNodes: 0 };
  const count = (op: string) => (report.quantizedNodes[op] = (report.quantizedNodes[op] ?? 0) + 1);
  /** 8-bit form of tensors that have one. */
  const q8 = new Map<string, Quantized>();
  /** Tensors whose float form exists (graph inputs, float nodes' outputs, dequantized). */
  const floats = new Set<string>([...g.input.map((i) => i.name), ...initializers.keys()]);
  const skipped = new Set<NodeProto>();
  const paramsOf = new Map<string, QuantParams>();

  const params = (tensor: string): QuantParams => {
    let p = paramsOf.get(tensor);
    if (!p) {
      p = activationParams(ranges(tensor), actType);
      paramsOf.set(tensor, p);
    }
    return p;
  };
  const scalarNames = (base: string, p: QuantParams): [string, string] => {
    const s = `${base}_scale`;
    const z = `${base}_zero_point`;
    if (!initializers.has(s) && !added.some((t) => t.name === s)) {
      added.push(tensorOf(s, [], QuantDataType.FLOAT, Float32Array.of(p.scale)));
      added.push(tensorOf(z, [], actDataType, actType === 'uint8' ? Uint8Array.of(p.zeroPoint) : Int8Array.of(p.zeroPoint)));
    }
    return [s, z];
  };
  /** The 8-bit form of a float tensor, adding a QuantizeLinear the first time. */
  const toQ8 = (tensor: string): Quantized => {
    const have = q8.get(tensor);
    if (have) return have;
    const p = params(tensor);
    const [s, z] = scalarNames(tensor, p);
    const name = `${tensor}_quantized`;
    nodes.push({ name: `${tensor}_QuantizeLinear`, op_type: 'QuantizeLinear', input: [tensor, s, z], output: [name], attribute: [] });
    report.quantizeNodes++;
    const out = { name, params: p };
    q8.set(tensor, out);
    return out;
  };
  /** Makes the float form of a tensor available, adding a DequantizeLinear the first time. */
  const toFloat = (tensor: string): void => {
    if (floats.has(tensor)) return;
    const q = q8.get(tensor);
    if (!q) return; // produced by a float node later on, or an optional empty input
    const [s, z] = scalarNames(tensor, q.params);
    nodes.push({ name: `${tensor}_DequantizeLinear`, op_type: 'DequantizeLinear', input: [q.name, s, z], output: [tensor], attribute: [] });
    report.dequantizeNodes++;
    floats.add(tensor);
  };
  /** A ReLU that is the only consumer of `tensor` (and the tensor is not a graph output). */
  const soleRelu = (tensor: string): NodeProto | undefined => {
    const c = consumers.get(tensor) ?? [];
    return c.length === 1 && c[0]!.op_type === 'Relu' && !graphOutputs.has(tensor) ? c[0] : undefined;
  };
  const produced = (tensor: string, p: QuantParams): Quantized => {
    const out = { name: `${tensor}_quantized`, params: p };
    q8.set(tensor, out);
    return out;
  };
  const isActivation = (t: string) => !initializers.has(t);

  // QDQ form: each quantised activation tensor T is followed by Q → DQ, and every quantised op
  // reads the dequantized copy; weights are stored as int8 behind a DequantizeLinear.
  const qdqOf = (tensor: string): string => {
    const p = params(tensor);
    const [s, z] = scalarNames(tensor, p);
    const qName = `${tensor}_quantized`;
    const dq = `${tensor}_dequantized`;
    if (!nodes.some((n) => n.output[0] === dq)) {
      nodes.push({ name: `${tensor}_QuantizeLinear`, op_type: 'QuantizeLinear', input: [tensor, s, z], output: [qName], attribute: [] });
      nodes.push({ name: `${tensor}_DequantizeLinear`, op_type: 'DequantizeLinear', input: [qName, s, z], output: [dq], attribute: [] });
      report.quantizeNodes++;
      report.dequantizeNodes++;
    }
    return dq;
  };

  for (const node of g.node) {
    if (skipped.has(node)) continue;
    const op = excluded.has(node) ? `${node.op_type} (excluded)` : node.op_type;
    const isConv = op === 'Conv' && ops.has('Conv') && node.input.length >= 2 && initializers.has(node.input[1]!) && isActivation(node.input[0]!) && (node.input[2] === undefined || node.input[2] === '' || initializers.has(node.input[2]));
    // Gemm and MatMul with a constant 2-D B (and for Gemm a 1-D bias of one value per column).
    const weightDims = initializers.get(node.input[1] ?? '')?.dims.map(Number);
    const columns = weightDims?.length === 2 ? weightDims[(attr(node, 'transB')?.i ?? 0) === 1 ? 0 : 1]! : -1;
    const gemmBias = node.input[2] ? initializers.get(node.input[2])?.dims.map(Number) : [columns];
    const isGemm = op === 'Gemm' && ops.has('Gemm') && columns > 0 && isActivation(node.input[0]!) && gemmBias?.length === 1 && gemmBias[0] === columns &&
      (attr(node, 'transA')?.i ?? 0) === 0 && (attr(node, 'beta')?.f ?? 1) === 1 && (attr(node, 'alpha')?.f ?? 1) === 1;
    const isMatMul = op === 'MatMul' && ops.has('MatMul') && columns > 0 && isActivation(node.input[0]!);
    const isAdd = op === 'Add' && ops.has('Add') && node.input.length === 2 && node.input.every(isActivation);
    // Only on a tensor that exists in 8-bit form alone: a float MaxPool before the QuantizeLinear is
    // as cheap, and onnxruntime's NCHW uint8 MaxPool (no NHWC rewrite without a QLinear producer)
    // measured 14× slower than its NHWC one.
    const isPool = op === 'MaxPool' && ops.has('MaxPool') && node.output.length === 1 && q8.has(node.input[0]!) && !floats.has(node.input[0]!);

    if (format === 'qdq') {
      if (isConv || isGemm || isMatMul) {
        const x = qdqOf(node.input[0]!);
        const w = floatsOf(initializers.get(node.input[1]!)!);
        const wDims = initializers.get(node.input[1]!)!.dims;
        const axis: 0 | 1 = isConv ? 0 : (attr(node, 'transB')?.i ?? 0) === 1 ? 0 : 1;
        const channels = Number(wDims[axis === 0 ? 0 : wDims.length - 1]);
        const qw = quantizeWeights(w, channels, axis, perChannel);
        const wq = `${node.input[1]}_quantized`;
        added.push(tensorOf(wq, wDims.map(Number), QuantDataType.INT8, qw.values));
        added.push(tensorOf(`${wq}_scale`, perChannel ? [channels] : [], QuantDataType.FLOAT, qw.scales));
        added.push(tensorOf(`${wq}_zero_point`, perChannel ? [channels] : [], QuantDataType.INT8, new Int8Array(qw.scales.length)));
        const wdq = `${node.input[1]}_dequantized`;
        nodes.push({ name: `${wdq}_DequantizeLinear`, op_type: 'DequantizeLinear', input: [wq, `${wq}_scale`, `${wq}_zero_point`], output: [wdq], attribute: perChannel ? [{ name: 'axis', type: AttributeType.INT, i: axis }] : [] });
        const inputs = [x, wdq];
        if (node.input[2]) {
          const b = quantizeBias(floatsOf(initializers.get(node.input[2])!), params(node.input[0]!).scale, qw.scales);
          const bq = `${node.input[2]}_quantized`;
          added.push(tensorOf(bq, [b.values.length], QuantDataType.INT32, b.values));
          added.push(tensorOf(`${bq}_scale`, [b.values.length], QuantDataType.FLOAT, b.scales));
          added.push(tensorOf(`${bq}_zero_point`, [b.values.length], QuantDataType.INT32, new Int32Array(b.values.length)));
          nodes.push({ name: `${bq}_DequantizeLinear`, op_type: 'DequantizeLinear', input: [bq, `${bq}_scale`, `${bq}_zero_point`], output: [`${node.input[2]}_dequantized`], attribute: [{ name: 'axis', type: AttributeType.INT, i: 0 }] });
          inputs.push(`${node.input[2]}_dequantized`);
        }
        nodes.push({ ...node, input: inputs });
        count(op);
      } else if (isAdd) {
        nodes.push({ ...node, input: node.input.map(qdqOf) });
        count(op);
      } else if (op === 'MaxPool' && ops.has('MaxPool')) {
        // DQ → MaxPool → Q with one scale on both sides: onnxruntime drops the pair.
        paramsOf.set(node.output[0]!, params(node.input[0]!));
        nodes.push({ ...node, input: [qdqOf(node.input[0]!)] });
        count(op);
      } else {
        nodes.push(node);
      }
      // The output of a quantised op is quantised where its consumers are (Relu fused by onnxruntime).
      continue;
    }

    if (isConv || isGemm || isMatMul || isAdd) {
      const relu = isGemm || isMatMul ? undefined : soleRelu(node.output[0]!);
      const outTensor = relu ? relu.output[0]! : node.output[0]!;
      // QGemm without y_scale and MatMulIntegerToFloat write float: the head's logits stay float for the softmax.
      const floatOut = isGemm || isMatMul;
      const outParams = floatOut ? undefined : params(outTensor);
      const outNames = outParams ? scalarNames(outTensor, outParams) : undefined;
      const qOut = floatOut ? outTensor : `${outTensor}_quantized`;
      if (isAdd) {
        const a = toQ8(node.input[0]!);
        const b = toQ8(node.input[1]!);
        const [as, az] = scalarNames(node.input[0]!, a.params);
        const [bs, bz] = scalarNames(node.input[1]!, b.params);
        nodes.push({ name: `${node.name}_quant`, op_type: 'QLinearAdd', domain: MS_DOMAIN, input: [a.name, as, az, b.name, bs, bz, outNames![0], outNames![1]], output: [qOut], attribute: [] } as NodeProto);
      } else {
        const x = toQ8(node.input[0]!);
        const [xs, xz] = scalarNames(node.input[0]!, x.params);
        const wInit = initializers.get(node.input[1]!)!;
        const wDims = wInit.dims.map(Number);
        const axis: 0 | 1 = isConv ? 0 : (attr(node, 'transB')?.i ?? 0) === 1 ? 0 : 1;
        const channels = wDims[axis === 0 ? 0 : wDims.length - 1]!;
        const qw = quantizeWeights(floatsOf(wInit), channels, axis, perChannel);
        const wq = `${node.input[1]}_quantized`;
        const scaleDims = perChannel ? [channels] : [];
        // QLinearConv takes weights of the activations' type family; s8 weights with u8 or s8 activations.
        added.push(tensorOf(wq, wDims, QuantDataType.INT8, qw.values));
        added.push(tensorOf(`${wq}_scale`, scaleDims, QuantDataType.FLOAT, qw.scales));
        added.push(tensorOf(`${wq}_zero_point`, scaleDims, QuantDataType.INT8, new Int8Array(qw.scales.length)));
        let bias: string | undefined;
        if (node.input[2]) {
          const b = quantizeBias(floatsOf(initializers.get(node.input[2])!), x.params.scale, qw.scales);
          bias = `${node.input[2]}_quantized`;
          added.push(tensorOf(bias, [b.values.length], QuantDataType.INT32, b.values));
        }
        if (isMatMul) {
          nodes.push({ name: `${node.name}_quant`, op_type: 'MatMulIntegerToFloat', domain: MS_DOMAIN, input: [x.name, wq, xs, `${wq}_scale`, xz, `${wq}_zero_point`], output: [qOut], attribute: [] } as NodeProto);
        } else if (isConv) {
          nodes.push({ name: `${node.name}_quant`, op_type: 'QLinearConv', input: [x.name, xs, xz, wq, `${wq}_scale`, `${wq}_zero_point`, outNames![0], outNames![1], ...(bias ? [bias] : [])], output: [qOut], attribute: node.attribute ?? [] });
        } else {
          const attributes = (node.attribute ?? []).filter((a) => a.name === 'transB');
          nodes.push({ name: `${node.name}_quant`, op_type: 'QGemm', domain: MS_DOMAIN, input: [x.name, xs, xz, wq, `${wq}_scale`, `${wq}_zero_point`, bias ?? ''], output: [qOut], attribute: attributes } as NodeProto);
        }
      }
      count(op);
      if (relu) {
        skipped.add(relu);
        report.fusedRelus++;
      }
      if (floatOut) floats.add(outTensor);
      else produced(outTensor, outParams!);
      continue;
    }
    if (isPool) {
      const x = q8.get(node.input[0]!)!;
      nodes.push({ ...node, input: [x.name], output: [`${node.output[0]}_quantized`] });
      produced(node.output[0]!, x.params);
      count(op);
      continue;
    }
    // A float op: its inputs in float form, its outputs float.
    for (const i of node.input) if (i) toFloat(i);
    nodes.push(node);
    for (const o of node.output) if (o) floats.add(o);
  }
  for (const o of g.output) toFloat(o.name);

  const used = new Set(nodes.flatMap((n) => n.input));
  const opset = [...model.opset_import.filter((o) => o.domain !== MS_DOMAIN)];
  if (nodes.some((n) => (n as NodeProto & { domain?: string }).domain === MS_DOMAIN)) opset.push({ domain: MS_DOMAIN, version: 1 });
  // Per-channel DequantizeLinear (axis) and 8-bit MaxPool need opset 13 and 12.
  for (const o of opset) if (o.domain === '' && o.version < 13) o.version = 13;
  const quantized: ModelProto = {
    ...model,
    opset_import: opset,
    graph: {
      ...g,
      node: nodes,
      initializer: [...g.initializer.filter((t) => used.has(t.name)), ...added.filter((t) => used.has(t.name))],
      // Shapes of inner tensors (value_info) are optional and would name tensors that are now 8-bit.
      value_info: undefined,
    } as ModelProto['graph'],
  };
  return { model: quantized, report };
}

/**
 * Lays the batch out as image rows: [N, C, 1, L] → [1, C, N, L], for graphs whose 4-D part is
 * made of 1×k convolutions and pools (kernel height 1, stride 1, no vertical padding) and
 * element-wise ops, entered through one Unsqueeze of a graph input and left through
 * GlobalAveragePool. A 1×k kernel never mixes rows, so every output is the same; but
 * onnxruntime's QLinearConv runs one im2col + GEMM per image, and with the batch as rows that is
 * one GEMM of N·L rows per layer instead of N GEMMs of L rows (L is 21…325 here), which is what
 * int8 kernels need to pay off (docs/onnx.md). GlobalAveragePool becomes ReduceMean over the
 * row (axis 3) and a Transpose back to [N, C, 1, 1]. Returns undefined (nothing to do, or an op
 * it can't prove row-wise) so callers keep the graph as it is.
 */
export function foldBatchIntoRows(model: ModelProto): ModelProto | undefined {
  const g = model.graph;
  const initializers = new Map(g.initializer.map((t) => [t.name, t]));
  const graphInputs = new Set(g.input.map((i) => i.name));
  const rows = new Set<string>();
  const nodes: NodeProto[] = [];
  const added: TensorProto[] = [];
  const intsOf = (n: NodeProto, name: string) => attr(n, name)?.ints?.map(Number);
  const unsqueezeAxes = (n: NodeProto): number[] | undefined => {
    const fromAttr = intsOf(n, 'axes');
    if (fromAttr) return fromAttr;
    const t = n.input[1] ? initializers.get(n.input[1]) : undefined;
    if (!t || t.data_type !== 7) return undefined;
    const raw = new Uint8Array(t.raw_data);
    return Array.from(new BigInt64Array(raw.buffer, 0, raw.byteLength / 8), Number);
  };
  const rowWise = (n: NodeProto) => {
    const k = intsOf(n, 'kernel_shape');
    const strides = intsOf(n, 'strides') ?? [1, 1];
    const dilations = intsOf(n, 'dilations') ?? [1, 1];
    const pads = intsOf(n, 'pads') ?? [0, 0, 0, 0];
    const autoPad = attr(n, 'auto_pad')?.s;
    return k?.length === 2 && k[0] === 1 && strides[0] === 1 && dilations[0] === 1 && pads[0] === 0 && pads[2] === 0 && (!autoPad || autoPad.length === 0 || new TextDecoder().decode(autoPad) === 'NOTSET');
  };
  for (const n of g.node) {
    if (n.op_type === 'Unsqueeze' && graphInputs.has(n.input[0]!) && JSON.stringify(unsqueezeAxes(n)) === '[2]') {
      // [N, C, L] → [1, N, C, L] → [1, C, N, L]
      const axes = `${n.output[0]}_rows_axes`;
      added.push({ name: axes, dims: [1], data_type: 7, raw_data: new Uint8Array(new BigInt64Array([0n]).buffer) });
      nodes.push({ name: `${n.name}_rows`, op_type: 'Unsqueeze', input: [n.input[0]!, axes], output: [`${n.output[0]}_batch_first`], attribute: [] });
      nodes.push({ name: n.name, op_type: 'Transpose', input: [`${n.output[0]}_batch_first`], output: [n.output[0]!], attribute: [{ name: 'perm', type: AttributeType.INTS, ints: [0, 2, 1, 3] }] });
      rows.add(n.output[0]!);
      continue;
    }
    const activations = n.input.filter((i) => i && !initializers.has(i));
    if (!activations.some((i) => rows.has(i))) {
      nodes.push(n);
      continue;
    }
    if (!activations.every((i) => rows.has(i))) return undefined;
    if ((n.op_type === 'Conv' || n.op_type === 'MaxPool' || n.op_type === 'AveragePool') && rowWise(n) && n.output.length === 1) {
      nodes.push(n);
      rows.add(n.output[0]!);
    } else if (n.op_type === 'Transpose' && JSON.stringify(intsOf(n, 'perm')) === '[0,3,2,1]') {
      // The redshift head's [N, C, 1, L] → [N, L, 1, C] before its Flatten: from rows [1, C, N, L].
      nodes.push({ ...n, attribute: [{ name: 'perm', type: AttributeType.INTS, ints: [2, 3, 0, 1] }] });
    } else if ((n.op_type === 'Relu' || n.op_type === 'Add') && n.input.every((i) => rows.has(i))) {
      nodes.push(n);
      rows.add(n.output[0]!);
    } else if (n.op_type === 'GlobalAveragePool') {
      const mean = `${n.output[0]}_rows`;
      nodes.push({ name: `${n.name}_rows`, op_type: 'ReduceMean', input: [n.input[0]!], output: [mean], attribute: [{ name: 'axes', type: AttributeType.INTS, ints: [3] }, { name: 'keepdims', type: AttributeType.INT, i: 1 }] });
      nodes.push({ name: n.name, op_type: 'Transpose', input: [mean], output: [n.output[0]!], attribute: [{ name: 'perm', type: AttributeType.INTS, ints: [2, 1, 0, 3] }] });
    } else {
      return undefined;
    }
  }
  if (rows.size === 0 || g.output.some((o) => rows.has(o.name))) return undefined;
  const used = new Set(nodes.flatMap((n) => n.input));
  return {
    ...model,
    graph: { ...g, node: nodes, initializer: [...g.initializer, ...added].filter((t) => used.has(t.name)), value_info: undefined } as ModelProto['graph'],
  };
}

/** The class probabilities and, when the model has them, the redshift bins (the first output otherwise). */
function defaultQuantizedOutputs(model: ModelProto): string[] {
  const names = model.graph.output.map((o) => o.name).filter((name) => name === 'probabilities' || name === 'z_probabilities');
  return names.length > 0 ? names : model.graph.output.slice(0, 1).map((o) => o.name);
}

/** Nodes that the given outputs depend on. */
function ancestorNodes(model: ModelProto, outputs: readonly string[]): Set<NodeProto> {
  const producer = new Map<string, NodeProto>();
  for (const n of model.graph.node) for (const o of n.output) producer.set(o, n);
  const found = new Set<NodeProto>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const n = producer.get(stack.pop()!);
    if (!n || found.has(n)) continue;
    found.add(n);
    stack.push(...n.input.filter((i) => i));
  }
  return found;
}

export interface QuantizationInfo {
  format: QuantFormat;
  activations: ActivationType;
  weights: 'int8';
  perChannel: boolean;
  ops: QuantizableOp[];
  calibration: { method: CalibrationMethod; percentile?: number; rows: number };
  keepFloat?: string[];
  /** The batch runs as image rows (foldBatchIntoRows). */
  foldedBatch: boolean;
  report: QuantizeReport;
}

/** Bytes of a quantised model, with its quantisation settings in metadata_props. */
export function encodeQuantized(model: ModelProto, info: QuantizationInfo): Uint8Array {
  const metadata = [...(model.metadata_props ?? []).filter((p) => p.key !== QUANTIZATION_METADATA_KEY), { key: QUANTIZATION_METADATA_KEY, value: JSON.stringify(info) }];
  return encodeModel({ ...model, metadata_props: metadata });
}

/** The quantisation settings stored in a model, or undefined for a float model. */
export function onnxQuantizationInfo(bytes: Uint8Array): QuantizationInfo | undefined {
  const entry = decodeModel(bytes).metadata_props?.find((p) => p.key === QUANTIZATION_METADATA_KEY);
  return entry ? (JSON.parse(entry.value) as QuantizationInfo) : undefined;
}
