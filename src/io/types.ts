/**
 * Reader and writer contracts shared by every format (CSV, Arrow/Feather, FITS).
 * Readers stream fixed-size batches; writers stream batches to a temporary file and rename it
 * into place only on close(), so an interrupted or failed run never leaves a file that looks complete.
 */
import type { SpectrumBatch, WavelengthGrid } from './batch.js';

export type SpectraFormat = 'csv' | 'arrow' | 'fits';

export interface ReadOptions {
  /** Rows per yielded batch (the last may be shorter). Default 1024. */
  batchSize?: number;
  /** Target grid for sources that must be resampled (FITS). Default COMPETITION_GRID. */
  grid?: WavelengthGrid;
  /** Native parser threads (CSV). Default: all cores. */
  threads?: number;
}

export interface SpectraSource {
  /** What was opened (a file or a folder). */
  path: string;
  format: SpectraFormat;
  grid: WavelengthGrid;
  /** True when rows carry star/galaxy/qso labels. */
  hasLabels: boolean;
  /** Number of rows if known without reading everything (Arrow, FITS folders), else undefined. */
  rowCount?: number;
  /** Total bytes of the input, for progress and MB/s. */
  byteLength: number;
  /**
   * Counts the rows by scanning the input when `rowCount` is not known up front (CSV: one pass
   * over the bytes counting line ends, no number parsing). Resolves to `rowCount` when it is set.
   */
  countRows?(): Promise<number>;
  /** Streams the rows in order. Each call starts from the beginning. */
  batches(): AsyncIterable<SpectrumBatch>;
  close(): Promise<void>;
}

/** A numeric per-row column written next to the spectra (e.g. preprocessing features). */
export interface ExtraColumn {
  name: string;
}

export interface WriteOptions {
  grid: WavelengthGrid;
  hasLabels: boolean;
  /** Names of extra float32 columns; each written batch then carries `extra[name]` per row. */
  extraColumns?: string[];
}

export interface SpectraSink {
  path: string;
  /** `extra` holds one Float32Array (batch rows long) per WriteOptions.extraColumns name. */
  write(batch: SpectrumBatch, extra?: Record<string, Float32Array>): Promise<void>;
  /** Flushes, then renames the temporary file to `path`. */
  close(): Promise<void>;
  /** Removes the temporary file; `path` is left untouched. */
  abort(): Promise<void>;
  readonly rowsWritten: number;
}
