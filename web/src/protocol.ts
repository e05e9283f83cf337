/** Messages between the page (main.ts) and its classification worker (worker.ts). */
import type { WavelengthGrid } from '../../src/io/batch.js';

export interface NamedFile {
  name: string;
  blob: Blob;
}

export type WorkerRequest =
  /** Classify these files (one table, in order) with the model at modelUrl. */
  | { type: 'classify'; files: NamedFile[]; modelUrl: string }
  /** Send the spectrum of input row `row` (0-based) of the last classified input, for the plot. */
  | { type: 'spectrum'; row: number };

export type WorkerReply =
  | { type: 'model'; seconds: number; outputs: string[]; threads: number }
  | { type: 'start'; format: string; bytes: number }
  | {
      type: 'rows';
      firstRow: number;
      ids: string[];
      /** rows × 3: p_star, p_galaxy, p_qso (NaN where status is not ok). */
      probabilities: Float32Array;
      status: string[];
      /** Class index per row from the input (−1 none); absent when the input has no labels. */
      labels?: Int8Array;
      /** Other model outputs, one column per value: name (or name[k]) → rows values. */
      extras: Record<string, Float32Array>;
    }
  | { type: 'progress'; rows: number; bytesRead: number; bytes: number }
  | { type: 'done'; rows: number; seconds: number }
  /** The one message for the user (an AstrospecError's text: file, row, column); `during` says which request failed. */
  | { type: 'error'; message: string; code?: string; during: 'classify' | 'spectrum' }
  | { type: 'spectrum'; row: number; id: string; grid: WavelengthGrid; flux: Float32Array; badPixels?: Uint8Array };
