/**
 * The only module that loads the native addon and types its surface. Everything else imports
 * `native` from here. Each family of functions (csv, preprocess, conv, ...) adds its
 * signatures to `NativeAddon` below; TS validates arguments before calling in.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AstrospecError } from '../errors.js';

export type IsaName = 'baseline' | 'avx2' | 'avx512';

export interface NativeInfo {
  isa: IsaName;
  detectedIsa: IsaName;
  supportedIsas: IsaName[];
  threads: number;
  hardwareThreads: number;
  compiler: string;
}

/** x [batch, inLength, inChannels], w [kernel, inChannels, outChannels], y [batch, outLength, outChannels]. */
export interface Conv1dGeometry {
  batch: number;
  inLength: number;
  inChannels: number;
  outLength: number;
  outChannels: number;
  kernel: number;
  stride: number;
  padLeft: number;
}

/** csvParse outcome; `error` is a CsvError code (0 none, 1 too few fields, 2 too many, 3 not a number, 4 non-finite, 5 bad quote, 6 empty line). */
export interface CsvParseResult {
  rows: number;
  consumed: number;
  error: number;
  errorRow: number;
  errorField: number;
  errorOffset: number;
}

export interface CsvFormatResult {
  bytes: number;
  /** Index of the first NaN/Inf value when non-finite values are not allowed, else −1. */
  firstNonFinite: number;
}

/** preprocess params; normalisation code 0 none, 1 l2, 2 sum, 3 minmax, 4 median (see src/preprocess/index.ts). */
export interface NativePreprocessParams {
  rows: number;
  length: number;
  normalisation: number;
  bin: number;
  smoothWindow: number;
  robust: number;
  gridStart: number;
  gridStep: number;
  threads: number;
}

export interface NativeNoiseParams {
  rows: number;
  length: number;
  snrLow: number;
  snrHigh: number;
  seed: number;
  threads: number;
}

/** Rows (batch × length) and channels of a channels-last tensor, and BatchNorm's ε. */
/** One Adam step's constants (src/train/adam.ts); correction1/2 are 1 − β1ᵗ and 1 − β2ᵗ. */
export interface AdamStep {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  correction1: number;
  correction2: number;
}

/** A max pool over [batch, inLength, channels] → [batch, outLength, channels]. */
export interface MaxPool1dGeometry {
  batch: number;
  inLength: number;
  outLength: number;
  channels: number;
  window: number;
  stride: number;
  /** Implicit −∞ values before the first input. */
  padLeft: number;
}

/** [batch, length, channels]: the tensor global average pooling reduces over its middle axis. */
export interface MeanAxis1Dims {
  batch: number;
  length: number;
  channels: number;
}

export interface BatchNormDims {
  rows: number;
  channels: number;
  epsilon: number;
  /** Forward only: apply ReLU to the output (a BatchNorm → ReLU pair in one pass). */
  relu?: boolean;
}

/** The addon's exports. Sections are grouped by the native/binding/*.cpp file that defines them. */
export interface NativeAddon {
  // info.cpp
  info(): NativeInfo;
  setThreads(threads: number): number;
  setIsa(isa: IsaName): boolean;

  // csv.cpp — see native/kernels/csv.h for the row layout and error kinds.
  csvParse(data: Uint8Array, hasId: boolean, pixels: number, trailing: number, maxRows: number, flux: Float32Array, spans: Int32Array, threads: number): Promise<CsvParseResult>;
  csvParseSync(data: Uint8Array, hasId: boolean, pixels: number, trailing: number, maxRows: number, flux: Float32Array, spans: Int32Array, threads: number): CsvParseResult;
  csvFormat(values: Float32Array, rows: number, cols: number, out: Uint8Array, rowEnds: Int32Array, allowNonFinite: boolean, threads: number): Promise<CsvFormatResult>;
  csvFormatSync(values: Float32Array, rows: number, cols: number, out: Uint8Array, rowEnds: Int32Array, allowNonFinite: boolean, threads: number): CsvFormatResult;
  csvFormatBound(rows: number, cols: number): number;

