import { after, test } from 'node:test';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dictionary, Float64, Int32, RecordBatchStreamWriter, Utf8, vectorFromArray, makeTable } from 'apache-arrow';
import { openSpectra } from '../src/io/open.js';
import { createSpectraSink } from '../src/io/sink.js';
import { GRID_METADATA_KEY, type ArrowSpectraSource } from '../src/io/arrow.js';
import { concatBatches, type SpectrumBatch } from '../src/io/batch.js';

const peer = fileURLToPath(new URL('../../shared/data/peer-files/', import.meta.url));
const expected = JSON.parse(readFileSync(join(peer, 'lamost-stars-200.expected.json'), 'utf8')) as { row_sums_float64: number[] };
const dir = mkdtempSync(join(tmpdir(), 'astrospec-io-arrow-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(path: string, options = {}): Promise<{ batches: SpectrumBatch[]; all: SpectrumBatch }> {
  const source = await openSpectra(path, options);
  const batches: SpectrumBatch[] = [];
  for await (const b of source.batches()) batches.push(b);
  await source.close();
  return { batches, all: concatBatches(batches) };
}

function bits(flux: Float32Array): Uint32Array {
  return new Uint32Array(flux.buffer, flux.byteOffset, flux.length);
}

test('the readers use apache-arrow\'s CommonJS build in Node (package.json "#apache-arrow")', () => {
  // Its ES module build imports tslib and flatbuffers, CommonJS modules that Node would scan for
  // their exports in every process (lib/apache-arrow.cjs).
  const require = createRequire(import.meta.url);
  assert.ok(require.cache[require.resolve('apache-arrow')], 'apache-arrow was not loaded through require()');
});

test('src/ imports apache-arrow only as "#apache-arrow"', () => {
  // A direct import would load the ES module build beside the CommonJS one in Node, and objects of
  // one fail the other's instanceof checks (a Data read by the readers, given to makeVector).
  const src = fileURLToPath(new URL('../src/', import.meta.url));
  const direct: string[] = [];
  for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts')) continue;
    if (/from ['"]apache-arrow(\/[^'"]*)?['"]/.test(readFileSync(join(src, file), 'utf8'))) direct.push(file);
  }
  assert.deepEqual(direct, [], 'import from "#apache-arrow" (package.json "imports") instead');
});

for (const codec of ['uncompressed', 'lz4', 'zstd']) {
  test(`pandas Feather (${codec}) reads with the expected row sums, ids and labels`, async () => {
    const path = join(peer, `lamost-stars-200.${codec}.feather`);
    const source = await openSpectra(path, { batchSize: 150 });
    assert.equal(source.rowCount, 200);
    assert.equal(source.hasLabels, true);
    assert.equal(source.grid.length, 2600);
    const { all, batches } = await readAll(path, { batchSize: 150 });
    assert.deepEqual(batches.map((b) => b.ids.length), [150, 50]);
    assert.equal(all.ids[199], '199');
    assert.ok(all.labels!.every((l) => l === 0));
    // Same tolerance argument as the CSV test: 1e-13 of Σ|x| is far below one float32 ulp in one pixel.
    for (let i = 0; i < 200; i++) {
      let sum = 0;
      let abs = 0;
      for (let j = 0; j < 2600; j++) {
        sum += all.flux[i * 2600 + j]!;
        abs += Math.abs(all.flux[i * 2600 + j]!);
      }
      assert.ok(Math.abs(sum - expected.row_sums_float64[i]!) <= 1e-13 * abs, `row ${i}`);
    }
  });
}

function randomBatch(rows: number, L: number, seed: number, firstRow = 0): SpectrumBatch {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const flux = new Float32Array(rows * L);
  const raw = new Uint32Array(flux.buffer);
  for (let i = 0; i < raw.length; i++) {
    // Any finite float32 bit pattern: denormals, huge and tiny exponents, −0.
    let b = next();
    if ((b & 0x7f800000) === 0x7f800000) b &= 0xbfffffff;
    raw[i] = b;
  }
  return {
    ids: Array.from({ length: rows }, (_, i) => `obs-${firstRow + i}`),
    flux,
    grid: { start: 3700, step: 1.25, length: L },
    labels: Int8Array.from({ length: rows }, (_, i) => (i % 4) - 1),
    firstRow,
    extra: { redshift: Float32Array.from({ length: rows }, (_, i) => i / 7) },
    tags: { subclass: Array.from({ length: rows }, (_, i) => `sub ${i % 3}`) },
  };
}

