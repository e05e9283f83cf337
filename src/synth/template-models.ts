/**
 * Stars, galaxies and QSOs built from real-spectrum-based templates (./template-library.ts),
 * beside the physics models of star.ts / galaxy.ts / qso.ts. Each renderer builds a rest-frame
 * spectrum on the library's 69 km/s log grid, shifts it to its redshift, and samples it onto the
 * canvas by linear interpolation — the way the survey's pipeline resamples native pixels. The
 * result then goes through the same calibrated LAMOST instrument as the physics models
 * (resolution of the templates, R ≈ 1800–2000, is already close to LAMOST's).
 *
 * - Stars: one of 185 SDSS / MaStar templates (O–M of all luminosity classes, WDs, carbon stars,
 *   L dwarfs) or a cataclysmic variable from the CV eigenspectra; radial velocity; reddening.
 * - Galaxies: a FSPS template pair (quiescent → star-forming, with nebular lines and dust) with
 *   rescaled line strengths, or an old + young MaStar SSP mixture with Calzetti dust and nebular
 *   lines; velocity dispersion; the LAMOST-like galaxy redshift distribution of galaxy.ts.
 * - QSOs, z 0.1–4.5: the qsogen model (Temple et al. 2021, MNRAS 508, 737) with drawn continuum
 *   slopes, emission-line type and strength, narrow-line strength, quasar reddening and host
 *   light (host-dominated AGN at low z), or a composite spectrum with a tilt; BAL troughs in
 *   some; Lyα-forest absorption from the IGM optical depth of Becker et al. (2013, MNRAS 430,
 *   2067) with pixel-to-pixel fluctuations; nothing below the Lyman limit.
 */
import type { Canvas, Rendered } from './canvas.js';
import { composeCanvas, resetCanvas } from './canvas.js';
import { addNebularLines, drawGalaxyRedshift } from './galaxy.js';
import { C_KMS, calzettiK } from './physics.js';
import type { Random } from './random.js';
import { LIB_LENGTH, LN_START, LN_STEP, libIndex, libLambda, loadTemplateLibrary, selectTemplates, type Template, type TemplateLibrary, type TemplateSet } from './template-library.js';

/** Per-process scratch in library space (one spectrum at a time). */
const rest = new Float64Array(LIB_LENGTH);
const rest2 = new Float64Array(LIB_LENGTH);

interface Pools {
  lib: TemplateLibrary;
  stars: Template[];
  fsps: Template[];
  oldSsps: Template[];
  youngSsps: Template[];
  composites: Template[];
}
const pools = new Map<TemplateSet, Pools>();

function poolsFor(set: TemplateSet): Pools {
  let p = pools.get(set);
  if (!p) {
    const lib = loadTemplateLibrary();
    const ssps = selectTemplates(lib.ssps, set);
    p = {
      lib,
      stars: selectTemplates(lib.stars, set),
      fsps: selectTemplates(lib.fsps, set),
      oldSsps: ssps.filter((s) => s.ageGyr >= 1),
      youngSsps: ssps.filter((s) => s.ageGyr <= 0.3),
      composites: selectTemplates(lib.qso.composites, set),
    };
    pools.set(set, p);
  }
  return p;
}

/** Library pixels [k0, k1] a spectrum at redshift z needs to fill the canvas. */
function restRange(c: Canvas, z: number): [number, number] {
  const k0 = Math.max(0, Math.floor(libIndex(c.lambda[0]! / (1 + z))) - 2);
  const k1 = Math.min(LIB_LENGTH - 1, Math.ceil(libIndex(c.lambda[c.lambda.length - 1]! / (1 + z))) + 2);
  return [k0, k1];
}

/** Mean of a library spectrum over rest λ in [lo, hi] Å. */
function meanOver(a: ArrayLike<number>, lo: number, hi: number): number {
  let s = 0;
  let n = 0;
  for (let k = Math.ceil(libIndex(lo)); k <= Math.floor(libIndex(hi)); k++) {
    const v = a[k]!;
    if (Number.isFinite(v)) {
      s += v;
      n++;
    }
  }
  return n > 0 ? s / n : NaN;
}

