/**
 * Competition CSV spectra, as pandas writes them: header `id,FE0,…,FE{L−1}[,label|answer][,…]`,
 * one spectrum per line; optionally gzip-compressed (`.csv.gz`).
 *
 * Reading streams the file in large chunks (bounded memory whatever its size), cuts each chunk at
 * its last line end, and parses the rows natively (native/kernels/csv.cpp, multi-threaded) straight
 * into the batch's Float32Array; only ids, labels and the few trailing columns are decoded in JS.
 * Writing formats float32 natively in the shortest text that reads back to the same float, so
 * Arrow → CSV → Arrow is bit-exact. See docs/formats.md for the accepted dialect and the errors.
 */
import { createReadStream, createWriteStream, type ReadStream, type WriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, type Gzip } from 'node:zlib';
import { AstrospecError, excerpt, type ErrorLocation } from '../errors.js';
import { native } from '../native/binding.js';
import { CLASS_NAMES, NO_LABEL, parseLabel, type SpectrumBatch, type WavelengthGrid } from './batch.js';
import { commitPartial, discardPartial, temporaryPath } from './partial-files.js';
import { countBytesRead, countRowsDecoded } from './read-stats.js';
import { checkUnchanged, fileIdentity, type FileIdentity } from './file-identity.js';
import {
  allocateBatch,
  batchSizeOf,
  checkSinkBatch,
  extraColumnsOf,
  gridForPixelCount,
  parseCsvHeaderLine,
  parseExtraCell,
  pixelColumnName,
  sinkColumns,
  truncateBatch,
  type CsvHeaderColumns,
} from './columns.js';
import type { ReadOptions, SpectraSink, SpectraSource, WriteOptions } from './types.js';

/** Bytes read per step: large enough that one native call spreads hundreds of rows over threads. */
export const CSV_CHUNK_BYTES = 16 << 20;
/**
 * Bytes read per step past the end of a byte range, while finishing its last line: a 2600-pixel
 * row is ~30 kB, so one or two steps, instead of a whole chunk of the next shard's rows.
 */
const RANGE_TAIL_BYTES = 64 << 10;
/**
 * Longest header or data line accepted. A 2600-pixel row is ~40 kB; without a limit, a file with
 * no line end (or a damaged one) would be buffered whole while looking for the end of its first line.
 */
export const MAX_LINE_BYTES = 64 << 20;
const NEWLINE = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

function isGzip(path: string): boolean {
  return path.toLowerCase().endsWith('.gz');
}

// ---------------------------------------------------------------------------------------------
// Byte streaming

/**
 * Yields the file's bytes in chunks; `more(rest)` returns rest + at least the next chunk, or null
 * at EOF. Each call reads at least as many new bytes as `rest` holds, so a line much longer than a
 * chunk is assembled in O(its length) (doubling), not re-copied and re-scanned once per chunk.
 */
interface ByteReader {
  more(rest: Buffer): Promise<Buffer | null>;
  /** Releases the file descriptor; safe to call more than once and after a failure. */
  close(): Promise<void>;
}

/** Destroys a read stream and waits until its file descriptor is really closed. */
async function closeReadStream(stream: ReadStream): Promise<void> {
  if (stream.closed) return;
  const closed = once(stream, 'close').catch(() => undefined);
  stream.destroy();
  await closed;
}

interface ByteReaderOptions {
  /** File offset of the first byte read (plain files only). */
  start?: number;
  /**
   * Reads stop at this offset, then continue RANGE_TAIL_BYTES at a time (plain files only):
   * a byte-range reader finishes its last line without reading a chunk of the next range.
   */
  softEnd?: number;
  /** The file as it was opened: reading fails if it has changed since. */
  identity?: FileIdentity;
  /**
   * Plain files: read the next chunk while the caller works on this one (parsing a chunk takes
   * ~10× as long as reading it from the page cache, and the two then run on different threads).
   */
  readAhead?: boolean;
}

/**
 * Bytes kept free in front of each read-ahead chunk: the caller's unfinished last line (`rest`,
 * one row: ~25–40 kB for 2600 pixels) is copied there, so the chunk itself is never moved.
 */
const READ_AHEAD_HEADROOM = 1 << 20;

