/**
 * Arrow IPC framing and metadata, read and checked here before apache-arrow sees a byte of it.
 *
 * apache-arrow trusts its input: a corrupted flatbuffer vector length makes it loop over billions
 * of "fields" or allocate gigabytes, a wrong offset throws a bare TypeError or RangeError, and
 * buffers shorter than their arrays' lengths are read as if they were complete. So every message
 * is parsed here first with a bounds-checked flatbuffer reader (Arrow's Message.fbs, Schema.fbs,
 * File.fbs), every length is checked against the bytes that hold it, every record batch against
 * the schema (one field node per field, the buffers each type needs, each large enough for its
 * array's length), and only then handed to apache-arrow, re-framed as an IPC stream of messages
 * that have passed these checks. After apache-arrow has built a record batch, its contents are
 * checked as pyarrow's full validation does (offsets, null counts, dictionary indices, UTF-8).
 *
 * Formats: https://arrow.apache.org/docs/format/Columnar.html (IPC streaming and file formats).
 */
import type { FileHandle } from 'node:fs/promises';
import { CompressionType, DataType, type Data, type RecordBatch } from '#apache-arrow';
import { AstrospecError, excerpt, type ErrorCode } from '../errors.js';
import { isAscii } from './columns.js';
import { countBytesRead } from './read-stats.js';

/** Longest array apache-arrow can address (it uses int32 offsets and lengths). */
const MAX_ARRAY_LENGTH = 2 ** 31 - 1;
/** Nesting deeper than this is damage (a Field's children are Fields), and would overflow the stack. */
const MAX_FIELD_DEPTH = 64;
/** Every decoded buffer must fit one JS typed array. */
const MAX_BUFFER_BYTES = 2 ** 31 - 1;

/** Arrow's flatbuffer enums (Schema.fbs, Message.fbs). */
const enum TypeId {
  Null = 1, Int = 2, FloatingPoint = 3, Binary = 4, Utf8 = 5, Bool = 6, Decimal = 7, Date = 8, Time = 9, Timestamp = 10,
  Interval = 11, List = 12, Struct = 13, Union = 14, FixedSizeBinary = 15, FixedSizeList = 16, Map = 17, Duration = 18,
  LargeBinary = 19, LargeUtf8 = 20, LargeList = 21, RunEndEncoded = 22, BinaryView = 23, Utf8View = 24, ListView = 25, LargeListView = 26,
}
const TYPE_NAMES: Record<number, string> = {
  14: 'Union', 22: 'RunEndEncoded', 23: 'BinaryView', 24: 'Utf8View', 25: 'ListView', 26: 'LargeListView',
};
const enum HeaderType { Schema = 1, DictionaryBatch = 2, RecordBatch = 3 }
/** MetadataVersion V4 (Arrow ≥ 0.15) and V5 (≥ 1.0); older layouts differ in ways apache-arrow doesn't read. */
const METADATA_VERSIONS = new Set([3, 4]);

/** How an array of a type is laid out in the IPC body: which buffers it has, how big each must be. */
export type IpcLayout =
  | { kind: 'null' }
  | { kind: 'fixed'; bits: number }
  | { kind: 'binary'; offsetBytes: 4 | 8; utf8: boolean }
  | { kind: 'list'; offsetBytes: 4 | 8 }
  | { kind: 'fixedList'; size: number }
  | { kind: 'struct' };

export interface IpcField {
  name: string;
  layout: IpcLayout;
  children: IpcField[];
  /** Dictionary-encoded: the record batch holds integer indices of this width. */
  dictionary?: { id: number; indexBits: number };
}

export interface IpcSchema {
  fields: IpcField[];
  /** Dictionary id → the field of its values (with the value type's children). */
  dictionaries: Map<number, IpcField>;
}

/** One dictionary or record batch message of the file or stream, located and checked. */
export interface IpcMessage {
  kind: 'dictionary' | 'recordBatch';
  /** File offset of the message's flatbuffer (after its length prefix). */
  flatbufferOffset: number;
  flatbufferLength: number;
  bodyOffset: number;
  bodyLength: number;
  /** Rows of a record batch. */
  rows: number;
  /** Compression codec of a batch (CompressionType), if compressed. */
  codec?: number;
}

export interface IpcIndex {
  kind: 'file' | 'stream';
  schema: IpcSchema;
  /**
   * Where the schema's flatbuffer is: the footer (File.fbs Footer) of a file, whose schema is the
   * one readers use (apache-arrow's own file writer puts it nowhere else), or a stream's first
   * message (Message.fbs).
   */
  schemaSource: { container: 'footer' | 'message'; offset: number; length: number };
  /** Dictionaries and record batches in the order they are read. */
  messages: IpcMessage[];
  /** Sum of the record batches' rows. */
  rows: number;
}

type Fail = (message: string, code?: ErrorCode) => never;

function failer(file: string, what: string): Fail {
  return (message, code = 'BAD_INPUT') => {
    throw new AstrospecError(code, `${what}: ${message}`, { file });
  };
}

// ---------------------------------------------------------------------------------------------
// Bounds-checked flatbuffers (https://flatbuffers.dev/internals/): every offset is checked to lie
// inside the buffer before it is followed, every vector's length against the bytes after it.

class Flatbuffer {
  private readonly view: DataView;
  /** Field tables visited so far; see IpcSchema parsing. */
  visits = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly fail: Fail,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  need(at: number, size: number): void {
    if (!(at >= 0 && size >= 0 && at + size <= this.bytes.length)) this.fail(`flatbuffer reference to bytes ${at}…${at + size} outside its ${this.bytes.length} bytes`);
  }

