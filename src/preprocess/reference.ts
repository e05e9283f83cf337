/**
 * Pure TypeScript reference of every preprocessing function, in double precision: the oracle
 * the native kernels (native/kernels/preprocess*.cpp) are tested against, and the baseline
 * their benchmark is measured against. Written for clarity, not speed.
 *
 * Definitions (the native code follows them exactly, up to float32 rounding):
 *
 * - Valid pixel: finite, |F| ≥ 1.1754944e-38 (the smallest normal float32; zero and
 *   subnormal flux mean "no data"), and not flagged in `badPixels`. Every other pixel is
 *   masked: it never enters a sum, and its output is 0.
 *
 * - Order of the steps: mask → Savitzky–Golay smoothing (optional) → integer binning
 *   (optional) → normalisation. Normalising last means the network input is exactly
 *   unit-L2 / unit-sum / [0, 1] / median-one whatever the binning. Features are computed
 *   from the raw, unbinned flux (the blackbody fit needs the absolute shape).
 *
 * - Smoothing: quadratic Savitzky–Golay over `window` pixels (odd, ≥ 3). Interior pixels use
 *   the centred coefficients; the first and last window/2 pixels are evaluated from the fit
 *   over the first/last full window (scipy.signal.savgol_filter's mode='interp'). Masked
 *   pixels enter as 0 and stay 0.
 *
 * - Binning by b: mean of the unmasked values of each run of b pixels (0 if none); a
 *   trailing partial bin is dropped, so the length is floor(length / b).
 *
 * - Normalisation over the valid values v of the (smoothed, binned) row, output (v − o)/d:
 *   'l2' d = ‖v‖₂ (the competition's top solutions); 'sum' d = |Σv| (Li Xiangru et al.,
 *   Spectroscopy and Spectral Analysis 27(7):1448, 2007: divide by the integrated flux, here
 *   in pixel units); 'minmax' o = min, d = max − min; 'median' d = |median| (continuum
 *   division, numpy's median); 'none' d = 1. If d = 0 or 1/d overflows float32 (or, for
 *   'minmax', the range is below 1e-6 of max(|min|, |max|): a flat row up to float32 rounding)
 *   the row is written as zeros and flagged FLAG_DEGENERATE_SCALE.
 *
 * - Wien fit. In the Wien approximation F(λ) = A·λ⁻⁵·exp(−c₂/(λT)), c₂ = hc/k, so
 *   y = ln F + 5 ln λ = ln A − (c₂/T)·x with x = 1/λ: a straight line. λ is in nm
 *   (λ_nm = λ_Å / 10; the competition grid is λ = 380 + 0.2·i nm), so c₂ = 1.438776877e7 nm·K,
 *   T is in K and `wien_log_amplitude` = ln A for F in the input's units and λ in nm.
 *   Weighted least squares over the valid pixels with F > 0, weights w = F² (with constant
 *   flux noise σ, σ(ln F) = σ/F, so the ln-space weight is F²/σ²; faint pixels, whose log is
 *   noise, barely count). The fit needs ≥ 3 such pixels and a weighted variance of
 *   u = (x − x_mid)·2/(x_blue − x_red) (which spans [−1, 1] over the grid) of at least 1e−4;
 *   otherwise the fit features are NaN and the row gets FLAG_NO_WIEN_FIT. Outputs:
 *   T = −c₂/slope (negative when the flux rises to the red faster than any Wien law),
 *   R² = 1 − Σw·r²/Σw·(y − ȳ_w)², RMS = √(Σw·r²/Σw) in ln-flux units, and the pixel count.
 *   Robust refit: pixels whose flux-space residual F·|r| (≈ |F − model|, the quantity with
 *   the same noise at every pixel under these weights) exceeds 3× its RMS over the fitted
 *   pixels — emission lines, cosmic rays, deep absorption — are dropped once and the line
 *   refitted, if that leaves ≥ 3 pixels; R², RMS and the count then describe the refit over
 *   the kept pixels.
 *
 * - Features: mean and (population) standard deviation of the valid raw flux, then the fit.
 *   A row with no valid pixel gets FLAG_NO_VALID_PIXELS, NaN features (wien_pixels = 0) and
 *   an all-zero output row.
 *
 * - Noise augmentation: per row, σ = mean|F| / (S/N) over the valid pixels, S/N fixed or
 *   drawn uniformly from [lo, hi]; each valid pixel gets σ·N(0, 1) by Box–Muller on two
 *   32-bit hashes (lowbias32) of (seed, row, pixel), so the noise depends only on those,
 *   never on threads or instruction set. Masked pixels are left as they are.
 */
import type { WavelengthGrid } from '../io/batch.js';
import type { Normalisation } from '../model/spec.js';

