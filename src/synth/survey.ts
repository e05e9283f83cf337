/**
 * The synthetic LAMOST-like survey: stars, galaxies and QSOs in a chosen mix, each drawn by its
 * class model and observed through the calibrated instrument. Spectrum i of a survey depends only
 * on (seed, i): the same options always give the same bytes, whatever the batch size.
 */
import { AstrospecError } from '../errors.js';
import { COMPETITION_GRID, type SpectrumBatch, type WavelengthGrid } from '../io/batch.js';
import { createCanvas, type Canvas, type Rendered } from './canvas.js';
import { renderGalaxy } from './galaxy.js';
import { instrumentFor } from './instrument.js';
import { renderQso } from './qso.js';
import { Random } from './random.js';
import { renderStar } from './star.js';
import type { TemplateSet } from './template-library.js';
import { renderTemplateGalaxy, renderTemplateQso, renderTemplateStar } from './template-models.js';

export interface SurveyOptions {
  /** Number of spectra. */
  n: number;
  /** Default 1. */
  seed?: number;
  /** Fractions of star, galaxy, qso (normalised). Default 0.84 / 0.12 / 0.04. */
  mix?: readonly [number, number, number];
  /** Header-style r-band S/N range, drawn log-uniform. Default [2, 100]. */
  snrRange?: readonly [number, number];
  grid?: WavelengthGrid;
  /** Rows per batch. Default 1024. */
  batchSize?: number;
  /**
   * Which class models draw the spectra: the physics models ('physics', the default), the
   * real-spectrum templates ('templates'), or both ('mixed', templateFraction from templates).
   */
  generator?: Generator;
  /** Share of template spectra in a 'mixed' survey. Default 0.6. */
  templateFraction?: number;
  /** Which templates a template spectrum may use: all, the training share, or only the held-out ones. Default 'all'. */
  templates?: TemplateSet;
  /**
   * Share of galaxies drawn at z 0.5–1.45 (BOSS/eBOSS depths) instead of the LAMOST-like
   * distribution (galaxy.ts drawGalaxyRedshift). Default 0.
   */
  deepGalaxies?: number;
}

export type Generator = 'physics' | 'templates' | 'mixed';
export const GENERATORS: readonly Generator[] = ['physics', 'templates', 'mixed'];
export const TEMPLATE_SETS: readonly TemplateSet[] = ['all', 'train', 'heldout'];

export const DEFAULT_MIX: readonly [number, number, number] = [0.84, 0.12, 0.04];
export const DEFAULT_SNR_RANGE: readonly [number, number] = [2, 100];
/** Per-row float columns every synthetic batch carries in `extra`. */
export const SURVEY_EXTRA_COLUMNS = ['snr', 'redshift'] as const;

type Renderer = (c: Canvas, rng: Random, ebv: number, o: DrawOptions) => Rendered;
const RENDERERS: Renderer[] = [renderStar, (c, rng, ebv, o) => renderGalaxy(c, rng, ebv, o.deepGalaxies), renderQso];
const TEMPLATE_RENDERERS: Renderer[] = [
  (c, rng, ebv, o) => renderTemplateStar(c, rng, ebv, o.templates),
  (c, rng, ebv, o) => renderTemplateGalaxy(c, rng, ebv, o.templates, o.deepGalaxies),
  (c, rng, ebv, o) => renderTemplateQso(c, rng, ebv, o.templates),
];

export type ValidSurveyOptions = ReturnType<typeof validateSurveyOptions>;

