/**
 * The LAMOST low-resolution instrument as the synthetic survey sees it (Cui et al. 2012, RAA 12,
 * 1197; Luo et al. 2015, RAA 15, 1095): two arms joined near 5900 Å, R ≈ 1800, sky-subtracted
 * but telluric-uncorrected spectra, relative flux calibration good to ~10 %, and the
 * competition's resampling onto a 2 Å grid. Numbers marked "measured" come from
 * scripts/calibrate-synth.ts on the 580 real stars in ../shared/data/lamost (docs/synthetic.md).
 */
import type { WavelengthGrid } from '../io/batch.js';
import { fillSmooth } from './canvas.js';
import { odonnellK } from './physics.js';
import type { Random } from './random.js';

/** Vacuum wavelength from air (Ciddor 1996 / Morton 2000 dispersion of standard air). */
export function airToVacuum(air: number): number {
  const s2 = (1e4 / air) ** 2;
  const n = 1 + 8.34254e-5 + 2.406147e-2 / (130 - s2) + 1.5998e-4 / (38.9 - s2);
  return air * n;
}

export interface SkyLine {
  name: string;
  /** Air wavelength (Å) as in night-sky atlases (Osterbrock et al. 1996, PASP 108, 277). */
  air: number;
}

/**
 * Night-sky emission lines that leave extra noise and residuals after sky subtraction: the
 * auroral [O I] lines, Na D (high-pressure sodium lamps near Xinglong), Hg I (mercury lamps) and
 * the strongest OH Meinel lines in the red.
 */
export const SKY_LINES: readonly SkyLine[] = [
  { name: 'Hg 4358', air: 4358.34 },
  { name: 'Hg 5461', air: 5460.74 },
  { name: '[OI] 5577', air: 5577.34 },
  { name: 'Na 5890', air: 5889.95 },
  { name: 'Na 5896', air: 5895.92 },
  { name: '[OI] 6300', air: 6300.3 },
  { name: '[OI] 6364', air: 6363.78 },
  { name: 'OH 6864', air: 6863.96 },
  { name: 'OH 6923', air: 6923.22 },
  { name: 'OH 7276', air: 7276.41 },
  { name: 'OH 7316', air: 7316.28 },
  { name: 'OH 7341', air: 7340.89 },
  { name: 'OH 7369', air: 7369.25 },
  { name: 'OH 7794', air: 7794.11 },
  { name: 'OH 7822', air: 7821.5 },
  { name: 'OH 7914', air: 7913.71 },
  { name: 'OH 7965', air: 7964.65 },
  { name: 'OH 7993', air: 7993.33 },
  { name: 'OH 8345', air: 8344.6 },
  { name: 'OH 8399', air: 8399.17 },
  { name: 'OH 8430', air: 8430.17 },
  { name: 'OH 8465', air: 8465.36 },
  { name: 'OH 8493', air: 8493.39 },
  { name: 'OH 8827', air: 8827.1 },
  { name: 'OH 8886', air: 8885.85 },
  { name: 'OH 8920', air: 8919.63 },
  { name: 'OH 8943', air: 8943.4 },
];

export interface TelluricWindow {
  name: string;
  /** Band measured between lo and hi (vacuum Å); continuum from the two side windows. */
  lo: number;
  hi: number;
  continuum: [number, number, number, number];
  /** Shape: a band head degrading redward over `scale` Å, or a Gaussian of width `scale` at `head`. */
  shape: 'head' | 'gaussian';
  head: number;
  scale: number;
}

/** O₂ B and A bands and the H₂O bands inside the LAMOST range (Stevenson 1994; vacuum wavelengths). */
export const TELLURIC_WINDOWS: readonly TelluricWindow[] = [
  { name: 'O2 B', lo: 6868, hi: 6920, continuum: [6800, 6850, 6935, 6985], shape: 'head', head: 6868, scale: 18 },
  { name: 'O2 A', lo: 7596, hi: 7690, continuum: [7520, 7580, 7705, 7760], shape: 'head', head: 7596, scale: 30 },
  { name: 'H2O 7250', lo: 7165, hi: 7330, continuum: [7060, 7140, 7370, 7430], shape: 'gaussian', head: 7245, scale: 45 },
  { name: 'H2O 8230', lo: 8130, hi: 8330, continuum: [8040, 8110, 8370, 8420], shape: 'gaussian', head: 8230, scale: 55 },
];

