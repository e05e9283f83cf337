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
      const card = latin1(bytes, start, start + CARD);
      const key = card.slice(0, 8).trim();
      if (key === 'END') return { header: { cards }, dataOffset: at + BLOCK };
      if (card.slice(8, 10) === '= ' && key !== '') cards.set(key, parseValue(card.slice(10)));
    }
    at += BLOCK;
  }
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

function dataLengthOf(header: FitsHeader): number {
  const naxis = headerNumber(header, 'NAXIS') ?? 0;
  if (naxis === 0) return 0;
  const bitpix = Math.abs(headerNumber(header, 'BITPIX') ?? 8);
  let n = 1;
  for (let k = 1; k <= naxis; k++) n *= headerNumber(header, `NAXIS${k}`) ?? 0;
  const pcount = headerNumber(header, 'PCOUNT') ?? 0;
  const gcount = headerNumber(header, 'GCOUNT') ?? 1;
  return (bitpix / 8) * gcount * (pcount + n);
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
    const dataLength = dataLengthOf(header);
    const name = headerString(header, 'EXTNAME') ?? (index === 0 ? 'PRIMARY' : `HDU ${index}`);
    if (dataOffset + dataLength > bytes.length) {
      throw new AstrospecError(
        'TRUNCATED',
        `file ends inside the data of HDU ${index} (${name}): needs ${dataOffset + dataLength} bytes, has ${bytes.length}`,
        { file },
      );
    }
    hdus.push({ index, name, header, dataOffset, dataLength });
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

/** Column layout of a BINTABLE HDU. */
export function tableColumns(hdu: Hdu, file: string): TableColumn[] {
  const fields = headerNumber(hdu.header, 'TFIELDS') ?? 0;
  const columns: TableColumn[] = [];
  let offset = 0;
  for (let k = 1; k <= fields; k++) {
    const tform = headerString(hdu.header, `TFORM${k}`) ?? '';
    const m = /^\s*(\d*)([LXBIJKAEDCMPQ])/.exec(tform);
    const name = (headerString(hdu.header, `TTYPE${k}`) ?? `COL${k}`).trim();
    if (!m) throw new AstrospecError('UNSUPPORTED', `HDU ${hdu.index} (${hdu.name}): column ${name} has an unknown TFORM '${tform}'`, { file, column: name });
    const repeat = m[1] === '' ? 1 : Number(m[1]);
    const type = m[2]!;
    columns.push({ name, type, repeat, offset });
    offset += type === 'X' ? Math.ceil(repeat / 8) : repeat * TFORM_BYTES[type]!;
  }
  return columns;
}

/** Reads `count` big-endian float32 or float64 values starting at `offset` into a Float64Array. */
export function readBigEndianFloats(bytes: Uint8Array, offset: number, count: number, bytesPerValue: 4 | 8): Float64Array {
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
  if (!(Number.isInteger(element) && element >= 0 && element < column.repeat)) {
    throw new RangeError(`readTableColumn: element ${element} of ${column.name}, which has ${column.repeat}`);
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