async function openBytes(path: string, chunkBytes = CSV_CHUNK_BYTES, options: ByteReaderOptions = {}): Promise<ByteReader> {
  if (isGzip(path)) {
    if (options.identity) await checkUnchanged(path, options.identity);
    const file = createReadStream(path, { highWaterMark: 1 << 20 });
    file.on('data', (chunk) => countBytesRead(chunk.length));
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    // pipe() alone leaves the file open when gunzip fails or is dropped early (one leaked
    // descriptor per corrupt or > 64 kB .csv.gz), and doesn't forward the file's own errors.
    file.on('error', (error) => gunzip.destroy(error));
    file.pipe(gunzip);
    const iterator = (gunzip as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    let done = false;
    const close = async () => {
      done = true;
      gunzip.destroy();
      await closeReadStream(file);
      await iterator.return?.().catch(() => undefined);
    };
    return {
      async more(rest) {
        if (done) return null;
        const parts: Buffer[] = rest.length > 0 ? [rest] : [];
        const want = Math.max(chunkBytes, rest.length);
        let size = 0;
        while (size < want) {
          let next: IteratorResult<Buffer>;
          try {
            next = await iterator.next();
          } catch (error) {
            await close();
            const e = error as NodeJS.ErrnoException;
            if (e.syscall !== undefined) throw new AstrospecError('IO', e.message, { file: path }, { cause: error });
            const code = e.code === 'Z_BUF_ERROR' || /unexpected end/i.test(e.message) ? 'TRUNCATED' : 'BAD_INPUT';
            throw new AstrospecError(code, `gzip stream: ${e.message}`, { file: path }, { cause: error });
          }
          if (next.done) {
            done = true;
            break;
          }
          parts.push(next.value);
          size += next.value.length;
        }
        return size === 0 ? null : Buffer.concat(parts);
      },
      close,
    };
  }
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (error) {
    throw new AstrospecError('IO', (error as Error).message, { file: path }, { cause: error });
  }
  if (options.identity) {
    try {
      await checkUnchanged(path, options.identity, fh);
    } catch (error) {
      await fh.close();
      throw error;
    }
  }
  let position = options.start ?? 0;
  const softEnd = options.softEnd;
  // One buffer is reused for every read: callers decode what they need from a chunk before
  // asking for the next, and fresh 16 MB buffers would each cost thousands of page faults.
  let pool: Buffer | undefined;
  let closed = false;
  // Read-ahead: two more buffers, [headroom | chunk], taking turns; the next chunk is read into
  // the one the caller isn't holding. Bytes are counted when they are handed out, so a chunk read
  // ahead and never asked for (a byte range that ends) isn't counted as read.
  const aheadBuffers: Buffer[] = [];
  let holding: ArrayBufferLike | undefined;
  let pending: { buf: Buffer; length: number; bytesRead: Promise<number> } | undefined;
  const wantAt = (at: number, rest: Buffer): number => {
    const want = Math.max(chunkBytes, rest.length);
    if (softEnd === undefined) return want;
    return at < softEnd ? Math.min(want, softEnd - at) : Math.max(RANGE_TAIL_BYTES, rest.length);
  };
  const readAhead = () => {
    if (!options.readAhead || closed || (softEnd !== undefined && position >= softEnd)) return;
    let buf = aheadBuffers.find((b) => b.buffer !== holding);
    if (!buf) {
      buf = Buffer.allocUnsafeSlow(READ_AHEAD_HEADROOM + chunkBytes);
      aheadBuffers.push(buf);
    }
    const length = softEnd === undefined ? chunkBytes : Math.min(chunkBytes, softEnd - position);
    const bytesRead = fh.read(buf, READ_AHEAD_HEADROOM, length, position).then((r) => r.bytesRead);
    bytesRead.catch(() => undefined); // awaited by more() or close()
    pending = { buf, length, bytesRead };
  };
  /** rest + the chunk read ahead (+ more when rest is longer than a chunk, so reads keep doubling). */
  const takeAhead = async (rest: Buffer, ahead: NonNullable<typeof pending>): Promise<Buffer | null> => {
    const n = await ahead.bytesRead;
    if (n === 0) return null;
    const want = wantAt(position, rest);
    position += n;
    countBytesRead(n);
    const extra = n < ahead.length ? 0 : Math.max(0, want - n); // a short read is the end of the file
    let out: Buffer;
    if (extra === 0 && rest.length <= READ_AHEAD_HEADROOM) {
      rest.copy(ahead.buf, READ_AHEAD_HEADROOM - rest.length);
      out = ahead.buf.subarray(READ_AHEAD_HEADROOM - rest.length, READ_AHEAD_HEADROOM + n);
    } else {
      // Rare (a line longer than the headroom or a chunk): put them together in a new buffer.
      const joined = Buffer.allocUnsafeSlow(rest.length + n + extra);
      rest.copy(joined, 0);
      ahead.buf.copy(joined, rest.length, READ_AHEAD_HEADROOM, READ_AHEAD_HEADROOM + n);
      let size = rest.length + n;
      if (extra > 0) {
        const { bytesRead } = await fh.read(joined, size, extra, position);
        countBytesRead(bytesRead);
        position += bytesRead;
        size += bytesRead;
      }
      out = joined.subarray(0, size);
    }
    holding = out.buffer;
    readAhead();
    return out;
  };
  return {
    async more(rest) {
      // The first read goes into a read-ahead buffer too (one 16 MB buffer fewer to fault in).
      if (!pending) readAhead();
      if (pending) {
        const ahead = pending;
        pending = undefined;
        return takeAhead(rest, ahead);
      }
      const want = wantAt(position, rest);
      const need = rest.length + want;
      let buf: Buffer;
      /** Where rest was in pool before it was moved to the front (-1: not moved). */
      let movedFrom = -1;
      if (pool && pool.length >= need) {
        buf = pool;
        // rest usually lies in pool already; it is moved to the front only when it isn't there.
        if (rest.length > 0 && !(rest.buffer === pool.buffer && rest.byteOffset === pool.byteOffset)) {
          if (rest.buffer === pool.buffer) {
            movedFrom = rest.byteOffset - pool.byteOffset;
            pool.copyWithin(0, movedFrom, movedFrom + rest.length);
          } else rest.copy(pool, 0);
        }
      } else {
        buf = Buffer.allocUnsafeSlow(Math.max(need, 2 * (pool?.length ?? 0)));
        rest.copy(buf, 0);
        pool = buf;
      }
      const { bytesRead } = await fh.read(buf, rest.length, want, position);
      countBytesRead(bytesRead);
      position += bytesRead;
      if (bytesRead === 0) {
        // At the end the caller goes on with its `rest` (a last line without a line end): moving
        // it to the front overwrote the part of it that overlapped its new place, so it is put
        // back. (Found by npm run fuzz: the last row's id read as "\r", its flux as other bytes.)
        if (movedFrom >= 0) pool!.copyWithin(movedFrom, 0, rest.length);
        return null;
      }
      holding = buf.buffer;
      readAhead();
      return buf.subarray(0, rest.length + bytesRead);
    },
    async close() {
      if (closed) return;
      closed = true;
      // The descriptor stays open until a read in flight on it has finished.
      await pending?.bytesRead.catch(() => undefined);
      pending = undefined;
      await fh.close();
    },
  };
}

/**
 * A batch's flux array, not zero-filled: the parser writes every value of every row it returns
 * (the last batch's unused rows are zeroed before it is handed out). `new Float32Array` would
 * clear ~10 MB per batch (calloc), or fault in fresh zeroed pages; malloc'd memory is reused
 * from batches the consumer has dropped.
 */
function uninitialisedFlux(length: number): Float32Array {
  const bytes = Buffer.allocUnsafeSlow(length * Float32Array.BYTES_PER_ELEMENT);
  return new Float32Array(bytes.buffer, bytes.byteOffset, length);
}

// ---------------------------------------------------------------------------------------------
// Header

export interface CsvHeader extends CsvHeaderColumns {
  /** Bytes up to and including the header's line end (BOM included). */
  headerBytes: number;
}

/** Validates the header line of `bytes` (which must contain it). */
export function parseCsvHeader(bytes: Buffer, file: string, options: ReadOptions = {}): CsvHeader {
  const nl = bytes.indexOf(NEWLINE);
  const end = nl < 0 ? bytes.length : nl;
  // Decoded with its BOM, of which parseCsvHeaderLine drops exactly one, as the native parser does.
  return { ...parseCsvHeaderLine(bytes.toString('utf8', 0, end), file, options), headerBytes: nl < 0 ? bytes.length : nl + 1 };
}

// ---------------------------------------------------------------------------------------------
// Reader

const CSV_ERRORS: Record<number, string> = {
  1: 'row has too few fields',
  2: 'row has too many fields',
  3: 'not a number',
  4: 'not a finite float32',
  5: 'malformed quoted field (no closing quote on the line, or text after it)',
  6: 'empty line',
};

function decodeText(buf: Buffer, begin: number, end: number): string {
  if (end - begin >= 2 && buf[begin] === QUOTE) return buf.toString('utf8', begin + 1, end - 1).replaceAll('""', '"');
  return buf.toString('utf8', begin, end);
}

/** Text of the cell starting at `offset`, for error messages. */
function cellText(buf: Buffer, offset: number): string {
  let end = offset;
  while (end < buf.length && end - offset < 60 && buf[end] !== 0x2c && buf[end] !== NEWLINE && buf[end] !== CR) end++;
  return buf.toString('utf8', offset, end);
}

/** 'skip': a column other than the label, with ReadOptions.spectraOnly. */
type TrailingKind = 'label' | 'extra' | 'tag' | 'skip';

function isBlankByte(x: number): boolean {
  return x === NEWLINE || x === CR || x === 0x20 || x === 0x09;
}

function isBlank(bytes: Buffer): boolean {
  return bytes.every(isBlankByte);
}

/** Start of the line holding byte `offset` of `buf` (buf starts at a line start). */
function lineStart(buf: Buffer, offset: number): number {
  return offset > 0 ? buf.lastIndexOf(NEWLINE, offset - 1) + 1 : 0;
}

/** Blank lines are accepted only at the end of the file (pandas writes none; editors add them). */
/** Line ends in `buf`, counted up to `limit`. */
function countLineEnds(buf: Buffer, limit: number): number {
  let n = 0;
  for (let k = buf.indexOf(NEWLINE); k >= 0 && n < limit; k = buf.indexOf(NEWLINE, k + 1)) n++;
  return n;
}

async function restIsBlank(reader: ByteReader): Promise<boolean> {
  for (let more = await reader.more(Buffer.alloc(0)); more; more = await reader.more(Buffer.alloc(0))) {
    if (!isBlank(more)) return false;
  }
  return true;
}

/**
 * A byte range of a CSV file: the rows whose line starts at a file offset in [start, end). Ranges
 * that tile a file give every row to exactly one of them, and each reads only its own lines
 * (plus the end of the line before it, to find where its first line starts, and the rest of
 * its last line).
 */
export interface CsvByteRange {
  start: number;
  end: number;
}

/** A plain CSV's data, positioned at the first line a source owns. */
interface PositionedReader {
  reader: ByteReader;
  /** Unparsed bytes, starting at a line start. */
  buf: Buffer;
  /** File offset of buf[0]. */
  bufStart: number;
  /** Lines at or after this file offset belong to the next range (undefined: read to the end). */
  end?: number;
}

/** How a range's rows are named in errors: by data row in the file, or by the file offset of their line. */
interface RowLocator {
  rowsInFile: boolean;
  /** File offset of the parse buffer's first byte. */
  bufStart(): number;
}

/** How a CsvSource reads, from the ReadOptions it was opened with. */
interface CsvReadSettings {
  /** Native parser threads (0: the addon's default). */
  threads: number;
  chunkBytes: number;
  spectraOnly: boolean;
  /** One flux array for every batch (ReadOptions.reuseBuffers). */
  reuseBuffers: boolean;
}

class CsvSource implements SpectraSource {
  readonly format = 'csv' as const;
  readonly rowCount = undefined;
  readonly hasLabels: boolean;
  readonly byteLength: number;

  constructor(
    readonly path: string,
    private readonly identity: FileIdentity,
    readonly grid: WavelengthGrid,
    private readonly header: CsvHeader,
    private readonly batchSize: number,
    private readonly settings: CsvReadSettings,
    private readonly range?: CsvByteRange,
  ) {
    this.hasLabels = header.labelIndex >= 0;
    this.byteLength = range ? Math.max(0, Math.min(range.end, identity.size) - Math.max(range.start, header.headerBytes)) : identity.size;
  }

  /**
   * The rows of this file whose lines start at a file offset in [start, end) (a shard's slice).
   * Their batches number rows from 0 within the range (`firstRow`), unless the file has no id
   * column: its ids are row numbers in the file, so the lines before the range are counted
   * (read, not parsed) to number them.
   */
  byteRange(start: number, end: number): CsvSource {
    if (isGzip(this.path)) throw new AstrospecError('UNSUPPORTED', 'a gzip-compressed CSV can\'t be read from the middle (gzip can\'t seek): convert it to Arrow (astrospec convert) to split it', { file: this.path });
    return new CsvSource(this.path, this.identity, this.grid, this.header, this.batchSize, this.settings, { start, end });
  }

  /** Opens the data at the first line this source owns; null when it owns none. */
  private async position(): Promise<PositionedReader | null> {
    const { header, path, range } = this;
    const dataStart = header.headerBytes;
    if (isGzip(path)) {
      // gzip can't seek: decompress from the start and drop the header.
      const reader = await openBytes(path, this.settings.chunkBytes, { identity: this.identity });
      let buf: Buffer = (await reader.more(Buffer.alloc(0))) ?? Buffer.alloc(0);
      while (buf.length < dataStart) {
        const more = await reader.more(buf);
        if (!more) break;
        buf = more;
      }
      return { reader, buf: buf.subarray(Math.min(dataStart, buf.length)), bufStart: dataStart };
    }
    const from = range ? Math.max(range.start, dataStart) : dataStart;
    const end = range ? Math.min(range.end, this.identity.size) : undefined;
    if (end !== undefined && from >= end) return null;
    // A range that starts inside the data begins one byte early: if that byte is a line end, the
    // range's first line starts at `from`; otherwise the line under way belongs to the range before.
    const readStart = from > dataStart ? from - 1 : from;
    const reader = await openBytes(path, this.settings.chunkBytes, { start: readStart, softEnd: end, identity: this.identity, readAhead: true });
    let buf: Buffer = (await reader.more(Buffer.alloc(0))) ?? Buffer.alloc(0);
    let bufStart = readStart;
    if (from > dataStart) {
      for (;;) {
        const nl = buf.indexOf(NEWLINE);
        if (nl >= 0) {
          buf = buf.subarray(nl + 1);
          bufStart += nl + 1;
          break;
        }
        bufStart += buf.length;
        const more = await reader.more(Buffer.alloc(0));
        if (!more) {
          await reader.close();
          return null;
        }
        buf = more;
      }
      if (end !== undefined && bufStart >= end) {
        await reader.close();
        return null;
      }
    }
    return { reader, buf, bufStart, end };
  }

  /** Line ends in the file's data before file offset `before`: the data rows above a range. */
  private async linesBefore(before: number): Promise<number> {
    const reader = await openBytes(this.path, this.settings.chunkBytes, { start: this.header.headerBytes, softEnd: before, identity: this.identity });
    let lines = 0;
    let at = this.header.headerBytes;
    try {
      for (let buf = await reader.more(Buffer.alloc(0)); buf && at < before; buf = await reader.more(Buffer.alloc(0))) {
        const n = Math.min(buf.length, before - at);
        for (let k = buf.indexOf(NEWLINE); k >= 0 && k < n; k = buf.indexOf(NEWLINE, k + 1)) lines++;
        at += n;
      }
    } finally {
      await reader.close();
    }
    return lines;
  }

  /** Counts non-empty lines after the header (in the range, if any) without parsing any number. */
  async countRows(): Promise<number> {
    const positioned = await this.position();
    if (!positioned) return 0;
    const { reader, end } = positioned;
    let { buf, bufStart } = positioned;
    let rows = 0;
    // Whether the current line has a byte other than space, tab or CR so far: whitespace-only
    // lines are blank, as the parser treats them (accepted only at the end of the file). The scan
    // stops at a line's first such byte, so it costs next to nothing on data lines.
    let lineHasText = false;
    let atLineStart = true;
    try {
      for (let done = false; !done; ) {
        let at = 0;
        while (at < buf.length) {
          if (atLineStart && end !== undefined && bufStart + at >= end) {
            done = true;
            break;
          }
          atLineStart = false;
          const nl = buf.indexOf(NEWLINE, at);
          const stop = nl < 0 ? buf.length : nl;
          for (let k = at; !lineHasText && k < stop; k++) if (!isBlankByte(buf[k]!)) lineHasText = true;
          if (nl < 0) break;
          if (lineHasText) rows++;
          lineHasText = false;
          atLineStart = true;
          at = nl + 1;
        }
        if (done) break;
        bufStart += buf.length;
        const more = await reader.more(Buffer.alloc(0));
        if (!more) break;
        buf = more;
      }
    } finally {
      await reader.close();
    }
    return lineHasText ? rows + 1 : rows;
  }

  async *batches(): AsyncGenerator<SpectrumBatch> {
    const { header, batchSize, path } = this;
    const L = header.pixels;
    const textFields = (header.hasId ? 1 : 0) + header.trailing.length;
    const addon = native();
    const positioned = await this.position();
    if (!positioned) return;
    const { reader, end } = positioned;
    let { buf, bufStart } = positioned;
    let kinds: TrailingKind[] | undefined;
    let extraNames: string[] = [];
    let tagNames: string[] = [];
    const spans = new Int32Array(Math.max(1, batchSize * 2 * textFields));
    // With reuseBuffers, every batch is parsed into the same flux array: a fresh ~10 MB array per
    // batch of 1 024 rows cost page faults on the parse threads and collections on this one
    // (classify from CSV: ~16 % of the CPU it spends beside inference; bench/README.md).
    let spare: Float32Array | undefined;
    const fluxArray = () => (this.settings.reuseBuffers ? (spare ??= uninitialisedFlux(batchSize * L)) : uninitialisedFlux(batchSize * L));
    try {
      // Rows are numbered in the file when the source starts at the data's first line, or when
      // ids are row numbers (no id column) and must be; otherwise from 0 within the range, and
      // errors name the byte offset of the line instead.
      let rowsInFile = bufStart === header.headerBytes || isGzip(path);
      let rowBase = 0; // 0-based data row of buf's first line
      if (!rowsInFile && !header.hasId) {
        rowBase = await this.linesBefore(bufStart);
        rowsInFile = true;
      }
      const locate = { rowsInFile, bufStart: () => bufStart };
      let eof = false;
      // File offset where the next range's lines begin, once the line end that fixes it is read.
      let stopAt: number | undefined;
      const findStop = () => {
        if (end === undefined || stopAt !== undefined) return;
        if (bufStart >= end) stopAt = bufStart;
        else if (bufStart + buf.length >= end) {
          const nl = buf.indexOf(NEWLINE, end - 1 - bufStart);
          if (nl >= 0) stopAt = bufStart + nl + 1;
        }
      };
      findStop();
      // Trailing columns' kinds are decided on the first batch's rows (docs/formats.md, "CSV"), so
      // those lines are read before the first parse, up to the line-length limit: otherwise a chunk
      // boundary or a missing last line end split them, and the same rows gave a numeric column
      // when the file ended in a line end and a text column (or an error) when it didn't. Files
      // whose only trailing column is the label (or none) have nothing to decide: their first
      // chunk is parsed as it comes (gathering a batch of ~40 kB rows means copying ~40 MB).
      const kindsToDecide = header.trailing.some((_, k) => k !== header.labelIndex);
      if (end === undefined && kindsToDecide) {
        while (!eof && buf.length <= MAX_LINE_BYTES && countLineEnds(buf, batchSize) < batchSize) {
          const more = await reader.more(buf);
          if (more) {
            buf = more;
            continue;
          }
          eof = true;
          if (!isBlank(buf) && buf[buf.length - 1] !== NEWLINE) {
            buf = Buffer.concat([buf, Buffer.from('\n')]);
            stopAt = bufStart + buf.length;
          }
        }
      }
      let batch: SpectrumBatch | undefined;
      let filled = 0;
      for (;;) {
        if (batch && filled === batchSize) {
          yield batch;
          batch = undefined;
        }
        if (stopAt !== undefined && bufStart >= stopAt) break;
        if (!batch) {
          batch = allocateBatch(batchSize, this.grid, rowBase, { labels: this.hasLabels, extra: extraNames, tags: tagNames }, fluxArray());
          filled = 0;
        }
        const want = batchSize - filled;
        // Only lines that start in the range are handed to the parser.
        const view = end === undefined ? buf : buf.subarray(0, Math.max(0, Math.min(buf.length, (stopAt ?? end) - bufStart)));
        const r = await addon.csvParse(view, header.hasId, L, header.trailing.length, want, batch.flux.subarray(filled * L), spans, this.settings.threads);
        countRowsDecoded(r.rows);
        // A blank line ends the data only when nothing but blank lines follows it. The error is
        // built now, while buf still holds the offending text (the reader reuses its buffer).
        const failure = r.error !== 0 ? this.rowError(view, r, rowBase, locate) : undefined;
        // Whatever the parser made of a whitespace-only line (an empty line, or too few fields
        // for "\t"), it is a blank line.
        // The rows before a bad line are decoded first: their own errors (an unknown label, text in
        // a numeric column) come earlier in the file, and the first error in row order is the one
        // reported, however the file is cut into chunks.
        const fatal = failure !== undefined && !isBlank(buf.subarray(lineStart(view, r.errorOffset)));
        if (!failure && r.rows === 0 && buf.length > MAX_LINE_BYTES) {
          throw new AstrospecError('BAD_INPUT', `line is longer than ${MAX_LINE_BYTES >> 20} MB (no line end found)`, this.where(rowBase + 1, bufStart, locate.rowsInFile));
        }
        if (r.rows > 0) {
          if (!kinds) {
            kinds = this.decideTrailingKinds(view, spans, r.rows);
            extraNames = header.trailing.filter((_, k) => kinds![k] === 'extra');
            tagNames = header.trailing.filter((_, k) => kinds![k] === 'tag');
            if (extraNames.length > 0) batch.extra = Object.fromEntries(extraNames.map((n) => [n, new Float32Array(batchSize)]));
            if (tagNames.length > 0) batch.tags = Object.fromEntries(tagNames.map((n) => [n, new Array<string>(batchSize)]));
          }
          this.decodeRows(view, spans, r.rows, batch, filled, rowBase, kinds, locate);
          filled += r.rows;
          rowBase += r.rows;
          buf = buf.subarray(r.consumed);
          bufStart += r.consumed;
        }
        if (fatal) throw failure;
        const ended = failure !== undefined;
        if (failure && !(await restIsBlank(reader))) throw failure;
        if (ended) break;
        if (stopAt !== undefined && bufStart >= stopAt) continue;
        if (r.rows < want) {
          if (eof) break;
          const more = await reader.more(buf);
          if (more) {
            buf = more;
            findStop();
          } else {
            eof = true;
            if (isBlank(buf)) break;
            // The last line has no line end: parse it like the others.
            buf = Buffer.concat([buf, Buffer.from('\n')]);
            stopAt ??= bufStart + buf.length;
          }
        }
      }
      if (batch && filled > 0) {
        batch.flux.fill(0, filled * L); // rows never parsed: no stale bytes behind the last batch's view
        yield truncateBatch(batch, filled);
      }
    } finally {
      await reader.close();
    }
  }

  /** Where a line is, for an error: its data row in the file, or its byte offset when rows are numbered within a range. */
  private where(row: number, lineOffset: number, rowsInFile: boolean, column?: string | number): ErrorLocation {
    return rowsInFile ? { file: this.path, row, column } : { file: this.path, byte: lineOffset, column };
  }

  /**
   * A trailing column other than label/answer is numeric (an `extra`) when each of its cells in
   * the first rows read is a number or empty and at least one is a number; otherwise it is a text
   * tag. Later rows must then agree, or the read fails naming the cell.
   */
  private decideTrailingKinds(buf: Buffer, spans: Int32Array, rows: number): TrailingKind[] {
    const { header } = this;
    const stride = 2 * ((header.hasId ? 1 : 0) + header.trailing.length);
    const base = header.hasId ? 2 : 0;
    return header.trailing.map((_, k) => {
      if (k === header.labelIndex) return 'label';
      if (this.settings.spectraOnly) return 'skip';
      let numbers = 0;
      for (let r = 0; r < rows; r++) {
        const text = decodeText(buf, spans[r * stride + base + 2 * k]!, spans[r * stride + base + 2 * k + 1]!);
        if (text.trim() === '') continue;
        if (parseExtraCell(text) === undefined) return 'tag';
        numbers++;
      }
      return numbers > 0 ? 'extra' : 'tag';
    });
  }

  private decodeRows(buf: Buffer, spans: Int32Array, rows: number, batch: SpectrumBatch, at: number, rowBase: number, kinds: TrailingKind[], locate: RowLocator): void {
    const { header } = this;
    const stride = 2 * ((header.hasId ? 1 : 0) + header.trailing.length);
    const base = header.hasId ? 2 : 0;
    const firstTrailingColumn = (header.hasId ? 1 : 0) + header.pixels;
    for (let r = 0; r < rows; r++) {
      const s = r * stride;
      batch.ids[at + r] = header.hasId ? decodeText(buf, spans[s]!, spans[s + 1]!) : String(rowBase + r);
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[k]!;
        if (kind === 'skip') continue;
        const text = decodeText(buf, spans[s + base + 2 * k]!, spans[s + base + 2 * k + 1]!);
        const name = header.trailing[k]!;
        if (kind === 'label') {
          if (text.trim() === '') {
            batch.labels![at + r] = NO_LABEL;
            continue;
          }
          const label = parseLabel(text);
          if (label < 0) {
            const cell = spans[s + base + 2 * k]!;
            throw new AstrospecError(
              'BAD_INPUT',
              `unknown label "${excerpt(text)}" (expected ${CLASS_NAMES.join('/')}, any case)`,
              this.where(rowBase + r + 1, locate.bufStart() + lineStart(buf, cell), locate.rowsInFile, header.columns[firstTrailingColumn + k] ?? name),
            );
          }
          batch.labels![at + r] = label;
        } else if (kind === 'extra') {
          const value = parseExtraCell(text);
          if (value === undefined) {
            const cell = spans[s + base + 2 * k]!;
            throw new AstrospecError(
              'BAD_INPUT',
              `"${excerpt(text)}" is not a number (earlier rows made this a numeric column)`,
              this.where(rowBase + r + 1, locate.bufStart() + lineStart(buf, cell), locate.rowsInFile, name),
            );
          }
          batch.extra![name]![at + r] = value;
        } else {
          batch.tags![name]![at + r] = text;
        }
      }
    }
  }

  private rowError(buf: Buffer, r: { error: number; errorRow: number; errorField: number; errorOffset: number }, rowBase: number, locate: RowLocator): AstrospecError {
    const { header } = this;
    const total = header.columns.length;
    const row = rowBase + r.errorRow + 1;
    const column = r.errorField < total ? header.columns[r.errorField]!.trim() : r.errorField + 1;
    const lineOffset = locate.bufStart() + lineStart(buf, r.errorOffset);
    const where = this.where(row, lineOffset, locate.rowsInFile, column);
    switch (r.error) {
      case 1:
        return new AstrospecError('BAD_INPUT', `row has too few fields: it ends before this column (the header has ${total} columns)`, where);
      case 2:
        return new AstrospecError('BAD_INPUT', `row has more fields than the header's ${total} columns`, { ...where, column: total + 1 });
      case 3: {
        const text = cellText(buf, r.errorOffset);
        return new AstrospecError('BAD_INPUT', text.trim() === '' ? 'empty cell: missing flux value' : `"${text}" is not a number`, where);
      }
      case 4: {
        const text = cellText(buf, r.errorOffset);
        return new AstrospecError('BAD_INPUT', `flux "${text}" is not a finite float32 (NaN, infinite and out-of-range flux are rejected)`, where);
      }
      case 6:
        return new AstrospecError('BAD_INPUT', 'empty line between rows', { ...where, column: undefined });
      default:
        return new AstrospecError('BAD_INPUT', CSV_ERRORS[r.error] ?? `CSV error ${r.error}`, where);
    }
  }

  async close(): Promise<void> {}
}

