/**
 * Arrow IPC / Feather v2 spectra from a Blob, for the browser: the two layouts src/io/arrow.ts
 * reads (pandas' wide `FE0…FE{L−1}` table, and the compact `id, flux: FixedSizeList<Float32>[L],
 * label` layout astrospec writes), with the same column roles and error messages.
 *
 * src/io/arrow.ts reads from a Node FileHandle; here apache-arrow gets a Blob-backed object with
 * the same `stat`/`read` surface, so it takes its random-access path for the IPC file format
 * (footer first, then one record batch at a time: apache-arrow's own JS file writer puts the schema
 * only in the footer) and streams the IPC stream format. Either way one record batch is in memory
 * at a time. pandas' LZ4 and ZSTD record batches are decoded by src/io/lz4-frame.ts (the CLI's
 * decoder, checksums verified) and fzstd.
 */
import {
  CompressionType,
  DataType,
  Precision,
  RecordBatchReader,
  compressionRegistry,
  type Data,
  type Decimal,
  type FixedSizeList,
  type RecordBatch,
  type Schema,
  type Vector,
} from 'apache-arrow';
import { decompress as zstdDecompress } from 'fzstd';
import { AstrospecError, excerpt } from '../../src/errors.js';
import { CLASS_NAMES, NO_LABEL, parseLabel, type SpectrumBatch, type WavelengthGrid } from '../../src/io/batch.js';
import { firstNonFinite, gridForPixelCount, ID_COLUMN, isLabelColumn, pixelColumnIndex, pixelColumnName } from '../../src/io/columns.js';
import { decodeLz4Frames, LZ4_MAX_RATIO, Lz4FrameError } from '../../src/io/lz4-frame.js';

export const GRID_METADATA_KEY = 'astrospec.grid';

