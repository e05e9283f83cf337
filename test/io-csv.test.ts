import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import Papa from 'papaparse';
import { openSpectra } from '../src/io/open.js';
import { openCsv } from '../src/io/csv.js';
import { createSpectraSink } from '../src/io/sink.js';
import { concatBatches, type SpectrumBatch } from '../src/io/batch.js';
import { native } from '../src/native/binding.js';

const peer = fileURLToPath(new URL('../../shared/data/peer-files/', import.meta.url));
const expected = JSON.parse(readFileSync(join(peer, 'lamost-stars-200.expected.json'), 'utf8')) as { rows: number; row_sums_float64: number[] };
const dir = mkdtempSync(join(tmpdir(), 'astrospec-io-csv-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(path: string, options = {}): Promise<{ batches: SpectrumBatch[]; all: SpectrumBatch }> {
  const source = await openSpectra(path, options);
  const batches: SpectrumBatch[] = [];
  for await (const b of source.batches()) batches.push(b);
  await source.close();
  return { batches, all: batches.length > 0 ? concatBatches(batches) : (undefined as never) };
}

/**
 * The expected sums are float64 sums of each row's float32 values. Summing our float32 values in
 * float64 must agree to float64 summation-order noise (~1e-16 relative), far below the change one
 * pixel read one float32 ulp off would make (~1e-5 / 3e5 ≈ 3e-11 for a typical row), so the
 * tolerance 1e-13 relative to Σ|x| proves every pixel is the correctly rounded float32.
 */
function assertRowSums(batch: SpectrumBatch): void {
  const L = batch.grid.length;
  assert.equal(batch.ids.length, expected.rows);
  for (let i = 0; i < batch.ids.length; i++) {
    let sum = 0;
    let abs = 0;
    for (let j = 0; j < L; j++) {
      sum += batch.flux[i * L + j]!;
      abs += Math.abs(batch.flux[i * L + j]!);
    }
    assert.ok(Math.abs(sum - expected.row_sums_float64[i]!) <= 1e-13 * abs, `row ${i}: ${sum} vs ${expected.row_sums_float64[i]}`);
  }
}

test('peer CSV with an answer column reads with the expected row sums and labels', async () => {
  const { all, batches } = await readAll(join(peer, 'lamost-stars-200.csv'), { batchSize: 64 });
  assert.deepEqual(batches.map((b) => b.ids.length), [64, 64, 64, 8]);
  assert.deepEqual(batches.map((b) => b.firstRow), [0, 64, 128, 192]);
  assert.equal(all.grid.length, 2600);
  assert.equal(all.ids[0], '0');
  assertRowSums(all);
  assert.ok(all.labels && all.labels.every((l) => l === 0), 'every row of the peer file is a star');
});

test('peer CSV without labels reads the same fluxes, bit for bit as the Feather copy', async () => {
  const { all } = await readAll(join(peer, 'lamost-stars-200.nolabel.csv'));
  assertRowSums(all);
  assert.equal(all.labels, undefined);
  const feather = (await readAll(join(peer, 'lamost-stars-200.uncompressed.feather'))).all;
  assert.deepEqual(new Uint32Array(all.flux.buffer, all.flux.byteOffset, all.flux.length), new Uint32Array(feather.flux.buffer, feather.flux.byteOffset, feather.flux.length));
});

test('csv.gz reads the same as the plain file, and countRows counts without parsing', async () => {
  const gz = join(dir, 'peer.csv.gz');
  writeFileSync(gz, gzipSync(readFileSync(join(peer, 'lamost-stars-200.csv'))));
  const plain = (await readAll(join(peer, 'lamost-stars-200.csv'))).all;
  const source = await openSpectra(gz);
  assert.equal(await source.countRows!(), 200);
  const zipped = (await readAll(gz)).all;
  assert.deepEqual(zipped.flux, plain.flux);
  assert.deepEqual(zipped.ids, plain.ids);
});

test('rows split across small read chunks parse identically (and lines longer than a chunk grow the buffer)', async () => {
  const path = join(peer, 'lamost-stars-200.csv');
  const whole = (await readAll(path)).all;
  for (const chunkBytes of [4096, 100_003]) {
    const source = await openCsv(path, { chunkBytes, batchSize: 33, threads: 2 });
    const batches: SpectrumBatch[] = [];
    for await (const b of source.batches()) batches.push(b);
    const all = concatBatches(batches);
    assert.deepEqual(all.flux, whole.flux);
    assert.deepEqual(all.labels, whole.labels);
    assert.equal(await source.countRows!(), 200);
  }
});

/** Number texts a CSV may hold, in the forms pandas, numpy, Excel and hand edits produce. */
function numberTexts(count: number, seed: number): string[] {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const fixed = ['0', '-0', '+0', '0.0', '-0.0', '1', '-1', '+1.5', '.5', '-.25', '5.', '1e5', '1E+5', '-2.5e-3', '1e-40', '-1.4e-45', '1e-45', '3.4028234e38',
    '-3.4028234e38', '1e-50', '123456789012345678901234', '0.000000000000000000000000000000000000000001', '16777217', '00012.5000', '7e-46', '2.5E-07'];
  const out = [...fixed];
  while (out.length < count) {
    const kind = Math.floor(rand() * 6);
    const mag = 10 ** Math.floor(rand() * 16 - 8);
    const v = (rand() - 0.3) * mag;
    if (kind === 0) out.push(String(Math.fround(v))); // float64 shortest of a float32 value
    else if (kind === 1) out.push(Math.fround(v).toPrecision(9)); // float32 round-trip digits
    else if (kind === 2) out.push(v.toExponential(Math.floor(rand() * 12)));
    else if (kind === 3) out.push(`${v >= 0 && rand() < 0.5 ? '+' : ''}${v.toFixed(Math.floor(rand() * 8))}`);
    else if (kind === 4) out.push(v.toPrecision(21)); // more digits than any float needs
    else out.push(String(Math.floor(v * 1e6)));
  }
  return out;
}

test('native CSV parse equals papaparse + Math.fround on random and adversarial numbers', async () => {
  const L = 37;
  const texts = numberTexts(37 * 300, 12345);
  const rows = texts.length / L;
  const lines = [`id,${Array.from({ length: L }, (_, i) => `FE${i}`).join(',')}`];
  for (let r = 0; r < rows; r++) lines.push(`r${r},${texts.slice(r * L, (r + 1) * L).join(',')}`);
  const text = `${lines.join('\n')}\n`;
  const path = join(dir, 'numbers.csv');
  writeFileSync(path, text);
  const { all } = await readAll(path, { batchSize: 100, grid: { start: 0, step: 1, length: L } });
  const oracle = Papa.parse<Record<string, string | number>>(text, { header: true, dynamicTyping: true, skipEmptyLines: true });
  assert.equal(oracle.data.length, rows);
  let compared = 0;
  oracle.data.forEach((row, r) => {
    for (let j = 0; j < L; j++) {
      const cell = row[`FE${j}`]!;
      // papaparse leaves forms it doesn't type (leading '+') as strings; Number() reads them.
      const want = Math.fround(typeof cell === 'number' ? cell : Number(cell));
      const got = all.flux[r * L + j]!;
      assert.ok(Object.is(got, want), `row ${r} FE${j} "${texts[r * L + j]}": native ${got}, papaparse ${want}`);
      compared++;
    }
  });
  assert.equal(compared, texts.length);
});

test('the CSV writer round-trips ids, labels, extras and tags; values are the shortest float32 text', async () => {
  const grid = { start: 4000, step: 1.5, length: 5 };
  const flux = new Float32Array([0.1, -0, 1e-40, 3.4028234663852886e38, 123.456, 1, 2, 3, 4, 5]);
  const batch: SpectrumBatch = {
    ids: ['a,"b"', 'plain'],
    flux,
    grid,
    labels: new Int8Array([2, -1]),
    firstRow: 0,
    extra: { snr: new Float32Array([12.5, Number.NaN]) },
    tags: { subclass: ['G5', 'K, giant'] },
  };
  const path = join(dir, 'extras.csv');
  const sink = await createSpectraSink(path, { grid, hasLabels: true });
  await sink.write(batch);
  await sink.close();
  const text = readFileSync(path, 'utf8');
  assert.equal(text.split('\n')[0], 'id,FE0,FE1,FE2,FE3,FE4,label,snr,subclass');
  assert.equal(text.split('\n')[1], '"a,""b""",0.1,-0,1e-40,3.4028235e+38,123.456,qso,12.5,G5');
  assert.equal(text.split('\n')[2], 'plain,1,2,3,4,5,,,"K, giant"');
  const { all } = await readAll(path, { grid });
  assert.deepEqual(all.ids, batch.ids);
  assert.deepEqual(all.flux, flux);
  assert.deepEqual(all.labels, batch.labels);
  const [back] = (await readAll(path, { grid })).batches;
  assert.deepEqual(back!.extra, batch.extra);
  assert.deepEqual(back!.tags, batch.tags);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.partial')), []);
});

test('CRLF line ends, a missing final newline and trailing blank lines are accepted; counts agree', async () => {
  const header = 'id,FE0,FE1,answer';
  for (const [name, text] of [
    ['crlf', `${header}\r\n1,1.5,2,STAR\r\n2,3,4,Galaxy\r\n`],
    ['nofinal', `${header}\n1,1.5,2,star\n2,3,4,galaxy`],
    ['blanks', `${header}\n1,1.5,2,star\n2,3,4,galaxy\n\n\r\n`],
  ] as const) {
    const path = join(dir, `${name}.csv`);
    writeFileSync(path, text);
    const source = await openSpectra(path, { grid: { start: 0, step: 1, length: 2 } });
    assert.equal(await source.countRows!(), 2, name);
    const { all } = await readAll(path, { grid: { start: 0, step: 1, length: 2 } });
    assert.deepEqual([...all.flux], [1.5, 2, 3, 4], name);
    assert.deepEqual([...all.labels!], [0, 1], name);
  }
});

test('a header-only CSV is a source with no rows; csv.gz output is gzip', async () => {
  const path = join(dir, 'header-only.csv');
  writeFileSync(path, 'id,FE0,FE1\n');
  const { batches } = await readAll(path);
  assert.equal(batches.length, 0);
  const grid = { start: 0, step: 1, length: 2 };
  const out = join(dir, 'small.csv.gz');
  const sink = await createSpectraSink(out, { grid, hasLabels: false });
  await sink.write({ ids: ['x'], flux: new Float32Array([1, 2]), grid, firstRow: 0 });
  await sink.close();
  assert.deepEqual([...readFileSync(out).subarray(0, 2)], [0x1f, 0x8b]);
  assert.deepEqual([...(await readAll(out, { grid })).all.flux], [1, 2]);
});

test('every instruction set parses CSV as the scalar parser does: values bit for bit, and the same first error', async () => {
  const addon = native();
  const before = addon.info().isa;
  const isas = addon.info().supportedIsas;
  const L = 41;
  // The forms the SIMD kernels convert (pandas' float32 text, up to 16 digits, a sign) mixed with
  // every form they hand back to the scalar parser (exponents, '+', spaces, more digits).
  const texts = numberTexts(L * 400, 777).map((t, i) => (i % 7 === 0 ? ` ${t}` : i % 11 === 0 ? `${t} ` : t));
  const rows = texts.length / L;
  const header = `id,${Array.from({ length: L }, (_, i) => `FE${i}`).join(',')},label`;
  const body = Array.from({ length: rows }, (_, r) => `"r,${r}",${texts.slice(r * L, (r + 1) * L).join(',')},${r % 2 ? 'star' : 'QSO'}${r % 3 ? '\n' : '\r\n'}`);
  const good = join(dir, 'isa-good.csv');
  writeFileSync(good, `${header}\n${body.join('')}`);
  const bad = ['1.5.5', '--2', '', '1e39', 'nan', '12345678901234567x', '"3"'].map((cell, k) => {
    const path = join(dir, `isa-bad-${k}.csv`);
    const broken = body.slice(0, 50);
    broken[17 + k] = broken[17 + k]!.replace(/^("r,\d+"),[^,]*,/, `$1,${cell},`);
    writeFileSync(path, `${header}\n${broken.join('')}`);
    return path;
  });
  const grid = { start: 0, step: 1, length: L };
  const results: { isa: string; flux: Uint32Array; errors: string[] }[] = [];
  try {
    for (const isa of isas) {
      assert.equal(addon.setIsa(isa), true);
      for (const threads of [1, 2]) {
        const { all } = await readAll(good, { grid, threads, batchSize: 97 });
        assert.equal(all.ids.length, rows);
        assert.equal(all.ids[5], 'r,5');
        const errors: string[] = [];
        for (const path of bad) errors.push(await readAll(path, { grid, threads }).then(() => 'no error', (e: Error) => e.message));
        results.push({ isa: `${isa}/${threads}`, flux: new Uint32Array(all.flux.buffer, all.flux.byteOffset, all.flux.length), errors });
      }
    }
  } finally {
    addon.setIsa(before);
  }
  const reference = results[0]!;
  reference.errors.forEach((e, k) => assert.match(e, new RegExp(`isa-bad-${k}\\.csv, row ${18 + k}, column FE0: `)));
  for (const r of results.slice(1)) {
    assert.deepEqual(r.errors, reference.errors, r.isa);
    const differ = r.flux.findIndex((bits, i) => bits !== reference.flux[i]);
    assert.equal(differ, -1, `${r.isa}: value ${differ} ("${texts[differ]}") differs from ${reference.isa}`);
  }
});

test('spectraOnly: a CSV\'s extra and tag columns are not read; flux, ids and labels are as in a full read', async () => {
  const rows = ['id,FE0,FE1,FE2,snr,label,note'];
  for (let i = 0; i < 40; i++) rows.push(`s${i},${i},${i + 0.5},${-i},${i * 2},${['star', 'galaxy', 'qso'][i % 3]},"n, ${i}"`);
  const path = join(dir, 'spectra-only.csv');
  writeFileSync(path, `${rows.join('\n')}\n`);
  const full = await readAll(path, { batchSize: 16 });
  assert.deepEqual(Object.keys(full.all.extra ?? {}), ['snr']);
  assert.deepEqual(Object.keys(full.all.tags ?? {}), ['note']);
  const only = await readAll(path, { batchSize: 16, spectraOnly: true });
  assert.ok(only.batches.every((b) => b.extra === undefined && b.tags === undefined));
  assert.deepEqual(only.all.ids, full.all.ids);
  assert.deepEqual(only.all.labels, full.all.labels);
  assert.deepEqual(only.all.flux, full.all.flux);
  // Text in the numeric column fails a full read; a spectraOnly read never looks at it.
  writeFileSync(path, `${[...rows, 's40,1,2,3,oops,star,x'].join('\n')}\n`);
  await assert.rejects(readAll(path, { batchSize: 16 }), /"oops" is not a number/);
  assert.equal((await readAll(path, { batchSize: 16, spectraOnly: true })).all.ids.length, 41);
});

test('batches of any size and read chunks of any size give the rows, ids, labels, extras, tags and errors of a one-batch read', async () => {
  const rows = ['id,FE0,FE1,FE2,FE3,FE4,snr,label,note'];
  for (let i = 0; i < 300; i++) {
    rows.push(`s${i},${i},${i + 0.25},${-i},${Math.fround(i / 7)},${i * 1e-3},${i % 11},${['star', 'galaxy', 'qso', ''][i % 4]},"n, ${i}"`);
  }
  const grid = { start: 4000, step: 2, length: 5 };
  const path = join(dir, 'batch-sizes.csv');
  writeFileSync(path, `${rows.join('\n')}\n`);
  const reference = (await readAll(path, { grid, batchSize: 1000 })).batches;
  assert.equal(reference.length, 1);
  const whole = reference[0]!;
  for (const batchSize of [1, 7, 64]) {
    for (const chunkBytes of [256, 4096, undefined]) {
      const source = await openCsv(path, { grid, batchSize, chunkBytes, threads: 2 });
      const batches: SpectrumBatch[] = [];
      for await (const b of source.batches()) batches.push(b);
      const what = `batch ${batchSize}, chunk ${chunkBytes ?? 'default'}`;
      assert.deepEqual(batches.map((b) => b.firstRow), Array.from({ length: Math.ceil(300 / batchSize) }, (_, k) => k * batchSize), what);
      const all = concatBatches(batches);
      assert.deepEqual(all.ids, whole.ids, what);
      assert.deepEqual(all.flux, whole.flux, what);
      assert.deepEqual(all.labels, whole.labels, what);
      assert.deepEqual(all.extra, whole.extra, what);
      assert.deepEqual(all.tags, whole.tags, what);
    }
  }
  // A bad cell far into the file: the same error, naming the same row and column, however the
  // file is cut into batches.
  const messageOf = async (text: string, batchSize: number) => {
    writeFileSync(path, text);
    const error = await readAll(path, { grid, batchSize, chunkBytes: 4096 }).then(() => undefined, (e: Error) => e);
    assert.ok(error, `batch ${batchSize}: no error`);
    return error.message;
  };
  const badLabel = [...rows];
  badLabel[201] = badLabel[201]!.replace(',star,', ',planet,');
  const badNumber = [...rows];
  badNumber[251] = badNumber[251]!.replace(`,${250 + 0.25},`, ',1.2.3,');
  for (const bad of [badLabel, badNumber]) {
    const text = `${bad.join('\n')}\n`;
    const expected = await messageOf(text, 1000);
    assert.match(expected, bad === badLabel ? /row 201.*label|label.*row 201/s : /row 251/);
    for (const batchSize of [1, 7, 64]) assert.equal(await messageOf(text, batchSize), expected, `batch ${batchSize}`);
  }
  // A reader left after two batches closes cleanly.
  writeFileSync(path, `${rows.join('\n')}\n`);
  const source = await openCsv(path, { grid, batchSize: 7, threads: 2 });
  let seen = 0;
  for await (const b of source.batches()) if ((seen += b.ids.length) >= 14) break;
  await source.close();
  assert.equal(seen, 14);
});

test('reuseBuffers: a CSV is parsed into one flux array, and every batch equals a fresh read when used before the next', async () => {
  const rows = ['id,FE0,FE1,FE2,label'];
  for (let i = 0; i < 50; i++) rows.push(`r${i},${i},${i * 0.5},${-i},${['star', 'galaxy', 'qso'][i % 3]}`);
  const path = join(dir, 'reuse.csv');
  writeFileSync(path, `${rows.join('\n')}\n`);
  const snapshot = (b: SpectrumBatch) => JSON.stringify({ firstRow: b.firstRow, ids: b.ids, labels: [...(b.labels ?? [])], flux: [...b.flux] });
  for (const batchSize of [1, 7, 16, 64]) {
    const read = async (reuseBuffers: boolean) => {
      const source = await openSpectra(path, { batchSize, reuseBuffers, grid: { start: 4000, step: 2, length: 3 } });
      const seen: string[] = [];
      const buffers = new Set<ArrayBufferLike>();
      for await (const batch of source.batches()) {
        seen.push(snapshot(batch));
        buffers.add(batch.flux.buffer);
      }
      await source.close();
      return { seen, buffers: buffers.size };
    };
    const fresh = await read(false);
    const reused = await read(true);
    assert.equal(fresh.seen.length, Math.ceil(50 / batchSize));
    assert.deepEqual(reused.seen, fresh.seen, `batch size ${batchSize}`);
    assert.equal(fresh.buffers, fresh.seen.length, `batch size ${batchSize}: a fresh array per batch`);
    assert.equal(reused.buffers, 1, `batch size ${batchSize}: one array for all batches`);
  }
});
