/**
 * From an Arrow schema and record batches to SpectrumBatch rows: which columns hold the flux (the
 * compact `flux` FixedSizeList or wide FE0…FE{L−1}), the id, the label and the extra numeric and
 * text columns, and the checked copy of rows out of a record batch. Browser-safe: the CLI's reader
 * (./arrow.ts, which passes the addon's NaN scan) and the browser page's (web/src/arrow.ts) both
 * use it.
 */
import { DataType, makeVector, Precision, type Data, type Decimal, type FixedSizeList, type RecordBatch, type Schema } from '#apache-arrow';
import { AstrospecError, excerpt } from '../errors.js';
import { CLASS_NAMES, NO_LABEL, parseLabel, type SpectrumBatch, type WavelengthGrid } from './batch.js';
import { firstNonFinite, gridForPixelCount, ID_COLUMN, isAscii, isLabelColumn, pixelColumnIndex, pixelColumnName } from './columns.js';
import type { ReadOptions } from './types.js';

export const GRID_METADATA_KEY = 'astrospec.grid';

type ColumnRole =
  | { kind: 'id'; index: number }
  | { kind: 'label'; index: number }
  | { kind: 'extra'; index: number; name: string }
  | { kind: 'tag'; index: number; name: string };

export interface ArrowLayout {
  kind: 'wide' | 'compact';
  grid: WavelengthGrid;
  /** Compact: index of `flux`. Wide: field index of FE0…FE{L−1}, in pixel order. */
  fluxColumns: number[];
  id?: number;
  label?: number;
  extra: { index: number; name: string }[];
  tags: { index: number; name: string }[];
}

function isNumeric(type: DataType): boolean {
  return DataType.isFloat(type) || DataType.isInt(type) || DataType.isDecimal(type);
}

function parseGridMetadata(text: string, file: string): WavelengthGrid {
  let grid: unknown;
  try {
    grid = JSON.parse(text);
  } catch {
    throw new AstrospecError('BAD_INPUT', `schema metadata ${GRID_METADATA_KEY} is not JSON: ${excerpt(text, 80)}`, { file });
  }
  const g = grid as Partial<WavelengthGrid>;
  if (typeof g.start !== 'number' || typeof g.step !== 'number' || !Number.isInteger(g.length) || (g.length ?? 0) < 1) {
    throw new AstrospecError('BAD_INPUT', `schema metadata ${GRID_METADATA_KEY} must be {start, step, length}, got ${excerpt(text, 80)}`, { file });
  }
  return { start: g.start, step: g.step, length: g.length! };
}