  // conv.cpp — 1D convolution for training, channels-last; outputs written in place.
  conv1dForwardSync(x: Float32Array, w: Float32Array, y: Float32Array, shape: Conv1dGeometry): void;
  conv1dBackpropInputSync(dy: Float32Array, w: Float32Array, dx: Float32Array, shape: Conv1dGeometry): void;
  conv1dBackpropFilterSync(x: Float32Array, dy: Float32Array, dw: Float32Array, shape: Conv1dGeometry): void;
  conv1dForward(x: Float32Array, w: Float32Array, y: Float32Array, shape: Conv1dGeometry): Promise<void>;
  conv1dBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, shape: Conv1dGeometry): Promise<void>;
  conv1dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, shape: Conv1dGeometry): Promise<void>;

  // batchnorm.cpp — training-mode batch normalisation over rows × channels; outputs written in place.
  batchnormTrainForwardSync(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, dims: BatchNormDims): void;
  /** reluY: the output of a fused BatchNorm → ReLU forward (dims.relu), whose gradient is taken too. */
  batchnormTrainBackwardSync(x: Float32Array, dy: Float32Array, gamma: Float32Array, mean: Float32Array, variance: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, dims: BatchNormDims, reluY?: Float32Array | null): void;
  batchnormTrainForward(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, dims: BatchNormDims): Promise<void>;
  batchnormTrainBackward(x: Float32Array, dy: Float32Array, gamma: Float32Array, mean: Float32Array, variance: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, dims: BatchNormDims): Promise<void>;

  // train_ops.cpp — the memory-bound passes of a training step (native/kernels/train_ops.h); outputs written in place.
  reluForwardSync(x: Float32Array, y: Float32Array): void;
  reluBackwardSync(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** out = a + b, or max(0, a + b) with relu. */
  addSync(a: Float32Array, b: Float32Array, out: Float32Array, relu?: boolean): void;
  adamUpdateSync(value: Float32Array, m: Float32Array, v: Float32Array, gradient: Float32Array, outValue: Float32Array, outM: Float32Array, outV: Float32Array, step: AdamStep): void;
  maxPool1dBackwardSync(x: Float32Array, dy: Float32Array, dx: Float32Array, shape: MaxPool1dGeometry): void;
  /** Padding and NaN never win; a window without a number or ±∞ gives −∞ (tfjs's CPU backend). */
  maxPool1dForwardSync(x: Float32Array, y: Float32Array, shape: MaxPool1dGeometry): void;
  /** Global average pooling: the mean over the middle axis of [batch, length, channels], and its gradient. */
  meanAxis1Sync(x: Float32Array, y: Float32Array, dims: MeanAxis1Dims): void;
  meanAxis1GradSync(dy: Float32Array, dx: Float32Array, dims: MeanAxis1Dims): void;

  // preprocess.cpp — see native/kernels/preprocess.h; outputs written into the given arrays.
  preprocess(flux: Float32Array, badPixels: Uint8Array | null, outFlux: Float32Array, outFeatures: Float32Array | null, outFlags: Uint8Array, params: NativePreprocessParams): Promise<void>;
  preprocessSync(flux: Float32Array, badPixels: Uint8Array | null, outFlux: Float32Array, outFeatures: Float32Array | null, outFlags: Uint8Array, params: NativePreprocessParams): void;
  augmentNoise(flux: Float32Array, rowMask: Uint8Array | null, params: NativeNoiseParams): Promise<void>;
  augmentNoiseSync(flux: Float32Array, rowMask: Uint8Array | null, params: NativeNoiseParams): void;

  // finite.cpp — index of the first NaN/±Inf in values[from, to), or −1; read in place.
  // Optional: a prebuilt addon from before it lacks it (src/io/finite.ts then scans in TS).
  firstNonFiniteSync?(values: Float32Array, from: number, to: number): number;

  // predictions.cpp — see native/kernels/predictions.h. Optional for the same reason
  // (src/infer/prediction-lines.ts then writes and decodes in TS).
  /**
   * The predictions CSV lines of ids.length rows (probabilities in star, galaxy, qso order),
   * written into out from byte `at`: the bytes written, or −(the room it may need) when out has
   * less after `at`, and nothing is written.
   */
  /**
   * checkedRows of src/infer/prediction-lines.ts: probabilities (model order) into p (star, galaxy,
   * qso), 'non_finite_output' and 'ood' set in status, z and zErr decoded when zBins is given.
   */
  checkOutputsSync?(rows: number, status: string[], probabilities: Float32Array, columns: Int32Array, p: Float32Array, oodScore: Float32Array | null, oodThreshold: number,
    zBins: Float32Array | null, bins: number, zMin: number, zMax: number, z: Float32Array | null, zErr: Float32Array | null): void;
  predictionLinesSync?(firstRow: number, ids: string[], status: string[], probabilities: Float32Array, oodScore: Float32Array | null, z: Float32Array | null, zErr: Float32Array | null, out: Uint8Array, at: number): number;
}

