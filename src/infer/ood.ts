/**
 * Fitting the out-of-distribution score (src/model/spec.ts OodSpec) on labelled validation
 * spectra: per layer, class means and one shared covariance of its pooled features; each layer's
 * score scaled by its own `quantile` level, and a threshold at the same quantile of the
 * validation spectra's combined scores. docs/ood.md explains the choices.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AstrospecError } from '../errors.js';
import { featureOutputName, withFeatureOutputs, withOodScore } from '../export/ood-graph.js';
import { writeFileAtomic } from '../io/partial-files.js';
import type { OodSpec } from '../model/spec.js';
import { classifyFile } from './classify.js';
import { STATUS_OK } from './predictions.js';

/** Default share of validation spectra below the threshold (docs/ood.md). */
export const DEFAULT_OOD_QUANTILE = 0.999;
/**
 * Ridge added to the covariance, relative to its mean variance: ReLU features that are (almost)
 * never active on the validation set have no variance, and Σ would not be invertible.
 */
export const COVARIANCE_RIDGE = 1e-3;

export type OodStatistics = NonNullable<OodSpec['statistics']>[number];

/**
 * Class means and shared (pooled within-class) covariance of `features` (rows × D), and the
 * whitening that turns the Mahalanobis distance into a Euclidean one. Classes without rows are
 * left out (their mean would be undefined).
 */
export function fitOodStatistics(features: Float32Array, labels: ArrayLike<number>, dimension: number, classCount: number, ridge = COVARIANCE_RIDGE): OodStatistics {
  const D = dimension;
  const n = labels.length;
  if (features.length !== n * D) throw new RangeError(`features hold ${features.length} values, expected ${n}×${D}`);
  const sums = new Float64Array(classCount * D);
  const counts = new Float64Array(classCount);
  for (let i = 0; i < n; i++) {
    const k = labels[i]!;
    counts[k]!++;
    for (let j = 0; j < D; j++) sums[k * D + j]! += features[i * D + j]!;
  }
  const classes = [...counts.keys()].filter((k) => counts[k]! > 0);
  const means = new Float64Array(classCount * D);
  for (const k of classes) for (let j = 0; j < D; j++) means[k * D + j] = sums[k * D + j]! / counts[k]!;
  // Shared covariance: Σ = (1/n) Σ_i (f_i − μ_{y_i})(f_i − μ_{y_i})ᵀ.
  const cov = new Float64Array(D * D);
  const r = new Float64Array(D);
  for (let i = 0; i < n; i++) {
    const k = labels[i]!;
    for (let j = 0; j < D; j++) r[j] = features[i * D + j]! - means[k * D + j]!;
    for (let a = 0; a < D; a++) {
      const ra = r[a]!;
      if (ra === 0) continue;
      for (let b = a; b < D; b++) cov[a * D + b]! += ra * r[b]!;
    }
  }
  let trace = 0;
  for (let a = 0; a < D; a++) {
    for (let b = a; b < D; b++) {
      cov[a * D + b]! /= n;
      cov[b * D + a] = cov[a * D + b]!;
    }
    trace += cov[a * D + a]!;
  }
  const lift = ridge * (trace / D > 0 ? trace / D : 1);
  for (let a = 0; a < D; a++) cov[a * D + a]! += lift;
  const L = cholesky(cov, D);
  const Linv = lowerInverse(L, D);
  // z = (f − c)·W with W = L⁻ᵀ, so ‖z‖² = (f − c)ᵀ Σ⁻¹ (f − c); c = the mean of all rows.
  const whitening = new Float64Array(D * D);
  for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) whitening[i * D + j] = Linv[j * D + i]!;
  const center = new Float64Array(D);
  for (const k of classes) for (let j = 0; j < D; j++) center[j]! += (sums[k * D + j]! / n);
  const project = (v: Float64Array): number[] => {
    const out = new Array<number>(D).fill(0);
    for (let i = 0; i < D; i++) {
      const vi = v[i]!;
      if (vi === 0) continue;
      for (let j = 0; j < D; j++) out[j]! += vi * whitening[i * D + j]!;
    }
    return out;
  };
  const bias = project(center).map((v) => -v);
  const classMeans: number[] = [];
  for (const k of classes) {
    const d = new Float64Array(D);
    for (let j = 0; j < D; j++) d[j] = means[k * D + j]! - center[j]!;
    classMeans.push(...project(d));
  }
  return { whitening: Array.from(whitening), bias, classMeans };
}

