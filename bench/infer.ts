/**
 * Inference throughput: onnxruntime alone, the whole classify pipeline, and tfjs predict.
 *
 *   npm run -s bench:infer -- [--model m.onnx] [--n 20000] [--batch-size 128] [--threads T]
 *                             [--workers 1] [--width 16] [--rounds 3] [--tfjs-n 512] [--no-tfjs] [--json]
 *
 * - classify_vs_raw: classify's spectra/s over raw onnxruntime's, like with like (see
 *   classify_vs_raw_basis in the JSON): the same model, the same SessionPool settings (workers ×
 *   intra-op threads), the same spectra, both timed from before their sessions start to the last
 *   result (raw: the file's spectra preprocessed beforehand and held in memory; classify: the
 *   whole classifyFile call, reading the file and writing predictions), each side in a fresh
 *   child process per round with its modules loaded (bench/raw-child.mjs, bench/classify-child.mjs).
 *   classify_steady_vs_raw:
 *   the same without start-up (classify from its first written batch, raw after a warm-up run).
 *   Raw and classify run in --rounds alternating rounds; the median round's numbers are reported.
 * - ort_raw_spectra_per_s: session.run alone on preallocated fixed-size batches, with the
 *   sessions classify uses (workers × threads, in worker threads), after start-up: the ceiling.
 *   ort_raw_single_session_spectra_per_s: one session with workers × threads intra-op threads
 *   on the main thread; ort_raw_conv1d_graph_spectra_per_s: the same for the 1-D form.
 * - classify_spectra_per_s: classifyFile from an Arrow file on disk to a predictions CSV
 *   (read, native preprocessing, inference in a worker, writing), measured in a child process
 *   so that peak_rss_mb is the pipeline's own. Both sides run the compiled package (dist/, which
 *   the npm script builds first), as `astrospec` does: bench/dist.ts says why not the sources.
 * - ort_raw_cpu_us_per_spectrum, classify_cpu_us_per_spectrum: CPU time (all threads) per
 *   spectrum of each measurement; their ratio is what classify_over_ort_raw tends to when
 *   inference fills every core, and it moves less with other load than the rates do.
 * - tfjs_predict_spectra_per_s: model.predict of the same architecture on the best tfjs
 *   backend that loads here (resolveBackend: tfjs-node if installed, else WASM, else CPU).
 * Without --model: models/default.onnx; with --width instead, a randomly initialised model of
 * that width and 2600 pixels is exported first (speed doesn't depend on the weights). The last stdout line is one JSON object.
 * - int8_* / fp32_*: the trained model (--model, else models/default.onnx) against its int8 form
 *   (export --quantize int8): throughputs and macro F1s, see bench/infer-int8.ts. Options:
 *   [--no-int8] [--int8-calibration f.arrow] [--int8-calibration-n 4096] [--int8-test f.arrow]
 *   [--int8-test-n 20000] [--int8-profile] [--int8-variants] [--boss ../shared/data/boss]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { buildResNet1d, type Tf } from '../src/model/resnet1d.js';
import type { ModelSpec } from '../src/model/spec.js';
import { buildOnnxModel, onnxModelSpec } from '../src/export/onnx.js';
import { createSpectraSink } from '../src/io/sink.js';
import { listDataset, openSpectra } from '../src/io/open.js';
import { networkInput } from '../src/io/batch.js';
import { preprocessSync } from '../src/preprocess/index.js';
import { defaultSessionSettings, type GraphOptimization } from '../src/infer/session-pool.js';
import { checkDistIsCurrent } from './dist.js';
import { Random } from '../src/synth/random.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    n: { type: 'string', default: '20000' },
    'batch-size': { type: 'string', default: '128' },
    threads: { type: 'string' },
    workers: { type: 'string' },
    width: { type: 'string' },
    'graph-optimization': { type: 'string', default: 'all' },
    rounds: { type: 'string', default: '3' },
    'tfjs-n': { type: 'string', default: '512' },
    'no-tfjs': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    // Internal: run only the stock tfjs WASM measurement (in a child process) and print its JSON.
    'child-tfjs-wasm': { type: 'boolean', default: false },
    data: { type: 'string' },
    'no-int8': { type: 'boolean', default: false },
    'int8-calibration': { type: 'string' },
    'int8-calibration-n': { type: 'string', default: '4096' },
    'int8-test': { type: 'string' },
    'int8-test-n': { type: 'string', default: '20000' },
    'int8-profile': { type: 'boolean', default: false },
    'int8-variants': { type: 'boolean', default: false },
    boss: { type: 'string', default: '../shared/data/boss' },
  },
});

const n = Number(args.n);
const batchSize = Number(args['batch-size']);
const defaults = defaultSessionSettings({
  workers: args.workers !== undefined ? Number(args.workers) : undefined,
  intraOpThreads: args.threads !== undefined ? Number(args.threads) : undefined,
});
const threads = defaults.intraOpThreads;
const workers = defaults.workers;
const graphOptimization = args['graph-optimization'] as GraphOptimization;
const log = (text: string) => process.stderr.write(`${text}\n`);

/** Spectra/s of model.predict in batches of batchSize, after one warm-up call. */
async function tfjsPredictRate(tf: Tf, arch: ModelSpec['architecture'], rows: number): Promise<{ rate: number; rows: number }> {
  const model = buildResNet1d(tf, arch, 1);
  const x = tf.randomUniform([batchSize, arch.inputLength, 1], 0, 0.04);
  const inputs = arch.featureCount > 0 ? [x, tf.randomUniform([batchSize, arch.featureCount], -1, 1)] : x;
  const predict = () => {
    // Every output is read, as onnxruntime computes every output (a redshift head's bins too).
    const out = model.predict(inputs) as import('@tensorflow/tfjs').Tensor | import('@tensorflow/tfjs').Tensor[];
    for (const y of Array.isArray(out) ? out : [out]) {
      y.dataSync();
      y.dispose();
    }
  };
  predict();
  const runs = Math.ceil(Math.max(rows, batchSize) / batchSize);
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) predict();
  return { rate: (runs * batchSize) / ((performance.now() - t0) / 1000), rows: runs * batchSize };
}

