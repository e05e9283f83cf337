/**
 * Fixtures shared by the classify and evaluate tests: a small labelled Arrow file of
 * blackbody-shaped spectra (with a few empty rows) and a randomly initialised exported model.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildResNet1d } from '../src/model/resnet1d.js';
import type { ModelSpec } from '../src/model/spec.js';
import { buildOnnxModel } from '../src/export/onnx.js';
import { createSpectraSink } from '../src/io/sink.js';
import type { SpectrumBatch, WavelengthGrid } from '../src/io/batch.js';
import { writeFile } from 'node:fs/promises';

/** Deterministic uniform numbers in [0, 1) (mulberry32), shared by the test fixtures. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Rows whose index is ≡ 0 mod EMPTY_EVERY have all-zero flux (no valid pixels). */
export const EMPTY_EVERY = 37;

/** Planck-like spectra (Wien form) at random temperatures plus noise; labels cycle star/galaxy/qso. */
export function syntheticBatch(rows: number, grid: WavelengthGrid, seed: number, firstRow = 0): SpectrumBatch {
  const rand = random(seed);
  const flux = new Float32Array(rows * grid.length);
  const labels = new Int8Array(rows);
  const ids: string[] = [];
  for (let r = 0; r < rows; r++) {
    const row = firstRow + r;
    ids.push(row % 5 === 0 ? `obj,${row}` : `obj${row}`); // some ids need CSV quoting
    labels[r] = row % 3;
    if (row % EMPTY_EVERY === 0) continue;
    const t = 3000 + 12000 * rand();
    for (let i = 0; i < grid.length; i++) {
      const nm = (grid.start + grid.step * i) / 10;
      flux[r * grid.length + i] = 1e15 * nm ** -5 * Math.exp(-1.438776877e7 / (nm * t)) * (1 + 0.05 * (rand() - 0.5)) + 0.01;
    }
  }
  return { ids, flux, grid, labels, firstRow };
}

export async function writeArrowSpectra(path: string, rows: number, grid: WavelengthGrid, seed: number): Promise<void> {
  const sink = await createSpectraSink(path, { grid, hasLabels: true });
  for (let at = 0; at < rows; at += 100) await sink.write(syntheticBatch(Math.min(100, rows - at), grid, seed + at, at));
  await sink.close();
}

export function modelSpec(grid: WavelengthGrid, width: number, features: string[] = []): ModelSpec {
  return {
    format: 'astrospec-model',
    version: 1,
    classNames: ['star', 'galaxy', 'qso'],
    grid,
    architecture: { width, inputLength: grid.length, featureCount: features.length, classCount: 3 },
    preprocess: {
      normalisation: 'l2',
      bin: 1,
      smoothWindow: 0,
      features,
      // Rough scales of the fixture's features, so the standardised inputs are O(1).
      featureMean: features.map((name) => (name === 'wien_temperature' ? 8000 : 0.5)),
      featureStd: features.map((name) => (name === 'wien_temperature' ? 4000 : 2)),
    },
  };
}

/** Exports a randomly initialised model for `spec` to `dir/model.onnx`; returns the path and the tfjs model. */
export async function writeRandomModel(dir: string, spec: ModelSpec, seed = 3): Promise<{ path: string; model: tf.LayersModel }> {
  if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
  const model = buildResNet1d(tf, spec.architecture, seed);
  const path = join(dir, 'model.onnx');
  await writeFile(path, buildOnnxModel(model, spec));
  return { path, model };
}