export const FEATURE_NAMES: readonly string[] = Object.freeze([
  'mean',
  'std',
  'wien_temperature',
  'wien_log_amplitude',
  'wien_r2',
  'wien_rms',
  'wien_pixels',
]);

/** Row flag bits. */
export const FLAG_NO_VALID_PIXELS = 1;
export const FLAG_NO_WIEN_FIT = 2;
export const FLAG_DEGENERATE_SCALE = 4;

/** Second radiation constant hc/k in nm·K (CODATA 2018). */
export const WIEN_C2_NM_K = 1.438776877e7;
export const ROBUST_CLIP_SIGMA = 3;
export const MIN_FIT_VARIANCE = 1e-4;
/** 'minmax' on a row whose range is below this fraction of its magnitude (float32 rounding) is degenerate. */
export const MIN_RELATIVE_RANGE = 1e-6;
/** Savitzky–Golay polynomial order (quadratic). */
export const SAVGOL_ORDER = 2;

const FLT_MIN = 1.1754943508222875e-38;
const FLT_MAX = 3.4028234663852886e38;

/** Finite, at least the smallest normal float32 in magnitude (NaN fails both tests). */
export function isValidFlux(v: number): boolean {
  const a = Math.abs(v);
  return a >= FLT_MIN && a <= FLT_MAX;
}

export interface ReferenceOptions {
  normalisation: Normalisation;
  bin?: number;
  smoothWindow?: number;
  features?: boolean;
  robust?: boolean;
}

export interface WienFit {
  temperature: number;
  logAmplitude: number;
  r2: number;
  rms: number;
  pixels: number;
  ok: boolean;
}

/** The Wien fit of one raw row (see the module comment). */
export function wienFitReference(row: ArrayLike<number>, bad: ArrayLike<number> | undefined, grid: WavelengthGrid, robust: boolean): WienFit {
  const n = row.length;
  const lambda0 = grid.start / 10;
  const lambda1 = (grid.start + grid.step * (n - 1)) / 10;
  const x0 = 1 / lambda0;
  const x1 = 1 / lambda1;
  const xCenter = 0.5 * (x0 + x1);
  const xScale = Math.abs(x0 - x1) > 0 ? 2 / Math.abs(x0 - x1) : 1;
  const u: number[] = [];
  const y: number[] = [];
  const w: number[] = [];
  for (let i = 0; i < n; i++) {
    const f = row[i]!;
    if (!isValidFlux(f) || f <= 0 || (bad !== undefined && bad[i] !== 0)) continue;
    const lambda = (grid.start + grid.step * i) / 10;
    u.push((1 / lambda - xCenter) * xScale);
    y.push(Math.log(f) + 5 * Math.log(lambda));
    w.push(f * f);
  }
  const nan: WienFit = { temperature: NaN, logAmplitude: NaN, r2: NaN, rms: NaN, pixels: u.length, ok: false };
  const all = u.map(() => true);
  const first = weightedLine(u, y, w, all);
  if (!first) return nan;
  let line = first;
  let used = all;
  if (robust) {
    // Flux-space residuals: F·r ≈ ΔF, so w·r² = (F·r)² has the same expectation everywhere.
    const clip = ROBUST_CLIP_SIGMA ** 2 * line.ssRes / u.length;
    const kept = u.map((ui, i) => w[i]! * (y[i]! - (line.a + line.b * ui)) ** 2 <= clip);
    const keptCount = kept.filter(Boolean).length;
    const refit = keptCount < u.length ? weightedLine(u, y, w, kept) : undefined;
    if (refit) {
      line = refit;
      used = kept;
    }
  }
  const slope = line.b * xScale;
  return {
    temperature: -WIEN_C2_NM_K / slope,
    logAmplitude: line.a - slope * xCenter,
    r2: line.r2,
    rms: line.rms,
    pixels: used.filter(Boolean).length,
    ok: true,
  };
}

interface Line {
  a: number;
  b: number;
  r2: number;
  rms: number;
  ssRes: number;
}

/** Weighted least squares y = a + b·u over the selected points (two-pass, centred). */
function weightedLine(u: number[], y: number[], w: number[], use: boolean[]): Line | undefined {
  let s0 = 0;
  let su = 0;
  let sy = 0;
  let count = 0;
  for (let i = 0; i < u.length; i++) {
    if (!use[i]) continue;
    s0 += w[i]!;
    su += w[i]! * u[i]!;
    sy += w[i]! * y[i]!;
    count++;
  }
  if (count < 3 || !(s0 > 0)) return undefined;
  const mu = su / s0;
  const my = sy / s0;
  let cuu = 0;
  let cuy = 0;
  let cyy = 0;
  for (let i = 0; i < u.length; i++) {
    if (!use[i]) continue;
    const du = u[i]! - mu;
    const dy = y[i]! - my;
    cuu += w[i]! * du * du;
    cuy += w[i]! * du * dy;
    cyy += w[i]! * dy * dy;
  }
  if (!(cuu / s0 >= MIN_FIT_VARIANCE)) return undefined;
  const b = cuy / cuu;
  const a = my - b * mu;
  let ssRes = 0;
  for (let i = 0; i < u.length; i++) {
    if (!use[i]) continue;
    const r = y[i]! - (a + b * u[i]!);
    ssRes += w[i]! * r * r;
  }
  return { a, b, r2: cyy > 0 ? 1 - ssRes / cyy : 1, rms: Math.sqrt(ssRes / s0), ssRes };
}

