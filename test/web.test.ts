/**
 * The pure-TS pieces the browser page runs instead of the native ones (web/src): the streaming CSV
 * parser against the native reader (values bit for bit, and the same error messages), the Blob
 * readers for Arrow and FITS against src/io's readers, and the page's preprocessing path
 * (src/preprocess/reference.ts) against the native preprocessing and `astrospec classify` itself.
 * The page in a real browser is checked by `npm run test:web`.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openAsBlob, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { AstrospecError } from '../src/errors.js';
import { CLASS_NAMES, concatBatches, COMPETITION_GRID, networkInput, type SpectrumBatch } from '../src/io/batch.js';
import { openSpectra } from '../src/io/open.js';
import { onnxModelSpec } from '../src/export/onnx.js';
import { classifyFile } from '../src/infer/classify.js';
import { readPredictionsCsv } from '../src/infer/predictions-csv.js';
import { preprocess } from '../src/preprocess/index.js';
import { decimalToFloat32, readCsvBatches } from '../web/src/csv.js';
import { readArrowBatches } from '../web/src/arrow.js';
import { checkInputs, readInputBatches, type InputFile } from '../web/src/sources.js';
import { collectProbabilities, planModel, predictedClass, prepareModelInput, redshiftColumns } from '../web/src/pipeline.js';
import { decodeRedshift, redshiftTarget } from '../src/infer/redshift.js';

const shared = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const peer = join(shared, 'peer-files');
const model = fileURLToPath(new URL('../models/default.onnx', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'astrospec-web-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function nativeRead(path: string | string[], options = {}): Promise<SpectrumBatch> {
  const source = await openSpectra(path, options);
  const batches: SpectrumBatch[] = [];
  for await (const b of source.batches()) batches.push(b);
  await source.close();
  return concatBatches(batches);
}

/** Yields `bytes` in chunks of the given sizes (cycled): rows and numbers split anywhere. */
async function* chunked(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length]!;
    yield bytes.slice(at, at + n);
    at += n;
  }
}

async function webCsv(bytes: Uint8Array, file: string, sizes = [1 << 16], batchSize = 64): Promise<SpectrumBatch> {
  const batches: SpectrumBatch[] = [];
  for await (const b of readCsvBatches(chunked(bytes, sizes), file, { batchSize })) batches.push(b);
  return concatBatches(batches);
}

async function errorOf(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (error) {
    assert.ok(error instanceof AstrospecError, `expected an AstrospecError, got ${String(error)}`);
    return error.message;
  }
  return 'no error';
}

function assertSameSpectra(web: SpectrumBatch, native: SpectrumBatch): void {
  assert.deepEqual(web.ids, native.ids);
  assert.deepEqual(web.grid, native.grid);
  assert.equal(web.flux.length, native.flux.length);
  const a = new Uint32Array(web.flux.buffer, web.flux.byteOffset, web.flux.length);
  const b = new Uint32Array(native.flux.buffer, native.flux.byteOffset, native.flux.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`pixel ${i}: ${web.flux[i]} vs ${native.flux[i]}`);
  assert.deepEqual(web.labels ? [...web.labels] : undefined, native.labels ? [...native.labels] : undefined);
}

test('browser CSV parser reads the peer CSV bit for bit as the native parser, however the bytes are chunked', async () => {
  const path = join(peer, 'lamost-stars-200.csv');
  const bytes = new Uint8Array(readFileSync(path));
  const native = await nativeRead(path);
  assertSameSpectra(await webCsv(bytes, 'x.csv'), native);
  // Chunks of 1–13 bytes: every number, quote and line end split somewhere.
  const head = bytes.subarray(0, bytes.indexOf(0x0a, bytes.indexOf(0x0a, bytes.indexOf(0x0a) + 1) + 1) + 1);
  const twoRows = await webCsv(head, 'x.csv', [1, 7, 13, 2, 5]);
  assert.equal(twoRows.ids.length, 2);
  assert.deepEqual([...twoRows.flux], [...native.flux.subarray(0, 2 * 2600)]);
});