/**
 * Measured on the real stars (scripts/calibrate-synth.ts); see docs/synthetic.md for the run.
 */
export const LAMOST_CALIBRATION = {
  /** Header S/N (SNRR) ≈ snrScale × median(F/σ) over 5600–7000 Å on native pixels. */
  snrScale: 0.961,
  /** log10(median r-band flux) = slope·log10(S/N) + intercept, Gaussian scatter in dex. */
  fluxScale: { slope: 1.486, intercept: -0.08, scatterDex: 0.361 },
  /** σ(λ) = σ_r · P(λ) · (F(λ)/F_r)^β (median of the per-bin β). */
  noiseBeta: 0.3,
  /** P(λ) at the centres of 100 Å bins from 3850 Å. */
  noiseProfile: [
    5.34, 4.15, 3.49, 2.99, 2.65, 2.49, 2.3, 2.05, 1.82, 1.67, 1.6, 1.54, 1.5, 1.49, 1.45, 1.43, 1.43, 1.46, 1.61, 1.74,
    1.59, 1.4, 1.1, 1.03, 1.01, 0.95, 0.86, 0.82, 0.77, 0.74, 0.75, 0.72, 0.68, 0.66, 0.69, 0.69, 0.64, 0.62, 0.7, 0.67,
    0.71, 0.7, 0.64, 0.65, 0.67, 0.73, 0.81, 0.74, 0.87, 0.83, 0.85, 0.91,
  ],
  /**
   * Per sky line: σ at the line / σ around it; the median residual at the line in units of σ
   * (negative = over-subtracted sky); the rms of the residual beyond that mean and beyond noise.
   * Na D is measured through the stars' own and interstellar Na D absorption, so only its noise
   * boost is used.
   */
  skyLines: {
    'Hg 4358': { noiseBoost: 1.09, residualMean: 0, residualRms: 0 },
    'Hg 5461': { noiseBoost: 1.06, residualMean: 0.27, residualRms: 0 },
    '[OI] 5577': { noiseBoost: 3.23, residualMean: -0.12, residualRms: 0.29 },
    'Na 5890': { noiseBoost: 1.27, residualMean: 0, residualRms: 0 },
    'Na 5896': { noiseBoost: 1.08, residualMean: 0, residualRms: 0 },
    '[OI] 6300': { noiseBoost: 1.76, residualMean: -1.99, residualRms: 2.44 },
    '[OI] 6364': { noiseBoost: 1.19, residualMean: -0.68, residualRms: 1.14 },
    'OH 6864': { noiseBoost: 1.14, residualMean: 0, residualRms: 1.16 },
    'OH 6923': { noiseBoost: 1.05, residualMean: -0.18, residualRms: 0.59 },
    'OH 7276': { noiseBoost: 1.47, residualMean: -0.56, residualRms: 1.35 },
    'OH 7316': { noiseBoost: 1.29, residualMean: -0.33, residualRms: 0 },
    'OH 7341': { noiseBoost: 1.36, residualMean: 0, residualRms: 0.42 },
    'OH 7369': { noiseBoost: 1.26, residualMean: -0.23, residualRms: 0 },
    'OH 7794': { noiseBoost: 1.41, residualMean: 0.21, residualRms: 0 },
    'OH 7822': { noiseBoost: 1.6, residualMean: 0.08, residualRms: 0 },
    'OH 7914': { noiseBoost: 1.94, residualMean: 0.23, residualRms: 0.36 },
    'OH 7965': { noiseBoost: 1.64, residualMean: 0, residualRms: 0 },
    'OH 7993': { noiseBoost: 1.48, residualMean: 0.14, residualRms: 0.52 },
    'OH 8345': { noiseBoost: 2.41, residualMean: 0, residualRms: 0 },
    'OH 8399': { noiseBoost: 2.06, residualMean: -0.12, residualRms: 0 },
    'OH 8430': { noiseBoost: 2.16, residualMean: 0, residualRms: 0 },
    'OH 8465': { noiseBoost: 2.19, residualMean: -0.53, residualRms: 0.54 },
    'OH 8493': { noiseBoost: 1.36, residualMean: -0.1, residualRms: 0 },
    'OH 8827': { noiseBoost: 3.08, residualMean: -0.33, residualRms: 1.08 },
    'OH 8886': { noiseBoost: 2.17, residualMean: 0, residualRms: 0 },
    'OH 8920': { noiseBoost: 2.69, residualMean: -0.07, residualRms: 0.66 },
    'OH 8943': { noiseBoost: 1.31, residualMean: 0.06, residualRms: 0 },
  } as Record<string, { noiseBoost: number; residualMean: number; residualRms: number }>,
  /**
   * Telluric bands left in the spectra (A–G stars, S/N > 30): median fractional depth over the
   * window and its star-to-star spread. Both are below 1 %: these LAMOST spectra come
   * telluric-corrected, so only the correction's residuals are modelled.
   */
  telluric: {
    'O2 B': { depth: -0.0013, spread: 0.0075 },
    'O2 A': { depth: 0.0037, spread: 0.0068 },
    'H2O 7250': { depth: 0.0021, spread: 0.006 },
    'H2O 8230': { depth: -0.0026, spread: 0.0063 },
  } as Record<string, { depth: number; spread: number }>,
  /**
   * Smooth flux-calibration residuals at the red end, where the sky is brightest and the
   * response falls: a broad hump or dip, multiplicative, in some spectra. Measured on the real
   * stars with a window statistic (median flux in 8560–8760 Å over the straight line between
   * 8330–8450 and 8860–8960 Å, minus 1): DR1 2/50/98 % quantiles −0.013/0.016/0.098, DR10
   * −0.118/−0.013/0.128, 10 % of both beyond ±0.05, against 2 % of synthetic stars without this
   * term. A Gaussian hump (centre, σ, amplitude below) in `fraction` of the spectra restores the
   * real spread (test/synth.test.ts compares the statistic).
   */
  redEnd: { fraction: 0.3, centre: [8300, 9000], sigma: [80, 250], amplitudeSigma: 0.15 },
  /**
   * Cosmic-ray hits and hot pixels that survive the pipeline: 1–3 px spikes. Measured as pixels
   * ≥ 10 σ and ≥ 1.5× above their 9-pixel median: 0.64 (DR1) and 0.90 (DR10) per real star, 17σ
   * median and 27–42σ at the 90th percentile; the sky-line residuals above already give 0.41 per
   * synthetic star (13σ median, 31σ at the 90th), so this adds the rest.
   */
  spikes: { perSpectrum: 0.4, sigmaRange: [8, 50] },
  /** Resolving power of the blue (< 5900 Å) and red arms. */
  resolution: { blue: 1723, red: 1772 },
  /** Competition-grid pixel runs: fractions of spectra, runs per spectrum, lengths in pixels. */
  badPixels: {
    leadingFraction: 0.124,
    /** 10/30/50/70/90 % quantiles of the leading zero run. */
    leadingQuantiles: [24, 51, 89, 104, 160],
    trailingFraction: 0.066,
    trailingQuantiles: [3, 8, 14, 42, 47],
    interiorZeroRunsPerSpectrum: 0.016,
    /** Bridged (masked, interpolated-over) runs per spectrum in each 100 Å bin from 3800 Å. */
    bridgedRunsPer100A: [
      0.791, 0.798, 0.671, 0.622, 0.55, 0.533, 0.291, 0.195, 0.248, 0.243, 0.205, 0.197, 0.203, 0.224, 0.181, 0.221, 0.214,
      0.402, 0.238, 0.248, 0.184, 0.055, 0.021, 0.05, 0.055, 0.084, 0.034, 0.034, 0.028, 0.024, 0.033, 0.047, 0.026, 0.034,
      0.024, 0.041, 0.031, 0.34, 0.019, 0.034, 0.022, 0.033, 0.036, 0.029, 0.038, 0.024, 0.029, 0.028, 0.064, 0.086, 0.155,
      0.162,
    ],
    /** Bridged run lengths: median 4 px, mean 7.2, a long tail (log-normal, σ_ln ≈ 0.9). */
    bridgedRunMedian: 4,
    /**
     * Arm-join dropout: a long masked stretch before the dichroic join, bridged by a straight
     * line. Measured on the real files (≥ 60 Å runs in 5000–6500 Å): 19 of 179 DR1 spectra,
     * 6 of 401 DR10 (those short, 64–100 Å, already covered by the per-bin rates above); pooled,
     * 25 of 580. Start and length quantiles (Å) from the DR1 cases.
     */
    armJoinDropoutFraction: 25 / 580,
    armJoinDropoutStartQuantiles: [5488, 5576, 5590, 5598, 5644],
    armJoinDropoutLengthQuantiles: [272, 338, 406, 436, 556],
  },
};

