/**
 * Writers for the fuzzer's small seed files: an LZ4 frame encoder (greedy LZ4 block compression,
 * header checksum, optional content checksum), a ZSTD frame encoder (raw and RLE blocks only), and
 * Arrow IPC files and streams written with them in the layouts astrospec reads (compact and pandas'
 * wide). The project only decodes these codecs, and the only real compressed files
 * (../shared/data/peer-files) are 3 MB each, too slow to read hundreds of times a second; so the
 * fuzzer makes small ones, and can re-encode mutated values into new valid files (its value oracle).
 */
import { BufferRegion } from 'apache-arrow/ipc/metadata/message';
import {
  CompressionType,
  Dictionary,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int32,
  Int64,
  makeData,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Utf8,
  vectorFromArray,
  type Data,
} from 'apache-arrow';

// ---------------------------------------------------------------------------------------------
// xxHash32 (LZ4 frame checksums), https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;
const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
const read32 = (b: Uint8Array, i: number) => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;

export function xxh32(input: Uint8Array, seed = 0): number {
  const n = input.length;
  let i = 0;
  let h: number;
  if (n >= 16) {
    let v1 = (seed + P1 + P2) >>> 0;
    let v2 = (seed + P2) >>> 0;
    let v3 = seed >>> 0;
    let v4 = (seed - P1) >>> 0;
    const round = (v: number, lane: number) => Math.imul(rotl((v + Math.imul(lane, P2)) >>> 0, 13), P1) >>> 0;
    for (; i + 16 <= n; i += 16) {
      v1 = round(v1, read32(input, i));
      v2 = round(v2, read32(input, i + 4));
      v3 = round(v3, read32(input, i + 8));
      v4 = round(v4, read32(input, i + 12));
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) >>> 0;
  } else h = (seed + P5) >>> 0;
  h = (h + n) >>> 0;
  for (; i + 4 <= n; i += 4) h = Math.imul(rotl((h + Math.imul(read32(input, i), P3)) >>> 0, 17), P4) >>> 0;
  for (; i < n; i++) h = Math.imul(rotl((h + Math.imul(input[i]!, P5)) >>> 0, 11), P1) >>> 0;
  h = Math.imul(h ^ (h >>> 15), P2) >>> 0;
  h = Math.imul(h ^ (h >>> 13), P3) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// LZ4 (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md, lz4_Frame_format.md)

/** Greedy LZ4 block compression with a 4-byte hash table: valid, not small. */
export function lz4Block(src: Uint8Array): Uint8Array {
  const n = src.length;
  const out: number[] = [];
  const table = new Int32Array(1 << 12).fill(-1);
  const hash = (i: number) => Math.imul(read32(src, i), 2654435761) >>> 20;
  const length = (extra: number) => {
    while (extra >= 255) {
      out.push(255);
      extra -= 255;
    }
    out.push(extra);
  };
  const literals = (from: number, to: number, matchLength: number) => {
    const lit = to - from;
    out.push((Math.min(lit, 15) << 4) | (matchLength < 0 ? 0 : Math.min(matchLength - 4, 15)));
    if (lit >= 15) length(lit - 15);
    for (let k = from; k < to; k++) out.push(src[k]!);
  };
  let anchor = 0;
  let i = 0;
  // The last match must start 12 bytes before the end, and the last 5 bytes are literals.
  while (i + 12 < n) {
    const h = hash(i);
    const ref = table[h]!;
    table[h] = i;
    if (ref >= 0 && i - ref < 65536 && read32(src, ref) === read32(src, i)) {
      let len = 4;
      while (i + len < n - 5 && src[ref + len] === src[i + len]) len++;
      literals(anchor, i, len);
      out.push((i - ref) & 255, (i - ref) >> 8);
      if (len - 4 >= 15) length(len - 4 - 15);
      i += len;
      anchor = i;
    } else i++;
  }
  literals(anchor, n, -1);
  return Uint8Array.from(out);
}

export interface Lz4FrameOptions {
  /** Block maximum size code 4…7 (64 kB … 4 MB). */
  blockSizeCode?: number;
  contentChecksum?: boolean;
  contentSize?: boolean;
  /** Store blocks uncompressed (high bit of the block size). */
  storeRaw?: boolean;
}

export function lz4Frame(content: Uint8Array, options: Lz4FrameOptions = {}): Uint8Array {
  const code = options.blockSizeCode ?? 4;
  const blockMax = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20][code]!;
  const flg = 0x40 | 0x20 | (options.contentSize ? 0x08 : 0) | (options.contentChecksum ? 0x04 : 0);
  const descriptor = [flg, code << 4];
  if (options.contentSize) {
    let size = content.length;
    for (let k = 0; k < 8; k++) {
      descriptor.push(size & 255);
      size = Math.floor(size / 256);
    }
  }
  const parts: Uint8Array[] = [Uint8Array.from([0x04, 0x22, 0x4d, 0x18, ...descriptor, (xxh32(Uint8Array.from(descriptor)) >>> 8) & 255])];
  const word = (v: number) => Uint8Array.from([v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255]);
  for (let at = 0; at < content.length; at += blockMax) {
    const block = content.subarray(at, at + blockMax);
    const packed = options.storeRaw ? block : lz4Block(block);
    if (packed.length >= block.length) parts.push(word((0x80000000 | block.length) >>> 0), block);
    else parts.push(word(packed.length), packed);
  }
  parts.push(word(0));
  if (options.contentChecksum) parts.push(word(xxh32(content)));
  return concat(parts);
}