  u8(at: number): number {
    this.need(at, 1);
    return this.view.getUint8(at);
  }

  i16(at: number): number {
    this.need(at, 2);
    return this.view.getInt16(at, true);
  }

  u16(at: number): number {
    this.need(at, 2);
    return this.view.getUint16(at, true);
  }

  i32(at: number): number {
    this.need(at, 4);
    return this.view.getInt32(at, true);
  }

  u32(at: number): number {
    this.need(at, 4);
    return this.view.getUint32(at, true);
  }

  i64(at: number): number {
    this.need(at, 8);
    const value = this.view.getBigInt64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`64-bit value ${value} is out of range`);
    return Number(value);
  }

  root(): Table {
    return this.table(this.u32(0));
  }

  table(pos: number): Table {
    const vtable = pos - this.i32(pos);
    const vtableSize = this.u16(vtable);
    const tableSize = this.u16(vtable + 2);
    if (vtableSize < 4 || vtableSize % 2 !== 0 || tableSize < 4) this.fail(`flatbuffer table at byte ${pos} has a malformed vtable`);
    this.need(vtable, vtableSize);
    this.need(pos, tableSize);
    return new Table(this, pos, vtable, vtableSize, tableSize);
  }
}

class Table {
  constructor(
    private readonly fb: Flatbuffer,
    private readonly pos: number,
    private readonly vtable: number,
    private readonly vtableSize: number,
    private readonly tableSize: number,
  ) {}

  /** Absolute position of field `index`, or 0 when absent. */
  private field(index: number, size: number): number {
    const slot = 4 + 2 * index;
    if (slot + 2 > this.vtableSize) return 0;
    const offset = this.fb.u16(this.vtable + slot);
    if (offset === 0) return 0;
    if (offset + size > this.tableSize) this.fb.fail(`flatbuffer field ${index} lies outside its table`);
    return this.pos + offset;
  }

  u8(index: number, fallback = 0): number {
    const at = this.field(index, 1);
    return at ? this.fb.u8(at) : fallback;
  }

  bool(index: number): boolean {
    return this.u8(index) !== 0;
  }

  i16(index: number, fallback = 0): number {
    const at = this.field(index, 2);
    return at ? this.fb.i16(at) : fallback;
  }

  i32(index: number, fallback = 0): number {
    const at = this.field(index, 4);
    return at ? this.fb.i32(at) : fallback;
  }

  i64(index: number, fallback = 0): number {
    const at = this.field(index, 8);
    return at ? this.fb.i64(at) : fallback;
  }

  /** Target of an offset field (uoffset: always forward, so references can't form cycles). */
  private ref(index: number): number | undefined {
    const at = this.field(index, 4);
    if (!at) return undefined;
    const target = at + this.fb.u32(at);
    this.fb.need(target, 4);
    return target;
  }

  table(index: number): Table | undefined {
    const target = this.ref(index);
    return target === undefined ? undefined : this.fb.table(target);
  }

  /** A vector of `elementSize`-byte elements: its first element's position and its length. */
  vector(index: number, elementSize: number): { start: number; length: number } | undefined {
    const target = this.ref(index);
    if (target === undefined) return undefined;
    const length = this.fb.u32(target);
    // The length word is the corrupted field in most damaged files: it must fit the bytes after it.
    if (length * elementSize > this.fb.bytes.length - target - 4) this.fb.fail(`flatbuffer vector of ${length} elements doesn't fit in its ${this.fb.bytes.length}-byte buffer`);
    return { start: target + 4, length };
  }

  string(index: number): string | undefined {
    const v = this.vector(index, 1);
    return v === undefined ? undefined : Buffer.from(this.fb.bytes.buffer, this.fb.bytes.byteOffset + v.start, v.length).toString('utf8');
  }

  tables(index: number): Table[] {
    const v = this.vector(index, 4);
    if (!v) return [];
    const out: Table[] = [];
    for (let k = 0; k < v.length; k++) {
      const at = v.start + 4 * k;
      out.push(this.fb.table(at + this.fb.u32(at)));
    }
    return out;
  }

  /** Reads an i64 at byte `offset` of a struct vector element. */
  structI64(start: number, offset: number): number {
    return this.fb.i64(start + offset);
  }

  structI32(start: number, offset: number): number {
    return this.fb.i32(start + offset);
  }
}

// ---------------------------------------------------------------------------------------------
// Schema

function intBits(t: Table | undefined, fail: Fail, what: string): number {
  const bits = t ? t.i32(0) : 32;
  if (![8, 16, 32, 64].includes(bits)) fail(`${what} has an integer width of ${bits} bits`);
  return bits;
}

