import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { classifyFile, parseShard, shardRange } from '../src/infer/classify.js';
import { readPredictions } from '../src/infer/predictions.js';
import { mergePredictionShards } from '../src/infer/merge.js';
import { preprocessSync } from '../src/preprocess/index.js';
import { CLASS_NAMES } from '../src/io/batch.js';
import { AstrospecError } from '../src/errors.js';
import { SPEC_METADATA_KEY } from '../src/export/onnx.js';
import { decodeModel, encodeModel } from '../src/export/onnx-proto.js';
import { EMPTY_EVERY, modelSpec, syntheticBatch, writeArrowSpectra, writeRandomModel } from './classify-fixtures.js';

const grid = { start: 3800, step: 2, length: 256 };
const ROWS = 300;
const features = ['mean', 'wien_temperature'];
let dir: string;
let data: string;
let model: string;
let plainModel: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'astrospec-classify-'));
  data = join(dir, 'spectra.arrow');
  await writeArrowSpectra(data, ROWS, grid, 1);
  await rm(join(dir, 'm'), { recursive: true, force: true });
  const withFeatures = await writeRandomModel(dir, modelSpec(grid, 4, features), 5);
  model = join(dir, 'features.onnx');
  await writeFile(model, await readFile(withFeatures.path));
  plainModel = (await writeRandomModel(dir, modelSpec(grid, 4), 6)).path;
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The same numbers computed the plain way: preprocess everything, one session.run over all rows. */
async function reference(modelPath: string, featureNames: string[]): Promise<{ p: Float32Array; empty: boolean[] }> {
  const spec = modelSpec(grid, 4, featureNames);
  const batch = syntheticBatchesLikeFile();
  const prepared = preprocessSync(batch, { normalisation: 'l2' });
  const session = await ort.InferenceSession.create(modelPath);
  const feeds: Record<string, ort.Tensor> = { flux: new ort.Tensor('float32', prepared.flux, [ROWS, 1, grid.length]) };
  if (featureNames.length > 0) {
    const F = prepared.featureNames.length;
    const z = new Float32Array(ROWS * featureNames.length);
    featureNames.forEach((name, f) => {
      const at = prepared.featureNames.indexOf(name);
      for (let r = 0; r < ROWS; r++) z[r * featureNames.length + f] = (prepared.features![r * F + at]! - spec.preprocess.featureMean![f]!) / spec.preprocess.featureStd![f]!;
    });
    feeds.features = new ort.Tensor('float32', z, [ROWS, featureNames.length]);
  }
  const out = await session.run(feeds);
  await session.release();
  return { p: out.probabilities!.data as Float32Array, empty: Array.from(prepared.flags, (f) => (f & 1) === 1) };
}

function syntheticBatchesLikeFile() {
  // writeArrowSpectra writes 100-row batches seeded by their first row.
  const parts = [0, 100, 200].map((at) => syntheticBatch(100, grid, 1 + at, at));
  const flux = new Float32Array(ROWS * grid.length);
  parts.forEach((b, k) => flux.set(b.flux, k * 100 * grid.length));
  return { ids: parts.flatMap((b) => b.ids), flux, grid, firstRow: 0 };
}

test('shards are contiguous, cover every row once and follow floor(i·R/N)', () => {
  assert.deepEqual(parseShard('2/5'), { index: 2, count: 5 });
  assert.throws(() => parseShard('5/5'), AstrospecError);
  assert.throws(() => parseShard('1-4'), AstrospecError);
  for (const [rows, n] of [[300, 7], [5, 8], [0, 3], [180000, 16]] as const) {
    let next = 0;
    for (let i = 0; i < n; i++) {
      const [a, b] = shardRange(rows, { index: i, count: n });
      assert.equal(a, next);
      assert.equal(a, Math.floor((i * rows) / n));
      next = b;
    }
    assert.equal(next, rows);
  }
});