export function describeLayout(schema: Schema, options: Pick<ReadOptions, 'grid'>, file: string): ArrowLayout {
  const fields = schema.fields;
  const roles: ColumnRole[] = [];
  const pixelIndex = new Map<number, number>();
  let flux: number | undefined;
  fields.forEach((field, index) => {
    // A field's name is optional in the flatbuffer; apache-arrow then gives null.
    const name = field.name ?? '';
    if (name === 'flux' && DataType.isFixedSizeList(field.type)) {
      flux = index;
      return;
    }
    const pixel = pixelColumnIndex(name);
    if (pixel >= 0) {
      if (pixelIndex.has(pixel)) throw new AstrospecError('BAD_INPUT', 'duplicate pixel column', { file, column: name });
      if (!isNumeric(field.type)) throw new AstrospecError('BAD_INPUT', `pixel column has type ${field.type}, expected a number type`, { file, column: name });
      pixelIndex.set(pixel, index);
      return;
    }
    if (name.toLowerCase() === ID_COLUMN && !roles.some((r) => r.kind === 'id')) roles.push({ kind: 'id', index });
    else if (isLabelColumn(name) && !roles.some((r) => r.kind === 'label')) roles.push({ kind: 'label', index });
    else if (isNumeric(field.type)) roles.push({ kind: 'extra', index, name });
    else roles.push({ kind: 'tag', index, name });
  });
  const layout: Omit<ArrowLayout, 'kind' | 'grid' | 'fluxColumns'> = {
    id: roles.find((r) => r.kind === 'id')?.index,
    label: roles.find((r) => r.kind === 'label')?.index,
    extra: roles.flatMap((r) => (r.kind === 'extra' ? [{ index: r.index, name: r.name }] : [])),
    tags: roles.flatMap((r) => (r.kind === 'tag' ? [{ index: r.index, name: r.name }] : [])),
  };
  if (flux !== undefined) {
    if (pixelIndex.size > 0) throw new AstrospecError('BAD_INPUT', 'has both a flux column and FE pixel columns', { file });
    const type = fields[flux]!.type as FixedSizeList;
    // Every row's pixels are stored in the child array; with no pixels nothing would bound the rows.
    if (type.listSize < 1) throw new AstrospecError('BAD_INPUT', `flux lists hold ${type.listSize} pixels`, { file, column: 'flux' });
    if (!isNumeric(type.children[0]!.type)) {
      throw new AstrospecError('BAD_INPUT', `flux list items have type ${type.children[0]!.type}, expected float32`, { file, column: 'flux' });
    }
    const metadata = schema.metadata.get(GRID_METADATA_KEY);
    const grid = metadata !== undefined ? parseGridMetadata(metadata, file) : gridForPixelCount(type.listSize, options, file);
    if (grid.length !== type.listSize) {
      throw new AstrospecError('BAD_INPUT', `flux lists hold ${type.listSize} pixels but ${GRID_METADATA_KEY} says ${grid.length}`, { file, column: 'flux' });
    }
    if (options.grid && options.grid.length !== grid.length) {
      throw new AstrospecError('BAD_INPUT', `has ${grid.length} pixels per spectrum, expected ${options.grid.length}`, { file, column: 'flux' });
    }
    return { kind: 'compact', grid, fluxColumns: [flux], ...layout };
  }
  if (pixelIndex.size === 0) {
    throw new AstrospecError('BAD_INPUT', 'has no spectra: expected a flux FixedSizeList column or pixel columns FE0, FE1, …', { file });
  }
  const pixels = pixelIndex.size;
  const fluxColumns: number[] = [];
  for (let i = 0; i < pixels; i++) {
    const index = pixelIndex.get(i);
    if (index === undefined) throw new AstrospecError('BAD_INPUT', `pixel columns are not FE0…FE${pixels - 1}: ${pixelColumnName(i)} is missing`, { file });
    fluxColumns.push(index);
  }
  return { kind: 'wide', grid: gridForPixelCount(pixels, options, file), fluxColumns, ...layout };
}

/**
 * Numbers of a numeric column that are its typed array's values as they stand, or undefined when
 * they need decoding (float16 is stored as raw 16-bit patterns, decimals as scaled integers, 64-bit
 * integers as BigInts): see numericReader.
 */
function plainValues(data: Data): ArrayLike<number> | undefined {
  const v = data.values as unknown;
  if (DataType.isFloat(data.type) && data.type.precision === Precision.HALF) return undefined;
  if (v instanceof Float32Array || v instanceof Float64Array || v instanceof Int32Array || v instanceof Int16Array || v instanceof Int8Array || v instanceof Uint8Array || v instanceof Uint16Array || v instanceof Uint32Array) {
    return DataType.isFloat(data.type) || DataType.isInt(data.type) ? (v as ArrayLike<number>) : undefined;
  }
  return undefined;
}

/** IEEE 754 binary16 → number (exact: every float16 is a float32). */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * Element i (0-based in the array) of a numeric column as a number: float16 decoded, decimals as
 * unscaled integer × 10^−scale, 64-bit integers through Number; null → NaN. A decimal whose value
 * has more digits than its precision is rejected, as pyarrow's full validation does.
 */
