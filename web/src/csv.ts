/**
 * The competition CSV (`id,FE0,…,FE{L−1}[,label|answer][,…]`) parsed in pure TypeScript from a
 * stream of byte chunks, for the browser, where the project's native parser (src/io/csv.ts +
 * native/kernels/csv.cpp) can't run. It accepts and rejects exactly what the native reader does
 * (docs/formats.md, "CSV") and gives the same messages, so the page and `astrospec classify` agree
 * on every file:
 * - rows are split at `\n` (a trailing `\r` is dropped), a UTF-8 BOM is skipped, blank lines are
 *   accepted only at the end;
 * - numbers are rounded once, correctly, from decimal to float32, as native/kernels/csv.cpp does:
 *   the usual ≤ 15-digit cells take one exact double operation (m·10^k), and the rare double that
 *   lands exactly on a float32 rounding midpoint is settled by an exact comparison in BigInt;
 * - NaN, ±Inf and beyond-float32 flux are rejected; ids and trailing cells may be double-quoted.
 * Memory stays at about one batch plus one line, whatever the file size.
 */
import { AstrospecError, excerpt } from '../../src/errors.js';
import { CLASS_NAMES, NO_LABEL, parseLabel, type SpectrumBatch, type WavelengthGrid } from '../../src/io/batch.js';
import { gridForPixelCount, parseCsvHeaderLine, parseExtraCell, type CsvHeaderColumns } from '../../src/io/columns.js';

/** Longest header or data line accepted (as src/io/csv.ts MAX_LINE_BYTES). */
export const MAX_LINE_BYTES = 64 << 20;

const NEWLINE = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const SPACE = 0x20;
const TAB = 0x09;

export type CsvHeader = CsvHeaderColumns;

export interface CsvStreamOptions {
  /** Rows per yielded batch (the last may be shorter). Default 1024. */
  batchSize?: number;
  /** The grid the pixels must fill (its length must equal the file's); default: the competition grid's start and step. */
  grid?: WavelengthGrid;
}

// ignoreBOM: the header's one BOM is skipped explicitly (as the native reader does); a decoder that also
// dropped one would eat a second BOM, or one at the start of an id.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

// ---------------------------------------------------------------------------------------------
// Numbers

const POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];
const FLT_MIN = 1.1754943508222875e-38;
const FLT_MAX = 3.4028234663852886e38;
const scratch64 = new Float64Array(1);
const scratchWords = new Uint32Array(scratch64.buffer);
const scratch32 = new Float32Array(1);
const scratch32Bits = new Uint32Array(scratch32.buffer);
/** Index of the low 32-bit word of a float64 (little-endian on every browser and Node platform). */
const LOW = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;

/** True when the double d lies exactly halfway between two float32s (normal range), where rounding it again would round twice. */
function isFloat32Midpoint(d: number): boolean {
  scratch64[0] = d;
  return (scratchWords[LOW]! & 0x1fffffff) === 0x10000000;
}

/** The float32 next to f (≥ 0, finite) away from zero. */
function nextUpFloat32(f: number): number {
  scratch32[0] = f;
  scratch32Bits[0] = scratch32Bits[0]! + 1;
  return scratch32[0]!;
}

/** Exact value of a non-negative finite double as m·2^e with integer m. */
function binaryParts(d: number): { m: bigint; e: number } {
  scratch64[0] = d;
  const hi = scratchWords[1 - LOW]!;
  const lo = scratchWords[LOW]!;
  const exponent = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (exponent === 0) return { m, e: -1074 };
  m |= 1n << 52n;
  return { m, e: exponent - 1075 };
}

/** Sign of (digits·10^exp10 − d) for a positive double d, exactly. */
function compareDecimal(digits: string, exp10: number, d: number): number {
  const { m, e } = binaryParts(d);
  let left = BigInt(digits);
  let right = m;
  if (exp10 >= 0) left *= 10n ** BigInt(exp10);
  else right *= 10n ** BigInt(-exp10);
  if (e >= 0) right <<= BigInt(e);
  else left <<= BigInt(-e);
  return left === right ? 0 : left > right ? 1 : -1;
}

