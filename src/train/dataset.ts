/**
 * Training data in memory: the spectra are streamed from their source, preprocessed batch by
 * batch (normalised, smoothed, binned), and only the network inputs are kept, in one
 * Float32Array of rows × inputLength (50 000 spectra at bin 4 = 650 floats each ≈ 130 MB),
 * plus labels and the optional side features. The raw fluxes are never held whole.
 *
 * Also here: the seeded stratified train/validation split, the per-epoch order with
 * oversampling of the rare classes, and the class weights.
 */
import { AstrospecError } from '../errors.js';
import type { SpectrumBatch, WavelengthGrid } from '../io/batch.js';
import { CLASS_NAMES } from '../io/batch.js';
import type { Normalisation } from '../model/spec.js';

export interface PreprocessSettings {
  normalisation: Normalisation;
  bin: number;
  smoothWindow: number;
  /** Feature columns for the side input (empty: none). */
  features: string[];
}

/** What preprocessing one batch yields (the shape of src/preprocess's result). */
export interface PreprocessedBatch {
  rows: number;
  /** Pixels per row after binning. */
  length: number;
  flux: Float32Array;
  features?: Float32Array;
  featureNames: readonly string[];
}

export type Preprocessor = (batch: SpectrumBatch, settings: PreprocessSettings) => PreprocessedBatch | Promise<PreprocessedBatch>;

/** Adds Gaussian noise in place to the rows where rowMask is 1, at signal-to-noise `snr`. */
export type NoiseAugmenter = (flux: Float32Array, rows: number, length: number, options: { snr: number; seed: number; rowMask: Uint8Array }) => void;

export interface SpectraStream {
  path?: string;
  batches(): AsyncIterable<SpectrumBatch>;
}

export interface LabelledSet {
  rows: number;
  inputLength: number;
  /** rows × inputLength network inputs. */
  inputs: Float32Array;
  /** rows × featureCount raw (unstandardised) side features, when requested. */
  features?: Float32Array;
  featureNames: string[];
  labels: Int8Array;
  grid: WavelengthGrid;
}

/** Reads every batch of `source`, preprocesses it, and keeps the inputs and labels. */
export async function collectLabelledSet(
  source: SpectraStream,
  settings: PreprocessSettings,
  preprocess: Preprocessor,
  onBatch?: (rows: number) => void,
): Promise<LabelledSet> {
  let inputs = new Float32Array(0);
  let features: Float32Array | undefined;
  let labels = new Int8Array(0);
  let rows = 0;
  let inputLength = -1;
  let featureNames: string[] = [];
  let grid: WavelengthGrid | undefined;
  const grow = <T extends Float32Array | Int8Array>(a: T, need: number, make: (n: number) => T): T => {
    if (a.length >= need) return a;
    const b = make(Math.max(need, Math.ceil(a.length * 1.5)));
    b.set(a);
    return b;
  };
  for await (const batch of source.batches()) {
    const n = batch.ids.length;
    if (n === 0) continue;
    if (!batch.labels) throw new AstrospecError('BAD_INPUT', 'training data must carry star/galaxy/qso labels', { file: source.path });
    for (let i = 0; i < n; i++) {
      const label = batch.labels[i]!;
      if (label < 0 || label >= CLASS_NAMES.length) {
        throw new AstrospecError('BAD_INPUT', `spectrum ${batch.ids[i]} has no label (every training row needs star, galaxy or qso)`, {
          file: source.path,
          row: batch.firstRow + i + 1,
          column: 'label',
        });
      }
    }
    grid ??= batch.grid;
    const p = await preprocess(batch, settings);
    if (p.rows !== n) throw new AstrospecError('NATIVE', `preprocessing returned ${p.rows} rows for a batch of ${n}`);
    if (inputLength < 0) {
      inputLength = p.length;
      featureNames = settings.features.length > 0 ? [...p.featureNames] : [];
    } else if (p.length !== inputLength) {
      throw new AstrospecError('BAD_INPUT', `batch at row ${batch.firstRow + 1} preprocesses to ${p.length} pixels, earlier ones to ${inputLength}`, { file: source.path });
    }
    inputs = grow(inputs, (rows + n) * inputLength, (k) => new Float32Array(k));
    inputs.set(p.flux.subarray(0, n * inputLength), rows * inputLength);
    if (settings.features.length > 0) {
      if (!p.features) throw new AstrospecError('NATIVE', 'preprocessing returned no features although features were requested');
      const k = featureNames.length;
      features = grow(features ?? new Float32Array(0), (rows + n) * k, (m) => new Float32Array(m));
      features.set(p.features.subarray(0, n * k), rows * k);
    }
    labels = grow(labels, rows + n, (k) => new Int8Array(k));
    labels.set(batch.labels.subarray(0, n), rows);
    rows += n;
    onBatch?.(n);
  }
  if (rows === 0 || !grid) throw new AstrospecError('BAD_INPUT', 'no spectra to train on', { file: source.path });
  return {
    rows,
    inputLength,
    inputs: inputs.subarray(0, rows * inputLength),
    features: features?.subarray(0, rows * featureNames.length),
    featureNames,
    labels: labels.subarray(0, rows),
    grid,
  };
}

