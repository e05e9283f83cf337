/**
 * A fixed set of worker threads, each holding one onnxruntime session of the same model, fed
 * fixed-shape batches (onnxruntime grows its memory arenas for every new input shape, issue
 * 11118, so the last batch is padded rather than run short). Each job goes to the worker with
 * the fewest jobs in flight; each worker answers in the order asked.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import { AstrospecError } from '../errors.js';
import { slotBytes, slotViews, type SlotShape, type SlotViews } from './batch-slot.js';

export type GraphOptimization = 'disabled' | 'basic' | 'extended' | 'all';
export const GRAPH_OPTIMIZATIONS: readonly GraphOptimization[] = ['disabled', 'basic', 'extended', 'all'];

export interface SessionSettings {
  /** Rows per session.run (every run has exactly this many; short batches are padded). */
  batchSize: number;
  /** Worker threads, each with its own session. */
  workers: number;
  /** onnxruntime intra-op threads per session. */
  intraOpThreads: number;
  graphOptimization: GraphOptimization;
}

/**
 * Defaults for this machine: two sessions (when there are two cores or more) sharing the cores.
 * Small convolutions parallelise better across batches than inside one; on 2 cores 2 workers ×
 * 1 thread classified 3–15% faster than 1 × 2 (bench/README.md), for ~80 MB more memory.
 * Batches of 128: half the hand-offs of 64; classify took ~3 % less CPU per spectrum
 * (interleaved runs, bench/README.md), and beyond 128 nothing more was measurable.
 */
export function defaultSessionSettings(overrides: Partial<SessionSettings> = {}): SessionSettings {
  const workers = overrides.workers ?? (availableParallelism() >= 2 ? 2 : 1);
  return {
    batchSize: overrides.batchSize ?? 128,
    workers,
    intraOpThreads: overrides.intraOpThreads ?? Math.max(1, Math.floor(availableParallelism() / workers)),
    graphOptimization: overrides.graphOptimization ?? 'all',
  };
}

export interface SessionWorkerData {
  /** The ONNX bytes, or the path of the file, which onnxruntime then reads in the worker. */
  model: Uint8Array | string;
  sessionOptions: InferenceSession.SessionOptions;
  batchSize: number;
  /** Without these, the worker reads them from the model's inputs. */
  inputLength?: number;
  featureCount?: number;
}

export type SessionRequest =
  /** A new batch slot (src/infer/batch-slot.ts), shared once, named by `index` in later runs. */
  | { type: 'slot'; index: number; buffer: SharedArrayBuffer }
  | { type: 'run'; seq: number; slot: number }
  /** Release the session and exit after the run under way; `drop` skips runs still queued. */
  | { type: 'close'; drop?: boolean };

export type SessionReply =
  | { type: 'ready'; inputNames: string[]; inputLength: number; featureCount: number; outputs: SlotShape['outputs'] }
  | { type: 'failed'; message: string }
  /** The slot's outputs are written. */
  | { type: 'result'; seq: number }
  | { type: 'error'; seq: number; message: string };

/**
 * One batch's inputs and outputs, in memory shared with the workers. Take one with
 * `pool.slot()`, fill `flux` (and `features`), `run` it; when the run resolves, `outputs` holds
 * every output of the model; `release` it when read, and it is used again.
 */
export class BatchSlot implements SlotViews {
  readonly flux: Float32Array;
  readonly features: Float32Array;
  readonly outputs: Record<string, Float32Array>;
  /** Free (to be taken by slot()), taken (being filled or read by its holder), or running (a worker has it). */
  state: 'free' | 'taken' | 'running' = 'taken';

  constructor(
    readonly index: number,
    readonly buffer: SharedArrayBuffer,
    shape: SlotShape,
  ) {
    ({ flux: this.flux, features: this.features, outputs: this.outputs } = slotViews(buffer, shape));
  }
}

