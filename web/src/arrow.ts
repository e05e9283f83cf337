/**
 * Arrow IPC / Feather v2 spectra from a Blob, for the browser: the two layouts src/io/arrow.ts
 * reads (pandas' wide `FE0…FE{L−1}` table, and the compact `id, flux: FixedSizeList<Float32>[L],
 * label` layout astrospec writes), with the same column roles and error messages.
 *
 * Column roles and the checked copy of rows are the CLI's own (src/io/arrow-rows.ts), extra numeric
 * and text columns included. src/io/arrow.ts reads from a Node FileHandle; here apache-arrow gets a
 * Blob-backed object with the same `stat`/`read` surface, so it takes its random-access path for
 * the IPC file format
 * (footer first, then one record batch at a time: apache-arrow's own JS file writer puts the schema
 * only in the footer) and streams the IPC stream format. Either way one record batch is in memory
 * at a time. pandas' LZ4 and ZSTD record batches are decoded by src/io/lz4-frame.ts (the CLI's
 * decoder, checksums verified) and fzstd.
 */
import { CompressionType, RecordBatchReader, compressionRegistry, type RecordBatch } from 'apache-arrow';
import { decompress as zstdDecompress } from 'fzstd';
import { AstrospecError, excerpt } from '../../src/errors.js';
import { copyRows, describeLayout } from '../../src/io/arrow-rows.js';
import type { SpectrumBatch, WavelengthGrid } from '../../src/io/batch.js';
import { allocateBatch } from '../../src/io/columns.js';
import { decodeLz4Frames, LZ4_MAX_RATIO, Lz4FrameError } from '../../src/io/lz4-frame.js';


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
  const columns = { labels: layout.label !== undefined, extra: layout.extra.map((c) => c.name), tags: layout.tags.map((c) => c.name) };
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
        const out = allocateBatch(n, layout.grid, rowsRead + from, columns);
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