test('arrow → csv → arrow is bit-exact for every finite float32, with grid, labels, extras and tags', async () => {
  const L = 64;
  const batches = [randomBatch(300, L, 1), randomBatch(211, L, 2, 300)];
  const grid = batches[0]!.grid;
  const a = join(dir, 'a.arrow');
  const sink = await createSpectraSink(a, { grid, hasLabels: true });
  for (const b of batches) await sink.write(b);
  await sink.close();
  assert.equal(sink.rowsWritten, 511);
  const source = await openSpectra(a);
  assert.deepEqual(source.grid, grid);
  assert.equal(source.rowCount, 511);

  const csv = join(dir, 'a.csv');
  const csvSink = await createSpectraSink(csv, { grid, hasLabels: true });
  for await (const b of source.batches()) await csvSink.write(b);
  await csvSink.close();
  const back = join(dir, 'b.feather');
  const csvSource = await openSpectra(csv, { grid });
  const backSink = await createSpectraSink(back, { grid: csvSource.grid, hasLabels: csvSource.hasLabels });
  for await (const b of csvSource.batches()) await backSink.write(b);
  await backSink.close();

  const original = concatBatches(batches);
  const { all, batches: read } = await readAll(back);
  assert.deepEqual(bits(all.flux), bits(original.flux));
  assert.deepEqual(all.ids, original.ids);
  assert.deepEqual(all.labels, original.labels);
  assert.deepEqual(read[0]!.extra!.redshift!.subarray(0, 300), batches[0]!.extra!.redshift);
  assert.deepEqual(read[0]!.tags!.subclass!.slice(0, 300), batches[0]!.tags!.subclass);
  assert.deepEqual((await openSpectra(back)).grid, grid);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.partial')), []);
});

test('abort() leaves neither the output nor a temporary file', async () => {
  const L = 8;
  const b = randomBatch(10, L, 3);
  for (const name of ['aborted.arrow', 'aborted.csv.gz']) {
    const path = join(dir, name);
    const sink = await createSpectraSink(path, { grid: b.grid, hasLabels: true });
    await sink.write(b);
    await sink.abort();
    assert.equal(existsSync(path), false);
  }
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('aborted')), []);
});

test('an Arrow stream, a dictionary label column and float64 pixel columns read too', async () => {
  const rows = 5;
  const columns: Record<string, unknown> = { id: vectorFromArray(['a', 'b', 'c', 'd', 'e'], new Utf8()) };
  for (let j = 0; j < 3; j++) columns[`FE${j}`] = vectorFromArray(Array.from({ length: rows }, (_, i) => i + j / 10), new Float64());
  columns.label = vectorFromArray(['STAR', 'qso', 'Galaxy', null, 'star'], new Dictionary(new Utf8(), new Int32()));
  const table = makeTable(columns as never);
  const stream = join(dir, 'wide.ipc');
  writeFileSync(stream, RecordBatchStreamWriter.writeAll(table).toUint8Array(true));
  const source = await openSpectra(stream, { grid: { start: 0, step: 1, length: 3 } });
  // Streams are walked at open (every message header is checked), which also counts their rows.
  assert.equal(source.rowCount, 5);
  assert.equal(await source.countRows!(), 5);
  const { all } = await readAll(stream);
  assert.deepEqual([...all.labels!], [0, 2, 1, -1, 0]);
  assert.deepEqual([...all.flux.subarray(3, 6)], [1, 1.1, 1.2].map(Math.fround));
  assert.deepEqual(all.grid, { start: 3800, step: 2, length: 3 });
});

test('the grid is stored in schema metadata and read back; no label column means no labels', async () => {
  const b = randomBatch(3, 2600, 9);
  const path = join(dir, 'grid.arrow');
  const sink = await createSpectraSink(path, { grid: { start: 3800, step: 2, length: 2600 }, hasLabels: false });
  await sink.write({ ...b, grid: { start: 3800, step: 2, length: 2600 }, labels: undefined });
  await sink.close();
  const text = readFileSync(path).toString('latin1');
  assert.ok(text.includes(GRID_METADATA_KEY));
  const source = await openSpectra(path);
  assert.deepEqual(source.grid, { start: 3800, step: 2, length: 2600 });
  assert.equal(source.hasLabels, false);
});

