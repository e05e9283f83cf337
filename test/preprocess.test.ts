import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AstrospecError } from '../src/errors.js';
import type { SpectrumBatch, WavelengthGrid } from '../src/io/batch.js';
import { COMPETITION_GRID } from '../src/io/batch.js';
import type { Normalisation } from '../src/model/spec.js';
import { native } from '../src/native/binding.js';
import type { IsaName } from '../src/native/binding.js';
import {
  augmentNoise,
  augmentNoiseAsync,
  FEATURE_NAMES,
  FLAG_DEGENERATE_SCALE,
  FLAG_NO_VALID_PIXELS,
  FLAG_NO_WIEN_FIT,
  preprocess,
  preprocessSync,
  WIEN_C2_NM_K,
} from '../src/preprocess/index.js';
import type { PreprocessOptions } from '../src/preprocess/index.js';
import {
  augmentNoiseReference,
  isValidFlux,
  preprocessReference,
  savgolCoefficients,
  wienFitReference,
} from '../src/preprocess/reference.js';

// ---------------------------------------------------------------------------------------------
// Fixtures

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** Planck-like continuum (Wien factor × Rayleigh–Jeans correction) × noise, with lines. */
function spectrumLike(n: number, grid: WavelengthGrid, rand: () => number): Float32Array {
  const row = new Float32Array(n);
  const t = 3000 + rand() * 25000;
  const scale = 10 ** (rand() * 20 - 17);
  const noise = rand() * 0.2;
  for (let i = 0; i < n; i++) {
    const lambda = (grid.start + grid.step * i) / 10;
    const planck = lambda ** -5 / Math.expm1(WIEN_C2_NM_K / (lambda * t));
    row[i] = scale * 1e20 * planck * (1 + noise * (rand() - 0.5));
  }
  for (let k = Math.floor(rand() * 4); k > 0; k--) {
    const centre = Math.floor(rand() * n);
    const strength = rand() < 0.5 ? 0.6 : 3;
    for (let i = Math.max(0, centre - 3); i < Math.min(n, centre + 4); i++) row[i] = row[i]! * strength;
  }
  return row;
}