test('every input row gets one prediction, in order, matching a direct onnxruntime run (side features, padded last batch)', async () => {
  const output = join(dir, 'all.csv');
  const result = await classifyFile(data, { model, output, batchSize: 64, workers: 2, intraOpThreads: 1 });
  assert.equal(result.rows, ROWS);
  const table = await readPredictions(output);
  assert.deepEqual(table.rows, Array.from({ length: ROWS }, (_, i) => i));
  assert.deepEqual(table.ids, syntheticBatchesLikeFile().ids);
  const ref = await reference(model, features);
  let checked = 0;
  for (let r = 0; r < ROWS; r++) {
    if (r % EMPTY_EVERY === 0) {
      assert.ok(ref.empty[r]);
      assert.equal(table.status[r], 'no_valid_pixels');
      assert.equal(table.predicted[r], -1);
      continue;
    }
    assert.equal(table.status[r], 'ok', `row ${r}`);
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(table.probabilities[3 * r + k]! - ref.p[3 * r + k]!) <= 2e-6, `row ${r} class ${k}`);
    const best = [0, 1, 2].reduce((b, k) => (ref.p[3 * r + k]! > ref.p[3 * r + b]! ? k : b), 0);
    assert.equal(table.predicted[r], best);
    checked++;
  }
  assert.equal(checked, ROWS - Math.ceil(ROWS / EMPTY_EVERY));
  assert.equal(result.statusCounts.ok, checked);
  // The probabilities vary between rows: the check above compared real outputs, not a constant.
  assert.ok(new Set(Array.from(table.probabilities.filter(Number.isFinite), (p) => p.toFixed(4))).size > 20);
  assert.deepEqual((await readdir(dir)).filter((f) => f.includes('partial')), []);
});

test('N shards concatenate to the single-process file; --limit cuts the shard', async () => {
  const whole = join(dir, 'whole.csv');
  await classifyFile(data, { model: plainModel, output: whole, batchSize: 32 });
  const wholeText = await readFile(whole, 'utf8');
  const [header, ...lines] = wholeText.trimEnd().split('\n');
  let joined = '';
  for (let i = 0; i < 4; i++) {
    const part = join(dir, `shard${i}.csv`);
    const r = await classifyFile(data, { model: plainModel, output: part, batchSize: 32, shard: { index: i, count: 4 } });
    assert.equal(r.firstRow, Math.floor((i * ROWS) / 4));
    const [h, ...rest] = (await readFile(part, 'utf8')).trimEnd().split('\n');
    assert.equal(h, header);
    joined += rest.map((l) => `${l}\n`).join('');
  }
  assert.equal(joined, lines.map((l) => `${l}\n`).join(''));

  const limited = join(dir, 'limited.csv');
  const r = await classifyFile(data, { model: plainModel, output: limited, batchSize: 32, shard: { index: 1, count: 4 }, limit: 10 });
  assert.equal(r.rows, 10);
  const limitedLines = (await readFile(limited, 'utf8')).trimEnd().split('\n').slice(1);
  assert.deepEqual(limitedLines, lines.slice(75, 85));
});

test('Arrow predictions hold the same rows as CSV', async () => {
  const csv = join(dir, 'same.csv');
  const arrow = join(dir, 'same.arrow');
  await classifyFile(data, { model, output: csv, batchSize: 50 });
  await classifyFile(data, { model, output: arrow, batchSize: 50 });
  const a = await readPredictions(csv);
  const b = await readPredictions(arrow);
  assert.deepEqual(b.rows, a.rows);
  assert.deepEqual(b.ids, a.ids);
  assert.deepEqual(b.status, a.status);
  assert.deepEqual(Array.from(b.predicted), Array.from(a.predicted));
  for (let i = 0; i < a.probabilities.length; i++) {
    if (Number.isNaN(a.probabilities[i]!)) assert.ok(Number.isNaN(b.probabilities[i]!));
    else assert.ok(Math.abs(a.probabilities[i]! - b.probabilities[i]!) <= 1e-6, `${a.probabilities[i]} vs ${b.probabilities[i]}`);
  }
});

test('the LAMOST CSV and Feather peer files classify alike with a 2600-pixel model', async () => {
  const lamost = fileURLToPath(new URL('../../shared/data/peer-files/', import.meta.url));
  const spec = modelSpec({ start: 3800, step: 2, length: 2600 }, 4);
  const sub = join(dir, 'lamost');
  await rm(sub, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(sub));
  const { path } = await writeRandomModel(sub, spec, 9);
  const fromFeather = await classifyFile(join(lamost, 'lamost-stars-200.zstd.feather'), { model: path, output: join(sub, 'feather.csv'), batchSize: 48, shard: { index: 1, count: 3 } });
  assert.equal(fromFeather.firstRow, 66);
  assert.equal(fromFeather.rows, 67);
  // A CSV splits by byte ranges, its shards' rows numbered within each shard: merged, they are the Feather file's rows.
  const csvShards = [0, 1, 2].map((i) => join(sub, `csv.${i}.csv`));
  for (let i = 0; i < 3; i++) await classifyFile(join(lamost, 'lamost-stars-200.csv'), { model: path, output: csvShards[i]!, batchSize: 48, shard: { index: i, count: 3 } });
  await mergePredictionShards(csvShards, join(sub, 'csv.csv'));
  await classifyFile(join(lamost, 'lamost-stars-200.zstd.feather'), { model: path, output: join(sub, 'feather-all.csv'), batchSize: 48 });
  assert.equal(await readFile(join(sub, 'csv.csv'), 'utf8'), await readFile(join(sub, 'feather-all.csv'), 'utf8'));
  const featherLines = (await readFile(join(sub, 'feather.csv'), 'utf8')).split('\n').slice(1, -1);
  assert.deepEqual(featherLines, (await readFile(join(sub, 'csv.csv'), 'utf8')).split('\n').slice(67, 134));
});