function numericReader(data: Data, file: string, column: string, rowOf: (i: number) => number): (i: number) => number {
  const type = data.type;
  const base = data.offset;
  const nullable = data.nullCount > 0;
  let read: (i: number) => number;
  if (DataType.isDecimal(type)) {
    const decimal = type as Decimal;
    const words = decimal.bitWidth / 32;
    const values = data.values as Uint32Array;
    const bits = BigInt(decimal.bitWidth);
    const limit = 10n ** BigInt(decimal.precision);
    read = (i) => {
      let v = 0n;
      for (let w = words - 1; w >= 0; w--) v = (v << 32n) | BigInt(values[(base + i) * words + w]!);
      if (v >> (bits - 1n)) v -= 1n << bits; // two's complement
      if (v >= limit || v <= -limit) {
        throw new AstrospecError('BAD_INPUT', `decimal value ${excerpt(String(v), 40)} has more than the column's ${decimal.precision} digits`, { file, row: rowOf(i), column });
      }
      // Text → number rounds once, correctly: "591e-3" is 0.591.
      return Number(`${v}e${-decimal.scale}`);
    };
  } else if (DataType.isFloat(type) && type.precision === Precision.HALF) {
    const values = data.values as Uint16Array;
    read = (i) => halfToNumber(values[base + i]!);
  } else {
    const values = data.values as ArrayLike<number | bigint>;
    read = (i) => Number(values[base + i]!);
  }
  return nullable ? (i) => (data.getValid(i) ? read(i) : Number.NaN) : read;
}

const asciiDecoder = new TextDecoder();

/** The 1-based row in the file, as errors name it, of row `i` of a record batch starting at file row `rbFirstRow` (0-based). */
function fileRow(rbFirstRow: number, i: number): number {
  return rbFirstRow + i + 1;
}

/**
 * Field `index` of a record batch as its Data: what rb.getChildAt(index) wraps in a new Vector,
 * whose construction (per column, per batch) cost more than the rows read from it.
 */
function column(rb: RecordBatch, index: number): Data {
  return rb.data.children[index]!;
}

/**
 * Rows [from, from+n) of a string column, null as null. A Utf8 column without nulls whose text
 * there is ASCII (ids, class names) is decoded in one call and sliced at its offsets (one byte
 * is one character); anything else goes through apache-arrow's get(), which decodes each value
 * on its own — ~0.7 µs per row of classify's main thread for the ids alone.
 */
function stringValues(data: Data, from: number, n: number): (string | null)[] {
  const offsets = data.valueOffsets as unknown;
  const bytes = data.values as unknown;
  if (DataType.isUtf8(data.type) && data.nullCount === 0 && offsets instanceof Int32Array && bytes instanceof Uint8Array) {
    // apache-arrow slices value and offset buffers with the Data (its offset is the bitmap's).
    const at = from;
    const begin = offsets[at]!;
    const end = offsets[at + n]!;
    if (at + n < offsets.length && 0 <= begin && begin <= end && end <= bytes.length && isAscii(bytes, begin, end) && offsetsAscend(offsets, at, n)) {
      return asciiSlices(asciiDecoder.decode(bytes.subarray(begin, end)), offsets, at, n, begin);
    }
  }
  return decodedStrings(data, from, n);
}

function offsetsAscend(offsets: Int32Array, at: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (offsets[at + i + 1]! < offsets[at + i]!) return false;
  return true;
}

function asciiSlices(text: string, offsets: Int32Array, at: number, n: number, begin: number): string[] {
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = text.slice(offsets[at + i]! - begin, offsets[at + i + 1]! - begin);
  return out;
}

function decodedStrings(data: Data, from: number, n: number): (string | null)[] {
  const vector = makeVector(data);
  const out = new Array<string | null>(n);
  for (let i = 0; i < n; i++) {
    const v = vector.get(from + i) as unknown;
    out[i] = v === null || v === undefined ? null : String(v);
  }
  return out;
}

function firstNull(data: Data, from: number, to: number): number {
  if (data.nullCount === 0) return -1;
  for (let i = from; i < to; i++) if (!data.getValid(i)) return i;
  return -1;
}