// ---------------------------------------------------------------------------------------------
// ZSTD (RFC 8878): raw and RLE blocks only, a single-segment frame with its content size.

export function zstdFrame(content: Uint8Array, blockSize = 128 << 10): Uint8Array {
  const size = content.length;
  const parts: Uint8Array[] = [Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, size & 255, (size >>> 8) & 255, (size >>> 16) & 255, (size >>> 24) & 255])];
  const block = Math.max(1, Math.min(blockSize, 128 << 10));
  if (size === 0) parts.push(Uint8Array.from([1, 0, 0])); // one empty last raw block
  for (let at = 0; at < size; at += block) {
    const chunk = content.subarray(at, at + block);
    const last = at + block >= size ? 1 : 0;
    const rle = chunk.every((b) => b === chunk[0]);
    const header = last | ((rle ? 1 : 0) << 1) | (chunk.length << 3);
    parts.push(Uint8Array.from([header & 255, (header >>> 8) & 255, (header >>> 16) & 255]));
    parts.push(rle ? chunk.subarray(0, 1) : chunk);
  }
  return concat(parts);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Arrow seeds

/** What a small Arrow seed holds; mutated values are re-encoded from this. */
export interface ArrowSpec {
  layout: 'compact' | 'wide';
  container: 'file' | 'stream';
  codec: 'none' | 'lz4' | 'zstd';
  /** Wide layout only: pixel columns stored as float64. */
  float64?: boolean;
  /** Rows per record batch. */
  batchRows: number;
  ids: string[];
  /** −1 = null label; undefined = no label column. */
  labels?: number[];
  /** rows × pixels, row-major. */
  flux: Float32Array;
  pixels: number;
  /** `id` column as Int64 (pandas writes integer ids so) instead of Utf8; ids must then be integers. */
  int64Ids?: boolean;
  /** `label` dictionary-encoded (pandas' category dtype) instead of plain Utf8. */
  labelDictionary?: boolean;
  /** Flux values stored as null (indices into flux): nullable pixel columns, as pandas writes them. */
  nullFlux?: number[];
  /** Store every n-th compressed buffer raw (length prefix −1), as Arrow allows. */
  rawEvery?: number;
  /** Frame options, varied per seed so the decoders see checksums, content sizes, raw blocks. */
  lz4?: Lz4FrameOptions;
  zstdBlock?: number;
}

const LABELS = ['star', 'galaxy', 'qso'];
const LABEL_DICTIONARY = vectorFromArray(LABELS, new Utf8());

/** A validity bitmap for `count` values, null where `isNull(k)`; undefined when none is null. */
function validity(count: number, isNull: (k: number) => boolean): { nullBitmap?: Uint8Array; nullCount: number } {
  const bitmap = new Uint8Array(Math.ceil(count / 8));
  let nulls = 0;
  for (let k = 0; k < count; k++) {
    if (isNull(k)) nulls++;
    else bitmap[k >> 3]! |= 1 << (k & 7);
  }
  return nulls > 0 ? { nullBitmap: bitmap, nullCount: nulls } : { nullCount: 0 };
}