/** Rows `indices` of a set, as a new set (used for the validation split). */
export function subset(set: LabelledSet, indices: Int32Array): LabelledSet {
  const L = set.inputLength;
  const k = set.featureNames.length;
  const inputs = new Float32Array(indices.length * L);
  const labels = new Int8Array(indices.length);
  const features = set.features ? new Float32Array(indices.length * k) : undefined;
  indices.forEach((row, i) => {
    inputs.set(set.inputs.subarray(row * L, (row + 1) * L), i * L);
    labels[i] = set.labels[row]!;
    if (features && set.features) features.set(set.features.subarray(row * k, (row + 1) * k), i * k);
  });
  return { ...set, rows: indices.length, inputs, labels, features };
}

/** Mulberry32: a small seeded generator, so splits and epoch orders are reproducible. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }
  get seedState(): number {
    return this.state;
  }
}

export function classCounts(labels: Int8Array, classCount = CLASS_NAMES.length): number[] {
  const counts = new Array<number>(classCount).fill(0);
  for (const l of labels) counts[l]!++;
  return counts;
}

/**
 * Seeded stratified split: each class contributes round(fraction × its rows) to validation
 * (at least one row when it has two or more), so rare classes are represented in both parts.
 */
export function stratifiedSplit(labels: Int8Array, fraction: number, seed: number): { train: Int32Array; validation: Int32Array } {
  const random = new Random(seed);
  const byClass = new Map<number, number[]>();
  labels.forEach((l, i) => {
    const list = byClass.get(l) ?? [];
    list.push(i);
    byClass.set(l, list);
  });
  const train: number[] = [];
  const validation: number[] = [];
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const rows = random.shuffle(Int32Array.from(byClass.get(label)!));
    let take = Math.round(rows.length * fraction);
    if (fraction > 0 && take === 0 && rows.length >= 2) take = 1;
    validation.push(...rows.subarray(0, take));
    train.push(...rows.subarray(take));
  }
  return { train: Int32Array.from(train).sort(), validation: Int32Array.from(validation).sort() };
}

export type Balance = 'oversample' | 'weights' | 'none';

/** Rare classes are oversampled up to this fraction of the largest class. */
export const OVERSAMPLE_TARGET = 0.35;

export interface EpochOrder {
  /** Row index per position. */
  rows: Int32Array;
  /** 1 where the position is an extra copy of a rare-class row (noise is added to those). */
  copies: Uint8Array;
}

/**
 * The shuffled order of one epoch. With 'oversample', each class with fewer rows than
 * OVERSAMPLE_TARGET × the largest class is topped up with random repeats of its rows, marked
 * as copies so the trainer adds noise to them.
 */
export function epochOrder(trainRows: Int32Array, labels: Int8Array, balance: Balance, random: Random): EpochOrder {
  const rows: number[] = Array.from(trainRows);
  const copies: number[] = new Array<number>(rows.length).fill(0);
  if (balance === 'oversample') {
    const byClass = new Map<number, number[]>();
    for (const r of trainRows) {
      const l = labels[r]!;
      const list = byClass.get(l) ?? [];
      list.push(r);
      byClass.set(l, list);
    }
    const largest = Math.max(...[...byClass.values()].map((l) => l.length));
    const target = Math.ceil(largest * OVERSAMPLE_TARGET);
    for (const list of byClass.values()) {
      for (let extra = target - list.length; extra > 0; extra--) {
        rows.push(list[random.int(list.length)]!);
        copies.push(1);
      }
    }
  }
  const order = random.shuffle(Int32Array.from(rows.keys()));
  return { rows: Int32Array.from(order, (i) => rows[i]!), copies: Uint8Array.from(order, (i) => copies[i]!) };
}

