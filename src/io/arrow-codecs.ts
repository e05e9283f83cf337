/**
 * Decoders for compressed Arrow record batches (pandas writes LZ4 frames by default, ZSTD on
 * request; apache-arrow ships none), registered in apache-arrow's compressionRegistry.
 *
 * Both are synchronous and throw an AstrospecError on a damaged buffer, so the reader can name the
 * file; and both decode to exactly the size the buffer's 8-byte length prefix declares, checked
 * before anything is allocated against the most that many compressed bytes could hold, so a damaged
 * header can't make them allocate gigabytes.
 */
import { CompressionType, compressionRegistry } from '#apache-arrow';
import { decompress as zstdDecompress } from 'fzstd';
import { AstrospecError } from '../errors.js';
import { maxDecodedBytes } from './arrow-ipc.js';
import { decodeLz4Frames, Lz4FrameError } from './lz4-frame.js';

/**
 * The decoded length Arrow stores in the 8 bytes before each compressed buffer. apache-arrow calls
 * a codec with the bytes after that prefix, as a view of the record batch body, so the prefix is
 * the 8 bytes before the view (apache-arrow 21: RecordBatchReaderImpl._decompressBuffers).
 */
function declaredLength(bytes: Uint8Array, codec: number): number {
  if (bytes.byteOffset < 8) throw new AstrospecError('BAD_INPUT', 'compressed buffer without its length prefix');
  const value = new DataView(bytes.buffer, bytes.byteOffset - 8, 8).getBigInt64(0, true);
  const max = maxDecodedBytes(codec, bytes.length);
  if (value < 0n || value > BigInt(max)) throw new AstrospecError('BAD_INPUT', `${bytes.length} compressed bytes claim to decode to ${value}`);
  return Number(value);
}

function decodeLz4(bytes: Uint8Array): Uint8Array {
  const expected = declaredLength(bytes, CompressionType.LZ4_FRAME);
  try {
    return decodeLz4Frames(bytes, expected);
  } catch (error) {
    if (error instanceof Lz4FrameError) throw new AstrospecError('BAD_INPUT', `damaged LZ4-compressed buffer: ${error.message}`, {}, { cause: error });
    throw error;
  }
}

const ZSTD_MAGIC = 0xfd2fb528;
/** RFC 8878 §3.1.1.2: a block never decodes to more than 128 KB (nor more than the window). */
const ZSTD_BLOCK_MAX = 128 << 10;

class ZstdFrameError extends Error {}

/**
 * Walks the frames and block headers of a ZSTD buffer (RFC 8878 §3.1) without decoding, and checks
 * it can decode to exactly `expected` bytes: frame content sizes (when given) add up to it, the
 * blocks could hold it, and no window asks fzstd for a buffer far beyond it (fzstd allocates the
 * window a frame header asks for, up to 2 GB, before reading a block).
 */
function checkZstdFrames(bytes: Uint8Array, expected: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  let declaredTotal = 0;
  let declaredAll = true;
  let capacity = 0;
  const need = (n: number, what: string) => {
    if (n > bytes.length - at) throw new ZstdFrameError(`ends inside ${what}`);
  };
  if (bytes.length === 0) throw new ZstdFrameError('no data');
  while (at < bytes.length) {
    need(4, 'a frame magic number');
    const magic = view.getUint32(at, true);
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      need(8, 'a skippable frame');
      const size = view.getUint32(at + 4, true);
      at += 8;
      need(size, 'a skippable frame');
      at += size;
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw new ZstdFrameError(`bad magic number 0x${magic.toString(16)}`);
    at += 4;
    need(1, 'the frame header');
    const descriptor = bytes[at++]!;
    const fcsFlag = descriptor >>> 6;
    const singleSegment = (descriptor & 0x20) !== 0;
    if (descriptor & 0x08) throw new ZstdFrameError('reserved bit set in the frame header');
    const checksum = (descriptor & 0x04) !== 0;
    const dictionaryBytes = [0, 1, 2, 4][descriptor & 3]!;
    let window = 0;
    if (!singleSegment) {
      need(1, 'the window descriptor');
      const w = bytes[at++]!;
      const base = 2 ** (10 + (w >>> 3));
      window = base + (base / 8) * (w & 7);
    }
    need(dictionaryBytes, 'the dictionary id');
    let dictionary = 0;
    for (let k = 0; k < dictionaryBytes; k++) dictionary += bytes[at + k]! * 2 ** (8 * k);
    if (dictionary !== 0) throw new ZstdFrameError('frame needs a dictionary, which Arrow never uses');
    at += dictionaryBytes;
    const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : 1 << fcsFlag;
    need(fcsBytes, 'the frame content size');
    let contentSize: number | undefined;
    if (fcsBytes > 0) {
      contentSize = 0;
      for (let k = 0; k < fcsBytes; k++) contentSize += bytes[at + k]! * 2 ** (8 * k);
      if (fcsBytes === 2) contentSize += 256;
      at += fcsBytes;
    }
    if (singleSegment) window = contentSize!;
    if (contentSize !== undefined) declaredTotal += contentSize;
    else declaredAll = false;
    // What fzstd allocates for this frame: the content size, else the window.
    if ((contentSize ?? window) > Math.max(expected, 8 << 20)) throw new ZstdFrameError(`frame asks for a ${contentSize ?? window}-byte buffer for ${expected} bytes of data`);
    const blockMax = Math.min(window, ZSTD_BLOCK_MAX);
    for (;;) {
      need(3, 'a block header');
      const header = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16);
      at += 3;
      const last = header & 1;
      const type = (header >>> 1) & 3;
      const size = header >>> 3;
      if (type === 3) throw new ZstdFrameError('reserved block type');
      if (size > blockMax) throw new ZstdFrameError(`block of ${size} bytes in a frame of ${blockMax}-byte blocks`);
      const stored = type === 1 ? 1 : size; // an RLE block stores one byte, repeated `size` times
      need(stored, 'a block');
      at += stored;
      capacity += type === 2 ? blockMax : size;
      if (last) break;
    }
    if (checksum) {
      need(4, 'the content checksum');
      at += 4;
    }
  }
  if (declaredAll && declaredTotal !== expected) throw new ZstdFrameError(`frames hold ${declaredTotal} bytes, the buffer's header says ${expected}`);
  if (capacity < expected) throw new ZstdFrameError(`its blocks can hold ${capacity} bytes, the buffer's header says ${expected}`);
}

function decodeZstd(bytes: Uint8Array): Uint8Array {
  const expected = declaredLength(bytes, CompressionType.ZSTD);
  let out: Uint8Array;
  try {
    checkZstdFrames(bytes, expected);
    out = zstdDecompress(bytes);
  } catch (error) {
    throw new AstrospecError('BAD_INPUT', `damaged ZSTD-compressed buffer: ${(error as Error).message}`, {}, { cause: error });
  }
  if (out.length !== expected) throw new AstrospecError('BAD_INPUT', `damaged ZSTD-compressed buffer: decodes to ${out.length} bytes, its header says ${expected}`);
  // fzstd may return a view at an offset Arrow can't align typed arrays on (see FACTS.md).
  return out.byteOffset % 8 === 0 ? out : out.slice();
}

let registered = false;

/** Registers the LZ4_FRAME and ZSTD decoders with apache-arrow (once). */
export function registerArrowCodecs(): void {
  if (registered) return;
  compressionRegistry.set(CompressionType.LZ4_FRAME, { decode: decodeLz4 });
  compressionRegistry.set(CompressionType.ZSTD, { decode: decodeZstd });
  registered = true;
}