function cholesky(a: Float64Array, D: number): Float64Array {
  const L = new Float64Array(D * D);
  for (let i = 0; i < D; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * D + j]!;
      for (let k = 0; k < j; k++) s -= L[i * D + k]! * L[j * D + k]!;
      if (i === j) {
        if (!(s > 0)) throw new AstrospecError('BAD_INPUT', 'the features\' covariance is not positive definite (too few validation spectra?)');
        L[i * D + i] = Math.sqrt(s);
      } else {
        L[i * D + j] = s / L[j * D + j]!;
      }
    }
  }
  return L;
}

function lowerInverse(L: Float64Array, D: number): Float64Array {
  const inv = new Float64Array(D * D);
  for (let c = 0; c < D; c++) {
    // Forward substitution for column c of L⁻¹.
    for (let i = c; i < D; i++) {
      let s = i === c ? 1 : 0;
      for (let k = c; k < i; k++) s -= L[i * D + k]! * inv[k * D + c]!;
      inv[i * D + c] = s / L[i * D + i]!;
    }
  }
  return inv;
}

/** The score of each row of `features` (rows × D), in double precision: the reference the ONNX nodes are tested against. */
export function oodScores(features: Float32Array, stats: OodStatistics, dimension: number): Float64Array {
  const D = dimension;
  const K = stats.classMeans.length / D;
  const n = features.length / D;
  const out = new Float64Array(n);
  const z = new Float64Array(D);
  for (let i = 0; i < n; i++) {
    z.set(stats.bias);
    for (let a = 0; a < D; a++) {
      const f = features[i * D + a]!;
      if (f === 0) continue;
      for (let j = 0; j < D; j++) z[j]! += f * stats.whitening[a * D + j]!;
    }
    let best = Number.POSITIVE_INFINITY;
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let j = 0; j < D; j++) s += (z[j]! - stats.classMeans[k * D + j]!) ** 2;
      best = Math.min(best, s);
    }
    out[i] = Math.sqrt(best / D);
  }
  return out;
}

/** The q-quantile of `values` (linear interpolation between order statistics). */
export function quantile(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return Number.NaN;
  const x = q * (sorted.length - 1);
  const i = Math.floor(x);
  return i + 1 < sorted.length ? sorted[i]! + (sorted[i + 1]! - sorted[i]!) * (x - i) : sorted[i]!;
}

/** Default layers: the first stage (what the spectrum looks like locally: lines, noise) and the head's input. docs/ood.md. */
export const DEFAULT_OOD_LAYERS: readonly string[] = ['stage1', 'head'];

export interface LayerFeatures {
  /** Per layer: D, and rows × D pooled features of the rows whose status is ok, in input order. */
  layers: { name: string; dimension: number; features: Float32Array }[];
  /** Class index of each of those rows (−1 where unknown). */
  labels: Int8Array;
  /** Input row of each. */
  rows: number[];
}

export interface FeatureOptions {
  labels?: string;
  signal?: AbortSignal;
  /** Layers (OodSpec.layers names); default DEFAULT_OOD_LAYERS. */
  layers?: readonly string[];
}

