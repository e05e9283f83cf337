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
import { CLASS_NAMES, networkInput } from '../io/batch.js';
import type { Normalisation } from '../model/spec.js';
import { augmentNoiseReference, preprocessReference, type PreprocessedBatch } from '../preprocess/reference.js';
import { Random } from '../synth/random.js';

/** Stream of the seeded generator used for the train/validation split (epoch e uses stream e). */
const SPLIT_STREAM = 0x5917;

export interface PreprocessSettings {
  normalisation: Normalisation;
  bin: number;
  smoothWindow: number;
  /** Feature columns for the side input (empty: none). */
  features: string[];
}


export type Preprocessor = (batch: SpectrumBatch, settings: PreprocessSettings) => PreprocessedBatch | Promise<PreprocessedBatch>;

/**
 * Adds Gaussian noise in place to the rows where rowMask is 1: σ = mean|F| / S/N over the valid
 * pixels, S/N drawn per row from [lo, hi] (src/preprocess: augmentNoise, or its reference).
 */
export type NoiseAugmenter = (flux: Float32Array, rows: number, length: number, options: { snr: [number, number]; seed: number; rowMask: Uint8Array }) => void;

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
  /** Known redshift per row (NaN where the source has none), when the source has a `redshift` column. */
  redshift?: Float32Array;
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
  let redshift: Float32Array | undefined;
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
    const p = await preprocess(networkInput(batch), settings);
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
    const z = batch.extra?.redshift;
    if (z || redshift) {
      redshift = grow(redshift ?? new Float32Array(rows).fill(NaN), rows + n, (k) => new Float32Array(k).fill(NaN));
      if (z) redshift.set(z.subarray(0, n), rows);
      else redshift.fill(NaN, rows, rows + n);
    }
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
    redshift: redshift?.subarray(0, rows),
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
  const redshift = set.redshift ? Float32Array.from(indices, (row) => set.redshift![row]!) : undefined;
  indices.forEach((row, i) => {
    inputs.set(set.inputs.subarray(row * L, (row + 1) * L), i * L);
    labels[i] = set.labels[row]!;
    if (features && set.features) features.set(set.features.subarray(row * k, (row + 1) * k), i * k);
  });
  return { ...set, rows: indices.length, inputs, labels, features, redshift };
}

/** Fisher–Yates shuffle in place with the project's seeded generator. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(a: T, random: Random): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
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
  const random = new Random(seed, SPLIT_STREAM);
  const byClass = new Map<number, number[]>();
  labels.forEach((l, i) => {
    const list = byClass.get(l) ?? [];
    list.push(i);
    byClass.set(l, list);
  });
  const train: number[] = [];
  const validation: number[] = [];
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const rows = shuffleInPlace(Int32Array.from(byClass.get(label)!), random);
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
  /**
   * 1 where the trainer adds noise to the row. Drawn with the same probability for every row,
   * whatever its class and whether it is an oversampled repeat: noise that only rare classes
   * get would teach the network "extra noise = not a star".
   */
  augment: Uint8Array;
}

/**
 * The shuffled order of one epoch. With 'oversample', each class with fewer rows than
 * OVERSAMPLE_TARGET × the largest class is topped up with random repeats of its rows.
 */
export function epochOrder(trainRows: Int32Array, labels: Int8Array, balance: Balance, random: Random, augmentFraction = 0): EpochOrder {
  const rows: number[] = Array.from(trainRows);
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
      for (let extra = target - list.length; extra > 0; extra--) rows.push(list[random.int(list.length)]!);
    }
  }
  const order = shuffleInPlace(Int32Array.from(rows.keys()), random);
  const augment = Uint8Array.from(order, () => (random.uniform() < augmentFraction ? 1 : 0));
  return { rows: Int32Array.from(order, (i) => rows[i]!), augment };
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
 * Preprocessing by the pure-TS reference (src/preprocess/reference.ts), for tests and for
 * machines without the addon: the same definitions as the native engine, one implementation.
 */
export function preprocessInTypeScript(batch: SpectrumBatch, settings: PreprocessSettings): PreprocessedBatch {
  const withFeatures = settings.features.length > 0;
  const p = preprocessReference(batch.flux, batch.ids.length, batch.grid, {
    normalisation: settings.normalisation,
    bin: settings.bin,
    smoothWindow: settings.smoothWindow,
    features: withFeatures,
  });
  return { ...p, featureNames: withFeatures ? p.featureNames : [] };
}

/** Noise augmentation by the pure-TS reference (same definition of σ as the native kernel). */
export const augmentNoiseInTypeScript: NoiseAugmenter = (flux, rows, length, options) => augmentNoiseReference(flux, rows, length, options);
