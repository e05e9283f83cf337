/**
 * xxHash32 (Yann Collet's XXH32, as specified in xxhash_spec.md), the checksum of LZ4 frames: the
 * descriptor byte, block and content checksums all use it with seed 0.
 *
 * In TypeScript rather than from the `lz4` package: that package compiles a node-gyp addon at
 * install time, and astrospec installs without a compiler (prebuilt addon). LZ4 checksums are
 * optional and pyarrow writes none, so this runs on a few header bytes per frame in practice.
 */

const PRIME32_1 = 0x9e3779b1;
const PRIME32_2 = 0x85ebca77;
const PRIME32_3 = 0xc2b2ae3d;
const PRIME32_4 = 0x27d4eb2f;
const PRIME32_5 = 0x165667b1;

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function readU32(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
}

function round(accumulator: number, lane: number): number {
  return Math.imul(rotl32((accumulator + Math.imul(lane, PRIME32_2)) | 0, 13), PRIME32_1);
}

/** XXH32 of `bytes` with `seed`, as an unsigned 32-bit integer. */
export function xxhash32(bytes: Uint8Array, seed = 0): number {
  const length = bytes.length;
  let at = 0;
  let hash: number;
  if (length >= 16) {
    let v1 = (seed + PRIME32_1 + PRIME32_2) | 0;
    let v2 = (seed + PRIME32_2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - PRIME32_1) | 0;
    for (const limit = length - 16; at <= limit; at += 16) {
      v1 = round(v1, readU32(bytes, at));
      v2 = round(v2, readU32(bytes, at + 4));
      v3 = round(v3, readU32(bytes, at + 8));
      v4 = round(v4, readU32(bytes, at + 12));
    }
    hash = (rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18)) | 0;
  } else {
    hash = (seed + PRIME32_5) | 0;
  }
  hash = (hash + length) | 0;
  for (; at + 4 <= length; at += 4) {
    hash = Math.imul(rotl32((hash + Math.imul(readU32(bytes, at), PRIME32_3)) | 0, 17), PRIME32_4);
  }
  for (; at < length; at++) {
    hash = Math.imul(rotl32((hash + Math.imul(bytes[at]!, PRIME32_5)) | 0, 11), PRIME32_1);
  }
  hash ^= hash >>> 15;
  hash = Math.imul(hash, PRIME32_2);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, PRIME32_3);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
