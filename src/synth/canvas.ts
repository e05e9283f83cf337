/**
 * The scratch space a class model draws one spectrum into, and the statistical metal-line
 * forest shared by stars and galaxies.
 */
import type { WavelengthGrid } from '../io/batch.js';
import { C_KMS } from './physics.js';
import type { Instrument } from './instrument.js';
import { Random } from './random.js';

export interface Canvas {
  grid: WavelengthGrid;
  inst: Instrument;
  /** Observed wavelengths (Å). */
  lambda: Float64Array;
  /** ln λ per pixel, for sampling rest-frame templates at λ/(1+z). */
  lnLambda: Float64Array;
  /** Continuum; the model's final noiseless flux is written back here. */
  flux: Float64Array;
  /** Multiplicative absorption (1 = none). */
  trans: Float64Array;
  /** Additive emission. */
  emis: Float64Array;
  /** Scratch for the instrument. */
  work: Float64Array;
}

/** What a class model reports about the spectrum it drew. */
export interface Rendered {
  redshift: number;
  subclass: string;
  /** Milky Way E(B−V) in front of the object. */
  ebv: number;
}

export function createCanvas(inst: Instrument): Canvas {
  const n = inst.grid.length;
  const lnLambda = new Float64Array(n);
  for (let i = 0; i < n; i++) lnLambda[i] = Math.log(inst.lambda[i]!);
  return {
    grid: inst.grid,
    inst,
    lambda: inst.lambda,
    lnLambda,
    flux: new Float64Array(n),
    trans: new Float64Array(n),
    emis: new Float64Array(n),
    work: new Float64Array(n),
  };
}

export function resetCanvas(c: Canvas): void {
  c.trans.fill(1);
  c.emis.fill(0);
}

/** flux ← flux · trans + emis. */
export function composeCanvas(c: Canvas): void {
  const { flux, trans, emis } = c;
  for (let i = 0; i < flux.length; i++) flux[i] = flux[i]! * trans[i]! + emis[i]!;
}

/**
 * A forest of weak metal absorption lines (Fe I, Ti I, Cr I, … blends) as a fractional
 * absorption template on a log-λ grid, rest frame 2400–9400 Å. Line positions and strengths
 * are a fixed random draw whose density rises to the blue as λ⁻³, the way line blanketing does
 * in late-type stars; it gives G/K/M stars and old galaxies the rough, line-rich look of real
 * spectra at R ≈ 1800 without a line list. The total is ~5 % absorption per 100 Å at 4500 Å
 * for strength 1 (a solar-type star).
 */
export interface LineForest {
  lnStart: number;
  /** Step in ln λ (20 km/s). */
  lnStep: number;
  depth: Float32Array;
}

const FOREST_LINES = 2500;
const forests = new Map<number, LineForest>();

/** The forest broadened to a Gaussian velocity σ (km/s); built once per σ. */
export function lineForest(sigmaKms: number): LineForest {
  const cached = forests.get(sigmaKms);
  if (cached) return cached;
  const lnStep = 20 / C_KMS;
  const lnStart = Math.log(2400);
  const length = Math.ceil((Math.log(9400) - lnStart) / lnStep);
  const depth = new Float32Array(length);
  const rng = new Random(0x5eed, 0xf0);
  const sigmaLn = sigmaKms / C_KMS;
  const half = Math.ceil((4 * sigmaLn) / lnStep);
  // Inverse-CDF draw of λ with density ∝ λ⁻³ between 2400 and 9400 Å.
  const a = 2400 ** -2;
  const b = 9400 ** -2;
  for (let k = 0; k < FOREST_LINES; k++) {
    const lambda = (a + (b - a) * rng.uniform()) ** -0.5;
    const ew = 0.12 * Math.exp(0.7 * rng.normal()); // Å
    const x = (Math.log(lambda) - lnStart) / lnStep;
    const sigmaA = sigmaLn * lambda;
    const peak = ew / (sigmaA * Math.sqrt(2 * Math.PI));
    const c = Math.round(x);
    for (let j = Math.max(0, c - half); j <= Math.min(length - 1, c + half); j++) {
      const d = ((j - x) * lnStep) / sigmaLn;
      depth[j]! += peak * Math.exp(-0.5 * d * d);
    }
  }
  const forest = { lnStart, lnStep, depth };
  forests.set(sigmaKms, forest);
  return forest;
}

/** trans ·= max(0, 1 − strength · forest(λ/(1+z))). */
export function applyForest(c: Canvas, forest: LineForest, strength: number, z: number): void {
  if (strength <= 0) return;
  const shift = Math.log1p(z) + forest.lnStart;
  const inv = 1 / forest.lnStep;
  const d = forest.depth;
  const last = d.length - 1;
  for (let i = 0; i < c.trans.length; i++) {
    const x = (c.lnLambda[i]! - shift) * inv;
    if (x < 0 || x >= last) continue;
    const k = x | 0;
    const v = d[k]! + (d[k + 1]! - d[k]!) * (x - k);
    const t = 1 - strength * v;
    c.trans[i]! *= t > 0 ? t : 0;
  }
}

/** Observed-frame σ (Å) of a line at rest λ0 with intrinsic velocity σ (km/s), seen at redshift z. */
export function observedSigma(c: Canvas, restLambda: number, z: number, sigmaKms: number): number {
  const center = restLambda * (1 + z);
  const intrinsic = (center * sigmaKms) / C_KMS;
  const lsf = c.inst.lsfSigma(center);
  return Math.sqrt(intrinsic * intrinsic + lsf * lsf);
}

/** Node spacing (pixels) for smooth functions; 16 Å on the competition grid. */
const SMOOTH_STRIDE = 8;

/**
 * out[i] = f(λ_i) for a function that is smooth on scales of tens of Å (continua, dust,
 * calibration tilt): evaluated every SMOOTH_STRIDE pixels and linearly interpolated between,
 * which keeps the per-spectrum cost far below one transcendental call per pixel. The error of
 * linear interpolation is h²/8·|f''|, < 1e-4 relative for a Planck curve or power law.
 */
export function fillSmooth(out: Float64Array, lambda: Float64Array, f: (lambda: number) => number): void {
  const n = lambda.length;
  if (n === 0) return;
  let i0 = 0;
  let v0 = f(lambda[0]!);
  out[0] = v0;
  while (i0 < n - 1) {
    const i1 = Math.min(n - 1, i0 + SMOOTH_STRIDE);
    const v1 = f(lambda[i1]!);
    const dv = (v1 - v0) / (i1 - i0);
    for (let i = i0 + 1; i < i1; i++) out[i] = v0 + dv * (i - i0);
    out[i1] = v1;
    i0 = i1;
    v0 = v1;
  }
}