test('a model for another grid gives one clear error and leaves no output', async () => {
  const other = join(dir, 'other');
  await import('node:fs/promises').then((fs) => fs.mkdir(other, { recursive: true }));
  const { path } = await writeRandomModel(other, modelSpec({ start: 3800, step: 2, length: 200 }, 4));
  const output = join(other, 'p.csv');
  await assert.rejects(classifyFile(data, { model: path, output }), (error: AstrospecError) => {
    assert.equal(error.code, 'MODEL');
    assert.match(error.message, /expects spectra of 200 pixels.*input has 256 pixels/);
    return true;
  });
  assert.deepEqual((await readdir(other)).sort(), ['model.onnx']);
});

test('a spec that disagrees with its graph about the inputs is refused before any row is classified', async () => {
  // The graph takes 2 side features; the spec is rewritten to say it takes none.
  const proto = decodeModel(await readFile(model));
  const entry = proto.metadata_props.find((p) => p.key === SPEC_METADATA_KEY)!;
  const spec = JSON.parse(entry.value);
  spec.architecture.featureCount = 0;
  spec.preprocess.features = [];
  delete spec.preprocess.featureMean;
  delete spec.preprocess.featureStd;
  entry.value = JSON.stringify(spec);
  const other = join(dir, 'disagreeing');
  await mkdir(other, { recursive: true });
  const path = join(other, 'model.onnx');
  await writeFile(path, encodeModel(proto));
  await assert.rejects(classifyFile(data, { model: path, output: join(other, 'p.csv') }), (error: AstrospecError) => {
    assert.equal(error.code, 'MODEL');
    assert.match(error.message, /network takes 256 pixels and 2 side features, but its spec says 256 and 0/);
    return true;
  });
  assert.deepEqual(await readdir(other), ['model.onnx']);
});

test('an aborted run throws INTERRUPTED and removes its temporary output', async () => {
  const sub = join(dir, 'abort');
  await import('node:fs/promises').then((fs) => fs.mkdir(sub, { recursive: true }));
  const controller = new AbortController();
  await assert.rejects(
    classifyFile(data, {
      model,
      output: join(sub, 'p.csv'),
      batchSize: 16,
      signal: controller.signal,
      onProgress: (rows) => {
        if (rows >= 32) controller.abort();
      },
    }),
    (error: AstrospecError) => error.code === 'INTERRUPTED',
  );
  assert.deepEqual(await readdir(sub), []);
});

test('Ctrl-C on the command line exits 130 and leaves no file behind', async () => {
  const sub = join(dir, 'sigint');
  await import('node:fs/promises').then((fs) => fs.mkdir(sub, { recursive: true }));
  const mainTs = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
  // 60 copies of the file read as one input: long enough to be interrupted mid-run.
  const inputs = Array.from({ length: 60 }, () => data);
  const output = join(sub, 'p.csv');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', `import { main } from ${JSON.stringify(mainTs)}; await main(process.argv.slice(1));`,
      'classify', ...inputs, '-o', output, '--model', model, '--batch-size', '4', '--quiet'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Wait for the temporary predictions file: the run is under way.
  for (let i = 0; i < 600 && !(await readdir(sub)).some((f) => f.endsWith('.partial')); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok((await readdir(sub)).some((f) => f.endsWith('.partial')), `no run started: ${stderr}`);
  child.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupted/);
  assert.deepEqual(await readdir(sub), []);
});

