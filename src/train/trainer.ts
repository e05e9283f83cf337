/**
 * The training loop: shuffled (optionally oversampled) mini-batches, Adam with a per-epoch
 * learning-rate schedule, validation every epoch (macro F1, per-class scores, confusion),
 * the best model kept by validation macro F1, early stopping, and a resumable state in
 * <out>/last/. Progress goes to a bar on stderr and to <out>/train-log.jsonl.
 */
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import { createProgress } from '../cli/progress.js';
import { AstrospecError } from '../errors.js';
import { writeFileAtomic } from '../io/partial-files.js';
import { CLASS_NAMES } from '../io/batch.js';
import { ConfusionMatrix } from '../metrics/classification.js';
import { loadModel, saveModel } from '../model/io.js';
import { BN_MOMENTUM, buildResNet1d, type Tf } from '../model/resnet1d.js';
import { createAdam } from './adam.js';
import { useFusedBatchNorm } from './batchnorm.js';
import { useNativeConv1d } from './conv1d-layer.js';
import { useFusedAddRelu } from './fuse-relu.js';
import { standardisedFeature, type ModelSpec, type RedshiftHeadSpec } from '../model/spec.js';
import { decodeRedshift, redshiftTarget, redshiftWithin } from '../infer/redshift.js';
import { Random } from '../synth/random.js';
import {
  type Balance,
  type LabelledSet,
  type NoiseAugmenter,
  type PreprocessSettings,
  augmentNoiseInTypeScript,
  classCounts,
  classWeights,
  epochOrder,
  featureScaling,
} from './dataset.js';

export type Schedule = 'cosine' | 'step' | 'constant';

export interface TrainOptions {
  width: number;
  epochs: number;
  batchSize: number;
  /** Peak learning rate (Adam). */
  lr: number;
  schedule: Schedule;
  balance: Balance;
  seed: number;
  /** Stop after this many epochs without a better validation macro F1 (0 = never). */
  patience: number;
  /** Range of the S/N (per pixel of the network input) of the augmentation noise. */
  noiseSnr: [number, number];
  /** Fraction of rows, of every class alike, that get augmentation noise each epoch (0 = none). */
  augment: number;
  out: string;
  /** Continue from <dir>/last/ (the model, optimizer and loop state saved after each epoch). */
  resume?: string;
  /** Write a step line to the log every this many steps (0 = none). */
  logEvery: number;
  quiet?: boolean;
  /** Train a redshift head too (needs a `redshift` column; galaxies and QSOs are its targets). */
  redshift?: RedshiftHeadSpec;
}

export interface TrainingData {
  /** All labelled rows read for training; `trainRows` selects the ones trained on. */
  set: LabelledSet;
  trainRows: Int32Array;
  validation: LabelledSet;
  /** What produced `set` (recorded in the spec and log). */
  source: string;
}

export interface EpochRecord {
  type: 'epoch';
  epoch: number;
  lr: number;
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  valMacroF1: number;
  valPerClass: { name: string; precision: number; recall: number; f1: number; support: number }[];
  valConfusion: number[][];
  /** With a redshift head: validation galaxies and QSOs whose z is within 0.01 (1 + z). */
  valRedshiftWithin001?: number;
  spectraPerSecond: number;
  seconds: number;
  best: boolean;
}

export interface TrainResult {
  bestEpoch: number;
  bestValMacroF1: number;
  epochs: EpochRecord[];
  stoppedEarly: boolean;
  seconds: number;
  spec: ModelSpec;
  /** The model after the last epoch (the same weights as <out>/last/); the caller disposes it. */
  model: tfType.LayersModel;
}

interface LoopState {
  /** Epochs completed. */
  epoch: number;
  bestEpoch: number;
  bestValMacroF1: number;
  epochsWithoutImprovement: number;
}

export const LOG_FILE = 'train-log.jsonl';
export const LAST_DIR = 'last';

/** Learning rate of epoch `epoch` (1-based) of `epochs`. */
export function learningRate(schedule: Schedule, peak: number, epoch: number, epochs: number): number {
  if (schedule === 'constant' || epochs <= 1) return peak;
  const progress = (epoch - 1) / epochs;
  if (schedule === 'step') return peak * (progress >= 0.75 ? 0.01 : progress >= 0.5 ? 0.1 : 1);
  // Cosine annealing (Loshchilov & Hutter 2017) from the peak down to 2 % of it.
  const floor = 0.02 * peak;
  return floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * progress));
}

