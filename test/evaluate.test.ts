import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifyFile } from '../src/infer/classify.js';
import { evaluatePredictionsFile } from '../src/infer/evaluate.js';
import { readPredictions } from '../src/infer/predictions.js';
import { classificationMetrics } from '../src/metrics/classification.js';
import { CLASS_NAMES } from '../src/io/batch.js';
import { AstrospecError } from '../src/errors.js';
import { evaluateHandler } from '../src/cli/commands/evaluate.js';
import { EMPTY_EVERY, modelSpec, writeArrowSpectra, writeRandomModel } from './classify-fixtures.js';

const grid = { start: 3800, step: 2, length: 128 };
const ROWS = 200;
let dir: string;
let data: string;
let model: string;
let predictions: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'astrospec-evaluate-'));
  data = join(dir, 'spectra.arrow');
  await writeArrowSpectra(data, ROWS, grid, 2);
  model = (await writeRandomModel(dir, modelSpec(grid, 4), 4)).path;
  predictions = join(dir, 'p.csv');
  await classifyFile(data, { model, output: predictions, batchSize: 32 });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The fixture's labels cycle star, galaxy, qso by row; rows ≡ 0 mod EMPTY_EVERY can't be classified. */
async function expected() {
  const table = await readPredictions(predictions);
  const truth: number[] = [];
  const predicted: number[] = [];
  for (let r = 0; r < ROWS; r++) {
    if (r % EMPTY_EVERY === 0) continue;
    truth.push(r % 3);
    predicted.push(table.predicted[r]!);
  }
  return classificationMetrics(truth, predicted, CLASS_NAMES);
}

test('scores predictions against a labelled spectra file, leaving unclassified rows out', async () => {
  const e = await evaluatePredictionsFile(predictions, data);
  assert.deepEqual(e.metrics, await expected());
  assert.equal(e.scored, ROWS - Math.ceil(ROWS / EMPTY_EVERY));
  assert.deepEqual(e.unclassified, { no_valid_pixels: Math.ceil(ROWS / EMPTY_EVERY) });
  assert.equal(e.metrics.total, e.scored);
});

test('a CSV of ids and labels works as truth; a shard is matched by its row numbers', async () => {
  const table = await readPredictions(predictions);
  const quote = (s: string) => (s.includes(',') ? `"${s}"` : s);
  const labels = join(dir, 'labels.csv');
  await writeFile(labels, `id,label\n${table.ids.map((id, r) => `${quote(id)},${CLASS_NAMES[r % 3]!.toUpperCase()}`).join('\n')}\n`);
  assert.deepEqual((await evaluatePredictionsFile(predictions, labels)).metrics, await expected());

  const shard = join(dir, 'shard.csv');
  await classifyFile(data, { model, output: shard, batchSize: 32, shard: { index: 2, count: 3 } });
  // One shard is a part of the truth: refused as incomplete unless said so.
  await assert.rejects(evaluatePredictionsFile(shard, labels), /covers rows 133–199 but .* has rows 0–199: the predictions are incomplete/);
  const e = await evaluatePredictionsFile(shard, labels, { partial: true });
  assert.equal(e.scored + (e.unclassified.no_valid_pixels ?? 0), ROWS - Math.floor((2 * ROWS) / 3));
});

test('ids that disagree with the truth are an error naming the file, row and both ids', async () => {
  const text = await readFile(predictions, 'utf8');
  const broken = join(dir, 'broken.csv');
  await writeFile(broken, text.replace('\n3,obj3,', '\n3,objX,'));
  await assert.rejects(evaluatePredictionsFile(broken, data), (error: AstrospecError) => {
    assert.equal(error.code, 'BAD_INPUT');
    assert.match(error.message, /broken\.csv, row 4, column id: id "objX" but row 3 .* is "obj3"/);
    return true;
  });
});

test('evaluate --model --data classifies and scores in one go, and writes JSON', async () => {
  const json = join(dir, 'scores.json');
  const kept = join(dir, 'kept.csv');
  const e = await evaluateHandler({ model, data, json, output: kept, quiet: true });
  assert.deepEqual(e.metrics, await expected());
  const written = JSON.parse(await readFile(json, 'utf8'));
  assert.equal(written.macro_f1, e.metrics.macroF1);
  assert.deepEqual(written.confusion, e.metrics.confusion);
  assert.equal(await readFile(kept, 'utf8'), await readFile(predictions, 'utf8'));
  await assert.rejects(evaluateHandler({ model, quiet: true }), /needs --data/);
});
