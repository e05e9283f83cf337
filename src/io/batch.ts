/**
 * The in-memory batch every reader yields, every writer takes, and preprocessing, training
 * and inference work on: fluxes row-major in one Float32Array, [rows × grid.length].
 */

export const CLASS_NAMES = ['star', 'galaxy', 'qso'] as const;
export type ClassName = (typeof CLASS_NAMES)[number];

/** The predicted class of three probabilities p[at..at+2] in CLASS_NAMES order: the largest, ties to the earlier class. */
export function argmax3(p: Float32Array, at: number): number {
  const a = p[at]!, b = p[at + 1]!, c = p[at + 2]!;
  return a >= b ? (a >= c ? 0 : 2) : b >= c ? 1 : 2;
}
/** Label value for "no label" in `SpectrumBatch.labels`. */
export const NO_LABEL = -1;

/** A linear wavelength grid in Ångström: λ_i = start + step·i, i = 0 … length−1. */
export interface WavelengthGrid {
  start: number;
  step: number;
  length: number;
}

/** The competition grid: λ = 3800 + 2·i Å, 2600 pixels (3800–8998 Å). */
export const COMPETITION_GRID: Readonly<WavelengthGrid> = Object.freeze({ start: 3800, step: 2, length: 2600 });

export interface SpectrumBatch {
  /** Row ids as they appear in the source (CSV `id` column, FITS OBSID or file name, ...). */
  ids: string[];
  /** Row-major fluxes, ids.length × grid.length. */
  flux: Float32Array;
  grid: WavelengthGrid;
  /** Class index into CLASS_NAMES per row, NO_LABEL (−1) where unknown; absent when the source has no labels. */
  labels?: Int8Array;
  /** Optional per-pixel flags, same shape as flux: 1 = bad pixel (e.g. ivar = 0 in FITS). */
  badPixels?: Uint8Array;
  /** 0-based index of this batch's first row in its source, for error messages and ordering. */
  firstRow: number;
  /** Optional named per-row float columns carried with the spectra (e.g. synthetic `snr`, `redshift`). */
  extra?: Record<string, Float32Array>;
  /** Optional named per-row string columns (e.g. FITS `subclass`, synthetic `subclass`). */
  tags?: Record<string, string[]>;
  /**
   * The file each row was read from, when a file holds one spectrum (FITS): labels are joined by
   * file name. Not written by any sink.
   */
  files?: string[];
}

/**
 * The one bad-pixel rule for model input, the same for every source: the network sees flux
 * values only. Masked pixels reach it as the survey's files store them — bridged by a straight
 * line between the neighbouring good pixels, 0 where the spectrum does not cover the grid — and
 * preprocessing masks exactly the zero and non-finite values. The `badPixels` flags a FITS
 * reader or the simulator attach are for plots and diagnostics: a CSV or Feather file from
 * another program cannot carry them, so using them for the model would make the same spectrum
 * reach the network differently depending on its file format.
 */
export function networkInput(batch: SpectrumBatch): SpectrumBatch {
  if (batch.badPixels === undefined) return batch;
  const { badPixels: _flags, ...rest } = batch;
  return rest;
}

export function batchRows(batch: SpectrumBatch): number {
  return batch.ids.length;
}

/** Parses a label as written in files: star/galaxy/qso in any case. Returns −1 for unknown. */
export function parseLabel(text: string): number {
  const index = (CLASS_NAMES as readonly string[]).indexOf(text.trim().toLowerCase());
  return index;
}

/** Wavelength of pixel i. */
export function wavelengthAt(grid: WavelengthGrid, i: number): number {
  return grid.start + grid.step * i;
}

/** Wavelengths of the whole grid as a Float64Array (Å). */
export function gridWavelengths(grid: WavelengthGrid): Float64Array {
  const out = new Float64Array(grid.length);
  for (let i = 0; i < grid.length; i++) out[i] = grid.start + grid.step * i;
  return out;
}

export function sameGrid(a: WavelengthGrid, b: WavelengthGrid): boolean {
  return a.length === b.length && Math.abs(a.start - b.start) < 1e-9 && Math.abs(a.step - b.step) < 1e-12;
}

/** Rows from … to−1 of a batch with all its columns, as a batch of its own (views of the flux, labels and extras). */
export function sliceRows(batch: SpectrumBatch, from: number, to: number): SpectrumBatch {
  const L = batch.grid.length;
  const out: SpectrumBatch = { ids: batch.ids.slice(from, to), flux: batch.flux.subarray(from * L, to * L), grid: batch.grid, firstRow: batch.firstRow + from };
  if (batch.labels) out.labels = batch.labels.subarray(from, to);
  if (batch.badPixels) out.badPixels = batch.badPixels.subarray(from * L, to * L);
  if (batch.extra) out.extra = Object.fromEntries(Object.entries(batch.extra).map(([n, v]) => [n, v.subarray(from, to)]));
  if (batch.tags) out.tags = Object.fromEntries(Object.entries(batch.tags).map(([n, v]) => [n, v.slice(from, to)]));
  if (batch.files) out.files = batch.files.slice(from, to);
  return out;
}

/** Concatenates batches on the same grid; labels, extra and tag columns are kept when every batch has them. */
export function concatBatches(batches: SpectrumBatch[]): SpectrumBatch {
  if (batches.length === 0) throw new Error('concatBatches: no batches');
  const grid = batches[0]!.grid;
  const rows = batches.reduce((n, b) => n + b.ids.length, 0);
  const flux = new Float32Array(rows * grid.length);
  const ids: string[] = [];
  const withLabels = batches.every((b) => b.labels !== undefined);
  const labels = withLabels ? new Int8Array(rows) : undefined;
  const extraNames = Object.keys(batches[0]!.extra ?? {}).filter((name) => batches.every((b) => b.extra?.[name] !== undefined));
  const tagNames = Object.keys(batches[0]!.tags ?? {}).filter((name) => batches.every((b) => b.tags?.[name] !== undefined));
  const extra = Object.fromEntries(extraNames.map((name) => [name, new Float32Array(rows)]));
  const tags = Object.fromEntries(tagNames.map((name) => [name, [] as string[]]));
  let at = 0;
  for (const b of batches) {
    if (!sameGrid(b.grid, grid)) throw new Error('concatBatches: batches are on different grids');
    const n = b.ids.length;
    flux.set(b.flux.subarray(0, n * grid.length), at * grid.length);
    if (labels && b.labels) labels.set(b.labels.subarray(0, n), at);
    for (const name of extraNames) extra[name]!.set(b.extra![name]!.subarray(0, n), at);
    for (const name of tagNames) tags[name]!.push(...b.tags![name]!.slice(0, n));
    for (const id of b.ids) ids.push(id);
    at += n;
  }
  const out: SpectrumBatch = { ids, flux, grid, labels, firstRow: batches[0]!.firstRow };
  if (batches.every((b) => b.files !== undefined)) out.files = batches.flatMap((b) => b.files!.slice(0, b.ids.length));
  if (extraNames.length > 0) out.extra = extra;
  if (tagNames.length > 0) out.tags = tags;
  return out;
}
