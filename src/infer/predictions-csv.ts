/**
 * Line-level access to the predictions CSV that `astrospec classify` writes
 * (`row,id,predicted,p_star,p_galaxy,p_qso,status`). `astrospec merge` streams shards line by
 * line and only needs the `row` cell of each line, so it reads them here rather than parsing
 * whole tables.
 */
import { AstrospecError } from '../errors.js';
import { CLASS_NAMES } from '../io/batch.js';
import { splitCsvLine, textLines } from '../io/csv-lines.js';
import { endsWithNewline, SHARD_LINE_PREFIX, shardLocalError } from './shard-output.js';

/** Parses a `row` cell: a non-negative integer written in decimal. */
export function parseRowIndex(text: string, where: { file: string; row: number }): number {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) throw new AstrospecError('BAD_INPUT', `row index "${text}" is not a non-negative integer`, { ...where, column: 'row' });
  const value = Number(trimmed);
  if (!Number.isSafeInteger(value)) throw new AstrospecError('BAD_INPUT', `row index ${trimmed} is too large`, { ...where, column: 'row' });
  return value;
}


/** Predictions of one classify run, in file order. */
export interface PredictionTable {
  file: string;
  /** 0-based index of each line's spectrum in the classified input. */
  rows: number[];
  ids: string[];
  /** Class index into CLASS_NAMES, −1 where status is not ok. */
  predicted: Int8Array;
  /** rows × 3 (p_star, p_galaxy, p_qso); NaN where status is not ok. */
  probabilities: Float32Array;
  /** 'ok', 'ood' (classified, but unlike the validation spectra) or the reason the row was not classified. */
  status: string[];
  /** The ood_score column, when the file has one (NaN where the row has no prediction). */
  oodScore?: Float32Array;
  /** The z and z_err columns, when the file has them (NaN where the row has none: a star, or no prediction). */
  z?: Float32Array;
  zErr?: Float32Array;
}

/** The columns of a predictions file, in order. */
export const PREDICTION_COLUMNS = ['row', 'id', 'predicted', 'p_star', 'p_galaxy', 'p_qso', 'status'] as const;
/** The column after them when the model has an out-of-distribution score. */
export const OOD_SCORE_COLUMN = 'ood_score';
/** The columns after those when the model has a redshift head: empty for rows predicted star. */
export const REDSHIFT_COLUMNS = ['z', 'z_err'] as const;
export const STATUS_OK = 'ok';
export const STATUS_OOD = 'ood';

/** The optional columns of a predictions file. */
export interface PredictionColumns {
  oodScore?: boolean;
  redshift?: boolean;
}

/** The header of a predictions file with these optional columns. */
export function predictionHeader(columns: PredictionColumns): string[] {
  return [...PREDICTION_COLUMNS, ...(columns.oodScore ? [OOD_SCORE_COLUMN] : []), ...(columns.redshift ? REDSHIFT_COLUMNS : [])];
}

/** Whether a row with this status has a predicted class and probabilities ('ok' and 'ood'). */
export function hasPrediction(status: string): boolean {
  // Both comparisons always run (no ||): one skipped until the first 'ood' row has no type
  // feedback, and the optimised loops that inline this were thrown away and compiled again there.
  const ok = status === 'ok';
  const ood = status === STATUS_OOD;
  return ok || ood;
}

/** Parses an ood_score cell as written (a number, or inf). */
export function parseOodScore(text: string): number {
  const t = text.trim();
  if (t === 'inf') return Number.POSITIVE_INFINITY;
  return t === '' ? Number.NaN : Number(t);
}

/** Parses a z or z_err cell: a finite number, or empty (NaN). */
function parseRedshiftCell(text: string, where: { file: string; row: number }, column: string, min: number): number {
  const t = text.trim();
  if (t === '') return Number.NaN;
  const v = Number(t);
  if (!Number.isFinite(v) || v < min) throw new AstrospecError('BAD_INPUT', `${column} "${text}" is not a number ≥ ${min}`, { ...where, column });
  return v;
}

