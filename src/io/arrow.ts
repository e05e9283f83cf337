/**
 * Apache Arrow IPC / Feather v2 spectra files.
 *
 * Two layouts are read:
 * - wide, as pandas `DataFrame.to_feather` writes the competition table: one float column per
 *   pixel (FE0…FE{L−1}), optional `id`, optional `label`/`answer`;
 * - compact, which is what we write: `id` Utf8, `flux` FixedSizeList<Float32>[L], optional
 *   `label` Utf8 (or dictionary), extra Float32 and tag Utf8 columns, and the wavelength grid as
 *   JSON in the schema metadata under `astrospec.grid`.
 * Record batches are streamed from a file handle (random access for the file format), so memory
 * stays at about one record batch plus one output batch whatever the file size.
 * A yielded batch's flux may be a view of a record batch's buffer rather than a copy (see
 * ArrowSource.batches): writing into it changes nothing on disk, and holding it keeps that
 * record batch's buffer alive.
 */
import { open, type FileHandle } from 'node:fs/promises';
import {
  CompressionType,
  Field,
  FixedSizeList,
  Float32,
  Message,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchReader,
  Schema,
  Struct,
  Table,
  Utf8,
  compressionRegistry,
  makeData,
  vectorFromArray,
  type Data,
  type Vector,
} from '#apache-arrow';
// The footer decoder and the loader of a record batch's arrays aren't re-exported by the package
// root; their modules are public (package exports "./*").
import { Footer } from '#apache-arrow/ipc/metadata/file';
import type { RecordBatch as RecordBatchMetadata } from '#apache-arrow/ipc/metadata/message';
import { VectorLoader } from '#apache-arrow/visitor/vectorloader';
import { AstrospecError, excerpt } from '../errors.js';
import { registerArrowCodecs } from './arrow-codecs.js';
import { copyRows, describeLayout, fluxView, GRID_METADATA_KEY, type ArrowLayout } from './arrow-rows.js';

export { GRID_METADATA_KEY };
import { checkedMessages, checkRecordBatchContents, indexIpc, ipcStream, type IpcIndex, type IpcMessage } from './arrow-ipc.js';
import { checkUnchanged, fileIdentity, type FileIdentity } from './file-identity.js';
import { countBytesRead, countRowsDecoded } from './read-stats.js';
import { firstNonFinite } from './finite.js';
import { commitPartial, discardPartial, temporaryPath } from './partial-files.js';
import { CLASS_NAMES, sliceRows, type SpectrumBatch, type WavelengthGrid } from './batch.js';
import {
  allocateBatch,
  batchSizeOf,
  checkSinkBatch,
  extraColumnsOf,
  sinkColumns,
  truncateBatch,
} from './columns.js';
import type { ReadOptions, SpectraSink, SpectraSource, WriteOptions } from './types.js';

/**
 * Flux bytes per record batch written: about 400 spectra of 2600 pixels. A shard of a split run
 * reads whole record batches, so the batch holding its first row is read by two shards: smaller
 * batches waste less (4 MiB per shard boundary), and are still large enough that reading costs
 * next to nothing per batch.
 */
export const RECORD_BATCH_BYTES = 4 << 20;

/** Rows per written record batch for spectra of `pixels` float32 values. */
export function recordBatchRows(pixels: number): number {
  return Math.max(1, Math.floor(RECORD_BATCH_BYTES / (4 * Math.max(1, pixels))));
}
const FILE_MAGIC = Buffer.from('ARROW1');

/**
 * Checks the IPC file structure before apache-arrow reads it, because a truncated file otherwise
 * fails deep inside the reader with a message that names nothing.
 */