async function saveOptimizer(optimizer: tfType.Optimizer, dir: string): Promise<void> {
  const weights = await optimizer.getWeights();
  const manifest = weights.map((w) => ({ name: w.name, shape: w.tensor.shape }));
  const total = weights.reduce((n, w) => n + w.tensor.size, 0);
  const data = new Float32Array(total);
  let at = 0;
  for (const w of weights) {
    data.set(await w.tensor.data<'float32'>(), at);
    at += w.tensor.size;
  }
  await writeFileAtomic(join(dir, 'optimizer.bin'), new Uint8Array(data.buffer));
  await writeFileAtomic(join(dir, 'optimizer.json'), JSON.stringify(manifest));
}

async function loadOptimizer(tf: Tf, optimizer: tfType.Optimizer, dir: string): Promise<void> {
  const manifest = JSON.parse(await readFile(join(dir, 'optimizer.json'), 'utf8')) as { name: string; shape: number[] }[];
  const bytes = await readFile(join(dir, 'optimizer.bin'));
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let at = 0;
  const weights = manifest.map((m) => {
    const size = m.shape.reduce((a, b) => a * b, 1);
    const tensor = tf.tensor(data.subarray(at, at + size), m.shape);
    at += size;
    return { name: m.name, tensor };
  });
  await optimizer.setWeights(weights);
}

/** Standardised features of rows `rows` of `set` into `out` (non-finite values become 0, the mean). */
function fillFeatures(set: LabelledSet, rows: ArrayLike<number>, count: number, mean: number[], std: number[], out: Float32Array): void {
  const k = set.featureNames.length;
  for (let i = 0; i < count; i++) {
    const r = rows[i]!;
    for (let f = 0; f < k; f++) {
      const v = standardisedFeature(set.features![r * k + f]!, mean[f]!, std[f]!);
      out[i * k + f] = Number.isFinite(v) ? v : 0;
    }
  }
}

/**
 * Weight of the redshift loss beside the classification loss. The redshift targets are soft
 * (a Gaussian over bins), so their cross-entropy never falls below the target's own entropy
 * (≈ 1.4 nats); the weight keeps the classification gradient the larger one for the shared layers.
 */
export const REDSHIFT_LOSS_WEIGHT = 0.3;

/** Mean categorical cross-entropy of softmax outputs, each row weighted. */
function crossEntropy(tf: Tf, probabilities: tfType.Tensor, oneHot: tfType.Tensor, rowWeights: tfType.Tensor): tfType.Scalar {
  const p = tf.sum(tf.mul(probabilities, oneHot), -1);
  // Clipped like Keras' categorical_crossentropy, so a confident mistake stays finite.
  return tf.neg(tf.mean(tf.mul(rowWeights, tf.log(tf.clipByValue(p, 1e-7, 1))))) as tfType.Scalar;
}

/** Redshift targets of a batch: rows × bins soft targets, and 1 where the row has one (0: a star, or z unknown). */
export interface RedshiftBatch {
  targets: Float32Array;
  weights: Float32Array;
}

export type TrainStep = (
  rows: number,
  flux: Float32Array,
  features: Float32Array | undefined,
  labels: Int32Array,
  rowWeights: Float32Array,
  redshift?: RedshiftBatch,
) => { loss: number; hits: number };

/**
 * One optimisation step on a batch (flux rows × inputLength; features rows × featureCount):
 * forward in training mode, weighted cross-entropy, backward, Adam update. Returns the batch
 * loss and how many rows were classified right. Shared by the trainer and bench/train.ts.
 * A model with a redshift head adds REDSHIFT_LOSS_WEIGHT × the soft-target cross-entropy of the
 * rows that have a redshift (averaged over all rows, so stars add nothing).
 */
