/**
 * A labels CSV joined to spectra by file name (`--labels` on classify, evaluate and convert), for
 * catalogues whose classes live beside the spectra rather than in them, e.g.
 * ../shared/data/boss/labels.csv (`file,plate,…,class,…`: visual-inspection classes that override the
 * pipeline's CLASS in the FITS files).
 *
 * Format: a header row, then one row per spectrum. The key column is `file` (else `id`), the class
 * column `class` (else `label`); names in any case and any position, other columns ignored. Classes
 * are star / galaxy / qso in any case; an empty class cell means "class unknown" (the row is
 * joined but not scored). Cells are split by the same RFC 4180 rules as the predictions CSV
 * (src/io/csv-lines.ts): a cell may be double-quoted, with `""` for a quote, and may
 * then contain commas, but not a line break; surrounding spaces are trimmed. Every row must have
 * as many cells as the header. Lines end in `\n` or `\r\n`; blank lines only at the end; a UTF-8
 * BOM is skipped. The file is read whole: a label table is small next to the spectra.
 *
 * Join: a key is compared by its base name without `.fits` / `.fit` / `.fits.gz` / `.fit.gz`, so
 * `spec-7102-56666-0082.fits`, `spectra/spec-7102-56666-0082.fits.gz` and `spec-7102-56666-0082`
 * are one key (and two of them in one file are a duplicate). A spectrum matches by its source
 * file's name first (FITS inputs), then by its id. Every spectrum must have a row; rows for
 * spectra not in the input are ignored.
 */
import { readFile } from 'node:fs/promises';
import { AstrospecError } from '../errors.js';
import { splitCsvLine } from './csv-lines.js';
import { NO_LABEL, parseLabel, type SpectrumBatch } from './batch.js';
import { fitsFileStem } from './sdss.js';
import type { SpectraSource } from './types.js';

export interface LabelRow {
  /** Class index into CLASS_NAMES, NO_LABEL (−1) for an empty class cell. */
  label: number;
  /** 1-based data row in the labels file (header excluded). */
  row: number;
  /** The `z` column (known redshift), when the file has one; NaN for an empty cell. */
  z?: number;
}

export interface LabelTable {
  path: string;
  /** The key and class columns' names as the header writes them. */
  keyColumn: string;
  classColumn: string;
  /** Normalised key (labelKey) → row. */
  rows: Map<string, LabelRow>;
}

const KEY_COLUMNS = ['file', 'id'];
const CLASS_COLUMNS = ['class', 'label'];

/** The join key of a file name or id: its base name without a FITS extension. */
export function labelKey(text: string): string {
  return fitsFileStem(text.trim());
}

