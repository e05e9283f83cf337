/**
 * The scratch space a class model draws one spectrum into, and the statistical metal-line
 * forest shared by stars and galaxies.
 */
import type { WavelengthGrid } from '../io/batch.js';
import { addGaussian, C_KMS } from './physics.js';
import type { Instrument } from './instrument.js';
import type { Random } from './random.js';

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
 * A forest of weak metal absorption lines (Fe I, Ti I, Cr I, … blends), drawn afresh for every
 * spectrum: positions with a density rising to the blue as λ⁻³ (the way line blanketing does in
 * late-type stars), log-normal equivalent widths, each line broadened by `sigmaKms` and the
 * instrument. It gives G/K/M stars and old galaxies the rough, line-rich look of real spectra at
 * R ≈ 1800 without a line list; the total is ~5 % absorption per 100 Å at 4500 Å for strength 1
 * (a solar-type star). A new draw per spectrum matters: one fixed pattern shared by every star
 * and galaxy would be a feature a network could learn instead of the physics.
 */
const FOREST_LINES = 2500;
const FOREST_LO = 2400;
const FOREST_HI = 9400;

/** trans ·= max(0, 1 − strength · forest), for a forest at redshift z drawn from `rng`. Uses c.work as scratch. */
export function applyLineForest(c: Canvas, rng: Random, strength: number, z: number, sigmaKms: number): void {
  if (strength <= 0) return;
  const lo = Math.max(FOREST_LO, c.lambda[0]! / (1 + z) - 20);
  const hi = Math.min(FOREST_HI, c.lambda[c.lambda.length - 1]! / (1 + z) + 20);
  if (hi <= lo) return;
  // Inverse-CDF draw of λ with density ∝ λ⁻³, restricted to the rest range the grid sees;
  // the number of lines there is Poisson with the full forest's expected share.
  const a = FOREST_LO ** -2;
  const b = FOREST_HI ** -2;
  const u0 = (lo ** -2 - a) / (b - a);
  const u1 = (hi ** -2 - a) / (b - a);
  const count = rng.poisson(FOREST_LINES * (u1 - u0));
  const depth = c.work;
  depth.fill(0);
  for (let k = 0; k < count; k++) {
    const rest = (a + (b - a) * (u0 + (u1 - u0) * rng.uniform())) ** -0.5;
    const ew = 0.12 * Math.exp(0.7 * rng.normal()) * (1 + z);
    addGaussian(depth, c.grid, rest * (1 + z), observedSigma(c, rest, z, sigmaKms), ew);
  }
  for (let i = 0; i < depth.length; i++) {
    const t = 1 - strength * depth[i]!;
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