/**
 * The decimal `digits`·10^exp10 (digits: the significant digits, no sign or point) correctly
 * rounded to float32 (magnitude only). Number() rounds correctly to float64; rounding that to
 * float32 is right unless the double is exactly a float32 midpoint, which is settled exactly.
 */
export function decimalToFloat32(digits: string, exp10: number): number {
  // The exponent is clamped (as the native parser caps it): far outside float32's range either way.
  const e = Math.max(-100000, Math.min(100000, exp10));
  const d = Number(`${digits}e${e}`);
  const f = Math.fround(d);
  if (f === d || !Number.isFinite(f) || d === 0) return f;
  const lower = f < d ? f : (() => {
    // f rounded up; the float32 below it is the other candidate.
    scratch32[0] = f;
    scratch32Bits[0] = scratch32Bits[0]! - 1;
    return scratch32[0]!;
  })();
  const upper = nextUpFloat32(lower);
  if ((lower + upper) / 2 !== d) return f; // not a midpoint: rounding twice is rounding once
  const side = compareDecimal(digits, exp10, d);
  return side > 0 ? upper : side < 0 ? lower : f;
}

const enum NumberStatus {
  Ok,
  Malformed,
  NonFinite,
}

/** Result of parseNumber: the value and where the field's text ends (after trailing spaces). */
interface ParsedNumber {
  status: NumberStatus;
  value: number;
  end: number;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * End of the inf / infinity / nan / nan(chars) word at data[q…e) (any case), as C++'s
 * std::from_chars reads it in native/kernels/csv.cpp, or −1.
 */
function nonFiniteWordEnd(data: Uint8Array, q: number, e: number): number {
  const lower = (k: number) => (q + k < e ? data[q + k]! | 0x20 : -1);
  const is = (word: string) => [...word].every((ch, k) => lower(k) === ch.charCodeAt(0));
  if (is('infinity')) return q + 8;
  if (is('inf')) return q + 3;
  if (!is('nan')) return -1;
  if (q + 3 < e && data[q + 3] === 0x28) {
    // nan(n-char-sequence): letters, digits and '_' up to ')'; without the ')', just "nan".
    let k = q + 4;
    while (k < e && (isDigit(data[k]!) || ((data[k]! | 0x20) >= 0x61 && (data[k]! | 0x20) <= 0x7a) || data[k] === 0x5f)) k++;
    if (k < e && data[k] === 0x29) return k + 1;
  }
  return q + 3;
}

const parsed: ParsedNumber = { status: NumberStatus.Ok, value: 0, end: 0 };

/** Parses a decimal number at data[p…e), as native/kernels/csv.cpp parse_number. Reuses one result object. */
function parseNumber(data: Uint8Array, p: number, e: number): ParsedNumber {
  while (p < e && (data[p] === SPACE || data[p] === TAB)) p++;
  let negative = false;
  if (p < e && (data[p] === 0x2d || data[p] === 0x2b)) {
    negative = data[p] === 0x2d;
    p++;
  }
  const s = p;
  let m = 0;
  let q = p;
  while (q < e && isDigit(data[q]!)) m = m * 10 + (data[q++]! - 0x30);
  const intDigits = q - s;
  let fracLen = 0;
  if (q < e && data[q] === 0x2e) {
    q++;
    const f = q;
    while (q < e && isDigit(data[q]!)) m = m * 10 + (data[q++]! - 0x30);
    fracLen = q - f;
  }
  if (intDigits + fracLen === 0) {
    const word = nonFiniteWordEnd(data, q, e);
    if (word < 0) {
      parsed.status = NumberStatus.Malformed;
      parsed.end = q;
      return parsed;
    }
    // Spaces may follow, as after a number.
    q = word;
    while (q < e && (data[q] === SPACE || data[q] === TAB)) q++;
    parsed.status = NumberStatus.NonFinite;
    parsed.end = q;
    return parsed;
  }
  let exponent = 0;
  if (q < e && (data[q] === 0x65 || data[q] === 0x45)) {
    q++;
    let expNegative = false;
    if (q < e && (data[q] === 0x2d || data[q] === 0x2b)) {
      expNegative = data[q] === 0x2d;
      q++;
    }
    if (q >= e || !isDigit(data[q]!)) {
      parsed.status = NumberStatus.Malformed;
      parsed.end = q;
      return parsed;
    }
    while (q < e && isDigit(data[q]!)) {
      if (exponent < 100000) exponent = exponent * 10 + (data[q]! - 0x30);
      q++;
    }
    if (expNegative) exponent = -exponent;
  }
  const numberEnd = q;
  while (q < e && (data[q] === SPACE || data[q] === TAB)) q++;
  parsed.end = q;
  const digits = intDigits + fracLen;
  const k = exponent - fracLen;
  let v: number;
  if (m === 0 && digits <= 15) {
    v = 0;
  } else if (digits <= 15 && k >= -22 && k <= 22) {
    // m < 10^15 and 10^|k| are exact doubles: one correctly rounded operation.
    const d = k < 0 ? m / POW10[-k]! : m * POW10[k]!;
    v = d >= FLT_MIN && d < FLT_MAX && !isFloat32Midpoint(d) ? Math.fround(d) : slowNumber(data, s, numberEnd, exponent);
  } else {
    v = slowNumber(data, s, numberEnd, exponent);
  }
  if (!Number.isFinite(v)) {
    parsed.status = NumberStatus.NonFinite;
    return parsed;
  }
  parsed.status = NumberStatus.Ok;
  parsed.value = negative ? -v : v;
  return parsed;
}

/** The exact route: the significant digits as text and the decimal exponent. */
function slowNumber(data: Uint8Array, s: number, end: number, exponent: number): number {
  let digits = '';
  let fracLen = 0;
  let inFraction = false;
  for (let i = s; i < end; i++) {
    const c = data[i]!;
    if (c === 0x2e) inFraction = true;
    else if (isDigit(c)) {
      digits += String.fromCharCode(c);
      if (inFraction) fracLen++;
    } else break; // the exponent
  }
  digits = digits.replace(/^0+/, '');
  if (digits === '') return 0;
  return decimalToFloat32(digits, exponent - fracLen);
}

// ---------------------------------------------------------------------------------------------
// Rows

const enum CsvError {
  None,
  TooFewFields,
  TooManyFields,
  NotANumber,
  NonFinite,
  UnterminatedQuote,
  EmptyLine,
}

interface RowFailure {
  kind: CsvError;
  field: number;
  offset: number;
}

type TrailingKind = 'label' | 'extra' | 'tag';

function isBlankByte(x: number): boolean {
  return x === NEWLINE || x === CR || x === SPACE || x === TAB;
}

function isBlankRange(data: Uint8Array, b: number, e: number): boolean {
  for (let i = b; i < e; i++) if (!isBlankByte(data[i]!)) return false;
  return true;
}

/**
 * A growable byte window over the stream: [start, end) holds the bytes not yet consumed, and
 * grows by doubling, so a line far longer than a chunk costs O(its length).
 */
class ByteWindow {
  data = new Uint8Array(1 << 16);
  start = 0;
  end = 0;

