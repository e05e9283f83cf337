/**
 * Column conventions shared by the tabular formats (CSV and Arrow/Feather): pixel columns are
 * named FE0…FE{L−1} as in the competition files, the label column is `label` or `answer`, and
 * every other column is carried along as a per-row extra (numeric) or tag (text).
 */
import { AstrospecError, excerpt } from '../errors.js';
import { COMPETITION_GRID, type SpectrumBatch, type WavelengthGrid } from './batch.js';
import type { ReadOptions } from './types.js';

export const ID_COLUMN = 'id';
/** Competition train files call it `label`, the answer files `answer`. */
export const LABEL_COLUMNS = ['label', 'answer'] as const;
export const DEFAULT_BATCH_SIZE = 1024;

export function pixelColumnName(i: number): string {
  return `FE${i}`;
}

/** Pixel index of a column named FE<k> (no sign, no leading zeros), else −1. */
export function pixelColumnIndex(name: string): number {
  const m = /^FE(0|[1-9][0-9]*)$/.exec(name);
  return m ? Number(m[1]) : -1;
}

export function isLabelColumn(name: string): boolean {
  return (LABEL_COLUMNS as readonly string[]).includes(name.trim().toLowerCase());
}

export function batchSizeOf(options: ReadOptions): number {
  const size = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(size) || size < 1) throw new AstrospecError('BAD_ARGUMENT', `batchSize must be a positive integer, got ${size}`);
  return size;
}

/**
 * The grid of a file whose pixels are only numbered (CSV, pandas Feather): the caller's grid when
 * given (its length must match), else the competition grid's start and step with the file's length.
 */
export function gridForPixelCount(pixels: number, options: ReadOptions, file: string): WavelengthGrid {
  if (options.grid) {
    if (options.grid.length !== pixels) {
      throw new AstrospecError('BAD_INPUT', `has ${pixels} pixel columns (FE0…FE${pixels - 1}), expected ${options.grid.length}`, { file });
    }
    return { ...options.grid };
  }
  return pixels === COMPETITION_GRID.length ? { ...COMPETITION_GRID } : { start: COMPETITION_GRID.start, step: COMPETITION_GRID.step, length: pixels };
}

/** What a CSV header says: the columns, the optional id, the pixel count and the columns after the pixels. */
export interface CsvHeaderColumns {
  /** Column names as written (quotes removed). */
  columns: string[];
  hasId: boolean;
  pixels: number;
  /** Columns after the pixels, in order (label included). */
  trailing: string[];
  /** Index into `trailing` of the label/answer column, or −1. */
  labelIndex: number;
}

function splitHeaderLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let j = i + 1;
      let text = '';
      for (;;) {
        const q = line.indexOf('"', j);
        if (q < 0) throw new Error('unterminated quote');
        text += line.slice(j, q);
        if (line[q + 1] === '"') {
          text += '"';
          j = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      out.push(text);
      if (i < line.length && line[i] !== ',') throw new Error('text after a closing quote');
      i++;
    } else {
      const comma = line.indexOf(',', i);
      const end = comma < 0 ? line.length : comma;
      out.push(line.slice(i, end));
      i = end + 1;
    }
  }
  return out;
}

/**
 * Validates a CSV header line (its line end removed; a leading BOM and a trailing \r are
 * dropped): [id,]FE0,…,FE{L−1}[,more columns], no pixel column after the pixels, no column
 * twice, and L pixels when options.grid fixes the length. The CLI's reader (csv.ts) and the
 * browser page's (web/src/csv.ts) both call this.
 */
