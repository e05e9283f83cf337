/**
 * Spectra that are not stars, galaxies or QSOs, for measuring the out-of-distribution flag
 * (docs/ood.md): what a survey's pipeline hands over when something went wrong.
 *
 * - sky: an unsubtracted night-sky spectrum (a sky fibre): a faint continuum rising to the red,
 *   the night-sky lines of src/synth/instrument.ts SKY_LINES plus a forest of OH lines beyond
 *   6800 Å, at LAMOST's resolution, with photon noise.
 * - sky_residual: a sky-subtracted blank fibre: zero-mean noise, stronger at the sky lines, with
 *   over- or under-subtracted residuals there.
 * - noise: zero-mean white Gaussian noise.
 * - flat: a constant with noise (S/N 5–100).
 * - step: two constant levels (ratio 1.5–5 either way) split at 4500–8500 Å, with noise.
 * - wrong_scale: synthetic stars, galaxies and QSOs whose wavelength axis is wrong: written in
 *   reverse order, or stretched about the blue end by 2–3 (a dispersion read wrongly).
 * - masked: synthetic stars, galaxies and QSOs with 85–95 % of the pixels masked (zero flux, which
 *   the readers and preprocessing treat as "no data"), the rest in a few windows.
 *
 * As a script: `node --import tsx scripts/ood-families.ts <dir> [n] [seed]` writes <family>.arrow.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SpectrumBatch, WavelengthGrid } from '../src/io/batch.js';
import { createSpectraSink } from '../src/io/sink.js';
import { airToVacuum, SKY_LINES } from '../src/synth/instrument.js';
import { Random } from '../src/synth/random.js';
import { generateSurvey } from '../src/synth/survey.js';

export const OOD_FAMILIES = ['sky', 'sky_residual', 'noise', 'flat', 'step', 'wrong_scale', 'masked'] as const;
export type OodFamily = (typeof OOD_FAMILIES)[number];

/** LAMOST's resolving power (R ≈ 1800): Gaussian σ of a line at λ. */
const lineSigma = (lambda: number) => lambda / 1800 / 2.3548;

function addLine(flux: Float64Array, grid: WavelengthGrid, center: number, amplitude: number): void {
  const sigma = lineSigma(center);
  const i0 = Math.max(0, Math.floor((center - 5 * sigma - grid.start) / grid.step));
  const i1 = Math.min(grid.length - 1, Math.ceil((center + 5 * sigma - grid.start) / grid.step));
  for (let i = i0; i <= i1; i++) {
    const x = (grid.start + grid.step * i - center) / sigma;
    flux[i]! += amplitude * Math.exp(-0.5 * x * x);
  }
}

/** Sky-line centres on the grid: the named lines and an OH forest beyond 6800 Å (fixed per seed). */
function skyLineCentres(rng: Random, grid: WavelengthGrid): number[] {
  const end = grid.start + grid.step * (grid.length - 1);
  const centres = SKY_LINES.map((l) => airToVacuum(l.air));
  for (let k = 0; k < 80; k++) centres.push(rng.range(6800, end));
  return centres;
}

function inDistribution(n: number, seed: number, grid: WavelengthGrid): Float32Array {
  const out = new Float32Array(n * grid.length);
  let at = 0;
  for (const batch of generateSurvey({ n, seed, grid, generator: 'mixed', snrRange: [3, 100], mix: [0.5, 0.25, 0.25] })) {
    out.set(batch.flux, at);
    at += batch.flux.length;
  }
  return out;
}