function layoutOf(typeId: number, t: Table | undefined, childCount: number, name: string, fail: Fail): IpcLayout {
  const what = `column "${excerpt(name)}"`;
  const children = (n: number) => {
    if (childCount !== n) fail(`${what} has ${childCount} child fields, its type needs ${n}`);
  };
  const leaf = () => children(0);
  switch (typeId) {
    case TypeId.Null:
      leaf();
      return { kind: 'null' };
    case TypeId.Int:
      leaf();
      return { kind: 'fixed', bits: intBits(t, fail, what) };
    case TypeId.FloatingPoint: {
      leaf();
      const precision = t ? t.i16(0) : 0;
      if (precision < 0 || precision > 2) fail(`${what} has an unknown float precision ${precision}`);
      return { kind: 'fixed', bits: 16 << precision };
    }
    case TypeId.Bool:
      leaf();
      return { kind: 'fixed', bits: 1 };
    case TypeId.Decimal: {
      leaf();
      const precision = t ? t.i32(0) : 0;
      const scale = t ? t.i32(1) : 0;
      const bits = t ? t.i32(2, 128) : 128;
      if (![32, 64, 128, 256].includes(bits)) fail(`${what} is a ${bits}-bit decimal`);
      if (precision < 1 || precision > 76 || Math.abs(scale) > 76) fail(`${what} has decimal precision ${precision} and scale ${scale}`);
      return { kind: 'fixed', bits };
    }
    case TypeId.Date:
      leaf();
      return { kind: 'fixed', bits: (t ? t.i16(0, 1) : 1) === 0 ? 32 : 64 };
    case TypeId.Time: {
      leaf();
      const bits = t ? t.i32(1, 32) : 32;
      if (bits !== 32 && bits !== 64) fail(`${what} is a ${bits}-bit time`);
      return { kind: 'fixed', bits };
    }
    case TypeId.Timestamp:
    case TypeId.Duration:
      leaf();
      return { kind: 'fixed', bits: 64 };
    case TypeId.Interval: {
      leaf();
      const unit = t ? t.i16(0) : 0;
      if (unit < 0 || unit > 2) fail(`${what} has an unknown interval unit ${unit}`);
      return { kind: 'fixed', bits: [32, 64, 128][unit]! };
    }
    case TypeId.FixedSizeBinary: {
      leaf();
      const width = t ? t.i32(0) : 0;
      if (width < 1) fail(`${what} is FixedSizeBinary of ${width} bytes`);
      return { kind: 'fixed', bits: 8 * width };
    }
    case TypeId.Binary:
    case TypeId.Utf8:
      leaf();
      return { kind: 'binary', offsetBytes: 4, utf8: typeId === TypeId.Utf8 };
    case TypeId.LargeBinary:
    case TypeId.LargeUtf8:
      leaf();
      return { kind: 'binary', offsetBytes: 8, utf8: typeId === TypeId.LargeUtf8 };
    case TypeId.List:
    case TypeId.Map:
      children(1);
      return { kind: 'list', offsetBytes: 4 };
    case TypeId.LargeList:
      children(1);
      return { kind: 'list', offsetBytes: 8 };
    case TypeId.FixedSizeList: {
      children(1);
      const size = t ? t.i32(0) : 0;
      if (size < 0) fail(`${what} is a FixedSizeList of ${size} items`);
      return { kind: 'fixedList', size };
    }
    case TypeId.Struct:
      return { kind: 'struct' };
    default: {
      const known = TYPE_NAMES[typeId];
      if (known) fail(`${what} has type ${known}, which astrospec can't read`, 'UNSUPPORTED');
      return fail(`${what} has an unknown type id ${typeId}`);
    }
  }
}

/**
 * A `custom_metadata` vector of KeyValue tables (Schema, Field and Message have one): apache-arrow
 * walks as many entries as its length word says, so a damaged length made it loop for hours.
 */
function checkCustomMetadata(t: Table, slot: number): void {
  for (const entry of t.tables(slot)) {
    entry.string(0);
    entry.string(1);
  }
}

function parseField(fb: Flatbuffer, t: Table, depth: number, schema: IpcSchema): IpcField {
  if (depth > MAX_FIELD_DEPTH) fb.fail(`fields nested more than ${MAX_FIELD_DEPTH} deep`);
  // Flatbuffer tables may be shared: a vector of a million references to one Field, or children
  // that point at the same table at every level, describe a schema far larger than the bytes
  // that hold it (apache-arrow would build every one). A real schema has a table per field,
  // and a vector slot of ≥ 4 bytes for each.
  if (++fb.visits > fb.bytes.length / 4) fb.fail('schema describes more fields than its metadata has room for');
  const name = t.string(0) ?? '';
  checkCustomMetadata(t, 6);
  const typeId = t.u8(2);
  const children = t.tables(5).map((c) => parseField(fb, c, depth + 1, schema));
  const layout = layoutOf(typeId, t.table(3), children.length, name, fb.fail);
  const field: IpcField = { name, layout, children };
  const encoding = t.table(4);
  if (encoding) {
    const id = encoding.i64(0);
    const indexBits = intBits(encoding.table(1), fb.fail, `dictionary of column "${excerpt(name)}"`);
    field.dictionary = { id, indexBits };
    const values: IpcField = { name, layout, children };
    const known = schema.dictionaries.get(id);
    if (known && JSON.stringify(known) !== JSON.stringify(values)) fb.fail(`dictionary ${id} is used by columns of different types`);
    schema.dictionaries.set(id, values);
  }
  return field;
}

function parseSchema(fb: Flatbuffer, t: Table): IpcSchema {
  if (t.i16(0) !== 0) fb.fail('big-endian Arrow data, which astrospec can\'t read', 'UNSUPPORTED');
  const schema: IpcSchema = { fields: [], dictionaries: new Map() };
  checkCustomMetadata(t, 2);
  schema.fields = t.tables(1).map((f) => parseField(fb, f, 0, schema));
  return schema;
}

// ---------------------------------------------------------------------------------------------
// Messages and record batches

interface ParsedMessage {
  headerType: number;
  header: Table;
  bodyLength: number;
  fb: Flatbuffer;
}

function parseMessage(bytes: Uint8Array, fail: Fail): ParsedMessage {
  const fb = new Flatbuffer(bytes, fail);
  const t = fb.root();
  const version = t.i16(0);
  if (!METADATA_VERSIONS.has(version)) fail(`Arrow metadata version V${version + 1}; astrospec reads V4 and V5 (Arrow ≥ 0.15)`, 'UNSUPPORTED');
  const headerType = t.u8(1);
  const header = t.table(2);
  if (!header) fail('message without a header');
  const bodyLength = t.i64(3);
  if (bodyLength < 0) fail(`negative body length ${bodyLength}`);
  checkCustomMetadata(t, 4);
  return { headerType, header: header!, bodyLength, fb };
}