/** Rejects null spectra and null pixels among rows [from, from+n) of a compact-layout record batch. */
function checkCompactNulls(rb: RecordBatch, layout: ArrowLayout, from: number, n: number, file: string, rbFirstRow: number): void {
  const data = column(rb, layout.fluxColumns[0]!);
  const nullRow = firstNull(data, from, from + n);
  if (nullRow >= 0) throw new AstrospecError('BAD_INPUT', 'missing spectrum (null flux)', { file, row: fileRow(rbFirstRow, nullRow), column: 'flux' });
  const child = data.children[0]!;
  if (child.nullCount > 0) checkPixelNulls(child, layout.grid.length, from, n, file, rbFirstRow);
}

function checkPixelNulls(child: Data, L: number, from: number, n: number, file: string, rbFirstRow: number): void {
  for (let i = from; i < from + n; i++) {
    for (let j = 0; j < L; j++) {
      if (!child.getValid(i * L + j)) throw new AstrospecError('BAD_INPUT', 'missing pixel value (null)', { file, row: fileRow(rbFirstRow, i), column: `flux[${j}]` });
    }
  }
}

/**
 * Rows [from, from+n) of the flux as a view of the record batch's own Float32 buffer, when the
 * layout allows it (compact, float32 items without nulls): no copy, no new allocation.
 */
export function fluxView(rb: RecordBatch, layout: ArrowLayout, from: number, n: number): Float32Array | undefined {
  if (layout.kind !== 'compact') return undefined;
  const data = column(rb, layout.fluxColumns[0]!);
  if (data.nullCount > 0) return undefined;
  const child = data.children[0]!;
  const values = child.nullCount === 0 ? plainValues(child) : undefined;
  if (!(values instanceof Float32Array)) return undefined;
  const L = layout.grid.length;
  return values.subarray(from * L, (from + n) * L);
}

/**
 * Reads rows [from, from+n) of a record batch into `out` starting at row `at`. The flux is
 * copied unless `out.flux` is already the view of exactly these rows (fluxView).
 *
 * Loop-free on purpose: each column kind's loop is a function of its own. With the loops
 * inline, this function (run once per batch) was optimised whole, every kind's code inlined:
 * ~0.1 s of a compiler thread in a 20 000-spectrum classify. Now each loop is optimised on its
 * own, and the kinds a file doesn't have never are.
 */
export function copyRows(
  rb: RecordBatch, layout: ArrowLayout, from: number, n: number, out: SpectrumBatch, at: number, file: string, rbFirstRow: number,
  fluxIsView = false, nonFiniteScan: (flux: Float32Array, from: number, to: number) => number = firstNonFinite,
): void {
  const L = layout.grid.length;
  if (layout.kind === 'compact') {
    checkCompactNulls(rb, layout, from, n, file, rbFirstRow);
    if (!fluxIsView) copyCompactFlux(rb, layout, from, n, out.flux, at, file, rbFirstRow);
  } else {
    copyWideFlux(rb, layout, from, n, out.flux, at, file, rbFirstRow);
  }
  const bad = nonFiniteScan(out.flux, at * L, (at + n) * L);
  if (bad >= 0) throw nonFiniteFlux(out.flux, bad, layout, at, from, file, rbFirstRow);
  if (layout.id !== undefined) copyIds(rb, layout.id, from, n, out.ids, at, file, rbFirstRow);
  else numberedIds(rbFirstRow + from, n, out.ids, at);
  if (layout.label !== undefined) copyLabels(rb, layout.label, from, n, out.labels!, at, file, rbFirstRow);
  if (layout.extra.length > 0) copyExtras(rb, layout, from, n, out, at, file, rbFirstRow);
  if (layout.tags.length > 0) copyTags(rb, layout, from, n, out, at);
}

function copyCompactFlux(rb: RecordBatch, layout: ArrowLayout, from: number, n: number, flux: Float32Array, at: number, file: string, rbFirstRow: number): void {
  const L = layout.grid.length;
  const data = column(rb, layout.fluxColumns[0]!);
  const child = data.children[0]!;
  const first = from * L;
  const values = plainValues(child);
  if (values instanceof Float32Array) {
    flux.set(values.subarray(first, first + n * L), at * L);
  } else if (values) {
    for (let k = 0; k < n * L; k++) flux[at * L + k] = values[first + k]!;
  } else {
    const read = numericReader(child, file, 'flux', (k) => fileRow(rbFirstRow, Math.floor(k / L)));
    for (let k = 0; k < n * L; k++) flux[at * L + k] = read(first + k);
  }
}