export interface CsvReadOptions extends ReadOptions {
  /** Bytes read per step (default CSV_CHUNK_BYTES); small values exercise rows split across reads. */
  chunkBytes?: number;
  /** The file as a dataset listed it; reading fails if it has changed since (default: as it is now). */
  identity?: FileIdentity;
}

export type CsvSpectraSource = SpectraSource & { byteRange(start: number, end: number): SpectraSource };

export async function openCsv(path: string, options: CsvReadOptions = {}): Promise<CsvSpectraSource> {
  const batchSize = batchSizeOf(options);
  const threads = options.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0) throw new AstrospecError('BAD_ARGUMENT', `threads must be a non-negative integer, got ${threads}`);
  const identity = options.identity ?? (await fileIdentity(path));
  // The header is ~15 kB for 2600 pixels; read until its line end.
  const reader = await openBytes(path, 1 << 16, { identity });
  let head: Buffer = Buffer.alloc(0);
  try {
    for (;;) {
      const more = await reader.more(head);
      if (!more) break;
      // Only the new bytes can hold the first line end: scanning from the start each time would
      // be quadratic in the header's length.
      const seen = head.length;
      head = more;
      if (head.indexOf(NEWLINE, seen) >= 0) break;
      if (head.length > MAX_LINE_BYTES) throw new AstrospecError('BAD_INPUT', `header line is longer than ${MAX_LINE_BYTES >> 20} MB (no line end found)`, { file: path, row: 0 });
    }
  } finally {
    await reader.close();
  }
  if (head.length === 0 || head.every((b) => b === NEWLINE || b === CR || b === 0x20)) {
    throw new AstrospecError('BAD_INPUT', 'empty file: expected a header id,FE0,…', { file: path });
  }
  const header = parseCsvHeader(head, path, options);
  const chunkBytes = options.chunkBytes ?? CSV_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > 1 << 30) throw new AstrospecError('BAD_ARGUMENT', `chunkBytes must be in 1…2^30, got ${chunkBytes}`);
  return new CsvSource(path, identity, gridForPixelCount(header.pixels, options, path), header, batchSize, {
    threads,
    chunkBytes,
    spectraOnly: options.spectraOnly === true,
    reuseBuffers: options.reuseBuffers === true,
  });
}

