/**
 * `astrospec export --quantize int8`: an exported fp32 model (or a trained run directory,
 * exported first) → a statically quantised int8 ONNX model (src/export/quantize.ts), with
 * activation ranges measured on calibration spectra preprocessed exactly as classify does.
 */
import { readFile } from 'node:fs/promises';
import { stat } from 'node:fs/promises';
import type * as ortType from 'onnxruntime-node';
import { AstrospecError, check } from '../errors.js';
import { networkInput } from '../io/batch.js';
import { openSpectra } from '../io/open.js';
import { writeFileAtomic } from '../io/partial-files.js';
import { standardisedFeature, type ModelSpec } from '../model/spec.js';
import { preprocess } from '../preprocess/index.js';
import { buildOnnxModel, ONNX_NAMES, onnxBytesFromRun, onnxModelSpec, type OnnxExportOptions } from './onnx.js';
import { decodeModel, encodeModel } from './onnx-proto.js';
import {
  calibrationGraph,
  DEFAULT_QUANTIZED_OPS,
  encodeQuantized,
  foldBatchIntoRows,
  quantizeGraph,
  RangeCollector,
  tensorsToCalibrate,
  type ActivationType,
  type CalibrationMethod,
  type QuantFormat,
  type QuantizableOp,
  type QuantizationInfo,
  type QuantizeOptions,
} from './quantize.js';

export interface Int8ExportOptions {
  /** Spectra to measure activation ranges on (any format classify reads). */
  calibration: string;
  /** Use at most this many calibration spectra (the first ones). Default 4096. */
  calibrationRows?: number;
  method?: CalibrationMethod;
  /** With method 'percentile': the percentile of |x| kept per tensor. Default 99.99. */
  percentile?: number;
  /** Nodes (by name) left in float. */
  keepFloat?: readonly string[];
  format?: QuantFormat;
  activations?: ActivationType;
  perChannel?: boolean;
  ops?: readonly QuantizableOp[];
  /** onnxruntime threads for the calibration runs. */
  threads?: number;
  /** Lay the batch out as image rows first (foldBatchIntoRows), when the graph allows. Default true. */
  foldBatch?: boolean;
}

/**
 * Percentile 99.99 of |x| per tensor: on the default model it changed the fewest argmax
 * decisions on synthetic and real test spectra of the three methods (docs/onnx.md).
 */
export const DEFAULT_CALIBRATION = { method: 'percentile' as CalibrationMethod, percentile: 99.99 };

export interface NetworkInputs {
  rows: number;
  /** rows × inputLength, preprocessed as classify does. */
  flux: Float32Array;
  /** rows × featureCount, z-scored with the spec's statistics. */
  features?: Float32Array;
}

/**
 * Reads up to `limit` spectra from `path` and prepares them as the network's inputs: the model's
 * grid, normalisation, binning and side features (src/infer/classify.ts does the same per batch).
 * Rows classify would not send to the network (no valid pixels, non-finite features) are left out.
 */
export async function readNetworkInputs(path: string, spec: ModelSpec, limit: number): Promise<NetworkInputs> {
  const arch = spec.architecture;
  const pre = spec.preprocess;
  const L = arch.inputLength;
  const F = arch.featureCount;
  const mean = pre.featureMean ?? new Array<number>(F).fill(0);
  const std = pre.featureStd ?? new Array<number>(F).fill(1);
  const flux = new Float32Array(limit * L);
  const features = F > 0 ? new Float32Array(limit * F) : undefined;
  let rows = 0;
  const source = await openSpectra(path, { batchSize: 1024, resampleGrid: spec.grid });
  try {
    for await (const batch of source.batches()) {
      const prepared = await preprocess(networkInput(batch), { normalisation: pre.normalisation, bin: pre.bin, smoothWindow: pre.smoothWindow, features: F > 0 });
      const names = prepared.featureNames;
      const picks = pre.features.map((name) => {
        const at = names.indexOf(name);
        if (at < 0) throw new AstrospecError('MODEL', `the model wants feature '${name}', which preprocessing doesn't compute`);
        return at;
      });
      for (let i = 0; i < prepared.rows && rows < limit; i++) {
        if (prepared.flags[i]! & 1) continue;
        let finite = true;
        for (let f = 0; f < F; f++) {
          const z = standardisedFeature(prepared.features![i * names.length + picks[f]!]!, mean[f]!, std[f]!);
          if (!Number.isFinite(z)) finite = false;
          features![rows * F + f] = z;
        }
        if (!finite) continue;
        flux.set(prepared.flux.subarray(i * L, (i + 1) * L), rows * L);
        rows++;
      }
      if (rows >= limit) break;
    }
  } finally {
    await source.close();
  }
  if (rows === 0) throw new AstrospecError('BAD_INPUT', 'no usable calibration spectra (every row lacks valid pixels)', { file: path });
  return { rows, flux: flux.subarray(0, rows * L), features: features?.subarray(0, rows * F) };
}

/**
 * Runs the float model with every tensor to quantise as an output over the calibration inputs,
 * in batches, and collects their ranges.
 */
