/**
 * `astrospec calibrate`: fits the temperature of a trained model on labelled validation spectra
 * (src/metrics/calibration.ts) and the out-of-distribution score (src/infer/ood.ts), and stores
 * both in the model directory's spec, so that `astrospec export` writes softmax(logits / T) and
 * the ood_score output into the ONNX graph.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AstrospecError } from '../errors.js';
import { exportOnnx } from '../export/onnx.js';
import { writeFileAtomic } from '../io/partial-files.js';
import { expectedCalibrationError, fitTemperature, applyTemperatureRow } from '../metrics/calibration.js';
import { MODEL_FILES, loadModelSpec } from '../model/io.js';
import type { CalibrationSpec, OodSpec } from '../model/spec.js';
import { classifyFile } from './classify.js';
import { fitOod, type FitOodOptions } from './ood.js';
import { hasPrediction, readPredictions } from './predictions.js';

export interface CalibrateOptions {
  /** Labelled spectra (any readable format); not the training data. */
  data: string | string[];
  /** A labels CSV joined by file name, for data without labels of its own. */
  labels?: string;
  /** Stops the classification pass (classifyFile's signal). */
  signal?: AbortSignal;
  /** How to fit the OOD score (quantile, layers), or false to leave the model without one. */
  ood?: Pick<FitOodOptions, 'quantile' | 'layers' | 'ridge'> | false;
}

export interface CalibrateResult {
  calibration: CalibrationSpec;
  ood?: OodSpec;
}

export async function calibrateModel(modelDir: string, options: CalibrateOptions): Promise<CalibrateResult> {
  const spec = await loadModelSpec(modelDir);
  const work = await mkdtemp(join(tmpdir(), 'astrospec-calibrate-'));
  try {
    const onnx = join(work, 'uncalibrated.onnx');
    await exportOnnx(modelDir, onnx, { uncalibrated: true });
    const predictionsPath = join(work, 'predictions.csv');
    const result = await classifyFile(options.data, { model: onnx, output: predictionsPath, keepLabels: true, labels: options.labels, signal: options.signal });
    if (!result.truth) throw new AstrospecError('BAD_INPUT', 'calibration data has no star/galaxy/qso labels', { file: String(options.data) });
    const table = await readPredictions(predictionsPath);
    const k = spec.classNames.length;
    const rows: number[] = [];
    for (let i = 0; i < table.status.length; i++) if (hasPrediction(table.status[i]!) && result.truth.labels[i]! >= 0) rows.push(i);
    if (rows.length < 50) throw new AstrospecError('BAD_INPUT', `only ${rows.length} labelled, classifiable spectra; calibration needs at least 50`, { file: String(options.data) });
    const probabilities = new Float32Array(rows.length * k);
    const labels = new Int8Array(rows.length);
    rows.forEach((r, i) => {
      probabilities.set(table.probabilities.subarray(r * k, (r + 1) * k), i * k);
      labels[i] = result.truth!.labels[r]!;
    });
    const fit = fitTemperature(probabilities, labels, k);
    const scaled = new Float32Array(probabilities.length);
    const row = new Float64Array(k);
    for (let i = 0; i < rows.length; i++) {
      applyTemperatureRow(probabilities, fit.temperature, row, i * k, k);
      scaled.set(row, i * k);
    }
    const calibration: CalibrationSpec = {
      temperature: fit.temperature,
      data: Array.isArray(options.data) ? options.data.join(',') : options.data,
      rows: rows.length,
      nllBefore: fit.nllBefore,
      nllAfter: fit.nllAfter,
      eceBefore: expectedCalibrationError(probabilities, labels, k).ece,
      eceAfter: expectedCalibrationError(scaled, labels, k).ece,
    };
    // The OOD statistics come from the same validation spectra (the temperature doesn't change the features).
    let ood: OodSpec | undefined;
    if (options.ood !== false) ood = await fitOod(await readFile(onnx), options.data, k, { ...options.ood, labels: options.labels, signal: options.signal });
    const { ood: _previous, ...rest } = spec;
    const specPath = join(modelDir, MODEL_FILES.spec);
    await writeFileAtomic(specPath, `${JSON.stringify({ ...rest, calibration, ...(ood ? { ood } : {}) }, null, 2)}\n`);
    return { calibration, ood };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
