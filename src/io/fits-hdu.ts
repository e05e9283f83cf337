/**
 * Minimal FITS container parsing (FITS Standard 4.0, Pence et al. 2010, A&A 524, A42):
 * 2880-byte blocks, 80-character header cards ending at END, big-endian data. Only what the
 * LAMOST spectra need: the primary image HDU and BINTABLE extensions with fixed-width columns.
 */
import { AstrospecError } from '../errors.js';

const BLOCK = 2880;
const CARD = 80;

export type CardValue = string | number | boolean;

export interface FitsHeader {
  /** Keyword → value (strings trimmed; numbers parsed; T/F as booleans). Later duplicates win. */
  cards: Map<string, CardValue>;
}

export interface Hdu {
  /** 0 for the primary HDU. */
  index: number;
  /** EXTNAME when present, else 'PRIMARY' or `HDU n`. */
  name: string;
  header: FitsHeader;
  /** Byte offset of the data unit in the file. */
  dataOffset: number;
  /** Data bytes (without the padding to a whole block). */
  dataLength: number;
}

export function headerString(header: FitsHeader, key: string): string | undefined {
  const v = header.cards.get(key);
  return v === undefined ? undefined : String(v);
}

export function headerNumber(header: FitsHeader, key: string): number | undefined {
  const v = header.cards.get(key);
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

function parseValue(text: string): CardValue {
  const t = text.trimStart();
  if (t.startsWith("'")) {
    // A string ends at the first quote not doubled; trailing blanks are not significant.
    let out = '';
    for (let i = 1; i < t.length; i++) {
      if (t[i] === "'") {
        if (t[i + 1] === "'") {
          out += "'";
          i++;
        } else break;
      } else out += t[i];
    }
    return out.trimEnd();
  }
  const slash = t.indexOf('/');
  const raw = (slash >= 0 ? t.slice(0, slash) : t).trim();
  if (raw === 'T') return true;
  if (raw === 'F') return false;
  // FITS allows Fortran 'D' exponents.
  const n = Number(raw.replace(/D/g, 'E'));
  return raw !== '' && Number.isFinite(n) ? n : raw;
}

/** Parses the header starting at `offset`; returns the header and the offset of its data. */
function parseHeader(bytes: Uint8Array, offset: number, file: string, hduIndex: number): { header: FitsHeader; dataOffset: number } {
  const cards = new Map<string, CardValue>();
  let at = offset;
  for (;;) {
    if (at + BLOCK > bytes.length) {
      throw new AstrospecError('TRUNCATED', `file ends inside the header of HDU ${hduIndex} (no END card)`, { file });
    }
    for (let c = 0; c < BLOCK / CARD; c++) {
      const start = at + c * CARD;
      // Text is made only for cards with a value ('= ' in bytes 9–10) or that may be END;
      // COMMENT, HISTORY and blank cards are passed over by their bytes.
      const hasValue = bytes[start + 8] === 0x3d && bytes[start + 9] === 0x20;
      if (!hasValue && !mayBeEnd(bytes, start)) continue;
      const b = bytes;
      const key = String.fromCharCode(b[start]!, b[start + 1]!, b[start + 2]!, b[start + 3]!, b[start + 4]!, b[start + 5]!, b[start + 6]!, b[start + 7]!).trim();
      if (key === 'END') return { header: { cards }, dataOffset: at + BLOCK };
      if (hasValue && key !== '') cards.set(key, parseValue(latin1(bytes, start + 10, start + CARD)));
    }
    at += BLOCK;
  }
}

/** Could the keyword field at `start` read END once trimmed? Its first byte that trim() keeps must be an E. */
function mayBeEnd(bytes: Uint8Array, start: number): boolean {
  for (let i = start; i < start + 8; i++) {
    const b = bytes[i]!;
    // What String.prototype.trim removes, in Latin-1: TAB, LF, VT, FF, CR, space, no-break space.
    if (b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0xa0) continue;
    return b === 0x45;
  }
  return false;
}

/** Bytes start…end as Latin-1 text (web builds use this file too, so no Buffer). */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  // fromCharCode.apply over a subarray: 4× faster than a string built a byte at a time (a spread
  // is slower than either). A text column can be long, and apply's arguments live on the stack,
  // so it goes in pieces.
  if (end - start <= 4096) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  let s = '';
  for (let at = start; at < end; at += 4096) s += String.fromCharCode.apply(null, bytes.subarray(at, Math.min(end, at + 4096)) as unknown as number[]);
  return s;
}

