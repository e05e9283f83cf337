/**
 * SDSS/BOSS `spec-*.fits` reading (src/io/sdss.ts), per-file layout detection in FITS folders
 * (src/io/fits.ts) and labels CSVs joined by file name (src/io/labels.ts).
 *
 * The first tests need nothing outside the repository: they write small SDSS-layout files here.
 * The rest read the 140 real BOSS DR12 files in ../shared/data/boss and skip, saying so, without them.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { convertHandler } from '../src/cli/commands/convert.js';
import { AstrospecError } from '../src/errors.js';
import { evaluatePredictionsAgainstLabels } from '../src/infer/evaluate.js';
import { COMPETITION_GRID, NO_LABEL, type SpectrumBatch } from '../src/io/batch.js';
import { openFits, readFitsSpectrum } from '../src/io/fits.js';
import { readLabelsCsv, withLabels } from '../src/io/labels.js';
import { openSpectra } from '../src/io/open.js';
import { modelSpec, writeRandomModel } from './classify-fixtures.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const bin = join(root, 'bin', 'astrospec.js');
const shared = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const boss = join(shared, 'boss');
const bossSpectra = join(boss, 'spectra');
const haveBoss = existsSync(join(boss, 'labels.csv')) && existsSync(bossSpectra);
const haveLamost = existsSync(join(shared, 'lamost', 'dr1')) && existsSync(join(shared, 'lamost', 'dr10'));
const NO_BOSS = 'needs ../shared/data/boss (140 BOSS DR12 spec files and labels.csv), which is not here';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'astrospec-sdss-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// A minimal FITS writer for the SDSS layout (FITS Standard 4.0: 80-character cards, 2880-byte
// blocks, big-endian data), independent of the reader under test.

function card(key: string, value: string | number | boolean): string {
  let text: string;
  if (typeof value === 'string') text = `'${value.replace(/'/g, "''").padEnd(8)}'`.padEnd(20);
  else if (typeof value === 'boolean') text = (value ? 'T' : 'F').padStart(20);
  else text = String(value).padStart(20);
  return `${key.padEnd(8)}= ${text}`.padEnd(80);
}

function block(cards: string[]): Buffer {
  const text = [...cards, 'END'.padEnd(80)].join('');
  return Buffer.from(text.padEnd(Math.ceil(text.length / 2880) * 2880), 'latin1');
}

function padData(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((2880 - (data.length % 2880)) % 2880)]);
}

interface Column {
  name: string;
  form: string; // e.g. E, J, 5E, 6A
  /** Value of row r, element k (numbers), or the text (A columns). */
  value: (row: number, element: number) => number | string;
}

function bintable(extname: string, rows: number, columns: Column[]): Buffer {
  const size = (form: string) => {
    const m = /^(\d*)([AEJ])$/.exec(form)!;
    const repeat = m[1] === '' ? 1 : Number(m[1]);
    return { repeat, type: m[2]!, bytes: repeat * (m[2] === 'A' ? 1 : 4) };
  };
  const rowBytes = columns.reduce((n, c) => n + size(c.form).bytes, 0);
  const cards = [
    card('XTENSION', 'BINTABLE'), card('BITPIX', 8), card('NAXIS', 2), card('NAXIS1', rowBytes), card('NAXIS2', rows),
    card('PCOUNT', 0), card('GCOUNT', 1), card('TFIELDS', columns.length),
  ];
  columns.forEach((c, k) => cards.push(card(`TTYPE${k + 1}`, c.name), card(`TFORM${k + 1}`, c.form)));
  cards.push(card('EXTNAME', extname));
  const data = Buffer.alloc(rows * rowBytes);
  for (let r = 0; r < rows; r++) {
    let at = r * rowBytes;
    for (const c of columns) {
      const { repeat, type, bytes } = size(c.form);
      if (type === 'A') data.write(String(c.value(r, 0)).padEnd(repeat).slice(0, repeat), at, 'latin1');
      else for (let k = 0; k < repeat; k++) {
        const v = c.value(r, k) as number;
        if (type === 'E') data.writeFloatBE(v, at + 4 * k);
        else data.writeInt32BE(v, at + 4 * k);
      }
      at += bytes;
    }
  }
  return Buffer.concat([block(cards), padData(data)]);
}