/** Largest fraction of the foreground E(B−V) left in the continuum after flux calibration. */
export const FLUX_CAL_DUST_LEFT = 0.5;

/** LAMOST native dispersion: log10 λ = 3.5682 + 1e-4·i (COEFF0/COEFF1 of every file read). */
const NATIVE_COEFF0 = 3.5682;
const NATIVE_COEFF1 = 1e-4;
/** Where the blue and red arms are joined (the dichroic overlap is ~5700–5900 Å). */
export const ARM_JOIN = { lo: 5800, hi: 5950 };
/** Bands of the header S/N and the flux scale (r band, as LAMOST's SNRR). */
export const R_BAND = { lo: 5600, hi: 7000 };

/** Everything about a grid that does not change from spectrum to spectrum, computed once. */
export class Instrument {
  readonly grid: WavelengthGrid;
  readonly lambda: Float64Array;
  /** Milky Way A(λ)/E(B−V) per pixel (O'Donnell 1994, R_V = 3.1). */
  readonly dustK: Float64Array;
  /** P(λ) × resampling factor × mean sky-line noise boost, per pixel. */
  readonly noiseShape: Float64Array;
  /** 0 on the blue arm, 1 on the red arm, smooth across the join. */
  readonly armWeight: Float64Array;
  /** x ∈ [−1, 1] across the LAMOST range, for the flux-calibration polynomial. */
  readonly tiltX: Float64Array;
  /** Pixel range [r0, r1) of the r band. */
  readonly rBand: [number, number];
  readonly telluric: { depth: number; spread: number; i0: number; template: Float64Array }[];
  readonly sky: { center: number; i0: number; profile: Float64Array; mean: number; rms: number }[];

