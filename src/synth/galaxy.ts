/**
 * Galaxies at z 0–0.5: an old (K-giant-like) plus a young (B/A-star-like) stellar continuum with
 * the 4000 Å break (Bruzual 1983, ApJ 273, 105; D4000 ≈ 1.1–2.2, Kauffmann et al. 2003, MNRAS
 * 341, 33), stellar absorption lines broadened by the velocity dispersion, and nebular emission
 * lines whose ratios follow the BPT diagram (Baldwin, Phillips & Terlevich 1981; star-forming
 * locus and AGN demarcation of Kauffmann et al. 2003 and Kewley et al. 2001). Rest wavelengths
 * are vacuum.
 */
import { applyLineForest, composeCanvas, fillSmooth, observedSigma, resetCanvas, type Canvas, type Rendered } from './canvas.js';
import { absorbGaussian, addGaussian, calzettiK, planck, smoothstep } from './physics.js';
import type { Random } from './random.js';

export const GALAXY_TYPES = [
  { type: 'PASSIVE', weight: 0.4 },
  { type: 'STARFORMING', weight: 0.4 },
  { type: 'STARBURST', weight: 0.07 },
  { type: 'AGN', weight: 0.09 },
  { type: 'POSTSTARBURST', weight: 0.04 },
] as const;
const GALAXY_WEIGHTS = GALAXY_TYPES.map((g) => g.weight);

export const EMISSION = {
  oii3726: 3727.09,
  oii3729: 3729.88,
  neiii: 3869.86,
  hd: 4102.89,
  hg: 4341.68,
  hb: 4862.68,
  oiii4959: 4960.3,
  oiii5007: 5008.24,
  hei: 5877.25,
  oi6300: 6302.05,
  nii6548: 6549.86,
  ha: 6564.61,
  nii6584: 6585.27,
  sii6717: 6718.29,
  sii6731: 6732.67,
} as const;

/** Stellar absorption features of the composite population (vacuum Å) and EW (Å) for a fully old population. */
const OLD_ABSORPTION = [
  { lambda: 3934.78, ew: 9, sigmaKms: 100 }, // Ca II K
  { lambda: 3969.59, ew: 7, sigmaKms: 100 }, // Ca II H (+ Hε)
  { lambda: 4227.92, ew: 1.2, sigmaKms: 0 }, // Ca I
  { lambda: 4305.0, ew: 4.5, sigmaKms: 450 }, // G band
  { lambda: 5168.76, ew: 1.5, sigmaKms: 0 }, // Mg b
  { lambda: 5174.13, ew: 1.8, sigmaKms: 0 },
  { lambda: 5185.05, ew: 1.8, sigmaKms: 0 },
  { lambda: 5271.0, ew: 2.0, sigmaKms: 150 }, // Fe 5270
  { lambda: 5336.0, ew: 1.6, sigmaKms: 150 }, // Fe 5335
  { lambda: 5891.58, ew: 1.8, sigmaKms: 0 }, // Na D
  { lambda: 5897.56, ew: 1.5, sigmaKms: 0 },
  { lambda: 8500.36, ew: 1.2, sigmaKms: 0 }, // Ca triplet
  { lambda: 8544.44, ew: 2.8, sigmaKms: 0 },
  { lambda: 8664.52, ew: 2.3, sigmaKms: 0 },
];
/** Balmer absorption of the young population (EW in Å for a fully A-dominated one). */
const BALMER_ABSORPTION = [
  { lambda: 6564.61, ew: 5 },
  { lambda: 4862.68, ew: 7 },
  { lambda: 4341.68, ew: 7 },
  { lambda: 4102.89, ew: 7 },
  { lambda: 3971.2, ew: 5 },
  { lambda: 3890.15, ew: 4 },
];

/** Upper end of the deep galaxies: [O II] 3727 Å stays on the LAMOST grid (to 9100 Å) up to z ≈ 1.44. */
export const DEEP_GALAXY_Z: readonly [number, number] = [0.5, 1.45];

/**
 * Redshift of a LAMOST-like bright galaxy sample: log-normal around z ≈ 0.085, 0.002–0.5. A
 * share `deep` of galaxies is instead drawn uniform in DEEP_GALAXY_Z, the depths of the SDSS
 * BOSS and eBOSS galaxy samples (luminous red galaxies to z ≈ 0.8, emission-line galaxies to
 * ≈ 1.1 and beyond) that the SDSS reader also reads. With deep = 0 no extra number is drawn, so
 * surveys without deep galaxies are the same as before the option existed.
 */
export function drawGalaxyRedshift(rng: Random, deep = 0): number {
  if (deep > 0 && rng.uniform() < deep) return rng.range(DEEP_GALAXY_Z[0], DEEP_GALAXY_Z[1]);
  for (;;) {
    const z = Math.exp(rng.gauss(Math.log(0.085), 0.6));
    if (z >= 0.002 && z <= 0.5) return z;
  }
}

