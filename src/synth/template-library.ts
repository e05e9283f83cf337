/**
 * The real-spectrum-based template libraries bundled in data/templates (sources and licences in
 * data/templates/README.md), loaded once per process onto one rest-frame log-λ grid:
 * Δlog10 λ = 1e-4 (69 km/s, the SDSS and LAMOST native pixel) from 600 to 12 000 Å. Pixels a
 * template does not cover are NaN, so a renderer can tell "no data" from flux.
 *
 * Every template carries a `heldOut` flag: the leave-templates-out split. Training surveys
 * (`--templates train`) never draw a held-out template; `--templates heldout` draws only those,
 * so a model can be scored on spectra built from templates it never saw.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { AstrospecError } from '../errors.js';
import { headerNumber, headerString, readBigEndianFloats, readHdus } from '../io/fits-hdu.js';

export const LN_STEP = 1e-4 * Math.LN10;
export const LN_START = Math.log(600);
export const LIB_LENGTH = Math.ceil((Math.log(12000) - LN_START) / LN_STEP) + 1;

/** Rest wavelength (Å) of library pixel k. */
export function libLambda(k: number): number {
  return Math.exp(LN_START + LN_STEP * k);
}

/** Library pixel position (fractional) of rest wavelength λ (Å). */
export function libIndex(lambda: number): number {
  return (Math.log(lambda) - LN_START) / LN_STEP;
}

export interface Template {
  name: string;
  /** Library family, e.g. 'sdss-star', 'mastar-hc', 'fsps', 'mastar-ssp'. */
  family: string;
  flux: Float32Array;
  /** First and last covered pixel. */
  first: number;
  last: number;
  heldOut: boolean;
}

export interface QsoIngredients {
  /** qsogen emission-line templates (Temple et al. 2021) on the library grid: median, reference continuum, high-EW, high-blueshift, narrow lines. */
  median: Float32Array;
  continuum: Float32Array;
  highEw: Float32Array;
  blueshift: Float32Array;
  narrow: Float32Array;
  /** Quasar extinction curve E(λ−V)/E(B−V) (qsogen pl_ext_comp_03). */
  extinction: Float32Array;
  /** Host galaxy (SWIRE S0, as qsogen uses). */
  host: Float32Array;
  /** Composite quasar spectra (Vanden Berk et al. 2001; Selsing et al. 2016). */
  composites: Template[];
}

export interface TemplateLibrary {
  directory: string;
  stars: Template[];
  /** Cataclysmic-variable eigenspectra (SDSS spEigenCVstar): row 0 is the mean CV spectrum. */
  cvEigen: Template[];
  /** Galaxy templates with lines and dust (FSPS, eazy QSF_12 set), ordered quiescent → star-forming. */
  fsps: Template[];
  /** MaStar simple stellar populations with their age (Gyr) and log Z/Z☉. */
  ssps: (Template & { ageGyr: number; logZ: number })[];
  qso: QsoIngredients;
}

/** Where the bundled templates live: <package>/data/templates (this file is src/synth or dist/synth). */
export function defaultTemplateDirectory(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data', 'templates');
}

function fitsBytes(path: string): Uint8Array {
  const raw = readFileSync(path);
  return raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
}

/** Linear interpolation of a log10-λ-sampled row onto the library grid (NaN outside, or where the row is not finite). */
function fromLog10Row(values: Float64Array, log10Start: number, log10Step: number): { flux: Float32Array; first: number; last: number } {
  const flux = new Float32Array(LIB_LENGTH).fill(NaN);
  let first = -1;
  let last = -1;
  for (let k = 0; k < LIB_LENGTH; k++) {
    const x = ((LN_START + LN_STEP * k) / Math.LN10 - log10Start) / log10Step;
    if (x < 0 || x > values.length - 1) continue;
    const i = Math.min(values.length - 2, Math.floor(x));
    const t = x - i;
    const v = values[i]! * (1 - t) + values[i + 1]! * t;
    if (!Number.isFinite(v)) continue;
    flux[k] = v;
    if (first < 0) first = k;
    last = k;
  }
  return { flux, first, last };
}

/**
 * Resamples (λ, f) pairs (λ increasing, any spacing) onto the library grid: the mean of the
 * samples inside a library pixel where it holds any (so fine-sampled templates are not
 * aliased), else linear interpolation between the neighbours.
 */