/** `n` spectra of one family on `grid`, deterministic from `seed`. */
export function oodFamily(family: OodFamily, n: number, seed: number, grid: WavelengthGrid): SpectrumBatch {
  const L = grid.length;
  const rng = new Random(seed, OOD_FAMILIES.indexOf(family) + 1);
  const flux = new Float32Array(n * L);
  const row = new Float64Array(L);
  const lambda = (i: number) => grid.start + grid.step * i;
  const centres = skyLineCentres(new Random(seed, 99), grid);
  const base = family === 'wrong_scale' || family === 'masked' ? inDistribution(n, seed + 1000, grid) : undefined;
  for (let r = 0; r < n; r++) {
    row.fill(0);
    switch (family) {
      case 'sky': {
        const level = rng.logUniform(0.1, 10);
        for (let i = 0; i < L; i++) row[i] = level * (0.4 + 0.6 * (lambda(i) - grid.start) / (L * grid.step));
        for (const c of centres) addLine(row, grid, c, level * rng.logUniform(2, 60));
        const gain = rng.logUniform(0.5, 50); // photons per flux unit
        for (let i = 0; i < L; i++) row[i]! += Math.sqrt(Math.max(row[i]!, 0) / gain) * rng.normal();
        break;
      }
      case 'sky_residual': {
        const sigma = rng.logUniform(0.01, 10);
        const boost = new Float64Array(L);
        for (const c of centres) addLine(boost, grid, c, rng.logUniform(2, 10));
        for (let i = 0; i < L; i++) row[i] = sigma * (1 + boost[i]!) * rng.normal();
        for (const c of centres) addLine(row, grid, c, sigma * rng.gauss(0, 5));
        break;
      }
      case 'noise': {
        const sigma = rng.logUniform(1e-3, 1e3);
        for (let i = 0; i < L; i++) row[i] = sigma * rng.normal();
        break;
      }
      case 'flat':
      case 'step': {
        const level = rng.logUniform(0.01, 100);
        const snr = rng.logUniform(5, 100);
        const split = family === 'step' ? rng.range(4500, 8500) : Number.POSITIVE_INFINITY;
        const ratio = rng.logUniform(1.5, 5) ** (rng.uniform() < 0.5 ? 1 : -1);
        for (let i = 0; i < L; i++) row[i] = (lambda(i) < split ? level : level * ratio) * (1 + rng.normal() / snr);
        break;
      }
      case 'wrong_scale': {
        const src = base!.subarray(r * L, (r + 1) * L);
        if (r % 2 === 0) {
          for (let i = 0; i < L; i++) row[i] = src[L - 1 - i]!;
        } else {
          // Pixel i shows the flux at pixel i / s of the true spectrum (linear interpolation).
          const s = rng.range(2, 3);
          for (let i = 0; i < L; i++) {
            const x = i / s;
            const k = Math.floor(x);
            row[i] = src[k]! + (src[Math.min(k + 1, L - 1)]! - src[k]!) * (x - k);
          }
        }
        break;
      }
      case 'masked': {
        const src = base!.subarray(r * L, (r + 1) * L);
        const keep = rng.range(0.05, 0.15) * L;
        const windows = 1 + rng.int(4);
        for (let w = 0; w < windows; w++) {
          const width = Math.round(keep / windows);
          const at = rng.int(L - width);
          for (let i = at; i < at + width; i++) row[i] = src[i]!;
        }
        break;
      }
    }
    for (let i = 0; i < L; i++) flux[r * L + i] = row[i]!;
  }
  return { ids: Array.from({ length: n }, (_, r) => `${family}-${seed}-${r}`), flux, grid, firstRow: 0 };
}

async function main(): Promise<void> {
  const [dir, nText = '1000', seedText = '7'] = process.argv.slice(2);
  if (!dir) throw new Error('usage: ood-families.ts <dir> [n] [seed]');
  const grid: WavelengthGrid = { start: 3800, step: 2, length: 2600 };
  await mkdir(dir, { recursive: true });
  for (const family of OOD_FAMILIES) {
    const sink = await createSpectraSink(join(dir, `${family}.arrow`), { grid, hasLabels: false });
    await sink.write(oodFamily(family, Number(nText), Number(seedText), grid));
    await sink.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