async function checkFileStructure(fh: FileHandle, size: number, file: string): Promise<'file' | 'stream'> {
  const head = Buffer.alloc(Math.min(8, size));
  await readAt(fh, head, 0);
  if (head.subarray(0, 6).equals(FILE_MAGIC)) {
    const tail = Buffer.alloc(6);
    if (size >= 14) await readAt(fh, tail, size - 6);
    if (size < 14 || !tail.equals(FILE_MAGIC)) {
      throw new AstrospecError('TRUNCATED', `truncated Arrow file: it starts with the ARROW1 magic but has no footer (${size} bytes)`, { file });
    }
    return 'file';
  }
  // Streams begin with a schema message: the 0xFFFFFFFF continuation marker (or, before Arrow
  // 0.15, the message length directly).
  if (size < 8) throw new AstrospecError('TRUNCATED', `not an Arrow file: only ${size} bytes`, { file });
  // A stream cut at a message boundary reads as a shorter valid stream, so the end-of-stream
  // marker every writer appends on close is required: 0xFFFFFFFF 0x00000000, or a zero length
  // word in the pre-0.15 format (which has no continuation marker).
  const tail = Buffer.alloc(8);
  await readAt(fh, tail, size - 8);
  const legacy = head.readInt32LE(0) !== -1;
  const ended = legacy ? tail.readInt32LE(4) === 0 : tail.readInt32LE(0) === -1 && tail.readInt32LE(4) === 0;
  if (!ended) throw new AstrospecError('TRUNCATED', `truncated Arrow stream: no end-of-stream marker (${size} bytes)`, { file });
  return 'stream';
}

/** Fails up front, naming the codec, when record batches use one we can't decode. */
function checkCodecs(index: IpcIndex, file: string): void {
  let batch = 0;
  for (const m of index.messages) {
    const what = m.kind === 'recordBatch' ? `record batch ${batch++}` : 'a dictionary batch';
    if (m.codec === undefined) continue;
    if (!compressionRegistry.get(m.codec as CompressionType)) {
      const name = CompressionType[m.codec] ?? `codec #${m.codec}`;
      throw new AstrospecError('UNSUPPORTED', `${what} is compressed with ${name}, which has no decoder here (LZ4_FRAME and ZSTD are supported)`, { file });
    }
  }
}

/**
 * Any failure while apache-arrow decodes, as an AstrospecError naming the file. The messages it
 * reads have been checked (arrow-ipc.ts), so what is left is damage inside a buffer (a bad
 * compressed frame, say), or a limit of apache-arrow's own.
 */
function wrapReaderError(error: unknown, file: string, what: string): AstrospecError {
  if (error instanceof AstrospecError) {
    if (error.file !== undefined) return error;
    return new AstrospecError(error.code, `${what}: ${error.message}`, { file }, { cause: error });
  }
  const message = excerpt((error as Error)?.message ?? String(error), 200);
  const codec = /codec not found/i.test(message);
  return new AstrospecError(
    codec ? 'UNSUPPORTED' : 'BAD_INPUT',
    codec ? `${what}: record batches are compressed with a codec we have no decoder for (${message})` : `${what}: ${message}`,
    { file },
    { cause: error },
  );
}

/** Rows [begin, end) of an Arrow file, and the messages that hold them. */
interface ArrowRowRange {
  begin: number;
  end: number;
}

class ArrowSource implements SpectraSource {
  readonly format = 'arrow' as const;
  readonly hasLabels: boolean;
  readonly grid: WavelengthGrid;
  readonly rowCount: number;
  readonly path: string;
  readonly byteLength: number;

  constructor(
    private readonly layout: ArrowLayout,
    private readonly batchSize: number,
    private readonly indexed: IndexedArrow,
    private readonly range?: ArrowRowRange,
    private readonly reuseBuffers = false,
    private readonly splitAtRecordBatches = false,
  ) {
    this.path = indexed.path;
    this.hasLabels = layout.label !== undefined;
    this.grid = layout.grid;
    const rows = indexed.index.rows;
    this.rowCount = range ? Math.max(0, Math.min(range.end, rows) - Math.min(range.begin, rows)) : rows;
    // Body bytes of the record batches this source reads (the whole file when it reads all rows).
    this.byteLength = range ? this.selection().messages.reduce((n, m) => n + m.bodyLength, 0) : indexed.identity.size;
  }

  async countRows(): Promise<number> {
    return this.rowCount;
  }

  /**
   * Rows [begin, end) of the file only (a shard's slice). Only the record batches that hold them
   * are read, found from the row counts the index read at open (the footer's blocks, or a
   * stream's message headers): no earlier batch is read or decoded, and rows of the first and
   * last batch outside the range are dropped before they are converted. Batches number rows in
   * the file (`firstRow` starts at begin).
   */
  rowRange(begin: number, end: number): ArrowSource {
    if (!(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && 0 <= begin && begin <= end)) throw new RangeError(`rowRange(${begin}, ${end})`);
    return new ArrowSource(this.layout, this.batchSize, this.indexed, { begin, end }, this.reuseBuffers, this.splitAtRecordBatches);
  }

