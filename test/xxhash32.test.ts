import { test } from 'node:test';
import assert from 'node:assert/strict';
import { xxhash32 } from '../src/io/xxhash32.js';
import { decodeLz4Frames } from '../src/io/lz4-frame.js';

// Reference values from the C implementation (the lz4 npm package's xxHash binding, and the
// published XXH32 test strings), covering the < 16-byte path, 16-byte stripes and both tails.
test('xxhash32 matches the reference implementation', () => {
  const cases: [string, number, number][] = [
    ['', 0, 0x02cc5d05],
    ['a', 0, 0x550d7456],
    ['abc', 0, 0x32d153ff],
    ['Nobody inspects the spammish repetition', 0, 0xe2293b2f],
    ['0123456789abcdef', 0, 0xc2c45b69],
    ['0123456789abcdefghijklmnopqrstuvwxyz', 0, 0x9aa38e7e],
    ['0123456789abcdefghijklmnopqrstuvwxyz'.repeat(3), 1, 0x82d44975],
    ['0123456789abcdefghijklmnopqrstuvwxyz'.repeat(3), 0x9e3779b1, 0x3a5fcfb2],
  ];
  for (const [text, seed, expected] of cases) {
    assert.equal(xxhash32(Buffer.from(text), seed), expected, `${JSON.stringify(text)} seed ${seed}`);
  }
  // A view at an odd offset hashes its own bytes only.
  const padded = Buffer.from('xabcx');
  assert.equal(xxhash32(padded.subarray(1, 4)), 0x32d153ff);
});

test('LZ4: descriptor, block and content checksums are verified', () => {
  // Written by the lz4 package's encoder with streamChecksum on: FLG 0x64, BD 0x70, one 34-byte block.
  const frame = Buffer.from(
    '04224d186470b922000000ff0874686520737065637472756d206f6620612073746172201700fd50746172207400000000bd3dbd90',
    'hex',
  );
  const content = Buffer.from(Array.from({ length: 300 }, (_, i) => 'the spectrum of a star '.charCodeAt(i % 23)));
  assert.deepEqual(Buffer.from(decodeLz4Frames(frame, 300)), content);
  const damaged = (bytes: Buffer, at: number) => {
    const copy = Buffer.from(bytes);
    copy[at]! ^= 1;
    return copy;
  };
  assert.throws(() => decodeLz4Frames(damaged(frame, 6), 300), /frame descriptor checksum mismatch/);
  assert.throws(() => decodeLz4Frames(damaged(frame, frame.length - 1), 300), /content checksum mismatch/);

  // The same frame with a block checksum (FLG bit 4) after its block. (That package's encoder
  // hashes its whole scratch buffer instead of the block, so its block checksums can't be used.)
  const descriptor = Buffer.from([0x74, 0x70]);
  const block = frame.subarray(11, 11 + 34);
  const blockChecksum = Buffer.alloc(4);
  blockChecksum.writeUInt32LE(xxhash32(block));
  const checked = Buffer.concat([
    frame.subarray(0, 4), descriptor, Buffer.from([(xxhash32(descriptor) >>> 8) & 0xff]),
    frame.subarray(7, 11 + 34), blockChecksum, frame.subarray(11 + 34),
  ]);
  assert.deepEqual(Buffer.from(decodeLz4Frames(checked, 300)), content);
  assert.throws(() => decodeLz4Frames(damaged(checked, 20), 300), /block checksum mismatch/);
});
