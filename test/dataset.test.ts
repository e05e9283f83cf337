/**
 * Datasets (src/io/dataset.ts): listing files, folders, globs and @lists; one global row index
 * over mixed formats; shards that read only their slice, checked by counting what the readers
 * read (src/io/read-stats.ts); and the bad inputs: a file removed or changed after listing, two
 * grids, a manifest that doesn't match its files.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AstrospecError } from '../src/errors.js';
import { concatBatches, type SpectrumBatch, type WavelengthGrid } from '../src/io/batch.js';
import { listDataset, openSpectra, shardRange } from '../src/io/open.js';
import { createSpectraSink } from '../src/io/sink.js';
import { readStats, readStatsSince } from '../src/io/read-stats.js';
import { recordBatchRows } from '../src/io/arrow.js';
import { convertHandler } from '../src/cli/commands/convert.js';
import { MANIFEST_NAME } from '../src/io/manifest.js';
import { planHandler } from '../src/cli/commands/plan.js';
import { syntheticBatch } from './classify-fixtures.js';

const grid: WavelengthGrid = { start: 3800, step: 2, length: 256 };
const lamost = fileURLToPath(new URL('../../shared/data/lamost/dr10/', import.meta.url));
let dir: string;

/** Writes rows [first, first+rows) of the fixture spectra (100-row batches) to a CSV or Arrow file. */
async function writeSpectra(path: string, rows: number, first = 0, g: WavelengthGrid = grid): Promise<void> {
  const sink = await createSpectraSink(path, { grid: g, hasLabels: true });
  for (let at = 0; at < rows; at += 100) await sink.write(syntheticBatch(Math.min(100, rows - at), g, 7 + first + at, first + at));
  await sink.close();
}

async function readAll(input: string | string[], options = {}): Promise<{ batches: SpectrumBatch[]; ids: string[]; firstRows: number[] }> {
  const source = await openSpectra(input, options);
  const batches: SpectrumBatch[] = [];
  try {
    for await (const b of source.batches()) batches.push(b);
  } finally {
    await source.close();
  }
  return { batches, ids: batches.flatMap((b) => b.ids), firstRows: batches.map((b) => b.firstRow) };
}