/** Rows that have broken implementations before: masks, signs, extremes. */
function adversarialRows(n: number, grid: WavelengthGrid, rand: () => number): Float32Array[] {
  const rows: Float32Array[] = [];
  const make = (f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
  const base = spectrumLike(n, grid, rand);
  rows.push(make(() => 0)); // all zero
  rows.push(make(() => NaN)); // all NaN
  rows.push(make((i) => (i % 3 === 0 ? Infinity : i % 3 === 1 ? -Infinity : NaN)));
  rows.push(make((i) => (i > n / 4 && i < n / 2 ? NaN : base[i]!))); // a NaN run
  rows.push(make((i) => (i % 5 === 0 ? 0 : base[i]!))); // zeroed pixels
  rows.push(make((i) => -Math.abs(base[i]!))); // negative flux only
  rows.push(make((i) => base[i]! * (i % 2 === 0 ? 1 : -0.3))); // mixed signs
  rows.push(make((i) => (i === Math.floor(n / 2) ? 5 : 0))); // a single valid pixel
  rows.push(make((i) => (i === 0 || i === n - 1 ? 2 + i : 0))); // two pixels
  rows.push(make(() => 7.5)); // constant: minmax is degenerate
  rows.push(make((i) => 10 ** (((i * 37) % 61) - 30))); // huge dynamic range, 1e-30 … 1e30
  rows.push(make((i) => (i % 2 === 0 ? 1e-40 : 3e38))); // subnormals (masked) and near-overflow
  rows.push(make((i) => (i % 7 === 0 ? 1 : i % 7 === 1 ? -1 : 0))); // sums to ~0
  rows.push(make((i) => base[i]! * (1 + 1e-6 * i) + 1e4)); // large mean, small spread
  return rows;
}

function batchOf(rows: Float32Array[], grid: WavelengthGrid, extraOffset = 0): SpectrumBatch {
  // extraOffset > 0 places the flux at an odd element offset inside a larger buffer.
  const n = grid.length;
  const storage = new Float32Array(rows.length * n + extraOffset + 3);
  const flux = storage.subarray(extraOffset, extraOffset + rows.length * n);
  rows.forEach((r, k) => flux.set(r, k * n));
  return { ids: rows.map((_, k) => `r${k}`), flux, grid, firstRow: 0 };
}

function supportedIsas(): IsaName[] {
  return native().info().supportedIsas;
}

function withIsa<T>(isa: IsaName, fn: () => T): T {
  const before = native().info().isa;
  assert.equal(native().setIsa(isa), true);
  try {
    return fn();
  } finally {
    native().setIsa(before);
  }
}

// ---------------------------------------------------------------------------------------------
// Comparison with the reference, to stated tolerances:
//   flux: |Δ| ≤ 1e-5 · max|row| (float32 sums and Savitzky–Golay in float; minmax × M/range)
//   mean, std: relative 1e-5
//   Wien: slope c₂/T in u units to 1e-4 relative + 2e-5, ln A to 1e-4·(1 + |ln A|), R² to 1e-4,
//         RMS to 1e-3 relative + 1e-5, pixel count and flags exactly.

function close(a: number, b: number, abs: number, rel: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= abs + rel * Math.abs(b);
}

function compareWithReference(batch: SpectrumBatch, options: PreprocessOptions, label: string): void {
  const rows = batch.ids.length;
  const got = preprocessSync(batch, options);
  const want = preprocessReference(batch.flux, rows, batch.grid, options, batch.badPixels);
  assert.equal(got.length, want.length, `${label}: length`);
  const x0 = 10 / batch.grid.start;
  const x1 = 10 / (batch.grid.start + batch.grid.step * (batch.grid.length - 1));
  const xScale = x0 > x1 ? 2 / (x0 - x1) : 1;
  // minmax divides by the range: float32 rounding of values of magnitude M then shows up
  // multiplied by M / range, so its tolerance is scaled by that (from the unnormalised series).
  const raw = options.normalisation === 'minmax'
    ? preprocessReference(batch.flux, rows, batch.grid, { ...options, normalisation: 'none', features: false }, batch.badPixels)
    : undefined;
  for (let r = 0; r < rows; r++) {
    const where = `${label}, row ${r}`;
    assert.equal(got.flags[r], want.flags[r], `${where}: flags`);
    let scale = 0;
    for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want.flux[r * want.length + i]!));
    if (raw) {
      const series = raw.flux.subarray(r * raw.length, (r + 1) * raw.length).filter((v) => v !== 0);
      const range = Math.max(...series) - Math.min(...series);
      const magnitude = Math.max(...series.map(Math.abs));
      if (range > 0) scale *= Math.max(1, magnitude / range);
    }
    for (let i = 0; i < want.length; i++) {
      const a = got.flux[r * want.length + i]!;
      const b = want.flux[r * want.length + i]!;
      assert.ok(Math.abs(a - b) <= 1e-5 * scale, `${where}, pixel ${i}: flux ${a} vs reference ${b}`);
    }
    if (options.features === false) {
      assert.equal(got.features, undefined);
      continue;
    }
    const f = (k: number) => got.features![r * FEATURE_NAMES.length + k]!;
    const g = (k: number) => want.features![r * FEATURE_NAMES.length + k]!;
    const msg = (k: number) => `${where}: ${FEATURE_NAMES[k]} ${f(k)} vs reference ${g(k)}`;
    assert.ok(close(f(0), g(0), 0, 1e-5), msg(0));
    assert.ok(close(f(1), g(1), 1e-30, 1e-5), msg(1));
    // Slope of the line in u (which spans [-1, 1]): float32 ln-flux limits it to ~2e-5 absolute.
    const slope = (t: number) => WIEN_C2_NM_K / t / xScale;
    assert.ok(close(slope(f(2)), slope(g(2)), 2e-5, 1e-4), msg(2));
    assert.ok(close(f(3), g(3), 1e-4 * (1 + Math.abs(g(3))), 0), msg(3));
    assert.ok(close(f(4), g(4), 1e-4, 0), msg(4));
    assert.ok(close(f(5), g(5), 1e-5, 1e-3), msg(5));
    assert.equal(f(6), g(6), msg(6));
  }
}