/** A RecordBatch table (Message.fbs): FieldNode and Buffer are 16-byte structs of two int64s. */
interface BatchMeta {
  length: number;
  nodes: { start: number; length: number };
  buffers: { start: number; length: number };
  codec?: number;
  table: Table;
}

function parseBatch(t: Table, fail: Fail): BatchMeta {
  const length = t.i64(0);
  if (length < 0 || length > MAX_ARRAY_LENGTH) fail(`record batch of ${length} rows`);
  const nodes = t.vector(1, 16) ?? { start: 0, length: 0 };
  const buffers = t.vector(2, 16) ?? { start: 0, length: 0 };
  const compression = t.table(3);
  let codec: number | undefined;
  if (compression) {
    codec = compression.u8(0);
    if (compression.u8(1) !== 0) fail('compressed with a method other than BUFFER', 'UNSUPPORTED');
  }
  const variadic = t.vector(4, 8);
  if (variadic && variadic.length > 0) fail('has variadic buffers (view types), which astrospec can\'t read', 'UNSUPPORTED');
  return { length, nodes, buffers, codec, table: t };
}

function bitmapBytes(length: number): number {
  return Math.ceil(length / 8);
}

/** Set bits among the first `length` bits of `bytes`. */
function countSetBits(bytes: Uint8Array, length: number): number {
  let count = 0;
  const whole = length >>> 3;
  for (let i = 0; i < whole; i++) {
    let b = bytes[i]!;
    b = b - ((b >>> 1) & 0x55);
    b = (b & 0x33) + ((b >>> 2) & 0x33);
    count += (b + (b >>> 4)) & 0x0f;
  }
  for (let k = whole * 8; k < length; k++) if (bytes[k >>> 3]! & (1 << (k & 7))) count++;
  return count;
}

/** Largest decoded size a codec can produce from `compressed` bytes (see decodeCompressed). */
export function maxDecodedBytes(codec: number, compressed: number): number {
  // LZ4: a sequence of ≥ 1 byte decodes to ≤ 255 bytes per length byte. ZSTD: an RLE block of
  // 4 bytes (3-byte header + 1) decodes to at most one 128 KB block.
  const ratio = codec === CompressionType.LZ4_FRAME ? 256 : 32768;
  return Math.min(MAX_BUFFER_BYTES, ratio * compressed + 1024);
}

/**
 * Checks a record batch's field nodes and buffers against the schema: a node per field (pre-order),
 * the buffers each type has, each inside the body and large enough for its array's length, and
 * lengths consistent between parents and children. With the body (`body`), also the decoded size
 * each compressed buffer declares, and the validity bitmaps of uncompressed ones.
 */
function checkBatch(meta: BatchMeta, fields: IpcField[], bodyLength: number, fail: Fail, body?: Uint8Array): void {
  const { table, nodes, buffers } = meta;
  let node = 0;
  let buffer = 0;
  let decoded = 0;
  const nextNode = (path: string) => {
    if (node >= nodes.length) fail(`has ${nodes.length} field nodes; the schema needs more (at ${path})`);
    const at = nodes.start + 16 * node++;
    const length = table.structI64(at, 0);
    const nullCount = table.structI64(at, 8);
    if (length < 0 || length > MAX_ARRAY_LENGTH) fail(`column ${path} has length ${length}`);
    if (nullCount < 0 || nullCount > length) fail(`column ${path} has ${nullCount} nulls in ${length} values`);
    return { length, nullCount };
  };
  /** Checks the next buffer; `need` is the decoded size the array requires. Returns its decoded size. */
  const nextBuffer = (path: string, role: string, need: number, bitmap?: { length: number; nullCount: number }) => {
    if (buffer >= buffers.length) fail(`has ${buffers.length} buffers; the schema needs more (at ${path})`);
    const at = buffers.start + 16 * buffer++;
    const offset = table.structI64(at, 0);
    const length = table.structI64(at, 8);
    if (offset < 0 || length < 0 || offset + length > bodyLength) fail(`column ${path}: ${role} buffer at bytes ${offset}…${offset + length} lies outside the ${bodyLength}-byte body`);
    let size = length;
    if (meta.codec !== undefined) {
      if (!body) return need; // sizes are known once the body is read
      if (length === 0) size = 0;
      else {
        if (length < 8) fail(`column ${path}: compressed ${role} buffer of ${length} bytes has no length prefix`);
        const declared = Number(Buffer.from(body.buffer, body.byteOffset + offset, 8).readBigInt64LE(0));
        if (declared === -1) size = length - 8;
        else if (declared < 0 || declared > maxDecodedBytes(meta.codec, length - 8)) fail(`column ${path}: ${length - 8} compressed bytes claim to decode to ${declared}`);
        else size = declared;
      }
      decoded += size;
    }
    if (bitmap) {
      // A validity buffer may be left out (0 bytes) when nothing is null; one that is there must
      // cover every value, and (read uncompressed, here) agree with the null count.
      const bytes = bitmapBytes(bitmap.length);
      if ((size > 0 || bitmap.nullCount > 0) && size < bytes) fail(`column ${path}: validity buffer holds ${size} bytes, ${bitmap.length} values need ${bytes}`);
      if (body && meta.codec === undefined && size > 0 && bitmap.length > 0) {
        const valid = countSetBits(body.subarray(offset, offset + bytes), bitmap.length);
        if (bitmap.length - valid !== bitmap.nullCount) fail(`column ${path}: null count ${bitmap.nullCount}, but the validity bitmap marks ${bitmap.length - valid} nulls`);
      }
    } else if (size < need) {
      fail(`column ${path}: ${role} buffer holds ${size} bytes, but its values need ${need}`);
    }
    return size;
  };
  const visit = (field: IpcField, path: string, expected: { exactly?: number; atLeast?: number }) => {
    const { length, nullCount } = nextNode(path);
    if (expected.exactly !== undefined && length !== expected.exactly) fail(`column ${path} has ${length} values, the record batch has ${expected.exactly} rows`);
    if (expected.atLeast !== undefined && length < expected.atLeast) fail(`column ${path} has ${length} values, its parent needs at least ${expected.atLeast}`);
    const layout = field.dictionary ? ({ kind: 'fixed', bits: field.dictionary.indexBits } as const) : field.layout;
    if (layout.kind === 'null') return;
    nextBuffer(path, 'validity', 0, { length, nullCount });
    switch (layout.kind) {
      case 'fixed':
        nextBuffer(path, 'data', layout.bits === 1 ? bitmapBytes(length) : (length * layout.bits) / 8);
        return;
      case 'binary':
        nextBuffer(path, 'offsets', length > 0 ? (length + 1) * layout.offsetBytes : 0);
        nextBuffer(path, 'data', 0); // its size is checked against the offsets once they are decoded
        return;
      case 'list':
        nextBuffer(path, 'offsets', length > 0 ? (length + 1) * layout.offsetBytes : 0);
        visit(field.children[0]!, `${path}.${excerpt(field.children[0]!.name, 40)}`, {});
        return;
      case 'fixedList':
        if (length * layout.size > MAX_ARRAY_LENGTH) fail(`column ${path}: ${length} lists of ${layout.size} items is too many`);
        visit(field.children[0]!, `${path}.${excerpt(field.children[0]!.name, 40)}`, { atLeast: length * layout.size });
        return;
      case 'struct':
        for (const child of field.children) visit(child, `${path}.${excerpt(child.name, 40)}`, { atLeast: length });
        return;
    }
  };
  for (const field of fields) visit(field, `"${excerpt(field.name, 60)}"`, { exactly: meta.length });
  if (node !== nodes.length || buffer !== buffers.length) {
    fail(`has ${nodes.length} field nodes and ${buffers.length} buffers, but the schema describes ${node} and ${buffer}`);
  }
  if (decoded > 4 * MAX_BUFFER_BYTES) fail(`decompresses to ${decoded} bytes`);
}

