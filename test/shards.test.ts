/**
 * classify --shard over datasets: N shards merged equal the single-process output exactly (Arrow,
 * CSV, a FITS folder, a mixed dataset); --resume keeps complete shard outputs and redoes a cut one;
 * merge refuses incomplete or foreign shards of a CSV input; CSV shards name bad lines by byte.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AstrospecError } from '../src/errors.js';
import type { WavelengthGrid } from '../src/io/batch.js';
import { createSpectraSink } from '../src/io/sink.js';
import { openSpectra } from '../src/io/open.js';
import { classifyHandler } from '../src/cli/commands/classify.js';
import { mergeHandler } from '../src/cli/commands/merge.js';
import { planHandler } from '../src/cli/commands/plan.js';
import { readPredictions } from '../src/infer/predictions.js';
import { classifyFile } from '../src/infer/classify.js';
import { MANIFEST_NAME } from '../src/io/manifest.js';
import { convertHandler } from '../src/cli/commands/convert.js';
import { modelSpec, syntheticBatch, writeRandomModel } from './classify-fixtures.js';

const grid: WavelengthGrid = { start: 3800, step: 2, length: 256 };
const lamost = fileURLToPath(new URL('../../shared/data/lamost/dr10/', import.meta.url));
let dir: string;
let model: string;

async function writeSpectra(path: string, rows: number, first = 0, g: WavelengthGrid = grid): Promise<void> {
  const sink = await createSpectraSink(path, { grid: g, hasLabels: true });
  for (let at = 0; at < rows; at += 50) await sink.write(syntheticBatch(Math.min(50, rows - at), g, 11 + first + at, first + at));
  await sink.close();
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'astrospec-shards-'));
  model = (await writeRandomModel(dir, modelSpec(grid, 4, ['mean', 'wien_temperature']), 9)).path;
  await writeSpectra(join(dir, 'a.arrow'), 330);
  await writeSpectra(join(dir, 'b.csv'), 210, 330);
  await mkdir(join(dir, 'fits'));
  for (const name of (await readdir(lamost)).sort().slice(0, 9)) await copyFile(join(lamost, name), join(dir, 'fits', name));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const classify = (input: string[], output: string, extra: Record<string, unknown> = {}) =>
  classifyHandler({ input, output, model, batchSize: 16, workers: 1, quiet: true, ...extra });

/** Classifies `input` whole and in n shards, merges them, and returns both texts and the shard files. */
async function shardsAndWhole(name: string, input: string[], n: number): Promise<{ whole: string; merged: string; shards: string[] }> {
  const out = join(dir, `out-${name}`);
  await mkdir(out, { recursive: true });
  const one = await classify(input, join(out, 'whole.csv'));
  assert.equal(one.read.rows, one.rows, `${name}: one process decoded ${one.read.rows} rows for ${one.rows}`);
  const shards: string[] = [];
  let decoded = 0;
  for (let i = 0; i < n; i++) {
    const file = join(out, `pred.${i}.csv`);
    const r = await classify(input, file, { shard: `${i}/${n}` });
    // What classify's readers decoded (src/io/read-stats.ts): the shard's own rows, none of another's.
    assert.equal(r.read.rows, r.rows, `${name}: shard ${i}/${n} decoded ${r.read.rows} rows to classify ${r.rows}`);
    decoded += r.read.rows;
    shards.push(file);
  }
  assert.equal(decoded, one.rows, `${name}: ${n} shards decoded ${decoded} rows of ${one.rows}`);
  await mergeHandler({ shards: [...shards].reverse(), output: join(out, 'merged.csv'), input, quiet: true });
  return { whole: await readFile(join(out, 'whole.csv'), 'utf8'), merged: await readFile(join(out, 'merged.csv'), 'utf8'), shards };
}

