/**
 * Spectrum preprocessing: bad-pixel masking, optional Savitzky–Golay smoothing and binning,
 * flux normalisation, a Wien blackbody fit and summary features, in one native pass over a
 * whole batch (SIMD, all cores), plus Gaussian noise augmentation for training.
 *
 * The definitions of every step are in ./reference.ts (the pure-TS oracle). This module
 * validates options, allocates the outputs as typed arrays and calls the addon; the batch's
 * flux is read in place, never copied.
 */
import { AstrospecError, check } from '../errors.js';
import type { SpectrumBatch } from '../io/batch.js';
import { batchRows } from '../io/batch.js';
import type { Normalisation } from '../model/spec.js';
import { native } from '../native/binding.js';
import type { NativePreprocessParams } from '../native/binding.js';
import { FEATURE_NAMES, type PreprocessedBatch } from './reference.js';

export {
  FEATURE_NAMES,
  FLAG_DEGENERATE_SCALE,
  FLAG_NO_VALID_PIXELS,
  FLAG_NO_WIEN_FIT,
  WIEN_C2_NM_K,
} from './reference.js';

export const NORMALISATIONS: readonly Normalisation[] = Object.freeze(['l2', 'sum', 'minmax', 'median', 'none']);
const NORMALISATION_CODE: Record<Normalisation, number> = { none: 0, l2: 1, sum: 2, minmax: 3, median: 4 };

export interface PreprocessOptions {
  normalisation: Normalisation;
  /** Integer binning factor (mean of `bin` pixels; trailing partial bin dropped). Default 1. */
  bin?: number;
  /** Savitzky–Golay window (odd, ≥ 3, ≤ length); 0 or absent = no smoothing. */
  smoothWindow?: number;
  /** Compute FEATURE_NAMES per row. Default true. */
  features?: boolean;
  /** Refit the Wien line once without > 3σ outliers. Default false. */
  robust?: boolean;
  /** Native threads for this call; default: the global setting (native().setThreads), else all cores. */
  threads?: number;
  /**
   * Where to write the normalised flux (rows × length/bin floats), e.g. a buffer reused across
   * batches. May be `batch.flux` itself when bin is 1 (in place). Default: a new array.
   */
  out?: Float32Array;
}

export type { PreprocessedBatch };

interface PreparedCall {
  args: [Float32Array, Uint8Array | null, Float32Array, Float32Array | null, Uint8Array, NativePreprocessParams];
  result: PreprocessedBatch;
}

function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1;
}

function checkThreads(threads: number | undefined): number {
  if (threads === undefined) return 0;
  check(typeof threads === 'number' && Number.isInteger(threads) && threads >= 0 && threads <= 1024,
    () => `threads must be an integer from 0 to 1024 (0 = default), got ${String(threads)}`);
  return threads;
}

// Messages are built only when a check fails: this runs per batch on classify's main thread.
function prepare(batch: SpectrumBatch, options: PreprocessOptions): PreparedCall {
  check(options !== null && typeof options === 'object', 'preprocess: options must be an object');
  check(NORMALISATIONS.includes(options.normalisation),
    () => `preprocess: normalisation must be one of ${NORMALISATIONS.join(', ')}, got ${String(options.normalisation)}`);
  const rows = batchRows(batch);
  const length = batch.grid.length;
  check(isPositiveInteger(length), () => `preprocess: grid length must be a positive integer, got ${String(length)}`);
  check(Number.isFinite(batch.grid.start) && Number.isFinite(batch.grid.step) && batch.grid.start > 0 && batch.grid.step > 0,
    'preprocess: the wavelength grid must have a positive start and step (Å)');
  check(batch.flux instanceof Float32Array, 'preprocess: batch.flux must be a Float32Array');
  check(batch.flux.length === rows * length,
    () => `preprocess: batch.flux holds ${batch.flux.length} values, expected ${rows} rows × ${length} pixels`);
  const bin = options.bin ?? 1;
  check(isPositiveInteger(bin) && bin <= length, () => `preprocess: bin must be an integer from 1 to ${length}, got ${String(bin)}`);
  const smoothWindow = options.smoothWindow ?? 0;
  check(smoothWindow === 0 || (Number.isInteger(smoothWindow) && smoothWindow >= 3 && smoothWindow % 2 === 1 && smoothWindow <= length),
    () => `preprocess: smoothWindow must be 0 (none) or an odd integer from 3 to ${length}, got ${String(smoothWindow)}`);
  const threads = checkThreads(options.threads);
  if (batch.badPixels !== undefined) {
    check(batch.badPixels instanceof Uint8Array && batch.badPixels.length === rows * length,
      'preprocess: batch.badPixels must be a Uint8Array of rows × length');
  }
  const outLength = Math.floor(length / bin);
  let out: Float32Array;
  if (options.out !== undefined) {
    check(options.out instanceof Float32Array && options.out.length === rows * outLength,
      () => `preprocess: options.out must be a Float32Array of ${rows} × ${outLength} values`);
    const sameBuffer = options.out.buffer === batch.flux.buffer;
    check(!sameBuffer || (options.out.byteOffset === batch.flux.byteOffset && bin === 1),
      'preprocess: options.out may share memory with batch.flux only as the same view and with bin 1');
    out = options.out;
  } else {
    out = new Float32Array(rows * outLength);
  }
  const withFeatures = options.features ?? true;
  const features = withFeatures ? new Float32Array(rows * FEATURE_NAMES.length) : undefined;
  const flags = new Uint8Array(rows);
  const params: NativePreprocessParams = {
    rows,
    length,
    normalisation: NORMALISATION_CODE[options.normalisation],
    bin,
    smoothWindow,
    robust: options.robust ? 1 : 0,
    gridStart: batch.grid.start,
    gridStep: batch.grid.step,
    threads,
  };
  return {
    args: [batch.flux, batch.badPixels ?? null, out, features ?? null, flags, params],
    result: { rows, length: outLength, flux: out, features, featureNames: FEATURE_NAMES, flags },
  };
}

