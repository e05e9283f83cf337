/**
 * Small synthetic inputs for the report: labelled spectra (Arrow, with snr, redshift and
 * subclass), predictions from a pretend classifier that errs more at low S/N, a training log
 * and a model folder. Deterministic (seeded), written to a fresh temporary folder.
 */
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLASS_NAMES, type SpectrumBatch } from '../src/io/batch.js';
import { createSpectraSink } from '../src/io/sink.js';
import type { ModelSpec } from '../src/model/spec.js';
import { random } from './classify-fixtures.js';

export const GRID = { start: 3800, step: 10, length: 400 };
export const ROWS = 240;


export interface Fixture {
  dir: string;
  data: string;
  predictions: string;
  log: string;
  model: string;
  truth: number[];
  predicted: number[];
  status: string[];
  snr: number[];
  /** Temperature of the Wien law each spectrum was drawn from (K). */
  temperature: number[];
}

/** Spectra (Arrow, with labels, snr, redshift, subclass), predictions CSV, training log and a model folder. */
export async function makeFixture(dir?: string): Promise<Fixture> {
  dir ??= await mkdtemp(join(tmpdir(), 'astrospec-report-'));
  const rand = random(42);
  const truth: number[] = [];
  const predicted: number[] = [];
  const status: string[] = [];
  const snr: number[] = [];
  const temperatures: number[] = [];
  const flux = new Float32Array(ROWS * GRID.length);
  for (let r = 0; r < ROWS; r++) {
    const label = r % 3;
    truth.push(label);
    const s = 2 + 40 * rand();
    snr.push(s);
    // Low S/N rows are misclassified more often, so F1 by S/N has something to show.
    const wrong = rand() < 0.5 / Math.sqrt(s);
    predicted.push(wrong ? (label + 1 + Math.floor(rand() * 2)) % 3 : label);
    status.push(r % 37 === 11 ? 'nan flux' : 'ok');
    const temperature = label === 0 ? 4000 + 6000 * rand() : 3000 + 2000 * rand();
    temperatures.push(temperature);
    for (let i = 0; i < GRID.length; i++) {
      const nm = (GRID.start + GRID.step * i) / 10;
      const wien = 1e18 * Math.pow(nm, -5) * Math.exp(-1.438776877e7 / (nm * temperature));
      flux[r * GRID.length + i] = wien * (1 + (rand() - 0.5) / s) + (label === 2 && Math.abs(nm - 656) < 3 ? wien : 0);
    }
  }
  const batch: SpectrumBatch = {
    ids: Array.from({ length: ROWS }, (_, r) => `spec-${r}`),
    flux,
    grid: GRID,
    labels: Int8Array.from(truth),
    firstRow: 0,
    extra: { snr: Float32Array.from(snr), redshift: Float32Array.from(truth, (t) => (t === 0 ? 0 : 0.1 * t)) },
    tags: { subclass: truth.map((t) => (t === 0 ? 'G2' : t === 1 ? 'STARFORMING' : 'BROADLINE')) },
  };
  const data = join(dir, 'spectra.arrow');
  const sink = await createSpectraSink(data, { grid: GRID, hasLabels: true, extraColumns: ['snr', 'redshift'] });
  await sink.write(batch);
  await sink.close();

  const lines = ['row,id,predicted,p_star,p_galaxy,p_qso,status'];
  for (let r = 0; r < ROWS; r++) {
    if (status[r] !== 'ok') {
      lines.push(`${r},spec-${r},,,,,${status[r]}`);
      continue;
    }
    const p = [0.1, 0.1, 0.1];
    p[predicted[r]!] = 0.8;
    lines.push(`${r},spec-${r},${CLASS_NAMES[predicted[r]!]},${p.join(',')},ok`);
  }
  const predictions = join(dir, 'pred.csv');
  await writeFile(predictions, lines.join('\n') + '\n');

  const spec: ModelSpec = {
    format: 'astrospec-model', version: 1, classNames: [...CLASS_NAMES], grid: GRID,
    architecture: { width: 16, inputLength: GRID.length, featureCount: 0, classCount: 3 },
    preprocess: { normalisation: 'l2', bin: 1, smoothWindow: 0, features: [] },
    training: { seed: 7, epochs: 4 },
  };
  const log = join(dir, 'train-log.jsonl');
  const records: object[] = [{ type: 'start', time: '2025-01-01T00:00:00Z', backend: 'wasm', spec, options: { epochs: 4 }, trainRows: 1000, valRows: 200 }];
  for (let e = 1; e <= 4; e++) {
    for (let k = 0; k < 3; k++) records.push({ type: 'step', epoch: e, step: k, loss: 1.2 / e - 0.01 * k, spectraPerSecond: 100 });
    records.push({
      type: 'epoch', epoch: e, lr: 1e-3, loss: 1 / e, accuracy: 0.5 + 0.1 * e, valLoss: 1.1 / e, valAccuracy: 0.45 + 0.1 * e, valMacroF1: 0.4 + 0.1 * e,
      valPerClass: CLASS_NAMES.map((name) => ({ name, precision: 0.8, recall: 0.7, f1: 0.75, support: 60 })),
      valConfusion: [[50, 5, 5], [5, 50, 5], [5, 5, 50]], spectraPerSecond: 100, seconds: 10, best: e === 3,
    });
  }
  records.push({ type: 'end', bestEpoch: 3, bestValMacroF1: 0.7, seconds: 40, stoppedEarly: true });
  await writeFile(log, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const model = join(dir, 'model');
  await mkdir(model);
  await writeFile(join(model, 'astrospec.json'), JSON.stringify(spec));
  return { dir, data, predictions, log, model, truth, predicted, status, snr, temperature: temperatures };
}
