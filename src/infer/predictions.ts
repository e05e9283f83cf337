/**
 * The predictions file `astrospec classify` writes and `merge`, `report` and `evaluate` read:
 * one line per input row, in input order, columns exactly
 *   row, id, predicted, p_star, p_galaxy, p_qso, status
 * and, when the model has an out-of-distribution score (src/model/spec.ts OodSpec), `ood_score`
 * after them, then, when the model has a redshift head (src/model/spec.ts RedshiftHeadSpec), `z`
 * and `z_err` (empty for rows predicted star and rows without a prediction). `row` is the 0-based index of the spectrum in the whole input (so shards of one
 * input concatenate into the single-process file); `predicted` and the probabilities are empty
 * (CSV) or null (Arrow) when the row has no prediction: its `status` is neither 'ok' nor 'ood'
 * (classified, but ood_score is above the model's threshold). CSV or Arrow IPC (file format),
 * by extension.
 * Writers stream to a temporary name beside the target and rename it on close().
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { AstrospecError } from '../errors.js';
import { commitPartial, discardPartial, temporaryPath } from '../io/partial-files.js';
import { CsvBytes } from './csv-bytes.js';
import { appendPredictionLines } from './prediction-lines.js';
import { readPredictionsCsv, type PredictionTable } from './predictions-csv.js';

export type { PredictionTable } from './predictions-csv.js';

export { PREDICTION_COLUMNS, OOD_SCORE_COLUMN, REDSHIFT_COLUMNS, STATUS_OK, hasPrediction, predictionHeader, type PredictionColumns } from './predictions-csv.js';
import { hasPrediction, predictionHeader, type PredictionColumns } from './predictions-csv.js';

export type PredictionsFormat = 'csv' | 'arrow';

export function predictionsFormatOfPath(path: string): PredictionsFormat | undefined {
  const p = path.toLowerCase();
  if (p.endsWith('.csv')) return 'csv';
  if (p.endsWith('.arrow') || p.endsWith('.feather') || p.endsWith('.ipc')) return 'arrow';
  return undefined;
}

/** Predictions for consecutive input rows firstRow … firstRow + ids.length − 1. */
export interface PredictionRows {
  firstRow: number;
  ids: string[];
  /** ids.length × 3 in CLASS_NAMES order (star, galaxy, qso); ignored where status is not ok. */
  probabilities: Float32Array;
  status: string[];
  /** ids.length OOD scores, when the writer was created with oodScore (NaN where the row has no prediction). */
  oodScore?: Float32Array;
  /** ids.length redshifts and errors, when the writer was created with redshift (NaN: none, written empty). */
  z?: Float32Array;
  zErr?: Float32Array;
}

export interface PredictionWriter {
  readonly path: string;
  readonly rowsWritten: number;
  /** Counts of rows by status. */
  readonly statusCounts: Map<string, number>;
  write(rows: PredictionRows): Promise<void>;
  /** Flushes and renames the temporary file into place. */
  close(): Promise<void>;
  /** Removes the temporary file; the target is left untouched. */
  abort(): Promise<void>;
}



export abstract class BaseWriter implements PredictionWriter {
  rowsWritten = 0;
  readonly statusCounts = new Map<string, number>();
  constructor(
    readonly path: string,
    protected readonly temp: string,
    protected readonly columns: PredictionColumns = {},
  ) {}

  protected get oodScore(): boolean {
    return this.columns.oodScore === true;
  }

  protected get redshift(): boolean {
    return this.columns.redshift === true;
  }

  private expectedNext?: number;

  /** Rows must arrive contiguous and in order (the first batch may start anywhere: a shard). */
  protected check(rows: PredictionRows): number {
    const n = rows.ids.length;
    if (this.expectedNext !== undefined && rows.firstRow !== this.expectedNext) {
      throw new AstrospecError('BAD_ARGUMENT', `predictions out of order: row ${rows.firstRow} after row ${this.expectedNext - 1}`, { file: this.path });
    }
    if (rows.status.length !== n || rows.probabilities.length < 3 * n) throw new RangeError('PredictionRows: ids, status and probabilities disagree in length');
    if (this.oodScore && !(rows.oodScore && rows.oodScore.length >= n)) throw new RangeError('PredictionRows: the writer has an ood_score column but the rows have no scores');
    if (this.redshift && !(rows.z && rows.zErr && rows.z.length >= n && rows.zErr.length >= n)) throw new RangeError('PredictionRows: the writer has z columns but the rows have no redshifts');
    this.expectedNext = rows.firstRow + n;
    // Counted in runs of equal statuses (nearly every batch is one run of 'ok'): a Map update per row cost more.
    for (let i = 0; i < n; ) {
      const s = rows.status[i]!;
      let j = i + 1;
      while (j < n && rows.status[j] === s) j++;
      this.statusCounts.set(s, (this.statusCounts.get(s) ?? 0) + j - i);
      i = j;
    }
    return n;
  }