  constructor(grid: WavelengthGrid) {
    const n = grid.length;
    this.grid = grid;
    this.lambda = new Float64Array(n);
    this.dustK = new Float64Array(n);
    this.noiseShape = new Float64Array(n);
    this.armWeight = new Float64Array(n);
    this.tiltX = new Float64Array(n);
    const cal = LAMOST_CALIBRATION;
    for (let i = 0; i < n; i++) {
      const l = grid.start + grid.step * i;
      this.lambda[i] = l;
      this.dustK[i] = odonnellK(Math.min(Math.max(l, 3030), 33000));
      this.noiseShape[i] = profileAt(cal.noiseProfile, l) * resamplingFactor(l);
      const t = Math.min(1, Math.max(0, (l - ARM_JOIN.lo) / (ARM_JOIN.hi - ARM_JOIN.lo)));
      this.armWeight[i] = t * t * (3 - 2 * t);
      this.tiltX[i] = Math.min(1, Math.max(-1, (l - 6400) / 2600));
    }
    const r0 = Math.max(0, Math.ceil((R_BAND.lo - grid.start) / grid.step));
    const r1 = Math.min(n, Math.ceil((R_BAND.hi - grid.start) / grid.step));
    this.rBand = r1 > r0 ? [r0, r1] : [0, n];

    // Sky lines: noise boost at the line (the per-bin profile is a median and leaves it out) and a
    // coherent residual whose rms beyond the noise is measured.
    this.sky = [];
    for (const line of SKY_LINES) {
      const m = cal.skyLines[line.name];
      if (!m) continue;
      const center = airToVacuum(line.air);
      const sigma = this.lsfSigma(center);
      const i0 = Math.max(0, Math.ceil((center - 4 * sigma - grid.start) / grid.step));
      const i1 = Math.min(n - 1, Math.floor((center + 4 * sigma - grid.start) / grid.step));
      if (i1 < i0) continue;
      const profile = new Float64Array(i1 - i0 + 1);
      for (let i = i0; i <= i1; i++) profile[i - i0] = Math.exp(-0.5 * ((this.lambda[i]! - center) / sigma) ** 2);
      const boost2 = Math.max(1, m.noiseBoost) ** 2 - 1;
      for (let i = i0; i <= i1; i++) this.noiseShape[i]! *= Math.sqrt(1 + boost2 * profile[i - i0]!);
      if (m.residualMean !== 0 || m.residualRms !== 0) this.sky.push({ center, i0, profile, mean: m.residualMean, rms: m.residualRms });
    }

    // Telluric bands: unit templates whose mean over the measurement window is 1, so that a
    // template times the measured depth reproduces the measured mean depth.
    this.telluric = [];
    for (const band of TELLURIC_WINDOWS) {
      const m = cal.telluric[band.name];
      if (!m) continue;
      const lo = band.shape === 'head' ? band.head : band.head - 4 * band.scale;
      const hi = band.shape === 'head' ? band.head + 5 * band.scale : band.head + 4 * band.scale;
      const i0 = Math.max(0, Math.ceil((lo - grid.start) / grid.step));
      const i1 = Math.min(n - 1, Math.floor((hi - grid.start) / grid.step));
      if (i1 < i0) continue;
      const template = new Float64Array(i1 - i0 + 1);
      let sum = 0;
      let count = 0;
      for (let i = i0; i <= i1; i++) {
        const l = this.lambda[i]!;
        const v = band.shape === 'head' ? Math.exp(-(l - band.head) / band.scale) : Math.exp(-0.5 * ((l - band.head) / band.scale) ** 2);
        template[i - i0] = v;
        if (l >= band.lo && l <= band.hi) {
          sum += v;
          count++;
        }
      }
      if (count === 0) continue;
      for (let k = 0; k < template.length; k++) template[k]! /= sum / count;
      this.telluric.push({ depth: m.depth, spread: m.spread, i0, template });
    }
  }