// ---------------------------------------------------------------------------------------------
// Writer

/** RFC 4180 quoting, as pandas' QUOTE_MINIMAL: only fields with a comma, quote or line break. */
function csvField(text: string, file: string, row: number, column: string): string {
  if (/[\r\n]/.test(text)) throw new AstrospecError('BAD_INPUT', 'text with a line break can\'t be written to CSV', { file, row, column });
  return /[",]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

class CsvSink implements SpectraSink {
  rowsWritten = 0;
  private columns?: { extra: string[]; tags: string[] };
  private failed = false;
  private readonly done: Promise<void>;

  constructor(
    readonly path: string,
    private readonly temp: string,
    private readonly out: Writable,
    private readonly file: WriteStream,
    gzip: Gzip | undefined,
    private readonly options: WriteOptions & { threads?: number },
  ) {
    this.done = gzip ? pipeline(gzip, file) : once(file, 'close').then(() => undefined);
    this.done.catch(() => undefined); // observed in close()/abort()
  }

  private async put(bytes: Buffer | string): Promise<void> {
    if (!this.out.write(bytes)) await Promise.race([once(this.out, 'drain'), this.done.then(() => undefined)]);
  }

  private async writeHeader(columns: { extra: string[]; tags: string[] }): Promise<void> {
    const names = ['id'];
    for (let i = 0; i < this.options.grid.length; i++) names.push(pixelColumnName(i));
    if (this.options.hasLabels) names.push('label');
    names.push(...columns.extra, ...columns.tags);
    await this.put(`${names.map((n) => csvField(n, this.path, 0, n)).join(',')}\n`);
  }

  async write(batch: SpectrumBatch, extraArg?: Record<string, Float32Array>): Promise<void> {
    const extra = extraColumnsOf(batch, extraArg);
    if (!this.columns) {
      this.columns = sinkColumns(this.options.extraColumns, { extra, tags: batch.tags });
      await this.writeHeader(this.columns);
    }
    const columns = this.columns;
    checkSinkBatch(this.path, batch, extra, columns, this.options);
    const rows = batch.ids.length;
    if (rows === 0) return;
    const L = this.options.grid.length;
    const threads = this.options.threads ?? 0;
    const addon = native();
    const fluxText = Buffer.allocUnsafe(addon.csvFormatBound(rows, L));
    const fluxEnds = new Int32Array(rows);
    const f = await addon.csvFormat(batch.flux.subarray(0, rows * L), rows, L, fluxText, fluxEnds, false, threads);
    if (f.firstNonFinite >= 0) {
      const bad = f.firstNonFinite;
      throw new AstrospecError('BAD_INPUT', `refusing to write flux ${batch.flux[bad]} (NaN/Inf flux can't be read back)`, {
        file: this.path,
        row: batch.firstRow + Math.floor(bad / L) + 1,
        column: pixelColumnName(bad % L),
      });
    }
    const E = columns.extra.length;
    let extraText: Buffer | undefined;
    let extraEnds: Int32Array | undefined;
    if (E > 0) {
      const matrix = new Float32Array(rows * E);
      columns.extra.forEach((name, k) => {
        const values = extra[name]!;
        for (let r = 0; r < rows; r++) matrix[r * E + k] = values[r]!;
      });
      extraText = Buffer.allocUnsafe(addon.csvFormatBound(rows, E));
      extraEnds = new Int32Array(rows);
      addon.csvFormatSync(matrix, rows, E, extraText, extraEnds, true, 1);
    }
    const prefixes: string[] = new Array(rows);
    const suffixes: string[] = new Array(rows);
    let total = f.bytes + (extraEnds ? extraEnds[rows - 1]! : 0);
    for (let r = 0; r < rows; r++) {
      const row = batch.firstRow + r + 1;
      prefixes[r] = `${csvField(batch.ids[r]!, this.path, row, 'id')},`;
      let suffix = '';
      if (this.options.hasLabels) {
        const l = batch.labels![r]!;
        suffix += `,${l >= 0 && l < CLASS_NAMES.length ? CLASS_NAMES[l] : ''}`;
      }
      if (E > 0) suffix += ',';
      suffixes[r] = suffix;
      total += Buffer.byteLength(prefixes[r]!) + Buffer.byteLength(suffix) + 1;
    }
    const tagText: string[] = new Array(rows).fill('');
    for (const name of columns.tags) {
      const values = batch.tags![name]!;
      for (let r = 0; r < rows; r++) tagText[r] += `,${csvField(values[r] ?? '', this.path, batch.firstRow + r + 1, name)}`;
    }
    for (let r = 0; r < rows; r++) total += Buffer.byteLength(tagText[r]!);
    const chunk = Buffer.allocUnsafe(total);
    let at = 0;
    for (let r = 0; r < rows; r++) {
      at += chunk.write(prefixes[r]!, at, 'utf8');
      at += fluxText.copy(chunk, at, r === 0 ? 0 : fluxEnds[r - 1]!, fluxEnds[r]!);
      at += chunk.write(suffixes[r]!, at, 'utf8');
      if (extraText && extraEnds) at += extraText.copy(chunk, at, r === 0 ? 0 : extraEnds[r - 1]!, extraEnds[r]!);
      at += chunk.write(tagText[r]!, at, 'utf8');
      chunk[at++] = NEWLINE;
    }
    try {
      await this.put(chunk.subarray(0, at));
    } catch (error) {
      this.failed = true;
      throw new AstrospecError('IO', (error as Error).message, { file: this.path }, { cause: error });
    }
    this.rowsWritten += rows;
  }

  async close(): Promise<void> {
    if (this.failed) throw new AstrospecError('IO', 'an earlier write failed; the output was not completed', { file: this.path });
    if (!this.columns) {
      this.columns = sinkColumns(this.options.extraColumns, { extra: {} });
      await this.writeHeader(this.columns);
    }
    this.out.end();
    try {
      await this.done;
    } catch (error) {
      await discardPartial(this.temp);
      throw new AstrospecError('IO', (error as Error).message, { file: this.path }, { cause: error });
    }
    await commitPartial(this.temp, this.path);
  }

  async abort(): Promise<void> {
    this.out.destroy();
    this.file.destroy();
    await this.done.catch(() => undefined);
    await discardPartial(this.temp);
  }
}

/** CSV sink; `.gz` paths are gzip-compressed. `threads` is the native formatter's thread count. */
export async function createCsvSink(path: string, options: WriteOptions & { threads?: number }): Promise<SpectraSink> {
  const temp = temporaryPath(path);
  const file = createWriteStream(temp, { highWaterMark: 1 << 20 });
  try {
    await once(file, 'open');
  } catch (error) {
    throw new AstrospecError('IO', (error as Error).message, { file: path }, { cause: error });
  }
  const gzip = isGzip(path) ? createGzip({ chunkSize: 1 << 20 }) : undefined;
  return new CsvSink(path, temp, gzip ?? file, file, gzip, options);
}

