/**
 * The NaN/±Inf check of the Node readers and sinks, in the addon (native/kernels/finite.cpp): the
 * pure-TS scan in ./columns.ts (which the browser build uses) took ~5 µs of classify's ~30 µs
 * of pipeline CPU per 2600-pixel spectrum; the native pass reads the values in place at memory
 * speed. Without the addon, or with one built before the scan existed, the TS scan runs.
 */
import { native } from '../native/binding.js';
import { firstNonFinite as firstNonFiniteTs } from './columns.js';

let scan: ((values: Float32Array, from: number, to: number) => number) | null | undefined;

function nativeScan(): typeof scan {
  if (scan === undefined) {
    try {
      scan = native().firstNonFiniteSync ?? null;
    } catch {
      scan = null; // readers work without the addon; whatever needs it reports why it can't load
    }
  }
  return scan;
}

/** Index of the first NaN/±Inf in flux[from, to), or −1 (the same answer as ./columns.ts firstNonFinite). */
export function firstNonFinite(flux: Float32Array, from = 0, to = flux.length): number {
  const fast = nativeScan();
  return fast ? fast(flux, from, to) : firstNonFiniteTs(flux, from, to);
}