/** Gaussian convolution of src[k0..k1] by σ (library pixels) into dst[k0..k1]. */
function broaden(src: Float64Array, dst: Float64Array, k0: number, k1: number, sigmaPix: number): void {
  if (sigmaPix < 0.3) {
    for (let k = k0; k <= k1; k++) dst[k] = src[k]!;
    return;
  }
  const half = Math.ceil(4 * sigmaPix);
  const w = new Float64Array(2 * half + 1);
  let sum = 0;
  for (let j = -half; j <= half; j++) sum += w[j + half] = Math.exp(-0.5 * (j / sigmaPix) ** 2);
  for (let j = 0; j < w.length; j++) w[j]! /= sum;
  for (let k = k0; k <= k1; k++) {
    let s = 0;
    for (let j = -half; j <= half; j++) {
      const i = Math.min(k1, Math.max(k0, k + j));
      s += w[j + half]! * src[i]!;
    }
    dst[k] = s;
  }
}

/** c.flux[i] = spectrum(λ_i / (1+z)) by linear interpolation on the library grid. */
function sampleOnto(c: Canvas, spectrum: Float64Array, z: number): void {
  const shift = Math.log1p(z) + LN_START;
  const inv = 1 / LN_STEP;
  for (let i = 0; i < c.flux.length; i++) {
    const x = (c.lnLambda[i]! - shift) * inv;
    const k = Math.min(LIB_LENGTH - 2, Math.max(0, x | 0));
    const t = x - k;
    const v = spectrum[k]! * (1 - t) + spectrum[k + 1]! * t;
    c.flux[i] = v > 0 ? v : 0;
  }
}

/** Copies a template's rest range [k0, k1] into `dst`, scaled; false if it has no data there. */
function copyTemplate(t: Template, dst: Float64Array, k0: number, k1: number, scale: number, add = false): boolean {
  if (t.first > k0 || t.last < k1) return false;
  for (let k = k0; k <= k1; k++) {
    const v = t.flux[k]! * scale;
    dst[k] = add ? dst[k]! + v : v;
  }
  return true;
}

// ---------------------------------------------------------------------------------------- stars

export function renderTemplateStar(c: Canvas, rng: Random, ebv: number, set: TemplateSet): Rendered {
  resetCanvas(c);
  const p = poolsFor(set);
  // Radial velocity: thin/thick disc with a halo tail, as the physics stars.
  const rv = rng.uniform() < 0.05 ? rng.gauss(0, 150) : rng.gauss(-5, 35);
  const z = rv / C_KMS;
  const [k0, k1] = restRange(c, z);
  let subclass: string;
  if (rng.uniform() < 0.02 && set !== 'heldout') {
    // Cataclysmic variable: the mean CV spectrum with its first two eigen-modes.
    const [e0, e1, e2] = p.lib.cvEigen as [Template, Template, Template];
    const a1 = rng.gauss(0, 1);
    const a2 = rng.gauss(0, 1);
    for (let k = k0; k <= k1; k++) {
      const v = (e0.flux[k] ?? NaN) + a1 * (e1.flux[k] ?? 0) + a2 * (e2.flux[k] ?? 0);
      rest[k] = Number.isFinite(v) && v > 0 ? v : 0;
    }
    subclass = 'T:CV';
  } else {
    const t = p.stars[rng.int(p.stars.length)]!;
    copyTemplate(t, rest, k0, k1, 1);
    subclass = `T:${t.name}`;
  }
  for (let k = k0; k <= k1; k++) if (!Number.isFinite(rest[k]!)) rest[k] = 0;
  sampleOnto(c, rest, z);
  // Reddening along the line of sight beyond what the template star already had: O'Donnell (1994).
  const extra = Math.min(0.4, -0.06 * Math.log(1 - rng.uniform() * 0.99));
  for (let i = 0; i < c.flux.length; i++) c.flux[i]! *= 10 ** (-0.4 * extra * c.inst.dustK[i]!);
  return { redshift: z, subclass, ebv };
}

// ------------------------------------------------------------------------------------- galaxies

/** Emission-line part of each FSPS template: what stands above its running median (computed once). */
const lineParts = new Map<Template, Float32Array>();
function linePart(t: Template): Float32Array {
  let out = lineParts.get(t);
  if (out) return out;
  out = new Float32Array(LIB_LENGTH);
  const half = 20; // ±1 400 km/s: wider than narrow lines, narrower than continuum features
  const window: number[] = [];
  for (let k = t.first; k <= t.last; k++) {
    window.length = 0;
    for (let j = Math.max(t.first, k - half); j <= Math.min(t.last, k + half); j++) window.push(t.flux[j]!);
    window.sort((a, b) => a - b);
    const med = window[window.length >> 1]!;
    const excess = t.flux[k]! - med;
    out[k] = excess > 0 ? excess : 0;
  }
  lineParts.set(t, out);
  return out;
}