  /**
   * The messages a pass reads: every record batch that overlaps the range, and the dictionary
   * batches before the last of them (dictionaries must be read before the batches using them).
   */
  private selection(): { messages: IpcMessage[]; firstBatch: number; firstBatchRow: number } {
    const all = this.indexed.index.messages;
    if (!this.range) return { messages: all, firstBatch: 0, firstBatchRow: 0 };
    const { begin, end } = this.range;
    const messages: IpcMessage[] = [];
    let firstBatch = -1;
    let firstBatchRow = 0;
    let row = 0;
    let batch = 0;
    const dictionaries: IpcMessage[] = [];
    for (const m of all) {
      if (m.kind === 'dictionary') {
        dictionaries.push(m);
        continue;
      }
      const from = row;
      row += m.rows;
      const k = batch++;
      if (row <= begin) continue;
      if (from >= end) break;
      if (firstBatch < 0) {
        firstBatch = k;
        firstBatchRow = from;
      }
      messages.push(...dictionaries.splice(0), m);
    }
    return { messages, firstBatch: Math.max(firstBatch, 0), firstBatchRow };
  }

  /**
   * Batches of batchSize rows. A batch that lies within one record batch of a compact file has
   * its flux as a view of that record batch's buffer (read from disk for this pass and owned by
   * nobody else): no copy, which is most of the cost of reading otherwise. Batches that span
   * record batches, and wide (pandas) files, are copied into a fresh array; with
   * splitAtRecordBatches, compact files yield no such batch, but the record batch's last rows
   * as a shorter view.
   */
  async *batches(): AsyncGenerator<SpectrumBatch> {
    try {
      yield* this.rows();
    } catch (error) {
      // Whatever escapes apache-arrow's vectors is still this file's fault, and named as such.
      throw wrapReaderError(error, this.path, 'cannot read the Arrow data');
    }
  }

  private async *rows(): AsyncGenerator<SpectrumBatch> {
    const columns = {
      labels: this.layout.label !== undefined,
      extra: this.layout.extra.map((e) => e.name),
      tags: this.layout.tags.map((t) => t.name),
    };
    const { messages, firstBatch, firstBatchRow } = this.selection();
    const begin = this.range?.begin ?? 0;
    const end = this.range?.end ?? Number.POSITIVE_INFINITY;
    if (this.range && messages.length === 0) return;
    let out: SpectrumBatch | undefined;
    // With reuseBuffers: the flux of every batch that spans two record batches.
    let spareFlux: Float32Array | undefined;
    let filled = 0;
    let firstRow = begin;
    let rowsSeen = firstBatchRow; // file row of the record batch's first row
    for await (const rb of checkedRecordBatches(this.indexed, messages, firstBatch, this.reuseBuffers)) {
      // Rows of this record batch inside [begin, end).
      let from = Math.max(0, begin - rowsSeen);
      const to = Math.min(rb.numRows, end - rowsSeen);
      while (from < to) {
        // Split batches also end at multiples of batchSize from the first row read: a caller
        // filling batchSize-row batches (classify) gets pieces that fit them, never one to cut.
        const room = this.splitAtRecordBatches && filled === 0 ? this.batchSize - ((firstRow - begin) % this.batchSize) : this.batchSize - filled;
        const n = Math.min(to - from, room);
        const view = filled === 0 && (n === this.batchSize || this.splitAtRecordBatches) ? fluxView(rb, this.layout, from, n) : undefined;
        if (view) {
          const batch = allocateBatch(n, this.grid, firstRow, columns, view);
          copyRows(rb, this.layout, from, n, batch, 0, this.path, rowsSeen, true, firstNonFinite);
          countRowsDecoded(n);
          from += n;
          firstRow += n;
          yield batch;
          continue;
        }
        out ??= allocateBatch(this.batchSize, this.grid, firstRow, columns, this.reuseBuffers ? (spareFlux ??= new Float32Array(this.batchSize * this.grid.length)) : undefined);
        copyRows(rb, this.layout, from, n, out, filled, this.path, rowsSeen, false, firstNonFinite);
        countRowsDecoded(n);
        from += n;
        filled += n;
        if (filled === this.batchSize) {
          const full = out;
          firstRow += filled;
          out = undefined;
          filled = 0;
          yield full;
        }
      }
      rowsSeen += rb.numRows;
      if (rowsSeen >= end) break;
    }
    if (out && filled > 0) yield truncateBatch(out, filled);
  }