function copyWideFlux(rb: RecordBatch, layout: ArrowLayout, from: number, n: number, flux: Float32Array, at: number, file: string, rbFirstRow: number): void {
  const L = layout.grid.length;
  const rowOf = (i: number) => fileRow(rbFirstRow, i);
  for (let j = 0; j < L; j++) {
    const data = column(rb, layout.fluxColumns[j]!);
    const nullRow = firstNull(data, from, from + n);
    if (nullRow >= 0) throw new AstrospecError('BAD_INPUT', 'missing pixel value (null)', { file, row: rowOf(nullRow), column: pixelColumnName(j) });
    const values = plainValues(data);
    if (values) for (let i = 0; i < n; i++) flux[(at + i) * L + j] = values[from + i]!;
    else {
      const read = numericReader(data, file, pixelColumnName(j), rowOf);
      for (let i = 0; i < n; i++) flux[(at + i) * L + j] = read(from + i);
    }
  }
}

function nonFiniteFlux(flux: Float32Array, bad: number, layout: ArrowLayout, at: number, from: number, file: string, rbFirstRow: number): AstrospecError {
  const L = layout.grid.length;
  const i = Math.floor(bad / L) - at;
  const j = bad % L;
  return new AstrospecError('BAD_INPUT', `flux is ${flux[bad]} (NaN and infinite flux are rejected)`, {
    file,
    row: fileRow(rbFirstRow, from + i),
    column: layout.kind === 'compact' ? `flux[${j}]` : pixelColumnName(j),
  });
}

function copyIds(rb: RecordBatch, index: number, from: number, n: number, ids: string[], at: number, file: string, rbFirstRow: number): void {
  const values = stringValues(column(rb, index), from, n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) throw new AstrospecError('BAD_INPUT', 'missing id', { file, row: fileRow(rbFirstRow, from + i), column: rb.schema.fields[index]!.name });
    ids[at + i] = v;
  }
}

function numberedIds(first: number, n: number, ids: string[], at: number): void {
  for (let i = 0; i < n; i++) ids[at + i] = String(first + i);
}

function copyLabels(rb: RecordBatch, index: number, from: number, n: number, labels: Int8Array, at: number, file: string, rbFirstRow: number): void {
  const texts = stringValues(column(rb, index), from, n);
  for (let i = 0; i < n; i++) {
    const text = texts[i] ?? '';
    if (text.trim() === '') {
      labels[at + i] = NO_LABEL;
      continue;
    }
    const label = parseLabel(text);
    if (label < 0) {
      throw new AstrospecError('BAD_INPUT', `unknown label "${excerpt(text)}" (expected ${CLASS_NAMES.join('/')}, any case)`, {
        file,
        row: fileRow(rbFirstRow, from + i),
        column: rb.schema.fields[index]!.name,
      });
    }
    labels[at + i] = label;
  }
}

function copyExtras(rb: RecordBatch, layout: ArrowLayout, from: number, n: number, out: SpectrumBatch, at: number, file: string, rbFirstRow: number): void {
  const rowOf = (i: number) => fileRow(rbFirstRow, i);
  for (const { index, name } of layout.extra) {
    const data = column(rb, index);
    const target = out.extra![name]!;
    const values = data.nullCount === 0 ? plainValues(data) : undefined;
    if (values) for (let i = 0; i < n; i++) target[at + i] = values[from + i]!;
    else {
      const read = numericReader(data, file, name, rowOf);
      for (let i = 0; i < n; i++) target[at + i] = read(from + i);
    }
  }
}

function copyTags(rb: RecordBatch, layout: ArrowLayout, from: number, n: number, out: SpectrumBatch, at: number): void {
  for (const { index, name } of layout.tags) {
    const texts = stringValues(column(rb, index), from, n);
    const target = out.tags![name]!;
    for (let i = 0; i < n; i++) target[at + i] = texts[i] ?? '';
  }
}
