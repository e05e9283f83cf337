/**
 * Scores predictions against known classes: macro F1 (the competition's score), per-class
 * precision / recall / F1 and the confusion matrix. Truth and predictions are matched by the
 * predictions' `row` column (the row's index in the classified input), and their ids must agree.
 * Rows without a prediction (status neither 'ok' nor 'ood') or whose truth is unknown are counted
 * and left out of the scores; rows flagged 'ood' are scored (they have a class) and also counted.
 */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createReadStream } from 'node:fs';
import { AstrospecError } from '../errors.js';
import { CLASS_NAMES, parseLabel } from '../io/batch.js';
import { findDuplicateIds, type DuplicateIds } from '../io/duplicate-ids.js';
import { findLabel, missingLabelError, readLabelsCsv, type LabelTable } from '../io/labels.js';
import { openSpectra } from '../io/open.js';
import { expectedCalibrationError } from '../metrics/calibration.js';
import { ConfusionMatrix, type ClassificationMetrics } from '../metrics/classification.js';
import { splitCsvLine } from '../io/csv-lines.js';
import { hasPrediction, readPredictions, STATUS_OK, type PredictionTable } from './predictions.js';

export interface Truth {
  file: string;
  ids: string[];
  /** Class index into CLASS_NAMES, −1 where unknown. */
  labels: Int8Array;
  /** Known redshifts (NaN where unknown), when the truth has them: a `redshift` column, or a labels CSV's `z`. */
  redshift?: Float32Array;
}

/** How well the predicted redshifts of one true class agree with the known ones. */
export interface RedshiftScore {
  class: string;
  /** Scored rows of this true class with a known redshift. */
  rows: number;
  /** Of those, rows with a predicted z (the rest were predicted star, or got no z). */
  predicted: number;
  /** Fractions of `rows` (not of `predicted`: a missing z counts as a miss) with |Δz| < t (1 + z), by t. */
  within: Record<string, number>;
  /** Median of |Δz| / (1 + z) over the rows with a predicted z. */
  medianError: number;
}

/** Tolerances of RedshiftScore.within: 0.005 (a galaxy-survey redshift), 0.01, 0.05 (a QSO's class-level z). */
export const REDSHIFT_TOLERANCES = [0.005, 0.01, 0.05] as const;

export interface Evaluation {
  predictions: string;
  truth: string;
  metrics: ClassificationMetrics;
  /** Prediction rows scored. */
  scored: number;
  /** Prediction rows not scored because they have no prediction, by status. */
  unclassified: Record<string, number>;
  /** Scored rows whose status is 'ood' (their ood_score is above the model's threshold). */
  outOfDistribution: number;
  /** Prediction rows not scored because the truth has no label for them. */
  unlabelled: number;
  /** Expected calibration error of the scored rows' top-class probability (15 bins). */
  ece: number;
  /** Ids repeated in the truth (evaluatePredictionsFile); rows are matched by position, not id. */
  duplicateIds?: DuplicateIds;
  /** Per true class galaxy and qso, when the predictions have z and the truth has redshifts. */
  redshift?: RedshiftScore[];
}

const LABEL_COLUMNS = ['label', 'answer', 'class', 'cls'];
/** A CSV with at most this many columns is a table of labels, not spectra. */
const MAX_LABEL_TABLE_COLUMNS = 16;

async function firstLine(path: string): Promise<string> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8', end: 1 << 20 }), crlfDelay: Infinity });
  try {
    for await (const line of lines) return line;
    return '';
  } finally {
    lines.close();
  }
}

async function readLabelTable(path: string, names: string[]): Promise<Truth> {
  const idAt = names.indexOf('id');
  const labelAt = names.findIndex((n) => LABEL_COLUMNS.includes(n.toLowerCase()));
  if (labelAt < 0) throw new AstrospecError('BAD_INPUT', `no label column (one of ${LABEL_COLUMNS.join(', ')}) among ${names.join(', ')}`, { file: path });
  const text = await readFile(path, 'utf8');
  const lines = text.split(/\r?\n/);
  const ids: string[] = [];
  const labels: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length === 0 && i === lines.length - 1) break;
    const cells = splitCsvLine(line, { file: path, row: i });
    const label = (cells[labelAt] ?? '').trim();
    const k = parseLabel(label);
    if (k < 0 && label !== '') throw new AstrospecError('BAD_INPUT', `label "${label}" is not star, galaxy or qso`, { file: path, row: i, column: names[labelAt] });
    ids.push(idAt >= 0 ? (cells[idAt] ?? '') : String(i - 1));
    labels.push(k);
  }
  return { file: path, ids, labels: Int8Array.from(labels) };
}