  async close(): Promise<void> {}
}

/** An Arrow file or stream whose framing and metadata have been checked (arrow-ipc.ts). */
interface IndexedArrow {
  path: string;
  /** The file as it was indexed: later passes fail if it has changed. */
  identity: FileIdentity;
  index: IpcIndex;
  schema: Schema;
  /** The schema as a Message flatbuffer, first in the stream apache-arrow reads. */
  schemaMessage: Uint8Array;
}

async function readAt(fh: FileHandle, into: Uint8Array, position: number): Promise<void> {
  const { bytesRead } = await fh.read(into, 0, into.length, position);
  countBytesRead(bytesRead);
}

async function indexArrow(path: string, listed?: FileIdentity): Promise<IndexedArrow> {
  registerArrowCodecs();
  const identity = listed ?? (await fileIdentity(path));
  const size = identity.size;
  if (size === 0) throw new AstrospecError('BAD_INPUT', 'empty file', { file: path });
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (error) {
    throw new AstrospecError('IO', (error as Error).message, { file: path }, { cause: error });
  }
  try {
    if (listed) await checkUnchanged(path, listed, fh);
    const kind = await checkFileStructure(fh, size, path);
    const index = await indexIpc(fh, size, kind, path);
    checkCodecs(index, path);
    // The schema's flatbuffer has passed indexIpc's checks: now apache-arrow may decode it.
    const bytes = new Uint8Array(index.schemaSource.length);
    await readAt(fh, bytes, index.schemaSource.offset);
    try {
      if (index.schemaSource.container === 'message') return { path, identity, index, schema: Message.decode(bytes).header() as Schema, schemaMessage: bytes };
      const schema = Footer.decode(bytes).schema;
      return { path, identity, index, schema, schemaMessage: Message.encode(Message.from(schema)) };
    } catch (error) {
      throw wrapReaderError(error, path, 'cannot read the Arrow schema');
    }
  } finally {
    await fh.close();
  }
}

/**
 * Record batches decoded by apache-arrow from the messages indexed at open (all of them, or the
 * `messages` given, whose first record batch is batch `firstBatch` of the file), each re-checked
 * as it is read (checkedMessages) and its contents checked once decoded (checkRecordBatchContents).
 * Files without dictionaries or compression are loaded without apache-arrow's reader
 * (loadedRecordBatches); the others go through it.
 */
async function* checkedRecordBatches(indexed: IndexedArrow, messages = indexed.index.messages, firstBatch = 0, reuseBuffers = false): AsyncGenerator<RecordBatch> {
  const { path, identity, index, schemaMessage } = indexed;
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (error) {
    throw new AstrospecError('IO', (error as Error).message, { file: path }, { cause: error });
  }
  let reader: RecordBatchReader | undefined;
  try {
    // Offsets and row counts come from the index: the file must still be the one indexed.
    await checkUnchanged(path, identity, fh);
    if (index.schema.dictionaries.size === 0 && messages.every((m) => m.kind === 'recordBatch' && m.codec === undefined)) {
      yield* loadedRecordBatches(fh, indexed, messages, firstBatch, reuseBuffers);
      return;
    }
    try {
      reader = await RecordBatchReader.from(ipcStream(fh, index, schemaMessage, path, messages, firstBatch, reuseBuffers));
      await reader.open();
    } catch (error) {
      throw wrapReaderError(error, path, 'cannot read the Arrow schema');
    }
    const checked = new WeakSet<object>();
    let batch = firstBatch;
    const iterator = reader[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<RecordBatch>;
      try {
        next = await iterator.next();
        if (!next.done) checkRecordBatchContents(next.value, path, batch, checked);
      } catch (error) {
        throw wrapReaderError(error, path, `cannot read record batch ${batch}`);
      }
      if (next.done) break;
      batch++;
      yield next.value;
    }
  } finally {
    await Promise.resolve(reader?.cancel()).catch(() => undefined);
    await fh.close();
  }
}

/**
 * The record batches of a file without dictionaries or compression, loaded as apache-arrow's
 * reader loads them (its VectorLoader over each message's body, in a Struct of the schema's
 * fields) but straight from the messages checkedMessages reads and checks, without the reader's
 * asynchronous byte-stream and message plumbing around it: that ran once per record batch,
 * mostly interpreted in a run of tens of thousands of spectra, ~5 % of classify's main thread.
 */