export function makeTrainStep(tf: Tf, model: tfType.LayersModel, optimizer: tfType.Optimizer): TrainStep {
  const trainable = model.trainableWeights.map((w) => w.read() as tfType.Variable);
  const inputLength = (model.inputs[0]!.shape[1] as number) ?? 0;
  const hasRedshift = model.outputs.length > 1;
  return (rows, flux, features, labelValues, weightValues, redshift) =>
    tf.tidy(() => {
      const x = tf.tensor3d(flux, [rows, inputLength, 1]);
      const inputs = features ? [x, tf.tensor2d(features, [rows, features.length / rows])] : x;
      const labels = tf.tensor1d(labelValues, 'int32');
      const oneHot = tf.oneHot(labels, CLASS_NAMES.length);
      const rowWeights = tf.tensor1d(weightValues);
      if (hasRedshift && !redshift) throw new AstrospecError('MODEL', 'this model has a redshift head: every batch needs redshift targets');
      const bins = hasRedshift ? redshift!.targets.length / rows : 0;
      const zTargets = hasRedshift ? tf.tensor2d(redshift!.targets, [rows, bins]) : undefined;
      const zWeights = hasRedshift ? tf.tensor1d(redshift!.weights) : undefined;
      let hitCount: tfType.Tensor | undefined;
      const cost = optimizer.minimize(
        () => {
          const outputs = model.apply(inputs, { training: true }) as tfType.Tensor | tfType.Tensor[];
          const probabilities = Array.isArray(outputs) ? outputs[0]! : outputs;
          hitCount = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(probabilities, -1), labels), 'float32')));
          const classLoss = crossEntropy(tf, probabilities, oneHot, rowWeights);
          if (!zTargets) return classLoss;
          const zProbabilities = (outputs as tfType.Tensor[])[1]!;
          const perRow = tf.neg(tf.sum(tf.mul(zTargets, tf.log(tf.clipByValue(zProbabilities, 1e-7, 1))), -1));
          const zLoss = tf.mean(tf.mul(zWeights!, perRow));
          return tf.add(classLoss, tf.mul(zLoss, REDSHIFT_LOSS_WEIGHT)) as tfType.Scalar;
        },
        true,
        trainable,
      )!;
      const result = { loss: cost.dataSync()[0]!, hits: hitCount!.dataSync()[0]! };
      hitCount!.dispose();
      return result;
    });
}

/**
 * Validation loss and confusion matrix, in chunks so memory stays bounded; with a redshift head
 * (`head`), also the fraction of galaxies and QSOs with a known z whose estimate is within 0.01 (1 + z).
 */
export function evaluate(
  tf: Tf,
  model: tfType.LayersModel,
  set: LabelledSet,
  scaling: { mean: number[]; std: number[] } | undefined,
  chunk = 256,
  head?: RedshiftHeadSpec,
): { loss: number; confusion: ConfusionMatrix; redshiftWithin001?: number } {
  const confusion = new ConfusionMatrix(CLASS_NAMES);
  const L = set.inputLength;
  const k = set.featureNames.length;
  const star = CLASS_NAMES.indexOf('star');
  let lossSum = 0;
  let zRows = 0;
  let zHits = 0;
  for (let start = 0; start < set.rows; start += chunk) {
    const n = Math.min(chunk, set.rows - start);
    const rows = Int32Array.from({ length: n }, (_, i) => start + i);
    const { loss, predicted, zProbabilities } = tf.tidy(() => {
      const x = tf.tensor3d(set.inputs.subarray(start * L, (start + n) * L), [n, L, 1]);
      const inputs: tfType.Tensor[] = [x];
      if (k > 0 && scaling) {
        const f = new Float32Array(n * k);
        fillFeatures(set, rows, n, scaling.mean, scaling.std, f);
        inputs.push(tf.tensor2d(f, [n, k]));
      }
      const outputs = model.predict(inputs.length === 1 ? inputs[0]! : inputs) as tfType.Tensor | tfType.Tensor[];
      const probabilities = Array.isArray(outputs) ? outputs[0]! : outputs;
      const labels = tf.tensor1d(Int32Array.from(set.labels.subarray(start, start + n)), 'int32');
      const oneHot = tf.oneHot(labels, CLASS_NAMES.length);
      return {
        loss: crossEntropy(tf, probabilities, oneHot, tf.onesLike(labels).toFloat()).dataSync()[0]!,
        predicted: tf.argMax(probabilities, -1).dataSync() as Int32Array,
        zProbabilities: Array.isArray(outputs) && head ? (outputs[1]!.dataSync() as Float32Array) : undefined,
      };
    });
    lossSum += loss * n;
    confusion.addAll(set.labels.subarray(start, start + n), predicted);
    if (zProbabilities && set.redshift) {
      const { z } = decodeRedshift(head!, zProbabilities, n);
      for (let i = 0; i < n; i++) {
        const truth = set.redshift[start + i]!;
        if (set.labels[start + i] === star || !Number.isFinite(truth)) continue;
        zRows++;
        if (redshiftWithin(z[i]!, truth, 0.01)) zHits++;
      }
    }
  }
  return { loss: lossSum / Math.max(set.rows, 1), confusion, ...(zRows > 0 ? { redshiftWithin001: zHits / zRows } : {}) };
}

