/**
 * The int8 part of bench:infer (bench/infer.ts calls measureInt8): the same trained model in
 * fp32 and quantised by `astrospec export --quantize int8`, compared on
 * - raw onnxruntime throughput, with the sessions classify uses (workers × threads in worker
 *   threads, fixed batches) and one session on 1 and on 2 threads; fp32 and int8 measured in
 *   alternating rounds so that load from other processes hits both alike (median of the rounds);
 * - macro F1 of `classify` with each model on the same synthetic test set and on the real BOSS
 *   spectra (../shared/data/boss, labels.csv), and how many predicted classes differ;
 * - optionally (profile), onnxruntime's per-operator kernel time per spectrum (enableProfiling);
 * - optionally (variants), the throughput ratio of other quantisation choices (the batch not
 *   folded into rows, QDQ, per-tensor weights, int8 activations, the stem left in float) and of
 *   larger batches.
 * A trained model is needed for the F1s: the model under test when it was given, else the shipped
 * models/default.onnx.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { synthHandler } from '../src/cli/commands/synth.js';
import { quantizeOnnxModel, type Int8ExportOptions } from '../src/export/int8.js';
import { onnxModelSpec } from '../src/export/onnx.js';
import { classifyFile } from '../src/infer/classify.js';
import { scorePredictions } from '../src/infer/evaluate.js';
import { readPredictions } from '../src/infer/predictions.js';
import { SessionPool, type SessionSettings } from '../src/infer/session-pool.js';
import { Random } from '../src/synth/random.js';

export interface Int8BenchOptions {
  /** Trained fp32 model. */
  model: string;
  /** Spectra to calibrate on (generated when absent: the mixed generator, train templates, seed 3). */
  calibration?: string;
  calibrationRows: number;
  /** Synthetic test set (generated when absent: seed 2, default generator). */
  test?: string;
  testRows: number;
  /** Folder with spectra/ and labels.csv; skipped when missing. */
  boss: string;
  settings: SessionSettings;
  /** Batches per throughput round, rounds. */
  spectraPerRound: number;
  rounds: number;
  profile: boolean;
  variants: boolean;
  log: (text: string) => void;
}

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function fluxBatch(rows: number, length: number, seed: number): Float32Array {
  // l2-normalised smooth spectra plus noise: the scale the network sees (values don't change
  // the speed of fp32 kernels; int8 kernels neither, but keep them in the calibrated range).
  const rng = new Random(seed);
  const out = new Float32Array(rows * length);
  for (let r = 0; r < rows; r++) {
    let norm = 0;
    const t = 0.5 + rng.uniform();
    for (let i = 0; i < length; i++) {
      const v = Math.exp(-((i / length - t) ** 2)) + 0.05 * (rng.uniform() - 0.5);
      out[r * length + i] = v;
      norm += v * v;
    }
    const s = 1 / Math.sqrt(norm);
    for (let i = 0; i < length; i++) out[r * length + i]! *= s;
  }
  return out;
}

/**
 * Spectra/s of each model in alternating rounds, through SessionPools (classify's sessions), and
 * the process's CPU time per spectrum (all threads) in each round: other load slows the rates
 * but changes the CPU time per spectrum much less.
 */
async function poolRates(models: Uint8Array[], length: number, settings: SessionSettings, spectraPerRound: number, rounds: number): Promise<{ rates: number[][]; cpuUs: number[][] }> {
  const B = settings.batchSize;
  const pools: SessionPool[] = [];
  for (const m of models) pools.push(await SessionPool.start(m, { inputLength: length, featureCount: 0 }, settings));
  const rates: number[][] = models.map(() => []);
  const cpuUs: number[][] = models.map(() => []);
  try {
    const template = fluxBatch(B, length, 5);
    const runs = Math.max(1, Math.ceil(spectraPerRound / B));
    const job = (pool: SessionPool) => {
      const slot = pool.slot();
      slot.flux.set(template);
      return pool.run(slot);
    };
    for (const pool of pools) for (const slot of await Promise.all(Array.from({ length: settings.workers }, () => job(pool)))) pool.release(slot);
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < pools.length; k++) {
        const pool = pools[k]!;
        const start = performance.now();
        const cpuStart = process.cpuUsage();
        const queue = Array.from({ length: Math.min(runs, 2 * settings.workers) }, () => job(pool));
        let sent = queue.length;
        while (queue.length > 0) {
          pool.release(await queue.shift()!);
          if (sent < runs) {
            queue.push(job(pool));
            sent++;
          }
        }
        rates[k]!.push((runs * B) / ((performance.now() - start) / 1000));
        const cpu = process.cpuUsage(cpuStart);
        cpuUs[k]!.push((cpu.user + cpu.system) / (runs * B));
      }
    }
  } finally {
    for (const pool of pools) await pool.close();
  }
  return { rates, cpuUs };
}