  append(chunk: Uint8Array): void {
    const pending = this.end - this.start;
    if (this.end + chunk.length > this.data.length) {
      if (pending + chunk.length > this.data.length) {
        let size = this.data.length;
        while (size < pending + chunk.length) size *= 2;
        const grown = new Uint8Array(size);
        grown.set(this.data.subarray(this.start, this.end));
        this.data = grown;
      } else {
        this.data.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = pending;
    }
    this.data.set(chunk, this.end);
    this.end += chunk.length;
  }
}

/**
 * Streams spectra from CSV bytes. `chunks` is any async iterable of byte chunks (a Blob's
 * stream(), a Node read stream, a gunzipped stream).
 */
export async function* readCsvBatches(chunks: AsyncIterable<Uint8Array>, file: string, options: CsvStreamOptions = {}): AsyncGenerator<SpectrumBatch> {
  const batchSize = options.batchSize ?? 1024;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new AstrospecError('BAD_ARGUMENT', `batchSize must be a positive integer, got ${batchSize}`);
  const window = new ByteWindow();
  const iterator = chunks[Symbol.asyncIterator]();
  let eof = false;
  const pull = async (): Promise<boolean> => {
    if (eof) return false;
    const next = await iterator.next();
    if (next.done) {
      eof = true;
      return false;
    }
    window.append(next.value);
    return true;
  };

  try {
    // Header: up to the first line end.
    let scan = 0;
    let nl = -1;
    for (;;) {
      nl = window.data.subarray(0, window.end).indexOf(NEWLINE, scan);
      if (nl >= 0) break;
      scan = window.end;
      if (window.end > MAX_LINE_BYTES) throw new AstrospecError('BAD_INPUT', `header line is longer than ${MAX_LINE_BYTES >> 20} MB (no line end found)`, { file, row: 0 });
      if (!(await pull())) break;
    }
    const headerEnd = nl < 0 ? window.end : nl;
    if (isBlankRange(window.data, 0, window.end)) {
      // A file of nothing but blank lines is empty; a blank first line before text is a bad header.
      while (isBlankRange(window.data, 0, window.end) && (await pull()));
      if (isBlankRange(window.data, 0, window.end)) throw new AstrospecError('BAD_INPUT', 'empty file: expected a header id,FE0,…', { file });
    }
    const header = parseCsvHeaderLine(utf8.decode(window.data.subarray(0, headerEnd)), file, options);
    window.start = nl < 0 ? window.end : nl + 1;
    const grid = gridForPixelCount(header.pixels, { grid: options.grid }, file);
    yield* new CsvRows(file, header, grid, batchSize, window, pull).batches();
  } finally {
    await iterator.return?.();
  }
}

class CsvRows {
  private readonly total: number;
  private kinds?: TrailingKind[];
  private extraNames: string[] = [];
  private tagNames: string[] = [];
  /** Text cells of the current batch's rows: the id (when the file has one), then each trailing column. */
  private readonly texts: string[][] = [];