// ---------------------------------------------------------------------------------------------
// Reading the file

async function readExactly(fh: FileHandle, into: Uint8Array, position: number, fail: Fail): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await fh.read(into, done, into.length - done, position + done);
    countBytesRead(bytesRead);
    if (bytesRead === 0) fail(`file ends at byte ${position + done}, inside a message`, 'TRUNCATED');
    done += bytesRead;
  }
}

interface Located {
  message: ParsedMessage;
  flatbufferOffset: number;
  flatbufferLength: number;
  /** Where the message's prefix, flatbuffer and padding end. */
  end: number;
}

/**
 * Reads the message at `position` ([0xFFFFFFFF] int32 length, flatbuffer; pre-0.15 streams have
 * no 0xFFFFFFFF), whose metadata must end by `limit`. Returns undefined at an end-of-stream marker.
 */
async function readMessageAt(fh: FileHandle, position: number, limit: number, fail: Fail, preloaded?: Uint8Array): Promise<Located | undefined> {
  if (position + 4 > limit) fail(`file ends at byte ${limit}, where a message should start`, 'TRUNCATED');
  // `preloaded`: the bytes [position, limit), already read (a footer block's whole metadata).
  const read = async (into: Uint8Array, at: number) => {
    if (preloaded) into.set(preloaded.subarray(at - position, at - position + into.length));
    else await readExactly(fh, into, at, fail);
  };
  const word = Buffer.alloc(8);
  await read(word.subarray(0, Math.min(8, limit - position)), position);
  let prefix = 4;
  let length = word.readInt32LE(0);
  if (length === -1) {
    if (position + 8 > limit) fail(`file ends at byte ${limit}, inside a message's length prefix`, 'TRUNCATED');
    prefix = 8;
    length = word.readInt32LE(4);
  }
  if (length === 0) return undefined;
  if (length < 0) fail(`message at byte ${position} has a negative metadata length ${length}`);
  const flatbufferOffset = position + prefix;
  if (length > limit - flatbufferOffset) fail(`message at byte ${position} has ${length} bytes of metadata, past the end of the file (${limit})`, 'TRUNCATED');
  const bytes = new Uint8Array(length);
  await read(bytes, flatbufferOffset);
  return { message: parseMessage(bytes, fail), flatbufferOffset, flatbufferLength: length, end: flatbufferOffset + length };
}

function describeBatch(located: Located, schema: IpcSchema, bodyOffset: number, fail: Fail): IpcMessage {
  const { message } = located;
  const base = { flatbufferOffset: located.flatbufferOffset, flatbufferLength: located.flatbufferLength, bodyOffset, bodyLength: message.bodyLength };
  if (message.headerType === HeaderType.RecordBatch) {
    const meta = parseBatch(message.header, fail);
    checkBatch(meta, schema.fields, message.bodyLength, fail);
    return { kind: 'recordBatch', ...base, rows: meta.length, codec: meta.codec };
  }
  if (message.headerType === HeaderType.DictionaryBatch) {
    const id = message.header.i64(0);
    const values = schema.dictionaries.get(id);
    if (!values) fail(`dictionary batch for dictionary ${id}, which no column uses`);
    const data = message.header.table(1);
    if (!data) fail(`dictionary batch ${id} has no data`);
    const meta = parseBatch(data!, fail);
    checkBatch(meta, [values!], message.bodyLength, fail);
    return { kind: 'dictionary', ...base, rows: 0, codec: meta.codec };
  }
  if (message.headerType === HeaderType.Schema) return fail('a second schema message');
  return fail(`message of type ${message.headerType}, which astrospec can't read (expected record and dictionary batches)`, 'UNSUPPORTED');
}

