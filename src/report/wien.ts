/**
 * The Wien-law continuum fitted by preprocessing (features wien_temperature and
 * wien_log_amplitude, see src/preprocess/reference.ts), evaluated on the spectrum's own
 * wavelengths so it can be drawn over the flux:
 *   F(λ) = A·λ⁻⁵·exp(−c₂/(λT)), λ in nm, ln A = wien_log_amplitude.
 */
import { gridWavelengths, type SpectrumBatch, type WavelengthGrid } from '../io/batch.js';
import { FEATURE_NAMES, preprocess, WIEN_C2_NM_K } from '../preprocess/index.js';

export interface WienInput {
  grid: WavelengthGrid;
  flux: Float32Array;
  badPixels?: Uint8Array;
}

export interface WienCurve {
  /** Fitted flux per pixel; undefined when the fit failed (too few positive pixels). */
  curve?: Float32Array;
  temperature?: number;
  logAmplitude?: number;
}

/** Evaluates the Wien law in log space (A·λ⁻⁵ alone over- or underflows for real fluxes). */
export function wienCurve(grid: WavelengthGrid, temperature: number, logAmplitude: number): Float32Array {
  const wavelengths = gridWavelengths(grid);
  const curve = new Float32Array(grid.length);
  for (let i = 0; i < grid.length; i++) {
    const nm = wavelengths[i]! / 10;
    curve[i] = Math.exp(logAmplitude - 5 * Math.log(nm) - WIEN_C2_NM_K / (nm * temperature));
  }
  return curve;
}

/** Fits each spectrum with the preprocessing kernel (no normalisation) and returns its curve. */
export async function fitWienCurves(spectra: WienInput[]): Promise<WienCurve[]> {
  if (spectra.length === 0) return [];
  const temperatureAt = FEATURE_NAMES.indexOf('wien_temperature');
  const amplitudeAt = FEATURE_NAMES.indexOf('wien_log_amplitude');
  const results: WienCurve[] = [];
  // Spectra may come from different grids (several files): fit each on its own.
  for (const s of spectra) {
    const batch: SpectrumBatch = { ids: ['0'], flux: s.flux, grid: s.grid, badPixels: s.badPixels, firstRow: 0 };
    const { features } = await preprocess(batch, { normalisation: 'none', features: true });
    const temperature = features![temperatureAt]!;
    const logAmplitude = features![amplitudeAt]!;
    const ok = Number.isFinite(temperature) && Number.isFinite(logAmplitude) && temperature !== 0;
    results.push(ok ? { curve: wienCurve(s.grid, temperature, logAmplitude), temperature, logAmplitude } : {});
  }
  return results;
}
