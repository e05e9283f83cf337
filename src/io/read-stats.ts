/**
 * What the readers have read, counted where they read it: bytes taken from files (file handles,
 * gzip input, whole FITS files; Arrow metadata included) and rows decoded into batches (CSV rows
 * parsed, Arrow rows converted, FITS spectra parsed). A shard of a split run should read about its
 * share of the bytes and decode exactly its rows; `classify` reports both for its run, the shard
 * tests and bench/shards.ts check them.
 *
 * The counters are per process (per thread) and only grow; take a snapshot before and after.
 */
export interface ReadStats {
  bytes: number;
  rows: number;
}

const totals: ReadStats = { bytes: 0, rows: 0 };

export function countBytesRead(bytes: number): void {
  totals.bytes += bytes;
}

export function countRowsDecoded(rows: number): void {
  totals.rows += rows;
}

export function readStats(): ReadStats {
  return { ...totals };
}

/** What was read since `since` (a snapshot from readStats()). */
export function readStatsSince(since: ReadStats): ReadStats {
  return { bytes: totals.bytes - since.bytes, rows: totals.rows - since.rows };
}
