/**
 * Redshift bins ↔ redshifts, for the network's redshift head (RedshiftHeadSpec): the training
 * target for a known z, and z with its uncertainty from the predicted distribution. Shared by
 * the trainer, classify, evaluation and the browser page, so all read the bins the same way.
 */
import { argmax3, CLASS_NAMES } from '../io/batch.js';
import type { RedshiftHeadSpec } from '../model/spec.js';

/** The head used by `astrospec train` unless told otherwise: u = ln(1 + z) in 180 bins of 0.0101 from z = −0.03 to 5. */
export const DEFAULT_REDSHIFT_HEAD: RedshiftHeadSpec = { bins: 180, zMin: -0.03, zMax: 5, hidden: 128 };

/** Width of one bin in u = ln(1 + z). */
export function binWidth(head: RedshiftHeadSpec): number {
  return (Math.log1p(head.zMax) - Math.log1p(head.zMin)) / head.bins;
}

/** u = ln(1 + z) at the centre of bin k. */
export function binCentre(head: RedshiftHeadSpec, k: number): number {
  return Math.log1p(head.zMin) + (k + 0.5) * binWidth(head);
}

/**
 * The training target for redshift z: a Gaussian of one bin's σ around u = ln(1 + z), normalised
 * to sum 1, written into out[offset … offset + bins). A soft target rewards a near miss more than
 * a far one, and lets the decoder below interpolate between bins. Returns false (and writes
 * zeros) when z is unknown or outside the bins.
 */
export function redshiftTarget(head: RedshiftHeadSpec, z: number, out: Float32Array, offset = 0): boolean {
  const { bins } = head;
  const w = binWidth(head);
  const u = Math.log1p(z) - Math.log1p(head.zMin);
  out.fill(0, offset, offset + bins);
  if (!Number.isFinite(u) || u < 0 || u > bins * w) return false;
  const centre = u / w - 0.5; // position in bin units
  const first = Math.max(0, Math.floor(centre - 4));
  const last = Math.min(bins - 1, Math.ceil(centre + 4));
  let sum = 0;
  for (let k = first; k <= last; k++) {
    const v = Math.exp(-0.5 * (k - centre) ** 2);
    out[offset + k] = v;
    sum += v;
  }
  for (let k = first; k <= last; k++) out[offset + k] = out[offset + k]! / sum;
  return true;
}

/** Bins either side of the peak that the estimate averages over. */
const PEAK_HALF_WIDTH = 3;

export interface RedshiftEstimate {
  z: Float32Array;
  /**
   * (1 + z) × the root-mean-square distance in u of the whole predicted distribution from the
   * estimate (with the bin width's own ±w/√12): large when probability sits at other redshifts,
   * e.g. when one emission line could be either of two.
   */
  zErr: Float32Array;
}

/**
 * z and z_err per row from `probabilities` (rows × bins): the probability-weighted mean of u
 * over the most probable bin and its PEAK_HALF_WIDTH neighbours either side. Rows for which
 * `decode(row)` is false are skipped and get NaN.
 */
export function decodeRedshift(head: RedshiftHeadSpec, probabilities: Float32Array, rows: number, decode: (row: number) => boolean = () => true): RedshiftEstimate {
  const { bins } = head;
  const w = binWidth(head);
  const z = new Float32Array(rows).fill(NaN);
  const zErr = new Float32Array(rows).fill(NaN);
  for (let r = 0; r < rows; r++) {
    if (!decode(r)) continue;
    const at = r * bins;
    let peak = 0;
    for (let k = 1; k < bins; k++) if (probabilities[at + k]! > probabilities[at + peak]!) peak = k;
    let mass = 0;
    let moment = 0;
    for (let k = Math.max(0, peak - PEAK_HALF_WIDTH); k <= Math.min(bins - 1, peak + PEAK_HALF_WIDTH); k++) {
      mass += probabilities[at + k]!;
      moment += probabilities[at + k]! * (k + 0.5);
    }
    if (!(mass > 0)) continue;
    const position = moment / mass; // in bins
    let spread = 0;
    let total = 0;
    for (let k = 0; k < bins; k++) {
      spread += probabilities[at + k]! * (k + 0.5 - position) ** 2;
      total += probabilities[at + k]!;
    }
    const u = Math.log1p(head.zMin) + position * w;
    z[r] = Math.expm1(u);
    zErr[r] = Math.exp(u) * w * Math.sqrt(spread / total + 1 / 12);
  }
  return { z, zErr };
}

/**
 * The z and z_err columns of a predictions file (the CLI's and the browser page's): decoded for
 * rows that have a prediction (`hasPrediction(row)`) of a class other than star, NaN (an empty
 * cell) for every other row, which is not decoded at all. The head learnt galaxies and QSOs only,
 * so a star's redshift output means nothing. `classProbabilities`: 3 per row, CLASS_NAMES order.
 */
export function redshiftColumns(
  head: RedshiftHeadSpec, zProbabilities: Float32Array, classProbabilities: Float32Array, rows: number, hasPrediction: (row: number) => boolean,
): RedshiftEstimate {
  const star = CLASS_NAMES.indexOf('star');
  return decodeRedshift(head, zProbabilities.subarray(0, rows * head.bins), rows, (r) => hasPrediction(r) && argmax3(classProbabilities, 3 * r) !== star);
}

/** Is |Δz| < tolerance × (1 + z_true)? The survey convention for a redshift "within" a tolerance. */
export function redshiftWithin(predicted: number, truth: number, tolerance: number): boolean {
  return Math.abs(predicted - truth) < tolerance * (1 + truth);
}