export interface StellarPopulation {
  /** Fraction of the light at rest 5500 Å from the young component. */
  young: number;
  /** Effective temperature of the young component (K). */
  youngT: number;
  /** Temperature of the old component's continuum (K). */
  oldT: number;
  /** Fractional depression blueward of 4000 Å in the old component (sets D4000). */
  breakDepth: number;
  /** Line-of-sight velocity dispersion (km/s). */
  sigmaKms: number;
  /** Stellar E(B−V) (Calzetti). */
  ebvStars: number;
  /** Balmer absorption scale of the young light (1 = A-star dominated). */
  balmer: number;
}

/**
 * Draws a stellar population's continuum and absorption at redshift z into c.flux / c.trans,
 * scaled so its rest 5500 Å flux is `scale` (before dust). Also draws the host galaxies of low-z QSOs.
 */
export function renderStellarPopulation(c: Canvas, rng: Random, p: StellarPopulation, z: number, scale: number): void {
  const { lambda } = c;
  const oldNorm = 1 / planck(5500, p.oldT);
  const youngNorm = 1 / planck(5500, p.youngT);
  const dust = -0.4 * Math.LN10 * p.ebvStars;
  const dust5500 = calzettiK(5500);
  fillSmooth(c.flux, lambda, (l) => {
    const rest = l / (1 + z);
    // The 4000 Å break: the old light drops across 3850–4050 Å (Bruzual 1983), plus the blanketed UV.
    const old = planck(rest, p.oldT) * oldNorm * (1 - p.breakDepth * (1 - smoothstep(rest, 3850, 4050)));
    const young = planck(rest, p.youngT) * youngNorm;
    const atten = Math.exp(dust * (calzettiK(rest) - dust5500));
    return scale * ((1 - p.young) * old + p.young * young) * atten;
  });
  const oldLight = 1 - p.young;
  applyLineForest(c, rng, 1.1 * oldLight, z, 220);
  for (const a of OLD_ABSORPTION) {
    absorbGaussian(c.trans, c.grid, a.lambda * (1 + z), observedSigma(c, a.lambda, z, Math.hypot(a.sigmaKms, p.sigmaKms)), a.ew * oldLight * (1 + z));
  }
  for (const a of BALMER_ABSORPTION) {
    const ew = (1.2 * oldLight + a.ew * p.balmer * p.young) * (1 + z);
    absorbGaussian(c.trans, c.grid, a.lambda * (1 + z), observedSigma(c, a.lambda, z, Math.hypot(600, p.sigmaKms)), ew);
  }
}

export function drawPopulation(rng: Random, type: string): StellarPopulation {
  const passive = type === 'PASSIVE';
  const post = type === 'POSTSTARBURST';
  return {
    young: passive ? rng.range(0, 0.08) : post ? rng.range(0.35, 0.7) : type === 'STARBURST' ? rng.range(0.6, 0.95) : type === 'AGN' ? rng.range(0.05, 0.5) : rng.range(0.2, 0.8),
    youngT: post ? rng.range(8500, 10500) : rng.range(11000, 25000),
    oldT: rng.range(4300, 5000),
    breakDepth: rng.range(0.35, 0.55),
    sigmaKms: passive || post ? rng.range(120, 300) : rng.range(50, 130),
    ebvStars: passive || post ? rng.range(0, 0.05) : 0.44 * rng.range(0, 0.6),
    balmer: post ? rng.range(1, 1.4) : 0.6,
  };
}

/** Draws a galaxy into `c.flux` (noiseless, observed frame); `deep` as for drawGalaxyRedshift. */
export function renderGalaxy(c: Canvas, rng: Random, ebv: number, deep = 0): Rendered {
  resetCanvas(c);
  const type = GALAXY_TYPES[rng.pick(GALAXY_WEIGHTS)]!.type;
  const z = drawGalaxyRedshift(rng, deep);
  const pop = drawPopulation(rng, type);
  renderStellarPopulation(c, rng, pop, z, 1);
  const continuumAt = (rest: number) => {
    const old = planck(rest, pop.oldT) / planck(5500, pop.oldT);
    const young = planck(rest, pop.youngT) / planck(5500, pop.youngT);
    return ((1 - pop.young) * old + pop.young * young) * Math.exp(-0.4 * Math.LN10 * pop.ebvStars * (calzettiK(rest) - calzettiK(5500)));
  };
  addNebularLines(c, rng, type, z, pop.ebvStars, continuumAt);
  composeCanvas(c);
  return { redshift: z, subclass: type, ebv };
}