const NORMALISATIONS: Normalisation[] = ['l2', 'sum', 'minmax', 'median', 'none'];

test('native matches the reference on spectrum-like and adversarial rows, for every ISA', () => {
  const rand = rng(42);
  const grid = COMPETITION_GRID;
  const rows = [...adversarialRows(grid.length, grid, rand)];
  for (let k = 0; k < 16; k++) rows.push(spectrumLike(grid.length, grid, rand));
  const batch = batchOf(rows, grid, 1);
  const optionSets: PreprocessOptions[] = [
    ...NORMALISATIONS.map((normalisation) => ({ normalisation })),
    { normalisation: 'l2', robust: true },
    { normalisation: 'l2', bin: 4 },
    // classify's default model: binning reads the raw row itself (no mask, smoothing or features).
    { normalisation: 'l2', bin: 4, features: false },
    { normalisation: 'median', smoothWindow: 7, bin: 3 },
    { normalisation: 'minmax', smoothWindow: 5 },
    { normalisation: 'sum', bin: 7, features: false },
    { normalisation: 'none', smoothWindow: 9, bin: 2, robust: true },
  ];
  for (const isa of supportedIsas()) {
    withIsa(isa, () => {
      for (const options of optionSets) compareWithReference(batch, options, `${isa} ${JSON.stringify(options)}`);
    });
  }
});

test('odd lengths, lengths below a vector, unaligned offsets and bad-pixel masks, for every ISA', () => {
  const rand = rng(7);
  for (const length of [1, 3, 7, 15, 17, 31, 33, 101, 2601]) {
    const grid = { start: 3800, step: 2, length };
    const rows = adversarialRows(length, grid, rand);
    for (let k = 0; k < 4; k++) rows.push(spectrumLike(length, grid, rand));
    for (const offset of [0, 1, 3]) {
      const batch = batchOf(rows, grid, offset);
      batch.badPixels = Uint8Array.from({ length: batch.flux.length }, () => (rand() < 0.05 ? 1 : 0));
      for (const isa of supportedIsas()) {
        withIsa(isa, () => {
          compareWithReference(batch, { normalisation: 'l2', robust: true }, `${isa} L=${length} +${offset}`);
          if (length >= 7) {
            compareWithReference(batch, { normalisation: 'median', smoothWindow: 7, bin: 2 }, `${isa} L=${length} +${offset} smooth`);
          }
          // Bins of 2 and 4 have their own shuffle path (native/kernels/simd/preprocess.cpp bin_series).
          if (length >= 4) {
            compareWithReference(batch, { normalisation: 'l2', bin: 4, features: false }, `${isa} L=${length} +${offset} bin 4`);
            compareWithReference({ ...batch, badPixels: undefined }, { normalisation: 'l2', bin: 4, features: false }, `${isa} L=${length} +${offset} bin 4 unmasked`);
          }
        });
      }
    }
  }
});