test('class columns follow the model even when its class order differs', async () => {
  const sub = join(dir, 'order');
  await import('node:fs/promises').then((fs) => fs.mkdir(sub, { recursive: true }));
  const spec = { ...modelSpec(grid, 4), classNames: ['qso', 'star', 'galaxy'] };
  const { path } = await writeRandomModel(sub, spec, 6);
  const table = await readPredictions((await classifyFile(data, { model: path, output: join(sub, 'p.csv'), limit: 5 })).output);
  const same = await readPredictions((await classifyFile(data, { model: plainModel, output: join(sub, 'q.csv'), limit: 5 })).output);
  // Same weights (seed 6), so the model's output k is the plain model's output k, now named classNames[k].
  for (let r = 1; r < 5; r++) {
    for (let k = 0; k < 3; k++) {
      const column = CLASS_NAMES.indexOf(spec.classNames[k] as (typeof CLASS_NAMES)[number]);
      assert.equal(table.probabilities[3 * r + column], same.probabilities[3 * r + k]);
    }
  }
});

test('rows whose side features overflow float32 or whose network outputs are not finite get their own status and no prediction', async () => {
  const sub = await mkdtemp(join(dir, 'non-finite-'));
  const rows = 12;
  const batch = syntheticBatch(rows, grid, 9, 1); // first row 1: no empty row
  const L = grid.length;
  // Rows 3 and 8: flux 1e36 everywhere. Its mean, standardised with a std of 1e-3, is 1e39:
  // finite as a double, infinite as the float32 the network takes.
  for (const r of [3, 8]) batch.flux.fill(1e36, r * L, (r + 1) * L);
  const input = join(sub, 'spectra.arrow');
  const sink = await (await import('../src/io/sink.js')).createSpectraSink(input, { grid, hasLabels: true });
  await sink.write({ ...batch, firstRow: 0 });
  await sink.close();

  const featureSpec = modelSpec(grid, 4, ['mean']);
  featureSpec.preprocess.featureMean = [0];
  featureSpec.preprocess.featureStd = [1e-3];
  const withFeature = (await writeRandomModel(sub, featureSpec, 7)).path;
  const featureOut = join(sub, 'features.csv');
  const features = await classifyFile(input, { model: withFeature, output: featureOut, batchSize: 8, workers: 1, intraOpThreads: 1 });
  const featureTable = await readPredictions(featureOut);
  for (let r = 0; r < rows; r++) {
    const overflowed = r === 3 || r === 8;
    assert.equal(featureTable.status[r], overflowed ? 'non_finite_features' : 'ok', `row ${r}`);
    assert.equal(featureTable.predicted[r] === -1, overflowed, `row ${r}`);
  }
  assert.deepEqual(features.statusCounts, { ok: rows - 2, non_finite_features: 2 });

  // Without normalisation, flux near float32's maximum overflows the first convolution; the
  // same rows, run through onnxruntime directly, say which outputs are not finite.
  const rawSpec = modelSpec(grid, 4);
  rawSpec.preprocess.normalisation = 'none';
  const rawModel = join(sub, 'raw.onnx');
  await writeFile(rawModel, await readFile((await writeRandomModel(sub, rawSpec, 8)).path));
  for (const r of [3, 8]) batch.flux.fill(3.4e38, r * L, (r + 1) * L);
  const hugeInput = join(sub, 'huge.arrow');
  const hugeSink = await (await import('../src/io/sink.js')).createSpectraSink(hugeInput, { grid, hasLabels: true });
  await hugeSink.write({ ...batch, firstRow: 0 });
  await hugeSink.close();
  const session = await ort.InferenceSession.create(rawModel);
  const direct = (await session.run({ flux: new ort.Tensor('float32', preprocessSync(batch, { normalisation: 'none' }).flux, [rows, 1, L]) })).probabilities!.data as Float32Array;
  await session.release();
  const rawOut = join(sub, 'raw.csv');
  const raw = await classifyFile(hugeInput, { model: rawModel, output: rawOut, batchSize: 8, workers: 1, intraOpThreads: 1 });
  const rawTable = await readPredictions(rawOut);
  let nonFinite = 0;
  for (let r = 0; r < rows; r++) {
    const finite = [0, 1, 2].every((k) => Number.isFinite(direct[3 * r + k]!));
    assert.equal(rawTable.status[r], finite ? 'ok' : 'non_finite_output', `row ${r}`);
    assert.equal(rawTable.predicted[r] === -1, !finite, `row ${r}`);
    if (!finite) nonFinite++;
  }
  // The check above saw both kinds of row.
  assert.equal(nonFinite, 2);
  assert.equal(raw.statusCounts.non_finite_output, 2);
});
