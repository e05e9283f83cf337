/**
 * Physics shared by the class models: black-body continua, dust laws and the rendering of
 * spectral lines onto a linear wavelength grid. All wavelengths are vacuum Ångström, as in
 * LAMOST spectra (header VACUUM = T).
 */
import type { WavelengthGrid } from '../io/batch.js';

/** Speed of light, km/s. */
export const C_KMS = 299792.458;
/** Second radiation constant hc/k in Å·K (Planck's law exponent). */
const C2_ANGSTROM_K = 1.438777e8;
/** σ = FWHM / (2√(2 ln 2)). */
export const FWHM_TO_SIGMA = 1 / 2.3548200450309493;
const INV_SQRT_2PI = 0.3989422804014327;

/** Planck's law B_λ(T) up to a constant: λ⁻⁵ / (exp(hc/λkT) − 1). Wien: peak at 2.898e7/T Å. */
export function planck(lambda: number, temperature: number): number {
  const l = lambda * 1e-4; // µm, keeps the λ⁻⁵ factor in a comfortable range
  return 1 / (l * l * l * l * l * Math.expm1(C2_ANGSTROM_K / (lambda * temperature)));
}

/** Peak wavelength (Å) of a black body (Wien's displacement law, b = 2.897771955e7 Å·K). */
export function wienPeak(temperature: number): number {
  return 2.897771955e7 / temperature;
}

/**
 * Milky Way extinction A(λ)/E(B−V) = R_V·a(x) + b(x) for R_V = 3.1: Cardelli, Clayton & Mathis
 * (1989, ApJ 345, 245) with the optical/near-IR coefficients of O'Donnell (1994, ApJ 422, 158),
 * x = 1/λ in µm⁻¹. Valid 0.3 ≤ x ≤ 3.3 (3030 Å – 3.3 µm), which covers every observed pixel.
 */
export function odonnellK(lambda: number, rv = 3.1): number {
  const x = 1e4 / lambda;
  let a: number;
  let b: number;
  if (x < 1.1) {
    const p = Math.pow(x, 1.61);
    a = 0.574 * p;
    b = -0.527 * p;
  } else {
    const y = x - 1.82;
    a = 1 + y * (0.104 + y * (-0.609 + y * (0.701 + y * (1.137 + y * (-1.718 + y * (-0.827 + y * (1.647 - 0.505 * y)))))));
    b = y * (1.952 + y * (2.908 + y * (-3.989 + y * (-7.985 + y * (11.102 + y * (5.491 + y * (-10.805 + 3.347 * y)))))));
  }
  return rv * a + b;
}

/**
 * Starburst attenuation k(λ) of Calzetti et al. (2000, ApJ 533, 682), R'_V = 4.05, for the
 * rest frame of a galaxy; stellar continuum E_s(B−V) = 0.44 E_gas(B−V).
 */
export function calzettiK(lambda: number): number {
  const x = 1e4 / lambda; // µm⁻¹
  if (lambda >= 6300) return 2.659 * (-1.857 + 1.04 * x) + 4.05;
  return 2.659 * (-2.156 + 1.509 * x - 0.198 * x * x + 0.011 * x * x * x) + 4.05;
}

/**
 * Adds a Gaussian emission line of integrated flux `area` (flux·Å), centre `center` and
 * standard deviation `sigma` (Å, already including the instrument) to `flux` on `grid`,
 * over ±5σ. Cost O(window).
 */
export function addGaussian(flux: Float64Array, grid: WavelengthGrid, center: number, sigma: number, area: number): void {
  const half = 5 * sigma;
  const i0 = Math.max(0, Math.ceil((center - half - grid.start) / grid.step));
  const i1 = Math.min(grid.length - 1, Math.floor((center + half - grid.start) / grid.step));
  if (i1 < i0) return;
  const peak = (area * INV_SQRT_2PI) / sigma;
  const scale = GAUSS_PER_SIGMA / sigma;
  for (let i = i0; i <= i1; i++) flux[i]! += peak * gaussianAt(Math.abs(grid.start + grid.step * i - center) * scale);
}

/** exp(−u²/2) tabulated for u = 0 … 6 in steps of 1/512 (linear interpolation error < 1e-6). */
const GAUSS_PER_SIGMA = 512;
const GAUSS_TABLE = (() => {
  const t = new Float64Array(6 * GAUSS_PER_SIGMA + 2);
  for (let k = 0; k < t.length; k++) {
    const u = k / GAUSS_PER_SIGMA;
    t[k] = u <= 6 ? Math.exp(-0.5 * u * u) : 0;
  }
  return t;
})();
const GAUSS_LAST = 6 * GAUSS_PER_SIGMA;

/** exp(−u²/2) for x = |u|·GAUSS_PER_SIGMA ≥ 0, from the table (Math.exp costs ~20 ns in V8). */
function gaussianAt(x: number): number {
  if (x >= GAUSS_LAST) return 0;
  const k = x | 0;
  return GAUSS_TABLE[k]! + (GAUSS_TABLE[k + 1]! - GAUSS_TABLE[k]!) * (x - k);
}

/**
 * Multiplies `transmission` by a Gaussian absorption line of equivalent width `ew` (Å, in the
 * frame of the grid), floored at 0 so saturated lines stay physical.
 */
export function absorbGaussian(transmission: Float64Array, grid: WavelengthGrid, center: number, sigma: number, ew: number): void {
  if (ew <= 0) return;
  const half = 4.5 * sigma;
  const i0 = Math.max(0, Math.ceil((center - half - grid.start) / grid.step));
  const i1 = Math.min(grid.length - 1, Math.floor((center + half - grid.start) / grid.step));
  if (i1 < i0) return;
  const depth = (ew * INV_SQRT_2PI) / sigma;
  const scale = GAUSS_PER_SIGMA / sigma;
  for (let i = i0; i <= i1; i++) {
    const t = 1 - depth * gaussianAt(Math.abs(grid.start + grid.step * i - center) * scale);
    transmission[i]! *= t > 0 ? t : 0;
  }
}

/**
 * A molecular band (TiO, C₂, CN): transmission drops by `depth` at the band head and recovers
 * exponentially over `scale` Å, redward (scale > 0, TiO) or blueward (scale < 0, C₂ Swan bands
 * are degraded to the violet).
 */
export function absorbBand(transmission: Float64Array, grid: WavelengthGrid, head: number, scale: number, depth: number): void {
  if (depth <= 0) return;
  const span = 4 * Math.abs(scale);
  const lo = scale > 0 ? head : head - span;
  const hi = scale > 0 ? head + span : head;
  const i0 = Math.max(0, Math.ceil((lo - grid.start) / grid.step));
  const i1 = Math.min(grid.length - 1, Math.floor((hi - grid.start) / grid.step));
  const inv = 1 / Math.abs(scale);
  for (let i = i0; i <= i1; i++) {
    const d = Math.abs(grid.start + grid.step * i - head);
    transmission[i]! *= 1 - depth * Math.exp(-d * inv);
  }
}

/** Smooth step from 0 (x ≤ a) to 1 (x ≥ b). */
export function smoothstep(x: number, a: number, b: number): number {
  const t = Math.min(1, Math.max(0, (x - a) / (b - a)));
  return t * t * (3 - 2 * t);
}