test('decimal → float32 rounds once, correctly, where rounding through float64 would not', async () => {
  // 2^24 + 1 is a float32 midpoint (ties to even: 2^24); a hair above it must round up.
  assert.equal(decimalToFloat32('16777217', 0), 16777216);
  assert.equal(decimalToFloat32('16777217000000000000000000001', -21), 16777218);
  assert.equal(decimalToFloat32('16777216999999999999999999999', -21), 16777216);
  // Values a native file may hold, read back by both parsers.
  const cells = [
    '16777217', '16777217.000000000000000000001', '1.00000005960464477539062500001', '1.000000059604644775390625',
    '0.1', '-3.4028235e38', '1e-45', '7e-46', '1.17549435e-38', ' 12.5 ', '+.5', '-0', '3.999999999999999999999',
    '0.000000000000000000000000000000000000000000001401298464324817070923729583289916131280', '123456789012345678901234567890e-20',
  ];
  const header = ['id', ...cells.map((_, i) => `FE${i}`)].join(',');
  const path = join(dir, 'rounding.csv');
  writeFileSync(path, `${header}\na,${cells.join(',')}\n`);
  const native = await nativeRead(path);
  const web = await webCsv(new Uint8Array(readFileSync(path)), 'rounding.csv');
  assertSameSpectra(web, native);
});

test('browser CSV parser accepts and rejects what the native reader does, with the same messages', async () => {
  const header = 'id,FE0,FE1,FE2,label,snr,note';
  const cases: Record<string, string> = {
    ok: `${header}\n"a,1",1,2,3,STAR,4.5,x\nb,1e-3, 2 ,3,,nan,"q""uote"\r\n\n  \n`,
    bom: `\ufeff${header}\r\na,1,2,3,qso,1,y`,
    notANumber: `${header}\na,1,2,3,star,1,x\nb,1,abc,3,star,1,x\n`,
    emptyCell: `${header}\na,1,,3,star,1,x\n`,
    nan: `${header}\na,1,nan,3,star,1,x\n`,
    inf: `${header}\na,1,2,-inf,star,1,x\n`,
    overflow: `${header}\na,1,2,1e39,star,1,x\n`,
    tooFew: `${header}\na,1,2\n`,
    tooMany: `${header}\na,1,2,3,star,1,x,extra\n`,
    badQuote: `${header}\n"a,1,2,3,star,1,x\n`,
    badLabel: `${header}\na,1,2,3,quasar,1,x\n`,
    blankBetween: `${header}\na,1,2,3,star,1,x\n\nb,1,2,3,star,1,x\n`,
    spacesBetween: `${header}\na,1,2,3,star,1,x\n   \nb,1,2,3,star,1,x\n`,
    textInNumeric: `${header}\na,1,2,3,star,1,x\n${'b,1,2,3,star,2,x\n'.repeat(70)}c,1,2,3,star,abc,x\n`,
    badHeader: 'id,FE0,FE2\na,1,2\n',
    repeatedHeader: 'id,FE0,snr,snr\na,1,2,3\n',
    noPixels: 'id,flux\na,1\n',
    empty: '\n \n',
    headerOnly: `${header}\n`,
  };
  for (const [name, text] of Object.entries(cases)) {
    const path = join(dir, `${name}.csv`);
    writeFileSync(path, text);
    let native: SpectrumBatch | string;
    try {
      const source = await openSpectra(path, { batchSize: 64 });
      const batches: SpectrumBatch[] = [];
      for await (const b of source.batches()) batches.push(b);
      native = batches.length > 0 ? concatBatches(batches) : 'no rows';
    } catch (error) {
      native = (error as Error).message;
    }
    let web: SpectrumBatch | string;
    try {
      const batches: SpectrumBatch[] = [];
      for await (const b of readCsvBatches(chunked(new Uint8Array(readFileSync(path)), [5, 3, 11]), path, { batchSize: 64 })) batches.push(b);
      web = batches.length > 0 ? concatBatches(batches) : 'no rows';
    } catch (error) {
      web = (error as Error).message;
    }
    if (typeof native === 'string' || typeof web === 'string') assert.equal(web, native, name);
    else {
      assertSameSpectra(web, native);
      assert.deepEqual(web.extra ? Object.keys(web.extra) : [], native.extra ? Object.keys(native.extra) : [], name);
      assert.deepEqual(web.tags, native.tags, name);
    }
  }
});

