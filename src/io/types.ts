/**
 * Reader and writer contracts shared by every format (CSV, Arrow/Feather, FITS).
 * Readers stream fixed-size batches; writers stream batches to a temporary file and rename it
 * into place only on close(), so an interrupted or failed run never leaves a file that looks complete.
 */
import type { SpectrumBatch, WavelengthGrid } from './batch.js';

export type SpectraFormat = 'csv' | 'arrow' | 'fits';

/** The part of a dataset a shard reads (src/io/dataset.ts). */
export interface SourceSlice {
  shard: { index: number; count: number };
  /**
   * 'rows': global rows [begin, end) of totalRows, numbered globally. 'bytes': the rows whose
   * first byte lies in bytes [from, to) of the files laid end to end (totalBytes), numbered from 0
   * within the shard; merge numbers them globally.
   */
  split: 'rows' | 'bytes';
  begin?: number;
  end?: number;
  totalRows?: number;
  bytes?: [number, number];
  totalBytes?: number;
  /** A "bytes" split's dataset: a hash of its files' paths, sizes and modification times. */
  fingerprint?: string;
  /** One line for each file that can't be split as asked (a .csv.gz), for the user. */
  notes: string[];
}

export interface ReadOptions {
  /** Rows per yielded batch (the last may be shorter). Default 1024. */
  batchSize?: number;
  /**
   * Target grid for sources that must be resampled (FITS), and the grid of tabular files that
   * number their pixels without one (CSV, pandas Feather; its length must match). Default
   * COMPETITION_GRID (with the file's pixel count for tabular files).
   */
  grid?: WavelengthGrid;
  /** Target grid for FITS only, taking precedence over `grid` there; tabular files keep their own. */
  resampleGrid?: WavelengthGrid;
  /** Native parser threads (CSV). Default: all cores. */
  threads?: number;
  /**
   * The caller is done with each batch's flux (and every view of it) before it asks for the next
   * batch, so a reader may read into the same memory again. Arrow: one buffer for all record
   * batches instead of a fresh one (~10 MB) each, whose allocation and collection cost classify
   * more than reading them. CSV: one flux array for every batch. Default false: a batch stays
   * valid as long as it is referenced.
   */
  reuseBuffers?: boolean;
  /**
   * Arrow: a batch never spans two record batches. Where one ends, a shorter batch is yielded (a
   * view of that record batch's flux), instead of rows of both copied into a batch of
   * batchSize; and batches end at multiples of batchSize from the first row read, so the next
   * one fills up to such a multiple. For callers that gather rows themselves (classify fills
   * fixed-size inference batches from these pieces, none of which it has to cut). Other formats
   * ignore it.
   */
  splitAtRecordBatches?: boolean;
  /**
   * Batches carry only the flux, ids and labels, for callers that use nothing else (classify: a
   * catalogue's ra, dec, S/N… cost a copy and, for text, a string per row and column). Arrow: the
   * other columns are still checked like every column, but not copied out. CSV: their cells are
   * not read (a line must still have every field). FITS ignores it.
   */
  spectraOnly?: boolean;
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
  /** Set when the source is one shard of a larger input (ReadOptions `shard`, src/io/dataset.ts). */
  readonly slice?: SourceSlice;
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