if (args['child-tfjs-wasm']) {
  // Child: stock tfjs WASM backend (XNNPACK), without astrospec's native kernels.
  const tf = await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const { wasmBinaryDir } = await import('../src/train/backend.js');
  wasm.setWasmPaths(`${wasmBinaryDir()}/`);
  await tf.setBackend('wasm');
  const arch = JSON.parse(args.data!) as ModelSpec['architecture'];
  const { rate } = await tfjsPredictRate(tf, arch, Number(args['tfjs-n']));
  process.stdout.write(`${JSON.stringify({ rate })}\n`);
  process.exit(0);
}

// Both sides time the compiled package, as `astrospec` runs (bench/dist.ts), each in a child
// process: the raw side its SessionPool, the classify side its classifyFile.
checkDistIsCurrent();

const dir = await mkdtemp(join(tmpdir(), 'astrospec-bench-infer-'));
try {
  const tf = await import('@tensorflow/tfjs');
  await tf.setBackend('cpu');

  // 1. The model.
  let modelPath = args.model ?? (args.width === undefined ? fileURLToPath(new URL('../models/default.onnx', import.meta.url)) : undefined);
  let spec: ModelSpec;
  let conv1dBytes: Uint8Array | undefined;
  if (modelPath) {
    spec = onnxModelSpec(await readFile(modelPath), modelPath);
  } else {
    const width = Number(args.width);
    const grid = { start: 3800, step: 2, length: 2600 };
    spec = {
      format: 'astrospec-model', version: 1, classNames: ['star', 'galaxy', 'qso'], grid,
      architecture: { width, inputLength: 2600, featureCount: 0, classCount: 3 },
      preprocess: { normalisation: 'l2', bin: 1, smoothWindow: 0, features: [] },
    };
    const model = buildResNet1d(tf, spec.architecture, 1);
    modelPath = join(dir, `resnet18-w${width}.onnx`);
    await writeFile(modelPath, buildOnnxModel(model, spec));
    conv1dBytes = buildOnnxModel(model, spec, { conv1d: true });
    model.dispose();
  }
  const arch = spec.architecture;
  const L = arch.inputLength;
  const F = arch.featureCount;
  log(`model ${modelPath}: width ${arch.width}, ${L} pixels, ${F} side features; batch ${batchSize}, ${workers} worker(s) × ${threads} threads`);

  const rng = new Random(7);
  const rand = () => rng.uniform();
  // The spectra both measurements classify: an Arrow file on disk.
  const data = join(dir, 'spectra.arrow');
  {
    const sink = await createSpectraSink(data, { grid: spec.grid, hasLabels: false });
    const chunk = 1000;
    const G = spec.grid.length;
    for (let at = 0; at < n; at += chunk) {
      const rows = Math.min(chunk, n - at);
      const flux = new Float32Array(rows * G);
      for (let r = 0; r < rows; r++) {
        const t = 3000 + 12000 * rand();
        for (let i = 0; i < G; i++) {
          const nm = (spec.grid.start + spec.grid.step * i) / 10;
          flux[r * G + i] = 1e15 * nm ** -5 * Math.exp(-1.438776877e7 / (nm * t)) * (1 + 0.05 * (rand() - 0.5)) + 0.01;
        }
      }
      await sink.write({ ids: Array.from({ length: rows }, (_, i) => `s${at + i}`), flux, grid: spec.grid, firstRow: at });
    }
    await sink.close();
  }

  // 2. ORT alone, on the same spectra: the file's first batches preprocessed as classify does
  // (src/infer/classify.ts), held in memory.
  const batches = await networkBatches(data, spec, batchSize, 16);
  const runs = Math.max(1, Math.ceil(n / batchSize));
  const measureOrt = async (model: string | Uint8Array): Promise<number> => {
    // One session with every thread the pipeline's workers have together: the ceiling for session.run.
    const options = { intraOpNumThreads: threads * workers, interOpNumThreads: 1, graphOptimizationLevel: graphOptimization, executionMode: 'sequential' } as const;
    const session = typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
    await session.run(batches[0]!);
    const start = performance.now();
    for (let i = 0; i < runs; i++) await session.run(batches[i % batches.length]!);
    const seconds = (performance.now() - start) / 1000;
    await session.release();
    return (runs * batchSize) / seconds;
  };
  // The same sessions classify uses (workers × threads, in worker threads), fed the preprocessed
  // batches with two jobs queued per worker: everything but reading, preprocessing and writing.
  // In a fresh child process per round, as classify runs (bench/raw-child.mjs): a process's first
  // sessions start slower than later ones (~0.1 s of worker start-up and session creation, checked),
  // which the bench's own process would have paid once and then skipped in later rounds.
  const batchFile = join(dir, 'raw-batches.bin');
  await writeFile(batchFile, Buffer.concat(batches.flatMap((b) => [b.flux!.data as Float32Array, (b.features?.data as Float32Array | undefined) ?? new Float32Array(0)].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)))));
  type RawChild = { rate: number; cpuSeconds: number; withStartRate: number; withStartCpuSeconds: number };
  const rawInChild = () =>
    runChild<RawChild>('./raw-child.mjs', {
      batches: batchFile, batchCount: batches.length, model: modelPath!, batchSize, intraOpThreads: threads, workers, graphOptimization, runs, spectra: n, inputLength: L, featureCount: F,
    });
  type ClassifyChild = { rows: number; seconds: number; spectraPerSecond: number; steadySpectraPerSecond: number | null; cpuSeconds: number; peakRssMb: number; stages: Record<string, number> };
  // classify as `astrospec classify` runs it: the compiled package in a plain Node process
  // (bench/classify-child.mjs), so that peak_rss_mb is the pipeline's own.
  const classifyInChild = () =>
    runChild<ClassifyChild>('./classify-child.mjs', { data, output: join(dir, 'predictions.csv'), model: modelPath!, batchSize, intraOpThreads: threads, workers, graphOptimization });
  // Raw and classify in alternating rounds; the round with the median ratio is reported, so that
  // load that comes and goes (this machine is shared) disturbs both sides of the reported ratio alike.
  const rounds: { raw: RawChild; classify: ClassifyChild; ratio: number }[] = [];
  for (let round = 0; round < Math.max(1, Number(args.rounds)); round++) {
    const raw = await rawInChild();
    log(`ort raw (${workers} session(s) × ${threads} threads in workers): ${n} spectra in ${runs} batches of ${batchSize} = ${raw.withStartRate.toFixed(0)} spectra/s from session start, ${raw.rate.toFixed(0)} spectra/s warm`);
    const classify = await classifyInChild();
    log(`classify: ${classify.rows} spectra in ${classify.seconds.toFixed(2)} s = ${classify.spectraPerSecond.toFixed(0)} spectra/s (${(classify.spectraPerSecond / raw.withStartRate).toFixed(3)} × raw)`);
    rounds.push({ raw, classify, ratio: classify.spectraPerSecond / raw.withStartRate });
  }
  const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[(rounds.length - 1) >> 1]!;
  const { rate: ortRaw, cpuSeconds: ortRawCpuSeconds, withStartRate: ortRawWithStart, withStartCpuSeconds: ortRawWithStartCpuSeconds } = median.raw;
  const classify = median.classify;
  const ortRawSingle = await measureOrt(modelPath);
  log(`ort raw, one session × ${threads * workers} threads: ${ortRawSingle.toFixed(0)} spectra/s`);
  // The same network written as 1-D Conv/MaxPool (what a direct translation gives), for comparison.
  const ortRawConv1d = conv1dBytes ? await measureOrt(conv1dBytes) : undefined;
  if (ortRawConv1d) log(`ort raw, 1-D conv graph: ${ortRawConv1d.toFixed(0)} spectra/s`);

  const dataBytes = (await stat(data)).size;
  // CPU time per spectrum (all threads of the process): less affected by other load than the
  // rates. When inference fills every core, classify's rate over ORT raw tends to the ratio of
  // these two (everything classify does besides session.run is CPU taken from inference).
  const ortRawCpuUs = (ortRawCpuSeconds * 1e6) / n;
  const ortRawWithStartCpuUs = (ortRawWithStartCpuSeconds * 1e6) / n;
  const classifyCpuUs = (classify.cpuSeconds * 1e6) / classify.rows;
  log(`classify: ${classify.rows} spectra (${(dataBytes / 1e6).toFixed(0)} MB Arrow) in ${classify.seconds.toFixed(2)} s = ${classify.spectraPerSecond.toFixed(0)} spectra/s, peak RSS ${classify.peakRssMb.toFixed(0)} MB`);

  // 4. int8 against fp32 (bench/infer-int8.ts).
  let int8: Record<string, unknown> = {};
  if (!args['no-int8']) {
    const { measureInt8 } = await import('./infer-int8.js');
    int8 = await measureInt8({
      model: args.model ?? fileURLToPath(new URL('../models/default.onnx', import.meta.url)),
      calibration: args['int8-calibration'],
      calibrationRows: Number(args['int8-calibration-n']),
      test: args['int8-test'],
      testRows: Number(args['int8-test-n']),
      boss: args.boss!,
      settings: { ...defaults, batchSize },
      spectraPerRound: Math.min(n, 4096),
      rounds: 5,
      profile: args['int8-profile']!,
      variants: args['int8-variants']!,
      log,
    });
  }

  // 5. tfjs predict, same architecture: the best backend resolveBackend finds, and stock WASM.
  let tfjs: { backend: string; spectraPerSecond: number; rows: number } | undefined;
  let tfjsWasmStock: number | undefined;
  if (!args['no-tfjs']) {
    const { resolveBackend } = await import('../src/train/backend.js');
    const backend = await resolveBackend('auto', { quiet: true });
    const { rate, rows } = await tfjsPredictRate(backend.tf, arch, Number(args['tfjs-n']));
    tfjs = { backend: backend.description, spectraPerSecond: rate, rows };
    log(`tfjs predict (${backend.description}): ${rows} spectra = ${rate.toFixed(0)} spectra/s`);
    const child = await new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child-tfjs-wasm', '--data', JSON.stringify(arch),
        '--batch-size', String(batchSize), '--tfjs-n', String(args['tfjs-n'])], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('exit', (code) => (code === 0 ? resolve(out.trim().split('\n').pop()!) : reject(new Error(`tfjs child exited ${code}`))));
    });
    tfjsWasmStock = (JSON.parse(child) as { rate: number }).rate;
    log(`tfjs predict (stock WASM backend): ${tfjsWasmStock.toFixed(0)} spectra/s`);
  }

  let isa: string | undefined;
  try {
    const { native } = await import('../src/native/binding.js');
    isa = native().info().isa;
  } catch {
    isa = undefined;
  }
  const require = createRequire(import.meta.url);
  const result = {
    benchmark: 'infer',
    n,
    width: arch.width,
    input_length: L,
    feature_count: F,
    batch_size: batchSize,
    threads,
    workers,
    graph_optimization: graphOptimization,
    // classify over raw onnxruntime, like with like: see classify_vs_raw_basis.
    classify_vs_raw: Number((classify.spectraPerSecond / ortRawWithStart).toFixed(3)),
    classify_steady_vs_raw: classify.steadySpectraPerSecond ? Number((classify.steadySpectraPerSecond / ortRaw).toFixed(3)) : null,
    // Every round's classify_vs_raw (raw, then classify, in turn); the median round is reported.
    classify_vs_raw_rounds: rounds.map((r) => Number(r.ratio.toFixed(3))),
    classify_vs_raw_basis: {
      model: modelPath === args.model ? modelPath : relativeModelName(modelPath!),
      sessions: `${workers} worker thread(s) × ${threads} intra-op thread(s), batch ${batchSize}, graph optimisation ${graphOptimization}, on both sides (SessionPool)`,
      spectra: `the same ${n} spectra: raw runs the file's first ${batches.length} batches preprocessed beforehand (in memory, cycled); classify reads all of them from the Arrow file`,
      raw: 'from before SessionPool.start to the last result of ceil(n / batch) runs, in a fresh child process (bench/raw-child.mjs) with its modules loaded and batches preprocessed before timing; its rates count the n spectra, as classify\'s do (the last batch is padded on both sides)',
      classify: 'the whole classifyFile call (Arrow file → predictions CSV): session start, reading, preprocessing, inference, writing; modules (the Arrow reader, the native addon, onnxruntime-node) loaded before, on both sides',
      code: 'the compiled package (dist/) on both sides, each a plain Node process started per round (bench/raw-child.mjs, bench/classify-child.mjs), as astrospec classify runs',
      steady: 'classify from its first to its last written batch, over raw on the same (warm) sessions after start-up',
      rounds: `raw then classify, ${rounds.length} times in turn; the numbers are the round with the median classify_vs_raw`,
    },
    ort_raw_with_start_spectra_per_s: Math.round(ortRawWithStart),
    classify_steady_spectra_per_s: classify.steadySpectraPerSecond ? Math.round(classify.steadySpectraPerSecond) : null,
    ort_raw_spectra_per_s: Math.round(ortRaw),
    ort_raw_single_session_spectra_per_s: Math.round(ortRawSingle),
    ort_raw_conv1d_graph_spectra_per_s: ortRawConv1d ? Math.round(ortRawConv1d) : null,
    classify_spectra_per_s: Math.round(classify.spectraPerSecond),
    classify_over_ort_raw: Number((classify.spectraPerSecond / ortRaw).toFixed(3)),
    ort_raw_cpu_us_per_spectrum: Number(ortRawCpuUs.toFixed(1)),
    ort_raw_with_start_cpu_us_per_spectrum: Number(ortRawWithStartCpuUs.toFixed(1)),
    classify_cpu_us_per_spectrum: Number(classifyCpuUs.toFixed(1)),
    // Both with session start-up: what classify_vs_raw tends to when inference fills every core.
    ort_raw_cpu_over_classify_cpu: Number((ortRawWithStartCpuUs / classifyCpuUs).toFixed(3)),
    classify_input_mb: Math.round(dataBytes / 1e6),
    peak_rss_mb: Math.round(classify.peakRssMb),
    // Main-thread seconds per classify stage; waiting ≈ total means inference is the bottleneck.
    classify_main_thread_s: Object.fromEntries(Object.entries(classify.stages).map(([k, v]) => [k, Number(v.toFixed(2))])),
    tfjs_predict_spectra_per_s: tfjs ? Math.round(tfjs.spectraPerSecond) : null,
    tfjs_backend: tfjs?.backend ?? null,
    ort_over_tfjs: tfjs ? Number((ortRaw / tfjs.spectraPerSecond).toFixed(1)) : null,
    tfjs_wasm_stock_predict_spectra_per_s: tfjsWasmStock ? Math.round(tfjsWasmStock) : null,
    ort_over_tfjs_wasm_stock: tfjsWasmStock ? Number((ortRaw / tfjsWasmStock).toFixed(1)) : null,
    ...int8,
    // How busy the machine was (1-minute load average at the end): rates are comparable only at low load.
    load_average_1min: Number(loadavg()[0]!.toFixed(2)),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: availableParallelism(),
      isa: isa ?? null,
      node: process.version,
      onnxruntime: (require('onnxruntime-node/package.json') as { version: string }).version,
      platform: `${process.platform}-${process.arch}`,
    },
  };
  if (!args.json) log(JSON.stringify(result, null, 2));
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  if (!args.keep) await rm(dir, { recursive: true, force: true });
  else log(`kept ${dir}`);
}