/** Savitzky–Golay coefficients of a quadratic fit over `window` points, evaluated at `target`. */
export function savgolCoefficients(window: number, target: number): Float64Array {
  const d = SAVGOL_ORDER + 1;
  const m: number[][] = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (let k = 0; k < window; k++) {
    const p = k - target;
    for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) m[r]![c]! += p ** (r + c);
  }
  // Solve (VᵀV)·a = e₀ by Gauss–Jordan elimination.
  const a = [1, 0, 0];
  for (let col = 0; col < d; col++) {
    let pivot = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    for (let r = 0; r < d; r++) {
      if (r === col) continue;
      const f = m[r]![col]! / m[col]![col]!;
      for (let c = 0; c < d; c++) m[r]![c]! -= f * m[col]![c]!;
      a[r]! -= f * a[col]!;
    }
  }
  for (let k = 0; k < d; k++) a[k]! /= m[k]![k]!;
  const out = new Float64Array(window);
  for (let k = 0; k < window; k++) {
    const p = k - target;
    out[k] = a[0]! + a[1]! * p + a[2]! * p * p;
  }
  return out;
}

/** Savitzky–Golay smoothing of a masked series (0 = masked, stays 0). */
export function smoothReference(series: Float32Array, window: number): Float32Array {
  const n = series.length;
  const half = (window - 1) / 2;
  const out = new Float32Array(n);
  const centre = savgolCoefficients(window, half);
  for (let i = 0; i < n; i++) {
    if (series[i] === 0) continue;
    let start = i - half;
    let c = centre;
    if (i < half) {
      start = 0;
      c = savgolCoefficients(window, i);
    } else if (i >= n - half) {
      start = n - window;
      c = savgolCoefficients(window, i - start);
    }
    let s = 0;
    for (let k = 0; k < window; k++) s += c[k]! * series[start + k]!;
    out[i] = s;
  }
  return out;
}

/** Mean of the valid values of each run of `bin` pixels (0 if none); partial bin dropped. */
export function binReference(series: Float32Array, bin: number): Float32Array {
  const out = new Float32Array(Math.floor(series.length / bin));
  for (let j = 0; j < out.length; j++) {
    let s = 0;
    let count = 0;
    for (let k = 0; k < bin; k++) {
      const v = series[j * bin + k]!;
      if (isValidFlux(v)) {
        s += v;
        count++;
      }
    }
    out[j] = count > 0 ? s / count : 0;
  }
  return out;
}

/** Normalises the valid values of a series in place; returns false (row zeroed) when degenerate. */
export function normaliseReference(series: Float32Array, normalisation: Normalisation): boolean {
  const valid: number[] = [];
  for (const v of series) if (isValidFlux(v)) valid.push(v);
  let offset = 0;
  let d = 1;
  if (valid.length === 0) {
    d = 0;
  } else if (normalisation === 'l2') {
    d = Math.sqrt(valid.reduce((s, v) => s + v * v, 0));
  } else if (normalisation === 'sum') {
    d = Math.abs(valid.reduce((s, v) => s + v, 0));
  } else if (normalisation === 'median') {
    d = Math.abs(median(valid));
  } else if (normalisation === 'minmax') {
    const min = Math.min(...valid);
    offset = min;
    d = Math.max(...valid) - min;
  }
  let ok = d > 0 && 1 / d <= FLT_MAX;
  if (normalisation === 'minmax' && d < MIN_RELATIVE_RANGE * Math.max(Math.abs(offset), Math.abs(offset + d))) ok = false;
  for (let i = 0; i < series.length; i++) {
    const v = series[i]!;
    series[i] = ok && isValidFlux(v) ? (v - offset) / d : 0;
  }
  return ok;
}

function median(values: number[]): number {
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : 0.5 * (sorted[mid - 1]! + sorted[mid]!);
}

export interface ReferenceRow {
  flux: Float32Array;
  features?: Float64Array;
  flag: number;
}