  /**
   * Instrumental Gaussian σ (Å) at observed wavelength λ: the measured resolving power of each
   * arm, plus the triangle kernel (variance Δλ²/6) of the linear resampling from native pixels.
   */
  lsfSigma(lambda: number): number {
    const { blue, red } = LAMOST_CALIBRATION.resolution;
    const t = Math.min(1, Math.max(0, (lambda - ARM_JOIN.lo) / (ARM_JOIN.hi - ARM_JOIN.lo)));
    const r = blue + (red - blue) * t;
    const lsf = lambda / (r * 2.3548200450309493);
    const native = lambda * Math.LN10 * NATIVE_COEFF1;
    return Math.sqrt(lsf * lsf + (native * native) / 6);
  }

  /**
   * Turns a noiseless model spectrum (`model`, any units, observed frame) into what LAMOST and
   * the competition's resampling deliver, written into `out` / `bad`: Milky Way reddening,
   * telluric absorption, flux-calibration tilt and arm mismatch, the flux scale of a star of
   * this S/N, wavelength-dependent noise with sky-line residuals, and zeroed or bridged pixels.
   * `snr` is the header-style r-band S/N (SNRR). `diagnostics`, when given, receives the
   * per-pixel σ on the grid and the noiseless flux (before sky residuals and bad pixels), and
   * marks in `spikes` (zeroed by the caller) the pixels a cosmic-ray spike was added to.
   */
  observe(
    model: Float64Array,
    snr: number,
    ebv: number,
    rng: Random,
    out: Float32Array,
    bad: Uint8Array,
    work: Float64Array,
    diagnostics?: { sigma: Float64Array; noiseless: Float64Array; spikes?: Uint8Array },
  ): void {
    const n = this.grid.length;
    const cal = LAMOST_CALIBRATION;
    // Flux calibration: smooth multiplicative error (Luo et al. 2015 quote ~10 % relative
    // accuracy), and a small mismatch between the arms.
    const c1 = rng.gauss(0, 0.06);
    const c2 = rng.gauss(0, 0.04);
    const armMismatch = rng.gauss(0, 0.02);
    // Only part of the foreground reddening survives the flux calibration: LAMOST derives each
    // spectrograph's response from F-type standards in the same field, so the field's dust is
    // largely folded into the response curve. Measured: the continua of the real F–K stars match
    // unreddened Planck curves of their subclass to ~5 % in F(4500)/F(5500) and F(6500)/F(8200),
    // which a full E(B−V) of ~0.1 would not (docs/synthetic.md).
    const dust = -0.4 * Math.LN10 * ebv * rng.range(0, FLUX_CAL_DUST_LEFT);
    // Red-end calibration residual, drawn unconditionally (the sequence stays aligned).
    const red = cal.redEnd;
    const redOn = rng.uniform() < red.fraction;
    const redCentre = rng.range(red.centre[0], red.centre[1]);
    const redSigma = rng.range(red.sigma[0], red.sigma[1]);
    const redAmp = redOn ? rng.gauss(0, red.amplitudeSigma) : (rng.normal(), 0);
    // Dust, tilt and arm mismatch are smooth in λ: one factor, evaluated on coarse nodes.
    const k = this.dustK;
    const tx = this.tiltX;
    const arm = this.armWeight;
    const g = this.grid;
    fillSmooth(work, this.lambda, (l) => {
      const i = Math.round((l - g.start) / g.step);
      const x = tx[i]!;
      const tilt = 1 + c1 * x + c2 * (x * x - 1 / 3);
      const hump = redAmp === 0 ? 1 : Math.max(0.2, 1 + redAmp * Math.exp(-0.5 * ((l - redCentre) / redSigma) ** 2));
      return Math.exp(dust * k[i]!) * (tilt > 0.2 ? tilt : 0.2) * (1 + armMismatch * arm[i]!) * hump;
    });
    for (let i = 0; i < n; i++) work[i]! *= model[i]!;
    // Residuals of the telluric correction, with their measured star-to-star spread.
    for (const band of this.telluric) {
      const depth = rng.gauss(band.depth, band.spread);
      const t = band.template;
      for (let k = 0; k < t.length; k++) {
        const v = 1 - depth * t[k]!;
        work[band.i0 + k]! *= v > 0 ? v : 0;
      }
    }
    // Flux scale of a real LAMOST star of this S/N (measured relation with its scatter).
    const [r0, r1] = this.rBand;
    const fr = medianOf(work, r0, r1, out);
    const target = 10 ** (cal.fluxScale.slope * Math.log10(snr) + cal.fluxScale.intercept + rng.gauss(0, cal.fluxScale.scatterDex));
    const scale = fr > 0 ? target / fr : 1;
    // Native-pixel σ in the r band from the header S/N definition.
    const sigmaR = (cal.snrScale * target) / snr;
    const invTarget = 1 / target;
    const shape = this.noiseShape;
    rng.fillNormal(out);
    for (let i = 0; i < n; i++) {
      const f = work[i]! * scale;
      const sigma = sigmaR * shape[i]! * noiseLevel(f * invTarget);
      work[i] = f + sigma * out[i]!;
      out[i] = sigma; // keep σ for the sky residuals below
      if (diagnostics) {
        diagnostics.sigma[i] = sigma;
        diagnostics.noiseless[i] = f;
      }
    }
    for (const line of this.sky) {
      const a = line.mean + rng.normal() * line.rms;
      const p = line.profile;
      for (let k = 0; k < p.length; k++) work[line.i0 + k]! += a * out[line.i0 + k]! * p[k]!;
    }
    // Cosmic rays and hot pixels: 1–3 px spikes of 8–50 σ (log-uniform), σ from above.
    const spikes = rng.poisson(cal.spikes.perSpectrum);
    for (let s = 0; s < spikes; s++) {
      const width = 1 + rng.int(3);
      const i0 = rng.int(n - width);
      const a = rng.logUniform(cal.spikes.sigmaRange[0], cal.spikes.sigmaRange[1]);
      for (let i = i0; i < i0 + width; i++) {
        work[i]! += a * out[i]! * (i === i0 ? 1 : rng.range(0.2, 1));
        if (diagnostics?.spikes) diagnostics.spikes[i] = 1;
      }
    }
    for (let i = 0; i < n; i++) {
      out[i] = work[i]!;
      bad[i] = 0;
    }
    this.markBadPixels(rng, out, bad);
  }