/**
 * Class weights n / (k · n_c), rescaled so the average weight over the training rows is 1
 * (the loss keeps its scale, so the learning rate means the same with and without weights).
 */
export function classWeights(counts: number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  const present = counts.filter((c) => c > 0).length;
  const raw = counts.map((c) => (c > 0 ? total / (present * c) : 0));
  const mean = counts.reduce((s, c, i) => s + c * raw[i]!, 0) / total;
  return raw.map((w) => w / mean);
}

/** Mean and standard deviation per feature over `rows`, ignoring non-finite values. */
export function featureScaling(features: Float32Array, featureCount: number, rows: Int32Array): { mean: number[]; std: number[] } {
  const mean: number[] = [];
  const std: number[] = [];
  for (let f = 0; f < featureCount; f++) {
    let n = 0;
    let sum = 0;
    let sum2 = 0;
    for (const r of rows) {
      const v = features[r * featureCount + f]!;
      if (!Number.isFinite(v)) continue;
      n++;
      sum += v;
      sum2 += v * v;
    }
    const m = n > 0 ? sum / n : 0;
    const variance = n > 1 ? Math.max(sum2 / n - m * m, 0) : 0;
    mean.push(m);
    // A constant feature carries nothing; std 1 keeps it at zero instead of dividing by zero.
    std.push(variance > 0 ? Math.sqrt(variance) : 1);
  }
  return { mean, std };
}

/**
 * Preprocessing in TypeScript, for tests and for sources small enough not to need the native
 * engine: normalisation, then integer binning by averaging (a trailing partial bin is
 * dropped). No smoothing and no features.
 */
export function preprocessInTypeScript(batch: SpectrumBatch, settings: PreprocessSettings): PreprocessedBatch {
  if (settings.smoothWindow > 0 || settings.features.length > 0) {
    throw new AstrospecError('UNSUPPORTED', 'smoothing and features need the native preprocessing engine (src/preprocess)');
  }
  const rows = batch.ids.length;
  const n = batch.grid.length;
  const bin = settings.bin;
  const length = Math.floor(n / bin);
  const flux = new Float32Array(rows * length);
  const row = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < n; i++) {
      const v = batch.flux[r * n + i]!;
      row[i] = Number.isFinite(v) ? v : 0;
    }
    let scale = 1;
    let shift = 0;
    if (settings.normalisation === 'l2') scale = Math.hypot(...row) || 1;
    else if (settings.normalisation === 'sum') scale = row.reduce((a, b) => a + Math.abs(b), 0) || 1;
    else if (settings.normalisation === 'minmax') {
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of row) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      shift = lo;
      scale = hi - lo || 1;
    } else if (settings.normalisation === 'median') {
      const sorted = Float64Array.from(row).sort();
      scale = Math.abs(sorted[Math.floor(n / 2)]!) || 1;
    }
    for (let j = 0; j < length; j++) {
      let s = 0;
      for (let b = 0; b < bin; b++) s += row[j * bin + b]!;
      flux[r * length + j] = (s / bin - shift) / scale;
    }
  }
  return { rows, length, flux, featureNames: [] };
}

/** Gaussian noise at σ = rms(row) / snr on masked rows, in TypeScript (Box–Muller). */
export const augmentNoiseInTypeScript: NoiseAugmenter = (flux, rows, length, { snr, seed, rowMask }) => {
  const random = new Random(seed);
  for (let r = 0; r < rows; r++) {
    if (!rowMask[r]) continue;
    let sum2 = 0;
    for (let i = 0; i < length; i++) sum2 += flux[r * length + i]! ** 2;
    const sigma = Math.sqrt(sum2 / length) / snr;
    for (let i = 0; i < length; i++) {
      const u = Math.max(random.next(), 1e-12);
      flux[r * length + i]! += sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
    }
  }
};