/**
 * Known classes from a labels CSV (an `id` column and one of label/answer/class/cls) or from any
 * labelled spectra file openSpectra reads (CSV with `answer`, Arrow, FITS folder).
 */
export async function readTruth(path: string): Promise<Truth> {
  if (path.toLowerCase().endsWith('.csv')) {
    const names = splitCsvLine((await firstLine(path)).replace(/^\uFEFF/, ''), { file: path }).map((n) => n.trim());
    if (names.length <= MAX_LABEL_TABLE_COLUMNS) return readLabelTable(path, names);
  }
  const source = await openSpectra(path);
  try {
    if (!source.hasLabels) throw new AstrospecError('BAD_INPUT', 'has no labels to evaluate against', { file: path });
    const ids: string[] = [];
    const labels: number[] = [];
    const redshift: number[] = [];
    let hasRedshift = false;
    for await (const batch of source.batches()) {
      const z = batch.extra?.redshift;
      hasRedshift ||= z !== undefined;
      for (let i = 0; i < batch.ids.length; i++) {
        ids.push(batch.ids[i]!);
        labels.push(batch.labels ? batch.labels[i]! : -1);
        redshift.push(z ? z[i]! : Number.NaN);
      }
    }
    return { file: path, ids, labels: Int8Array.from(labels), ...(hasRedshift ? { redshift: Float32Array.from(redshift) } : {}) };
  } finally {
    await source.close();
  }
}

export function scorePredictions(predictions: PredictionTable, truth: Truth): Evaluation {
  const matrix = new ConfusionMatrix(CLASS_NAMES);
  const unclassified: Record<string, number> = {};
  let unlabelled = 0;
  let scored = 0;
  let outOfDistribution = 0;
  const probabilities: number[] = [];
  const labels: number[] = [];
  const k = CLASS_NAMES.length;
  for (let i = 0; i < predictions.rows.length; i++) {
    const row = predictions.rows[i]!;
    const where = { file: predictions.file, row: i + 1 };
    if (row >= truth.ids.length) {
      throw new AstrospecError('BAD_INPUT', `row ${row} is beyond the truth, which has ${truth.ids.length} rows (${truth.file})`, { ...where, column: 'row' });
    }
    if (predictions.ids[i] !== truth.ids[row]) {
      throw new AstrospecError('BAD_INPUT', `id "${predictions.ids[i]}" but row ${row} of ${truth.file} is "${truth.ids[row]}": predictions and truth are not the same input`, { ...where, column: 'id' });
    }
    const status = predictions.status[i]!;
    if (!hasPrediction(status)) {
      unclassified[status] = (unclassified[status] ?? 0) + 1;
      continue;
    }
    const label = truth.labels[row]!;
    if (label < 0) {
      unlabelled++;
      continue;
    }
    matrix.add(label, predictions.predicted[i]!);
    for (let j = 0; j < k; j++) probabilities.push(predictions.probabilities[i * k + j]!);
    labels.push(label);
    scored++;
    if (status !== STATUS_OK) outOfDistribution++;
  }
  const ece = expectedCalibrationError(probabilities, labels, k).ece;
  const redshift = predictions.z && truth.redshift ? scoreRedshifts(predictions, truth) : undefined;
  return { predictions: predictions.file, truth: truth.file, metrics: matrix.metrics(), scored, unclassified, outOfDistribution, unlabelled, ece, ...(redshift ? { redshift } : {}) };
}

/**
 * Redshift scores of the classified rows per true class (galaxy, qso) whose redshift is known.
 * A row predicted star has no z and counts as a miss at every tolerance.
 */