/** Runs `onnx` (bytes of an exported model) over `data` and returns the pooled features of each layer for every classified row. */
export async function layerFeatures(onnx: Uint8Array, data: string | string[], options: FeatureOptions = {}): Promise<LayerFeatures> {
  const names = options.layers ?? DEFAULT_OOD_LAYERS;
  if (names.length === 0 || new Set(names).size !== names.length) throw new AstrospecError('BAD_ARGUMENT', `OOD layers must be distinct and at least one, got [${names.join(', ')}]`);
  const { bytes, dimensions } = withFeatureOutputs(onnx, names);
  const work = await mkdtemp(join(tmpdir(), 'astrospec-ood-'));
  try {
    const model = join(work, 'features.onnx');
    await writeFileAtomic(model, bytes);
    const chunks: Float32Array[][] = names.map(() => []);
    const rows: number[] = [];
    const result = await classifyFile(data, {
      model,
      output: join(work, 'predictions.csv'),
      keepLabels: true,
      labels: options.labels,
      signal: options.signal,
      onBatch: (batch) => {
        names.forEach((name, l) => {
          const f = batch.extras[featureOutputName(name)]!;
          const D = dimensions[l]!;
          for (let i = 0; i < batch.rows; i++) if (batch.status[i] === STATUS_OK) chunks[l]!.push(f.slice(i * D, (i + 1) * D));
        });
        for (let i = 0; i < batch.rows; i++) if (batch.status[i] === STATUS_OK) rows.push(batch.firstRow + i);
      },
    });
    const layers = names.map((name, l) => {
      const D = dimensions[l]!;
      const features = new Float32Array(rows.length * D);
      chunks[l]!.forEach((c, i) => features.set(c, i * D));
      return { name, dimension: D, features };
    });
    const labels = new Int8Array(rows.length).fill(-1);
    if (result.truth) rows.forEach((r, i) => (labels[i] = result.truth!.labels[r - result.firstRow]!));
    return { layers, labels, rows };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The combined score max_l s_l / scale_l of each row, from per-layer reference scores. */
export function combineLayerScores(perLayer: Float64Array[], scales: number[]): Float64Array {
  const out = new Float64Array(perLayer[0]!.length);
  perLayer.forEach((s, l) => {
    for (let i = 0; i < out.length; i++) out[i] = Math.max(out[i]!, s[i]! / scales[l]!);
  });
  return out;
}

export interface FitOodOptions extends FeatureOptions {
  /** Share of validation spectra to keep below the threshold (default DEFAULT_OOD_QUANTILE). */
  quantile?: number;
  ridge?: number;
}

/** Fits the OOD statistics and threshold of an exported model (its bytes) on labelled validation spectra. */
export async function fitOod(onnx: Uint8Array, data: string | string[], classCount: number, options: FitOodOptions = {}): Promise<OodSpec> {
  const q = options.quantile ?? DEFAULT_OOD_QUANTILE;
  if (!(q > 0 && q <= 1)) throw new AstrospecError('BAD_ARGUMENT', `--quantile must be in (0, 1], got ${q}`);
  const fitted = await layerFeatures(onnx, data, options);
  const keep: number[] = [];
  fitted.labels.forEach((k, i) => {
    if (k >= 0 && k < classCount) keep.push(i);
  });
  const widest = Math.max(...fitted.layers.map((l) => l.dimension));
  const needed = Math.max(50, 2 * widest);
  if (keep.length < needed) {
    throw new AstrospecError('BAD_INPUT', `only ${keep.length} labelled, classifiable spectra; the OOD statistics of ${widest} features need at least ${needed}`, { file: String(data) });
  }
  const y = Int8Array.from(keep, (r) => fitted.labels[r]!);
  const statistics: OodStatistics[] = [];
  const perLayer: Float64Array[] = [];
  const layers = fitted.layers.map((layer) => {
    const D = layer.dimension;
    const x = new Float32Array(keep.length * D);
    keep.forEach((r, i) => x.set(layer.features.subarray(r * D, (r + 1) * D), i * D));
    const stats = fitOodStatistics(x, y, D, classCount, options.ridge);
    const scores = oodScores(x, stats, D);
    statistics.push(stats);
    perLayer.push(scores);
    return { name: layer.name, dimension: D, scale: quantile(scores, q) };
  });
  const combined = combineLayerScores(perLayer, layers.map((l) => l.scale));
  return {
    method: 'mahalanobis',
    layers,
    threshold: quantile(combined, q),
    quantile: q,
    data: Array.isArray(data) ? data.join(',') : data,
    rows: keep.length,
    validationScores: { q50: quantile(combined, 0.5), q90: quantile(combined, 0.9), q99: quantile(combined, 0.99), q999: quantile(combined, 0.999), max: quantile(combined, 1) },
    statistics,
  };
}

/** `astrospec ood`: fits the score on validation spectra and writes the model with it (the statistics in the graph, the threshold in the metadata). */
export async function addOodToOnnx(model: string, output: string, data: string | string[], options: FitOodOptions = {}): Promise<OodSpec> {
  const bytes = await readFile(model).catch((error: Error) => {
    throw new AstrospecError('IO', error.message, { file: model }, { cause: error });
  });
  const { onnxModelSpec } = await import('../export/onnx.js');
  const spec = onnxModelSpec(bytes, model);
  const ood = await fitOod(bytes, data, spec.classNames.length, options);
  await writeFileAtomic(output, withOodScore(bytes, ood));
  return ood;
}