function expectError(code: string, file: string, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof AstrospecError, String(error));
    assert.equal(error.code, code, error.message);
    assert.equal(error.file, file, error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'astrospec-dataset-'));
  await writeSpectra(join(dir, 'a.arrow'), 1000);
  await writeSpectra(join(dir, 'b.csv'), 500, 1000);
  await mkdir(join(dir, 'fits'));
  for (const name of (await readdir(lamost)).sort().slice(0, 12)) await copyFile(join(lamost, name), join(dir, 'fits', name));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('folders, globs and @lists list files in a stable order; hidden and foreign files are skipped', async () => {
  const mixed = join(dir, 'mixed');
  await mkdir(mixed);
  await copyFile(join(dir, 'b.csv'), join(mixed, 'z.csv'));
  await copyFile(join(dir, 'a.arrow'), join(mixed, 'A.arrow'));
  await writeFile(join(mixed, 'README.md'), 'not spectra');
  await writeFile(join(mixed, '.a.arrow.123.partial'), 'a temporary');
  const folder = await listDataset(mixed);
  assert.deepEqual(folder.files.map((f) => [relative(mixed, f.path), f.format]), [['A.arrow', 'arrow'], ['z.csv', 'csv']]);

  const glob = await listDataset(join(dir, 'fits', '*_sp0[2-5]-*.fits.gz'));
  const all = (await readdir(join(dir, 'fits'))).sort();
  assert.deepEqual(glob.files.map((f) => relative(join(dir, 'fits'), f.path)), all.filter((n) => /_sp0[2-5]-/.test(n)));
  assert.ok(glob.files.length > 2 && glob.files.length < all.length);
  const deep = await listDataset(join(dir, '**', '*.csv'));
  assert.deepEqual(deep.files.map((f) => relative(dir, f.path)), ['b.csv', join('mixed', 'z.csv')]);

  // A list: relative to its folder, comments and blank lines skipped, entries may be folders or globs.
  const list = join(dir, 'list.txt');
  await writeFile(list, `# the catalogue\nb.csv\n\n  fits/*GACII337*.fits.gz  \r\n${join(dir, 'a.arrow')}\n`);
  const listed = await listDataset(`@${list}`);
  assert.deepEqual(listed.files.map((f) => relative(dir, f.path)), ['b.csv', ...all.filter((n) => n.includes('GACII337')).map((n) => join('fits', n)), 'a.arrow']);

  await assert.rejects(listDataset(join(dir, 'nothing-*.arrow')), expectError('BAD_INPUT', join(dir, 'nothing-*.arrow'), /no files match/));
  await writeFile(join(dir, 'nested.txt'), `@${list}\n`);
  await assert.rejects(listDataset(`@${join(dir, 'nested.txt')}`), /can't name another list/);
  await assert.rejects(listDataset(join(dir, 'missing.arrow')), expectError('IO', join(dir, 'missing.arrow'), /no such file/));
});

test('a mixed dataset reads as one source with one global row index; batches never span two files', async () => {
  const inputs = [join(dir, 'a.arrow'), join(dir, 'b.csv'), join(dir, 'fits')];
  const { batches, ids, firstRows } = await readAll(inputs, { batchSize: 128, grid });
  assert.equal(ids.length, 1000 + 500 + 12);
  let next = 0;
  batches.forEach((b, k) => {
    assert.equal(firstRows[k], next);
    next += b.ids.length;
  });
  assert.deepEqual(ids.slice(0, 1500), [...(await readAll(join(dir, 'a.arrow'))).ids, ...(await readAll(join(dir, 'b.csv'))).ids]);
  // The FITS rows carry their files, for labels joined by file name.
  assert.deepEqual(batches.at(-1)!.files!.map((f) => relative(join(dir, 'fits'), f)), (await readdir(join(dir, 'fits'))).sort());
  const source = await openSpectra(inputs, { grid });
  assert.equal(source.rowCount, undefined); // a CSV's rows are not known without reading it
  assert.equal(await source.countRows!(), 1512);
  await source.close();
});

/** Reads every shard of `input` and checks the slices: together all rows once, in order; each decodes only its own. */
async function checkShards(input: string | string[], n: number, options: { batchSize?: number } = {}): Promise<{ bytes: number[]; rows: number[] }> {
  const whole = await readAll(input, { grid, ...options });
  const bytes: number[] = [];
  const rows: number[] = [];
  let joined: string[] = [];
  let split: string | undefined;
  for (let i = 0; i < n; i++) {
    const start = readStats();
    const source = await openSpectra(input, { grid, ...options, shard: { index: i, count: n } });
    const got: SpectrumBatch[] = [];
    for await (const b of source.batches()) got.push(b);
    await source.close();
    const read = readStatsSince(start);
    const ids = got.flatMap((b) => b.ids);
    split = source.slice!.split;
    if (split === 'rows') {
      const [a, b] = shardRange(whole.ids.length, { index: i, count: n });
      assert.deepEqual([source.slice!.begin, source.slice!.end], [a, b]);
      assert.equal(got[0]?.firstRow ?? a, a);
    } else if (got.length > 0) assert.equal(got[0]!.firstRow, 0);
    // The shard decoded exactly the rows it returns: none of another shard's.
    assert.equal(read.rows, ids.length, `shard ${i}/${n} decoded ${read.rows} rows for ${ids.length}`);
    bytes.push(read.bytes);
    rows.push(ids.length);
    joined = joined.concat(ids);
    if (got.length > 0) {
      const flux = concatBatches(got).flux;
      const offset = joined.length - ids.length;
      const expected = concatBatches(whole.batches).flux.subarray(offset * grid.length, joined.length * grid.length);
      assert.deepEqual(flux, expected);
    }
  }
  assert.deepEqual(joined, whole.ids, `${n} shards of ${String(input)} (${split} split) together are the whole input`);
  return { bytes, rows };
}

test('shards of an Arrow file read from the record batch holding their first row, and no earlier one', async () => {
  const file = join(dir, 'a.arrow');
  const size = (await readFile(file)).length;
  // The fixture writes 100-row batches, each one record batch (below the writer's cap).
  const perBatch = Math.min(100, recordBatchRows(grid.length));
  for (const n of [1, 4, 9]) {
    const { bytes } = await checkShards(file, n);
    // Each shard reads its rows' record batches (one more at each end at most) and the metadata.
    const rowBytes = size / 1000;
    for (const b of bytes) assert.ok(b <= (1000 / n + 2 * perBatch) * rowBytes + 64 * 1024, `shard read ${b} bytes`);
    const total = bytes.reduce((s, b) => s + b, 0);
    assert.ok(total <= size + (n - 1) * perBatch * rowBytes + n * 64 * 1024, `${n} shards read ${total} of ${size} bytes`);
  }
});

test('shards of a CSV split it by byte ranges: each parses only the lines that start in its range', async () => {
  const file = join(dir, 'b.csv');
  const size = (await readFile(file)).length;
  const line = size / 500;
  for (const n of [1, 3, 8, 40]) {
    const { bytes, rows } = await checkShards(file, n, { batchSize: 64 });
    assert.equal(rows.reduce((s, r) => s + r, 0), 500);
    const total = bytes.reduce((s, b) => s + b, 0);
    // Beyond its range a shard reads the header, the end of the line before it and the rest of its last line (64 kB steps).
    assert.ok(total <= size + n * (2 * 64 * 1024 + 2 * line), `${n} shards read ${total} of ${size} bytes`);
  }
  // More shards than lines: some shards are empty, none repeats a row.
  const tiny = join(dir, 'tiny.csv');
  await writeSpectra(tiny, 3);
  await checkShards(tiny, 10);
});

test('shards of a FITS folder, a chunk folder and a mixed dataset cover every row once', async () => {
  const fits = join(dir, 'fits');
  const before = readStats();
  await checkShards(fits, 5);
  // FITS shards open only their own files: the 12 files are read once in all (plus the whole-folder read).
  assert.equal(readStatsSince(before).rows, 2 * 12);

  const chunks = join(dir, 'chunks');
  await convertHandler({ inputs: [join(dir, 'a.arrow')], output: chunks, chunkRows: 230, quiet: true });
  const manifest = JSON.parse(await readFile(join(chunks, MANIFEST_NAME), 'utf8'));
  assert.deepEqual(manifest.files.map((f: { rows: number }) => f.rows), [230, 230, 230, 230, 80]);
  assert.equal(manifest.rows, 1000);
  assert.deepEqual(manifest.grid, grid);
  assert.deepEqual((await readAll(chunks)).ids, (await readAll(join(dir, 'a.arrow'))).ids);
  for (const n of [2, 7]) await checkShards(chunks, n);
  // A shard opens only its own chunks: the manifest gives every count.
  const start = readStats();
  const source = await openSpectra(chunks, { shard: { index: 0, count: 5 } });
  for await (const _ of source.batches());
  await source.close();
  assert.ok(readStatsSince(start).bytes < 2 * manifest.files[0].bytes, `shard 0/5 read ${readStatsSince(start).bytes} bytes`);

  for (const n of [1, 4, 11]) await checkShards([join(dir, 'b.csv'), chunks, fits], n);
  for (const n of [3, 6]) await checkShards([fits, join(dir, 'a.arrow')], n);
});

test('a .csv.gz goes whole to one shard, with a note saying why', async () => {
  const gz = join(dir, 'b.csv.gz');
  await writeSpectra(gz, 120);
  const source = await openSpectra([join(dir, 'a.arrow'), gz], { shard: { index: 3, count: 4 } });
  assert.equal(source.slice!.split, 'bytes');
  assert.match(source.slice!.notes.join('\n'), /b\.csv\.gz: gzip can't seek.*convert it to Arrow/);
  await source.close();
  await checkShards([join(dir, 'a.arrow'), gz], 4);
});

test('a file removed or changed after the dataset was listed: one error naming it', async () => {
  const copy = join(dir, 'gone');
  await mkdir(copy);
  for (const name of ['a.arrow', 'b.csv']) await copyFile(join(dir, name), join(copy, name));
  await copyFile(join(dir, 'fits', (await readdir(join(dir, 'fits'))).sort()[0]!), join(copy, 'c.fits.gz'));

  // Removed between listing and reading.
  const dataset = await listDataset(copy);
  await rm(join(copy, 'b.csv'));
  await assert.rejects(readAll(dataset as never), expectError('IO', join(copy, 'b.csv'), /no such file/));
  await copyFile(join(dir, 'b.csv'), join(copy, 'b.csv'));

  // Changed while a shard's source is open: the readers check the file they read is the one listed.
  for (const name of ['b.csv', 'a.arrow']) {
    const source = await openSpectra(copy, { grid, shard: { index: 0, count: 1 } });
    await appendFile(join(copy, name), '\n');
    await assert.rejects(
      (async () => {
        for await (const _ of source.batches());
      })(),
      expectError('IO', join(copy, name), /changed after the dataset was listed/),
    );
    await source.close();
    await copyFile(join(dir, name), join(copy, name));
  }
  const source = await openSpectra(copy, { grid });
  await rm(join(copy, 'c.fits.gz'));
  await assert.rejects(
    (async () => {
      for await (const _ of source.batches());
    })(),
    expectError('IO', join(copy, 'c.fits.gz'), /no such file/),
  );
  await source.close();
});

test('a list written by plan --list-out holds each file as listed: a file or chunk folder rewritten since is named', async () => {
  const data = join(dir, 'listed');
  await mkdir(data);
  await copyFile(join(dir, 'a.arrow'), join(data, 'a.arrow'));
  await copyFile(join(dir, 'b.csv'), join(data, 'b.csv'));
  const chunks = join(dir, 'listed-chunks');
  await convertHandler({ inputs: [join(dir, 'b.csv')], output: chunks, chunkRows: 200, quiet: true });
  const list = join(dir, 'listed.txt');
  await planHandler({ inputs: [data, chunks], shards: 3, listOut: list, quiet: true });
  const text = await readFile(list, 'utf8');
  assert.match(text, new RegExp(`^${join(data, 'a.arrow')}\n# listed: \\d+ bytes, mtime_ms [0-9.]+\n`));
  // The list reads as the dataset it was made from, with the chunk folder as its folder.
  const expected = [join(data, 'a.arrow'), join(data, 'b.csv'), ...['chunk-000000.arrow', 'chunk-000001.arrow', 'chunk-000002.arrow'].map((n) => join(chunks, n))];
  assert.deepEqual((await listDataset(`@${list}`)).files.map((f) => f.path), expected);
  assert.deepEqual((await readAll(`@${list}`)).ids, (await readAll([data, chunks])).ids);

  // Rewritten with the same size (another version of the file): its modification time says so.
  const a = join(data, 'a.arrow');
  const was = await stat(a);
  await utimes(a, was.atime, new Date(was.mtimeMs + 5000));
  await assert.rejects(listDataset(`@${list}`), expectError('IO', a, /changed after it was listed in .*listed\.txt \(\d+ bytes, modified .*; now \d+ bytes, modified .*\): .*list it again/));
  await assert.rejects(readAll(`@${list}`, { shard: { index: 2, count: 3 } }), expectError('IO', a, /changed after it was listed/));
  // Listed again, it reads.
  await planHandler({ inputs: [data, chunks], shards: 3, listOut: list, quiet: true });
  assert.equal((await listDataset(`@${list}`)).files.length, 5);
  // Appended to.
  await appendFile(join(data, 'b.csv'), '\n');
  await assert.rejects(listDataset(`@${list}`), expectError('IO', join(data, 'b.csv'), /changed after it was listed/));
  await copyFile(join(dir, 'b.csv'), join(data, 'b.csv'));
  await planHandler({ inputs: [data, chunks], shards: 3, listOut: list, quiet: true });
  // A chunk folder written again (convert replaces it whole): its manifest is named.
  await convertHandler({ inputs: [join(dir, 'b.csv')], output: chunks, chunkRows: 250, quiet: true });
  await assert.rejects(listDataset(`@${list}`), expectError('IO', join(chunks, MANIFEST_NAME), /changed after it was listed/));
  await rm(join(chunks, MANIFEST_NAME));
  await assert.rejects(listDataset(`@${list}`), expectError('IO', chunks, /no astrospec-manifest\.json in this chunk folder, which had one when it was listed/));
  // Removed.
  await rm(join(data, 'b.csv'));
  await assert.rejects(listDataset(`@${list}`), expectError('IO', join(data, 'b.csv'), /no such file or folder \(listed in .*listed\.txt\)/));
  // A list written by hand, without the listed lines, is taken as it is now.
  await writeFile(list, `${a}\n`);
  assert.equal((await listDataset(`@${list}`)).files.length, 1);
});

test('files on different grids, and a manifest that does not match its chunks: one error naming the file', async () => {
  const other = join(dir, 'other-grid.arrow');
  await writeSpectra(other, 10, 0, { start: 3800, step: 2, length: 300 });
  await assert.rejects(readAll([join(dir, 'a.arrow'), other]), expectError('BAD_INPUT', other, /300 pixels .* 256 pixels.*share one grid/));
  await assert.rejects(readAll([join(dir, 'a.arrow'), other], { shard: { index: 1, count: 2 } }), expectError('BAD_INPUT', other, /share one grid/));
  // An empty file owns no byte, but still fails in the shard whose range holds it, as in one process.
  const empty = join(dir, 'empty.csv');
  await writeFile(empty, '');
  await assert.rejects(readAll([join(dir, 'b.csv'), empty]), expectError('BAD_INPUT', empty, /empty file/));
  await assert.rejects(readAll([join(dir, 'b.csv'), empty], { shard: { index: 2, count: 3 } }), expectError('BAD_INPUT', empty, /empty file/));

  const chunks = join(dir, 'bad-chunks');
  await convertHandler({ inputs: [join(dir, 'a.arrow')], output: chunks, chunkRows: 400, quiet: true });
  const manifestPath = join(chunks, MANIFEST_NAME);
  const good = await readFile(manifestPath, 'utf8');
  const manifest = JSON.parse(good);
  // A chunk's row count that disagrees with its footer (bytes and total kept consistent).
  manifest.files[1].rows -= 1;
  manifest.files[2].rows += 1;
  await writeFile(manifestPath, JSON.stringify(manifest));
  await assert.rejects(readAll(chunks), expectError('BAD_INPUT', join(chunks, 'chunk-000001.arrow'), /says this chunk has 399 rows, but it has 400/));
  await assert.rejects(readAll(chunks, { shard: { index: 1, count: 2 } }), expectError('BAD_INPUT', join(chunks, 'chunk-000001.arrow'), /399 rows/));
  // A total that is not the sum of the files.
  manifest.files[2].rows -= 1;
  await writeFile(manifestPath, JSON.stringify(manifest));
  await assert.rejects(readAll(chunks), expectError('BAD_INPUT', manifestPath, /"rows" is 1000, but its files' rows add up to 999/));
  // A chunk replaced by another file (its size no longer the manifest's).
  await writeFile(manifestPath, good);
  await copyFile(join(dir, 'other-grid.arrow'), join(chunks, 'chunk-000002.arrow'));
  await assert.rejects(readAll(chunks), expectError('BAD_INPUT', join(chunks, 'chunk-000002.arrow'), /says this chunk has \d+ bytes, but it has/));
  // Damaged JSON, and paths that leave the folder.
  await writeFile(manifestPath, good.slice(0, 100));
  await assert.rejects(readAll(chunks), expectError('BAD_INPUT', manifestPath, /not JSON/));
  await writeFile(manifestPath, good.replace('chunk-000000.arrow', '../a.arrow'));
  await assert.rejects(readAll(chunks), expectError('BAD_INPUT', manifestPath, /must be a file name in the manifest's folder/));
});

test('convert --chunk-rows leaves nothing half-written when the input fails, and replaces an older chunk folder', async () => {
  const output = join(dir, 'failed-chunks');
  const bad = join(dir, 'bad.csv');
  const text = await readFile(join(dir, 'b.csv'), 'utf8');
  const lines = text.split('\n');
  lines[400] = lines[400]!.replace(/,[^,]+,/, ',oops,');
  await writeFile(bad, lines.join('\n'));
  await assert.rejects(convertHandler({ inputs: [join(dir, 'a.arrow'), bad], output, chunkRows: 300, quiet: true }), /bad\.csv, row 400, column FE\d+: "oops" is not a number/);
  assert.deepEqual((await readdir(dir)).filter((n) => n.includes('failed-chunks')), []);

  const chunks = join(dir, 'replaced');
  await convertHandler({ inputs: [join(dir, 'a.arrow')], output: chunks, chunkRows: 300, quiet: true });
  await convertHandler({ inputs: [join(dir, 'b.csv')], output: chunks, chunkRows: 200, quiet: true });
  assert.deepEqual((await readdir(chunks)).sort(), [MANIFEST_NAME, 'chunk-000000.arrow', 'chunk-000001.arrow', 'chunk-000002.arrow']);
  assert.deepEqual((await readAll(chunks)).ids, (await readAll(join(dir, 'b.csv'))).ids);
  assert.deepEqual((await readdir(dir)).filter((n) => n.includes('.partial')), []);
  await writeFile(join(dir, 'a-file'), 'x');
  await assert.rejects(convertHandler({ inputs: [join(dir, 'b.csv')], output: join(dir, 'a-file'), chunkRows: 200, quiet: true }), /exists and is not a chunk folder/);
  await truncate(join(dir, 'a-file'), 0);
});