function fromTable(lambda: Float64Array, values: Float64Array): { flux: Float32Array; first: number; last: number } {
  const flux = new Float32Array(LIB_LENGTH).fill(NaN);
  const n = lambda.length;
  let first = -1;
  let last = -1;
  let j = 0;
  for (let k = 0; k < LIB_LENGTH; k++) {
    const lo = Math.exp(LN_START + LN_STEP * (k - 0.5));
    const hi = Math.exp(LN_START + LN_STEP * (k + 0.5));
    const mid = libLambda(k);
    if (mid < lambda[0]! || mid > lambda[n - 1]!) continue;
    while (j < n && lambda[j]! < lo) j++;
    let sum = 0;
    let count = 0;
    for (let i = j; i < n && lambda[i]! < hi; i++) {
      sum += values[i]!;
      count++;
    }
    let v: number;
    if (count > 0) v = sum / count;
    else {
      let i = Math.max(1, j);
      while (i < n - 1 && lambda[i]! < mid) i++;
      const t = (mid - lambda[i - 1]!) / (lambda[i]! - lambda[i - 1]!);
      v = values[i - 1]! * (1 - t) + values[i]! * t;
    }
    if (!Number.isFinite(v)) continue;
    flux[k] = v;
    if (first < 0) first = k;
    last = k;
  }
  return { flux, first, last };
}

function readColumns(path: string, columns: number): Float64Array[] {
  const out: number[][] = Array.from({ length: columns }, () => []);
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const parts = t.split(/\s+/).map(Number);
    if (parts.length < columns || parts.some((v, i) => i < columns && !Number.isFinite(v))) continue;
    for (let c = 0; c < columns; c++) out[c]!.push(parts[c]!);
  }
  return out.map((c) => Float64Array.from(c));
}

/** SDSS template images: one spectrum per row, λ = 10^(COEFF0 + COEFF1·i). */
function readSdssImage(path: string): { rows: Float64Array[]; coeff0: number; coeff1: number; names: string[] } {
  const bytes = fitsBytes(path);
  const hdu = readHdus(bytes, path)[0]!;
  const h = hdu.header;
  const width = headerNumber(h, 'NAXIS1') ?? 0;
  const height = headerNumber(h, 'NAXIS') === 1 ? 1 : (headerNumber(h, 'NAXIS2') ?? 0);
  const size = headerNumber(h, 'BITPIX') === -64 ? 8 : 4;
  const rows: Float64Array[] = [];
  const names: string[] = [];
  for (let r = 0; r < height; r++) {
    rows.push(readBigEndianFloats(bytes, hdu.dataOffset + r * width * size, width, size));
    names.push((headerString(h, `NAME${r}`) ?? `${r}`).trim());
  }
  const coeff0 = headerNumber(h, 'COEFF0') ?? headerNumber(h, 'CRVAL1') ?? NaN;
  const coeff1 = headerNumber(h, 'COEFF1') ?? headerNumber(h, 'CDELT1') ?? NaN;
  return { rows, coeff0, coeff1, names };
}

/** Held out for the leave-templates-out test: every fourth template of a family, by sorted position. */
function heldOutByPosition(index: number): boolean {
  return index % 4 === 3;
}

let cached: TemplateLibrary | undefined;

/** The bundled library (or one at `directory`), loaded once. */
export function loadTemplateLibrary(directory = defaultTemplateDirectory()): TemplateLibrary {
  if (cached && cached.directory === directory) return cached;
  if (!existsSync(directory)) {
    throw new AstrospecError('IO', 'template library not found: the package ships it in data/templates', { file: directory });
  }
  try {
    cached = buildLibrary(directory);
  } catch (error) {
    if (error instanceof AstrospecError) throw error;
    throw new AstrospecError('BAD_INPUT', `template library: ${(error as Error).message}`, { file: directory }, { cause: error });
  }
  return cached;
}

