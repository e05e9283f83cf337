/**
 * Quasars at z 0.1–4, after the SDSS composite of Vanden Berk et al. (2001, AJ 122, 549):
 * a power law f_ν ∝ ν^α (α ≈ −0.44 with scatter), broad emission lines with the composite's
 * rest equivalent widths (FWHM 2 000–10 000 km/s), narrow [O II]/[Ne III]/[O III], the small
 * blue bump and optical Fe II, Lyα-forest absorption blueward of Lyα whose mean opacity grows
 * with redshift (τ_eff = 0.0018 (1+z)^3.92, Faucher-Giguère et al. 2008, ApJ 681, 831), broad
 * absorption line (BAL) troughs, and host-galaxy starlight at low redshift.
 */
import { composeCanvas, fillSmooth, resetCanvas, type Canvas, type Rendered } from './canvas.js';
import { drawPopulation, renderStellarPopulation } from './galaxy.js';
import { addGaussian, C_KMS, FWHM_TO_SIGMA } from './physics.js';
import type { Random } from './random.js';

const LYA = 1215.67;
const LYB = 1025.72;
const LYMAN_LIMIT = 911.75;

/** Broad lines: vacuum rest λ, rest EW (Å) in the Vanden Berk et al. (2001) composite, width relative to Hβ. */
export const BROAD_LINES = [
  { name: 'Lya', lambda: 1215.67, ew: 75, width: 0.8 },
  { name: 'NV', lambda: 1240.14, ew: 15, width: 0.8 },
  { name: 'SiIV', lambda: 1399.8, ew: 8.1, width: 1.0 },
  { name: 'CIV', lambda: 1549.06, ew: 23.8, width: 1.0 },
  { name: 'HeII', lambda: 1640.42, ew: 2.5, width: 1.0 },
  { name: 'CIII]', lambda: 1908.73, ew: 21.2, width: 1.1 },
  { name: 'MgII', lambda: 2798.75, ew: 32.3, width: 0.9 },
  { name: 'Hd', lambda: 4102.89, ew: 4.5, width: 1.0 },
  { name: 'Hg', lambda: 4341.68, ew: 12.6, width: 1.0 },
  { name: 'Hb', lambda: 4862.68, ew: 46.2, width: 1.0 },
  { name: 'HeI', lambda: 5877.29, ew: 6.5, width: 1.0 },
  { name: 'Ha', lambda: 6564.61, ew: 194.5, width: 0.9 },
] as const;
/** Narrow lines (σ ≈ 150–400 km/s). */
const NARROW_LINES = [
  { lambda: 3426.84, ew: 1.2 }, // [Ne V]
  { lambda: 3728.48, ew: 1.6 }, // [O II]
  { lambda: 3869.86, ew: 1.4 }, // [Ne III]
  { lambda: 4960.3, ew: 4.4 }, // [O III]
  { lambda: 5008.24, ew: 13.2 }, // [O III]
];

/**
 * Redshifts of a LAMOST-like QSO sample (Ai et al. 2016; Yao et al. 2019): most at 0.5–2.5,
 * a z ≈ 2–3.5 colour-selected tail and a low-z tail.
 */
export function drawQsoRedshift(rng: Random): number {
  const u = rng.uniform();
  if (u < 0.12) return rng.range(0.1, 0.6);
  if (u < 0.3) return rng.range(2.0, 4.0);
  return rng.truncatedGauss(1.35, 0.6, 0.1, 4);
}