test('reads that fit inside one record batch (zero-copy views) and reads that span several give the same rows', async () => {
  const grid = { start: 3800, step: 2, length: 37 }; // odd length: views start at unaligned float offsets
  const path = join(dir, 'views.arrow');
  const sink = await createSpectraSink(path, { grid, hasLabels: true });
  const rows = 250;
  const flux = new Float32Array(rows * grid.length).map((_, i) => Math.fround(Math.sin(i) * 1e3 + i));
  const written = { ids: Array.from({ length: rows }, (_, i) => `s${i}`), flux, grid, labels: new Int8Array(rows).map((_, i) => i % 3), firstRow: 0 };
  // Record batches of 100, 100 and 50 rows.
  for (let at = 0; at < rows; at += 100) {
    const n = Math.min(100, rows - at);
    await sink.write({ ids: written.ids.slice(at, at + n), flux: flux.slice(at * grid.length, (at + n) * grid.length), grid, labels: written.labels.slice(at, at + n), firstRow: at });
  }
  await sink.close();
  for (const batchSize of [1, 25, 64, 100, 128, 1000]) {
    const { all, batches } = await readAll(path, { batchSize });
    assert.equal(all.ids.length, rows, `batch ${batchSize}`);
    assert.deepEqual(all.ids, written.ids);
    assert.deepEqual(all.labels, written.labels);
    assert.deepEqual(bits(all.flux), bits(flux), `batch ${batchSize}`);
    let next = 0;
    for (const b of batches) {
      assert.equal(b.firstRow, next);
      assert.equal(b.flux.length, b.ids.length * grid.length);
      next += b.ids.length;
    }
  }
});

test('splitAtRecordBatches: batches end where record batches end, are views of them, and hold the same rows', async () => {
  const grid = { start: 4000, step: 1, length: 37 };
  const path = join(dir, 'split.arrow');
  const sink = await createSpectraSink(path, { grid, hasLabels: true });
  const sizes = [5, 11, 7, 11, 5];
  let row = 0;
  for (const rows of sizes) {
    const flux = Float32Array.from({ length: rows * grid.length }, (_, k) => (row * grid.length + k) * 0.25 + 1);
    await sink.write({ ids: Array.from({ length: rows }, (_, i) => `r${row + i}`), flux, grid, firstRow: row, labels: Int8Array.from({ length: rows }, (_, i) => (row + i) % 3) });
    row += rows;
  }
  await sink.close();
  const ends = sizes.map((_, k) => sizes.slice(0, k + 1).reduce((a, b) => a + b, 0));
  for (const batchSize of [1, 4, 5, 8, 16, 64]) {
    const plain = await readAll(path, { batchSize });
    for (const reuseBuffers of [false, true]) {
      const source = await openSpectra(path, { batchSize, reuseBuffers, splitAtRecordBatches: true });
      const seen: SpectrumBatch[] = [];
      for await (const b of source.batches()) {
        // Copied before the next read: with reuseBuffers the view is read over.
        seen.push({ ...b, ids: [...b.ids], flux: b.flux.slice(), labels: b.labels?.slice() });
        const last = b.firstRow + b.ids.length;
        const start = [0, ...ends].filter((e) => e <= b.firstRow).pop()!;
        assert.ok(b.ids.length <= batchSize && b.ids.length > 0, `batch size ${batchSize}`);
        assert.ok(last <= ends.find((e) => e > b.firstRow)!, `batch ${b.firstRow}…${last - 1} spans record batches (batch size ${batchSize})`);
        // Each ends where a record batch or a run of batchSize rows from the first row ends.
        assert.ok(last % batchSize === 0 || ends.includes(last), `batch ${b.firstRow}…${last - 1} ends inside a run of ${batchSize} rows`);
        // A view of the record batch read from the file (the views' buffer is the read buffer, not a batch-sized copy).
        assert.ok(b.flux.buffer.byteLength > b.flux.byteLength, `batch ${b.firstRow} is a copy`);
        assert.ok(b.firstRow >= start);
      }
      await source.close();
      const all = concatBatches(seen);
      assert.deepEqual(all.ids, plain.all.ids);
      assert.deepEqual([...all.labels!], [...plain.all.labels!]);
      assert.deepEqual(bits(all.flux), bits(plain.all.flux), `batch size ${batchSize}, reuseBuffers ${reuseBuffers}`);
    }
    // A row range (a shard): runs of batchSize rows count from its first row.
    const whole = (await openSpectra(path, { batchSize, reuseBuffers: true, splitAtRecordBatches: true })) as ArrowSpectraSource;
    const part = whole.rowRange(3, 30);
    const ids: string[] = [];
    for await (const b of part.batches()) {
      const last = b.firstRow + b.ids.length;
      assert.ok((last - 3) % batchSize === 0 || ends.includes(last) || last === 30, `range batch ${b.firstRow}…${last - 1}, batch size ${batchSize}`);
      ids.push(...b.ids);
    }
    assert.deepEqual(ids, plain.all.ids.slice(3, 30));
    await part.close();
    await whole.close();
  }
});

