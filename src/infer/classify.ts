/**
 * `classifyFile`: spectra file(s) → predictions file, with an exported ONNX model.
 *
 * Four stages overlap: the main thread reads and parses a batch, preprocesses it natively with
 * the settings stored in the model straight into a batch slot shared with the worker threads
 * running onnxruntime (src/infer/batch-slot.ts); finished batches are written in input order. At most
 * `queueDepth` batches are in flight, so memory stays flat however long the input is.
 */
import { readFile } from 'node:fs/promises';
import { AstrospecError, check } from '../errors.js';
import { networkInput, sameGrid, sliceRows, type SpectrumBatch, type WavelengthGrid } from '../io/batch.js';
import { readLabelsCsv, withLabels } from '../io/labels.js';
import { DuplicateIdTracker, type DuplicateIds } from '../io/duplicate-ids.js';
import { formatOfPath, listDataset, openSpectra, parseShard, shardRange, type Shard } from '../io/open.js';
import { readStats, readStatsSince, type ReadStats } from '../io/read-stats.js';
import type { SourceSlice, SpectraSource } from '../io/types.js';
import { modelInputs, standardisedFeature, type ModelInputs, type ModelSpec } from '../model/spec.js';
import { preprocessSync } from '../preprocess/index.js';
import { ONNX_NAMES, onnxModelSpec } from '../export/onnx.js';
import { createPredictionWriter, STATUS_OK, type PredictionWriter } from './predictions.js';
import { checkedRows, type OutputChecks } from './prediction-lines.js';
import { checkShardOutput, expectationOf, shardEndLine, shardHeadLine } from './shard-output.js';
import { defaultSessionSettings, SessionPool, type BatchSlot, type SessionSettings } from './session-pool.js';

/** Row statuses besides 'ok'. */
export const STATUS = {
  noValidPixels: 'no_valid_pixels',
  nonFiniteFeatures: 'non_finite_features',
  nonFiniteOutput: 'non_finite_output',
  /** Classified, but unlike the validation spectra: ood_score above the model's threshold (src/model/spec.ts OodSpec). */
  outOfDistribution: 'ood',
} as const;

const STATUS_NON_FINITE_FEATURES = STATUS.nonFiniteFeatures;

/** Shards are defined with datasets (src/io/dataset.ts); re-exported here, where they are used. */
export { parseShard, shardRange, type Shard };

export interface ClassifyOptions extends Partial<SessionSettings> {
  /** Exported ONNX model (astrospec export). */
  model: string;
  /** Predictions file: .csv, or .arrow/.feather/.ipc. */
  output: string;
  /** Classify at most this many rows (after sharding). */
  limit?: number;
  /**
   * Classify only shard i of N of the input, reading only its slice (src/io/dataset.ts): rows
   * numbered globally for Arrow, FITS and chunk folders; within the shard for CSV input (the
   * output then carries head and end lines for astrospec merge: src/infer/shard-output.ts).
   */
  shard?: Shard;
  /** When the output already exists and is this shard's complete output, classify nothing and return it. */
  resume?: boolean;
  /** Batches in flight between reading and writing. Default 2 per worker + 1. */
  queueDepth?: number;
  /** Native threads for parsing and preprocessing. Default: the addon's. */
  readThreads?: number;
  /** Threads of each preprocessing call (default 1: the inference workers already keep the cores busy). */
  preprocessThreads?: number;
  /** Stops the run: the temporary output is removed and INTERRUPTED is thrown. */
  signal?: AbortSignal;
  /** After each written batch: rows written so far. */
  onProgress?: (rows: number) => void;
  /** Called once the row range is known (for a progress bar's total). */
  onStart?: (info: { rows: number; firstRow: number; spec: ModelSpec; settings: SessionSettings; slice?: SourceSlice }) => void;
  /** With resume, when an existing output is not complete: why (it is then classified again). */
  onResume?: (reason: string) => void;
  /** Keep the input's labels (for evaluate --model). */
  keepLabels?: boolean;
  /**
   * A labels CSV joined to the spectra by file name or id (src/io/labels.ts); its classes replace
   * the input's own and are returned as `truth`. A spectrum without a row fails the run.
   */
  labels?: string;
  /**
   * After each inference batch, before it is written: its rows' statuses and the model's outputs
   * other than `probabilities` (batchSize rows each; the first `rows` are this batch's). The
   * outputs are views of memory used again for later batches: copy what is kept.
   */
  onBatch?: (batch: { firstRow: number; rows: number; status: string[]; extras: Record<string, Float32Array> }) => void;
}