export async function collectRanges(model: Uint8Array, spec: ModelSpec, inputs: NetworkInputs, options: QuantizeOptions & { method?: CalibrationMethod; percentile?: number; threads?: number; batchSize?: number } = {}): Promise<RangeCollector> {
  const ort = await import('onnxruntime-node');
  const proto = decodeModel(model);
  const names = tensorsToCalibrate(proto, options);
  const collector = new RangeCollector(options.method ?? 'minmax', options.percentile);
  const session = await ort.InferenceSession.create(calibrationGraph(proto, names), {
    intraOpNumThreads: options.threads ?? 0,
    // The basic level only folds constants; fusions would hide the tensors asked for.
    graphOptimizationLevel: 'basic',
  });
  try {
    const L = spec.architecture.inputLength;
    const F = spec.architecture.featureCount;
    const B = options.batchSize ?? 64;
    const wanted = names.filter((n) => session.outputNames.includes(n));
    for (let at = 0; at < inputs.rows; at += B) {
      const rows = Math.min(B, inputs.rows - at);
      const feeds: Record<string, ortType.Tensor> = { [ONNX_NAMES.flux]: new ort.Tensor('float32', inputs.flux.slice(at * L, (at + rows) * L), [rows, 1, L]) };
      if (F > 0 && session.inputNames.includes(ONNX_NAMES.features)) feeds[ONNX_NAMES.features] = new ort.Tensor('float32', inputs.features!.slice(at * F, (at + rows) * F), [rows, F]);
      const out = await session.run(feeds);
      for (const n of wanted) collector.add(n, out[n]!.data as Float32Array);
      // Graph inputs are not outputs of the session; their ranges come from the feeds.
      for (const n of names) if (!wanted.includes(n) && feeds[n]) collector.add(n, feeds[n].data as Float32Array);
    }
  } finally {
    await session.release();
  }
  return collector;
}

export interface Int8Result {
  bytes: Uint8Array;
  spec: ModelSpec;
  info: QuantizationInfo;
}

/** Quantises an exported fp32 astrospec model (bytes) with the calibration spectra of `options`. */
export async function quantizeOnnxModel(fp32: Uint8Array, options: Int8ExportOptions, file?: string): Promise<Int8Result> {
  const spec = onnxModelSpec(fp32, file);
  const limit = options.calibrationRows ?? 4096;
  check(Number.isInteger(limit) && limit >= 1, `--calibration-rows must be a positive integer, got ${limit}`);
  const format = options.format ?? 'qoperator';
  check(format === 'qoperator' || format === 'qdq', `--quant-format must be qoperator or qdq, got ${String(format)}`);
  const activations = options.activations ?? 'uint8';
  check(activations === 'uint8' || activations === 'int8', `--activations must be uint8 or int8, got ${String(activations)}`);
  const method = options.method ?? DEFAULT_CALIBRATION.method;
  check(method === 'minmax' || method === 'percentile' || method === 'mse', `--calibration-method must be percentile, minmax or mse, got ${String(method)}`);
  const ops = [...(options.ops ?? DEFAULT_QUANTIZED_OPS)];
  let existing = decodeModel(fp32);
  if (existing.graph.node.some((n) => n.op_type === 'QLinearConv' || n.op_type === 'QuantizeLinear')) {
    throw new AstrospecError('MODEL', 'this model is already quantised; quantise the fp32 model', { file });
  }
  const unknown = (options.keepFloat ?? []).filter((name) => !existing.graph.node.some((n) => n.name === name));
  if (unknown.length > 0) throw new AstrospecError('BAD_ARGUMENT', `--keep-float: the model has no node ${unknown.join(', ')}`, { file });
  const quantizeOptions: QuantizeOptions = { format, activations, perChannel: options.perChannel ?? true, ops, exclude: options.keepFloat };
  const folded = options.foldBatch === false ? undefined : foldBatchIntoRows(existing);
  if (folded) existing = folded;
  const inputs = await readNetworkInputs(options.calibration, spec, limit);
  const ranges = await collectRanges(folded ? encodeModel(folded) : fp32, spec, inputs, { ...quantizeOptions, method, percentile: options.percentile ?? DEFAULT_CALIBRATION.percentile, threads: options.threads });
  const { model, report } = quantizeGraph(existing, (name) => ranges.range(name), quantizeOptions);
  const info: QuantizationInfo = {
    format,
    activations,
    weights: 'int8',
    perChannel: options.perChannel ?? true,
    ops,
    calibration: { method, percentile: method === 'percentile' ? ranges.percentile : undefined, rows: inputs.rows },
    keepFloat: options.keepFloat && options.keepFloat.length > 0 ? [...options.keepFloat] : undefined,
    foldedBatch: folded !== undefined,
    report,
  };
  return { bytes: encodeQuantized(model, info), spec, info };
}

/**
 * The fp32 ONNX bytes of `source`: an exported .onnx file as it is, or a trained run directory
 * exported on the fly.
 */
export async function fp32ModelBytes(source: string, exportOptions: OnnxExportOptions = {}): Promise<Uint8Array> {
  const info = await stat(source).catch((error: Error) => {
    throw new AstrospecError('IO', error.message, { file: source }, { cause: error });
  });
  if (info.isFile()) return readFile(source);
  return (await onnxBytesFromRun(source, exportOptions)).bytes;
}

/** Writes the int8 form of `source` (an .onnx file or a run directory) to `output`, atomically. */
export async function exportInt8(source: string, output: string, options: Int8ExportOptions): Promise<Int8Result & { output: string }> {
  const fp32 = await fp32ModelBytes(source);
  const result = await quantizeOnnxModel(fp32, options, source);
  await writeFileAtomic(output, result.bytes);
  return { ...result, output };
}
