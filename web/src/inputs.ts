/**
 * What the page can tell about dropped files without reading them: the format from the name (as
 * src/io/open.ts formatOfPath), the size limit, and whether the set can be read as one input.
 * Kept free of the readers so the page's own bundle stays small and answers at once.
 */
import { AstrospecError } from '../../src/errors.js';

export type WebFormat = 'csv' | 'arrow' | 'fits';

/**
 * Largest file the page reads. CSV streams in any size, but an Arrow record batch is held whole
 * (pandas writes files of one or a few huge ones) and a tab's memory is a few GB at best, so the
 * page draws one line for every format; the CLI streams files of any size.
 */
export const MAX_INPUT_BYTES = 2 ** 31;

/** As src/io/open.ts formatOfPath. */
export function formatOfName(name: string): WebFormat | undefined {
  const p = name.toLowerCase();
  if (p.endsWith('.csv') || p.endsWith('.csv.gz')) return 'csv';
  if (p.endsWith('.arrow') || p.endsWith('.feather') || p.endsWith('.ipc')) return 'arrow';
  if (p.endsWith('.fits') || p.endsWith('.fits.gz') || p.endsWith('.fit') || p.endsWith('.fit.gz')) return 'fits';
  return undefined;
}

function formatBytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The format of a set of files, or the one error that stops them being read. */
export function checkInputs(files: readonly { name: string; blob: { size: number } }[]): WebFormat {
  if (files.length === 0) throw new AstrospecError('BAD_ARGUMENT', 'no input files given');
  const formats = files.map((f) => {
    const format = formatOfName(f.name);
    if (!format) {
      throw new AstrospecError('UNSUPPORTED', 'unknown spectra format: expected .csv, .csv.gz, .arrow, .feather, .ipc, .fits or .fits.gz', { file: f.name });
    }
    if (f.blob.size > MAX_INPUT_BYTES) {
      throw new AstrospecError('UNSUPPORTED', `${formatBytes(f.blob.size)} is larger than the page reads (2 GB); classify it with the CLI: astrospec classify ${f.name} --model …`, {
        file: f.name,
      });
    }
    return format;
  });
  if (formats.every((f) => f === 'fits')) return 'fits';
  if (formats.some((f) => f === 'fits')) {
    throw new AstrospecError('BAD_ARGUMENT', `can't mix FITS and tabular inputs in one list: ${files.map((f) => f.name).join(', ')}`);
  }
  if (formats.some((f) => f !== formats[0])) return 'csv'; // tabular files of both kinds are chained like a CLI list
  return formats[0]!;
}

