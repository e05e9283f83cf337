/**
 * The two statistics that set the red-end calibration humps and cosmic-ray spikes of the
 * synthetic instrument (LAMOST_CALIBRATION.redEnd / .spikes in ./instrument.ts), measured the
 * same way on real spectra (scripts/calibrate-synth.ts) and on synthetic ones (tests).
 * Both take one spectrum on a grid of constant step; zeros are missing pixels.
 */
import type { WavelengthGrid } from '../io/batch.js';

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  values.sort((a, b) => a - b);
  const m = values.length >> 1;
  return values.length % 2 ? values[m]! : 0.5 * (values[m - 1]! + values[m]!);
}

function windowMedian(flux: Float32Array, grid: WavelengthGrid, lo: number, hi: number): number {
  const i0 = Math.max(0, Math.round((lo - grid.start) / grid.step));
  const i1 = Math.min(flux.length, Math.round((hi - grid.start) / grid.step));
  const v: number[] = [];
  for (let i = i0; i < i1; i++) if (flux[i] !== 0) v.push(flux[i]!);
  return median(v);
}

/** Red-end windows (Å): two sides and the centre, where the calibration residuals show. */
export const RED_END_WINDOWS = { left: [8330, 8450], centre: [8560, 8760], right: [8860, 8960] } as const;

/**
 * Median flux in 8560–8760 Å over the straight line between the medians of 8330–8450 and
 * 8860–8960 Å, minus 1 (NaN where a window is empty). Real stars: 10 % beyond ±0.05.
 */
export function redEndStatistic(flux: Float32Array, grid: WavelengthGrid): number {
  const { left, centre, right } = RED_END_WINDOWS;
  const mid = (w: readonly number[]) => (w[0]! + w[1]!) / 2;
  const a = windowMedian(flux, grid, left[0], left[1]);
  const c = windowMedian(flux, grid, centre[0], centre[1]);
  const d = windowMedian(flux, grid, right[0], right[1]);
  const line = a + ((d - a) * (mid(centre) - mid(left))) / (mid(right) - mid(left));
  return c / line - 1;
}

/**
 * Pixels ≥ 10 σ and ≥ 1.5× above the median of their 9-pixel neighbourhood, σ from the median
 * absolute first difference (robust to the spectrum's own shape).
 */
export function countSpikes(flux: Float32Array): number {
  const n = flux.length;
  const diffs: number[] = [];
  for (let i = 1; i < n; i++) if (flux[i] !== 0 && flux[i - 1] !== 0) diffs.push(Math.abs(flux[i]! - flux[i - 1]!));
  const sigma = median(diffs) / 0.954; // median |x − y| of two N(0, σ) = 0.954 σ
  let spikes = 0;
  const window: number[] = new Array(9);
  for (let i = 4; i < n - 4; i++) {
    for (let k = 0; k < 9; k++) window[k] = flux[i - 4 + k]!;
    const m = median(window);
    if (flux[i]! - m > 10 * sigma && flux[i]! > 1.5 * Math.abs(m)) spikes++;
  }
  return spikes;
}
