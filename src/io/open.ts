/**
 * One entry point for reading spectra, whatever the format: dispatches on the path.
 *   .csv, .csv.gz                  → CSV (competition layout, native parser)
 *   .arrow, .feather, .ipc         → Arrow IPC / Feather v2
 *   .fits, .fits.gz                → FITS (src/io/fits.ts): LAMOST DR1–8 / DR9–10 or SDSS/BOSS/eBOSS
 *                                    spec files (src/io/sdss.ts), the layout detected per file
 * Several paths, a folder (classified by its contents: Arrow chunks with a manifest, FITS files,
 * CSVs, …), a glob or `@list.txt` are read as one dataset with one global row index, and
 * `shard` reads one slice of it without reading the others' rows (src/io/dataset.ts).
 * Classes from a separate labels CSV are joined on top by src/io/labels.ts (`--labels`).
 */
import { stat } from 'node:fs/promises';
import { AstrospecError } from '../errors.js';
import { formatOfPath, openDataset, type Dataset, type Shard } from './dataset.js';
import type { ReadOptions, SpectraFormat, SpectraSource } from './types.js';

export type { ReadOptions, SpectraSource } from './types.js';
export { formatOfPath, listDataset, parseShard, shardRange, type Dataset, type DatasetFile, type Shard } from './dataset.js';

export interface OpenOptions extends ReadOptions {
  /** Read only shard i of N (see src/io/dataset.ts for how each format is split). */
  shard?: Shard;
}

/** One plain file, not a shard: its own reader, exactly as it reads. */
async function singleFile(input: string | string[] | Dataset, options: OpenOptions): Promise<{ path: string; format: SpectraFormat } | undefined> {
  if (options.shard) return undefined;
  if (isDataset(input)) return input.files.length === 1 && !input.files[0]!.listed ? { path: input.files[0]!.path, format: input.files[0]!.format } : undefined;
  const path = typeof input === 'string' ? input : input.length === 1 ? input[0]! : undefined;
  if (path === undefined || path.startsWith('@')) return undefined;
  const format = formatOfPath(path);
  if (!format) return undefined;
  const info = await stat(path).catch(() => undefined);
  return info?.isFile() ? { path, format } : undefined;
}

function isDataset(input: string | string[] | Dataset): input is Dataset {
  return typeof input === 'object' && !Array.isArray(input);
}

/** Opens a file, a dataset (several paths, a folder, a glob, @list.txt), or a dataset already listed. */
export async function openSpectra(input: string | string[] | Dataset, options: OpenOptions = {}): Promise<SpectraSource> {
  if (Array.isArray(input) && input.length === 0) throw new AstrospecError('BAD_ARGUMENT', 'no input files given');
  const single = await singleFile(input, options);
  if (single) {
    const { shard: _shard, ...read } = options;
    if (single.format === 'csv') return (await import('./csv.js')).openCsv(single.path, read);
    if (single.format === 'arrow') return (await import('./arrow.js')).openArrow(single.path, read);
    return (await import('./fits.js')).openFits(single.path, read);
  }
  return openDataset(input, options);
}

async function countByReading(source: SpectraSource): Promise<number> {
  let rows = 0;
  for await (const batch of source.batches()) rows += batch.ids.length;
  return rows;
}

/** Rows of a source: its rowCount, else countRows(), else one pass through its batches. */
export async function countSourceRows(source: SpectraSource): Promise<number> {
  if (source.rowCount !== undefined) return source.rowCount;
  if (source.countRows) return source.countRows();
  return countByReading(source);
}