/** FITS Standard 4.0 §4.4.1.1: NAXIS is an integer from 0 to 999. */
const MAX_NAXIS = 999;
/** FITS Standard 4.0 §7.3.1: TFIELDS is an integer from 0 to 999. */
export const MAX_TFIELDS = 999;

/** A header value for an error message: quoted, and cut short (a mutated card can hold anything). */
function quoteValue(value: CardValue): string {
  const text = String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/**
 * An integer card that sizes the data or bounds a loop (NAXIS, NAXISn, PCOUNT, GCOUNT, TFIELDS).
 * Every size, offset and loop count below comes from these numbers, so a damaged header must fail
 * here, before anything is allocated or looped over: a huge NAXIS loops for ever, a negative
 * NAXISn steps the next HDU's offset backwards, a fractional one makes a fractional byte count.
 */
function integerCard(header: FitsHeader, key: string, min: number, max: number, fallback: number | undefined, where: { file: string; hdu: string }): number {
  const value = header.cards.get(key);
  if (value === undefined) {
    if (fallback !== undefined) return fallback;
    throw new AstrospecError('BAD_INPUT', `${where.hdu}: the header has no ${key} card`, { file: where.file, column: key });
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 0 ? 'a non-negative integer' : `an integer ≥ ${min}`) : `an integer from ${min} to ${max}`;
    throw new AstrospecError('BAD_INPUT', `${where.hdu}: ${key} = ${quoteValue(value)} is not ${range}`, { file: where.file, column: key });
  }
  return value;
}

const BITPIX_VALUES = new Set([8, 16, 32, 64, -32, -64]);

/**
 * Bytes in the data unit (without padding), checked against `available`, the bytes the file has
 * after the header: a size beyond it fails before anything is read or allocated.
 */
function dataLengthOf(header: FitsHeader, available: number, where: { file: string; hdu: string }): number {
  const naxis = integerCard(header, 'NAXIS', 0, MAX_NAXIS, 0, where);
  if (naxis === 0) return 0;
  const bitpix = header.cards.get('BITPIX') ?? 8;
  if (typeof bitpix !== 'number' || !BITPIX_VALUES.has(bitpix)) {
    throw new AstrospecError('BAD_INPUT', `${where.hdu}: BITPIX = ${quoteValue(bitpix)} is not one of 8, 16, 32, 64, -32, -64`, { file: where.file, column: 'BITPIX' });
  }
  const axes: number[] = [];
  for (let k = 1; k <= naxis; k++) axes.push(integerCard(header, `NAXIS${k}`, 0, Number.MAX_SAFE_INTEGER, undefined, where));
  const pcount = integerCard(header, 'PCOUNT', 0, Number.MAX_SAFE_INTEGER, 0, where);
  const gcount = integerCard(header, 'GCOUNT', 0, Number.MAX_SAFE_INTEGER, 1, where);
  // The product of up to 999 axes overflows; once it passes the file's size the answer is known.
  let elements = axes.includes(0) ? 0 : 1;
  for (const n of axes) {
    if (elements === 0 || elements > available) break;
    elements *= n;
  }
  const length = (Math.abs(bitpix) / 8) * gcount * (pcount + elements);
  if (length > available) {
    const needs = elements > available ? `${axes.join(' × ')} values` : `${length} bytes`;
    throw new AstrospecError('TRUNCATED', `file ends inside the data of ${where.hdu}: its header asks for ${needs}, the file has ${available} bytes after the header`, { file: where.file });
  }
  return length;
}

/**
 * Walks every HDU of a FITS file. Throws BAD_INPUT when the bytes are not FITS, TRUNCATED when
 * a data unit runs past the end of the file.
 */
export function readHdus(bytes: Uint8Array, file: string): Hdu[] {
  if (bytes.length < CARD || latin1(bytes, 0, 9) !== 'SIMPLE  =') {
    throw new AstrospecError('BAD_INPUT', 'not a FITS file (it does not start with a SIMPLE card)', { file });
  }
  const hdus: Hdu[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const index = hdus.length;
    if (index > 0 && latin1(bytes, offset, offset + 8) !== 'XTENSION') {
      // Anything after the last HDU that is not an extension (e.g. zero padding) is ignored, as FITS readers do.
      break;
    }
    const { header, dataOffset } = parseHeader(bytes, offset, file, index);
    const name = headerString(header, 'EXTNAME') ?? (index === 0 ? 'PRIMARY' : `HDU ${index}`);
    const dataLength = dataLengthOf(header, bytes.length - dataOffset, { file, hdu: `HDU ${index} (${name})` });
    hdus.push({ index, name, header, dataOffset, dataLength });
    // dataOffset is at least one block past offset and dataLength is ≥ 0, so every step advances.
    offset = dataOffset + Math.ceil(dataLength / BLOCK) * BLOCK;
  }
  return hdus;
}