function batchData(spec: ArrowSpec, schema: Schema, from: number, to: number): RecordBatch {
  const n = to - from;
  const L = spec.pixels;
  const flux = spec.flux.slice(from * L, to * L);
  const nulls = new Set(spec.nullFlux ?? []);
  const children: Data[] = [
    spec.int64Ids
      ? makeData({ type: new Int64(), length: n, nullCount: 0, data: BigInt64Array.from(spec.ids.slice(from, to), (id) => BigInt(id)) })
      : vectorFromArray(spec.ids.slice(from, to), new Utf8()).data[0]!,
  ];
  if (spec.layout === 'compact') {
    const type = schema.fields[1]!.type as FixedSizeList;
    const child = makeData({ type: new Float32(), length: n * L, data: flux, ...validity(n * L, (k) => nulls.has(from * L + k)) });
    children.push(makeData({ type, length: n, nullCount: 0, child }));
  } else {
    for (let j = 0; j < L; j++) {
      const column = spec.float64 ? new Float64Array(n) : new Float32Array(n);
      for (let r = 0; r < n; r++) column[r] = flux[r * L + j]!;
      const valid = validity(n, (r) => nulls.has((from + r) * L + j));
      children.push(spec.float64 ? makeData({ type: new Float64(), length: n, data: column as Float64Array, ...valid }) : makeData({ type: new Float32(), length: n, data: column as Float32Array, ...valid }));
    }
  }
  if (spec.labels) {
    const labels = spec.labels.slice(from, to).map((k) => (k < 0 ? null : LABELS[k]!));
    if (spec.labelDictionary) {
      // One dictionary for every batch: the file format allows no replacement dictionaries.
      const type = schema.fields[schema.fields.length - 1]!.type as Dictionary<Utf8, Int32>;
      const indices = Int32Array.from(spec.labels.slice(from, to), (k) => Math.max(k, 0));
      children.push(makeData({ type, length: n, data: indices, dictionary: LABEL_DICTIONARY, ...validity(n, (r) => spec.labels![from + r]! < 0) }));
    } else children.push(vectorFromArray(labels, new Utf8()).data[0]!);
  }
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children }));
}

/** The bytes of an Arrow IPC file or stream holding `spec`, compressed as it says. */
export function writeArrowSpec(spec: ArrowSpec): Uint8Array {
  const L = spec.pixels;
  const nullable = (spec.nullFlux ?? []).length > 0;
  const fields: Field[] = [new Field('id', spec.int64Ids ? new Int64() : new Utf8(), false)];
  if (spec.layout === 'compact') fields.push(new Field('flux', new FixedSizeList(L, new Field('item', new Float32(), nullable)), false));
  else for (let j = 0; j < L; j++) fields.push(new Field(`FE${j}`, spec.float64 ? new Float64() : new Float32(), nullable));
  if (spec.labels) fields.push(new Field('label', spec.labelDictionary ? new Dictionary(new Utf8(), new Int32(), 0) : new Utf8(), true));
  const metadata = spec.layout === 'compact' ? new Map([['astrospec.grid', JSON.stringify({ start: 3800, step: 2, length: L })]]) : new Map<string, string>();
  const schema = new Schema(fields, metadata);
  const codec = spec.codec === 'lz4' ? CompressionType.LZ4_FRAME : spec.codec === 'zstd' ? CompressionType.ZSTD : undefined;
  const options = codec === undefined ? {} : { compressionType: codec };
  const writer = spec.container === 'file' ? new RecordBatchFileWriter(options as never) : new RecordBatchStreamWriter(options as never);
  if (codec !== undefined) {
    const encode = (bytes: Uint8Array) => (spec.codec === 'lz4' ? lz4Frame(bytes, spec.lz4) : zstdFrame(bytes, spec.zstdBlock));
    // apache-arrow 21 writes the compressed size where Arrow wants the decoded one, and stores a
    // buffer raw whenever the frame isn't smaller (a raw-block ZSTD frame never is); this writes
    // Arrow's layout: the decoded size, or −1 for a raw buffer (every `rawEvery`-th one, if set).
    (writer as unknown as { _compressBodyBuffers: unknown })._compressBodyBuffers = (buffers: ArrayBufferView[]) => compressBodyBuffers(buffers, encode, spec.rawEvery ?? 0);
  }
  const rows = spec.ids.length;
  for (let from = 0; from < rows; from += spec.batchRows) writer.write(batchData(spec, schema, from, Math.min(rows, from + spec.batchRows)));
  writer.finish();
  return writer.toUint8Array(true).slice();
}

function compressBodyBuffers(buffers: ArrayBufferView[], encode: (bytes: Uint8Array) => Uint8Array, rawEvery: number) {
  const out: Uint8Array[] = [];
  const regions: BufferRegion[] = [];
  let offset = 0;
  let index = 0;
  for (const buffer of buffers) {
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    if (bytes.length === 0) {
      out.push(new Uint8Array(0), new Uint8Array(0));
      regions.push(new BufferRegion(offset, 0));
      continue;
    }
    const raw = rawEvery > 0 && index++ % rawEvery === rawEvery - 1;
    const stored = raw ? bytes : encode(bytes);
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigInt64(0, raw ? -1n : BigInt(bytes.length), true);
    out.push(prefix, stored);
    offset = (offset + 7) & ~7;
    regions.push(new BufferRegion(offset, 8 + stored.length));
    offset += 8 + stored.length;
  }
  return { byteLength: (offset + 7) & ~7, bufferRegions: regions, buffers: out };
}