const here = dirname(fileURLToPath(import.meta.url));
/** Package root: this file lives in src/native or dist/native. */
export const packageRoot = join(here, '..', '..');

const require = createRequire(import.meta.url);

/** node-gyp-build's resolver (the prebuildify convention; node-gyp-build 4.8 ships no types). */
interface NodeGypBuild {
  resolve(dir: string): string;
}

let loadedFrom: string | undefined;

/** The file the addon was loaded from (undefined until native() has loaded it). */
export function nativeAddonPath(): string | undefined {
  return loadedFrom;
}

/**
 * Where the addon is looked for, first match wins:
 * 1. `ASTROSPEC_ADDON`, a path to an `astrospec.node` (tests, debugging);
 * 2. node-gyp-build's order in the package root: `build/Release/*.node`, `build/Debug/*.node`
 *    (the cmake-js source build: `npm run build:native`, or the install script's fallback), then
 *    `prebuilds/<platform>-<arch>/astrospec.napi.<libc>.node`, the prebuilt binary the published
 *    package carries (`npm run build:prebuilt`). A source build thus overrides the prebuilt one.
 */
function addonCandidates(errors: string[]): string[] {
  const candidates: string[] = [];
  const override = process.env.ASTROSPEC_ADDON;
  if (override) candidates.push(override);
  try {
    candidates.push((require('node-gyp-build') as NodeGypBuild).resolve(packageRoot));
  } catch (error) {
    // "No native build was found for platform=linux arch=x64 … libc=glibc node=…": kept for the message.
    errors.push(((error as Error).message ?? String(error)).trim().replace(/\s*\n\s*/g, '; '));
  }
  return candidates;
}

function loadAddon(): NativeAddon {
  const errors: string[] = [];
  const candidates = addonCandidates(errors);
  for (const path of candidates) {
    if (!existsSync(path)) {
      errors.push(`${path}: no such file`);
      continue;
    }
    try {
      const loaded = require(path) as NativeAddon;
      loadedFrom = path;
      return loaded;
    } catch (error) {
      errors.push(`${path}: ${(error as Error).message}`);
    }
  }
  throw new AstrospecError(
    'NATIVE',
    [
      'The astrospec native addon could not be loaded.',
      `Tried:\n  ${errors.join('\n  ')}`,
      `Looked in ${join(packageRoot, 'build', 'Release')} and ${join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`)}.`,
      'Build it with:  npm run build:native   (needs cmake >= 3.18 and a C++17 compiler)',
      'In a project that installed astrospec:  npm rebuild astrospec   (the same build, same needs)',
    ].join('\n'),
  );
}

let addon: NativeAddon | undefined;

/** The loaded addon (loaded on first use, so commands that don't need it start without it). */
export function native(): NativeAddon {
  addon ??= loadAddon();
  return addon;
}