export function parseCsvHeaderLine(line: string, file: string, options: Pick<ReadOptions, 'grid'> = {}): CsvHeaderColumns {
  if (line.charCodeAt(0) === 0xfeff) line = line.slice(1); // UTF-8 BOM (Excel)
  if (line.endsWith('\r')) line = line.slice(0, -1);
  let columns: string[];
  try {
    columns = splitHeaderLine(line);
  } catch (error) {
    throw new AstrospecError('BAD_INPUT', `header: ${(error as Error).message}`, { file, row: 0 });
  }
  const expected = 'expected the header id,FE0,…,FE{L−1}[,label|answer]';
  let i = 0;
  const hasId = columns[0]?.trim().toLowerCase() === ID_COLUMN;
  if (hasId) i = 1;
  const first = i;
  while (i < columns.length && pixelColumnIndex(columns[i]!.trim()) === i - first) i++;
  const pixels = i - first;
  if (pixels === 0) {
    throw new AstrospecError('BAD_INPUT', `header column ${i + 1} is "${excerpt(columns[i] ?? '')}", ${expected}`, { file, row: 0, column: i + 1 });
  }
  const trailing = columns.slice(i).map((c) => c.trim());
  const seen = new Set<string>();
  trailing.forEach((name, k) => {
    const column = i + k + 1;
    if (pixelColumnIndex(name) >= 0) {
      throw new AstrospecError('BAD_INPUT', `header has ${name} after FE${pixels - 1}: pixel columns must be FE0…FE{L−1} in order`, { file, row: 0, column });
    }
    if (seen.has(name)) throw new AstrospecError('BAD_INPUT', `header repeats column "${excerpt(name)}"`, { file, row: 0, column });
    seen.add(name);
  });
  gridForPixelCount(pixels, { grid: options.grid }, file); // throws if the caller's grid has another length
  return { columns, hasId, pixels, trailing, labelIndex: trailing.findIndex(isLabelColumn) };
}

const DECIMAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
const INFINITE = /^\s*([+-]?)inf(inity)?\s*$/i;
const NOT_A_NUMBER = /^\s*[+-]?nan\s*$/i;

/** A CSV trailing numeric cell (CLI and browser page): decimal, empty (NaN, as pandas writes missing values), nan or ±inf; undefined for text. */
export function parseExtraCell(text: string): number | undefined {
  if (text.trim() === '' || NOT_A_NUMBER.test(text)) return Number.NaN;
  if (DECIMAL.test(text)) return Math.fround(Number(text));
  const inf = INFINITE.exec(text);
  if (inf) return inf[1] === '-' ? -Infinity : Infinity;
  return undefined;
}

/** Values per block of firstNonFinite's branch-free pass. */
const FINITE_SCAN_BLOCK = 4096;

/** Index of the first NaN/±Inf in flux[from, to), or −1. */
export function firstNonFinite(flux: Float32Array, from = 0, to = flux.length): number {
  // v − v is 0 for finite v and NaN for NaN and ±Inf, and NaN survives a sum: one test per block
  // instead of a branch per value (about 1.4× faster in V8; every value read is checked). Only a
  // block whose sum is NaN is searched value by value.
  for (let start = from; start < to; start += FINITE_SCAN_BLOCK) {
    const end = Math.min(to, start + FINITE_SCAN_BLOCK);
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let i = start;
    for (; i + 4 <= end; i += 4) {
      const a = flux[i]!;
      const b = flux[i + 1]!;
      const c = flux[i + 2]!;
      const d = flux[i + 3]!;
      s0 += a - a;
      s1 += b - b;
      s2 += c - c;
      s3 += d - d;
    }
    for (; i < end; i++) {
      const v = flux[i]!;
      s0 += v - v;
    }
    if (s0 + s1 + s2 + s3 === 0) continue;
    for (let k = start; k < end; k++) {
      const v = flux[k]!;
      if (v - v !== 0) return k;
    }
  }
  return -1;
}

/**
 * A fresh batch with room for `rows` rows and the given optional columns. `flux` (rows × grid
 * length values) is used instead of a new array when given, e.g. a view of a file's buffer.
 */
export function allocateBatch(
  rows: number,
  grid: WavelengthGrid,
  firstRow: number,
  columns: { labels: boolean; extra: string[]; tags: string[] },
  flux: Float32Array = new Float32Array(rows * grid.length),
): SpectrumBatch {
  const batch: SpectrumBatch = { ids: new Array<string>(rows), flux, grid, firstRow };
  if (columns.labels) batch.labels = new Int8Array(rows);
  if (columns.extra.length > 0) batch.extra = Object.fromEntries(columns.extra.map((n) => [n, new Float32Array(rows)]));
  if (columns.tags.length > 0) batch.tags = Object.fromEntries(columns.tags.map((n) => [n, new Array<string>(rows)]));
  return batch;
}

