/**
 * One spectrum drawn on its own (`astrospec plot`): flux, the fitted Wien curve and bad pixels,
 * as a standalone SVG or a small HTML page around it.
 */
import { AstrospecError } from '../errors.js';
import { CLASS_NAMES, gridWavelengths, NO_LABEL, type SpectrumBatch, type WavelengthGrid } from '../io/batch.js';
import { openSpectra } from '../io/open.js';
import { renderChart, spectrumSpec } from './charts.js';
import { escapeHtml, page } from './html.js';
import { fitWienCurves } from './wien.js';

export interface FoundSpectrum {
  file: string;
  row: number;
  id: string;
  grid: WavelengthGrid;
  flux: Float32Array;
  badPixels?: Uint8Array;
  label: number;
  extra: Record<string, number>;
  tags: Record<string, string>;
}

function take(file: string, batch: SpectrumBatch, j: number): FoundSpectrum {
  const length = batch.grid.length;
  return {
    file,
    row: batch.firstRow + j,
    id: batch.ids[j]!,
    grid: batch.grid,
    flux: batch.flux.slice(j * length, (j + 1) * length),
    badPixels: batch.badPixels?.slice(j * length, (j + 1) * length),
    label: batch.labels ? batch.labels[j]! : NO_LABEL,
    extra: Object.fromEntries(Object.entries(batch.extra ?? {}).map(([k, v]) => [k, v[j]!])),
    tags: Object.fromEntries(Object.entries(batch.tags ?? {}).map(([k, v]) => [k, v[j]!])),
  };
}

/** Finds one spectrum by 0-based row or by id (the first row with that id), reading only as far as needed. */
export async function findSpectrum(input: string | string[], where: { row?: number; id?: string }): Promise<FoundSpectrum> {
  const file = typeof input === 'string' ? input : input.join(', ');
  if ((where.row === undefined) === (where.id === undefined)) throw new AstrospecError('BAD_ARGUMENT', 'give exactly one of --row and --id');
  if (where.row !== undefined && (!Number.isSafeInteger(where.row) || where.row < 0)) throw new AstrospecError('BAD_ARGUMENT', `--row must be a non-negative integer, got ${where.row}`);
  const source = await openSpectra(input);
  let rows = 0;
  try {
    for await (const batch of source.batches()) {
      const n = batch.ids.length;
      if (where.row !== undefined) {
        if (where.row < batch.firstRow + n) return take(file, batch, where.row - batch.firstRow);
      } else {
        const j = batch.ids.indexOf(where.id!);
        if (j >= 0) return take(file, batch, j);
      }
      rows = batch.firstRow + n;
    }
  } finally {
    await source.close();
  }
  throw new AstrospecError('BAD_ARGUMENT', where.row !== undefined ? `no row ${where.row}: the file has ${rows} rows (0–${rows - 1})` : `no spectrum with id "${where.id}" among its ${rows} rows`, { file });
}

/** The caption line: class, S/N, redshift, subclass and Wien temperature when known. */
export function describeSpectrum(s: FoundSpectrum, temperature?: number): string {
  const bad = s.badPixels ? s.badPixels.reduce((n, b) => n + (b !== 0 ? 1 : 0), 0) : 0;
  return [
    s.label >= 0 ? `class ${CLASS_NAMES[s.label]}` : undefined,
    s.tags.subclass ? `subclass ${s.tags.subclass}` : undefined,
    s.extra.snr !== undefined && Number.isFinite(s.extra.snr) ? `S/N ${s.extra.snr.toFixed(1)}` : undefined,
    s.extra.redshift !== undefined && Number.isFinite(s.extra.redshift) ? `z ${s.extra.redshift.toFixed(3)}` : undefined,
    temperature !== undefined && Number.isFinite(temperature) ? `Wien T ≈ ${Math.round(temperature)} K` : 'no Wien fit',
    `${bad} bad pixels`,
  ]
    .filter((d) => d !== undefined)
    .join(' · ');
}

export async function plotSpectrum(s: FoundSpectrum, format: 'svg' | 'html'): Promise<string> {
  const [fit] = await fitWienCurves([{ grid: s.grid, flux: s.flux, badPixels: s.badPixels }]);
  const caption = describeSpectrum(s, fit!.temperature);
  const svg = await renderChart(
    spectrumSpec({ title: `${s.id} (row ${s.row})`, subtitle: caption, wavelength: gridWavelengths(s.grid), flux: s.flux, wien: fit!.curve, badPixels: s.badPixels, width: 900, height: 320 }),
  );
  if (format === 'svg') return `<?xml version="1.0" encoding="UTF-8"?>\n${svg}\n`;
  return page(`spectrum ${s.id}`, `<code>${escapeHtml(s.file)}</code> row ${s.row} · ${escapeHtml(caption)}`, [], `<figure class="chart spectrum" data-row="${s.row}">${svg}</figure>`);
}