function readSchemaMessage(located: Located | undefined, fail: Fail): IpcSchema {
  if (!located) return fail('the stream ends before its schema', 'TRUNCATED');
  if (located.message.headerType !== HeaderType.Schema) fail(`starts with a message of type ${located.message.headerType}, not a schema`);
  if (located.message.bodyLength !== 0) fail('schema message with a body');
  return parseSchema(located.message.fb, located.message.header);
}

/** Locates and checks every message of an IPC file (by its footer) or stream (by walking it). */
export async function indexIpc(fh: FileHandle, size: number, kind: 'file' | 'stream', file: string): Promise<IpcIndex> {
  const fail = failer(file, kind === 'file' ? 'Arrow file' : 'Arrow stream');
  const messages: IpcMessage[] = [];
  let schema: IpcSchema;
  let schemaSource: IpcIndex['schemaSource'];
  if (kind === 'file') {
    // "ARROW1" + 2 padding bytes, messages, footer flatbuffer, int32 footer length, "ARROW1".
    const tail = Buffer.alloc(4);
    await readExactly(fh, tail, size - 10, fail);
    const footerLength = tail.readInt32LE(0);
    const footerStart = size - 10 - footerLength;
    if (footerLength <= 0 || footerStart < 8) fail(`footer length ${footerLength} doesn't fit in the ${size}-byte file`);
    const footerBytes = new Uint8Array(footerLength);
    await readExactly(fh, footerBytes, footerStart, fail);
    const fb = new Flatbuffer(footerBytes, fail);
    const footer = fb.root();
    const schemaTable = footer.table(1);
    if (!schemaTable) fail('footer without a schema');
    schema = parseSchema(fb, schemaTable!);
    schemaSource = { container: 'footer', offset: footerStart, length: footerLength };
    // Block: int64 offset, int32 metaDataLength (+4 padding), int64 bodyLength.
    for (const [slot, want] of [[2, 'dictionary'], [3, 'recordBatch']] as const) {
      const blocks = footer.vector(slot, 24) ?? { start: 0, length: 0 };
      // Each block's metadata is read in one read, several at a time (a 2 GB file has ~500 of
      // them, and a shard indexes the file before it reads its slice), then checked in order.
      let window: Promise<Uint8Array | undefined>[] = [];
      const windowStart = { b: 0 };
      for (let b = 0; b < blocks.length; b++) {
        const at = blocks.start + 24 * b;
        const offset = footer.structI64(at, 0);
        const metadataLength = footer.structI32(at, 8);
        const bodyLength = footer.structI64(at, 16);
        const what = `footer block ${b} (${want === 'recordBatch' ? 'record batch' : 'dictionary'})`;
        if (offset < 8 || metadataLength < 8 || bodyLength < 0 || offset + metadataLength + bodyLength > footerStart) {
          fail(`${what} at bytes ${offset}…${offset + metadataLength + bodyLength} lies outside the data (bytes 8…${footerStart})`);
        }
        if (b === windowStart.b) {
          // Read ahead the next blocks' metadata (up to 64 blocks, each at most 1 MB; larger ones are read as they come).
          window = [];
          for (let k = b; k < Math.min(blocks.length, b + 64); k++) {
            const kAt = blocks.start + 24 * k;
            const kOffset = footer.structI64(kAt, 0);
            const kLength = footer.structI32(kAt, 8);
            if (kOffset < 8 || kLength < 8 || kLength > 1 << 20 || kOffset + kLength > footerStart) {
              window.push(Promise.resolve(undefined));
              continue;
            }
            const bytes = new Uint8Array(kLength);
            const done = readExactly(fh, bytes, kOffset, fail).then(() => bytes);
            done.catch(() => undefined); // surfaces, in block order, when awaited below
            window.push(done);
          }
          windowStart.b = b + window.length;
        }
        const preloaded = await window[b - (windowStart.b - window.length)]!;
        const message = await readMessageAt(fh, offset, offset + metadataLength, fail, preloaded);
        if (!message) fail(`${what} points at an end-of-stream marker`);
        if (message!.message.bodyLength !== bodyLength) fail(`${what} says its body is ${bodyLength} bytes, its message says ${message!.message.bodyLength}`);
        const described = describeBatch(message!, schema, offset + metadataLength, fail);
        if (described.kind !== want) fail(`${what} holds a ${described.kind === 'recordBatch' ? 'record batch' : 'dictionary'}`);
        messages.push(described);
      }
    }
  } else {
    const located = await readMessageAt(fh, 0, size, fail);
    schema = readSchemaMessage(located, fail);
    schemaSource = { container: 'message', offset: located!.flatbufferOffset, length: located!.flatbufferLength };
    let position = located!.end;
    for (;;) {
      // A stream cut at a message boundary would read as a shorter valid stream; the
      // end-of-stream marker every writer appends on close tells the two apart.
      if (position + 4 > size) fail(`no end-of-stream marker (the file ends at byte ${size})`, 'TRUNCATED');
      const next = await readMessageAt(fh, position, size, fail);
      if (!next) break;
      if (next.message.bodyLength > size - next.end) fail(`message at byte ${position} has a ${next.message.bodyLength}-byte body, past the end of the file (${size})`, 'TRUNCATED');
      messages.push(describeBatch(next, schema, next.end, fail));
      position = next.end + next.message.bodyLength;
    }
  }
  const rows = messages.reduce((n, m) => n + m.rows, 0);
  return { kind, schema, schemaSource, messages, rows };
}