test('cool continua, whose first pixels are far fainter than the rest, keep the fit precise, for every ISA', () => {
  // The kernels scale each row by a power of two taken from its first valid pixels, before the
  // rest is read; here that scale is off by up to ~10⁴, the case the fit's float sums like least.
  const rand = rng(13);
  const grid = COMPETITION_GRID;
  const cool = (noise: number) => Array.from({ length: 24 }, (_, k) => {
    const t = 1800 + 150 * k;
    return Float32Array.from({ length: grid.length }, (_, i) => {
      const lambda = (grid.start + grid.step * i) / 10;
      return 1e12 * lambda ** -5 * Math.exp(-WIEN_C2_NM_K / (lambda * t)) * (1 + noise * (1 + (k % 4)) * (rand() - 0.5));
    });
  });
  // Exact and noisy rows; the robust refit only on noisy ones (on an exact row its 3σ clip
  // picks pixels by float rounding).
  const exact = batchOf(cool(0), grid);
  const noisy = batchOf(cool(0.05), grid);
  for (const isa of supportedIsas()) {
    withIsa(isa, () => {
      compareWithReference(exact, { normalisation: 'l2' }, `${isa} cool, exact`);
      compareWithReference(noisy, { normalisation: 'l2' }, `${isa} cool, noisy`);
      compareWithReference(noisy, { normalisation: 'minmax', robust: true }, `${isa} cool, noisy, robust`);
    });
  }
});

test('flags: no valid pixels, no fit, degenerate scale', () => {
  const grid = { start: 3800, step: 2, length: 64 };
  const rows = [
    new Float32Array(64), // nothing valid
    Float32Array.from({ length: 64 }, (_, i) => -1 - i), // valid, no positive pixel
    new Float32Array(64).fill(3), // constant
  ];
  const out = preprocessSync(batchOf(rows, grid), { normalisation: 'minmax' });
  assert.deepEqual(Array.from(out.flags), [FLAG_NO_VALID_PIXELS, FLAG_NO_WIEN_FIT, FLAG_DEGENERATE_SCALE]);
  const f = out.features!;
  const n = FEATURE_NAMES.length;
  assert.ok(f.subarray(0, n - 1).every(Number.isNaN));
  assert.equal(f[n - 1], 0);
  assert.ok(Number.isFinite(f[n]!) && Number.isNaN(f[n + 2]!));
  assert.ok(out.flux.subarray(0, 64).every((v) => v === 0));
  assert.ok(out.flux.subarray(128).every((v) => v === 0));
});

test('the Wien fit recovers the temperature and amplitude of an exact Wien spectrum', () => {
  const grid = COMPETITION_GRID;
  for (const t of [3500, 6000, 12000]) {
    const lnA = 30;
    const row = Float32Array.from({ length: grid.length }, (_, i) => {
      const lambda = (grid.start + grid.step * i) / 10;
      return Math.exp(lnA - 5 * Math.log(lambda) - WIEN_C2_NM_K / (lambda * t));
    });
    const reference = wienFitReference(row, undefined, grid, false);
    assert.ok(Math.abs(reference.temperature / t - 1) < 1e-5, `reference T ${reference.temperature}`);
    const out = preprocessSync(batchOf([row], grid), { normalisation: 'l2' });
    const f = out.features!;
    assert.ok(Math.abs(f[2]! / t - 1) < 1e-4, `native T ${f[2]} for ${t}`);
    assert.ok(Math.abs(f[3]! - lnA) < 1e-3, `native ln A ${f[3]}`);
    assert.ok(f[4]! > 0.9999 && f[5]! < 1e-4, `R² ${f[4]}, rms ${f[5]}`);
    assert.equal(f[6], grid.length);
  }
});

test('the robust refit drops emission lines and gets the temperature back', () => {
  const grid = COMPETITION_GRID;
  const t = 7000;
  const row = Float32Array.from({ length: grid.length }, (_, i) => {
    const lambda = (grid.start + grid.step * i) / 10;
    const continuum = Math.exp(-5 * Math.log(lambda) - WIEN_C2_NM_K / (lambda * t)) * 1e15;
    return i % 300 < 3 ? continuum * 4 : continuum; // strong lines, 3 pixels every 300
  });
  const plain = preprocessSync(batchOf([row], grid), { normalisation: 'l2' }).features!;
  const robust = preprocessSync(batchOf([row], grid), { normalisation: 'l2', robust: true }).features!;
  assert.ok(Math.abs(robust[2]! / t - 1) < 1e-3, `robust T ${robust[2]}`);
  assert.ok(Math.abs(robust[2]! / t - 1) < Math.abs(plain[2]! / t - 1), 'robust is closer than plain');
  assert.ok(robust[6]! < plain[6]!, 'robust used fewer pixels');
  assert.ok(robust[4]! > plain[4]!, 'robust R² is higher');
});