export async function readLabelsCsv(path: string): Promise<LabelTable> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new AstrospecError('IO', (error as Error).message, { file: path }, { cause: error });
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  if (lines.length === 0) throw new AstrospecError('BAD_INPUT', `empty labels file: expected a header with ${KEY_COLUMNS.join(' or ')} and ${CLASS_COLUMNS.join(' or ')} columns`, { file: path, row: 0 });
  const names = splitCsvLine(lines[0]!, { file: path, row: 0 }).map((n) => n.trim());
  const lower = names.map((n) => n.toLowerCase());
  const pick = (wanted: string[]) => {
    for (const name of wanted) if (lower.includes(name)) return lower.indexOf(name);
    return -1;
  };
  const keyAt = pick(KEY_COLUMNS);
  const classAt = pick(CLASS_COLUMNS);
  if (keyAt < 0) {
    throw new AstrospecError('BAD_INPUT', `no ${KEY_COLUMNS.join(' or ')} column in the header (${names.join(', ')}): labels are joined to spectra by file name or id`, { file: path, row: 0, column: KEY_COLUMNS[0] });
  }
  if (classAt < 0) {
    throw new AstrospecError('BAD_INPUT', `no ${CLASS_COLUMNS.join(' or ')} column in the header (${names.join(', ')})`, { file: path, row: 0, column: CLASS_COLUMNS[0] });
  }
  const table: LabelTable = { path, keyColumn: names[keyAt]!, classColumn: names[classAt]!, rows: new Map() };
  const zAt = lower.indexOf('z');
  for (let i = 1; i < lines.length; i++) {
    const where = { file: path, row: i };
    if (lines[i]!.trim() === '') throw new AstrospecError('BAD_INPUT', 'empty line (blank lines are accepted only at the end)', where);
    const cells = splitCsvLine(lines[i]!, where);
    if (cells.length !== names.length) {
      const column = cells.length < names.length ? names[cells.length]! : cells.length;
      throw new AstrospecError('BAD_INPUT', `row has ${cells.length} fields, the header has ${names.length}`, { ...where, column });
    }
    const keyText = cells[keyAt]!.trim();
    const key = labelKey(keyText);
    if (key === '') throw new AstrospecError('BAD_INPUT', `empty ${table.keyColumn}`, { ...where, column: table.keyColumn });
    const classText = cells[classAt]!.trim();
    const label = classText === '' ? NO_LABEL : parseLabel(classText);
    if (label < 0 && classText !== '') {
      throw new AstrospecError('BAD_INPUT', `unknown class "${classText}" (expected star/galaxy/qso, any case, or an empty cell)`, { ...where, column: table.classColumn });
    }
    const earlier = table.rows.get(key);
    if (earlier) {
      throw new AstrospecError('BAD_INPUT', `duplicate ${table.keyColumn} "${keyText}": row ${earlier.row} already gives ${key}`, { ...where, column: table.keyColumn });
    }
    let z: number | undefined;
    if (zAt >= 0) {
      const zText = cells[zAt]!.trim();
      z = zText === '' ? Number.NaN : Number(zText);
      if (zText !== '' && !Number.isFinite(z)) throw new AstrospecError('BAD_INPUT', `z "${zText}" is not a number`, { ...where, column: names[zAt] });
    }
    table.rows.set(key, { label, row: i, ...(z !== undefined ? { z } : {}) });
  }
  return table;
}

/** The row for a spectrum: by its source file's name, then by its id; undefined when neither matches. */
export function findLabel(table: LabelTable, id: string, sourceFile?: string): LabelRow | undefined {
  return (sourceFile !== undefined ? table.rows.get(labelKey(sourceFile)) : undefined) ?? table.rows.get(labelKey(id));
}

/** The error for a spectrum the labels file doesn't cover; `where` says where the spectrum is. */
export function missingLabelError(table: LabelTable, id: string, where: string): AstrospecError {
  return new AstrospecError('BAD_INPUT', `no row for spectrum "${id}" (${where}); the labels must cover every spectrum`, { file: table.path, column: table.keyColumn });
}

/**
 * The source with every row's label taken from the table (overriding the file's own, e.g. a FITS
 * CLASS). Rows read from one-spectrum files (FITS) are matched by their file's name
 * (`SpectrumBatch.files`), others by id. Throws (BAD_INPUT, naming the labels file) at the first
 * spectrum without a row. `_input` (what the source was opened from) is no longer needed.
 */
export async function withLabels(source: SpectraSource, table: LabelTable, _input?: string | string[]): Promise<SpectraSource> {
  return {
    path: source.path,
    format: source.format,
    grid: source.grid,
    hasLabels: true,
    rowCount: source.rowCount,
    get byteLength() {
      return source.byteLength;
    },
    slice: source.slice,
    countRows: source.countRows?.bind(source),
    close: () => source.close(),
    async *batches(): AsyncGenerator<SpectrumBatch> {
      for await (const batch of source.batches()) {
        const labels = new Int8Array(batch.ids.length);
        for (let r = 0; r < batch.ids.length; r++) {
          const file = batch.files?.[r];
          const found = findLabel(table, batch.ids[r]!, file);
          if (!found) throw missingLabelError(table, batch.ids[r]!, file !== undefined ? file : `row ${batch.firstRow + r + 1} of ${source.path}`);
          labels[r] = found.label;
        }
        yield { ...batch, labels };
      }
    },
  };
}