/** A message flatbuffer framed as [0xFFFFFFFF][length][flatbuffer padded to 8], with room for a body. */
function frame(flatbufferLength: number, bodyLength: number, reuse?: { spare?: Buffer }): { chunk: Buffer; flatbuffer: Uint8Array; body: Uint8Array } {
  const padded = (flatbufferLength + 7) & ~7;
  // Not zero-filled (the body is read over it at once; this is most of the bytes read), except
  // for the padding; a buffer of its own (or the start of `reuse.spare`), so the body's typed
  // arrays are aligned views.
  const size = 8 + padded + bodyLength;
  let chunk: Buffer;
  if (reuse?.spare && reuse.spare.length >= size) {
    chunk = reuse.spare.subarray(0, size);
  } else if (reuse) {
    // A reused buffer grows with an eighth to spare: record batches of equal row counts differ
    // by a few bytes (ids grow longer down a file), and a buffer replaced at every slightly
    // larger batch made ~50 MB of garbage per 200 MB read, and the collections it costs.
    reuse.spare = Buffer.allocUnsafeSlow(size + (size >> 3));
    chunk = reuse.spare.subarray(0, size);
  } else {
    chunk = Buffer.allocUnsafeSlow(size);
  }
  chunk.writeInt32LE(-1, 0);
  chunk.writeInt32LE(padded, 4);
  chunk.fill(0, 8 + flatbufferLength, 8 + padded);
  return { chunk, flatbuffer: chunk.subarray(8, 8 + flatbufferLength), body: chunk.subarray(8 + padded) };
}

/** One message of the file, re-read and re-checked: its framed bytes, metadata and body (views of `chunk`). */
export interface CheckedMessage {
  kind: IpcMessage['kind'];
  /** [0xFFFFFFFF][metadata length][metadata, padded to 8][body]: one IPC stream message. */
  chunk: Buffer;
  flatbuffer: Uint8Array;
  body: Uint8Array;
}

/**
 * Each dictionary and record batch of `messages` (default: all of them, e.g. the record batches of
 * a shard's rows and the dictionaries before them) re-read, re-checked (now with its body) and
 * framed in a buffer of its own, so bodies stay 8-byte aligned and typed arrays can be views of
 * them. `firstBatch` is the index of the first record batch in the file, for messages.
 */
export async function* checkedMessages(fh: FileHandle, index: IpcIndex, file: string, messages: IpcMessage[] = index.messages, firstBatch = 0, reuse = false): AsyncGenerator<CheckedMessage> {
  let batch = firstBatch;
  // With reuse, record batches are read into two buffers in turn (each grown when a batch doesn't
  // fit): apache-arrow pulls the next message before it hands out the current batch, and asks for
  // the one after only once the caller has taken it. Dictionaries, which later batches refer to,
  // keep buffers of their own.
  const spares: { spare?: Buffer }[] = [{}, {}];
  let turn = 0;
  for (const m of messages) {
    const what = m.kind === 'recordBatch' ? `Arrow record batch ${batch++}` : 'Arrow dictionary batch';
    const fail = failer(file, what);
    const reusable = reuse && m.kind === 'recordBatch';
    const { chunk, flatbuffer, body } = frame(m.flatbufferLength, m.bodyLength, reusable ? spares[turn] : undefined);
    if (reusable) turn = 1 - turn;
    await readExactly(fh, flatbuffer, m.flatbufferOffset, fail);
    await readExactly(fh, body, m.bodyOffset, fail);
    // The file may have changed since it was indexed: what goes to apache-arrow is checked again.
    const message = parseMessage(flatbuffer, fail);
    if (message.bodyLength !== m.bodyLength) fail('the file changed while it was being read');
    if (m.kind === 'recordBatch') {
      if (message.headerType !== HeaderType.RecordBatch) fail('the file changed while it was being read');
      checkBatch(parseBatch(message.header, fail), index.schema.fields, m.bodyLength, fail, body);
    } else if (m.kind === 'dictionary') {
      if (message.headerType !== HeaderType.DictionaryBatch) fail('the file changed while it was being read');
      const values = index.schema.dictionaries.get(message.header.i64(0));
      const data = message.header.table(1);
      if (!values || !data) fail('the file changed while it was being read');
      checkBatch(parseBatch(data!, fail), [values!], m.bodyLength, fail, body);
    }
    yield { kind: m.kind, chunk, flatbuffer, body };
  }
}

/**
 * The file's data as one IPC stream for apache-arrow's reader: `schemaMessage` (a Schema message
 * flatbuffer), then checkedMessages, then end-of-stream.
 */
export async function* ipcStream(fh: FileHandle, index: IpcIndex, schemaMessage: Uint8Array, file: string, messages: IpcMessage[] = index.messages, firstBatch = 0, reuse = false): AsyncGenerator<Uint8Array> {
  const schema = frame(schemaMessage.length, 0);
  schema.flatbuffer.set(schemaMessage);
  yield schema.chunk;
  for await (const { chunk } of checkedMessages(fh, index, file, messages, firstBatch, reuse)) yield chunk;
  const end = new Uint8Array(8);
  new DataView(end.buffer).setInt32(0, -1, true);
  yield end;
}

// ---------------------------------------------------------------------------------------------
// Contents, once apache-arrow has decoded a record batch