/** The first `rows` rows of a batch allocated larger (the last batch of a file). */
export function truncateBatch(batch: SpectrumBatch, rows: number): SpectrumBatch {
  if (rows === batch.ids.length) return batch;
  const L = batch.grid.length;
  const out: SpectrumBatch = { ids: batch.ids.slice(0, rows), flux: batch.flux.subarray(0, rows * L), grid: batch.grid, firstRow: batch.firstRow };
  if (batch.labels) out.labels = batch.labels.subarray(0, rows);
  if (batch.extra) out.extra = Object.fromEntries(Object.entries(batch.extra).map(([n, v]) => [n, v.subarray(0, rows)]));
  if (batch.tags) out.tags = Object.fromEntries(Object.entries(batch.tags).map(([n, v]) => [n, v.slice(0, rows)]));
  return out;
}

/** Per-row extra columns of a batch merged with those passed to SpectraSink.write. */
export function extraColumnsOf(batch: SpectrumBatch, extra?: Record<string, Float32Array>): Record<string, Float32Array> {
  return { ...(batch.extra ?? {}), ...(extra ?? {}) };
}

/**
 * The extra and tag column names a sink writes, fixed by its options and first batch: every later
 * batch must carry the same columns, so a file never has a column that is missing in some rows.
 */
export function sinkColumns(
  extraOption: string[] | undefined,
  first: { extra: Record<string, Float32Array>; tags?: Record<string, string[]> },
): { extra: string[]; tags: string[] } {
  const extra = [...new Set([...(extraOption ?? []), ...Object.keys(first.extra)])];
  const tags = Object.keys(first.tags ?? {});
  return { extra, tags };
}

/** Checks a batch against the sink's columns; the message names what is missing or different. */
export function checkSinkBatch(
  path: string,
  batch: SpectrumBatch,
  extra: Record<string, Float32Array>,
  columns: { extra: string[]; tags: string[] },
  options: { grid: WavelengthGrid; hasLabels: boolean },
): void {
  const rows = batch.ids.length;
  const L = options.grid.length;
  if (batch.grid.length !== L) throw new AstrospecError('BAD_ARGUMENT', `batch has ${batch.grid.length} pixels, the file has ${L}`, { file: path });
  if (batch.flux.length < rows * L) throw new AstrospecError('BAD_ARGUMENT', `batch flux holds ${batch.flux.length} values, ${rows} rows need ${rows * L}`, { file: path });
  if (options.hasLabels && (!batch.labels || batch.labels.length < rows)) {
    throw new AstrospecError('BAD_ARGUMENT', 'the file has a label column but the batch carries no labels', { file: path });
  }
  for (const name of columns.extra) {
    const values = extra[name];
    if (!values || values.length < rows) throw new AstrospecError('BAD_ARGUMENT', `batch lacks extra column "${name}" (or it is shorter than the batch)`, { file: path });
  }
  for (const name of Object.keys(extra)) {
    if (!columns.extra.includes(name)) throw new AstrospecError('BAD_ARGUMENT', `batch carries extra column "${name}" that earlier batches did not`, { file: path });
  }
  for (const name of columns.tags) {
    const values = batch.tags?.[name];
    if (!values || values.length < rows) throw new AstrospecError('BAD_ARGUMENT', `batch lacks tag column "${name}"`, { file: path });
  }
  for (const name of Object.keys(batch.tags ?? {})) {
    if (!columns.tags.includes(name)) throw new AstrospecError('BAD_ARGUMENT', `batch carries tag column "${name}" that earlier batches did not`, { file: path });
  }
}

/** Whether bytes[from, to) are all ASCII (then UTF-8 text there is one character per byte). */
export function isAscii(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}