/** Reads a whole predictions CSV into memory, validating every cell. */
export async function readPredictionsCsv(file: string): Promise<PredictionTable> {
  const table: PredictionTable = { file, rows: [], ids: [], predicted: new Int8Array(0), probabilities: new Float32Array(0), status: [] };
  const predicted: number[] = [];
  const probabilities: number[] = [];
  const oodScores: number[] = [];
  const z: number[] = [];
  const zErr: number[] = [];
  let columns: number[] | undefined;
  let oodColumn = -1;
  let zColumns: number[] | undefined;
  let lineNumber = -1;
  for await (const line of textLines(file)) {
    lineNumber++;
    if (columns === undefined) {
      if (line.startsWith(SHARD_LINE_PREFIX)) throw shardLocalError(file);
      const names = splitCsvLine(line.replace(/^\uFEFF/, ''), { file }).map((n) => n.trim());
      columns = PREDICTION_COLUMNS.map((name) => {
        const at = names.indexOf(name);
        if (at < 0) throw new AstrospecError('BAD_INPUT', `the header has no "${name}" column (columns: ${names.join(', ')})`, { file });
        return at;
      });
      oodColumn = names.indexOf(OOD_SCORE_COLUMN);
      const zAt = REDSHIFT_COLUMNS.map((name) => names.indexOf(name));
      if (zAt.some((at) => at >= 0)) {
        if (zAt.some((at) => at < 0)) throw new AstrospecError('BAD_INPUT', `the header has one of ${REDSHIFT_COLUMNS.join(', ')} without the other`, { file });
        zColumns = zAt;
      }
      continue;
    }
    const where = { file, row: lineNumber };
    if (line.length === 0) throw new AstrospecError('BAD_INPUT', 'empty line', where);
    const cells = splitCsvLine(line, where);
    const cell = (k: number) => cells[columns![k]!] ?? '';
    table.rows.push(parseRowIndex(cell(0), where));
    table.ids.push(cell(1));
    const status = cell(6).trim();
    table.status.push(status);
    const label = cell(2).trim();
    const classIndex = (CLASS_NAMES as readonly string[]).indexOf(label);
    if (oodColumn >= 0) {
      const text = cells[oodColumn] ?? '';
      const score = parseOodScore(text);
      if (hasPrediction(status) && !(score >= 0)) throw new AstrospecError('BAD_INPUT', `ood_score "${text}" is not a non-negative number`, { ...where, column: OOD_SCORE_COLUMN });
      oodScores.push(hasPrediction(status) ? score : Number.NaN);
    }
    if (zColumns) {
      z.push(parseRedshiftCell(cells[zColumns[0]!] ?? '', where, 'z', -1));
      zErr.push(parseRedshiftCell(cells[zColumns[1]!] ?? '', where, 'z_err', 0));
    }
    if (hasPrediction(status)) {
      if (classIndex < 0) throw new AstrospecError('BAD_INPUT', `predicted class "${label}" is not star, galaxy or qso`, { ...where, column: 'predicted' });
      for (let k = 3; k <= 5; k++) {
        const p = Number(cell(k));
        if (cell(k).trim() === '' || !Number.isFinite(p) || p < 0 || p > 1) {
          throw new AstrospecError('BAD_INPUT', `probability "${cell(k)}" is not a number in [0, 1]`, { ...where, column: PREDICTION_COLUMNS[k] });
        }
        probabilities.push(p);
      }
    } else {
      probabilities.push(Number.NaN, Number.NaN, Number.NaN);
    }
    predicted.push(hasPrediction(status) ? classIndex : -1);
  }
  if (columns === undefined) throw new AstrospecError('BAD_INPUT', 'empty file: no header line', { file });
  // Every line astrospec writes ends in a line end: a last line without one was cut off.
  if (!(await endsWithNewline(file))) {
    throw new AstrospecError('TRUNCATED', 'the last line has no line end: the file was cut short (re-run classify, or merge the shards again)', { file, row: lineNumber });
  }
  table.predicted = Int8Array.from(predicted);
  table.probabilities = Float32Array.from(probabilities);
  if (oodColumn >= 0) table.oodScore = Float32Array.from(oodScores);
  if (zColumns) {
    table.z = Float32Array.from(z);
    table.zErr = Float32Array.from(zErr);
  }
  return table;
}