interface SyntheticSpec {
  pixels: number;
  loglam0: number;
  className: string;
  subclass: string;
  z: number;
  /** undefined: no SN_MEDIAN_ALL column, as in some eBOSS files. */
  snr?: number;
  upperCaseNames?: boolean;
}

/** Flux, ivar and and_mask of the synthetic coadd: a few ivar = 0 runs, one NaN, sky-flagged pixels. */
function syntheticPixel(i: number) {
  const flux = 10 + 3 * Math.sin(i / 40) + (i % 7) * 0.25;
  const ivar = (i >= 1200 && i < 1210) || i === 2500 ? 0 : 1 + (i % 5);
  const andMask = i % 50 === 0 ? 1 << 23 : i === 1300 ? 1 << 16 : 0; // BRIGHTSKY, NEARBADPIXEL: not masked
  return { flux: i === 2000 ? NaN : flux, ivar, andMask };
}

function sdssFits(spec: SyntheticSpec): Buffer {
  const name = (s: string) => (spec.upperCaseNames ? s.toUpperCase() : s);
  const coadd = bintable('COADD', spec.pixels, [
    { name: name('flux'), form: 'E', value: (i) => syntheticPixel(i).flux },
    { name: name('loglam'), form: 'E', value: (i) => spec.loglam0 + 1e-4 * i },
    { name: name('ivar'), form: 'E', value: (i) => syntheticPixel(i).ivar },
    { name: name('and_mask'), form: 'J', value: (i) => syntheticPixel(i).andMask },
    { name: name('or_mask'), form: 'J', value: () => 0 },
    { name: name('wdisp'), form: 'E', value: () => 1.1 },
  ]);
  const spallColumns: Column[] = [
    { name: 'PROGRAMNAME', form: '27A', value: () => 'boss' },
    { name: 'SN_MEDIAN', form: '5E', value: (_, k) => k },
    { name: 'CLASS', form: '6A', value: () => spec.className },
    { name: 'SUBCLASS', form: '21A', value: () => spec.subclass },
    { name: 'Z', form: 'E', value: () => spec.z },
  ];
  if (spec.snr !== undefined) spallColumns.push({ name: 'SN_MEDIAN_ALL', form: 'E', value: () => spec.snr! });
  const primary = block([card('SIMPLE', true), card('BITPIX', 8), card('NAXIS', 0), card('EXTEND', true)]);
  return Buffer.concat([primary, coadd, bintable('SPALL', 1, spallColumns)]);
}

/** numpy's np.interp(x, xp, fp, left=0, right=0) over the good pixels, in float64, by hand. */
function interpGood(x: number, wavelength: number[], flux: number[], ivar: number[]): number {
  const xs: number[] = [];
  const fs: number[] = [];
  for (let i = 0; i < wavelength.length; i++) if (ivar[i]! > 0 && Number.isFinite(flux[i]!)) (xs.push(wavelength[i]!), fs.push(flux[i]!));
  if (x < xs[0]! || x > xs[xs.length - 1]!) return 0;
  let j = 0;
  while (j + 1 < xs.length && xs[j + 1]! <= x) j++;
  if (j + 1 >= xs.length || x === xs[j]) return fs[j]!;
  return ((fs[j + 1]! - fs[j]!) / (xs[j + 1]! - xs[j]!)) * (x - xs[j]!) + fs[j]!;
}

async function readAll(input: string | string[], batchSize = 64): Promise<SpectrumBatch[]> {
  const source = await openFits(input, { batchSize });
  const out: SpectrumBatch[] = [];
  for await (const batch of source.batches()) out.push(batch);
  await source.close();
  return out;
}

async function syntheticFolder(name: string): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder);
  await writeFile(join(folder, 'spec-0001-55555-0001.fits'), sdssFits({ pixels: 4700, loglam0: 3.55, className: 'QSO', subclass: 'BROADLINE', z: 2.25, snr: 3.5 }));
  await writeFile(join(folder, 'spec-0001-55555-0002.fits.gz'), gzipSync(sdssFits({ pixels: 4600, loglam0: 3.5523, className: 'GALAXY', subclass: '', z: 0.5, upperCaseNames: true })));
  await writeFile(join(folder, 'spec-0001-55555-0003.fits'), sdssFits({ pixels: 4650, loglam0: 3.551, className: 'STAR', subclass: 'K1', z: -0.0001, snr: 12 }));
  return folder;
}

