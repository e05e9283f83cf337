/**
 * LZ4 frame decoding (the LZ4 Frame Format 1.6.x; block format per lz4_Block_format.md), written
 * for hostile input: synchronous, every length checked against the input and the output before it
 * is used, output sized once from what the caller expects.
 *
 * Why not the `lz4` package's `decode`: it runs a Transform stream, so a damaged frame surfaces as
 * an 'error' event emitted after `decode` has returned, which nothing can catch and which kills the
 * process; and it decodes each block on its own, so it can't read linked blocks, which Arrow's
 * LZ4_FRAME codec writes for every buffer larger than one 64 KB block (LZ4F's default blockMode).
 * Checksums are xxHash32 (./xxhash32.ts).
 */
import { xxhash32 } from './xxhash32.js';

const FRAME_MAGIC = 0x184d2204;
/** Skippable frames: 0x184D2A50 … 0x184D2A5F (the low nibble is free). */
const SKIPPABLE_MAGIC = 0x184d2a50;
/** BD byte bits 6–4: 4 → 64 KB, 5 → 256 KB, 6 → 1 MB, 7 → 4 MB. */
const BLOCK_MAX_SIZES: Record<number, number> = { 4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20 };
/** Every sequence carries ≥ 1 token byte and a match adds at most 255 bytes per length byte. */
export const LZ4_MAX_RATIO = 256;

export class Lz4FrameError extends Error {
  constructor(message: string) {
    super(`LZ4 frame: ${message}`);
    this.name = 'Lz4FrameError';
  }
}

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16)) + bytes[at + 3]! * 0x1000000;
}

/**
 * Decodes one LZ4 block into out[o…limit), with matches allowed to reach back to `windowStart`
 * (the block's own start for independent blocks, the frame's start for linked ones). Returns the
 * new output position.
 */
function decodeBlock(src: Uint8Array, out: Uint8Array, o: number, windowStart: number, limit: number): number {
  const n = src.length;
  let i = 0;
  if (n === 0) throw new Lz4FrameError('empty compressed block');
  for (;;) {
    const token = src[i++]!;
    let literals = token >>> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (i >= n) throw new Lz4FrameError('block ends inside a literal length');
        b = src[i++]!;
        literals += b;
      } while (b === 255);
    }
    if (literals > n - i) throw new Lz4FrameError('literals run past the end of the block');
    if (literals > limit - o) throw new Lz4FrameError('block decodes to more bytes than its buffer holds');
    if (literals < 32) for (let k = 0; k < literals; k++) out[o + k] = src[i + k]!;
    else out.set(src.subarray(i, i + literals), o);
    i += literals;
    o += literals;
    // The last sequence of a block has literals only.
    if (i === n) return o;
    if (i + 2 > n) throw new Lz4FrameError('block ends inside a match offset');
    const offset = src[i]! | (src[i + 1]! << 8);
    i += 2;
    if (offset === 0 || offset > o - windowStart) throw new Lz4FrameError(`match offset ${offset} reaches before the start of the data`);
    let match = token & 15;
    if (match === 15) {
      let b: number;
      do {
        if (i >= n) throw new Lz4FrameError('block ends inside a match length');
        b = src[i++]!;
        match += b;
      } while (b === 255);
    }
    match += 4; // minmatch
    if (match > limit - o) throw new Lz4FrameError('block decodes to more bytes than its buffer holds');
    const from = o - offset;
    if (offset >= match && match >= 32) out.copyWithin(o, from, from + match);
    else for (let k = 0; k < match; k++) out[o + k] = out[from + k]!; // overlapping copies repeat a pattern, byte by byte
    o += match;
    // The format asks for a final literals-only sequence; a block that ends after a match still
    // decodes unambiguously, so it is accepted.
    if (i === n) return o;
  }
}

/**
 * Decodes a buffer of one or more LZ4 frames (and skippable frames) that must inflate to exactly
 * `expectedLength` bytes. Throws Lz4FrameError, synchronously, on anything else.
 */