test('Savitzky–Golay coefficients: the textbook window-7 quadratic', () => {
  const c = savgolCoefficients(7, 3);
  const want = [-2, 3, 6, 7, 6, 3, -2].map((v) => v / 21);
  c.forEach((v, k) => assert.ok(Math.abs(v - want[k]!) < 1e-12));
  // Edge fits reproduce a quadratic exactly.
  const q = (x: number) => 2 - 0.5 * x + 0.25 * x * x;
  for (let t = 0; t < 7; t++) {
    const e = savgolCoefficients(7, t);
    let s = 0;
    for (let k = 0; k < 7; k++) s += e[k]! * q(k);
    assert.ok(Math.abs(s - q(t)) < 1e-10);
  }
});

test('normalisations have their defining property after smoothing and binning', () => {
  const rand = rng(3);
  const rows = Array.from({ length: 4 }, () => spectrumLike(2600, COMPETITION_GRID, rand));
  const batch = batchOf(rows, COMPETITION_GRID);
  const base = { smoothWindow: 7, bin: 4 };
  const l2 = preprocessSync(batch, { normalisation: 'l2', ...base });
  const sum = preprocessSync(batch, { normalisation: 'sum', ...base });
  const minmax = preprocessSync(batch, { normalisation: 'minmax', ...base });
  assert.equal(l2.length, 650);
  for (let r = 0; r < 4; r++) {
    const row = (o: { flux: Float32Array; length: number }) => o.flux.subarray(r * o.length, (r + 1) * o.length);
    assert.ok(Math.abs(Math.hypot(...row(l2)) - 1) < 1e-5);
    assert.ok(Math.abs(row(sum).reduce((a, b) => a + b, 0) - 1) < 1e-4);
    assert.equal(Math.min(...row(minmax)), 0);
    assert.ok(Math.abs(Math.max(...row(minmax)) - 1) < 1e-6);
  }
});

test('async equals sync, threads do not change the result, in place and out buffers work', async () => {
  const rand = rng(11);
  const rows = Array.from({ length: 37 }, () => spectrumLike(2600, COMPETITION_GRID, rand));
  const batch = batchOf(rows, COMPETITION_GRID);
  const options: PreprocessOptions = { normalisation: 'l2', robust: true };
  const one = preprocessSync(batch, { ...options, threads: 1 });
  const two = await preprocess(batch, { ...options, threads: 2 });
  const many = await preprocess(batch, { ...options, threads: 5 });
  for (const other of [two, many]) {
    assert.deepEqual(other.flux, one.flux);
    assert.deepEqual(other.features, one.features);
    assert.deepEqual(other.flags, one.flags);
  }
  const out = new Float32Array(one.flux.length);
  assert.equal(preprocessSync(batch, { ...options, out }).flux, out);
  assert.deepEqual(out, one.flux);
  const copy = batchOf(rows, COMPETITION_GRID);
  const inPlace = await preprocess(copy, { ...options, out: copy.flux });
  assert.equal(inPlace.flux, copy.flux);
  assert.deepEqual(copy.flux, one.flux);
  assert.deepEqual(inPlace.features, one.features);
});