  /**
   * Missing data as the competition grid shows it (measured): zeros where the spectrum does
   * not cover the grid ends, interior runs bridged by a straight line (masked pixels), and
   * rare interior runs of exact zeros.
   */
  private markBadPixels(rng: Random, out: Float32Array, bad: Uint8Array): void {
    const n = this.grid.length;
    const b = LAMOST_CALIBRATION.badPixels;
    const zero = (i0: number, i1: number) => {
      for (let i = Math.max(0, i0); i < Math.min(n, i1); i++) {
        out[i] = 0;
        bad[i] = 1;
      }
    };
    // Grid ends the spectrum does not cover are zeros, as in the competition files; so are
    // rare interior runs (flux 0 with ivar > 0 in the source files).
    if (rng.uniform() < b.leadingFraction) zero(0, Math.round(quantileDraw(b.leadingQuantiles, rng)));
    if (rng.uniform() < b.trailingFraction) zero(n - Math.round(quantileDraw(b.trailingQuantiles, rng)), n);
    const zeros = rng.poisson(b.interiorZeroRunsPerSpectrum);
    for (let k = 0; k < zeros; k++) {
      const length = 1 + rng.int(60);
      const i0 = rng.int(n - length);
      zero(i0, i0 + length);
    }
    const bridge = (i0: number, i1: number) => {
      // Straight line from pixel i0 − 1 to pixel i1, as the pipeline interpolates over masks.
      const a = out[i0 - 1]!;
      const c = out[i1]!;
      for (let i = i0; i < i1; i++) {
        out[i] = a + ((c - a) * (i - i0 + 1)) / (i1 - i0 + 1);
        bad[i] = 1;
      }
    };
    // Drawn unconditionally so the rest of the random sequence doesn't depend on the outcome.
    const dropout = rng.uniform();
    const dropoutStart = quantileDraw(b.armJoinDropoutStartQuantiles, rng);
    const dropoutLength = quantileDraw(b.armJoinDropoutLengthQuantiles, rng);
    if (dropout < b.armJoinDropoutFraction) {
      const i0 = Math.round((dropoutStart - this.grid.start) / this.grid.step);
      const i1 = Math.round((dropoutStart + dropoutLength - this.grid.start) / this.grid.step);
      if (i0 >= 1 && i1 < n && i1 > i0 && !bad.subarray(i0 - 1, i1 + 1).some((v) => v !== 0)) bridge(i0, i1);
    }
    // Masked runs, bridged by a straight line between the neighbouring good pixels, at the
    // measured rate per 100 Å (highest in the noisy blue). A run needs good pixels on both sides.
    const perBin = b.bridgedRunsPer100A;
    for (let bin = 0; bin < perBin.length; bin++) {
      const runs = rng.poisson(perBin[bin]!);
      for (let k = 0; k < runs; k++) {
        const length = Math.min(200, Math.max(1, Math.round(b.bridgedRunMedian * Math.exp(0.9 * rng.normal()))));
        const i0 = Math.floor((3800 + 100 * (bin + rng.uniform()) - this.grid.start) / this.grid.step);
        const i1 = i0 + length; // bridge from pixel i0 − 1 to pixel i1
        if (i0 < 1 || i1 >= n) continue;
        let clear = true;
        for (let i = i0 - 1; i <= i1 && clear; i++) if (bad[i]) clear = false;
        if (!clear) continue;
        bridge(i0, i1);
      }
    }
  }
}