/** Spectra/s of each model, one session on the main thread with `threads` intra-op threads, alternating rounds. */
async function sessionRates(models: Uint8Array[], length: number, batch: number, threads: number, spectraPerRound: number, rounds: number): Promise<number[][]> {
  const options = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' } as const;
  const sessions = await Promise.all(models.map((m) => ort.InferenceSession.create(m, options)));
  const feeds = { flux: new ort.Tensor('float32', fluxBatch(batch, length, 6), [batch, 1, length]) };
  const rates: number[][] = models.map(() => []);
  try {
    for (const s of sessions) await s.run(feeds);
    const runs = Math.max(1, Math.ceil(spectraPerRound / batch));
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < sessions.length; k++) {
        const start = performance.now();
        for (let i = 0; i < runs; i++) await sessions[k]!.run(feeds);
        rates[k]!.push((runs * batch) / ((performance.now() - start) / 1000));
      }
    }
  } finally {
    for (const s of sessions) await s.release();
  }
  return rates;
}

/** onnxruntime's kernel time per spectrum by operator type (µs), one thread. */
async function profileOps(model: Uint8Array, length: number, batch: number, dir: string, name: string): Promise<Record<string, number>> {
  const prefix = join(dir, `profile-${name}`);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential', enableProfiling: true, profileFilePrefix: prefix });
  const feeds = { flux: new ort.Tensor('float32', fluxBatch(batch, length, 7), [batch, 1, length]) };
  const runs = 30;
  for (let i = 0; i < runs; i++) await session.run(feeds);
  session.endProfiling();
  await session.release();
  const file = (await readdir(dir)).map((f) => join(dir, f)).find((f) => f.startsWith(prefix) && f.endsWith('.json'))!;
  const events = JSON.parse(await readFile(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  const byOp: Record<string, number> = {};
  let total = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? 'unknown';
    byOp[op] = (byOp[op] ?? 0) + e.dur;
    total += e.dur;
  }
  const perSpectrum = (us: number) => Number((us / runs / batch).toFixed(2));
  return Object.fromEntries([['total', perSpectrum(total)], ...Object.entries(byOp).sort((a, b) => b[1] - a[1]).map(([op, us]) => [op, perSpectrum(us)])]);
}

interface Scores {
  macroF1: number;
  predicted: Int8Array;
  rows: number;
}

async function classifyScores(model: string, data: string, labels: string | undefined, output: string, settings: SessionSettings): Promise<Scores> {
  const result = await classifyFile(data, { model, output, labels, keepLabels: true, ...settings });
  if (!result.truth) throw new Error(`${data} has no labels`);
  const predictions = await readPredictions(output);
  const evaluation = scorePredictions(predictions, { file: labels ?? data, ...result.truth });
  return { macroF1: evaluation.metrics.macroF1, predicted: predictions.predicted, rows: predictions.ids.length };
}

const round4 = (x: number) => Number(x.toFixed(4));

export async function measureInt8(options: Int8BenchOptions): Promise<Record<string, unknown>> {
  const { log, settings } = options;
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-bench-int8-'));
  try {
    const fp32 = await readFile(options.model);
    const spec = onnxModelSpec(fp32, options.model);
    const L = spec.architecture.inputLength;
    if (spec.architecture.featureCount > 0) throw new Error('the int8 benchmark feeds flux only; use a model without side features');

    let calibration = options.calibration;
    if (!calibration) {
      calibration = join(dir, 'calibration.arrow');
      log(`int8: generating ${options.calibrationRows} calibration spectra`);
      await synthHandler({ n: options.calibrationRows, seed: 3, generator: 'mixed', templates: 'train', mix: '0.5,0.25,0.25', snrMin: 1, snrMax: 100, output: calibration, quiet: true });
    }
    let test = options.test;
    if (!test) {
      test = join(dir, 'test.arrow');
      log(`int8: generating ${options.testRows} test spectra`);
      await synthHandler({ n: options.testRows, seed: 2, output: test, quiet: true });
    }

    const quantizeStart = performance.now();
    const quantized = await quantizeOnnxModel(fp32, { calibration, calibrationRows: options.calibrationRows }, options.model);
    const quantizeSeconds = (performance.now() - quantizeStart) / 1000;
    const int8Path = join(dir, 'model.int8.onnx');
    await writeFile(int8Path, quantized.bytes);
    log(`int8: quantised in ${quantizeSeconds.toFixed(1)} s (${quantized.info.calibration.rows} calibration spectra, ${quantized.info.calibration.method}), ${(quantized.bytes.byteLength / 1e3).toFixed(0)} kB vs ${(fp32.byteLength / 1e3).toFixed(0)} kB`);

    // Throughput.
    const models = [new Uint8Array(fp32), quantized.bytes];
    const { rates: pool, cpuUs } = await poolRates(models, L, settings, options.spectraPerRound, options.rounds);
    const [fp32Pool, int8Pool] = pool.map(median) as [number, number];
    const [fp32Cpu, int8Cpu] = cpuUs.map(median) as [number, number];
    log(`int8: ${settings.workers} worker(s) × ${settings.intraOpThreads} thread(s), batch ${settings.batchSize}: fp32 ${fp32Pool.toFixed(0)}, int8 ${int8Pool.toFixed(0)} spectra/s (${(int8Pool / fp32Pool).toFixed(2)}×; rounds ${pool.map((r) => r.map((v) => v.toFixed(0)).join('/')).join(' vs ')}); CPU µs per spectrum fp32 ${fp32Cpu.toFixed(1)}, int8 ${int8Cpu.toFixed(1)}`);
    const single: Record<number, [number, number]> = {};
    for (const threads of [1, 2]) {
      const r = await sessionRates(models, L, settings.batchSize, threads, options.spectraPerRound, options.rounds);
      single[threads] = r.map(median) as [number, number];
      log(`int8: one session × ${threads} thread(s): fp32 ${single[threads]![0].toFixed(0)}, int8 ${single[threads]![1].toFixed(0)} spectra/s (${(single[threads]![1] / single[threads]![0]).toFixed(2)}×)`);
    }

    // Accuracy: the same synthetic test set and the real BOSS spectra, through classify.
    const accuracy: Record<string, unknown> = {};
    const sets: [string, string, string | undefined][] = [['synthetic', test, undefined]];
    if (existsSync(join(options.boss, 'labels.csv'))) sets.push(['boss', join(options.boss, 'spectra'), join(options.boss, 'labels.csv')]);
    else log(`int8: ${options.boss} not found; no real-data F1`);
    for (const [name, data, labels] of sets) {
      const a = await classifyScores(options.model, data, labels, join(dir, `${name}-fp32.csv`), settings);
      const b = await classifyScores(int8Path, data, labels, join(dir, `${name}-int8.csv`), settings);
      let changed = 0;
      for (let i = 0; i < a.rows; i++) if (a.predicted[i] !== b.predicted[i]) changed++;
      accuracy[`fp32_macro_f1_${name}`] = round4(a.macroF1);
      accuracy[`int8_macro_f1_${name}`] = round4(b.macroF1);
      accuracy[`int8_macro_f1_loss_${name}`] = round4(a.macroF1 - b.macroF1);
      accuracy[`int8_changed_classes_${name}`] = changed;
      accuracy[`int8_rows_${name}`] = a.rows;
      log(`int8: ${name} (${a.rows} spectra): macro F1 fp32 ${a.macroF1.toFixed(4)}, int8 ${b.macroF1.toFixed(4)}; ${changed} predicted classes differ`);
    }

    let profile: Record<string, Record<string, number>> | undefined;
    if (options.profile) {
      profile = { fp32: await profileOps(models[0]!, L, settings.batchSize, dir, 'fp32'), int8: await profileOps(models[1]!, L, settings.batchSize, dir, 'int8') };
      log(`int8: kernel µs per spectrum, 1 thread: fp32 ${JSON.stringify(profile.fp32)}; int8 ${JSON.stringify(profile.int8)}`);
    }

    let variants: Record<string, unknown> | undefined;
    if (options.variants) {
      // Other choices, each against fp32 in alternating rounds, one session × 1 thread and × 2.
      const choices: [string, Partial<Int8ExportOptions>][] = [
        ['batch_not_folded', { foldBatch: false }],
        ['qdq', { format: 'qdq' }],
        ['per_tensor_weights', { perChannel: false }],
        ['int8_activations', { activations: 'int8' }],
        ['stem_conv_float', { keepFloat: ['stem_conv'] }],
      ];
      variants = {};
      for (const [name, choice] of choices) {
        const q = await quantizeOnnxModel(fp32, { calibration, calibrationRows: options.calibrationRows, ...choice }, options.model);
        const entry: Record<string, number> = {};
        for (const threads of [1, 2]) {
          const [f, i] = (await sessionRates([models[0]!, q.bytes], L, settings.batchSize, threads, options.spectraPerRound / 2, options.rounds)).map(median) as [number, number];
          entry[`int8_over_fp32_${threads}thread`] = Number((i / f).toFixed(2));
        }
        variants[name] = entry;
        log(`int8 variant ${name}: ${JSON.stringify(entry)}`);
      }
      for (const batch of [256, 1024]) {
        const entry: Record<string, number> = {};
        for (const threads of [1, 2]) {
          const [f, i] = (await sessionRates(models, L, batch, threads, options.spectraPerRound / 2, options.rounds)).map(median) as [number, number];
          entry[`fp32_${threads}thread_spectra_per_s`] = Math.round(f);
          entry[`int8_${threads}thread_spectra_per_s`] = Math.round(i);
          entry[`int8_over_fp32_${threads}thread`] = Number((i / f).toFixed(2));
        }
        variants[`batch_${batch}`] = entry;
        log(`int8 batch ${batch}: ${JSON.stringify(entry)}`);
      }
    }

    return {
      int8_source_model: options.model,
      int8_calibration_rows: quantized.info.calibration.rows,
      int8_calibration_method: quantized.info.calibration.method,
      int8_quantize_s: Number(quantizeSeconds.toFixed(1)),
      int8_model_kb: Math.round(quantized.bytes.byteLength / 1e3),
      fp32_model_kb: Math.round(fp32.byteLength / 1e3),
      int8_raw_spectra_per_s: Math.round(int8Pool),
      fp32_raw_spectra_per_s: Math.round(fp32Pool),
      int8_over_fp32: Number((int8Pool / fp32Pool).toFixed(2)),
      int8_raw_sessions: `${settings.workers} worker(s) × ${settings.intraOpThreads} thread(s), batch ${settings.batchSize}`,
      fp32_raw_cpu_us_per_spectrum: Number(fp32Cpu.toFixed(1)),
      int8_raw_cpu_us_per_spectrum: Number(int8Cpu.toFixed(1)),
      fp32_cpu_over_int8_cpu: Number((fp32Cpu / int8Cpu).toFixed(2)),
      int8_raw_1thread_spectra_per_s: Math.round(single[1]![1]),
      fp32_raw_1thread_spectra_per_s: Math.round(single[1]![0]),
      int8_over_fp32_1thread: Number((single[1]![1] / single[1]![0]).toFixed(2)),
      int8_raw_2thread_single_session_spectra_per_s: Math.round(single[2]![1]),
      fp32_raw_2thread_single_session_spectra_per_s: Math.round(single[2]![0]),
      int8_over_fp32_2thread_single_session: Number((single[2]![1] / single[2]![0]).toFixed(2)),
      ...accuracy,
      ...(profile ? { int8_profile_us_per_spectrum_1thread: profile } : {}),
      ...(variants ? { int8_variants: variants } : {}),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
