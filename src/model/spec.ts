/**
 * Everything needed to reproduce inference from a trained model: saved as `astrospec.json`
 * beside the tfjs model and copied into the ONNX file's metadata_props.
 */
import type { WavelengthGrid } from '../io/batch.js';

export type Normalisation = 'l2' | 'sum' | 'minmax' | 'median' | 'none';

export interface ArchitectureSpec {
  /** Channels of the first stage (64 = the full ResNet18; 16 or 32 for CPUs). */
  width: number;
  /** Pixels the network sees after binning: ceil(grid.length / bin) ... see inputLength(). */
  inputLength: number;
  /** Number of side features concatenated before the head (0 = none). */
  featureCount: number;
  classCount: number;
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

/** Length after integer binning (a trailing partial bin is dropped). */
export function binnedLength(length: number, bin: number): number {
  return Math.floor(length / bin);
}
