/**
 * From a batch of spectra to the network's input tensors and back to per-row predictions, for the
 * page. This is src/infer/classify.ts's per-batch work with the native preprocessing replaced by
 * its pure-TS definition (src/preprocess/reference.ts preprocessReference, which the native
 * kernels are tested against), so the page and `astrospec classify` feed the model the same
 * numbers up to float32 rounding:
 * - the model input follows src/io/batch.ts networkInput(): flux values only, bad-pixel flags dropped;
 * - normalisation, binning, smoothing and side features come from the model's own spec;
 * - features are standardised with the spec's mean and std; a row with no valid pixel is
 *   `no_valid_pixels`, one with a non-finite feature `non_finite_features`, one whose output is not
 *   finite `non_finite_output` (their probabilities are not reported), and one whose ood_score is
 *   above the model's threshold `ood` (its class and probabilities are reported), as in the CLI;
 * - a model with a redshift head gives z and z_err (src/infer/redshift.ts) for rows predicted
 *   galaxy or QSO, none for stars, as in the CLI.
 */
import { AstrospecError } from '../../src/errors.js';
import { argmax3, CLASS_NAMES, networkInput, sameGrid, type SpectrumBatch, type WavelengthGrid } from '../../src/io/batch.js';
import { modelInputs, standardisedFeature, type ModelSpec } from '../../src/model/spec.js';
import { preprocessReference } from '../../src/preprocess/reference.js';
import { redshiftColumns as decodeRedshiftColumns } from '../../src/infer/redshift.js';

export const STATUS_OK = 'ok';
export const STATUS = { noValidPixels: 'no_valid_pixels', nonFiniteFeatures: 'non_finite_features', nonFiniteOutput: 'non_finite_output', outOfDistribution: 'ood' } as const;
export const OOD_OUTPUT = 'ood_score';

/** Whether a row has a class and probabilities: 'ok', or 'ood' (classified, but unlike the validation spectra). */
export function hasPrediction(status: string | undefined): boolean {
  return status === STATUS_OK || status === STATUS.outOfDistribution;
}

/**
 * Marks the classified rows whose ood_score is above the model's threshold (or not finite) `ood`,
 * as classifyFile does; a model without an OOD threshold marks nothing.
 */
export function flagOutOfDistribution(plan: ModelPlan, scores: Float32Array | undefined, status: string[]): void {
  const threshold = plan.spec.ood?.threshold;
  if (threshold === undefined) return;
  if (!scores) throw new AstrospecError('MODEL', `the model's spec has an OOD threshold but the graph has no '${OOD_OUTPUT}' output`);
  for (let i = 0; i < status.length; i++) if (status[i] === STATUS_OK && !(scores[i]! <= threshold)) status[i] = STATUS.outOfDistribution;
}

/** What the page needs from a model's spec, checked once (the same checks as classifyFile). */
export interface ModelPlan {
  spec: ModelSpec;
  inputLength: number;
  featureCount: number;
  /** Column (in CLASS_NAMES order) of each of the model's classes. */
  classColumns: number[];
  /** Index into the preprocessing features of each side feature the model takes, and its mean/std. */
  featurePicks: number[];
  featureMean: number[];
  featureStd: number[];
}

export function planModel(spec: ModelSpec, file = 'model'): ModelPlan {
  const arch = spec.architecture;
  const pre = spec.preprocess;
  const { classColumns: order, featureCount, featureMean: mean, featureStd: std } = modelInputs(spec, file);
  const names = preprocessReference(new Float32Array(spec.grid.length), 1, spec.grid, { normalisation: pre.normalisation, features: true }).featureNames;
  const featurePicks = pre.features.map((name) => {
    const at = names.indexOf(name);
    if (at < 0) throw new AstrospecError('MODEL', `the model wants feature '${name}', which preprocessing doesn't compute (it gives ${names.join(', ')})`, { file });
    return at;
  });
  return { spec, inputLength: arch.inputLength, featureCount, classColumns: order, featurePicks, featureMean: mean, featureStd: std };
}

function describeGrid(grid: WavelengthGrid): string {
  return `${grid.length} pixels, λ = ${grid.start} + ${grid.step}·i Å`;
}