/** A draw from a distribution given by its 10/30/50/70/90 % quantiles (piecewise linear). */
function quantileDraw(q: readonly number[], rng: Random): number {
  const x = rng.uniform() * 5 - 0.5; // position in quantile units, −0.5 … 4.5
  const k = Math.min(q.length - 2, Math.max(0, Math.floor(x)));
  const v = q[k]! + (q[k + 1]! - q[k]!) * (x - k);
  return Math.max(1, v);
}

/**
 * max(x, 0.05)^β by table lookup on the top 16 bits of x as a float32 (sign, exponent, 7
 * mantissa bits: x^β within 0.12 %); Math.pow / exp / log cost 20–40 ns each in V8, the
 * lookup ~2 ns, and this runs once per pixel.
 */
const NOISE_FLOOR = 0.05;
const bitsF32 = new Float32Array(1);
const bitsU32 = new Uint32Array(bitsF32.buffer);
const NOISE_LEVEL = (() => {
  const t = new Float32Array(65536);
  const floor = NOISE_FLOOR ** LAMOST_CALIBRATION.noiseBeta;
  for (let h = 0; h < 65536; h++) {
    bitsU32[0] = ((h << 16) | 0x8000) >>> 0;
    const x = bitsF32[0]!;
    t[h] = x > NOISE_FLOOR && Number.isFinite(x) ? x ** LAMOST_CALIBRATION.noiseBeta : floor;
  }
  return t;
})();
function noiseLevel(x: number): number {
  bitsF32[0] = x;
  return NOISE_LEVEL[bitsU32[0]! >>> 16]!;
}