test('ids, labels and tags read alike on the ASCII fast path and off it (non-ASCII text, empty strings)', async () => {
  const grid = { start: 3800, step: 2, length: 5 };
  const path = join(dir, 'strings.arrow');
  const sink = await createSpectraSink(path, { grid, hasLabels: true });
  const rows = 120;
  // Record batch 0 all ASCII; record batch 1 with non-ASCII ids and tags in its second half.
  const ids = Array.from({ length: rows }, (_, i) => (i >= 90 ? `spéc-${i}-星` : i % 17 === 0 ? '' : `spec,${i}`));
  const tags = Array.from({ length: rows }, (_, i) => (i >= 100 ? `Ü${i}` : `t${i % 5}`));
  const labels = new Int8Array(rows).map((_, i) => (i % 4) - 1);
  const flux = new Float32Array(rows * grid.length).fill(1);
  for (let at = 0; at < rows; at += 60) {
    await sink.write({ ids: ids.slice(at, at + 60), flux: flux.slice(at * 5, (at + 60) * 5), grid, labels: labels.slice(at, at + 60), firstRow: at, tags: { subclass: tags.slice(at, at + 60) } });
  }
  await sink.close();
  for (const batchSize of [7, 32, 60, 1000]) {
    const { all } = await readAll(path, { batchSize });
    assert.deepEqual(all.ids, ids, `batch ${batchSize}`);
    assert.deepEqual(all.labels, labels, `batch ${batchSize}`);
    assert.deepEqual(all.tags!.subclass, tags, `batch ${batchSize}`);
  }
  // spectraOnly: the same flux, ids and labels, and no tag column copied out.
  const full = await readAll(path, { batchSize: 32 });
  const only = await readAll(path, { batchSize: 32, spectraOnly: true });
  assert.ok(only.batches.every((b) => b.tags === undefined && b.extra === undefined));
  assert.deepEqual(only.all.ids, full.all.ids);
  assert.deepEqual(only.all.labels, full.all.labels);
  assert.deepEqual(bits(only.all.flux), bits(full.all.flux));
});

test('spectraOnly: extras and tags are left out, and a file with an invalid tag column still fails', async () => {
  const path = join(dir, 'spectra-only.arrow');
  const sink = await createSpectraSink(path, { grid: { start: 3700, step: 1.25, length: 9 }, hasLabels: true });
  const batch = randomBatch(50, 9, 5);
  await sink.write(batch);
  await sink.close();
  const only = await readAll(path, { spectraOnly: true });
  assert.equal(only.all.extra, undefined);
  assert.equal(only.all.tags, undefined);
  assert.deepEqual(only.all.ids, batch.ids);
  assert.deepEqual(bits(only.all.flux), bits(batch.flux));
  // A tag value that is not UTF-8: the column is not copied out, but the file is still checked.
  const bytes = readFileSync(path);
  const at = bytes.indexOf(Buffer.from('sub 2'));
  assert.ok(at > 0);
  bytes[at] = 0xff;
  const damaged = join(dir, 'spectra-only-damaged.arrow');
  writeFileSync(damaged, bytes);
  await assert.rejects(readAll(damaged, { spectraOnly: true }), /subclass|UTF-8|utf-8/);
});

test('reuseBuffers: batches read into reused buffers equal fresh ones when each is used before the next', async () => {
  const grid = { start: 4000, step: 1, length: 37 };
  const path = join(dir, 'reuse.arrow');
  const sink = await createSpectraSink(path, { grid, hasLabels: true });
  // Record batches of 5, 11 and 7 rows, so that batches both lie inside one and straddle several.
  let row = 0;
  for (const rows of [5, 11, 7, 11, 5]) {
    const flux = Float32Array.from({ length: rows * grid.length }, (_, k) => (row * grid.length + k) * 0.25 + 1);
    await sink.write({ ids: Array.from({ length: rows }, (_, i) => `r${row + i}`), flux, grid, firstRow: row, labels: Int8Array.from({ length: rows }, (_, i) => (row + i) % 3) });
    row += rows;
  }
  await sink.close();
  const snapshot = (b: SpectrumBatch) => JSON.stringify({ firstRow: b.firstRow, ids: b.ids, labels: [...(b.labels ?? [])], flux: [...b.flux] });
  for (const batchSize of [1, 4, 5, 8, 16, 64]) {
    const read = async (reuseBuffers: boolean) => {
      const source = await openSpectra(path, { batchSize, reuseBuffers });
      const seen: string[] = [];
      for await (const batch of source.batches()) seen.push(snapshot(batch));
      await source.close();
      return seen;
    };
    const fresh = await read(false);
    assert.equal(fresh.length, Math.ceil(row / batchSize));
    assert.deepEqual(await read(true), fresh, `batch size ${batchSize}`);
  }
});