  constructor(
    private readonly file: string,
    private readonly header: CsvHeader,
    private readonly grid: WavelengthGrid,
    private readonly batchSize: number,
    private readonly window: ByteWindow,
    private readonly pull: () => Promise<boolean>,
  ) {
    this.total = (header.hasId ? 1 : 0) + header.pixels + header.trailing.length;
  }

  async *batches(): AsyncGenerator<SpectrumBatch> {
    const { window, batchSize } = this;
    const L = this.header.pixels;
    let row = 0; // data rows parsed so far (0-based index of the next)
    let flux = new Float32Array(batchSize * L);
    let filled = 0;
    /** A blank line seen: the error it makes if any text follows it. */
    let blank: AstrospecError | undefined;
    let scan = window.start;
    let more = true;
    for (;;) {
      // Every complete line in the window.
      for (;;) {
        const nl = window.data.subarray(0, window.end).indexOf(NEWLINE, scan);
        if (nl < 0) break;
        const b = window.start;
        let e = nl;
        if (e > b && window.data[e - 1] === CR) e--;
        window.start = nl + 1;
        scan = window.start;
        if (isBlankRange(window.data, b, e)) {
          blank ??= this.blankLineError(b, e, row);
          row++;
          continue;
        }
        // The rows before a bad line are checked first (labels, numeric extras): the first error in
        // row order is the one reported, as the native reader does.
        if (blank) throw this.afterCheckingRows(blank, flux, filled);
        const failure = this.parseRow(window.data, b, e, flux.subarray(filled * L, (filled + 1) * L), filled);
        if (failure) throw this.afterCheckingRows(this.rowError(window.data, failure, row), flux, filled);
        filled++;
        row++;
        if (filled === batchSize) {
          yield this.finishBatch(flux, filled);
          flux = new Float32Array(batchSize * L);
          filled = 0;
        }
      }
      if (!more) break;
      // append() may move the pending bytes to the front: remember how far they were scanned, relative to them.
      const scanned = window.end - window.start;
      if (scanned > MAX_LINE_BYTES) {
        throw new AstrospecError('BAD_INPUT', `line is longer than ${MAX_LINE_BYTES >> 20} MB (no line end found)`, { file: this.file, row: row + 1 });
      }
      more = await this.pull();
      scan = window.start + scanned;
      if (!more && window.end > window.start) {
        // The last line has no line end: parse it like the others.
        window.append(Uint8Array.of(NEWLINE));
      }
    }
    if (filled > 0) yield this.finishBatch(flux, filled);
  }

  /** `error`, unless a row of the batch so far fails its label or extra checks first (then that is thrown). */
  private afterCheckingRows(error: AstrospecError, flux: Float32Array, filled: number): AstrospecError {
    if (filled > 0) this.finishBatch(flux, filled);
    return error;
  }