export function validateSurveyOptions(options: SurveyOptions): Required<Omit<SurveyOptions, 'grid'>> & { grid: WavelengthGrid } {
  const generator = options.generator ?? 'physics';
  if (!GENERATORS.includes(generator)) throw new AstrospecError('BAD_ARGUMENT', `generator must be one of ${GENERATORS.join(', ')}, got ${String(generator)}`);
  const templates = options.templates ?? 'all';
  if (!TEMPLATE_SETS.includes(templates)) throw new AstrospecError('BAD_ARGUMENT', `templates must be one of ${TEMPLATE_SETS.join(', ')}, got ${String(templates)}`);
  const templateFraction = options.templateFraction ?? 0.6;
  if (!(templateFraction >= 0 && templateFraction <= 1)) throw new AstrospecError('BAD_ARGUMENT', `templateFraction must be in [0, 1], got ${templateFraction}`);
  const deepGalaxies = options.deepGalaxies ?? 0;
  if (!(deepGalaxies >= 0 && deepGalaxies <= 1)) throw new AstrospecError('BAD_ARGUMENT', `deepGalaxies must be in [0, 1], got ${deepGalaxies}`);
  const { n } = options;
  if (!(Number.isInteger(n) && n >= 0)) throw new AstrospecError('BAD_ARGUMENT', `n must be a non-negative integer, got ${n}`);
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new AstrospecError('BAD_ARGUMENT', `seed must be an integer, got ${seed}`);
  const mix = options.mix ?? DEFAULT_MIX;
  if (mix.length !== 3 || mix.some((x) => !(x >= 0 && Number.isFinite(x))) || mix[0] + mix[1] + mix[2] <= 0) {
    throw new AstrospecError('BAD_ARGUMENT', `mix must be three non-negative numbers (star, galaxy, qso) with a positive sum, got ${mix.join(',')}`);
  }
  const total = mix[0] + mix[1] + mix[2];
  const snrRange = options.snrRange ?? DEFAULT_SNR_RANGE;
  if (!(snrRange[0] > 0 && snrRange[1] >= snrRange[0] && Number.isFinite(snrRange[1]))) {
    throw new AstrospecError('BAD_ARGUMENT', `snrRange must satisfy 0 < min ≤ max, got ${snrRange.join(',')}`);
  }
  const batchSize = options.batchSize ?? 1024;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new AstrospecError('BAD_ARGUMENT', `batchSize must be a positive integer, got ${batchSize}`);
  const grid = options.grid ?? COMPETITION_GRID;
  if (!(grid.length > 0 && grid.step > 0)) throw new AstrospecError('BAD_ARGUMENT', 'grid must have a positive length and step');
  return { n, seed, mix: [mix[0] / total, mix[1] / total, mix[2] / total] as const, snrRange, batchSize, grid, generator, templates, templateFraction, deepGalaxies };
}

/** What drawSpectrum needs of the survey options. */
export type DrawOptions = Pick<ValidSurveyOptions, 'mix' | 'snrRange' | 'generator' | 'templates' | 'templateFraction' | 'deepGalaxies'>;

/** Milky Way foreground E(B−V): the same distribution for every class, so dust says nothing about the class. */
function drawForegroundEbv(rng: Random): number {
  return Math.min(0.5, -0.08 * Math.log(1 - rng.uniform() * 0.99));
}

/**
 * Draws spectrum `index` of survey `seed` into `flux` / `bad` (grid.length each). Returns its
 * label, S/N, redshift and subclass; `canvas.flux` keeps the noiseless class model. The label,
 * S/N, foreground dust and instrument are drawn the same way whatever the class, so nothing but
 * the class model itself tells the classes apart.
 */
export function drawSpectrum(
  canvas: Canvas,
  seed: number,
  index: number,
  o: DrawOptions,
  flux: Float32Array,
  bad: Uint8Array,
  rng: Random = new Random(seed, index),
): { label: number; snr: number; rendered: Rendered } {
  rng.reseed(seed, index);
  const u = rng.uniform();
  const label = u < o.mix[0] ? 0 : u < o.mix[0] + o.mix[1] ? 1 : 2;
  const snr = rng.logUniform(o.snrRange[0], o.snrRange[1]);
  const ebv = drawForegroundEbv(rng);
  const fromTemplates = rng.uniform() < (o.generator === 'templates' ? 1 : o.generator === 'mixed' ? o.templateFraction : 0);
  const rendered = fromTemplates ? TEMPLATE_RENDERERS[label]!(canvas, rng, ebv, o) : RENDERERS[label]!(canvas, rng, ebv, o);
  canvas.inst.observe(canvas.flux, snr, rendered.ebv, rng, flux, bad, canvas.work);
  return { label, snr, rendered };
}

/** The survey as batches; deterministic from options.seed. */
export function* generateSurvey(options: SurveyOptions): Iterable<SpectrumBatch> {
  const o = validateSurveyOptions(options);
  const canvas = createCanvas(instrumentFor(o.grid));
  const rng = new Random(o.seed, 0);
  const n = o.grid.length;
  for (let first = 0; first < o.n; first += o.batchSize) {
    const rows = Math.min(o.batchSize, o.n - first);
    const batch: SpectrumBatch = {
      ids: new Array<string>(rows),
      flux: new Float32Array(rows * n),
      grid: o.grid,
      labels: new Int8Array(rows),
      badPixels: new Uint8Array(rows * n),
      firstRow: first,
      extra: { snr: new Float32Array(rows), redshift: new Float32Array(rows) },
      tags: { subclass: new Array<string>(rows) },
    };
    for (let r = 0; r < rows; r++) {
      const index = first + r;
      const { label, snr, rendered } = drawSpectrum(canvas, o.seed, index, o, batch.flux.subarray(r * n, (r + 1) * n), batch.badPixels!.subarray(r * n, (r + 1) * n), rng);
      batch.ids[r] = `synth-${o.seed}-${index}`;
      batch.labels![r] = label;
      batch.extra!.snr![r] = snr;
      batch.extra!.redshift![r] = rendered.redshift;
      batch.tags!.subclass![r] = rendered.subclass;
    }
    yield batch;
  }
}
