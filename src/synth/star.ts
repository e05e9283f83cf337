/**
 * Stars: a Planck continuum (T 3 000–40 000 K) with the lines and bands whose strengths follow
 * temperature along the MK sequence (Gray & Corbally 2009, "Stellar Spectral Classification"),
 * a radial velocity, and white dwarfs and carbon stars as rarer populations. Rest wavelengths
 * are vacuum (NIST ASD).
 */
import { applyLineForest, composeCanvas, fillSmooth, observedSigma, resetCanvas, type Canvas, type Rendered } from './canvas.js';
import { absorbBand, absorbGaussian, addGaussian, C_KMS, planck, smoothstep } from './physics.js';
import type { Random } from './random.js';

/**
 * Spectral types of a magnitude-limited survey: LAMOST DR5–DR9 LRS stellar catalogues are
 * dominated by F, G and K (Luo et al. 2015), with few O/B and a few per cent M. Temperatures
 * bound each type's subclasses 0 (hot) … 9 (cool).
 */
export const SPECTRAL_TYPES = [
  { type: 'O', weight: 0.002, hot: 40000, cool: 30000 },
  { type: 'B', weight: 0.015, hot: 30000, cool: 10500 },
  { type: 'A', weight: 0.07, hot: 10500, cool: 7400 },
  { type: 'F', weight: 0.28, hot: 7400, cool: 6000 },
  { type: 'G', weight: 0.34, hot: 6000, cool: 5300 },
  { type: 'K', weight: 0.22, hot: 5300, cool: 3900 },
  { type: 'M', weight: 0.055, hot: 3900, cool: 3000 },
] as const;
const TYPE_WEIGHTS = SPECTRAL_TYPES.map((s) => s.weight);
/** Fractions of all stars that are DA white dwarfs and carbon stars (LAMOST classes WD, CARBON). */
export const WHITE_DWARF_FRACTION = 0.012;
export const CARBON_FRACTION = 0.004;