test('N shards over Arrow, CSV, a FITS folder and a mixed dataset merge to exactly the single-process output', async () => {
  const cases: [string, string[], number][] = [
    ['arrow', [join(dir, 'a.arrow')], 4],
    ['csv', [join(dir, 'b.csv')], 3],
    ['fits', [join(dir, 'fits')], 3],
    ['mixed', [join(dir, 'b.csv'), join(dir, 'fits'), join(dir, 'a.arrow')], 5],
  ];
  for (const [name, input, n] of cases) {
    const { whole, merged, shards } = await shardsAndWhole(name, input, n);
    assert.equal(merged, whole, `${name}: ${n} shards merged differ from one process`);
    const first = await readFile(shards[1]!, 'utf8');
    if (name === 'csv' || name === 'mixed') {
      // Rows numbered within the shard, between a head and an end line.
      assert.match(first, /^# astrospec shard 1\/\d+ of dataset [0-9a-f]{16} \(bytes \d+–\d+ of \d+\)/);
      assert.match(first, /\nrow,id,predicted,p_star,p_galaxy,p_qso,status\n0,/);
      assert.match(first, /\n# astrospec shard 1\/\d+ end: \d+ rows\n$/);
      await assert.rejects(readPredictions(shards[1]!), /one shard of a split CSV input.*astrospec merge first/);
    } else assert.match(first, /^row,id,/);
  }
});

test('--resume keeps complete shard outputs, and redoes a missing, cut or foreign one', async () => {
  for (const [name, input] of [
    ['resume-arrow', [join(dir, 'a.arrow')]],
    ['resume-csv', [join(dir, 'b.csv')]],
  ] as const) {
    const out = join(dir, name);
    await mkdir(out);
    const n = 3;
    const files = Array.from({ length: n }, (_, i) => join(out, `pred.${i}.csv`));
    for (let i = 0; i < n; i++) assert.equal((await classify([...input], files[i]!, { shard: `${i}/${n}`, resume: true })).skipped, undefined);
    const texts = await Promise.all(files.map((f) => readFile(f, 'utf8')));
    const times = await Promise.all(files.map(async (f) => (await stat(f)).mtimeMs));
    // Cut shard 1 at a line end (as a full disk or a killed copy would), remove shard 2.
    const lines = texts[1]!.split('\n');
    await writeFile(files[1]!, `${lines.slice(0, lines.length - 4).join('\n')}\n`);
    await rm(files[2]!);
    const plan = await planHandler({ inputs: [...input], shards: n, outdir: out, quiet: true });
    assert.deepEqual(plan.complete, [0]);
    assert.deepEqual(plan.incomplete!.map((s) => s.shard), [1, 2]);
    const results = [];
    for (let i = 0; i < n; i++) results.push(await classify([...input], files[i]!, { shard: `${i}/${n}`, resume: true }));
    assert.deepEqual(results.map((r) => r.skipped === true), [true, false, false]);
    assert.equal(results[0]!.rows, texts[0]!.trimEnd().split('\n').filter((l) => !l.startsWith('#')).length - 1);
    assert.equal((await stat(files[0]!)).mtimeMs, times[0]);
    assert.deepEqual(await Promise.all(files.map((f) => readFile(f, 'utf8'))), texts);
    // Another split's output under this name is not this shard's.
    await copyFile(files[0]!, files[1]!);
    assert.equal((await classify([...input], files[1]!, { shard: `1/${n}`, resume: true })).skipped, undefined);
    assert.equal(await readFile(files[1]!, 'utf8'), texts[1]);
  }
});

test('merge refuses shards of a CSV input that are cut, missing, repeated or from another input', async () => {
  const out = join(dir, 'merge-errors');
  await mkdir(out);
  const input = [join(dir, 'b.csv')];
  const files = [0, 1, 2].map((i) => join(out, `pred.${i}.csv`));
  for (let i = 0; i < 3; i++) await classify(input, files[i]!, { shard: `${i}/3` });
  const output = join(out, 'all.csv');
  const fails = async (shards: string[], pattern: RegExp, code = 'BAD_INPUT', extra: Record<string, unknown> = {}) => {
    await assert.rejects(mergeHandler({ shards, output, quiet: true, ...extra }), (error: unknown) => {
      assert.ok(error instanceof AstrospecError, String(error));
      assert.equal(error.code, code, error.message);
      assert.match(error.message, pattern);
      return true;
    });
    assert.deepEqual((await readdir(out)).filter((f) => f.includes('all.csv')), []);
  };
  await fails([files[0]!, files[2]!], /shard 1 of 3 missing/);
  await fails([files[0]!, files[1]!, files[2]!, files[1]!], /named twice/, 'BAD_ARGUMENT');
  const text = await readFile(files[1]!, 'utf8');
  await writeFile(files[1]!, text.slice(0, text.lastIndexOf('# astrospec')));
  await fails(files, /no end line: the shard was cut short/, 'TRUNCATED');
  await writeFile(files[1]!, text);
  // Another input (or this one changed): the dataset fingerprints differ.
  const other = join(dir, 'b-copy.csv');
  await copyFile(input[0]!, other);
  await fails(files, /comes from dataset [0-9a-f]+, but the input given is [0-9a-f]+/, 'BAD_INPUT', { input: [other] });
  const merged = await mergeHandler({ shards: files, output, input, quiet: true });
  assert.equal(merged.rows, 210);
});

test('a bad line in a CSV shard is named by file and byte offset; CSVs without ids number rows in the file', async () => {
  const text = await readFile(join(dir, 'b.csv'), 'utf8');
  const lines = text.split('\n');
  lines[150] = lines[150]!.replace(/,[^,]+$/, ',quasar');
  const bad = join(dir, 'bad.csv');
  await writeFile(bad, lines.join('\n'));
  const offset = Buffer.byteLength(lines.slice(0, 150).join('\n')) + 1;
  await assert.rejects(classify([bad], join(dir, 'bad-pred.csv'), { shard: '2/3' }), (error: unknown) => {
    assert.ok(error instanceof AstrospecError);
    assert.equal(error.file, bad);
    assert.equal(error.byte, offset);
    assert.match(error.message, new RegExp(`bad\\.csv, line at byte ${offset}, column label: unknown label "quasar"`));
    return true;
  });
  assert.deepEqual((await readdir(dir)).filter((f) => f.includes('bad-pred')), []);

  // Without an id column, ids are row numbers in the file: a shard counts the lines before it.
  const noIds = join(dir, 'no-ids.csv');
  await writeFile(noIds, lines.slice(0, 120).map((line) => line.replace(/^("(?:[^"]|"")*"|[^,]*),/, '')).join('\n') + '\n');
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const source = await openSpectra(noIds, { shard: { index: i, count: 4 } });
    for await (const batch of source.batches()) ids.push(...batch.ids);
    await source.close();
  }
  assert.deepEqual(ids, Array.from({ length: 119 }, (_, r) => String(r)));
});

test('classify over a bad dataset: one error naming the file, and the previous output untouched', async () => {
  const data = join(dir, 'bad-dataset');
  const out = join(dir, 'bad-dataset-out');
  await mkdir(data);
  await mkdir(out);
  const output = join(out, 'pred.csv');
  const previous = 'row,id,predicted,p_star,p_galaxy,p_qso,status\n';
  const fails = async (input: string[], options: { shard?: [number, number]; onStart?: () => Promise<void> | void }, code: string, file: string, pattern: RegExp) => {
    await writeFile(output, previous);
    let started: Promise<void> | undefined;
    await assert.rejects(
      classifyFile(input, {
        model,
        output,
        batchSize: 16,
        workers: 1,
        shard: options.shard && { index: options.shard[0], count: options.shard[1] },
        onStart: options.onStart && (() => void (started = Promise.resolve(options.onStart!()))),
      }),
      (error: unknown) => {
        assert.ok(error instanceof AstrospecError, String(error));
        assert.equal(error.code, code, error.message);
        assert.equal(error.file, file, error.message);
        assert.match(error.message, pattern);
        return true;
      },
    );
    await started;
    // Nothing half-written: the old output as it was, no temporary left beside it.
    assert.equal(await readFile(output, 'utf8'), previous);
    assert.deepEqual(await readdir(out), ['pred.csv']);
  };
  const reset = async () => {
    await rm(data, { recursive: true, force: true });
    await mkdir(data);
    await copyFile(join(dir, 'a.arrow'), join(data, 'a.arrow'));
    await copyFile(join(dir, 'b.csv'), join(data, 'b.csv'));
    await copyFile(join(dir, 'b.csv'), join(data, 'c.csv'));
  };

  // A file removed, or appended to, after the dataset was listed and the run started.
  await reset();
  await fails([data], { onStart: () => rm(join(data, 'c.csv')) }, 'IO', join(data, 'c.csv'), /no such file|removed after the dataset was listed/);
  await reset();
  await fails([data], { onStart: () => appendFile(join(data, 'c.csv'), '\n') }, 'IO', join(data, 'c.csv'), /changed after the dataset was listed/);
  await reset();
  await fails([data], { shard: [1, 2], onStart: () => appendFile(join(data, 'c.csv'), '\n') }, 'IO', join(data, 'c.csv'), /changed after the dataset was listed/);

  // Two grids in one dataset: the file that differs is named, whole or in the shard that reaches it.
  await reset();
  await writeSpectra(join(data, 'd.arrow'), 40, 0, { start: 3800, step: 2, length: 300 });
  await fails([data], {}, 'BAD_INPUT', join(data, 'd.arrow'), /300 pixels.*share one grid/);
  await fails([data], { shard: [2, 3] }, 'BAD_INPUT', join(data, 'd.arrow'), /300 pixels.*share one grid/);

  // A chunk folder whose manifest's counts don't match its chunks.
  const chunks = join(dir, 'bad-dataset-chunks');
  await convertHandler({ inputs: [join(dir, 'a.arrow')], output: chunks, chunkRows: 100, quiet: true });
  const manifestPath = join(chunks, MANIFEST_NAME);
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  manifest.files[2].rows += 1;
  manifest.rows += 1;
  await writeFile(manifestPath, JSON.stringify(manifest));
  await fails([chunks], {}, 'BAD_INPUT', join(chunks, 'chunk-000002.arrow'), /says this chunk has 101 rows, but it has 100/);
  await fails([chunks], { shard: [1, 2] }, 'BAD_INPUT', join(chunks, 'chunk-000002.arrow'), /says this chunk has 101 rows, but it has 100/);
  manifest.files[2].rows -= 1;
  await writeFile(manifestPath, JSON.stringify(manifest));
  await fails([chunks], { shard: [0, 2] }, 'BAD_INPUT', manifestPath, /"rows" is 331, but its files' rows add up to 330/);
});