export function decodeLz4Frames(input: Uint8Array, expectedLength: number): Uint8Array {
  if (!(Number.isSafeInteger(expectedLength) && expectedLength >= 0)) throw new Lz4FrameError(`impossible decoded length ${expectedLength}`);
  if (expectedLength > LZ4_MAX_RATIO * input.length + 1024) {
    throw new Lz4FrameError(`${input.length} compressed bytes can't hold the ${expectedLength} bytes they claim`);
  }
  const out = new Uint8Array(expectedLength);
  let at = 0;
  let o = 0;
  const need = (bytes: number, what: string) => {
    if (bytes > input.length - at) throw new Lz4FrameError(`ends inside ${what}`);
  };
  if (input.length === 0) throw new Lz4FrameError('no data');
  while (at < input.length) {
    need(4, 'a frame magic number');
    const magic = u32(input, at);
    if ((magic & 0xfffffff0) >>> 0 === SKIPPABLE_MAGIC) {
      need(8, 'a skippable frame header');
      const size = u32(input, at + 4);
      at += 8;
      need(size, 'a skippable frame');
      at += size;
      continue;
    }
    if (magic !== FRAME_MAGIC) throw new Lz4FrameError(`bad magic number 0x${magic.toString(16)} at byte ${at}`);
    at += 4;
    need(3, 'the frame descriptor');
    const flg = input[at]!;
    const bd = input[at + 1]!;
    if (flg >>> 6 !== 1) throw new Lz4FrameError(`frame version ${flg >>> 6}, expected 1`);
    if (flg & 0x02 || bd & 0x8f) throw new Lz4FrameError('reserved bits set in the frame descriptor');
    const independent = (flg & 0x20) !== 0;
    const blockChecksums = (flg & 0x10) !== 0;
    const hasContentSize = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    if (flg & 0x01) throw new Lz4FrameError('frame needs a dictionary, which Arrow never uses');
    const blockMax = BLOCK_MAX_SIZES[(bd >>> 4) & 7];
    if (blockMax === undefined) throw new Lz4FrameError(`bad block size code ${(bd >>> 4) & 7}`);
    const descriptorLength = 2 + (hasContentSize ? 8 : 0);
    need(descriptorLength + 1, 'the frame descriptor');
    const descriptor = input.subarray(at, at + descriptorLength);
    if (((xxhash32(descriptor) >>> 8) & 0xff) !== input[at + descriptorLength]) throw new Lz4FrameError('frame descriptor checksum mismatch');
    let contentSize: number | undefined;
    if (hasContentSize) {
      const low = u32(input, at + 2);
      const high = u32(input, at + 6);
      contentSize = high * 0x100000000 + low;
    }
    at += descriptorLength + 1;
    const frameStart = o;
    for (;;) {
      need(4, 'a block size');
      const word = u32(input, at);
      at += 4;
      if (word === 0) break; // EndMark
      const stored = word >= 0x80000000;
      const size = word & 0x7fffffff;
      if (size > blockMax) throw new Lz4FrameError(`block of ${size} bytes in a frame of ${blockMax}-byte blocks`);
      need(size + (blockChecksums ? 4 : 0), 'a block');
      const block = input.subarray(at, at + size);
      at += size;
      if (blockChecksums) {
        if (xxhash32(block) !== u32(input, at)) throw new Lz4FrameError('block checksum mismatch');
        at += 4;
      }
      const limit = Math.min(expectedLength, o + blockMax);
      if (stored) {
        if (size > limit - o) throw new Lz4FrameError('decodes to more bytes than its buffer holds');
        out.set(block, o);
        o += size;
      } else {
        o = decodeBlock(block, out, o, independent ? o : frameStart, limit);
      }
    }
    if (contentChecksum) {
      need(4, 'the content checksum');
      if (xxhash32(out.subarray(frameStart, o)) !== u32(input, at)) throw new Lz4FrameError('content checksum mismatch');
      at += 4;
    }
    if (contentSize !== undefined && contentSize !== o - frameStart) {
      throw new Lz4FrameError(`frame says it holds ${contentSize} bytes but decodes to ${o - frameStart}`);
    }
  }
  if (o !== expectedLength) throw new Lz4FrameError(`decodes to ${o} bytes, but the buffer's header says ${expectedLength}`);
  return out;
}