/** Balmer series (vacuum Å) and strengths relative to Hβ in absorption. */
const BALMER = [
  { lambda: 6564.61, rel: 0.85 },
  { lambda: 4862.68, rel: 1 },
  { lambda: 4341.68, rel: 0.95 },
  { lambda: 4102.89, rel: 0.9 },
  { lambda: 3971.2, rel: 0.75 },
  { lambda: 3890.15, rel: 0.65 },
  { lambda: 3836.47, rel: 0.55 },
  { lambda: 3798.98, rel: 0.45 },
];
const CA_K = 3934.78;
const CA_H = 3969.59;
const CA_I = 4227.92;
const G_BAND = 4305.0;
const MG_B = [5168.76, 5174.13, 5185.05];
const NA_D = [5891.58, 5897.56];
const FE_5270 = 5271.0;
const FE_5335 = 5336.0;
const CA_TRIPLET = [8500.36, 8544.44, 8664.52];
const HE_I = [4027.33, 4472.73, 5877.25, 6679.99];
const HE_II = [4687.02, 5413.03];
/** TiO band heads (vacuum Å), relative depths, and the redward recovery scale (Å). */
const TIO = [
  { head: 4762, rel: 0.3, scale: 40 },
  { head: 4956, rel: 0.35, scale: 45 },
  { head: 5168, rel: 0.45, scale: 50 },
  { head: 5450, rel: 0.4, scale: 60 },
  { head: 5849, rel: 0.3, scale: 60 },
  { head: 6160, rel: 0.5, scale: 70 },
  { head: 6653, rel: 0.55, scale: 80 },
  { head: 7055, rel: 0.7, scale: 90 },
  { head: 7591, rel: 0.5, scale: 80 },
  { head: 8435, rel: 0.4, scale: 90 },
];
/** C₂ Swan band heads (degraded to the violet) and red CN heads (to the red) of carbon stars. */
const C2_SWAN = [4737.1, 5165.2, 5636.0];
const CN_RED = [7877, 8059, 8732];

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Draws a star into `c.flux` (noiseless, observed frame). */
export function renderStar(c: Canvas, rng: Random, ebv: number): Rendered {
  resetCanvas(c);
  const u = rng.uniform();
  // Radial velocity: thin/thick disc with a 5 % halo tail.
  const rv = rng.uniform() < 0.05 ? rng.gauss(0, 150) : rng.gauss(-5, 35);
  if (u < WHITE_DWARF_FRACTION) return whiteDwarf(c, rng, rv, ebv);
  if (u < WHITE_DWARF_FRACTION + CARBON_FRACTION) return carbonStar(c, rng, rv, ebv);

  const t = SPECTRAL_TYPES[rng.pick(TYPE_WEIGHTS)]!;
  const logT = Math.log(t.cool) + (Math.log(t.hot) - Math.log(t.cool)) * rng.uniform();
  const T = Math.exp(logT);
  const sub = Math.min(9, Math.floor((10 * (Math.log(t.hot) - logT)) / (Math.log(t.hot) - Math.log(t.cool))));
  const feh = rng.truncatedGauss(-0.2, 0.3, -2.5, 0.5);
  const metals = 10 ** (0.5 * feh);
  const z = rv / C_KMS;
  const { flux, lambda } = c;

  // Continuum. Below ~4000 Å the flux of F/G/K atmospheres is eaten by Ca II H & K, the Balmer
  // jump region and a dense forest of Fe I / CN lines: the stellar 4000 Å break, the same feature
  // that old galaxies show (it is their stars'). Measured on the real LAMOST F–K stars
  // (scripts/calibrate-synth.ts, D4000 = F(4050–4250)/F(3850–3950)): median 1.16 at F0–4,
  // 1.28 at F5–9, 1.48 at G0–4, 1.9 at G5–9; blueward of 4400 Å, however, real F/G/K spectra
  // follow Planck's law closely (B/V ratios within 5 %), so the depression is confined below
  // ~4050 Å, with a broad blue deficit only in late K and M stars.
  const cool = 1 - smoothstep(T, 5200, 6600);
  const breakDepth = Math.min(0.8, (0.45 * cool + 0.03) * Math.min(1.3, metals ** 0.6));
  const broad = 0.6 * Math.min(1, Math.max(0, (4800 - T) / 1800)) * Math.min(1.3, metals ** 0.5);
  fillSmooth(flux, lambda, (l) => {
    const rest = l / (1 + z);
    return planck(rest, T) * (1 - breakDepth * (1 - smoothstep(rest, 3880, 4030))) * (1 - broad * (1 - smoothstep(rest, 3800, 4500)));
  });
  applyLineForest(c, rng, metals * Math.min(2, Math.max(0, (8500 - T) / 3000)), z, 75);

  // Balmer lines: strongest at A0–A2 (~9500 K), broadened by the Stark effect.
  const hot = Math.exp(-((Math.log(T / 9500) / 0.35) ** 2));
  // Cool-star Balmer strength falls steeply from F to K (real LAMOST stars, Lick-like core
  // indices: Hβ 3.1 Å at F5–9, 2.5 at G0–4, 1.5 at G5–9, 0.9 at K0–4), and Hα is then the
  // strongest line of the series (Hα/Hβ index ratio 1.0–1.6 from F to K).
  const ewHb = 0.45 + 1.75 * smoothstep(T, 4600, 6200) + 11 * hot;
  const sigmaHb = 2 + 14 * Math.exp(-((Math.log(T / 9500) / 0.4) ** 2));
  const haBoost = 1 + 0.55 * (1 - smoothstep(T, 6500, 8500));
  for (const line of BALMER) {
    const ew = ewHb * line.rel * (line.lambda > 6000 ? haBoost : 1);
    const sig = Math.hypot((sigmaHb * line.lambda) / 4862.68, c.inst.lsfSigma(line.lambda));
    // Core plus wings: a third of the equivalent width in a profile three times wider.
    absorbGaussian(c.trans, c.grid, line.lambda * (1 + z), sig, ew * (1 + z) * 0.67);
    absorbGaussian(c.trans, c.grid, line.lambda * (1 + z), 3 * sig, ew * (1 + z) * 0.33);
  }
  // Chromospheric Hα emission in a quarter of M dwarfs (dMe).
  if (t.type === 'M' && rng.uniform() < 0.25) {
    const ew = rng.logUniform(1, 12);
    addGaussian(c.emis, c.grid, 6564.61 * (1 + z), observedSigma(c, 6564.61, z, 20), ew * planck(6564.61, T));
  }

  const narrow = (rest: number, ew: number, sigmaKms = 10) => {
    if (ew > 0) absorbGaussian(c.trans, c.grid, rest * (1 + z), observedSigma(c, rest, z, sigmaKms), ew * (1 + z));
  };
  // Ca II H & K: weak in A, dominant in G/K/M. In F–K dwarfs the cores saturate and most of the
  // equivalent width sits in pressure-broadened damping wings ±15 Å wide (Gray & Corbally 2009),
  // hence a core plus a wing component.
  const ewK = metals * (0.3 + 16 * sigmoid((6800 - T) / 500)) * (T > 25000 ? 0 : 1);
  narrow(CA_K, 0.4 * ewK, 120);
  narrow(CA_K, 0.6 * ewK, 700);
  narrow(CA_H, 0.3 * ewK, 120);
  narrow(CA_H, 0.45 * ewK, 700);
  narrow(CA_I, metals * (0.1 + 4 * sigmoid((4600 - T) / 300)), 30);
  // CH G band, a blend ~25 Å wide (4295–4320 Å) from late F to K (real stars: index 3.7 Å at
  // F5–9, 5–7 Å at G–K).
  narrow(G_BAND, metals * 9 * Math.exp(-(((T - 5000) / 1400) ** 2)), 700);
  for (const l of MG_B) narrow(l, metals * (0.15 + 3.1 * sigmoid((5800 - T) / 500)), 30);
  narrow(FE_5270, metals * 4.5 * sigmoid((6600 - T) / 600), 150);
  narrow(FE_5335, metals * 3.6 * sigmoid((6600 - T) / 600), 150);
  // Na D: photospheric (strong in K/M) plus interstellar, EW(D1+D2) from E(B−V)
  // (Poznanski, Prochaska & Bloom 2012: log E(B−V) = 1.17·EW − 1.85).
  const ism = ebv > 0.005 ? Math.max(0, (Math.log10(ebv) + 1.85) / 1.17) : 0;
  for (const l of NA_D) {
    narrow(l, metals * (0.15 + 4.5 * sigmoid((5000 - T) / 450)), 30);
    if (ism > 0) absorbGaussian(c.trans, c.grid, l, c.inst.lsfSigma(l), ism / 2);
  }
  const ewCaT = metals * (0.5 + 2.5 * Math.exp(-(((T - 5200) / 1500) ** 2)));
  narrow(CA_TRIPLET[0]!, 0.7 * ewCaT, 60);
  narrow(CA_TRIPLET[1]!, 1.2 * ewCaT, 60);
  narrow(CA_TRIPLET[2]!, 1.0 * ewCaT, 60);
  // He I in B stars, He II in O stars.
  const heI = 0.9 * Math.exp(-((Math.log(T / 20000) / 0.35) ** 2));
  for (const l of HE_I) narrow(l, heI, 60);
  const heII = 0.7 * smoothstep(T, 28000, 40000);
  for (const l of HE_II) narrow(l, heII, 60);
  // TiO bands: appear at K7/M0 and deepen through the M sequence.
  const tio = Math.min(1, Math.max(0, (4100 - T) / 1100)) ** 1.2;
  if (tio > 0) for (const b of TIO) absorbBand(c.trans, c.grid, b.head * (1 + z), b.scale, Math.min(0.92, 1.1 * tio * b.rel));

  composeCanvas(c);
  return { redshift: z, subclass: `${t.type}${sub}`, ebv };
}