  /** Data rows yielded so far: blank lines come only at the end, so this is the next batch's first row. */
  private dataRows = 0;

  private blankLineError(b: number, e: number, row: number): AstrospecError {
    if (b === e) return new AstrospecError('BAD_INPUT', 'empty line between rows', { file: this.file, row: row + 1 });
    // Whitespace-only: the error the row itself makes (too few fields, or an empty cell).
    const failure = this.parseRow(this.window.data, b, e, new Float32Array(this.header.pixels), -1);
    return failure ? this.rowError(this.window.data, failure, row) : new AstrospecError('BAD_INPUT', 'empty line between rows', { file: this.file, row: row + 1 });
  }

  /** Parses one line data[b…e) into `flux`; its text cells go to texts[at] (at < 0: discard). */
  private parseRow(data: Uint8Array, b: number, e: number, flux: Float32Array, at: number): RowFailure | undefined {
    const { header, total } = this;
    if (b === e) return { kind: CsvError.EmptyLine, field: 0, offset: b };
    const cells: string[] = [];
    let p = b;
    let field = 0;
    let failure: RowFailure | undefined;
    // After field `field` ends at q: step over the comma, or check the line ends with the last field.
    const next = (q: number): boolean => {
      if (field + 1 === total) {
        if (q !== e) {
          failure = { kind: CsvError.TooManyFields, field: total, offset: q };
          return false;
        }
        return true;
      }
      if (q === e) {
        failure = { kind: CsvError.TooFewFields, field: field + 1, offset: q };
        return false;
      }
      p = q + 1;
      field++;
      return true;
    };
    const textField = (): number | undefined => {
      if (p < e && data[p] === QUOTE) {
        let c = p + 1;
        for (;;) {
          const hit = data.subarray(0, e).indexOf(QUOTE, c);
          if (hit < 0) return undefined;
          if (hit + 1 < e && data[hit + 1] === QUOTE) {
            c = hit + 2;
            continue;
          }
          const q = hit + 1;
          if (q < e && data[q] !== COMMA) return undefined;
          return q;
        }
      }
      const comma = data.subarray(0, e).indexOf(COMMA, p);
      return comma < 0 ? e : comma;
    };
    const text = (q: number) => {
      if (q - p >= 2 && data[p] === QUOTE) return utf8.decode(data.subarray(p + 1, q - 1)).replaceAll('""', '"');
      return utf8.decode(data.subarray(p, q));
    };
    if (header.hasId) {
      const q = textField();
      if (q === undefined) return { kind: CsvError.UnterminatedQuote, field, offset: p };
      cells.push(text(q));
      if (!next(q)) return failure;
    }
    for (let i = 0; i < header.pixels; i++) {
      const r = parseNumber(data, p, e);
      // A number up to its comma first; only then is its value judged (as native/kernels/csv.cpp).
      if (r.status === NumberStatus.Malformed || (r.end < e && data[r.end] !== COMMA)) return { kind: CsvError.NotANumber, field, offset: p };
      if (r.status === NumberStatus.NonFinite) return { kind: CsvError.NonFinite, field, offset: p };
      flux[i] = r.value;
      if (!next(r.end)) return failure;
    }
    for (let t = 0; t < header.trailing.length; t++) {
      const q = textField();
      if (q === undefined) return { kind: CsvError.UnterminatedQuote, field, offset: p };
      cells.push(text(q));
      if (!next(q)) return failure;
    }
    if (at >= 0) this.texts[at] = cells;
    return undefined;
  }

  /** Text of the cell starting at `offset`, for error messages. */
  private cellText(data: Uint8Array, offset: number): string {
    let end = offset;
    while (end < this.window.end && end - offset < 60 && data[end] !== COMMA && data[end] !== NEWLINE && data[end] !== CR) end++;
    return utf8.decode(data.subarray(offset, end));
  }