/** Element sizes of BINTABLE TFORM type codes (FITS Standard Table 18). */
const TFORM_BYTES: Record<string, number> = { L: 1, X: 0, B: 1, I: 2, J: 4, K: 8, A: 1, E: 4, D: 8, C: 8, M: 16, P: 8, Q: 16 };

export interface TableColumn {
  name: string;
  type: string;
  repeat: number;
  /** Byte offset of the column inside a row. */
  offset: number;
}

/** Column layouts already worked out: an SDSS read looks up 8 columns of 2 tables of up to ~200 columns each. */
const columnLayouts = new WeakMap<Hdu, { file: string; columns: TableColumn[] }>();

/** Column layout of a BINTABLE HDU (the same array for every call on one HDU: don't change it). */
export function tableColumns(hdu: Hdu, file: string): TableColumn[] {
  const known = columnLayouts.get(hdu);
  if (known && known.file === file) return known.columns;
  const columns = parseTableColumns(hdu, file);
  columnLayouts.set(hdu, { file, columns });
  return columns;
}

function parseTableColumns(hdu: Hdu, file: string): TableColumn[] {
  const where = { file, hdu: `HDU ${hdu.index} (${hdu.name})` };
  const fields = integerCard(hdu.header, 'TFIELDS', 0, MAX_TFIELDS, 0, where);
  // Columns lie side by side inside one NAXIS1-byte row; a repeat count that runs past the row
  // (e.g. TFORM = '9999999999E' in a 3909-float row) is damage, caught before any read is sized by it.
  const rowBytes = fields === 0 ? 0 : integerCard(hdu.header, 'NAXIS1', 0, Number.MAX_SAFE_INTEGER, undefined, where);
  const columns: TableColumn[] = [];
  let offset = 0;
  for (let k = 1; k <= fields; k++) {
    const tform = headerString(hdu.header, `TFORM${k}`) ?? '';
    const m = /^\s*(\d*)([LXBIJKAEDCMPQ])/.exec(tform);
    const name = (headerString(hdu.header, `TTYPE${k}`) ?? `COL${k}`).trim().slice(0, 68);
    if (!m) throw new AstrospecError('UNSUPPORTED', `${where.hdu}: column ${name} has an unknown TFORM '${tform.slice(0, 40)}'`, { file, column: name });
    const repeat = m[1] === '' ? 1 : Number(m[1]);
    const type = m[2]!;
    const width = type === 'X' ? Math.ceil(repeat / 8) : repeat * TFORM_BYTES[type]!;
    if (offset + width > rowBytes) {
      throw new AstrospecError(
        'BAD_INPUT',
        `${where.hdu}: column ${name} (TFORM${k} = '${tform.slice(0, 40)}') needs bytes ${offset}…${offset + width} of a row, but rows are ${rowBytes} bytes (NAXIS1)`,
        { file, column: name },
      );
    }
    columns.push({ name, type, repeat, offset });
    offset += width;
  }
  return columns;
}

/** Reads `count` big-endian float32 or float64 values starting at `offset` into a Float64Array. */
export function readBigEndianFloats(bytes: Uint8Array, offset: number, count: number, bytesPerValue: 4 | 8, file?: string): Float64Array {
  // Callers size reads from validated headers; this is the last line of defence, with the file's name.
  if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(count) && offset >= 0 && count >= 0 && offset + count * bytesPerValue <= bytes.length)) {
    throw new AstrospecError('BAD_INPUT', `${count} values of ${bytesPerValue} bytes from byte ${offset} lie outside the ${bytes.length}-byte file`, { file });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * bytesPerValue);
  const out = new Float64Array(count);
  if (bytesPerValue === 4) for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, false);
  else for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, false);
  return out;
}

