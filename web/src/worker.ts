/**
 * The page's classification worker: everything that costs time runs here, never on the page's
 * thread. It streams the dropped files in batches (web/src/sources.ts), preprocesses each batch
 * with the pure-TS reference (web/src/pipeline.ts) and runs the exported ONNX model with
 * onnxruntime-web's WASM backend on fixed-size batches, posting results as they come. Memory stays
 * at a few batches whatever the file size; the raw spectra of the first rows are kept for the plot,
 * and a later row is re-read from the file when asked for.
 */
import * as ort from 'onnxruntime-web/wasm';
import { AstrospecError } from '../../src/errors.js';
import type { SpectrumBatch } from '../../src/io/batch.js';
import { onnxModelSpec, ONNX_NAMES } from '../../src/export/onnx.js';
import { checkGrid, collectProbabilities, flagOutOfDistribution, OOD_OUTPUT, planModel, prepareModelInput, redshiftColumns, type ModelPlan } from './pipeline.js';
import type { NamedFile, WorkerReply, WorkerRequest } from './protocol.js';
import { checkInputs, readInputBatches, type WebFormat } from './sources.js';

interface WorkerScope {
  postMessage(message: WorkerReply, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
  location: { href: string };
  crossOriginIsolated?: boolean;
  navigator: { hardwareConcurrency?: number };
}
const scope = self as unknown as WorkerScope;

/** Rows per inference call: one fixed input shape for the session (onnxruntime re-plans on new shapes). */
const INFERENCE_BATCH = 64;
/** Rows read per batch from the file. */
const READ_BATCH = 256;
/** Raw spectra kept for the plot (10 kB each at 2600 pixels); later rows are re-read on request. */
const PLOT_CACHE_ROWS = 2048;

function post(message: WorkerReply, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

let modelState: { url: string; session: ort.InferenceSession; plan: ModelPlan } | undefined;

async function loadModel(url: string): Promise<{ session: ort.InferenceSession; plan: ModelPlan }> {
  if (modelState?.url === url) return modelState;
  const started = performance.now();
  // The .wasm and its loader are copied beside this script by scripts/build-web.ts.
  ort.env.wasm.wasmPaths = new URL('./', scope.location.href).href;
  // Threads need SharedArrayBuffer, i.e. a cross-origin-isolated page (COOP/COEP headers).
  const threads = scope.crossOriginIsolated ? Math.max(1, Math.min(4, scope.navigator.hardwareConcurrency ?? 1)) : 1;
  ort.env.wasm.numThreads = threads;
  const response = await fetch(url);
  if (!response.ok) throw new AstrospecError('MODEL', `can't load the model: HTTP ${response.status}`, { file: url });
  const bytes = new Uint8Array(await response.arrayBuffer());
  const spec = onnxModelSpec(bytes, url);
  const plan = planModel(spec, url);
  // Every run has INFERENCE_BATCH rows: fixing the batch dimension ('N' in astrospec's export) lets
  // onnxruntime plan static shapes (about 1.2× faster on the WASM backend, measured on this model).
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', freeDimensionOverrides: { N: INFERENCE_BATCH } });
  modelState = { url, session, plan };
  post({ type: 'model', seconds: (performance.now() - started) / 1000, outputs: [...session.outputNames], threads });
  return modelState;
}

/** The last classified input, for re-reading rows the plot cache doesn't hold. */
let lastInput: { files: NamedFile[]; format: WebFormat; plan: ModelPlan } | undefined;
const plotCache = new Map<number, { id: string; flux: Float32Array; badPixels?: Uint8Array }>();

function cacheForPlot(batch: SpectrumBatch): void {
  const L = batch.grid.length;
  for (let r = 0; r < batch.ids.length && batch.firstRow + r < PLOT_CACHE_ROWS; r++) {
    plotCache.set(batch.firstRow + r, {
      id: batch.ids[r]!,
      flux: batch.flux.slice(r * L, (r + 1) * L),
      badPixels: batch.badPixels?.slice(r * L, (r + 1) * L),
    });
  }
}

/** Values of a model output as float32 columns (name, or name[k] for a vector per row). */
function extraColumns(output: ort.Tensor, name: string, rows: number, into: Record<string, Float32Array>): void {
  const per = output.dims.length <= 1 ? 1 : output.dims.slice(1).reduce((a, b) => a * Number(b), 1);
  const data = output.data as ArrayLike<number | bigint | boolean | string>;
  for (let k = 0; k < per; k++) {
    const column = new Float32Array(rows);
    for (let i = 0; i < rows; i++) column[i] = Number(data[i * per + k]);
    into[per === 1 ? name : `${name}[${k}]`] = column;
  }
}

async function classify(files: NamedFile[], modelUrl: string): Promise<void> {
  plotCache.clear();
  lastInput = undefined;
  const format = checkInputs(files);
  const { session, plan } = await loadModel(modelUrl);
  // Timed from here: reading, preprocessing and inference (loading the model is reported on its own).
  const started = performance.now();
  lastInput = { files, format, plan };
  const bytes = files.reduce((n, f) => n + f.blob.size, 0);
  post({ type: 'start', format, bytes });
  const L = plan.inputLength;
  const F = plan.featureCount;
  const flux = new Float32Array(INFERENCE_BATCH * L);
  const features = F > 0 ? new Float32Array(INFERENCE_BATCH * F) : undefined;
  let bytesRead = 0;
  let rows = 0;
  let lastProgress = 0;
  const batches = readInputBatches(files, format, {
    grid: format === 'fits' ? plan.spec.grid : undefined,
    batchSize: format === 'fits' ? INFERENCE_BATCH : READ_BATCH,
    onBytes: (n) => {
      bytesRead += n;
    },
  });
  for await (const batch of batches) {
    checkGrid(plan, batch.grid, files.map((f) => f.name).join(', '));
    cacheForPlot(batch);
    for (let from = 0; from < batch.ids.length; from += INFERENCE_BATCH) {
      const to = Math.min(batch.ids.length, from + INFERENCE_BATCH);
      const G = batch.grid.length;
      const chunk: SpectrumBatch = {
        ids: batch.ids.slice(from, to),
        flux: batch.flux.subarray(from * G, to * G),
        grid: batch.grid,
        firstRow: batch.firstRow + from,
        badPixels: batch.badPixels?.subarray(from * G, to * G),
      };
      const n = to - from;
      const input = prepareModelInput(plan, chunk, flux, features);
      const feeds: Record<string, ort.Tensor> = { [ONNX_NAMES.flux]: new ort.Tensor('float32', flux, [INFERENCE_BATCH, 1, L]) };
      if (features) feeds[ONNX_NAMES.features] = new ort.Tensor('float32', features, [INFERENCE_BATCH, F]);
      const output = await session.run(feeds);
      const probabilities = output[ONNX_NAMES.probabilities];
      if (!probabilities) throw new AstrospecError('MODEL', `the model has no '${ONNX_NAMES.probabilities}' output (outputs: ${session.outputNames.join(', ')})`, { file: modelUrl });
      const p = collectProbabilities(plan, probabilities.data as Float32Array, input.status);
      const extras: Record<string, Float32Array> = {};
      for (const name of session.outputNames) {
        if (name === ONNX_NAMES.probabilities || (name === ONNX_NAMES.zProbabilities && plan.spec.architecture.redshift)) continue;
        extraColumns(output[name]!, name, n, extras);
      }
      flagOutOfDistribution(plan, extras[OOD_OUTPUT], input.status);
      // The redshift bins become z and z_err, as astrospec classify writes them.
      if (plan.spec.architecture.redshift) {
        const bins = output[ONNX_NAMES.zProbabilities];
        if (!bins) throw new AstrospecError('MODEL', `the model's spec has a redshift head but the graph has no '${ONNX_NAMES.zProbabilities}' output`, { file: modelUrl });
        Object.assign(extras, redshiftColumns(plan, bins.data as Float32Array, p, input.status));
      }
      for (const tensor of Object.values(output)) tensor.dispose();
      const labels = batch.labels?.slice(from, to);
      const transfer: Transferable[] = [p.buffer, ...Object.values(extras).map((c) => c.buffer)];
      if (labels) transfer.push(labels.buffer);
      post({ type: 'rows', firstRow: chunk.firstRow, ids: chunk.ids, probabilities: p, status: input.status, labels, extras }, transfer);
      rows += n;
    }
    const now = performance.now();
    if (now - lastProgress > 200) {
      post({ type: 'progress', rows, bytesRead: Math.min(bytesRead, bytes), bytes });
      lastProgress = now;
    }
  }
  post({ type: 'progress', rows, bytesRead: bytes, bytes });
  post({ type: 'done', rows, seconds: (performance.now() - started) / 1000 });
}

async function sendSpectrum(row: number): Promise<void> {
  let cached = plotCache.get(row);
  if (!cached && lastInput) {
    const { files, format, plan } = lastInput;
    // FITS: one file per row, read just that one. Tables: read through to the row.
    const source = format === 'fits' ? readInputBatches([files[row]!], 'fits', { grid: plan.spec.grid, batchSize: 1 }) : readInputBatches(files, format, { batchSize: READ_BATCH });
    const offset = format === 'fits' ? row : 0;
    for await (const batch of source) {
      const r = row - offset - batch.firstRow;
      if (r >= batch.ids.length) continue;
      const L = batch.grid.length;
      cached = { id: batch.ids[r]!, flux: batch.flux.slice(r * L, (r + 1) * L), badPixels: batch.badPixels?.slice(r * L, (r + 1) * L) };
      break;
    }
  }
  if (!cached || !lastInput) throw new AstrospecError('BAD_ARGUMENT', `no spectrum at row ${row}`);
  // Every classified row is on the model's grid (FITS resampled onto it, tables checked against it).
  post({ type: 'spectrum', row, id: cached.id, grid: lastInput.plan.spec.grid, flux: cached.flux.slice(), badPixels: cached.badPixels?.slice() });
}

function reportError(error: unknown, during: 'classify' | 'spectrum'): void {
  if (error instanceof AstrospecError) post({ type: 'error', message: error.message, code: error.code, during });
  else post({ type: 'error', message: `internal error: ${(error as Error)?.message ?? String(error)}`, during });
}

// Requests are handled one after another (a new input gets a new worker: see main.ts).
let queue = Promise.resolve();
scope.onmessage = (event) => {
  const request = event.data;
  queue = queue.then(async () => {
    try {
      if (request.type === 'classify') await classify(request.files, request.modelUrl);
      else await sendSpectrum(request.row);
    } catch (error) {
      reportError(error, request.type);
    }
  });
};