async function expectError(promise: Promise<unknown>, code: string, patterns: RegExp[]) {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof AstrospecError, String(e));
    assert.equal(e.code, code, e.message);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Without ../shared

test('synthetic SDSS files: ids, CLASS, Z, SN_MEDIAN_ALL (NaN when absent), SUBCLASS, gz and any-case column names', async () => {
  const folder = await syntheticFolder('synthetic');
  const [batch] = await readAll(folder);
  assert.deepEqual(batch!.ids, ['spec-0001-55555-0001', 'spec-0001-55555-0002', 'spec-0001-55555-0003']);
  assert.deepEqual([...batch!.labels!], [2, 1, 0]);
  assert.deepEqual(batch!.tags!.subclass, ['BROADLINE', '', 'K1']);
  assert.deepEqual([...batch!.extra!.redshift!], [Math.fround(2.25), Math.fround(0.5), Math.fround(-0.0001)]);
  assert.equal(batch!.extra!.snr![0], Math.fround(3.5));
  assert.ok(Number.isNaN(batch!.extra!.snr![1]));
  assert.equal(batch!.extra!.snr![2], 12);
});

test('synthetic SDSS file: resampled flux is np.interp over the ivar > 0, finite pixels; and_mask marks nothing', async () => {
  const folder = await syntheticFolder('synthetic-values');
  const [batch] = await readAll(folder);
  const pixels = 4700;
  const wavelength: number[] = [];
  const flux: number[] = [];
  const ivar: number[] = [];
  for (let i = 0; i < pixels; i++) {
    // As stored: float32 loglam and flux, wavelength = 10^loglam in float64.
    wavelength.push(10 ** Math.fround(3.55 + 1e-4 * i));
    flux.push(Math.fround(syntheticPixel(i).flux));
    ivar.push(syntheticPixel(i).ivar);
  }
  const L = COMPETITION_GRID.length;
  let flagged = 0;
  for (let t = 0; t < L; t++) {
    const x = COMPETITION_GRID.start + COMPETITION_GRID.step * t;
    assert.equal(batch!.flux[t], Math.fround(interpGood(x, wavelength, flux, ivar)), `pixel ${t} (${x} Å)`);
    flagged += batch!.badPixels![t]!;
  }
  // Bridged: target pixels between the neighbours of the ivar = 0 runs and of the NaN pixel;
  // BRIGHTSKY / NEARBADPIXEL pixels (every 50th, and 1300) are not among them.
  const bridgedOver = (from: number, to: number) => {
    let n = 0;
    for (let t = 0; t < L; t++) {
      const x = COMPETITION_GRID.start + COMPETITION_GRID.step * t;
      if (x > wavelength[from - 1]! && x < wavelength[to]!) n++;
    }
    return n;
  };
  const expected = bridgedOver(1200, 1210) + bridgedOver(2000, 2001) + bridgedOver(2500, 2501);
  assert.ok(expected > 0);
  assert.equal(flagged, expected);
});

test('one bad SDSS file in a folder: one error naming the file and its spectrum row', async () => {
  const folder = await syntheticFolder('bad-files');
  const whole = await readFile(join(folder, 'spec-0001-55555-0003.fits'));
  await writeFile(join(folder, 'spec-0001-55555-0003.fits'), whole.subarray(0, 60000));
  await expectError(readAll(folder), 'TRUNCATED', [/spec-0001-55555-0003\.fits, row 3: file ends inside the data of HDU/]);

  await writeFile(join(folder, 'spec-0001-55555-0003.fits'), whole);
  await writeFile(join(folder, 'spec-0001-55555-0002b.fits'), Buffer.from('this is not FITS at all, just text'.repeat(100)));
  await expectError(readAll(folder), 'BAD_INPUT', [/spec-0001-55555-0002b\.fits, row 3: not a FITS file/]);
  await rm(join(folder, 'spec-0001-55555-0002b.fits'));

  const noIvar = sdssFits({ pixels: 100, loglam0: 3.6, className: 'STAR', subclass: '', z: 0, snr: 1 }).toString('latin1').replace("TTYPE3  = 'ivar    '", "TTYPE3  = 'error   '");
  await writeFile(join(folder, 'spec-0001-55555-0000.fits'), Buffer.from(noIvar, 'latin1'));
  await expectError(readAll(folder), 'BAD_INPUT', [/spec-0001-55555-0000\.fits, row 1, column ivar: HDU 1 \(COADD\): missing column ivar/]);
});