  abstract write(rows: PredictionRows): Promise<void>;
  abstract close(): Promise<void>;
  abstract abort(): Promise<void>;
}

async function endStream(stream: WriteStream): Promise<void> {
  if (stream.closed) return;
  stream.end();
  await once(stream, 'close');
}

/** Bytes of CSV lines collected before they go to the stream (an inference batch is ~4 KB). */
const CSV_FLUSH_BYTES = 1 << 18;

class CsvPredictionWriter extends BaseWriter {
  private readonly out: WriteStream;
  private error?: Error;
  private readonly pending = new CsvBytes(CSV_FLUSH_BYTES + (1 << 14));

  constructor(
    path: string,
    temp: string,
    private readonly shardLines?: ShardLines,
    columns: PredictionColumns = {},
  ) {
    super(path, temp, columns);
    this.out = createWriteStream(temp, { encoding: 'utf8' });
    this.out.on('error', (e) => (this.error = e));
    if (shardLines) this.out.write(`${shardLines.head}\n`);
    this.out.write(`${predictionHeader(columns).join(',')}\n`);
  }

  async write(rows: PredictionRows): Promise<void> {
    if (this.error) throw new AstrospecError('IO', this.error.message, { file: this.path }, { cause: this.error });
    const n = this.check(rows);
    const out = this.pending;
    appendPredictionLines(out, rows, n, this.columns);
    this.rowsWritten += n;
    if (out.length >= this.flushAt) {
      await this.flush();
      this.flushAt = CSV_FLUSH_BYTES;
    }
  }

  /**
   * The first batch goes to the stream at once (the file shows rows from the start), then every
   * ~256 KB. It also runs the flush path in the first call, before the loop above is optimised:
   * a path first taken after that was missing from the compiled code, which was thrown away and
   * compiled again (~50 ms of a compiler thread per 20 000 rows).
   */
  private flushAt = 0;

  /** Hands the collected lines to the stream: one write call per ~256 KB, not per batch. */
  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    if (!this.out.write(this.pending.take())) await once(this.out, 'drain');
  }

  async close(): Promise<void> {
    if (!this.error) await this.flush();
    // The end line goes last: its presence says the shard's file is complete.
    if (this.shardLines && !this.error) this.out.write(`${this.shardLines.end(this.rowsWritten)}\n`);
    await endStream(this.out);
    if (this.error) throw new AstrospecError('IO', this.error.message, { file: this.path }, { cause: this.error });
    await commitPartial(this.temp, this.path);
  }

  async abort(): Promise<void> {
    await endStream(this.out).catch(() => undefined);
    await discardPartial(this.temp);
  }
}

/** First and last line of a shard whose rows are numbered within it (src/infer/shard-output.ts). */
export interface ShardLines {
  head: string;
  end(rows: number): string;
}

export async function createPredictionWriter(
  path: string,
  options: { format?: PredictionsFormat; shardLines?: ShardLines; oodScore?: boolean; redshift?: boolean } = {},
): Promise<PredictionWriter> {
  const columns: PredictionColumns = { oodScore: options.oodScore, redshift: options.redshift };
  const format = options.format ?? predictionsFormatOfPath(path);
  if (!format) throw new AstrospecError('BAD_ARGUMENT', 'name the predictions file .csv, .arrow, .feather or .ipc', { file: path });
  if (options.shardLines && format !== 'csv') {
    throw new AstrospecError('BAD_ARGUMENT', 'a shard of a CSV input numbers its rows within the shard, for astrospec merge to join: write it as .csv', { file: path });
  }
  const temp = temporaryPath(path);
  if (format === 'csv') return new CsvPredictionWriter(path, temp, options.shardLines, columns);
  // apache-arrow is loaded only for Arrow predictions: a CSV run starts without it.
  return new (await import('./predictions-arrow.js')).ArrowPredictionWriter(path, temp, columns);
}

/** Reads a whole predictions file (CSV or Arrow) written by classify or merge. */
export async function readPredictions(path: string): Promise<PredictionTable> {
  const format = predictionsFormatOfPath(path);
  if (format === 'arrow') {
    // Through the checked reader: apache-arrow alone can hang or allocate gigabytes on a damaged file.
    return (await import('./predictions-arrow.js')).readPredictionsArrow(path);
  }
  return readPredictionsCsv(path);
}