/** The column of a BINTABLE named `name` (TTYPE matching ignores case, as the FITS Standard asks), with its 1-based number. */
function findTableColumn(hdu: Hdu, name: string, file: string): { column: TableColumn; number: number; rowBytes: number; rows: number } | undefined {
  const columns = tableColumns(hdu, file);
  const at = columns.findIndex((c) => c.name.toUpperCase() === name.toUpperCase());
  if (at < 0) return undefined;
  const column = columns[at]!;
  const rowBytes = headerNumber(hdu.header, 'NAXIS1') ?? 0;
  const rows = headerNumber(hdu.header, 'NAXIS2') ?? 0;
  // The rows are read from the data unit, whose size readHdus checked against the file; NAXIS1 ×
  // NAXIS2 can disagree with it (e.g. a damaged NAXIS card makes the data unit empty).
  if (!(Number.isSafeInteger(rows) && Number.isSafeInteger(rowBytes) && rows >= 0 && rowBytes >= 0 && rows * rowBytes <= hdu.dataLength)) {
    throw new AstrospecError('BAD_INPUT', `HDU ${hdu.index} (${hdu.name}): a table of ${rows} rows of ${rowBytes} bytes (NAXIS2 × NAXIS1) doesn't fit its ${hdu.dataLength}-byte data unit`, { file, column: name });
  }
  const width = column.type === 'X' ? Math.ceil(column.repeat / 8) : column.repeat * TFORM_BYTES[column.type]!;
  if (column.offset + width > rowBytes) {
    throw new AstrospecError('BAD_INPUT', `HDU ${hdu.index} (${hdu.name}): column ${column.name} ends at byte ${column.offset + width} of a ${rowBytes}-byte row (NAXIS1)`, { file, column: column.name });
  }
  return { column, number: at + 1, rowBytes, rows };
}

/**
 * Element `element` of a numeric BINTABLE column in every row, as float64 (TSCALn/TZEROn applied);
 * undefined when the table has no such column. Successive rows are NAXIS1 bytes apart, which is
 * how SDSS/BOSS coadds store a spectrum: one table row per pixel.
 */
export function readTableColumn(bytes: Uint8Array, hdu: Hdu, name: string, file: string, element = 0): Float64Array | undefined {
  const found = findTableColumn(hdu, name, file);
  if (!found) return undefined;
  const { column, number, rowBytes, rows } = found;
  const size = TFORM_BYTES[column.type]!;
  if (!'BIJKED'.includes(column.type)) {
    throw new AstrospecError('UNSUPPORTED', `HDU ${hdu.index} (${hdu.name}): column ${column.name} has TFORM type ${column.type}; expected a number (B, I, J, K, E or D)`, { file, column: column.name });
  }
  if (!(Number.isInteger(element) && element >= 0)) throw new RangeError(`readTableColumn: element ${element} of ${column.name}`);
  if (element >= column.repeat) {
    // The file's TFORMn (e.g. '0E') gives the column fewer values per row than are read.
    throw new AstrospecError('BAD_INPUT', `HDU ${hdu.index} (${hdu.name}): column ${column.name} holds ${column.repeat} values per row (TFORM${number}), element ${element + 1} is read`, { file, column: column.name });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + hdu.dataOffset, rows * rowBytes);
  const scale = headerNumber(hdu.header, `TSCAL${number}`) ?? 1;
  const zero = headerNumber(hdu.header, `TZERO${number}`) ?? 0;
  const out = new Float64Array(rows);
  for (let r = 0, at = column.offset + element * size; r < rows; r++, at += rowBytes) {
    let v: number;
    switch (column.type) {
      case 'B': v = view.getUint8(at); break;
      case 'I': v = view.getInt16(at, false); break;
      case 'J': v = view.getInt32(at, false); break;
      case 'K': v = Number(view.getBigInt64(at, false)); break;
      case 'E': v = view.getFloat32(at, false); break;
      default: v = view.getFloat64(at, false);
    }
    out[r] = scale === 1 && zero === 0 ? v : zero + scale * v;
  }
  return out;
}

/** Text of an `A` (character) column in one row; undefined when there is no such column. */
export function readTableText(bytes: Uint8Array, hdu: Hdu, name: string, file: string, row = 0): string | undefined {
  const found = findTableColumn(hdu, name, file);
  if (!found) return undefined;
  const { column, rowBytes, rows } = found;
  if (column.type !== 'A') {
    throw new AstrospecError('UNSUPPORTED', `HDU ${hdu.index} (${hdu.name}): column ${column.name} has TFORM type ${column.type}; expected text (A)`, { file, column: column.name });
  }
  if (!(Number.isInteger(row) && row >= 0 && row < rows)) {
    throw new AstrospecError('BAD_INPUT', `HDU ${hdu.index} (${hdu.name}): no row ${row + 1} (the table has ${rows})`, { file, column: column.name });
  }
  const start = hdu.dataOffset + row * rowBytes + column.offset;
  // An ASCII NUL ends a character field early (FITS Standard, binary-table A fields); trailing blanks are padding.
  const text = latin1(bytes, start, start + column.repeat);
  const nul = text.indexOf('\0');
  return (nul >= 0 ? text.slice(0, nul) : text).trimEnd();
}