async function writeLabels(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

test('labels CSV: joined by file name (with or without .fits/.fits.gz), overriding CLASS; quoted cells', async () => {
  const folder = await syntheticFolder('labels-join');
  const path = await writeLabels(
    'labels-ok.csv',
    '\uFEFFplate,File,note,Class\r\n1,spec-0001-55555-0003.fits,"a star, really",galaxy\r\n1,"spec-0001-55555-0001",,QSO\r\n1,data/spec-0001-55555-0002.fits.gz,"say ""hi""",\r\n1,spec-9999-55555-0001.fits,,star\r\n\r\n',
  );
  const table = await readLabelsCsv(path);
  assert.equal(table.keyColumn, 'File');
  assert.equal(table.classColumn, 'Class');
  const source = await withLabels(await openSpectra(folder), table, folder);
  const labels: number[] = [];
  for await (const batch of source.batches()) labels.push(...batch.labels!);
  await source.close();
  assert.deepEqual(labels, [2, NO_LABEL, 1]);
});

test('labels CSV errors name the labels file, row and column', async () => {
  const folder = await syntheticFolder('labels-errors');
  const open = async (text: string, name: string) => {
    const table = await readLabelsCsv(await writeLabels(name, text));
    const source = await withLabels(await openSpectra(folder), table, folder);
    try {
      for await (const _ of source.batches());
    } finally {
      await source.close();
    }
  };
  const rows = ['spec-0001-55555-0001.fits,qso', 'spec-0001-55555-0002.fits,galaxy', 'spec-0001-55555-0003.fits,star'];
  await expectError(open(`file,class\n${rows[0]}\n${rows[2]}\n`, 'missing.csv'), 'BAD_INPUT', [/missing\.csv, column file: no row for spectrum "spec-0001-55555-0002" \(.*spec-0001-55555-0002\.fits\.gz\)/]);
  await expectError(open(`file,class\n${rows[0]}\nspec-0001-55555-0002.fits,quasar\n${rows[2]}\n`, 'unknown.csv'), 'BAD_INPUT', [/unknown\.csv, row 2, column class: unknown class "quasar"/]);
  await expectError(open(`file,class\n${rows.join('\n')}\nspec-0001-55555-0001,star\n`, 'duplicate.csv'), 'BAD_INPUT', [/duplicate\.csv, row 4, column file: duplicate file "spec-0001-55555-0001": row 1 already/]);
  await expectError(open(`name,class\n${rows.join('\n')}\n`, 'no-key.csv'), 'BAD_INPUT', [/no-key\.csv, row 0, column file: no file or id column/]);
  await expectError(open(`file,type\n${rows.join('\n')}\n`, 'no-class.csv'), 'BAD_INPUT', [/no-class\.csv, row 0, column class: no class or label column/]);
  await expectError(open(`file,class\n${rows[0]}\n\n${rows[1]}\n`, 'blank.csv'), 'BAD_INPUT', [/blank\.csv, row 2: empty line/]);
  await expectError(open(`file,class,z\n${rows[0]},1\n${rows[1]}\n`, 'ragged.csv'), 'BAD_INPUT', [/ragged\.csv, row 2, column z: row has 2 fields, the header has 3/]);
  await expectError(open('', 'empty.csv'), 'BAD_INPUT', [/empty\.csv, row 0: empty labels file/]);
});

test('convert --labels writes the labels file\'s classes, and writes nothing when a spectrum has no row', async () => {
  const folder = await syntheticFolder('labels-convert');
  const out = join(dir, 'labels-convert-out');
  await mkdir(out);
  const good = await writeLabels('convert.csv', 'id,label\nspec-0001-55555-0001,star\nspec-0001-55555-0002,star\nspec-0001-55555-0003,qso\n');
  await convertHandler({ inputs: [folder], output: join(out, 'x.csv'), labels: good, quiet: true });
  const source = await openSpectra(join(out, 'x.csv'));
  const labels: number[] = [];
  for await (const batch of source.batches()) labels.push(...batch.labels!);
  await source.close();
  assert.deepEqual(labels, [0, 0, 2]);
  const partial = await writeLabels('convert-partial.csv', 'id,label\nspec-0001-55555-0001,star\n');
  await expectError(convertHandler({ inputs: [folder], output: join(out, 'y.csv'), labels: partial, quiet: true }), 'BAD_INPUT', [/convert-partial\.csv, column id: no row for spectrum "spec-0001-55555-0002"/]);
  assert.deepEqual(await readdir(out), ['x.csv']);
});

test('evaluate against labels matches predictions by id', async () => {
  const predictions = join(dir, 'by-id.csv');
  await writeFile(
    predictions,
    'row,id,predicted,p_star,p_galaxy,p_qso,status\n0,spec-1,qso,0.1,0.1,0.8,ok\n1,spec-2,star,0.8,0.1,0.1,ok\n2,spec-3,galaxy,0.1,0.8,0.1,ok\n3,spec-4,,,,,no_valid_pixels\n',
  );
  const labels = await writeLabels('by-id-labels.csv', 'file,class\nspec-3.fits,galaxy\nspec-2.fits,qso\nspec-1.fits.gz,qso\nspec-4.fits,star\n');
  const e = await evaluatePredictionsAgainstLabels(predictions, labels);
  assert.equal(e.scored, 3);
  assert.deepEqual(e.unclassified, { no_valid_pixels: 1 });
  assert.deepEqual(e.metrics.confusion, [
    [0, 0, 0],
    [0, 1, 0],
    [1, 0, 1],
  ]);
  const short = await writeLabels('by-id-short.csv', 'file,class\nspec-3.fits,galaxy\nspec-2.fits,qso\nspec-1.fits,qso\n');
  await expectError(evaluatePredictionsAgainstLabels(predictions, short), 'BAD_INPUT', [/by-id-short\.csv, column file: no row for spectrum "spec-4" \(.*by-id\.csv, row 4\)/]);
});

function astrospec(...args: string[]) {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr.trim() };
}