export function renderTemplateGalaxy(c: Canvas, rng: Random, ebv: number, set: TemplateSet, deep = 0): Rendered {
  resetCanvas(c);
  const p = poolsFor(set);
  const z = drawGalaxyRedshift(rng, deep);
  // Nebular line fluxes come from the continuum at Hα and [O II] even when those lie off the
  // grid, so that range is built too.
  const [g0, g1] = restRange(c, z);
  const k0 = Math.min(g0, Math.floor(libIndex(3600)));
  const k1 = Math.max(g1, Math.ceil(libIndex(6800)));
  let subclass: string;
  let sigmaKms: number;
  if (rng.uniform() < 0.5) {
    // FSPS: two neighbouring templates of the quiescent → star-forming sequence, mixed, with the
    // nebular lines rescaled (equivalent widths vary far more than the 12 templates span).
    const i = rng.int(p.fsps.length);
    const j = Math.min(p.fsps.length - 1, i + 1);
    const w = rng.uniform();
    const a = p.fsps[i]!;
    const b = p.fsps[j]!;
    const na = 1 / meanOver(a.flux, 5400, 5600);
    const nb = 1 / meanOver(b.flux, 5400, 5600);
    const la = linePart(a);
    const lb = linePart(b);
    const lineScale = Math.exp(rng.gauss(0, 0.6)) - 1;
    for (let k = k0; k <= k1; k++) {
      rest[k] = (1 - w) * na * (a.flux[k]! + lineScale * la[k]!) + w * nb * (b.flux[k]! + lineScale * lb[k]!);
    }
    sigmaKms = i < p.fsps.length / 3 ? rng.range(120, 300) : rng.range(50, 150);
    subclass = `T:${a.name}`;
    broaden(rest, rest2, k0, k1, Math.sqrt(Math.max(0, sigmaKms ** 2 - 60 ** 2)) / (LN_STEP * C_KMS));
  } else {
    // MaStar SSPs: an old population plus a young one carrying a fraction of the 5500 Å light,
    // Calzetti dust on the young light, nebular lines from galaxy.ts scaled to this continuum.
    const old = p.oldSsps[rng.int(p.oldSsps.length)]!;
    const young = p.youngSsps[rng.int(p.youngSsps.length)]!;
    const kind = rng.uniform();
    const type = kind < 0.45 ? 'PASSIVE' : kind < 0.85 ? 'STARFORMING' : kind < 0.93 ? 'STARBURST' : 'AGN';
    const fy = type === 'PASSIVE' ? rng.range(0, 0.05) : type === 'STARBURST' ? rng.range(0.5, 0.9) : type === 'AGN' ? rng.range(0.02, 0.4) : rng.range(0.08, 0.6);
    const ebvStars = type === 'PASSIVE' ? rng.range(0, 0.05) : rng.range(0, 0.3);
    const no = 1 / meanOver(old.flux, 5400, 5600);
    const ny = 1 / meanOver(young.flux, 5400, 5600);
    // The SSPs start at 3622 Å rest; bluer pixels (z ≳ 0.05) continue with the shape of the
    // most quiescent / most star-forming FSPS template, matched over 3650–3750 Å.
    const blueOld = extension(p.lib.fsps[0]!, old);
    const blueYoung = extension(p.lib.fsps[p.lib.fsps.length - 1]!, young);
    const k5500 = calzettiK(5500);
    for (let k = k0; k <= k1; k++) {
      const lo = k < old.first + 3 ? blueOld(k) : old.flux[k]!;
      const yo = k < young.first + 3 ? blueYoung(k) : young.flux[k]!;
      const dust = 10 ** (-0.4 * ebvStars * (calzettiK(libLambda(k)) - k5500));
      rest[k] = (1 - fy) * no * lo + fy * ny * yo * dust;
    }
    sigmaKms = type === 'PASSIVE' ? rng.range(120, 300) : rng.range(50, 150);
    broaden(rest, rest2, k0, k1, Math.sqrt(Math.max(0, sigmaKms ** 2 - 70 ** 2)) / (LN_STEP * C_KMS));
    subclass = `T:${type} ${old.name.replace('mastar-ssp MaStar-SSP-', '')}`;
    const continuumAt = (restLambda: number) => {
      const x = libIndex(restLambda);
      const k = Math.min(LIB_LENGTH - 2, Math.max(0, x | 0));
      return rest2[k]! + (rest2[k + 1]! - rest2[k]!) * (x - k);
    };
    if (type !== 'PASSIVE' || rng.uniform() < 0.3) {
      addNebularLines(c, rng, type, z, ebvStars, continuumAt);
    }
  }
  for (let k = k0; k <= k1; k++) if (!Number.isFinite(rest2[k]!)) rest2[k] = 0;
  sampleOnto(c, rest2, z);
  composeCanvas(c);
  return { redshift: z, subclass, ebv };
}