/** Draws a quasar into `c.flux` (noiseless, observed frame). */
export function renderQso(c: Canvas, rng: Random, ebv: number): Rendered {
  resetCanvas(c);
  const z = drawQsoRedshift(rng);
  const { lambda, flux, emis } = c;
  const n = flux.length;
  // f_λ ∝ λ^−(2+α_ν), normalised to 1 at rest 3000 Å.
  const alpha = rng.gauss(-0.44, 0.3);
  const slope = -(2 + alpha);
  const powerLaw = (rest: number) => Math.exp(slope * Math.log(rest / 3000));

  // Host starlight at low z (type 1 Seyferts / low-luminosity QSOs), a fraction of the 5100 Å light.
  const hostFraction = z < 0.6 ? rng.range(0, 0.75) * (1 - z / 0.6) : 0;
  let subclass = 'QSO';
  if (hostFraction > 0) {
    const pop = drawPopulation(rng, rng.uniform() < 0.5 ? 'PASSIVE' : 'STARFORMING');
    pop.ebvStars = 0;
    const qso5100 = powerLaw(5100);
    renderStellarPopulation(c, rng, pop, z, (qso5100 * hostFraction) / (1 - hostFraction));
    // Bake the host's absorption into its own light only.
    for (let i = 0; i < n; i++) {
      flux[i]! *= c.trans[i]!;
      c.trans[i] = 1;
    }
    if (hostFraction > 0.4) subclass = 'QSO-HOST';
  } else flux.fill(0);

  // Small blue bump (Balmer continuum + blended UV Fe II, 2200–3646 Å) and optical Fe II.
  const bump = rng.range(0.05, 0.3);
  const feII = rng.range(0.2, 1.2); // R_FeII = EW(Fe II 4434–4684)/EW(Hβ), Boroson & Green 1992
  fillSmooth(c.work, lambda, (l) => {
    const rest = l / (1 + z);
    let extra = 0;
    if (rest > 2000 && rest < 4200) {
      const edge = rest < 3646 ? 1 : Math.exp(-(rest - 3646) / 80);
      extra += bump * Math.exp(-0.5 * ((rest - 3000) / 420) ** 2) * edge;
    }
    return powerLaw(rest) * (1 + extra);
  });
  for (let i = 0; i < n; i++) flux[i]! += c.work[i]!;
  const hb = powerLaw(4862.68);
  const fe = (center: number, sigma: number, ew: number) => addGaussian(emis, c.grid, center * (1 + z), sigma * (1 + z), ew * (1 + z) * powerLaw(center));
  fe(4570, 70, 0.55 * feII * 46.2 * (hb / powerLaw(4570)));
  fe(5250, 110, 0.45 * feII * 46.2 * (hb / powerLaw(5250)));
  fe(2500, 160, 25 * feII);

  // Broad lines: one FWHM per object, per-line scatter; overall strength scatters by 0.2 dex,
  // and 5 % are weak-line quasars.
  const fwhm = rng.logUniform(2000, 10000);
  const weak = rng.uniform() < 0.05;
  const strength = (weak ? rng.range(0.1, 0.3) : 1) * 10 ** rng.gauss(0, 0.2);
  if (weak) subclass = 'QSO-WEAK';
  for (const line of BROAD_LINES) {
    const center = line.lambda * (1 + z);
    if (center < c.grid.start - 200 || center > c.grid.start + c.grid.step * n + 200) continue;
    const sigmaKms = fwhm * line.width * 10 ** rng.gauss(0, 0.05) * FWHM_TO_SIGMA;
    const sigma = Math.hypot((center * sigmaKms) / C_KMS, c.inst.lsfSigma(center));
    const ew = line.ew * strength * 10 ** rng.gauss(0, 0.1);
    addGaussian(emis, c.grid, center, sigma, ew * (1 + z) * powerLaw(line.lambda));
  }
  const narrowKms = rng.range(150, 400);
  const narrowStrength = 10 ** rng.gauss(0, 0.3) * (z < 1 ? 1 : 0.5);
  for (const line of NARROW_LINES) {
    const center = line.lambda * (1 + z);
    const sigma = Math.hypot((center * narrowKms) / C_KMS, c.inst.lsfSigma(center));
    addGaussian(emis, c.grid, center, sigma, line.ew * narrowStrength * (1 + z) * powerLaw(line.lambda));
  }

  // BAL troughs in ~12 % of quasars where C IV is in view (Gibson et al. 2009).
  if (z > 1.6 && rng.uniform() < 0.12) {
    subclass = 'QSO-BAL';
    const vMin = rng.range(2000, 8000);
    const vMax = vMin + rng.range(5000, 20000);
    const depth = rng.range(0.3, 0.9);
    for (const rest of [1549.06, 1399.8, 1240.14, 1215.67]) trough(c, rest, z, vMin, vMax, depth);
    if (rng.uniform() < 0.15) trough(c, 2798.75, z, vMin, vMax, depth * 0.7); // LoBAL
  }

  composeCanvas(c);
  lymanForest(c, rng, z);
  return { redshift: z, subclass, ebv };
}

/** A smooth-edged BAL trough between outflow velocities vMin and vMax (km/s) blueward of `rest`. */
function trough(c: Canvas, rest: number, z: number, vMin: number, vMax: number, depth: number): void {
  const center = rest * (1 + z);
  const lo = center * (1 - vMax / C_KMS);
  const hi = center * (1 - vMin / C_KMS);
  const soft = 0.08 * (hi - lo);
  const i0 = Math.max(0, Math.floor((lo - soft - c.grid.start) / c.grid.step));
  const i1 = Math.min(c.grid.length - 1, Math.ceil((hi + soft - c.grid.start) / c.grid.step));
  for (let i = i0; i <= i1; i++) {
    const l = c.lambda[i]!;
    const edge = Math.min(1, Math.max(0, (l - lo + soft) / (2 * soft)), Math.max(0, (hi + soft - l) / (2 * soft)));
    c.trans[i]! *= 1 - depth * edge;
  }
}

/**
 * Lyα (and Lyβ) forest and the Lyman limit, applied to the composed spectrum: transmission
 * exp(−τ) with τ = τ_eff(z_abs)·X, X a log-normal field correlated over ~2 pixels so the forest
 * looks like blended absorbers at this resolution.
 */
function lymanForest(c: Canvas, rng: Random, z: number): void {
  const lyaObs = LYA * (1 + z);
  if (lyaObs <= c.grid.start) return;
  const { lambda, flux } = c;
  const s = 0.9;
  let g = rng.normal();
  const rho = 0.6;
  const innov = Math.sqrt(1 - rho * rho);
  const lls = rng.range(0.5, 3); // optical depth beyond the Lyman limit
  for (let i = 0; i < flux.length && lambda[i]! < lyaObs; i++) {
    const l = lambda[i]!;
    g = rho * g + innov * rng.normal();
    const x = Math.exp(s * g - 0.5 * s * s);
    // (1 + z_abs)^3.92 with 1 + z_abs = λ/λ_Lyα (exp/log: Math.pow is slow in V8).
    let tau = 0.0018 * Math.exp(3.92 * Math.log(l / LYA)) * x;
    if (l < LYB * (1 + z)) tau += 0.0018 * 0.16 * Math.exp(3.92 * Math.log(l / LYB)) * x; // Lyβ of absorbers at λ/1025.72 − 1
    if (l < LYMAN_LIMIT * (1 + z)) tau += lls;
    flux[i]! *= Math.exp(-tau);
  }
}