test('compiled CLI: classify an SDSS folder, evaluate --labels; a bad labels file is one message and no output', async (t: TestContext) => {
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) {
    t.skip('dist/ is not built (npm test builds it first; or run npx tsc -p tsconfig.json)');
    return;
  }
  const folder = await syntheticFolder('cli');
  await mkdir(join(dir, 'cli-model'));
  const model = (await writeRandomModel(join(dir, 'cli-model'), modelSpec(COMPETITION_GRID, 2))).path;
  const out = join(dir, 'cli-out');
  await mkdir(out);
  const labels = await writeLabels('cli-labels.csv', 'file,class\nspec-0001-55555-0001.fits,qso\nspec-0001-55555-0002.fits,galaxy\nspec-0001-55555-0003.fits,star\n');
  const predictions = join(out, 'p.csv');
  const classify = astrospec('classify', folder, '--model', model, '-o', predictions, '--quiet');
  assert.equal(classify.code, 0, classify.stderr);
  const evaluate = astrospec('evaluate', predictions, '--labels', labels, '--json', '--quiet');
  assert.equal(evaluate.code, 0, evaluate.stderr);
  const json = JSON.parse(evaluate.stdout) as { scored: number; truth: string; per_class: { support: number }[] };
  assert.equal(json.scored, 3);
  assert.equal(json.truth, labels);
  assert.deepEqual(json.per_class.map((c) => c.support), [1, 1, 1]);

  const bad = await writeLabels('cli-bad.csv', 'file,class\nspec-0001-55555-0001.fits,qso\nspec-0001-55555-0002.fits,elliptical\nspec-0001-55555-0003.fits,star\n');
  const failed = astrospec('classify', folder, '--model', model, '-o', join(out, 'q.csv'), '--labels', bad, '--quiet');
  assert.notEqual(failed.code, 0);
  const lines = failed.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, failed.stderr);
  assert.match(lines[0]!, /^astrospec: .*cli-bad\.csv, row 2, column class: unknown class "elliptical"/);
  const evalFailed = astrospec('evaluate', predictions, '--labels', bad, '--quiet');
  assert.notEqual(evalFailed.code, 0);
  assert.match(evalFailed.stderr, /cli-bad\.csv, row 2, column class/);
  assert.deepEqual(await readdir(out), ['p.csv']);
});