/**
 * DA white dwarfs: hot, smooth, with very broad pressure-broadened Balmer lines (log g ≈ 8) and
 * nothing else; at low S/N they resemble QSOs with broad lines (Koester 2013).
 */
function whiteDwarf(c: Canvas, rng: Random, rv: number, ebv: number): Rendered {
  const T = rng.logUniform(7000, 40000);
  const z = (rv + 30) / C_KMS; // + gravitational redshift
  const { flux, lambda } = c;
  fillSmooth(flux, lambda, (l) => planck(l / (1 + z), T));
  const strength = Math.exp(-((Math.log(T / 13000) / 0.6) ** 2));
  for (const line of BALMER) {
    const ew = (8 + 50 * strength) * line.rel;
    const sig = (12 + 25 * strength) * (line.lambda / 4862.68);
    absorbGaussian(c.trans, c.grid, line.lambda * (1 + z), Math.hypot(sig, c.inst.lsfSigma(line.lambda)), ew);
  }
  composeCanvas(c);
  return { redshift: z, subclass: 'WD', ebv };
}

/** Carbon stars: cool continuum with C₂ Swan and CN bands instead of TiO (Barnbaum et al. 1996). */
function carbonStar(c: Canvas, rng: Random, rv: number, ebv: number): Rendered {
  const T = rng.range(2600, 3800);
  const z = rv / C_KMS;
  const { flux, lambda } = c;
  fillSmooth(flux, lambda, (l) => {
    const rest = l / (1 + z);
    return planck(rest, T) * (1 - 0.8 * (1 - smoothstep(rest, 3800, 5000)));
  });
  applyLineForest(c, rng, 1.5, z, 75);
  const swan = rng.range(0.35, 0.8);
  for (const head of C2_SWAN) absorbBand(c.trans, c.grid, head * (1 + z), -70, swan);
  for (const head of CN_RED) absorbBand(c.trans, c.grid, head * (1 + z), 90, rng.range(0.2, 0.5));
  for (const l of NA_D) absorbGaussian(c.trans, c.grid, l * (1 + z), c.inst.lsfSigma(l), 3);
  composeCanvas(c);
  return { redshift: z, subclass: 'CARBON', ebv };
}