/** Fails when a tabular file's grid is not the model's (FITS spectra are resampled onto it instead). */
export function checkGrid(plan: ModelPlan, grid: WavelengthGrid, file: string): void {
  if (!sameGrid(grid, plan.spec.grid)) {
    throw new AstrospecError('MODEL', `the model expects spectra of ${describeGrid(plan.spec.grid)}, but the input has ${describeGrid(grid)}`, { file });
  }
}

export interface ModelInput {
  rows: number;
  /** rows × inputLength, then zeros up to the buffer's end. */
  flux: Float32Array;
  /** rows × featureCount standardised features (featureCount > 0 only). */
  features?: Float32Array;
  status: string[];
}

/**
 * Preprocesses `batch` into `flux` (and `features`), which may be longer than the batch (a fixed
 * inference batch shape: the rest is zeroed).
 */
export function prepareModelInput(plan: ModelPlan, batch: SpectrumBatch, flux?: Float32Array, features?: Float32Array): ModelInput {
  const pre = plan.spec.preprocess;
  const input = networkInput(batch);
  const rows = input.ids.length;
  const L = plan.inputLength;
  const F = plan.featureCount;
  const prepared = preprocessReference(input.flux.subarray(0, rows * input.grid.length), rows, input.grid, {
    normalisation: pre.normalisation,
    bin: pre.bin,
    smoothWindow: pre.smoothWindow,
    features: F > 0,
  });
  const out = flux ?? new Float32Array(rows * L);
  out.set(prepared.flux);
  out.fill(0, rows * L);
  const status = new Array<string>(rows);
  for (let i = 0; i < rows; i++) status[i] = prepared.flags[i]! & 1 ? STATUS.noValidPixels : STATUS_OK;
  let featureOut: Float32Array | undefined;
  if (F > 0) {
    featureOut = features ?? new Float32Array(rows * F);
    featureOut.fill(0);
    const all = prepared.featureNames.length;
    for (let i = 0; i < rows; i++) {
      for (let f = 0; f < F; f++) {
        const z = standardisedFeature(prepared.features![i * all + plan.featurePicks[f]!]!, plan.featureMean[f]!, plan.featureStd[f]!);
        if (Number.isFinite(z)) featureOut[i * F + f] = z;
        else if (status[i] === STATUS_OK) status[i] = STATUS.nonFiniteFeatures;
      }
    }
  }
  return { rows, flux: out, features: featureOut, status };
}

/**
 * The model's probabilities for `rows` rows, reordered into CLASS_NAMES columns (star, galaxy,
 * qso); rows whose status is not ok keep NaN, and a non-finite output marks the row.
 */
export function collectProbabilities(plan: ModelPlan, output: Float32Array, status: string[]): Float32Array {
  const rows = status.length;
  const C = plan.classColumns.length;
  const p = new Float32Array(3 * rows).fill(Number.NaN);
  for (let i = 0; i < rows; i++) {
    if (status[i] !== STATUS_OK) continue;
    let finite = true;
    for (let k = 0; k < C; k++) {
      const v = output[i * C + k]!;
      p[i * 3 + plan.classColumns[k]!] = v;
      if (!Number.isFinite(v)) finite = false;
    }
    if (!finite) {
      status[i] = STATUS.nonFiniteOutput;
      p.fill(Number.NaN, i * 3, i * 3 + 3);
    }
  }
  return p;
}

/**
 * z and z_err of each row from the redshift head's bins (rows × bins), NaN for rows predicted star
 * and rows without a prediction; `probabilities` in CLASS_NAMES order (collectProbabilities).
 */
export function redshiftColumns(plan: ModelPlan, bins: Float32Array, probabilities: Float32Array, status: string[]): { z: Float32Array; z_err: Float32Array } {
  const head = plan.spec.architecture.redshift;
  if (!head) throw new AstrospecError('MODEL', 'the model has no redshift head');
  const { z, zErr } = decodeRedshiftColumns(head, bins, probabilities, status.length, (i) => hasPrediction(status[i]));
  return { z, z_err: zErr };
}

/** The predicted class of a row (argmax with the CLI's tie order), or '' when it has no probabilities. */
export function predictedClass(p: Float32Array, row: number): string {
  const a = p[row * 3]!, b = p[row * 3 + 1]!, c = p[row * 3 + 2]!;
  if (Number.isNaN(a) || Number.isNaN(b) || Number.isNaN(c)) return '';
  return CLASS_NAMES[argmax3(p, row * 3)]!;
}