// ---------------------------------------------------------------------------------------------
// Real BOSS DR12 files

interface BossLabel {
  file: string;
  cls: string;
  classPipeline: string;
  subclassPipeline: string;
  zPipeline: number;
  snMedian: number;
}

async function bossLabels(): Promise<BossLabel[]> {
  const lines = (await readFile(join(boss, 'labels.csv'), 'utf8')).trim().split(/\r?\n/);
  assert.equal(lines[0], 'file,plate,mjd,fiber,class,z,class_pipeline,subclass_pipeline,z_pipeline,zwarning,sn_median,class_source');
  return lines.slice(1).map((line) => {
    const c = line.split(',');
    return { file: c[0]!, cls: c[4]!, classPipeline: c[6]!, subclassPipeline: c[7]!, zPipeline: Number(c[8]), snMedian: Number(c[10]) };
  });
}

test('all 140 BOSS files read: ids, pipeline CLASS, SUBCLASS, Z and SN_MEDIAN_ALL as in labels.csv', async (t: TestContext) => {
  if (!haveBoss) return void t.skip(NO_BOSS);
  const rows = (await bossLabels()).sort((a, b) => (a.file < b.file ? -1 : 1));
  assert.equal(rows.length, 140);
  const batches = await readAll(bossSpectra);
  const ids = batches.flatMap((b) => b.ids);
  assert.deepEqual(ids, rows.map((r) => r.file.replace(/\.fits$/, '')));
  let i = 0;
  let flagged = 0;
  for (const b of batches) {
    for (let r = 0; r < b.ids.length; r++, i++) {
      const m = rows[i]!;
      assert.equal(b.labels![r], ['star', 'galaxy', 'qso'].indexOf(m.classPipeline), m.file);
      assert.equal(b.tags!.subclass![r], m.subclassPipeline, m.file);
      assert.ok(Math.abs(b.extra!.redshift![r]! - m.zPipeline) <= 1e-5 + 1e-6 * Math.abs(m.zPipeline), `${m.file}: z ${b.extra!.redshift![r]} vs ${m.zPipeline}`);
      assert.ok(Math.abs(b.extra!.snr![r]! - m.snMedian) <= 0.005 + 1e-6, `${m.file}: snr ${b.extra!.snr![r]} vs ${m.snMedian}`);
    }
    for (let k = 0; k < b.flux.length; k++) {
      assert.ok(Number.isFinite(b.flux[k]!));
      flagged += b.badPixels![k]!;
    }
  }
  // BOSS covers 3569–10340 Å, so the grid is inside every spectrum; few pixels have ivar = 0.
  assert.ok(flagged < 0.001 * 140 * COMPETITION_GRID.length, `flagged ${flagged}`);
});

/** HDU 1 of a FITS file parsed from scratch: the (data offset, row bytes, rows, column offsets) of the table. */
function rawCoadd(bytes: Buffer) {
  let at = 0;
  const headerAt = () => {
    const cards = new Map<string, string>();
    for (;;) {
      const c = bytes.toString('latin1', at, at + 80);
      at += 80;
      if (c.startsWith('END ')) break;
      if (c[8] === '=') cards.set(c.slice(0, 8).trim(), c.slice(10).split('/')[0]!.trim().replace(/^'(.*)'$/, '$1').trim());
    }
    at = Math.ceil(at / 2880) * 2880;
    return cards;
  };
  headerAt(); // primary, NAXIS = 0
  const h = headerAt();
  const rowBytes = Number(h.get('NAXIS1'));
  const offsets: Record<string, number> = {};
  let offset = 0;
  for (let k = 1; k <= Number(h.get('TFIELDS')); k++) {
    offsets[h.get(`TTYPE${k}`)!] = offset;
    offset += { E: 4, J: 4 }[h.get(`TFORM${k}`)!]!;
  }
  return { data: at, rowBytes, rows: Number(h.get('NAXIS2')), offsets };
}

