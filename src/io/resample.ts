/**
 * Resampling an observed spectrum (LAMOST: log-linear pixels of Δlog10λ = 1e-4, i.e. 0.85–2.1 Å)
 * onto a linear target grid.
 *
 * The convention is the one the competition files follow, checked pixel by pixel against
 * ../shared/data/peer-files (the same stars): linear interpolation between the *good* source
 * pixels (ivar > 0), exactly numpy's `np.interp(grid, λ[good], flux[good], left=0, right=0)`.
 * So an interior run of bad pixels is bridged by a straight line, and target pixels outside the
 * good range are 0. Both kinds are flagged in `badPixels`, so downstream code can tell measured
 * flux from bridged or missing flux.
 */
import type { WavelengthGrid } from './batch.js';

export interface ObservedSpectrum {
  /** Source wavelengths (Å), strictly increasing. */
  wavelength: Float64Array;
  flux: Float64Array;
  /** Inverse variance; pixels with ivar ≤ 0 or non-finite flux are bad. */
  ivar: Float64Array;
}

/**
 * Writes the resampled flux into `flux[0 … grid.length)` and the bad-pixel flags into
 * `bad[0 … grid.length)`. Returns the number of flagged target pixels.
 */
export function resampleLinear(source: ObservedSpectrum, grid: WavelengthGrid, flux: Float32Array, bad: Uint8Array): number {
  const { wavelength, ivar } = source;
  const n = wavelength.length;
  // Compact the good pixels; `gap[k]` marks that bad source pixels lie between good k−1 and k.
  const goodW = new Float64Array(n);
  const goodF = new Float64Array(n);
  const gapBefore = new Uint8Array(n);
  let m = 0;
  let skipped = false;
  for (let i = 0; i < n; i++) {
    const f = source.flux[i]!;
    if (ivar[i]! > 0 && Number.isFinite(f) && Number.isFinite(wavelength[i]!)) {
      goodW[m] = wavelength[i]!;
      goodF[m] = f;
      gapBefore[m] = skipped && m > 0 ? 1 : 0;
      skipped = false;
      m++;
    } else skipped = true;
  }
  let flagged = 0;
  let j = 0; // goodW[j] ≤ x < goodW[j+1]
  for (let t = 0; t < grid.length; t++) {
    const x = grid.start + grid.step * t;
    if (m === 0 || x < goodW[0]! || x > goodW[m - 1]!) {
      flux[t] = 0;
      bad[t] = 1;
      flagged++;
      continue;
    }
    while (j + 1 < m && goodW[j + 1]! <= x) j++;
    if (j + 1 >= m || x === goodW[j]) {
      // On a good source pixel (numpy returns fp[j] exactly there).
      flux[t] = goodF[j]!;
      bad[t] = 0;
      continue;
    }
    // numpy's formula, in float64, so the float32 result matches the competition files bit for bit.
    const slope = (goodF[j + 1]! - goodF[j]!) / (goodW[j + 1]! - goodW[j]!);
    flux[t] = slope * (x - goodW[j]!) + goodF[j]!;
    const bridged = gapBefore[j + 1] === 1;
    bad[t] = bridged ? 1 : 0;
    if (bridged) flagged++;
  }
  return flagged;
}

/** λ_i = 10^(coeff0 + coeff1·i), the LAMOST log-linear dispersion (COEFF0/COEFF1 header cards). */
export function logLinearWavelengths(coeff0: number, coeff1: number, length: number): Float64Array {
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = 10 ** (coeff0 + coeff1 * i);
  return out;
}