interface Job {
  resolve: () => void;
  reject: (error: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  jobs: Map<number, Job>;
  /** Resolves when the thread has exited (listened for from the start: a stop after a close finds it done). */
  exited: Promise<void>;
}

/**
 * Starts the session worker. In the published package it is compiled .js beside this file. When
 * the sources run under tsx (tests, benchmarks), a worker thread doesn't inherit tsx's loader;
 * registering it in every worker cost ~0.4 s of CPU per worker (a loader thread and every module
 * compiled through it: more than classifying 2 000 spectra), so the worker, which imports only
 * onnxruntime-node and batch-slot.ts, is bundled once per process with esbuild (a dev dependency, as tsx is) and
 * started as a plain script, as the compiled file would be.
 */
function startWorker(workerData: SessionWorkerData): Worker {
  // No inherited execArgv: the worker needs none of the parent's flags, and a loader the parent
  // registered (tsx, when a TypeScript program imports the compiled package) would start in
  // every worker; the bundle is plain CommonJS, which a parent started with
  // `--input-type=module -e` would otherwise make an ES module (no require).
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./session-worker.js', import.meta.url), { workerData, execArgv: [] });
  return new Worker(bundledWorker(), { eval: true, workerData, execArgv: [] });
}

let workerScript: string | undefined;

function bundledWorker(): string {
  if (workerScript !== undefined) return workerScript;
  const require = createRequire(import.meta.url);
  const esbuild = require('esbuild') as typeof import('esbuild');
  const onnxruntime = require.resolve('onnxruntime-node');
  const built = esbuild.buildSync({
    entryPoints: [fileURLToPath(new URL('./session-worker.ts', import.meta.url))],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['onnxruntime-node'],
    logLevel: 'silent',
  });
  // An eval'd worker resolves require() from the cwd: onnxruntime-node by its installed path.
  const required = 'require("onnxruntime-node")';
  const text = built.outputFiles[0]!.text;
  if (!text.includes(required)) throw new Error(`bundling the session worker: no ${required} in esbuild's output`);
  workerScript = text.replaceAll(required, `require(${JSON.stringify(onnxruntime)})`);
  return workerScript;
}

export class SessionPool {
  private seq = 0;
  private closed = false;
  private readonly slots: BatchSlot[] = [];
  private readonly freeSlots: BatchSlot[] = [];

  private constructor(
    private readonly workers: PoolWorker[],
    readonly settings: SessionSettings,
    /** What the slots hold: batch size, input length, side features and the model's outputs. */
    readonly shape: SlotShape,
    readonly inputNames: string[],
  ) {}

  /** The model's outputs, in session order. */
  get outputNames(): string[] {
    return this.shape.outputs.map((o) => o.name);
  }