test('BOSS pixels equal np.interp of the raw table, done by hand (spec-7102-56666-0082)', async (t: TestContext) => {
  if (!haveBoss) return void t.skip(NO_BOSS);
  const file = join(bossSpectra, 'spec-7102-56666-0082.fits');
  const bytes = await readFile(file);
  const { data, rowBytes, rows, offsets } = rawCoadd(bytes);
  const wavelength: number[] = [];
  const flux: number[] = [];
  const ivar: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = data + r * rowBytes;
    wavelength.push(10 ** bytes.readFloatBE(row + offsets.loglam!));
    flux.push(bytes.readFloatBE(row + offsets.flux!));
    ivar.push(bytes.readFloatBE(row + offsets.ivar!));
  }
  const spectrum = await readFitsSpectrum(file);
  assert.deepEqual([...spectrum.wavelength], wavelength);
  const [batch] = await readAll(file);
  for (const t of [0, 1, 2, 777, 1300, 1301, 2048, 2598, 2599]) {
    const x = COMPETITION_GRID.start + COMPETITION_GRID.step * t;
    assert.equal(batch!.flux[t], Math.fround(interpGood(x, wavelength, flux, ivar)), `pixel ${t}`);
  }
});

test('and_mask on the 140 BOSS files is as sdss.ts documents (why no bit marks a pixel bad)', async (t: TestContext) => {
  if (!haveBoss) return void t.skip(NO_BOSS);
  const names = (await readdir(bossSpectra)).filter((n) => n.endsWith('.fits')).sort();
  let good = 0;
  let masked = 0;
  let maskedInGrid = 0;
  const byBit = new Map<number, number>();
  for (const name of names) {
    const s = await readFitsSpectrum(join(bossSpectra, name));
    assert.ok('andMask' in s);
    for (let i = 0; i < s.flux.length; i++) {
      if (!(s.ivar[i]! > 0)) continue;
      good++;
      const m = s.andMask[i]!;
      if (m === 0) continue;
      masked++;
      if (s.wavelength[i]! >= 3800 && s.wavelength[i]! <= 8998) maskedInGrid++;
      for (let b = 0; b < 32; b++) if ((m >>> b) & 1) byBit.set(b, (byBit.get(b) ?? 0) + 1);
    }
  }
  assert.equal(good, 644511);
  assert.equal(masked, 47166);
  assert.equal(maskedInGrid, 29073);
  // BRIGHTSKY, NEARBADPIXEL, BADSKYCHI, and one NODATA + BADFLUXFACTOR edge pixel; no LOWFLAT / FULLREJECT / PARTIALREJECT.
  assert.deepEqual([...byBit].sort((a, b) => a[0] - b[0]), [[16, 992], [23, 46118], [24, 1], [26, 1], [27, 241]]);
});