function buildLibrary(directory: string): TemplateLibrary {
  const stars: Template[] = [];
  // SDSS stellar templates: 123 real-spectrum templates O8–M8, WDs, carbon stars, L dwarfs.
  // Rows that don't cover the rest range a star needs (3700–9100 Å) are skipped.
  const eigenStar = readSdssImage(join(directory, 'stars', 'spEigenStar-55734.fits'));
  const need = [Math.floor(libIndex(3700)), Math.ceil(libIndex(9100))] as const;
  let kept = 0;
  eigenStar.rows.forEach((row, r) => {
    const t = fromLog10Row(row, eigenStar.coeff0, eigenStar.coeff1);
    if (!covers(t, need[0], need[1])) return;
    stars.push({ name: `sdss ${eigenStar.names[r]}`, family: 'sdss-star', ...t, heldOut: heldOutByPosition(kept++) });
  });
  // MaStar hierarchically clustered mean spectra (Yan et al. 2019 library).
  const hcDir = join(directory, 'stars', 'mastarhc_v2');
  readdirSync(hcDir)
    .filter((f) => /\.fits(\.gz)?$/.test(f))
    .sort()
    .forEach((f, i) => {
      const s = readSdssImage(join(hcDir, f));
      const t = fromLog10Row(s.rows[0]!, s.coeff0, s.coeff1);
      if (!covers(t, need[0], need[1])) return;
      stars.push({ name: `mastar ${f.replace(/\.fits(\.gz)?$/, '')}`, family: 'mastar-hc', ...t, heldOut: heldOutByPosition(i) });
    });
  const cv = readSdssImage(join(directory, 'stars', 'spEigenCVstar-55734.fits'));
  const cvEigen = cv.rows.map((row, r) => ({ name: `cv eigen ${r}`, family: 'sdss-cv', ...fromLog10Row(row, cv.coeff0, cv.coeff1), heldOut: false }));

  const fspsDir = join(directory, 'galaxies', 'eazy_fsps_QSF_12_v3');
  const fsps = readdirSync(fspsDir)
    .filter((f) => f.endsWith('.dat'))
    .sort()
    .map((f, i) => {
      const [l, v] = readColumns(join(fspsDir, f), 2) as [Float64Array, Float64Array];
      return { name: `fsps ${f.replace('.dat', '')}`, family: 'fsps', ...fromTable(l, v), heldOut: heldOutByPosition(i) };
    });
  const sspDir = join(directory, 'galaxies', 'mastar_ssp_v1.0');
  const sspFiles = readdirSync(sspDir).filter((f) => /^MaStar-SSP-A[\d.]+-Z[+-][\d.]+\.fits(\.gz)?$/.test(f)).sort();
  const metallicities = [...new Set(sspFiles.map((f) => Number(/-Z([+-][\d.]+)\./.exec(f)![1])))].sort((a, b) => a - b);
  const ssps = sspFiles.map((f) => {
    const s = readSdssImage(join(sspDir, f));
    const ageGyr = Number(/-A([\d.]+)-/.exec(f)![1]);
    const logZ = Number(/-Z([+-][\d.]+)\./.exec(f)![1]);
    // Held out by metallicity, so a held-out SSP mixture is a population never seen in training.
    return { name: `mastar-ssp ${f.replace(/\.fits(\.gz)?$/, '')}`, family: 'mastar-ssp', ...fromLog10Row(s.rows[0]!, s.coeff0, s.coeff1), heldOut: heldOutByPosition(metallicities.indexOf(logZ)), ageGyr, logZ };
  });

  const q = join(directory, 'qso');
  const [lw, med, con, pky, wdy, nlr] = readColumns(join(q, 'qsogen', 'qsosed_emlines_20210625.dat'), 6) as Float64Array[];
  const onGrid = (values: Float64Array) => fromTable(lw!, values).flux;
  const [ew, ext] = readColumns(join(q, 'qsogen', 'pl_ext_comp_03.sph'), 2) as [Float64Array, Float64Array];
  const [hw, hf] = readColumns(join(q, 'qsogen', 'S0_template_norm.sed'), 2) as [Float64Array, Float64Array];
  const [vw, vf] = readColumns(join(q, 'VandenBerk2001.dat'), 2) as [Float64Array, Float64Array];
  const [sw, sf] = readColumns(join(q, 'Selsing2015.dat'), 2) as [Float64Array, Float64Array];
  const composites: Template[] = [
    { name: 'Vanden Berk et al. 2001 composite', family: 'qso-composite', ...fromTable(vw, vf), heldOut: false },
    { name: 'Selsing et al. 2016 composite', family: 'qso-composite', ...fromTable(sw, sf), heldOut: true },
  ];
  const qso: QsoIngredients = {
    median: onGrid(med!),
    continuum: onGrid(con!),
    highEw: onGrid(pky!),
    blueshift: onGrid(wdy!),
    narrow: onGrid(nlr!),
    extinction: fromTable(ew, ext).flux,
    host: fromTable(hw, hf).flux,
    composites,
  };
  if (stars.length === 0 || fsps.length === 0 || ssps.length === 0) throw new AstrospecError('BAD_INPUT', 'template library is incomplete', { file: directory });
  return { directory, stars, cvEigen, fsps, ssps, qso };
}

function covers(t: { flux: Float32Array; first: number; last: number }, k0: number, k1: number): boolean {
  if (t.first < 0 || t.first > k0 || t.last < k1) return false;
  // Rows padded with zeros (no data) or negative flux are not usable spectra.
  let bad = 0;
  for (let k = k0; k <= k1; k++) if (!(t.flux[k]! > 0)) bad++;
  return bad < 0.01 * (k1 - k0);
}

/** The templates of a list a survey may draw from. */
export function selectTemplates<T extends Template>(list: readonly T[], set: TemplateSet): T[] {
  if (set === 'all') return [...list];
  return list.filter((t) => (set === 'heldout' ? t.heldOut : !t.heldOut));
}

export type TemplateSet = 'all' | 'train' | 'heldout';