/** models/default.onnx as the repository names it, other paths as given. */
function relativeModelName(path: string): string {
  return path === fileURLToPath(new URL('../models/default.onnx', import.meta.url)) ? 'models/default.onnx' : path;
}

/**
 * The first `count` inference batches of `file`, preprocessed with the model's settings as
 * classifyFile does (flux, and z-scored side features when the model takes them).
 */
async function networkBatches(file: string, spec: ModelSpec, batchSize: number, count: number): Promise<Record<string, ort.Tensor>[]> {
  const pre = spec.preprocess;
  const { inputLength: L, featureCount: F } = spec.architecture;
  const source = await openSpectra(await listDataset(file), { batchSize, resampleGrid: spec.grid });
  const out: Record<string, ort.Tensor>[] = [];
  try {
    for await (const batch of source.batches()) {
      if (batch.ids.length !== batchSize) break;
      const prepared = preprocessSync(networkInput(batch), { normalisation: pre.normalisation, bin: pre.bin, smoothWindow: pre.smoothWindow, features: F > 0, threads: 1 });
      const feeds: Record<string, ort.Tensor> = { flux: new ort.Tensor('float32', prepared.flux, [batchSize, 1, L]) };
      if (F > 0) {
        const features = new Float32Array(batchSize * F);
        const names = prepared.featureNames;
        for (let i = 0; i < batchSize; i++) {
          for (let f = 0; f < F; f++) {
            const z = (prepared.features![i * names.length + names.indexOf(pre.features[f]!)]! - (pre.featureMean?.[f] ?? 0)) / (pre.featureStd?.[f] ?? 1);
            features[i * F + f] = Number.isFinite(z) ? z : 0;
          }
        }
        feeds.features = new ort.Tensor('float32', features, [batchSize, F]);
      }
      out.push(feeds);
      if (out.length >= count) break;
    }
  } finally {
    await source.close();
  }
  if (out.length === 0) throw new Error(`${file} has fewer than ${batchSize} spectra`);
  return out;
}

/** Runs a bench child script (plain Node, the compiled package) with its options as JSON; its last stdout line is its result. */
function runChild<T>(script: string, options: Record<string, unknown>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as T) : reject(new Error(`${script} exited ${code}`))));
  });
}
