/**
 * Gathers the report's inputs from files: the predictions, and when given the spectra they were
 * made from (true classes, S/N, example spectra with their Wien fit), the training log and the
 * model. The spectra file is streamed once; only the few example spectra are kept in memory.
 */
import { stat } from 'node:fs/promises';
import { AstrospecError } from '../errors.js';
import { CLASS_NAMES, gridWavelengths, NO_LABEL, type SpectrumBatch, type WavelengthGrid } from '../io/batch.js';
import { openSpectra } from '../io/open.js';
import { readPredictions } from '../infer/predictions.js';
import { loadModelSpec } from '../model/io.js';
import type { ModelSpec } from '../model/spec.js';
import type { PredictionTable } from '../infer/predictions-csv.js';
import type { ExampleSpectrum, ReportData, ReportInputs } from './report.js';
import { readTrainingLog } from './training-log.js';
import { fitWienCurves } from './wien.js';

export interface ReportFiles {
  predictions: string;
  /** The classified spectra: a file, several, a folder, a glob or @list.txt. */
  data?: string | string[];
  log?: string;
  model?: string;
  /** Example spectra per class (default 2). */
  examplesPerClass?: number;
}

/** Prediction line of each input row (−1 where the predictions have none); refuses repeated rows. */
export function linesByRow(predictions: PredictionTable): Int32Array {
  let maxRow = -1;
  for (const r of predictions.rows) if (r > maxRow) maxRow = r;
  const lineOfRow = new Int32Array(maxRow + 1).fill(-1);
  predictions.rows.forEach((r, line) => {
    if (lineOfRow[r]! >= 0) {
      throw new AstrospecError('BAD_INPUT', `row ${r} appears twice (first on data row ${lineOfRow[r]! + 1})`, { file: predictions.file, row: line + 1, column: 'row' });
    }
    lineOfRow[r] = line;
  });
  return lineOfRow;
}

interface Candidate {
  line: number;
  row: number;
  id: string;
  truth: number;
  grid: WavelengthGrid;
  flux: Float32Array;
  badPixels?: Uint8Array;
  snr?: number;
  redshift?: number;
  subclass?: string;
}

/**
 * Keeps, per class, the first misclassified and the first correctly classified spectra met in
 * file order (deterministic, and needs a single pass over the file).
 */
export class ExamplePicker {
  private readonly wrong: Candidate[][] = CLASS_NAMES.map(() => []);
  private readonly correct: Candidate[][] = CLASS_NAMES.map(() => []);

  constructor(readonly perClass: number) {}

  /** Whether a row of class `key` that is (or isn't) correct would still be kept. */
  wants(key: number, isCorrect: boolean): boolean {
    return (isCorrect ? this.correct : this.wrong)[key]!.length < this.perClass;
  }

  add(key: number, isCorrect: boolean, candidate: Candidate): void {
    if (this.wants(key, isCorrect)) (isCorrect ? this.correct : this.wrong)[key]!.push(candidate);
  }

  /** Per class: one misclassified spectrum when there is one (and room for two), then correct ones. */
  pick(): Candidate[] {
    return CLASS_NAMES.flatMap((_, c) => {
      const wrong = this.wrong[c]!;
      const correct = this.correct[c]!;
      const ordered = this.perClass >= 2 ? [...wrong.slice(0, 1), ...correct, ...wrong.slice(1)] : [...correct, ...wrong];
      return ordered.slice(0, this.perClass);
    });
  }
}