async function* loadedRecordBatches(fh: FileHandle, { path, index, schema }: IndexedArrow, messages: IpcMessage[], firstBatch: number, reuseBuffers: boolean): AsyncGenerator<RecordBatch> {
  const checked = new WeakSet<object>();
  let batch = firstBatch;
  for await (const { flatbuffer, body } of checkedMessages(fh, index, path, messages, firstBatch, reuseBuffers)) {
    let rb: RecordBatch;
    try {
      const message = Message.decode(flatbuffer);
      if (!message.isRecordBatch()) throw new Error('the message is not a record batch');
      const header = message.header() as RecordBatchMetadata;
      const children = new VectorLoader(body, header.nodes, header.buffers, new Map(), schema.metadataVersion, header.variadicBufferCounts).visitMany(schema.fields);
      rb = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: header.length, children }));
      checkRecordBatchContents(rb, path, batch, checked);
    } catch (error) {
      throw wrapReaderError(error, path, `cannot read record batch ${batch}`);
    }
    batch++;
    yield rb;
  }
}

export interface ArrowReadOptions extends ReadOptions {
  /** The file as a dataset listed it; reading fails if it has changed since (default: as it is now). */
  identity?: FileIdentity;
}

export type ArrowSpectraSource = SpectraSource & { readonly rowCount: number; rowRange(begin: number, end: number): SpectraSource };

/** Opens an Arrow IPC file or stream (Feather v2 is the IPC file format). */
export async function openArrow(path: string, options: ArrowReadOptions = {}): Promise<ArrowSpectraSource> {
  const batchSize = batchSizeOf(options);
  const indexed = await indexArrow(path, options.identity);
  let layout: ArrowLayout;
  try {
    layout = describeLayout(indexed.schema, options, path);
    if (options.spectraOnly) layout = { ...layout, extra: [], tags: [] };
  } catch (error) {
    throw wrapReaderError(error, path, 'cannot read the Arrow schema');
  }
  return new ArrowSource(layout, batchSize, indexed, undefined, options.reuseBuffers === true, options.splitAtRecordBatches === true);
}

/**
 * A whole Arrow file or stream as a Table, through the same checks as spectra files (for
 * predictions files, which are small: one row of six numbers and two short strings per spectrum).
 */
export async function readArrowTable(path: string): Promise<Table> {
  const indexed = await indexArrow(path);
  const batches: RecordBatch[] = [];
  for await (const batch of checkedRecordBatches(indexed)) batches.push(batch);
  return new Table(indexed.schema, batches);
}

function labelVector(labels: Int8Array, rows: number): Vector {
  const text: (string | null)[] = new Array(rows);
  for (let i = 0; i < rows; i++) {
    const l = labels[i]!;
    text[i] = l >= 0 && l < CLASS_NAMES.length ? CLASS_NAMES[l]! : null;
  }
  return vectorFromArray(text, new Utf8());
}

/**
 * Streams batches to an Arrow IPC file in the compact layout. The writer's byte queue is drained
 * to disk after every batch, so at most one encoded record batch is held in memory.
 */
class ArrowSink implements SpectraSink {
  rowsWritten = 0;
  private writer = new RecordBatchFileWriter();
  private schema?: Schema;
  private columns?: { extra: string[]; tags: string[] };
  private pending?: Promise<IteratorResult<Uint8Array>>;
  private readonly chunks: AsyncIterator<Uint8Array>;
  private failed = false;

  constructor(
    readonly path: string,
    private readonly temp: string,
    private readonly fh: FileHandle,
    private readonly options: WriteOptions,
  ) {
    this.chunks = this.writer[Symbol.asyncIterator]();
  }

  private buildSchema(columns: { extra: string[]; tags: string[] }): Schema {
    const L = this.options.grid.length;
    const fields: Field[] = [
      new Field('id', new Utf8(), false),
      new Field('flux', new FixedSizeList(L, new Field('item', new Float32(), false)), false),
    ];
    if (this.options.hasLabels) fields.push(new Field('label', new Utf8(), true));
    for (const name of columns.extra) fields.push(new Field(name, new Float32(), true));
    for (const name of columns.tags) fields.push(new Field(name, new Utf8(), true));
    const grid = { start: this.options.grid.start, step: this.options.grid.step, length: L };
    return new Schema(fields, new Map([[GRID_METADATA_KEY, JSON.stringify(grid)]]));
  }

