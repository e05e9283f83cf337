/**
 * One entry point for reading spectra, whatever the format: dispatches on the path.
 *   .csv, .csv.gz                  → CSV (competition layout, native parser)
 *   .arrow, .feather, .ipc         → Arrow IPC / Feather v2
 *   .fits, .fits.gz, a directory   → FITS (src/io/fits.ts): LAMOST DR1–8 / DR9–10 or SDSS/BOSS/eBOSS
 *                                    spec files (src/io/sdss.ts), the layout detected per file, so a
 *                                    folder or list may mix them
 * A list of paths is read as one source in order: all FITS (or directories), or all tabular.
 * Classes from a separate labels CSV are joined on top by src/io/labels.ts (`--labels`).
 */
import { stat } from 'node:fs/promises';
import { AstrospecError } from '../errors.js';
import { sameGrid, type SpectrumBatch } from './batch.js';
import type { ReadOptions, SpectraFormat, SpectraSource } from './types.js';

export type { ReadOptions, SpectraSource } from './types.js';

/** Format of a path from its extension, or undefined. Directories are FITS folders. */
export function formatOfPath(path: string): SpectraFormat | undefined {
  const p = path.toLowerCase();
  if (p.endsWith('.csv') || p.endsWith('.csv.gz')) return 'csv';
  if (p.endsWith('.arrow') || p.endsWith('.feather') || p.endsWith('.ipc')) return 'arrow';
  if (p.endsWith('.fits') || p.endsWith('.fits.gz') || p.endsWith('.fit') || p.endsWith('.fit.gz')) return 'fits';
  return undefined;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function formatOf(path: string): Promise<SpectraFormat> {
  if (await isDirectory(path)) return 'fits';
  const format = formatOfPath(path);
  if (!format) {
    throw new AstrospecError('UNSUPPORTED', 'unknown spectra format: expected .csv, .csv.gz, .arrow, .feather, .ipc, .fits, .fits.gz or a folder of FITS files', {
      file: path,
    });
  }
  return format;
}

async function openOne(path: string, format: SpectraFormat, options: ReadOptions): Promise<SpectraSource> {
  if (format === 'csv') return (await import('./csv.js')).openCsv(path, options);
  if (format === 'arrow') return (await import('./arrow.js')).openArrow(path, options);
  return (await import('./fits.js')).openFits(path, options);
}

export async function openSpectra(input: string | string[], options: ReadOptions = {}): Promise<SpectraSource> {
  const paths = typeof input === 'string' ? [input] : input;
  if (paths.length === 0) throw new AstrospecError('BAD_ARGUMENT', 'no input files given');
  const formats = await Promise.all(paths.map(formatOf));
  if (formats.every((f) => f === 'fits')) {
    return (await import('./fits.js')).openFits(typeof input === 'string' ? input : paths, options);
  }
  if (formats.some((f) => f === 'fits')) {
    throw new AstrospecError('BAD_ARGUMENT', `can't mix FITS and tabular inputs in one list: ${paths.join(', ')}`);
  }
  if (paths.length === 1) return openOne(paths[0]!, formats[0]!, options);
  const sources: SpectraSource[] = [];
  try {
    for (let i = 0; i < paths.length; i++) sources.push(await openOne(paths[i]!, formats[i]!, options));
  } catch (error) {
    await Promise.all(sources.map((s) => s.close()));
    throw error;
  }
  return chainSources(sources);
}

/**
 * Tabular files read one after another as one source: rows keep counting across files. A batch
 * never spans two files, so the last batch of each file may be shorter than batchSize.
 */
function chainSources(sources: SpectraSource[]): SpectraSource {
  const first = sources[0]!;
  for (const s of sources) {
    if (!sameGrid(s.grid, first.grid)) {
      throw new AstrospecError('BAD_INPUT', `has ${s.grid.length} pixels from ${s.grid.start} Å, ${first.path} has ${first.grid.length} from ${first.grid.start} Å`, {
        file: s.path,
      });
    }
  }
  const known = sources.every((s) => s.rowCount !== undefined);
  return {
    path: sources.map((s) => s.path).join(','),
    format: first.format,
    grid: first.grid,
    hasLabels: sources.every((s) => s.hasLabels),
    rowCount: known ? sources.reduce((n, s) => n + s.rowCount!, 0) : undefined,
    byteLength: sources.reduce((n, s) => n + s.byteLength, 0),
    async countRows() {
      let rows = 0;
      for (const s of sources) rows += s.rowCount ?? (s.countRows ? await s.countRows() : await countByReading(s));
      return rows;
    },
    async *batches(): AsyncGenerator<SpectrumBatch> {
      const labelled = sources.every((s) => s.hasLabels);
      let offset = 0;
      for (const s of sources) {
        let rows = 0;
        for await (const batch of s.batches()) {
          rows += batch.ids.length;
          const out = { ...batch, firstRow: batch.firstRow + offset };
          if (!labelled) delete out.labels;
          yield out;
        }
        offset += rows;
      }
    },
    async close() {
      await Promise.all(sources.map((s) => s.close()));
    },
  };
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