/** A function continuing `ssp` blueward of its coverage with the shape of `shape`. */
function extension(shape: Template, ssp: Template): (k: number) => number {
  const kj = ssp.first + 3;
  const scale = meanOver(ssp.flux, 3650, 3750) / meanOver(shape.flux, 3650, 3750);
  return (k: number) => (k >= kj ? ssp.flux[k]! : shape.flux[k]! * scale);
}

// ---------------------------------------------------------------------------------------- QSOs

/** QSO redshifts: 0.1–4.5, most at 0.8–3 as in optical QSO surveys, with a low-z share where the host shows. */
export function drawTemplateQsoRedshift(rng: Random): number {
  const u = rng.uniform();
  if (u < 0.25) return rng.range(0.1, 0.8);
  if (u < 0.8) return rng.range(0.8, 3);
  return rng.range(3, 4.5);
}

/** Becker et al. (2013) effective Lyα optical depth of the IGM at absorber redshift z. */
export function lyaTauEff(z: number): number {
  const t = 0.751 * ((1 + z) / 4.5) ** 2.9 - 0.132;
  return t > 0 ? t : 0;
}

const BAL_LINES = [
  { lambda: 1549.06, depth: 1 }, // C IV
  { lambda: 1396.76, depth: 0.7 }, // Si IV
  { lambda: 1240.14, depth: 0.8 }, // N V
];
const LOBAL_LINES = [
  { lambda: 2798.75, depth: 0.8 }, // Mg II
  { lambda: 1857.4, depth: 0.6 }, // Al III
];