export interface ClassifyResult {
  output: string;
  /** Input rows classified: firstRow … firstRow + rows − 1 (within the shard for a "bytes" split: see slice). */
  firstRow: number;
  rows: number;
  /** The shard's slice of the input, with --shard. */
  slice?: SourceSlice;
  /** With resume: the output was already complete and nothing was classified. */
  skipped?: boolean;
  /** Bytes the readers took from the input's files, and rows they decoded (src/io/read-stats.ts). */
  read: ReadStats;
  statusCounts: Record<string, number>;
  seconds: number;
  spectraPerSecond: number;
  settings: SessionSettings;
  spec: ModelSpec;
  /** With keepLabels or labels, when the input has labels: class index per classified row (−1 unknown), and ids. */
  truth?: { labels: Int8Array; ids: string[] };
  /** Ids repeated among the classified rows (the first million are checked). */
  duplicateIds: DuplicateIds;
  /**
   * Where the main thread's time went (s): reading and parsing, preprocessing, waiting for
   * inference results, writing. A small `waitingForInference` share means reading, not
   * inference, limits the run.
   */
  stages: { reading: number; preprocessing: number; waitingForInference: number; writing: number };
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

function describeGrid(grid: WavelengthGrid): string {
  return `${grid.length} pixels, λ = ${grid.start} + ${grid.step}·i Å`;
}

/** An inference batch being filled: rows [0, filled) of `slot`, from one or more read batches. */
interface Filling {
  slot: BatchSlot;
  firstRow: number;
  ids: string[];
  status: string[];
  filled: number;
}

interface InFlight {
  firstRow: number;
  ids: string[];
  status: string[];
  rows: number;
  result: Promise<BatchSlot>;
}

/** The model's outputs besides the class probabilities. */
function extraOutputs(slot: BatchSlot): Record<string, Float32Array> {
  const extras: Record<string, Float32Array> = {};
  for (const name in slot.outputs) if (name !== ONNX_NAMES.probabilities) extras[name] = slot.outputs[name]!;
  return extras;
}

/** The model file's spec, and what classify takes from it, checked. */
async function readModelSetup(file: string): Promise<ModelInputs & { spec: ModelSpec }> {
  const modelBytes = await readFile(file).catch((error: Error) => {
    throw new AstrospecError('IO', error.message, { file }, { cause: error });
  });
  const spec = onnxModelSpec(modelBytes, file);
  return { spec, ...modelInputs(spec, file) };
}

/** The pool, once its sessions' inputs (read from the graph) are known to be what the spec says. */
function sessionsFitSpec(pool: SessionPool, arch: ModelSpec['architecture'], file: string): SessionPool {
  const { inputLength, featureCount } = pool.shape;
  if (inputLength !== arch.inputLength || featureCount !== arch.featureCount) {
    throw new AstrospecError('MODEL', `the network takes ${inputLength} pixels and ${featureCount} side features, but its spec says ${arch.inputLength} and ${arch.featureCount}`, { file });
  }
  return pool;
}

export async function classifyFile(input: string | string[], options: ClassifyOptions): Promise<ClassifyResult> {
  const started = process.hrtime.bigint();
  const settings = defaultSessionSettings(options);
  check(Number.isInteger(settings.batchSize) && settings.batchSize >= 1 && settings.batchSize <= 65536, `--batch-size must be an integer in 1…65536, got ${settings.batchSize}`);
  check(Number.isInteger(settings.workers) && settings.workers >= 1 && settings.workers <= 64, `--workers must be an integer in 1…64, got ${settings.workers}`);
  check(Number.isInteger(settings.intraOpThreads) && settings.intraOpThreads >= 1, `--threads must be a positive integer, got ${settings.intraOpThreads}`);
  check(options.limit === undefined || (Number.isInteger(options.limit) && options.limit >= 0), `--limit must be a non-negative integer, got ${options.limit}`);
  const queueDepth = options.queueDepth ?? 2 * settings.workers + 1;
  check(Number.isInteger(queueDepth) && queueDepth >= 1, `queueDepth must be a positive integer, got ${queueDepth}`);

  const readStart = readStats();
  // Listed once: the files' formats choose the read batch size, and the readers get this listing.
  const dataset = await listDataset(input);
  const paths = dataset.files.map((f) => f.path);
  // A bad labels file fails before any worker starts.
  const labelTable = options.labels !== undefined ? await readLabelsCsv(options.labels) : undefined;
  // The sessions start loading the model file in their workers at once, while this thread reads
  // its spec and then opens and reads the input (the pool's start is the longest wait of a run).
  // A resumed shard checks its output first: a complete one starts nothing.
  let starting: Promise<SessionPool> | undefined;
  const startPool = () => {
    const pool = SessionPool.start(options.model, undefined, settings, options.model);
    pool.catch(() => undefined); // the error surfaces where it is awaited
    return pool;
  };
  if (!(options.resume && options.shard)) starting = startPool();
  const stopPool = async () => (await starting?.catch(() => undefined))?.terminate();

  let model: ModelInputs & { spec: ModelSpec };
  try {
    model = await readModelSetup(options.model);
  } catch (error) {
    await stopPool();
    throw error;
  }
  const { spec, classColumns: columns, featureCount, featureMean: mean, featureStd: std } = model;
  const arch = spec.architecture;
  const pre = spec.preprocess;
  // FITS spectra are resampled onto the model's grid; tabular files carry their own grid, which must match.
  // Each batch is preprocessed into a batch slot before the next is read, so the readers may read
  // into the same memory again (reuseBuffers): no fresh ~10 MB buffer per Arrow record batch; and
  // Arrow batches may end where record batches end (splitAtRecordBatches): rows are never copied
  // to gather a batch that spans two of them, preprocessing reads them where they were read.
  const open = () =>
    openSpectra(dataset, {
      batchSize: readBatchSize(settings.batchSize, paths),
      resampleGrid: spec.grid,
      threads: options.readThreads,
      shard: options.shard,
      reuseBuffers: true,
      splitAtRecordBatches: true,
      // Predictions carry no column of the input but its ids (and, for evaluate, its labels).
      spectraOnly: true,
    });
  let source: SpectraSource | undefined;
  if (!starting) {
    // A complete output of this shard is kept, and nothing is started: resubmitting a whole array
    // after failures costs the finished shards one read of their output.
    source = await open();
    if (source.slice) {
      const done = await checkShardOutput(options.output, expectationOf(source.slice, options.limit));
      if (done.complete) {
        await source.close();
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const firstRow = source.slice.split === 'rows' ? source.slice.begin! : 0;
        return { output: options.output, firstRow, rows: done.rows, slice: source.slice, skipped: true, read: readStatsSince(readStart), statusCounts: done.statusCounts, seconds, spectraPerSecond: 0, settings, spec, duplicateIds: new DuplicateIdTracker().report, stages: { reading: 0, preprocessing: 0, waitingForInference: 0, writing: 0 } };
      }
      options.onResume?.(done.reason);
    }
    starting = startPool();
  }
  const sessions = starting;
  try {
    source ??= await open();
  } catch (error) {
    await stopPool();
    throw error;
  }
  if (labelTable) {
    try {
      source = await withLabels(source, labelTable, input);
    } catch (error) {
      await source.close();
      await stopPool();
      throw error;
    }
  }
  let writer: PredictionWriter | undefined;
  const inFlight: InFlight[] = [];
  try {
    if (!sameGrid(source.grid, spec.grid)) {
      throw new AstrospecError('MODEL', `the model expects spectra of ${describeGrid(spec.grid)}, but the input has ${describeGrid(source.grid)}`, { file: source.path });
    }
    // The source reads only the shard's rows; rows of a "bytes" split are numbered from 0 within it.
    const slice = source.slice;
    const begin = slice?.split === 'rows' ? slice.begin! : 0;
    let end = Number.POSITIVE_INFINITY;
    if (options.limit !== undefined) end = begin + options.limit;
    const last = source.rowCount !== undefined ? Math.min(end, begin + source.rowCount) : end;
    const total = Number.isFinite(last) ? Math.max(0, last - begin) : undefined;
    options.onStart?.({ rows: total ?? -1, firstRow: begin, spec, settings, slice });

    const shardLines = slice?.split === 'bytes' ? { head: shardHeadLine(slice), end: (rows: number) => shardEndLine(slice.shard, rows) } : undefined;
    // A model with an OOD score (astrospec calibrate, or astrospec ood) adds the ood_score column and the `ood` status.
    const oodThreshold = spec.ood?.threshold;
    // A model with a redshift head adds z and z_err (for rows predicted galaxy or QSO).
    const redshiftHead = arch.redshift;
    writer = await createPredictionWriter(options.output, { shardLines, oodScore: oodThreshold !== undefined, redshift: redshiftHead !== undefined });
    const labels: number[] = [];
    const truthIds: string[] = [];
    const keepLabels = (options.keepLabels === true || labelTable !== undefined) && source.hasLabels;

    const B = settings.batchSize;
    const L = arch.inputLength;
    // Awaited before the first batch is preprocessed: the first read overlaps the sessions' start.
    let pool: SessionPool | undefined;

    const stages = { reading: 0, preprocessing: 0, waitingForInference: 0, writing: 0 };
    const outputs: OutputChecks = { columns, oodThreshold, redshiftHead, model: options.model };
    // Loop-free on purpose: the per-row work is in checkedRows and the writer's own functions, each
    // optimised on its own. An async function with loops is optimised whole, with everything it
    // calls inlined (~0.1 s of a compiler thread, twice when a call not yet made deoptimised it).
    const writeOldest = async () => {
      const job = inFlight.shift()!;
      let t = now();
      const slot = await job.result;
      stages.waitingForInference += now() - t;
      t = now();
      const rows = checkedRows(job, slot.outputs, outputs);
      if (options.onBatch) options.onBatch({ firstRow: job.firstRow, rows: job.rows, status: job.status, extras: extraOutputs(slot) });
      await writer!.write(rows);
      pool!.release(slot);
      stages.writing += now() - t;
      options.onProgress?.(writer!.rowsWritten);
    };

    const interrupted = () => new AstrospecError('INTERRUPTED', 'interrupted; no predictions written', { file: options.output });
    const aborted = () => {
      if (options.signal?.aborted) throw interrupted();
    };
    const duplicateIds = new DuplicateIdTracker();

    let filling: Filling | undefined;
    const dispatch = async () => {
      const { slot, firstRow, ids, status, filled } = filling!;
      filling = undefined;
      // Rows past the input's end are zeros (a fixed shape for onnxruntime); their outputs are dropped.
      slot.flux.fill(0, filled * L);
      slot.features.fill(0, filled * featureCount);
      inFlight.push({ firstRow, ids, status, rows: filled, result: pool!.run(slot) });
      if (inFlight.length >= queueDepth) await writeOldest();
    };
    let picks: number[] | undefined;
    // Appends a chunk's rows to the batch being filled. A function of its own, not inline in the
    // read loop: its per-row loops would otherwise make V8 compile all of classifyFile on stack
    // replacement (~0.15 s of a compiler thread), for the sake of these few lines.
    const addRows = (into: Filling, chunk: SpectrumBatch) => {
      const { slot, filled } = into;
      const take = chunk.ids.length;
      // Preprocessed flux goes straight into the batch slot the worker reads. In this thread:
      // ~2 µs per spectrum at bin 4, less than the hop to a pool thread and back (0.53 → 0.2 s
      // of main-thread time per 20 000 spectra in bench:infer).
      const prepared = preprocessSync(networkInput(chunk), {
        normalisation: pre.normalisation,
        bin: pre.bin,
        smoothWindow: pre.smoothWindow,
        features: featureCount > 0,
        threads: options.preprocessThreads ?? 1,
        out: slot.flux.subarray(filled * L, (filled + take) * L),
      });
      const status = into.status;
      for (let i = 0; i < take; i++) status.push(prepared.flags[i]! & 1 ? STATUS.noValidPixels : STATUS_OK);
      if (featureCount > 0) {
        const features = slot.features;
        const names = prepared.featureNames;
        const F = names.length;
        picks ??= pre.features.map((name) => {
          const at = names.indexOf(name);
          if (at < 0) throw new AstrospecError('MODEL', `the model wants feature '${name}', which preprocessing doesn't compute (it gives ${names.join(', ')})`, { file: options.model });
          return at;
        });
        for (let i = 0; i < take; i++) {
          const row = filled + i;
          for (let f = 0; f < featureCount; f++) {
            const z = standardisedFeature(prepared.features![i * F + picks[f]!]!, mean[f]!, std[f]!);
            const finite = Number.isFinite(z);
            features[row * featureCount + f] = finite ? z : 0;
            status[row] = finite || status[row] !== STATUS_OK ? status[row]! : STATUS_NON_FINITE_FEATURES;
          }
        }
      }
      for (let i = 0; i < take; i++) into.ids.push(chunk.ids[i]!);
      into.filled += take;
    };

    let readingSince = now();
    for await (const batch of untilAborted(source.batches(), options.signal, interrupted)) {
      stages.reading += now() - readingSince;
      aborted();
      const n = batch.ids.length;
      const batchStart = batch.firstRow;
      if (batchStart >= end) break;
      // Rows of this batch inside [begin, end).
      const from = Math.max(begin, batchStart) - batchStart;
      const to = Math.min(end, batchStart + n) - batchStart;
      const part = from === 0 && to === n && batch.flux.length === n * batch.grid.length ? batch : sliceRows(batch, from, to);
      const rows = to - from;
      duplicateIds.add(part.ids, part.firstRow);
      if (keepLabels) {
        for (let i = 0; i < rows; i++) labels.push(part.labels ? part.labels[i]! : -1);
        truthIds.push(...part.ids);
      }

      // Inference runs on fixed-size batches of B rows (one input shape for onnxruntime), filled
      // from the read batches: the file is read in larger batches (CSV, FITS), which costs far
      // less per row, or in pieces that end where the file's record batches end (Arrow), which
      // are views of the file's buffer and are never copied.
      for (let c = 0; c < rows; ) {
        if (!filling) {
          pool ??= sessionsFitSpec(await sessions, arch, options.model);
          filling = { slot: pool.slot(), firstRow: part.firstRow + c, ids: [], status: [], filled: 0 };
        }
        const take = Math.min(rows - c, B - filling.filled);
        const preprocessStart = now();
        addRows(filling, c === 0 && take === rows ? part : sliceRows(part, c, c + take));
        c += take;
        stages.preprocessing += now() - preprocessStart;
        if (filling.filled === B) await dispatch();
      }
      readingSince = now();
    }
    if (filling) await dispatch();
    // Every batch is sent: each worker releases its session and exits once its queue is run
    // (its results all arrive before it exits), while the last results are written.
    const closing = (await sessions).close();
    closing.catch(() => undefined); // awaited below; a write error stops the pool itself
    while (inFlight.length > 0) {
      aborted();
      await writeOldest();
    }
    aborted();
    await Promise.all([writer.close(), closing]);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const rowsWritten = writer.rowsWritten;
    return {
      output: options.output,
      firstRow: begin,
      rows: rowsWritten,
      slice,
      read: readStatsSince(readStart),
      statusCounts: Object.fromEntries(writer.statusCounts),
      seconds,
      spectraPerSecond: rowsWritten / seconds,
      stages,
      settings,
      spec,
      truth: keepLabels ? { labels: Int8Array.from(labels), ids: truthIds } : undefined,
      duplicateIds: duplicateIds.report,
    };
  } catch (error) {
    // Jobs still queued reject once their worker is gone; nobody waits for them any more.
    for (const job of inFlight) job.result.catch(() => undefined);
    await stopPool();
    await writer?.abort();
    throw error;
  } finally {
    await source.close();
  }
}

/**
 * The items of `source` until `signal` aborts, then `interrupted()` is thrown at once: a read that
 * is still waiting (a slow disk, a pipe) doesn't hold up the stop. The abandoned iterator is
 * closed when its pending read settles.
 */
async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal | undefined, interrupted: () => Error): AsyncGenerator<T> {
  if (!signal) {
    yield* source;
    return;
  }
  const iterator = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      // A stop promise per read, dropped after it: racing every read against one promise that
      // never settles leaves a reaction on it per read, each holding that read's result, so every
      // batch of the input stayed reachable (a CLI classify grew to the size of its input).
      let onAbort = () => {};
      const stop = new Promise<never>((_, reject) => {
        onAbort = () => reject(interrupted());
      });
      stop.catch(() => undefined);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      let next: IteratorResult<T>;
      try {
        next = await Promise.race([iterator.next(), stop]);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!finished) {
      const closing = Promise.resolve(iterator.return?.()).catch(() => undefined);
      if (!signal.aborted) await closing;
    }
  }
}

/**
 * Rows per read. Arrow files are read one inference batch at a time, as views of the file's
 * record batches (split where one ends): the NaN check of a read batch leaves its 1.3 MB in the
 * core's cache for preprocessing, which larger reads would not. CSV and FITS are parsed about
 * 1 024 rows per call (a multiple of the inference batch), which costs far less per row than
 * small calls.
 */
function readBatchSize(batchSize: number, paths: string[]): number {
  if (paths.every((p) => formatOfPath(p) === 'arrow')) return batchSize;
  return batchSize * Math.max(1, Math.round(1024 / batchSize));
}