  /**
   * Starts settings.workers sessions of `model`: its bytes, or its path (onnxruntime then reads
   * the file in each worker: the pool can start before the caller has read the model, and no
   * copy of it is cloned to each worker). `shape`: the network's input length and side
   * features; undefined reads them from the model's inputs (see `shape` of the pool).
   */
  static async start(model: Uint8Array | string, shape: { inputLength: number; featureCount: number } | undefined, settings: SessionSettings, file?: string): Promise<SessionPool> {
    const sessionOptions: InferenceSession.SessionOptions = {
      intraOpNumThreads: settings.intraOpThreads,
      interOpNumThreads: 1,
      graphOptimizationLevel: settings.graphOptimization,
      executionMode: 'sequential',
    };
    const data: SessionWorkerData = { model, sessionOptions, batchSize: settings.batchSize, ...shape };
    type Ready = Extract<SessionReply, { type: 'ready' }>;
    const started: PoolWorker[] = [];
    const startups = Array.from({ length: settings.workers }, () => {
      const worker = startWorker(data);
      started.push({ worker, jobs: new Map(), exited: new Promise((resolve) => worker.once('exit', () => resolve())) });
      return new Promise<Ready>((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        const onExit = (code: number) => reject(new AstrospecError('MODEL', `inference worker exited (code ${code}) while loading the model`, { file }));
        worker.once('error', onError);
        worker.once('exit', onExit);
        worker.once('message', (reply: SessionReply) => {
          worker.off('error', onError);
          worker.off('exit', onExit);
          if (reply.type === 'ready') resolve(reply);
          else reject(new AstrospecError('MODEL', `onnxruntime can't use the model: ${reply.type === 'failed' ? reply.message : reply.type}`, { file }));
        });
      });
    });
    // Every worker answers (ready or failed) before any is stopped: one that fails fast must not
    // get the others terminated inside onnxruntime's create() or run(), which aborts the process.
    const results = await Promise.allSettled(startups);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((w) => w.worker.terminate()));
      throw failed.reason;
    }
    for (const entry of started) SessionPool.listen(entry);
    const ready = (results[0] as PromiseFulfilledResult<Ready>).value;
    return new SessionPool(started, settings, { batchSize: settings.batchSize, inputLength: ready.inputLength, featureCount: ready.featureCount, outputs: ready.outputs }, ready.inputNames);
  }

  private static listen(entry: PoolWorker): void {
    const failAll = (error: Error) => {
      for (const job of entry.jobs.values()) job.reject(error);
      entry.jobs.clear();
    };
    entry.worker.on('message', (reply: SessionReply) => {
      if (reply.type !== 'result' && reply.type !== 'error') return;
      const job = entry.jobs.get(reply.seq);
      if (!job) return;
      entry.jobs.delete(reply.seq);
      if (reply.type === 'result') job.resolve();
      else job.reject(new AstrospecError('MODEL', `onnxruntime failed: ${reply.message}`));
    });
    entry.worker.on('error', (error) => failAll(new AstrospecError('MODEL', `inference worker failed: ${error.message}`, {}, { cause: error })));
    entry.worker.on('exit', (code) => failAll(new AstrospecError('MODEL', `inference worker exited (code ${code})`)));
  }

  /** Jobs sent and not yet answered, over all workers. */
  get inFlight(): number {
    return this.workers.reduce((n, w) => n + w.jobs.size, 0);
  }

  /** A slot to fill: a released one, or a new one (shared with every worker once). Its contents are whatever was last in it. */
  slot(): BatchSlot {
    const reused = this.freeSlots.pop();
    if (reused) {
      reused.state = 'taken';
      return reused;
    }
    const slot = new BatchSlot(this.slots.length, new SharedArrayBuffer(slotBytes(this.shape)), this.shape);
    this.slots.push(slot);
    for (const w of this.workers) w.worker.postMessage({ type: 'slot', index: slot.index, buffer: slot.buffer } satisfies SessionRequest);
    return slot;
  }

  /** Gives a slot back once its outputs are read. */
  release(slot: BatchSlot): void {
    if (this.slots[slot.index] !== slot) throw new Error('release: the slot is not this pool\'s');
    if (slot.state === 'running') throw new Error('release: the slot is still running');
    if (slot.state === 'free') throw new Error('release: the slot is already free');
    slot.state = 'free';
    this.freeSlots.push(slot);
  }

  /**
   * Runs the batch in `slot` (exactly settings.batchSize rows; pad a short one). Resolves when
   * its outputs are in `slot.outputs`. Neither thread may touch the slot until then.
   */
  run(slot: BatchSlot): Promise<BatchSlot> {
    if (this.closed) return Promise.reject(new AstrospecError('MODEL', 'the inference session is closed'));
    if (this.slots[slot.index] !== slot) return Promise.reject(new Error('run: the slot is not this pool\'s'));
    if (slot.state === 'running') return Promise.reject(new Error('run: the slot is already running'));
    if (slot.state === 'free') return Promise.reject(new Error('run: the slot was released; take one with slot()'));
    const target = this.workers.reduce((best, w) => (w.jobs.size < best.jobs.size ? w : best));
    const seq = this.seq++;
    slot.state = 'running';
    return new Promise<BatchSlot>((resolve, reject) => {
      const settle = () => (slot.state = 'taken');
      target.jobs.set(seq, { resolve: () => (settle(), resolve(slot)), reject: (error) => (settle(), reject(error)) });
      target.worker.postMessage({ type: 'run', seq, slot: slot.index } satisfies SessionRequest);
    });
  }

  /** Lets queued jobs finish, then releases the sessions. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stopWorkers(false);
  }

  /**
   * Stops soon, dropping queued jobs (Ctrl-C, errors). The run under way is allowed to finish:
   * killing a thread inside onnxruntime-node's run() aborts the whole process (its binding
   * throws a C++ exception into a dying environment).
   */
  async terminate(): Promise<void> {
    this.closed = true;
    await this.stopWorkers(true);
  }

  private async stopWorkers(drop: boolean): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        w.worker.postMessage({ type: 'close', drop } satisfies SessionRequest);
        // A worker that doesn't exit within a minute is stuck; stop it the hard way.
        const timer = setTimeout(() => void w.worker.terminate(), 60_000);
        await w.exited;
        clearTimeout(timer);
      }),
    );
  }
}