/** The parts of a Blob this reader uses (a File, or a Node Blob in tests). */
export interface BlobLike {
  readonly size: number;
  slice(start?: number, end?: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

export interface ArrowReadOptions {
  batchSize?: number;
  grid?: WavelengthGrid;
  /** Called with the number of bytes of each read from the blob (progress). */
  onBytes?: (n: number) => void;
}

// ---------------------------------------------------------------------------------------------
// Codecs

/** The decoded length Arrow stores in the 8 bytes before a compressed buffer (apache-arrow passes a view after it). */
function declaredLength(bytes: Uint8Array, maxRatio: number): number {
  if (bytes.byteOffset < 8) throw new AstrospecError('BAD_INPUT', 'compressed buffer without its length prefix');
  const value = new DataView(bytes.buffer, bytes.byteOffset - 8, 8).getBigInt64(0, true);
  if (value < 0n || value > BigInt(maxRatio * bytes.length + 1024)) throw new AstrospecError('BAD_INPUT', `${bytes.length} compressed bytes claim to decode to ${value}`);
  return Number(value);
}

/** ZSTD can't expand by more than ~ 32 000× (a 3-byte block header per 128 KB of repeated bytes). */
const ZSTD_MAX_RATIO = 1 << 16;
let codecsRegistered = false;

export function registerArrowCodecs(): void {
  if (codecsRegistered) return;
  compressionRegistry.set(CompressionType.LZ4_FRAME, {
    decode(bytes: Uint8Array) {
      try {
        return decodeLz4Frames(bytes, declaredLength(bytes, LZ4_MAX_RATIO));
      } catch (error) {
        if (error instanceof Lz4FrameError) throw new AstrospecError('BAD_INPUT', `damaged LZ4-compressed buffer: ${error.message}`, {}, { cause: error });
        throw error;
      }
    },
  });
  compressionRegistry.set(CompressionType.ZSTD, {
    decode(bytes: Uint8Array) {
      const expected = declaredLength(bytes, ZSTD_MAX_RATIO);
      let out: Uint8Array;
      try {
        out = zstdDecompress(bytes, new Uint8Array(expected));
      } catch (error) {
        throw new AstrospecError('BAD_INPUT', `damaged ZSTD-compressed buffer: ${(error as Error).message}`, {}, { cause: error });
      }
      if (out.length !== expected) throw new AstrospecError('BAD_INPUT', `damaged ZSTD-compressed buffer: decodes to ${out.length} bytes, its header says ${expected}`);
      // fzstd may return a view Arrow can't align typed arrays on (FACTS.md).
      return out.byteOffset % 8 === 0 ? out : out.slice();
    },
  });
  codecsRegistered = true;
}

// ---------------------------------------------------------------------------------------------
// Layout

interface ArrowLayout {
  kind: 'wide' | 'compact';
  grid: WavelengthGrid;
  /** Compact: index of `flux`. Wide: field indices of FE0…FE{L−1}, in pixel order. */
  fluxColumns: number[];
  id?: number;
  label?: number;
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

function describeLayout(schema: Schema, options: ArrowReadOptions, file: string): ArrowLayout {
  const pixelIndex = new Map<number, number>();
  let flux: number | undefined;
  let id: number | undefined;
  let label: number | undefined;
  schema.fields.forEach((field, index) => {
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
    if (name.toLowerCase() === ID_COLUMN && id === undefined) id = index;
    else if (isLabelColumn(name) && label === undefined) label = index;
  });
  if (flux !== undefined) {
    if (pixelIndex.size > 0) throw new AstrospecError('BAD_INPUT', 'has both a flux column and FE pixel columns', { file });
    const type = schema.fields[flux]!.type as FixedSizeList;
    if (type.listSize < 1) throw new AstrospecError('BAD_INPUT', `flux lists hold ${type.listSize} pixels`, { file, column: 'flux' });
    if (!isNumeric(type.children[0]!.type)) throw new AstrospecError('BAD_INPUT', `flux list items have type ${type.children[0]!.type}, expected float32`, { file, column: 'flux' });
    const metadata = schema.metadata.get(GRID_METADATA_KEY);
    const grid = metadata !== undefined ? parseGridMetadata(metadata, file) : gridForPixelCount(type.listSize, { grid: options.grid }, file);
    if (grid.length !== type.listSize) throw new AstrospecError('BAD_INPUT', `flux lists hold ${type.listSize} pixels but ${GRID_METADATA_KEY} says ${grid.length}`, { file, column: 'flux' });
    if (options.grid && options.grid.length !== grid.length) {
      throw new AstrospecError('BAD_INPUT', `has ${grid.length} pixels per spectrum, expected ${options.grid.length}`, { file, column: 'flux' });
    }
    return { kind: 'compact', grid, fluxColumns: [flux], id, label };
  }
  if (pixelIndex.size === 0) throw new AstrospecError('BAD_INPUT', 'has no spectra: expected a flux FixedSizeList column or pixel columns FE0, FE1, …', { file });
  const pixels = pixelIndex.size;
  const fluxColumns: number[] = [];
  for (let i = 0; i < pixels; i++) {
    const index = pixelIndex.get(i);
    if (index === undefined) throw new AstrospecError('BAD_INPUT', `pixel columns are not FE0…FE${pixels - 1}: ${pixelColumnName(i)} is missing`, { file });
    fluxColumns.push(index);
  }
  return { kind: 'wide', grid: gridForPixelCount(pixels, { grid: options.grid }, file), fluxColumns, id, label };
}

// ---------------------------------------------------------------------------------------------
// Values

/** IEEE 754 binary16 → number (exact). */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Element i of a numeric array as a number (float16 decoded, decimals scaled, 64-bit integers through Number); null → NaN. */
function numericReader(data: Data, file: string, column: string, rowOf: (i: number) => number): (i: number) => number {
  const type = data.type;
  const base = data.offset;
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
      if (v >> (bits - 1n)) v -= 1n << bits;
      if (v >= limit || v <= -limit) {
        throw new AstrospecError('BAD_INPUT', `decimal value ${excerpt(String(v), 40)} has more than the column's ${decimal.precision} digits`, { file, row: rowOf(i), column });
      }
      return Number(`${v}e${-decimal.scale}`);
    };
  } else if (DataType.isFloat(type) && type.precision === Precision.HALF) {
    const values = data.values as Uint16Array;
    read = (i) => halfToNumber(values[base + i]!);
  } else {
    const values = data.values as ArrayLike<number | bigint>;
    read = (i) => Number(values[base + i]!);
  }
  return data.nullCount > 0 ? (i) => (data.getValid(i) ? read(i) : Number.NaN) : read;
}

function firstNull(vector: Vector, from: number, to: number): number {
  if (vector.nullCount === 0) return -1;
  for (let i = from; i < to; i++) if (!vector.isValid(i)) return i;
  return -1;
}

/** Rows [from, from+n) of a record batch into `out` from row `at` (flux copied to float32). */
function copyRows(rb: RecordBatch, layout: ArrowLayout, from: number, n: number, out: SpectrumBatch, at: number, file: string, rbFirstRow: number): void {
  const L = layout.grid.length;
  const flux = out.flux;
  const rowOf = (i: number) => rbFirstRow + i + 1;
  if (layout.kind === 'compact') {
    const vector = rb.getChildAt(layout.fluxColumns[0]!)!;
    const nullRow = firstNull(vector, from, from + n);
    if (nullRow >= 0) throw new AstrospecError('BAD_INPUT', 'missing spectrum (null flux)', { file, row: rowOf(nullRow), column: 'flux' });
    // One Data per record batch (a reader's record batches are not re-chunked).
    const child = vector.data[0]!.children[0]!;
    if (child.nullCount > 0) {
      for (let i = from; i < from + n; i++) {
        for (let j = 0; j < L; j++) if (!child.getValid(i * L + j)) throw new AstrospecError('BAD_INPUT', 'missing pixel value (null)', { file, row: rowOf(i), column: `flux[${j}]` });
      }
    }
    const offset = child.offset;
    if (child.values instanceof Float32Array && child.nullCount === 0) {
      flux.set(child.values.subarray(offset + from * L, offset + (from + n) * L), at * L);
    } else {
      const read = numericReader(child, file, 'flux', (k) => rowOf(Math.floor(k / L)));
      for (let k = 0; k < n * L; k++) flux[at * L + k] = read(from * L + k);
    }
  } else {
    for (let j = 0; j < L; j++) {
      const vector = rb.getChildAt(layout.fluxColumns[j]!)!;
      const nullRow = firstNull(vector, from, from + n);
      if (nullRow >= 0) throw new AstrospecError('BAD_INPUT', 'missing pixel value (null)', { file, row: rowOf(nullRow), column: pixelColumnName(j) });
      const data = vector.data[0]!;
      const values = data.values as unknown;
      if ((values instanceof Float32Array || values instanceof Float64Array) && !(DataType.isFloat(data.type) && data.type.precision === Precision.HALF)) {
        for (let i = 0; i < n; i++) flux[(at + i) * L + j] = values[data.offset + from + i]!;
      } else {
        const read = numericReader(data, file, pixelColumnName(j), rowOf);
        for (let i = 0; i < n; i++) flux[(at + i) * L + j] = read(from + i);
      }
    }
  }
  const bad = firstNonFinite(flux, at * L, (at + n) * L);
  if (bad >= 0) {
    const i = Math.floor(bad / L) - at;
    const j = bad % L;
    throw new AstrospecError('BAD_INPUT', `flux is ${flux[bad]} (NaN and infinite flux are rejected)`, {
      file,
      row: rowOf(from + i),
      column: layout.kind === 'compact' ? `flux[${j}]` : pixelColumnName(j),
    });
  }
  if (layout.id !== undefined) {
    const vector = rb.getChildAt(layout.id)!;
    for (let i = 0; i < n; i++) {
      const v = vector.get(from + i) as unknown;
      if (v === null || v === undefined) throw new AstrospecError('BAD_INPUT', 'missing id', { file, row: rowOf(from + i), column: rb.schema.fields[layout.id]!.name });
      out.ids[at + i] = String(v);
    }
  } else {
    for (let i = 0; i < n; i++) out.ids[at + i] = String(rbFirstRow + from + i);
  }
  if (layout.label !== undefined) {
    const vector = rb.getChildAt(layout.label)!;
    for (let i = 0; i < n; i++) {
      const v = vector.get(from + i) as unknown;
      const text = v === null || v === undefined ? '' : String(v);
      if (text.trim() === '') {
        out.labels![at + i] = NO_LABEL;
        continue;
      }
      const label = parseLabel(text);
      if (label < 0) {
        throw new AstrospecError('BAD_INPUT', `unknown label "${excerpt(text)}" (expected ${CLASS_NAMES.join('/')}, any case)`, {
          file,
          row: rowOf(from + i),
          column: rb.schema.fields[layout.label]!.name,
        });
      }
      out.labels![at + i] = label;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reader

/**
 * A Blob dressed as the FileHandle apache-arrow's random-access reader expects
 * (util/compat isFileHandle: `stat()` and a numeric `fd`; io/file AsyncRandomAccessFile: `read`, `close`).
 */
function blobHandle(blob: BlobLike, onBytes: (n: number) => void) {
  return {
    fd: -1,
    async stat() {
      return { size: blob.size };
    },
    async read(buffer: Uint8Array, offset: number, length: number, position: number) {
      const bytes = new Uint8Array(await blob.slice(position, position + length).arrayBuffer());
      buffer.set(bytes, offset);
      onBytes(bytes.length);
      return { bytesRead: bytes.length, buffer };
    },
    async close() {},
  };
}

/** Rewords apache-arrow's own exceptions (damaged files) as one AstrospecError naming the file. */
function readerError(error: unknown, file: string, what: string): AstrospecError {
  if (error instanceof AstrospecError) {
    return error.file === undefined ? new AstrospecError(error.code, error.message, { file }, { cause: error }) : error;
  }
  const message = (error as Error)?.message ?? String(error);
  return new AstrospecError('BAD_INPUT', `not a readable Arrow IPC file (${what}): ${excerpt(message, 200)}`, { file }, { cause: error });
}

/** Streams the spectra of an Arrow IPC file or stream in batches of `batchSize` rows. */
export async function* readArrowBatches(blob: BlobLike, file: string, options: ArrowReadOptions = {}): AsyncGenerator<SpectrumBatch> {
  registerArrowCodecs();
  const batchSize = options.batchSize ?? 1024;
  if (blob.size === 0) throw new AstrospecError('TRUNCATED', 'empty file: not an Arrow IPC file or stream', { file });
  const handle = blobHandle(blob, options.onBytes ?? (() => undefined));
  let reader: RecordBatchReader;
  try {
    reader = await RecordBatchReader.from(handle as never);
    await reader.open();
  } catch (error) {
    throw readerError(error, file, 'schema and footer');
  }
  if (!reader.schema) throw new AstrospecError('BAD_INPUT', 'not an Arrow IPC file or stream (no schema)', { file });
  const layout = describeLayout(reader.schema, options, file);
  const L = layout.grid.length;
  const iterator = reader[Symbol.asyncIterator]();
  let rowsRead = 0;
  let index = 0;
  try {
    for (;;) {
      let next: IteratorResult<RecordBatch>;
      try {
        next = await iterator.next();
      } catch (error) {
        throw readerError(error, file, `record batch ${index + 1}`);
      }
      if (next.done) break;
      const rb = next.value;
      index++;
      for (let from = 0; from < rb.numRows; from += batchSize) {
        const n = Math.min(batchSize, rb.numRows - from);
        const out: SpectrumBatch = { ids: new Array<string>(n), flux: new Float32Array(n * L), grid: layout.grid, firstRow: rowsRead + from };
        if (layout.label !== undefined) out.labels = new Int8Array(n);
        try {
          copyRows(rb, layout, from, n, out, 0, file, rowsRead);
        } catch (error) {
          throw readerError(error, file, `record batch ${index}`);
        }
        yield out;
      }
      rowsRead += rb.numRows;
    }
  } finally {
    await Promise.resolve(reader.cancel()).catch(() => undefined);
  }
}