test('a folder mixing LAMOST DR1, DR10 and SDSS files reads in one pass, in name order, each as read alone', async (t: TestContext) => {
  if (!haveBoss || !haveLamost) return void t.skip('needs ../shared/data/boss and ../shared/data/lamost, which are not here');
  const folder = join(dir, 'mixed');
  await mkdir(folder);
  const dr1 = (await readdir(join(shared, 'lamost', 'dr1'))).sort()[0]!;
  const dr10 = (await readdir(join(shared, 'lamost', 'dr10'))).sort()[0]!;
  const sdss = (await readdir(bossSpectra)).sort().slice(0, 2);
  const sources = [join(shared, 'lamost', 'dr1', dr1), join(shared, 'lamost', 'dr10', dr10), ...sdss.map((n) => join(bossSpectra, n))];
  for (const s of sources) await copyFile(s, join(folder, s.slice(s.lastIndexOf('/') + 1)));
  const names = (await readdir(folder)).sort();
  const [mixed] = await readAll(folder);
  assert.equal(mixed!.ids.length, 4);
  const L = COMPETITION_GRID.length;
  for (let r = 0; r < 4; r++) {
    const [alone] = await readAll(join(folder, names[r]!));
    assert.equal(mixed!.ids[r], alone!.ids[0]);
    assert.deepEqual(mixed!.flux.subarray(r * L, (r + 1) * L), alone!.flux, names[r]);
    assert.deepEqual(mixed!.badPixels!.subarray(r * L, (r + 1) * L), alone!.badPixels, names[r]);
    assert.equal(mixed!.labels![r], alone!.labels![0]);
  }
  assert.deepEqual(mixed!.ids.slice(2), sdss.map((n) => n.replace(/\.fits$/, '')));
  // LAMOST sorts before SDSS here ('spec-5…' < 'spec-7…'), and a LAMOST file stays LAMOST.
  const lamost = await readFitsSpectrum(join(folder, names[0]!));
  assert.ok(!('andMask' in lamost));
});

test('BOSS labels.csv joins to all 140 files: 44 star, 9 galaxy, 87 qso (visual classes override CLASS)', async (t: TestContext) => {
  if (!haveBoss) return void t.skip(NO_BOSS);
  const table = await readLabelsCsv(join(boss, 'labels.csv'));
  const source = await withLabels(await openSpectra(bossSpectra), table, bossSpectra);
  const counts = [0, 0, 0];
  const expected = new Map((await bossLabels()).map((r) => [r.file.replace(/\.fits$/, ''), r.cls]));
  for await (const batch of source.batches()) {
    for (let r = 0; r < batch.ids.length; r++) {
      counts[batch.labels![r]!]!++;
      assert.equal(['star', 'galaxy', 'qso'][batch.labels![r]!], expected.get(batch.ids[r]!), batch.ids[r]);
    }
  }
  await source.close();
  assert.deepEqual(counts, [44, 9, 87]);
});

test('compiled CLI on BOSS with the shipped model: classify, then evaluate --labels scores all 140', async (t: TestContext) => {
  if (!haveBoss) return void t.skip(NO_BOSS);
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) return void t.skip('dist/ is not built (npm test builds it first)');
  const out = join(dir, 'boss-predictions.csv');
  const classify = astrospec('classify', bossSpectra, '--model', join(root, 'models', 'default.onnx'), '-o', out, '--quiet');
  assert.equal(classify.code, 0, classify.stderr);
  const evaluate = astrospec('evaluate', out, '--labels', join(boss, 'labels.csv'), '--json', '--quiet');
  assert.equal(evaluate.code, 0, evaluate.stderr);
  const json = JSON.parse(evaluate.stdout) as { scored: number; per_class: { support: number }[] };
  // Scores depend on the model (being retrained); the join must cover every file.
  assert.equal(json.scored, 140);
  assert.deepEqual(json.per_class.map((c) => c.support), [44, 9, 87]);
});

test('peer check: astropy + numpy np.interp give the same grid fluxes', async (t: TestContext) => {
  if (!haveBoss) return void t.skip(NO_BOSS);
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import numpy, astropy'], { encoding: 'utf8' });
  if (probe.status !== 0) return void t.skip('/usr/bin/python3 has no numpy/astropy');
  const file = join(bossSpectra, 'spec-7102-56666-0114.fits');
  const script = [
    'import json, sys, numpy as np',
    'from astropy.io import fits',
    'd = fits.open(sys.argv[1])[1].data',
    "lam = 10 ** d['loglam'].astype(np.float64); flux = d['flux'].astype(np.float64); ivar = d['ivar'].astype(np.float64)",
    'good = (ivar > 0) & np.isfinite(flux)',
    'grid = 3800 + 2 * np.arange(2600, dtype=np.float64)',
    'print(json.dumps(np.interp(grid, lam[good], flux[good], left=0, right=0).astype(np.float32).astype(float).tolist()))',
  ].join('\n');
  const run = spawnSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const peer = JSON.parse(run.stdout) as number[];
  const [batch] = await readAll(file);
  assert.deepEqual([...batch!.flux], peer);
});