test('browser Arrow reader reads pandas Feather (LZ4, ZSTD, uncompressed) and our compact files as src/io does', async () => {
  const compact = join(dir, 'compact.arrow');
  const { createSpectraSink } = await import('../src/io/sink.js');
  const source = await nativeRead(join(peer, 'lamost-stars-200.csv'));
  const sink = await createSpectraSink(compact, { grid: source.grid, hasLabels: true });
  await sink.write(source);
  await sink.close();
  for (const name of ['lamost-stars-200.lz4.feather', 'lamost-stars-200.zstd.feather', 'lamost-stars-200.uncompressed.feather', compact]) {
    const path = name.startsWith('/') ? name : join(peer, name);
    const batches: SpectrumBatch[] = [];
    for await (const b of readArrowBatches(await openAsBlob(path), name, { batchSize: 64 })) batches.push(b);
    assertSameSpectra(concatBatches(batches), await nativeRead(path));
  }
  const corrupt = join(dir, 'corrupt.feather');
  const bytes = readFileSync(join(peer, 'lamost-stars-200.lz4.feather'));
  writeFileSync(corrupt, bytes.subarray(0, bytes.length >> 1));
  const message = await errorOf(async () => {
    for await (const _ of readArrowBatches(await openAsBlob(corrupt), 'corrupt.feather')) void _;
  });
  assert.match(message, /^corrupt\.feather: /);
});

test('browser FITS path reads LAMOST DR1, DR10 and SDSS files as openFits does, and names the file and position on error', async () => {
  const files = [
    join(shared, 'lamost/dr10', readdirSync(join(shared, 'lamost/dr10')).sort()[0]!),
    join(shared, 'lamost/dr1', readdirSync(join(shared, 'lamost/dr1')).sort()[0]!),
    join(shared, 'boss/spectra', readdirSync(join(shared, 'boss/spectra')).sort()[0]!),
  ];
  const inputs: InputFile[] = [];
  for (const f of files) inputs.push({ name: f, blob: await openAsBlob(f) });
  assert.equal(checkInputs(inputs), 'fits');
  const batches: SpectrumBatch[] = [];
  for await (const b of readInputBatches(inputs, 'fits', { grid: COMPETITION_GRID })) batches.push(b);
  const web = concatBatches(batches);
  const native = await nativeRead(files);
  assertSameSpectra(web, native);
  assert.deepEqual([...web.extra!.redshift!], [...native.extra!.redshift!]);

  // A FITS file whose primary HDU is a 1-D image and that has no table: no spectrum in it.
  const card = (text: string) => text.padEnd(80);
  const header = [card('SIMPLE  =                    T'), card('BITPIX  =                  -32'), card('NAXIS   =                    1'), card('NAXIS1  =                   10'), card('END')].join('');
  const wrong = join(dir, 'wrong-layout.fits');
  writeFileSync(wrong, Buffer.concat([Buffer.from(header.padEnd(2880)), Buffer.alloc(2880)]));
  const gz = join(dir, 'wrong-layout.fits.gz');
  writeFileSync(gz, gzipSync(readFileSync(wrong)));
  for (const path of [wrong, gz]) {
    const nativeMessage = await errorOf(() => nativeRead([files[0]!, path]));
    const webMessage = await errorOf(async () => {
      for await (const _ of readInputBatches([inputs[0]!, { name: path, blob: await openAsBlob(path) }], 'fits')) void _;
    });
    assert.equal(webMessage, nativeMessage);
    assert.match(webMessage, /row 2: no spectrum found/);
  }
});