function nativeError(op: string, error: unknown): AstrospecError {
  return new AstrospecError('NATIVE', `${op} failed: ${(error as Error)?.message ?? String(error)}`, {}, { cause: error });
}

/** The whole chain over a batch on the native thread pool; the event loop stays free. */
export async function preprocess(batch: SpectrumBatch, options: PreprocessOptions): Promise<PreprocessedBatch> {
  const call = prepare(batch, options);
  try {
    await native().preprocess(...call.args);
  } catch (error) {
    throw nativeError('preprocess', error);
  }
  return call.result;
}

/** Same as preprocess(), blocking the calling thread (fine for small batches and workers). */
export function preprocessSync(batch: SpectrumBatch, options: PreprocessOptions): PreprocessedBatch {
  const call = prepare(batch, options);
  try {
    native().preprocessSync(...call.args);
  } catch (error) {
    throw nativeError('preprocessSync', error);
  }
  return call.result;
}

export interface NoiseOptions {
  /** Target S/N per pixel (σ = mean|F| / snr), or a range drawn uniformly per row. */
  snr: number | [number, number];
  /** Integer in [0, 2^32): the same seed, row and pixel always give the same noise. */
  seed: number;
  /** Nonzero = add noise to this row; absent = every row. */
  rowMask?: Uint8Array;
  threads?: number;
}

function prepareNoise(flux: Float32Array, rows: number, length: number, options: NoiseOptions) {
  check(flux instanceof Float32Array, 'augmentNoise: flux must be a Float32Array');
  check(Number.isInteger(rows) && rows >= 0 && Number.isInteger(length) && length >= 0,
    'augmentNoise: rows and length must be non-negative integers');
  check(flux.length >= rows * length, () => `augmentNoise: flux holds ${flux.length} values, fewer than ${rows} × ${length}`);
  const [lo, hi] = typeof options.snr === 'number' ? [options.snr, options.snr] : Array.isArray(options.snr) ? options.snr : [NaN, NaN];
  check(Number.isFinite(lo) && Number.isFinite(hi) && lo > 0 && hi >= lo,
    `augmentNoise: snr must be a positive number or a [low, high] range with 0 < low <= high, got ${JSON.stringify(options.snr)}`);
  check(Number.isInteger(options.seed) && options.seed >= 0 && options.seed <= 0xffffffff,
    `augmentNoise: seed must be an integer in [0, 2^32), got ${String(options.seed)}`);
  if (options.rowMask !== undefined) {
    check(options.rowMask instanceof Uint8Array && options.rowMask.length >= rows,
      'augmentNoise: rowMask must be a Uint8Array with one entry per row');
  }
  const threads = checkThreads(options.threads);
  return { rows, length, snrLow: lo!, snrHigh: hi!, seed: options.seed, threads };
}

/** Adds Gaussian white noise at the given S/N to the chosen rows, in place (masked pixels untouched). */
export function augmentNoise(flux: Float32Array, rows: number, length: number, options: NoiseOptions): void {
  const params = prepareNoise(flux, rows, length, options);
  try {
    native().augmentNoiseSync(flux, options.rowMask ?? null, params);
  } catch (error) {
    throw nativeError('augmentNoise', error);
  }
}

/** augmentNoise() on the native thread pool. */
export async function augmentNoiseAsync(flux: Float32Array, rows: number, length: number, options: NoiseOptions): Promise<void> {
  const params = prepareNoise(flux, rows, length, options);
  try {
    await native().augmentNoise(flux, options.rowMask ?? null, params);
  } catch (error) {
    throw nativeError('augmentNoise', error);
  }
}
