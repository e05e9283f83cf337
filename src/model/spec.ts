/**
 * Everything needed to reproduce inference from a trained model: saved as `astrospec.json`
 * beside the tfjs model and copied into the ONNX file's metadata_props.
 */
import { AstrospecError } from '../errors.js';
import { CLASS_NAMES, type WavelengthGrid } from '../io/batch.js';

export type Normalisation = 'l2' | 'sum' | 'minmax' | 'median' | 'none';

export interface ArchitectureSpec {
  /** Channels of the first stage (64 = the full ResNet18; 16 or 32 for CPUs). */
  width: number;
  /** Pixels the network sees after binning: ceil(grid.length / bin) ... see inputLength(). */
  inputLength: number;
  /** Number of side features concatenated before the head (0 = none). */
  featureCount: number;
  classCount: number;
  /** The redshift head, when the network has one (absent = classification only). */
  redshift?: RedshiftHeadSpec;
}

/**
 * Redshift as a distribution over `bins` equal bins of u = ln(1 + z) from ln(1 + zMin) to ln(1 + zMax)
 * (z-bin classification as in QuasarNET, Busca & Balland 2018, with finer bins): a softmax
 * output `z_probabilities` [N, bins] beside the class probabilities. It reads the last two
 * stages flattened, not the average pool, because a redshift is a position along the spectrum
 * and pooling discards position. Trained on galaxies and QSOs only; a star's z output means
 * nothing (src/infer/redshift.ts turns the distribution into z and z_err).
 */
export interface RedshiftHeadSpec {
  bins: number;
  /** Slightly below 0, so that z = 0 is not at the edge, where a soft target is cut in half. */
  zMin: number;
  zMax: number;
  /** Units of the hidden dense layer between the flattened stages and the bins. */
  hidden: number;
}

export interface PreprocessSpec {
  normalisation: Normalisation;
  /** Integer binning factor applied to the flux before the network (1 = none). */
  bin: number;
  /** Savitzky–Golay window (0 = no smoothing). */
  smoothWindow: number;
  /** Names of the feature columns fed to the side input, in order (empty = none). */
  features: string[];
  /** Standardisation of the side features (z = (x − mean) / std), fitted on the training set. */
  featureMean?: number[];
  featureStd?: number[];
}

export interface ModelSpec {
  format: 'astrospec-model';
  version: 1;
  classNames: string[];
  /** Grid the input spectra must be on before binning. */
  grid: WavelengthGrid;
  architecture: ArchitectureSpec;
  preprocess: PreprocessSpec;
  /** Free-form provenance: data, seed, epochs, scores. */
  training?: Record<string, unknown>;
  /** Temperature scaling fitted after training (`astrospec calibrate`); the exporter divides the logits by it. */
  calibration?: CalibrationSpec;
  /** Out-of-distribution score and threshold fitted on validation spectra (`astrospec calibrate` or `astrospec ood`). */
  ood?: OodSpec;
}

/**
 * Class-conditional Mahalanobis distance with a shared covariance (Lee et al. 2018, "A simple
 * unified framework for detecting out-of-distribution samples and adversarial attacks",
 * NeurIPS), in the average-pooled features of one or more layers. Per layer l with D_l features
 * f: s_l = √(min_k (f − μ_k)ᵀ Σ⁻¹ (f − μ_k) / D_l) / scale_l, the RMS whitened distance to the
 * nearest class mean in units of its `quantile` level on the validation spectra; the score is
 * max_l s_l, and a spectrum whose score exceeds `threshold` gets status `ood`. docs/ood.md.
 */
export interface OodSpec {
  method: 'mahalanobis';
  /**
   * 'stage1' … 'stage4': the average-pooled output of that ResNet stage; 'head': the features
   * the classification head reads (the last stage pooled, plus any side features).
   */
  layers: { name: string; dimension: number; scale: number }[];
  threshold: number;
  /** Fraction of the validation spectra at or below the threshold (how it was chosen); also each layer's scale. */
  quantile: number;
  /** Validation spectra the statistics were fitted on, and how many. */
  data: string;
  rows: number;
  /** Score quantiles on those spectra, for reference. */
  validationScores: { q50: number; q90: number; q99: number; q999: number; max: number };
  /**
   * The fitted statistics per layer (in a model directory's spec; an exported ONNX file holds
   * them as initializers of its ood_score nodes instead): z = f·W + b whitens the features, W is
   * D × D row-major, classMeans the whitened class means (classes × D, row-major).
   */
  statistics?: { whitening: number[]; bias: number[]; classMeans: number[] }[];
}

export interface CalibrationSpec {
  temperature: number;
  /** The labelled spectra it was fitted on, and how many. */
  data: string;
  rows: number;
  /** Mean NLL and expected calibration error (15 bins) on those spectra, before and after. */
  nllBefore: number;
  nllAfter: number;
  eceBefore: number;
  eceAfter: number;
}

/**
 * A side feature as the network takes it: (value − mean) / std, rounded to float32. Not finite
 * when it can't be represented, e.g. 1e39, which is finite as a double and would reach the
 * network as Inf; callers then mark the row.
 */
export function standardisedFeature(value: number, mean: number, std: number): number {
  return Math.fround((value - mean) / std);
}

/** Length after integer binning (a trailing partial bin is dropped). */
export function binnedLength(length: number, bin: number): number {
  return Math.floor(length / bin);
}

/** What a classifier takes from a model's spec (the CLI's classify and the browser page alike). */
export interface ModelInputs {
  /** Output column of each of the model's classes in CLASS_NAMES order (star, galaxy, qso). */
  classColumns: number[];
  featureCount: number;
  /** Per side feature; 0 and 1 when the spec stores none. */
  featureMean: number[];
  featureStd: number[];
}

/** The spec's classes, side features and input length, checked against each other. */
export function modelInputs(spec: ModelSpec, file: string): ModelInputs {
  const arch = spec.architecture;
  const order = spec.classNames.map((name) => (CLASS_NAMES as readonly string[]).indexOf(name.toLowerCase()));
  if (order.length !== CLASS_NAMES.length || order.some((k) => k < 0) || new Set(order).size !== order.length) {
    throw new AstrospecError('MODEL', `the model's classes are [${spec.classNames.join(', ')}]; predictions need exactly star, galaxy and qso`, { file });
  }
  const pre = spec.preprocess;
  const featureCount = arch.featureCount;
  const mean = pre.featureMean ?? new Array<number>(featureCount).fill(0);
  const std = pre.featureStd ?? new Array<number>(featureCount).fill(1);
  if (pre.features.length !== featureCount || mean.length !== featureCount || std.length !== featureCount) {
    throw new AstrospecError('MODEL', `the model takes ${featureCount} side features but its spec lists ${pre.features.length} names, ${mean.length} means, ${std.length} stds`, { file });
  }
  if (binnedLength(spec.grid.length, pre.bin) !== arch.inputLength) {
    throw new AstrospecError('MODEL', `spec grid of ${spec.grid.length} pixels binned by ${pre.bin} is not the network's ${arch.inputLength}`, { file });
  }
  return { classColumns: order, featureCount, featureMean: mean, featureStd: std };
}