test('inputs the page refuses up front: unknown formats, FITS mixed with tables, files over 2 GB', () => {
  const blob = (size: number) => ({ size });
  assert.throws(() => checkInputs([{ name: 'notes.txt', blob: blob(10) }]), /notes\.txt: unknown spectra format/);
  assert.throws(() => checkInputs([{ name: 'a.fits', blob: blob(10) }, { name: 'b.csv', blob: blob(10) }]), /can't mix FITS and tabular/);
  assert.throws(() => checkInputs([{ name: 'big.csv', blob: blob(2 ** 31 + 1) }]), /big\.csv: 2\.1 GB is larger than the page reads/);
  assert.equal(checkInputs([{ name: 'a.csv.gz', blob: blob(10) }, { name: 'b.feather', blob: blob(10) }]), 'csv');
});

test("the page's preprocessing equals the native preprocessing, and its predictions equal astrospec classify's", async () => {
  const bytes = readFileSync(model);
  const spec = onnxModelSpec(bytes);
  const plan = planModel(spec);
  const dr10 = join(shared, 'lamost/dr10');
  const fits = readdirSync(dr10).sort().slice(0, 8).map((f) => join(dr10, f));
  const csv = join(peer, 'lamost-stars-200.csv');
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    for (const input of [fits, csv]) {
      const batch = await nativeRead(input, { grid: spec.grid });
      const rows = Math.min(batch.ids.length, 64);
      const part: SpectrumBatch = { ...batch, ids: batch.ids.slice(0, rows), flux: batch.flux.subarray(0, rows * 2600), badPixels: batch.badPixels?.subarray(0, rows * 2600) };
      const web = prepareModelInput(plan, part);
      const native = await preprocess(networkInput(part), { normalisation: spec.preprocess.normalisation, bin: spec.preprocess.bin, smoothWindow: spec.preprocess.smoothWindow, features: false });
      let worst = 0;
      for (let i = 0; i < native.flux.length; i++) worst = Math.max(worst, Math.abs(web.flux[i]! - native.flux[i]!));
      // The inputs are unit-L2 rows of 650 values (~0.04 each): float32 rounding is ~4e-9.
      assert.ok(worst < 1e-7, `max |web − native| preprocessed flux ${worst}`);

      const output = await session.run({ flux: new ort.Tensor('float32', web.flux, [rows, 1, plan.inputLength]) });
      const p = collectProbabilities(plan, output.probabilities!.data as Float32Array, web.status);
      const out = join(dir, `cli-${Array.isArray(input) ? 'fits' : 'csv'}.csv`);
      await classifyFile(input, { model, output: out, limit: rows, workers: 1 });
      const cli = await readPredictionsCsv(out);
      for (let i = 0; i < rows; i++) {
        assert.equal(predictedClass(p, i), CLASS_NAMES[cli.predicted[i]!], `row ${i}`);
        for (let k = 0; k < 3; k++) assert.ok(Math.abs(p[i * 3 + k]! - cli.probabilities[i * 3 + k]!) < 1e-5, `row ${i} class ${k}: ${p[i * 3 + k]} vs ${cli.probabilities[i * 3 + k]}`);
      }
    }
  } finally {
    await session.release();
  }
});

test("the page's z and z_err are the CLI's decoding of the redshift bins, with none for stars and unclassified rows", () => {
  const spec = onnxModelSpec(readFileSync(model), model);
  const head = { bins: 40, zMin: -0.03, zMax: 5, hidden: 8 };
  const plan = planModel({ ...spec, architecture: { ...spec.architecture, redshift: head } });
  const rows = 4;
  const bins = new Float32Array(rows * head.bins);
  [0.1, 1.2, 2.5, 3.3].forEach((z, i) => redshiftTarget(head, z, bins, i * head.bins));
  // star, galaxy, qso, unclassified
  const probabilities = Float32Array.of(0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.8, NaN, NaN, NaN);
  const status = ['ok', 'ok', 'ood', 'no_valid_pixels'];
  const { z, z_err } = redshiftColumns(plan, bins, probabilities, status);
  const expected = decodeRedshift(head, bins, rows);
  assert.ok(Number.isNaN(z[0]!) && Number.isNaN(z_err[0]!) && Number.isNaN(z[3]!));
  assert.deepEqual([z[1], z[2], z_err[1], z_err[2]], [expected.z[1], expected.z[2], expected.zErr[1], expected.zErr[2]]);
  assert.ok(Math.abs(z[1]! - 1.2) < 0.01 && Math.abs(z[2]! - 2.5) < 0.02);
});
