import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../src/native/binding.js';
import { firstNonFinite } from '../src/io/finite.js';
import { firstNonFinite as firstNonFiniteTs } from '../src/io/columns.js';
import { Random } from '../src/synth/random.js';

const BAD = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];

/** The native scan, the wrapper the readers use and the TS reference agree on flux[from, to). */
function agree(flux: Float32Array, from = 0, to = flux.length): void {
  const expected = firstNonFiniteTs(flux, from, to);
  assert.equal(native().firstNonFiniteSync!(flux, from, to), expected, `native, [${from}, ${to}) of ${flux.length}`);
  assert.equal(firstNonFinite(flux, from, to), expected, `wrapper, [${from}, ${to}) of ${flux.length}`);
}

test('the addon has the native scan', () => {
  assert.equal(typeof native().firstNonFiniteSync, 'function');
});

test('native finiteness scan: ordinary, extreme and empty inputs', () => {
  agree(new Float32Array(0));
  agree(Float32Array.from({ length: 2600 }, (_, i) => Math.sin(i) * 1e-3));
  // Zeros of both signs, denormals, the largest and smallest normal floats are all finite.
  agree(Float32Array.from([0, -0, 1e-45, -1e-45, 3.4028234663852886e38, -3.4028234663852886e38, 1.1754943508222875e-38]));
});

test('native finiteness scan: NaN and ±Inf at every kind of position, odd lengths, unaligned starts', () => {
  for (const length of [1, 3, 1023, 1024, 1025, 4097]) {
    for (const at of [0, 1, length >> 1, length - 1]) {
      for (const bad of BAD) {
        const flux = new Float32Array(length).fill(0.5);
        flux[at] = bad;
        if (at + 1 < length) flux[length - 1] = bad; // a later one must not win
        agree(flux);
        agree(flux, Math.min(at + 1, length)); // starting after it
        agree(flux, 0, at); // ending before it
        // A view starting at an odd float offset of a larger buffer.
        const big = new Float32Array(length + 3);
        big.set(flux, 3);
        agree(big.subarray(3));
      }
    }
  }
});

test('native finiteness scan: random inputs', () => {
  const rng = new Random(11);
  for (let k = 0; k < 200; k++) {
    const length = Math.floor(rng.uniform() * 6000);
    const flux = Float32Array.from({ length }, () => (rng.uniform() - 0.5) * 1e6);
    if (length > 0 && rng.uniform() < 0.7) flux[Math.floor(rng.uniform() * length)] = BAD[k % 3]!;
    const from = Math.floor(rng.uniform() * (length + 1));
    const to = from + Math.floor(rng.uniform() * (length - from + 1));
    agree(flux, from, to);
  }
});

test('native finiteness scan refuses a range outside the array', () => {
  const flux = new Float32Array(10);
  assert.throws(() => native().firstNonFiniteSync!(flux, 0, 11), /firstNonFiniteSync: from and to/);
  assert.throws(() => native().firstNonFiniteSync!(flux, 5, 4), /firstNonFiniteSync: from and to/);
  assert.throws(() => native().firstNonFiniteSync!(flux, 0.5, 4), /firstNonFiniteSync: from and to/);
});