test('bad options are rejected with BAD_ARGUMENT before reaching native code', () => {
  const batch = batchOf([new Float32Array(16).fill(1)], { start: 3800, step: 2, length: 16 });
  const bad: Partial<PreprocessOptions>[] = [
    { normalisation: 'l3' as Normalisation },
    { normalisation: 'l2', bin: 0 },
    { normalisation: 'l2', bin: 1.5 },
    { normalisation: 'l2', bin: 17 },
    { normalisation: 'l2', smoothWindow: 4 },
    { normalisation: 'l2', smoothWindow: 19 },
    { normalisation: 'l2', threads: -1 },
    { normalisation: 'l2', out: new Float32Array(3) },
    { normalisation: 'l2', bin: 2, out: batch.flux.subarray(0, 8) },
  ];
  for (const options of bad) {
    assert.throws(() => preprocessSync(batch, options as PreprocessOptions), (e: unknown) => e instanceof AstrospecError && e.code === 'BAD_ARGUMENT', JSON.stringify(options));
  }
  const ragged = { ...batch, flux: new Float32Array(15) };
  assert.throws(() => preprocessSync(ragged, { normalisation: 'l2' }), /expected 1 rows × 16 pixels/);
});

test('noise augmentation matches the reference, is deterministic and respects masks, for every ISA', async () => {
  const rand = rng(5);
  const length = 2603;
  const rows = 9;
  const source = new Float32Array(rows * length);
  for (let r = 0; r < rows; r++) source.set(spectrumLike(length, { start: 3800, step: 2, length }, rand), r * length);
  source.fill(NaN, 100, 140);
  source.fill(0, length + 5, length + 50);
  const rowMask = Uint8Array.from({ length: rows }, (_, r) => (r % 3 === 2 ? 0 : 1));
  const options = { snr: [5, 50] as [number, number], seed: 1234, rowMask };
  const want = source.slice();
  augmentNoiseReference(want, rows, length, options);
  for (const isa of supportedIsas()) {
    const got = source.slice();
    withIsa(isa, () => augmentNoise(got, rows, length, options));
    for (let r = 0; r < rows; r++) {
      let scale = 0;
      for (let i = 0; i < length; i++) if (isValidFlux(source[r * length + i]!)) scale = Math.max(scale, Math.abs(source[r * length + i]!));
      for (let i = 0; i < length; i++) {
        const k = r * length + i;
        if (!isValidFlux(source[k]!) || !rowMask[r]) {
          assert.ok(Object.is(got[k], source[k]), `${isa} row ${r} pixel ${i} must be untouched`);
        } else {
          assert.ok(Math.abs(got[k]! - want[k]!) <= 1e-5 * scale, `${isa} row ${r} pixel ${i}: ${got[k]} vs ${want[k]}`);
        }
      }
    }
  }
  const a = source.slice();
  const b = source.slice();
  augmentNoise(a, rows, length, { ...options, threads: 1 });
  await augmentNoiseAsync(b, rows, length, { ...options, threads: 3 });
  assert.deepEqual(a, b);
  const c = source.slice();
  augmentNoise(c, rows, length, { ...options, seed: 1235 });
  assert.notDeepEqual(a, c);
});

test('noise has the requested S/N and no bias', () => {
  const length = 20000;
  const flux = new Float32Array(length).fill(2);
  augmentNoise(flux, 1, length, { snr: 10, seed: 99 });
  let mean = 0;
  for (const v of flux) mean += v / length;
  let variance = 0;
  for (const v of flux) variance += (v - mean) ** 2 / length;
  // σ = 2 / 10 = 0.2; with 20 000 samples the sample σ is within 2% and the mean within 0.01.
  assert.ok(Math.abs(Math.sqrt(variance) / 0.2 - 1) < 0.02, `σ ${Math.sqrt(variance)}`);
  assert.ok(Math.abs(mean - 2) < 0.01, `mean ${mean}`);
  assert.throws(() => augmentNoise(flux, 1, length, { snr: 0, seed: 1 }), /snr must be a positive number/);
  assert.throws(() => augmentNoise(flux, 1, length, { snr: 5, seed: -1 }), /seed must be an integer/);
});