  private rowError(data: Uint8Array, r: RowFailure, rowIndex: number): AstrospecError {
    const { header, file } = this;
    const total = header.columns.length;
    const row = rowIndex + 1;
    const column = r.field < total ? header.columns[r.field]!.trim() : r.field + 1;
    const where = { file, row, column };
    switch (r.kind) {
      case CsvError.TooFewFields:
        return new AstrospecError('BAD_INPUT', `row has too few fields: it ends before this column (the header has ${total} columns)`, where);
      case CsvError.TooManyFields:
        return new AstrospecError('BAD_INPUT', `row has more fields than the header's ${total} columns`, { file, row, column: total + 1 });
      case CsvError.NotANumber: {
        const text = this.cellText(data, r.offset);
        return new AstrospecError('BAD_INPUT', text.trim() === '' ? 'empty cell: missing flux value' : `"${text}" is not a number`, where);
      }
      case CsvError.NonFinite: {
        const text = this.cellText(data, r.offset);
        return new AstrospecError('BAD_INPUT', `flux "${text}" is not a finite float32 (NaN, infinite and out-of-range flux are rejected)`, where);
      }
      case CsvError.EmptyLine:
        return new AstrospecError('BAD_INPUT', 'empty line between rows', { file, row });
      default:
        return new AstrospecError('BAD_INPUT', 'malformed quoted field (no closing quote on the line, or text after it)', where);
    }
  }

  /**
   * A trailing column other than label/answer is numeric when each of its cells in the first
   * batch is a number or empty and at least one is a number; otherwise text (as src/io/csv.ts).
   */
  private decideKinds(rows: number): TrailingKind[] {
    const { header } = this;
    const base = header.hasId ? 1 : 0;
    return header.trailing.map((_, k) => {
      if (k === header.labelIndex) return 'label';
      let numbers = 0;
      for (let r = 0; r < rows; r++) {
        const text = this.texts[r]![base + k]!;
        if (text.trim() === '') continue;
        if (parseExtraCell(text) === undefined) return 'tag';
        numbers++;
      }
      return numbers > 0 ? 'extra' : 'tag';
    });
  }

  private finishBatch(flux: Float32Array, rows: number): SpectrumBatch {
    const { header, file } = this;
    const firstRow = this.dataRows;
    this.dataRows += rows;
    if (!this.kinds) {
      this.kinds = this.decideKinds(rows);
      this.extraNames = header.trailing.filter((_, k) => this.kinds![k] === 'extra');
      this.tagNames = header.trailing.filter((_, k) => this.kinds![k] === 'tag');
    }
    const kinds = this.kinds;
    const L = header.pixels;
    const batch: SpectrumBatch = { ids: new Array<string>(rows), flux: flux.length === rows * L ? flux : flux.subarray(0, rows * L), grid: this.grid, firstRow };
    if (header.labelIndex >= 0) batch.labels = new Int8Array(rows);
    if (this.extraNames.length > 0) batch.extra = Object.fromEntries(this.extraNames.map((n) => [n, new Float32Array(rows)]));
    if (this.tagNames.length > 0) batch.tags = Object.fromEntries(this.tagNames.map((n) => [n, new Array<string>(rows)]));
    const base = header.hasId ? 1 : 0;
    const firstTrailingColumn = base + header.pixels;
    for (let r = 0; r < rows; r++) {
      const cells = this.texts[r]!;
      batch.ids[r] = header.hasId ? cells[0]! : String(firstRow + r);
      for (let k = 0; k < kinds.length; k++) {
        const text = cells[base + k]!;
        const name = header.trailing[k]!;
        const where = { file, row: firstRow + r + 1, column: header.columns[firstTrailingColumn + k] ?? name };
        if (kinds[k] === 'label') {
          if (text.trim() === '') {
            batch.labels![r] = NO_LABEL;
            continue;
          }
          const label = parseLabel(text);
          if (label < 0) throw new AstrospecError('BAD_INPUT', `unknown label "${excerpt(text)}" (expected ${CLASS_NAMES.join('/')}, any case)`, where);
          batch.labels![r] = label;
        } else if (kinds[k] === 'extra') {
          const value = parseExtraCell(text);
          if (value === undefined) {
            throw new AstrospecError('BAD_INPUT', `"${excerpt(text)}" is not a number (earlier rows made this a numeric column)`, { file, row: firstRow + r + 1, column: name });
          }
          batch.extra![name]![r] = value;
        } else {
          batch.tags![name]![r] = text;
        }
      }
    }
    this.texts.length = 0;
    return batch;
  }
}