/** The whole chain for one raw row. */
export function preprocessRowReference(
  row: Float32Array,
  bad: Uint8Array | undefined,
  grid: WavelengthGrid,
  options: ReferenceOptions,
): ReferenceRow {
  const n = row.length;
  const bin = options.bin ?? 1;
  const window = options.smoothWindow ?? 0;
  let flag = 0;
  let series: Float32Array = new Float32Array(n);
  let count = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = row[i]!;
    if (isValidFlux(v) && (bad === undefined || bad[i] === 0)) {
      series[i] = v;
      count++;
      sum += v;
    }
  }
  const outLength = Math.floor(n / bin);
  let features: Float64Array | undefined;
  if (options.features ?? true) {
    features = new Float64Array(FEATURE_NAMES.length).fill(NaN);
    features[6] = 0;
  }
  if (count === 0) return { flux: new Float32Array(outLength), features, flag: FLAG_NO_VALID_PIXELS };

  if (features) {
    const mean = sum / count;
    let ss = 0;
    for (const v of series) if (v !== 0) ss += (v - mean) * (v - mean);
    features[0] = mean;
    features[1] = Math.sqrt(ss / count);
    const fit = wienFitReference(row, bad, grid, options.robust ?? false);
    features[2] = fit.temperature;
    features[3] = fit.logAmplitude;
    features[4] = fit.r2;
    features[5] = fit.rms;
    features[6] = fit.pixels;
    if (!fit.ok) flag |= FLAG_NO_WIEN_FIT;
  }
  if (window > 0) series = smoothReference(series, window);
  if (bin > 1) series = binReference(series, bin);
  if (!normaliseReference(series, options.normalisation)) flag |= FLAG_DEGENERATE_SCALE;
  return { flux: series, features, flag };
}

/** A preprocessed batch, from the native chain (./index.ts) or this reference alike. */
export interface PreprocessedBatch {
  rows: number;
  /** Pixels per output row: floor(grid.length / bin). */
  length: number;
  /** rows × length, masked, smoothed, binned, normalised. */
  flux: Float32Array;
  /** rows × FEATURE_NAMES.length, from the raw flux; absent when options.features is false. */
  features?: Float32Array;
  featureNames: readonly string[];
  /** Per row bits: 1 = no usable pixels, 2 = no Wien fit, 4 = degenerate normalisation. */
  flags: Uint8Array;
}

/** The whole chain over a batch (rows × grid.length, row-major). */
export function preprocessReference(
  flux: Float32Array,
  rows: number,
  grid: WavelengthGrid,
  options: ReferenceOptions,
  badPixels?: Uint8Array,
): PreprocessedBatch {
  const n = grid.length;
  const length = Math.floor(n / (options.bin ?? 1));
  const out = new Float32Array(rows * length);
  const withFeatures = options.features ?? true;
  const features = withFeatures ? new Float32Array(rows * FEATURE_NAMES.length) : undefined;
  const flags = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    const res = preprocessRowReference(flux.subarray(r * n, (r + 1) * n), badPixels?.subarray(r * n, (r + 1) * n), grid, options);
    out.set(res.flux, r * length);
    if (features && res.features) features.set(res.features, r * FEATURE_NAMES.length);
    flags[r] = res.flag;
  }
  return { rows, length, flux: out, features, featureNames: FEATURE_NAMES, flags };
}

/** Wellons' lowbias32 integer hash, as in native/kernels/preprocess.h. */
export function lowbias32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

export interface NoiseOptions {
  snr: number | [number, number];
  seed: number;
  rowMask?: Uint8Array;
}

/** Gaussian white noise in place (see the module comment). */
export function augmentNoiseReference(flux: Float32Array, rows: number, length: number, options: NoiseOptions): void {
  const [lo, hi] = typeof options.snr === 'number' ? [options.snr, options.snr] : options.snr;
  for (let r = 0; r < rows; r++) {
    if (options.rowMask && !options.rowMask[r]) continue;
    const row = flux.subarray(r * length, (r + 1) * length);
    let count = 0;
    let absSum = 0;
    for (const v of row) {
      if (isValidFlux(v)) {
        count++;
        absSum += Math.abs(v);
      }
    }
    if (count === 0) continue;
    const key = lowbias32((options.seed + Math.imul(0x9e3779b9, r + 1)) >>> 0);
    const uRow = (lowbias32((key ^ 0x85ebca6b) >>> 0) >>> 8) * 2 ** -24;
    const snr = lo + (hi - lo) * uRow;
    const sigma = absSum / count / snr;
    for (let i = 0; i < length; i++) {
      if (!isValidFlux(row[i]!)) continue;
      const c = (key + 2 * i) >>> 0;
      const u1 = ((lowbias32(c) >>> 9) * 2 + 1) * 2 ** -24;
      const u2 = (lowbias32((c + 1) >>> 0) >>> 8) * 2 ** -24;
      row[i] = row[i]! + sigma * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
  }
}