/** Streams the spectra file once, aligning labels and S/N with the predictions and picking examples. */
export async function loadReportData(input: string | string[], predictions: PredictionTable, examplesPerClass: number): Promise<{ data: ReportData; examples: ExampleSpectrum[] }> {
  const dataFile = typeof input === 'string' ? input : input.join(', ');
  const lineOfRow = linesByRow(predictions);
  const lines = predictions.rows.length;
  const source = await openSpectra(input);
  const picker = new ExamplePicker(examplesPerClass);
  const truth = source.hasLabels ? new Int8Array(lines).fill(NO_LABEL) : undefined;
  let snr: Float32Array | undefined;
  let rows = 0;
  try {
    for await (const batch of source.batches()) {
      const n = batch.ids.length;
      const batchSnr = batch.extra?.snr;
      if (batchSnr && !snr) snr = new Float32Array(lines).fill(Number.NaN);
      for (let j = 0; j < n; j++) {
        const row = batch.firstRow + j;
        const line = row < lineOfRow.length ? lineOfRow[row]! : -1;
        if (line < 0) continue;
        if (predictions.ids[line] !== batch.ids[j]) {
          throw new AstrospecError('BAD_INPUT', `id "${predictions.ids[line]}" for input row ${row}, but row ${row} of ${dataFile} is "${batch.ids[j]}": these predictions come from another input`, {
            file: predictions.file,
            row: line + 1,
            column: 'id',
          });
        }
        const label = batch.labels ? batch.labels[j]! : NO_LABEL;
        if (truth) truth[line] = label;
        if (snr && batchSnr) snr[line] = batchSnr[j]!;
        const predicted = predictions.predicted[line]!;
        if (predicted < 0) continue;
        const key = truth ? label : predicted;
        if (key < 0) continue;
        const isCorrect = !truth || label === predicted;
        if (picker.wants(key, isCorrect)) picker.add(key, isCorrect, candidateOf(batch, j, line));
      }
      rows = Math.max(rows, batch.firstRow + n);
    }
  } finally {
    await source.close();
  }
  if (lineOfRow.length > rows) {
    throw new AstrospecError('BAD_INPUT', `row ${lineOfRow.length - 1} is beyond ${dataFile}, which has ${rows} rows`, { file: predictions.file, row: lineOfRow[lineOfRow.length - 1]! + 1, column: 'row' });
  }
  const examples = await examplesOf(picker.pick(), predictions);
  return { data: { file: dataFile, rows, truth, snr }, examples };
}

function candidateOf(batch: SpectrumBatch, j: number, line: number): Candidate {
  const length = batch.grid.length;
  return {
    line,
    row: batch.firstRow + j,
    id: batch.ids[j]!,
    truth: batch.labels ? batch.labels[j]! : NO_LABEL,
    grid: batch.grid,
    flux: batch.flux.slice(j * length, (j + 1) * length),
    badPixels: batch.badPixels?.slice(j * length, (j + 1) * length),
    snr: batch.extra?.snr?.[j],
    redshift: batch.extra?.redshift?.[j],
    subclass: batch.tags?.subclass?.[j],
  };
}

async function examplesOf(candidates: Candidate[], predictions: PredictionTable): Promise<ExampleSpectrum[]> {
  const fits = await fitWienCurves(candidates.map((c) => ({ grid: c.grid, flux: c.flux, badPixels: c.badPixels })));
  return candidates.map((c, k) => ({
    row: c.row,
    id: c.id,
    truth: c.truth,
    predicted: predictions.predicted[c.line]!,
    probabilities: Array.from(predictions.probabilities.subarray(3 * c.line, 3 * c.line + 3)),
    wavelength: gridWavelengths(c.grid),
    flux: c.flux,
    badPixels: c.badPixels,
    wien: fits[k]!.curve,
    wienTemperature: fits[k]!.temperature,
    snr: c.snr,
    redshift: c.redshift,
    subclass: c.subclass,
  }));
}

/** A model folder (astrospec.json) or an exported .onnx file (spec in its metadata). */
export async function loadReportModelSpec(path: string): Promise<ModelSpec> {
  if ((await stat(path)).isDirectory()) return loadModelSpec(path);
  if (path.toLowerCase().endsWith('.onnx')) return (await import('../export/onnx.js')).readOnnxModelSpec(path);
  throw new AstrospecError('BAD_ARGUMENT', '--model must be a model folder (with astrospec.json) or an .onnx file', { file: path });
}

export async function loadReportInputs(files: ReportFiles): Promise<ReportInputs> {
  const perClass = files.examplesPerClass ?? 2;
  if (!Number.isInteger(perClass) || perClass < 0) throw new AstrospecError('BAD_ARGUMENT', `--examples must be a non-negative integer, got ${perClass}`);
  const predictions = await readPredictions(files.predictions);
  const inputs: ReportInputs = { predictions };
  if (files.data !== undefined) {
    const { data, examples } = await loadReportData(files.data, predictions, perClass);
    inputs.data = data;
    inputs.examples = examples;
  }
  if (files.log !== undefined) inputs.log = await readTrainingLog(files.log);
  if (files.model !== undefined) inputs.model = { path: files.model, spec: await loadReportModelSpec(files.model) };
  return inputs;
}