/**
 * Shortens the BatchNorm moving averages on small training sets. With the model's momentum of
 * 0.99 the averages forget their start values (mean 0, variance 1) over a few hundred steps;
 * with fewer steps per epoch than that, validation would normalise with mostly the start values
 * and score nonsense. The momentum becomes min(0.99, 1 − 4 / steps per epoch), so an epoch spans
 * at least four averaging horizons; 50 000 spectra at batch 64 keep 0.99. Only training uses
 * momentum (inference reads the averages), and the saved topology records the value used.
 */
export function setBatchNormMomentum(model: tfType.LayersModel, stepsPerEpoch: number): number {
  const momentum = Math.max(0.5, Math.min(BN_MOMENTUM, 1 - 4 / Math.max(stepsPerEpoch, 1)));
  for (const layer of model.layers) {
    if (layer.getClassName() === 'BatchNormalization') (layer as unknown as { momentum: number }).momentum = momentum;
  }
  return momentum;
}

export async function trainModel(
  tf: Tf,
  backendName: string,
  data: TrainingData,
  preprocess: PreprocessSettings,
  options: TrainOptions,
  augmentNoise: NoiseAugmenter = augmentNoiseInTypeScript,
): Promise<TrainResult> {
  const started = performance.now();
  const { set, trainRows, validation } = data;
  const L = set.inputLength;
  const featureCount = set.featureNames.length;
  if (trainRows.length < 2) throw new AstrospecError('BAD_INPUT', 'fewer than two training rows', { file: data.source });
  if (validation.inputLength !== L || validation.featureNames.join() !== set.featureNames.join()) {
    throw new AstrospecError('BAD_INPUT', 'validation data preprocesses to a different input than the training data');
  }
  const scaling = featureCount > 0 ? featureScaling(set.features!, featureCount, trainRows) : undefined;
  const head = options.redshift;
  if (head && !set.redshift) {
    throw new AstrospecError('BAD_INPUT', 'a redshift head needs a `redshift` column in the training data (astrospec synth writes one); train without it with --redshift-bins 0', { file: data.source });
  }
  const spec: ModelSpec = {
    format: 'astrospec-model',
    version: 1,
    classNames: [...CLASS_NAMES],
    grid: { ...set.grid },
    architecture: { width: options.width, inputLength: L, featureCount, classCount: CLASS_NAMES.length, ...(head ? { redshift: { ...head } } : {}) },
    preprocess: {
      normalisation: preprocess.normalisation,
      bin: preprocess.bin,
      smoothWindow: preprocess.smoothWindow,
      features: [...set.featureNames],
      ...(scaling ? { featureMean: scaling.mean, featureStd: scaling.std } : {}),
    },
  };

  await mkdir(options.out, { recursive: true });
  const logPath = join(options.out, LOG_FILE);
  const model = buildResNet1d(tf, spec.architecture, options.seed);
  useFusedBatchNorm(tf, model);
  useFusedAddRelu(tf, model);
  useNativeConv1d(tf, model);
  const optimizer = createAdam(tf, options.lr);
  let state: LoopState = { epoch: 0, bestEpoch: 0, bestValMacroF1: -1, epochsWithoutImprovement: 0 };
  if (options.resume) {
    const lastDir = join(options.resume, LAST_DIR);
    const { model: saved, spec: savedSpec } = await loadModel(tf, lastDir);
    if (JSON.stringify(savedSpec.architecture) !== JSON.stringify(spec.architecture)) {
      throw new AstrospecError('MODEL', `the checkpoint's architecture ${JSON.stringify(savedSpec.architecture)} differs from this run's ${JSON.stringify(spec.architecture)}`, { file: lastDir });
    }
    model.setWeights(saved.getWeights());
    saved.dispose();
    await loadOptimizer(tf, optimizer, lastDir);
    state = JSON.parse(await readFile(join(lastDir, 'state.json'), 'utf8')) as LoopState;
  } else {
    await writeFile(logPath, '');
  }
  const log = (record: object) => appendFile(logPath, `${JSON.stringify(record)}\n`);
  const counts = classCounts(Int8Array.from(trainRows, (r) => set.labels[r]!));
  const weights = options.balance === 'weights' ? classWeights(counts) : counts.map(() => 1);
  const stepsPerEpoch = Math.ceil(epochOrder(trainRows, set.labels, options.balance, new Random(0)).rows.length / options.batchSize);
  const bnMomentum = setBatchNormMomentum(model, stepsPerEpoch);
  await log({
    type: 'start',
    time: new Date().toISOString(),
    backend: backendName,
    spec,
    options: { ...options, data: data.source, classCounts: counts, classWeights: weights, bnMomentum, resumedAfterEpoch: options.resume ? state.epoch : undefined },
    trainRows: trainRows.length,
    valRows: validation.rows,
  });

  const trainStep = makeTrainStep(tf, model, optimizer);
  const B = options.batchSize;
  const xBuffer = new Float32Array(B * L);
  const fBuffer = new Float32Array(B * featureCount);
  const labelBuffer = new Int32Array(B);
  const weightBuffer = new Float32Array(B);
  const augmentMask = new Uint8Array(B);
  const redshiftBatch: RedshiftBatch | undefined = head ? { targets: new Float32Array(B * head.bins), weights: new Float32Array(B) } : undefined;
  const star = CLASS_NAMES.indexOf('star');
  const records: EpochRecord[] = [];
  let stoppedEarly = false;

  for (let epoch = state.epoch + 1; epoch <= options.epochs; epoch++) {
    const epochStart = performance.now();
    const lr = learningRate(options.schedule, options.lr, epoch, options.epochs);
    (optimizer as unknown as { learningRate: number }).learningRate = lr;
    // Each epoch's order depends only on (seed, epoch), so a resumed run continues exactly.
    const order = epochOrder(trainRows, set.labels, options.balance, new Random(options.seed, epoch), options.augment);
    const total = order.rows.length;
    const progress = createProgress(`epoch ${epoch}/${options.epochs}`, total, { quiet: options.quiet });
    let lossSum = 0;
    let correct = 0;
    let step = 0;
    let windowStart = performance.now();
    let windowRows = 0;
    for (let start = 0; start < total; start += B) {
      const n = Math.min(B, total - start);
      // BatchNorm needs at least two rows; a lone trailing row waits for the next epoch.
      if (n < 2) break;
      for (let i = 0; i < n; i++) {
        const r = order.rows[start + i]!;
        xBuffer.set(set.inputs.subarray(r * L, (r + 1) * L), i * L);
        labelBuffer[i] = set.labels[r]!;
        weightBuffer[i] = weights[set.labels[r]!]!;
        augmentMask[i] = order.augment[start + i]!;
        if (redshiftBatch) {
          const known = set.labels[r] !== star && redshiftTarget(head!, set.redshift![r]!, redshiftBatch.targets, i * head!.bins);
          if (!known) redshiftBatch.targets.fill(0, i * head!.bins, (i + 1) * head!.bins);
          redshiftBatch.weights[i] = known ? 1 : 0;
        }
      }
      if (options.augment > 0) augmentNoise(xBuffer, n, L, { snr: options.noiseSnr, seed: (options.seed * 1_000_003 + epoch * 65_537 + step) >>> 0, rowMask: augmentMask });
      if (featureCount > 0) fillFeatures(set, order.rows.subarray(start, start + n), n, scaling!.mean, scaling!.std, fBuffer);
      const { loss, hits } = trainStep(
        n,
        xBuffer.subarray(0, n * L),
        featureCount > 0 ? fBuffer.subarray(0, n * featureCount) : undefined,
        labelBuffer.subarray(0, n),
        weightBuffer.subarray(0, n),
        redshiftBatch && { targets: redshiftBatch.targets.subarray(0, n * head!.bins), weights: redshiftBatch.weights.subarray(0, n) },
      );
      if (!Number.isFinite(loss)) {
        throw new AstrospecError('MODEL', `the loss became ${loss} at epoch ${epoch}, step ${step + 1}; try a lower --lr`);
      }
      lossSum += loss * n;
      correct += hits;
      step++;
      windowRows += n;
      progress.tick(n, 0, { loss: loss.toFixed(4) });
      if (options.logEvery > 0 && step % options.logEvery === 0) {
        const now = performance.now();
        await log({ type: 'step', epoch, step, loss, spectraPerSecond: (windowRows * 1000) / (now - windowStart) });
        windowStart = now;
        windowRows = 0;
      }
      // Let timers (progress redraw, signals) run between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const trained = progress.stop();
    const seen = trained.rows;

    const val = evaluate(tf, model, validation, scaling, 256, head);
    const m = val.confusion.metrics();
    const best = m.macroF1 > state.bestValMacroF1;
    if (best) {
      state.bestValMacroF1 = m.macroF1;
      state.bestEpoch = epoch;
      state.epochsWithoutImprovement = 0;
      spec.training = {
        data: data.source,
        backend: backendName,
        seed: options.seed,
        epoch,
        epochs: options.epochs,
        balance: options.balance,
        augment: options.augment,
        noiseSnr: options.noiseSnr,
        valMacroF1: m.macroF1,
        valAccuracy: m.accuracy,
        trainRows: trainRows.length,
        valRows: validation.rows,
        savedAt: new Date().toISOString(),
      };
      await saveModel(tf, model, options.out, spec);
    } else {
      state.epochsWithoutImprovement++;
    }
    state.epoch = epoch;
    const lastDir = join(options.out, LAST_DIR);
    await saveModel(tf, model, lastDir, spec);
    await saveOptimizer(optimizer, lastDir);
    await writeFileAtomic(join(lastDir, 'state.json'), JSON.stringify(state));

    const record: EpochRecord = {
      type: 'epoch',
      epoch,
      lr,
      loss: lossSum / Math.max(seen, 1),
      accuracy: correct / Math.max(seen, 1),
      valLoss: val.loss,
      valAccuracy: m.accuracy,
      valMacroF1: m.macroF1,
      valPerClass: m.perClass.map((c) => ({ name: c.name, precision: c.precision, recall: c.recall, f1: c.f1, support: c.support })),
      valConfusion: m.confusion,
      ...(val.redshiftWithin001 !== undefined ? { valRedshiftWithin001: val.redshiftWithin001 } : {}),
      spectraPerSecond: trained.rowsPerSecond,
      seconds: (performance.now() - epochStart) / 1000,
      best,
    };
    records.push(record);
    await log(record);
    if (!options.quiet) {
      const perClass = m.perClass.map((c) => `${c.name} ${c.f1.toFixed(3)}`).join(', ');
      process.stderr.write(
        `epoch ${epoch}: loss ${record.loss.toFixed(4)}, val loss ${val.loss.toFixed(4)}, val macro F1 ${m.macroF1.toFixed(4)} (${perClass}), ` +
          `${val.redshiftWithin001 !== undefined ? `z within 0.01(1+z) ${(100 * val.redshiftWithin001).toFixed(1)} %, ` : ''}` +
          `${record.spectraPerSecond.toFixed(0)} spectra/s${best ? ', best so far: saved' : ''}\n`,
      );
    }
    if (options.patience > 0 && state.epochsWithoutImprovement >= options.patience && epoch < options.epochs) {
      stoppedEarly = true;
      break;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  await log({ type: 'end', bestEpoch: state.bestEpoch, bestValMacroF1: state.bestValMacroF1, seconds, stoppedEarly });
  optimizer.dispose();
  return { bestEpoch: state.bestEpoch, bestValMacroF1: state.bestValMacroF1, epochs: records, stoppedEarly, seconds, spec, model };
}