export function scoreRedshifts(predictions: PredictionTable, truth: Truth): RedshiftScore[] {
  return (['galaxy', 'qso'] as const).map((name) => {
    const label = CLASS_NAMES.indexOf(name);
    const errors: number[] = [];
    let rows = 0;
    for (let i = 0; i < predictions.rows.length; i++) {
      const row = predictions.rows[i]!;
      const known = truth.redshift![row]!;
      if (truth.labels[row] !== label || !Number.isFinite(known) || !hasPrediction(predictions.status[i]!)) continue;
      rows++;
      const z = predictions.z![i]!;
      if (Number.isFinite(z)) errors.push(Math.abs(z - known) / (1 + known));
    }
    errors.sort((a, b) => a - b);
    const within: Record<string, number> = {};
    for (const t of REDSHIFT_TOLERANCES) within[String(t)] = rows > 0 ? errors.filter((e) => e < t).length / rows : Number.NaN;
    const medianError = errors.length > 0 ? errors[Math.floor((errors.length - 1) / 2)]! : Number.NaN;
    return { class: name, rows, predicted: errors.length, within, medianError };
  });
}

/**
 * Predictions are scored against a whole truth file only when they are one row for each of its
 * rows, in order: a predictions file cut short would otherwise be scored on what is left, and
 * look like a result for the whole input. With `partial` (one shard of a split run, a --limit
 * run), a contiguous run of rows is enough.
 */
export function checkPredictionsCoverTruth(predictions: PredictionTable, truth: Truth, partial = false): void {
  const n = predictions.rows.length;
  const first = n > 0 ? predictions.rows[0]! : 0;
  for (let i = 1; i < n; i++) {
    if (predictions.rows[i] !== first + i) {
      throw new AstrospecError('BAD_INPUT', `line ${i + 1} is input row ${predictions.rows[i]}, expected row ${first + i}: predictions must be consecutive rows, in order`, {
        file: predictions.file,
        row: i + 1,
        column: 'row',
      });
    }
  }
  if (!partial && (first !== 0 || n !== truth.ids.length)) {
    const covers = n === 0 ? 'has no rows' : `covers rows ${first}–${first + n - 1}`;
    throw new AstrospecError(
      'BAD_INPUT',
      `${covers} but ${truth.file} has rows 0–${truth.ids.length - 1}: the predictions are incomplete (cut short, or from --limit or one --shard; evaluate --partial scores just those rows)`,
      { file: predictions.file },
    );
  }
}

export async function evaluatePredictionsFile(predictionsPath: string, truthPath: string, options: { partial?: boolean } = {}): Promise<Evaluation> {
  const [predictions, truth] = await Promise.all([readPredictions(predictionsPath), readTruth(truthPath)]);
  checkPredictionsCoverTruth(predictions, truth, options.partial);
  return { ...scorePredictions(predictions, truth), duplicateIds: findDuplicateIds(truth.ids) };
}

/**
 * Truth for predictions from a labels CSV joined by id (src/io/labels.ts): a prediction's id is the
 * spectrum's id, which for SDSS files is the file name without `.fits`. Every prediction needs a row.
 */
export function truthFromLabels(predictions: PredictionTable, table: LabelTable): Truth {
  let size = 0;
  for (const row of predictions.rows) size = Math.max(size, row + 1);
  const ids = new Array<string>(size).fill('');
  const labels = new Int8Array(size).fill(-1);
  const redshift = new Float32Array(size).fill(Number.NaN);
  let hasRedshift = false;
  for (let i = 0; i < predictions.rows.length; i++) {
    const id = predictions.ids[i]!;
    const found = findLabel(table, id);
    if (!found) throw missingLabelError(table, id, `${predictions.file}, row ${i + 1}`);
    ids[predictions.rows[i]!] = id;
    labels[predictions.rows[i]!] = found.label;
    if (found.z !== undefined) {
      redshift[predictions.rows[i]!] = found.z;
      hasRedshift = true;
    }
  }
  return { file: table.path, ids, labels, ...(hasRedshift ? { redshift } : {}) };
}

/** Scores a predictions file against a labels CSV, matching rows by id. */
export async function evaluatePredictionsAgainstLabels(predictionsPath: string, labelsPath: string): Promise<Evaluation> {
  const [predictions, table] = await Promise.all([readPredictions(predictionsPath), readLabelsCsv(labelsPath)]);
  return scorePredictions(predictions, truthFromLabels(predictions, table));
}