  /** Writes every chunk the Arrow writer has queued so far. */
  private async drain(): Promise<void> {
    // The writer queues its output synchronously; a read that isn't already resolved means the
    // queue is empty. That read stays pending and receives the next chunk on a later drain.
    const empty = Symbol('empty');
    for (;;) {
      const read = this.pending ?? this.chunks.next();
      const result = await Promise.race([read, Promise.resolve(empty)]);
      if (result === empty) {
        this.pending = read;
        return;
      }
      this.pending = undefined;
      if (result.done) return;
      await this.fh.write(result.value);
    }
  }

  private start(first: { extra: Record<string, Float32Array>; tags?: Record<string, string[]> }): void {
    this.columns = sinkColumns(this.options.extraColumns, first);
    this.schema = this.buildSchema(this.columns);
    this.writer.reset(undefined, this.schema);
  }

  async write(batch: SpectrumBatch, extraArg?: Record<string, Float32Array>): Promise<void> {
    const extra = extraColumnsOf(batch, extraArg);
    if (!this.schema) this.start({ extra, tags: batch.tags });
    const columns = this.columns!;
    checkSinkBatch(this.path, batch, extra, columns, this.options);
    const rows = batch.ids.length;
    if (rows === 0) return;
    const L = this.options.grid.length;
    const maxRows = recordBatchRows(L);
    if (rows > maxRows) {
      for (let at = 0; at < rows; at += maxRows) await this.write(sliceRows({ ...batch, extra }, at, Math.min(rows, at + maxRows)));
      return;
    }
    const flux = batch.flux.subarray(0, rows * L);
    const bad = firstNonFinite(flux);
    if (bad >= 0) {
      throw new AstrospecError('BAD_INPUT', `refusing to write flux ${flux[bad]} (NaN/Inf flux can't be read back)`, {
        file: this.path,
        row: batch.firstRow + Math.floor(bad / L) + 1,
        column: `flux[${bad % L}]`,
      });
    }
    const schema = this.schema!;
    const children: Data[] = [vectorFromArray(batch.ids.slice(0, rows), new Utf8()).data[0]!];
    const itemType = (schema.fields[1]!.type as FixedSizeList).children[0]!;
    children.push(
      makeData({
        type: schema.fields[1]!.type as FixedSizeList,
        length: rows,
        nullCount: 0,
        child: makeData({ type: itemType.type as Float32, length: rows * L, nullCount: 0, data: flux }),
      }),
    );
    if (this.options.hasLabels) children.push(labelVector(batch.labels!, rows).data[0]!);
    for (const name of columns.extra) {
      children.push(makeData({ type: new Float32(), length: rows, nullCount: 0, data: extra[name]!.subarray(0, rows) }));
    }
    for (const name of columns.tags) children.push(vectorFromArray(batch.tags![name]!.slice(0, rows), new Utf8()).data[0]!);
    const data = makeData({ type: new Struct(schema.fields), length: rows, nullCount: 0, children });
    try {
      this.writer.write(new RecordBatch(schema, data));
      await this.drain();
    } catch (error) {
      this.failed = true;
      throw error instanceof AstrospecError ? error : new AstrospecError('IO', (error as Error).message, { file: this.path }, { cause: error });
    }
    this.rowsWritten += rows;
  }

  async close(): Promise<void> {
    if (this.failed) throw new AstrospecError('IO', 'an earlier write failed; the output was not completed', { file: this.path });
    if (!this.schema) this.start({ extra: {} });
    // close() appends the footer and ends the byte queue; drain() then writes up to its end.
    this.writer.close();
    await this.drain();
    await this.fh.sync();
    await this.fh.close();
    await commitPartial(this.temp, this.path);
  }

  async abort(): Promise<void> {
    this.writer.abort();
    await this.fh.close().catch(() => undefined);
    await discardPartial(this.temp);
  }
}

export async function createArrowSink(path: string, options: WriteOptions): Promise<SpectraSink> {
  const temp = temporaryPath(path);
  let fh: FileHandle;
  try {
    fh = await open(temp, 'w');
  } catch (error) {
    throw new AstrospecError('IO', (error as Error).message, { file: path }, { cause: error });
  }
  return new ArrowSink(path, temp, fh, options);
}