const utf8 = new TextDecoder('utf-8', { fatal: true });

function checkOffsets(data: Data, limit: number, fail: Fail, path: string): void {
  const n = data.length;
  if (n === 0) return;
  const offsets = data.valueOffsets as ArrayLike<number | bigint> | undefined;
  if (!offsets || offsets.length < data.offset + n + 1) fail(`column ${path}: ${offsets?.length ?? 0} offsets for ${n} values`);
  let previous = Number(offsets![data.offset]);
  if (previous < 0) fail(`column ${path}: negative offset ${previous}`);
  for (let i = data.offset + 1; i <= data.offset + n; i++) {
    const next = Number(offsets![i]);
    if (next < previous) fail(`column ${path}: offsets decrease at value ${i - data.offset}`);
    previous = next;
  }
  if (previous > limit) fail(`column ${path}: offsets reach byte ${previous} of ${limit}`);
}

/**
 * Checks a decoded array as pyarrow's full validation does: validity bitmaps agree with null
 * counts, offsets rise and stay inside their data, UTF-8 is valid, dictionary indices point into
 * the dictionary, children are long enough. `checked` remembers dictionaries already checked.
 */
function checkData(data: Data, path: string, fail: Fail, checked: WeakSet<object>): void {
  const n = data.length;
  const type = data.type;
  if (DataType.isNull(type)) return;
  const bitmap = data.nullBitmap;
  if (bitmap && bitmap.length > 0 && n > 0) {
    if (bitmap.length < bitmapBytes(data.offset + n)) fail(`column ${path}: validity bitmap of ${bitmap.length} bytes for ${n} values`);
    let valid = 0;
    for (let i = data.offset; i < data.offset + n; i++) if (bitmap[i >>> 3]! & (1 << (i & 7))) valid++;
    if (n - valid !== data.nullCount) fail(`column ${path}: null count ${data.nullCount}, but the validity bitmap marks ${n - valid} nulls`);
  }
  const values = data.values as (ArrayLike<number> & { BYTES_PER_ELEMENT?: number }) | undefined;
  if (DataType.isUtf8(type) || DataType.isBinary(type) || DataType.isLargeUtf8(type) || DataType.isLargeBinary(type)) {
    const bytes = (values ?? new Uint8Array(0)) as Uint8Array;
    checkOffsets(data, bytes.length, fail, path);
    if ((DataType.isUtf8(type) || DataType.isLargeUtf8(type)) && n > 0) {
      const offsets = data.valueOffsets as ArrayLike<number | bigint>;
      const from = Number(offsets[data.offset]);
      const to = Number(offsets[data.offset + n]);
      if (!isAscii(bytes, from, to)) {
        for (let i = data.offset; i < data.offset + n; i++) {
          try {
            utf8.decode(bytes.subarray(Number(offsets[i]), Number(offsets[i + 1])));
          } catch {
            fail(`column ${path}, value ${i - data.offset + 1}: invalid UTF-8`);
          }
        }
      }
    }
    return;
  }
  if (DataType.isDictionary(type)) {
    const dictionary = data.dictionary;
    const size = dictionary ? dictionary.length : 0;
    const indices = values as ArrayLike<number | bigint>;
    if (!indices || indices.length < data.offset + n) fail(`column ${path}: ${indices?.length ?? 0} dictionary indices for ${n} values`);
    for (let i = data.offset; i < data.offset + n; i++) {
      const k = Number(indices[i]);
      if ((k < 0 || k >= size) && (data.nullCount === 0 || data.getValid(i - data.offset))) fail(`column ${path}, value ${i - data.offset + 1}: dictionary index ${k}, but the dictionary has ${size} entries`);
    }
    if (dictionary && !checked.has(dictionary)) {
      checked.add(dictionary);
      for (const chunk of dictionary.data) checkData(chunk, `${path} (dictionary)`, fail, checked);
    }
    return;
  }
  if (DataType.isList(type) || DataType.isLargeList(type) || DataType.isMap(type)) {
    const child = data.children[0]!;
    checkOffsets(data, child.length, fail, path);
    checkData(child, `${path}[]`, fail, checked);
    return;
  }
  if (DataType.isFixedSizeList(type)) {
    const child = data.children[0]!;
    if (child.length < (data.offset + n) * type.listSize) fail(`column ${path}: ${child.length} items for ${n} lists of ${type.listSize}`);
    checkData(child, `${path}[]`, fail, checked);
    return;
  }
  if (DataType.isStruct(type)) {
    data.children.forEach((child, k) => {
      if (child.length < data.offset + n) fail(`column ${path}: field ${k} has ${child.length} values for ${n} rows`);
      checkData(child, `${path}.${excerpt(type.children[k]?.name ?? String(k), 40)}`, fail, checked);
    });
    return;
  }
  if (values && n > 0) {
    const need = DataType.isBool(type) ? bitmapBytes(data.offset + n) : (data.offset + n) * data.stride;
    if (values.length < need) fail(`column ${path}: ${values.length} values for ${n} rows`);
  }
}

/** Checks every column of a record batch apache-arrow has decoded (see checkData). */
export function checkRecordBatchContents(batch: RecordBatch, file: string, index: number, checked: WeakSet<object>): void {
  const fail = failer(file, `Arrow record batch ${index}`);
  batch.schema.fields.forEach((field, k) => {
    const child = batch.data.children[k];
    if (!child) fail(`has no data for column "${excerpt(field.name)}"`);
    if (child!.length !== batch.numRows) fail(`column "${excerpt(field.name)}" has ${child!.length} values, the batch ${batch.numRows} rows`);
    checkData(child!, `"${excerpt(field.name)}"`, fail, checked);
  });
}