export function renderTemplateQso(c: Canvas, rng: Random, ebv: number, set: TemplateSet): Rendered {
  resetCanvas(c);
  const p = poolsFor(set);
  const q = p.lib.qso;
  const z = drawTemplateQsoRedshift(rng);
  // The host is scaled to the QSO light at rest 4000–5000 Å, so that range is built too.
  const [g0, g1] = restRange(c, z);
  const k0 = Math.min(g0, Math.floor(libIndex(4000)));
  const k1 = Math.max(g1, Math.ceil(libIndex(5000)));
  let subclass = 'T:QSO';
  const composite = rng.uniform() < 0.25 ? p.composites[rng.int(p.composites.length)] : undefined;
  if (composite && composite.first <= k0 && composite.last >= k1) {
    // A composite (lines, Fe II, Balmer continuum of real quasars) with a continuum tilt.
    const tilt = rng.gauss(0, 0.5);
    for (let k = k0; k <= k1; k++) rest[k] = composite.flux[k]! * (libLambda(k) / 3000) ** tilt;
    subclass = `T:QSO ${composite.name.split(' ')[0]}`;
  } else {
    // qsogen: broken power law in f_ν (slopes drawn around the model's defaults), then emission
    // lines that keep their equivalent widths relative to the reference continuum.
    const s1 = rng.gauss(0.35, 0.3); // f_ν ∝ λ^s below 3880 Å
    const s2 = rng.gauss(-0.59, 0.3); // and above
    const s3 = s1 + 1; // steeper below 1200 Å
    const c1 = 1;
    const c2 = c1 * 3880 ** (s1 - s2);
    const c3 = c1 * 1200 ** (s1 - s3);
    const type = Math.min(3, Math.max(-2, rng.gauss(0, 0.8)));
    // Broad-line equivalent widths scatter by ~0.2 dex at fixed luminosity, more for Lyα, and
    // rise towards faint QSOs (the Baldwin effect): σ 0.5 in ln overall, Lyα its own 0.35 more.
    const strength = Math.exp(rng.gauss(0, 0.5));
    const lya = Math.exp(rng.gauss(0, 0.35));
    const narrow = Math.exp(rng.gauss(Math.log(2), 0.6));
    const halpha = Math.exp(rng.gauss(0, 0.25));
    const extreme = type >= 0 ? q.highEw : q.blueshift;
    const v = Math.abs(type);
    for (let k = k0; k <= k1; k++) {
      const l = libLambda(k);
      const fnu = l < 1200 ? c3 * l ** s3 : l < 3880 ? c1 * l ** s1 : c2 * l ** s2;
      const continuum = fnu / (l * l);
      let line = v * (extreme[k] ?? 0) + (1 - v) * (q.median[k] ?? 0) + (narrow - 1) * (q.narrow[k] ?? 0);
      if (l > 6000 && l < 7000) line *= halpha;
      else if (l < 1350) line *= lya;
      const ref = q.continuum[k]!;
      const f = continuum * (1 + (Number.isFinite(ref) && ref > 0 && Number.isFinite(line) ? (strength * line) / ref : 0));
      rest[k] = f > 0 ? f : 0;
    }
    subclass = type > 1 ? 'T:QSO high-EW' : type < -1 ? 'T:QSO blueshifted' : 'T:QSO';
  }
  // Quasar reddening (qsogen's extinction curve, A(λ)/E(B−V) = E(λ−V)/E(B−V) + 3.1).
  const ebvQso = Math.min(0.4, -0.04 * Math.log(1 - rng.uniform() * 0.99));
  for (let k = k0; k <= k1; k++) {
    const e = q.extinction[k]!;
    if (Number.isFinite(e)) rest[k]! *= 10 ** (-0.4 * ebvQso * (e + 3.1));
  }
  // Broad absorption troughs (~10 % of optically selected QSOs), LoBALs a seventh of those.
  if (rng.uniform() < 0.1) {
    const vMin = rng.range(0, 5000);
    const width = rng.range(2000, 12000);
    const depth = rng.range(0.3, 0.95);
    const lines = rng.uniform() < 0.15 ? [...BAL_LINES, ...LOBAL_LINES] : BAL_LINES;
    for (const line of lines) {
      const hi = line.lambda * (1 - vMin / C_KMS);
      const lo = line.lambda * (1 - (vMin + width) / C_KMS);
      const edge = 0.15 * (hi - lo);
      for (let k = Math.max(k0, Math.floor(libIndex(lo))); k <= Math.min(k1, Math.ceil(libIndex(hi))); k++) {
        const l = libLambda(k);
        const inside = Math.min(1, Math.max(0, Math.min(l - lo, hi - l) / edge));
        rest[k]! *= 1 - depth * line.depth * inside;
      }
    }
    subclass = `${subclass} BAL`;
  }
  // Host galaxy: a fraction of the rest 4000–5000 Å light, large only at low z.
  const hostFraction = z < 0.3 ? (rng.uniform() < 0.9 ? rng.range(0.05, 0.85) : 0) : z < 0.8 ? rng.range(0, 0.4) : rng.range(0, 0.08);
  if (hostFraction > 0) {
    const useFsps = rng.uniform() < 0.5 && p.fsps.length > 0;
    const host = useFsps ? p.fsps[rng.int(Math.max(1, Math.floor(p.fsps.length / 2)))]!.flux : q.host;
    const scale = ((hostFraction / (1 - hostFraction)) * meanOver(rest, 4000, 5000)) / meanOver(host, 4000, 5000);
    for (let k = k0; k <= k1; k++) {
      const h = host[k]!;
      if (Number.isFinite(h)) rest[k]! += scale * h;
    }
    if (hostFraction > 0.4) subclass = `${subclass} host`;
  }
  // IGM: Lyα (and Lyβ) forest with pixel-to-pixel fluctuations around the mean optical depth; no
  // flux below the Lyman limit.
  const kLya = libIndex(1215.67);
  if (k0 < kLya) {
    const sigma = 0.9;
    for (let k = k0; k <= Math.min(k1, Math.floor(kLya)); k++) {
      const l = libLambda(k);
      if (l < 912) {
        rest[k] = 0;
        continue;
      }
      let tau = lyaTauEff(((1 + z) * l) / 1215.67 - 1);
      if (l < 1025.72) tau += 0.16 * lyaTauEff(((1 + z) * l) / 1025.72 - 1);
      rest[k]! *= Math.exp(-tau * Math.exp(sigma * rng.normal() - 0.5 * sigma * sigma));
    }
  }
  for (let k = k0; k <= k1; k++) if (!Number.isFinite(rest[k]!)) rest[k] = 0;
  sampleOnto(c, rest, z);
  return { redshift: z, subclass, ebv };
}