/** Linear interpolation in a table of 100 Å bins centred at 3850, 3950, … Å. */
function profileAt(table: readonly number[], lambda: number): number {
  const x = (lambda - 3850) / 100;
  if (x <= 0) return table[0]!;
  if (x >= table.length - 1) return table[table.length - 1]!;
  const k = Math.floor(x);
  return table[k]! + (table[k + 1]! - table[k]!) * (x - k);
}

/**
 * Noise of a linearly resampled pixel relative to a native one: a value interpolated at
 * fraction t between two independent pixels has σ·√((1−t)² + t²). LAMOST's native grid is the
 * same for every spectrum, so this pattern is too.
 */
export function resamplingFactor(lambda: number): number {
  const k = (Math.log10(lambda) - NATIVE_COEFF0) / NATIVE_COEFF1;
  const t = k - Math.floor(k);
  return Math.sqrt((1 - t) * (1 - t) + t * t);
}

/** Median of a[i0 … i1) using `scratch` (length ≥ i1 − i0) and quickselect; O(n). */
function medianOf(a: Float64Array, i0: number, i1: number, scratch: Float32Array): number {
  const m = i1 - i0;
  if (m <= 0) return NaN;
  const s = scratch.subarray(0, m);
  for (let i = 0; i < m; i++) s[i] = a[i0 + i]!;
  const k = m >> 1;
  let lo = 0;
  let hi = m - 1;
  while (lo < hi) {
    const pivot = s[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (s[i]! < pivot) i++;
      while (s[j]! > pivot) j--;
      if (i <= j) {
        const t = s[i]!;
        s[i] = s[j]!;
        s[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return s[k]!;
}

const instruments = new Map<string, Instrument>();

/** The Instrument for a grid, built once per process. */
export function instrumentFor(grid: WavelengthGrid): Instrument {
  const key = `${grid.start}:${grid.step}:${grid.length}`;
  let inst = instruments.get(key);
  if (!inst) {
    inst = new Instrument(grid);
    instruments.set(key, inst);
  }
  return inst;
}