/**
 * Nebular emission: Hα from an equivalent width, the other Balmer lines from case B ratios
 * (Osterbrock & Ferland 2006: Hα/Hβ = 2.86, Hγ/Hβ = 0.468, Hδ/Hβ = 0.259) reddened by Calzetti
 * dust, metal lines from a position on the BPT diagram.
 */
export function addNebularLines(c: Canvas, rng: Random, type: string, z: number, ebvStars: number, continuumAt: (rest: number) => number): void {
  let ewHa: number;
  let x: number; // log [N II]6584/Hα
  let y: number; // log [O III]5007/Hβ
  let sigmaKms: number;
  let oiRatio = 0.03; // [O I]6300/Hα
  switch (type) {
    case 'PASSIVE':
      if (rng.uniform() > 0.3) return;
      // Weak LINER-like emission in a third of early types (Yan et al. 2006).
      ewHa = rng.logUniform(0.3, 2.5);
      x = rng.range(-0.1, 0.3);
      y = rng.range(-0.3, 0.3);
      sigmaKms = rng.range(150, 300);
      oiRatio = rng.range(0.1, 0.3);
      break;
    case 'POSTSTARBURST':
      if (rng.uniform() > 0.2) return;
      ewHa = rng.logUniform(0.3, 2);
      x = rng.range(-0.5, 0);
      y = rng.range(-0.5, 0.2);
      sigmaKms = rng.range(80, 200);
      break;
    case 'AGN': {
      ewHa = rng.logUniform(3, 60);
      const seyfert = rng.uniform() < 0.5;
      x = seyfert ? rng.range(-0.25, 0.3) : rng.range(-0.1, 0.4);
      y = seyfert ? rng.range(0.5, 1.1) : rng.range(-0.1, 0.45);
      sigmaKms = rng.range(150, 350);
      oiRatio = seyfert ? rng.range(0.05, 0.15) : rng.range(0.15, 0.35);
      break;
    }
    default: {
      const burst = type === 'STARBURST';
      ewHa = Math.exp(rng.gauss(Math.log(burst ? 90 : 22), burst ? 0.4 : 0.6));
      ewHa = Math.min(400, Math.max(2, ewHa));
      // Below the Kauffmann et al. (2003) line y = 0.61/(x − 0.05) + 1.3.
      x = rng.range(-1.3, -0.35);
      y = 0.61 / (x - 0.05) + 1.3 - rng.range(0.05, 0.4);
      sigmaKms = rng.range(30, 100);
    }
  }
  const ebvGas = ebvStars / 0.44;
  const k = (rest: number) => 10 ** (-0.4 * ebvGas * calzettiK(rest));
  // Hα flux from its EW against the stellar continuum (attenuated) at 6563 Å.
  const fHaObs = ewHa * continuumAt(EMISSION.ha);
  const fHaIntr = fHaObs / k(EMISSION.ha);
  const fHb = (fHaIntr / 2.86) * k(EMISSION.hb);
  const lines: [number, number][] = [
    [EMISSION.ha, fHaObs],
    [EMISSION.hb, fHb],
    [EMISSION.hg, ((fHaIntr * 0.468) / 2.86) * k(EMISSION.hg)],
    [EMISSION.hd, ((fHaIntr * 0.259) / 2.86) * k(EMISSION.hd)],
    [EMISSION.nii6584, fHaObs * 10 ** x],
    [EMISSION.nii6548, (fHaObs * 10 ** x) / 3.05],
    [EMISSION.oiii5007, fHb * 10 ** y],
    [EMISSION.oiii4959, (fHb * 10 ** y) / 2.98],
    [EMISSION.oi6300, fHaObs * oiRatio],
  ];
  // [O II]3727 doublet: ~1–4 × Hβ (intrinsic), higher at low metallicity / high ionisation.
  const oii = (fHaIntr / 2.86) * rng.range(1, 4) * k(3728);
  const r = rng.range(0.7, 1.4); // 3729/3726, density sensitive
  lines.push([EMISSION.oii3726, oii / (1 + r)], [EMISSION.oii3729, (oii * r) / (1 + r)]);
  // [S II] doublet: total 0.2–0.5 × Hα, 6717/6731 ≈ 1.2–1.45 at low density.
  const sii = fHaObs * rng.range(0.2, 0.5);
  const s = rng.range(1.15, 1.45);
  lines.push([EMISSION.sii6717, (sii * s) / (1 + s)], [EMISSION.sii6731, sii / (1 + s)]);
  lines.push([EMISSION.neiii, fHb * 10 ** y * 0.08], [EMISSION.hei, fHaObs * 0.035]);
  for (const [rest, f] of lines) {
    if (!(f > 0)) continue;
    const center = rest * (1 + z);
    // Observed flux of a line at redshift z: the continuum is in per-Å units of the observed frame.
    addGaussian(c.emis, c.grid, center, observedSigma(c, rest, z, sigmaKms), f * (1 + z));
  }
}
