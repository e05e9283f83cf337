/**
 * Regressions for what the fuzzers found (npm run fuzz, npm run fuzz:native; docs/formats.md,
 * "Fuzzing"). Each file in test/fixtures/fuzz is the fuzzer's input that broke a reader, read in its
 * own process (test/read-spectra-child.ts) within 1 s and 300 MB: it must give the expected
 * AstrospecError naming the file, or the expected rows. CSV files are also read by the browser's
 * pure-TypeScript reader (web/src/csv.ts), which must agree with the native one message for message.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { openCsv } from '../src/io/csv.js';
import { readCsvBatches } from '../web/src/csv.js';
import type { ChildReport } from './read-spectra-child.js';

const fixtures = fileURLToPath(new URL('./fixtures/fuzz/', import.meta.url));
const child = fileURLToPath(new URL('./read-spectra-child.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'astrospec-fuzz-findings-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Expectation = { error: 'BAD_INPUT' | 'TRUNCATED' | 'UNSUPPORTED'; message: RegExp } | { rows: number };

const EXPECTED: Record<string, { found: string; expect: Expectation }> = {
  'arrow-custom-metadata-length.feather': {
    found: 'hang: apache-arrow looped over a custom_metadata vector whose length word was 1 543 503 872',
    expect: { error: 'BAD_INPUT', message: /Arrow file: flatbuffer vector of 1543503872 elements doesn't fit/ },
  },
  'fits-tfields-4294967299.fits.gz': {
    found: 'hang: the SDSS layout check looped over TFIELDS = 4294967299 TTYPE cards before the table parser refused it',
    expect: { error: 'BAD_INPUT', message: /row 1, column TFIELDS: HDU 1 \(COADD\): TFIELDS = 4294967299 is not an integer from 0 to 999/ },
  },
  'fits-dr1-coeff1-negative.fits.gz': {
    found: 'misread: a LAMOST DR1 file with COEFF1 = -1E300 was read, its wavelengths 3700 Å then 0 Å, and resampled to zeros',
    expect: { error: 'BAD_INPUT', message: /row 1, column COEFF1: wavelength\[1\] = 0 Å is not above wavelength\[0\]/ },
  },
  'fits-dr10-wavelength-not-increasing.fits.gz': {
    found: 'misread: a DR10 file without COEFF0 and with a damaged WAVELENGTH column was read and resampled over wavelengths that do not increase',
    expect: { error: 'BAD_INPUT', message: /row 1, column WAVELENGTH: wavelength\[1\] = [\d.e+]+ Å is not above wavelength\[0\]/ },
  },
  'fits-sdss-naxis-card-lost.fits.gz': {
    found: 'escape: with its NAXIS card overwritten, an SDSS table\'s data unit was empty, and reading NAXIS2 × NAXIS1 bytes from it threw a bare RangeError',
    expect: { error: 'BAD_INPUT', message: /row 1, column loglam: HDU 1 \(COADD\): a table of 4620 rows of 32 bytes \(NAXIS2 × NAXIS1\) doesn't fit its 0-byte data unit/ },
  },
  'fits-table-column-list-too-long.fits.gz': {
    found: "unnamed: a BOSS file whose HDU 1 was no longer an extension (XTENSION = '-64') was read as LAMOST, and the missing IVAR error listed all 232 columns of HDU 2 (over 500 characters)",
    expect: { error: 'BAD_INPUT', message: /row 1, column IVAR: HDU 2 \(SPALL\): missing column IVAR \(has PROGRAMNAME, .*, … \(232 columns\)\)$/ },
  },
  'fits-sdss-loglam-overflow.fits.gz': {
    found: "misread: with TTYPE7 of HDU 1 overwritten by another card, an SDSS file's loglam column read other values (about 1e9): finite and increasing, so accepted, and 10^loglam was Infinity",
    expect: { error: 'BAD_INPUT', message: /row 1, column loglam: HDU 1 \(COADD\): loglam\[0\] = \d+ is no wavelength \(10\^loglam overflows\)/ },
  },
  'fits-sdss-tform-zero-repeat.fits.gz': {
    found: "escape: an SDSS flux column with TFORM1 = '0E' (no values per row) threw readTableColumn's bare RangeError",
    expect: { error: 'BAD_INPUT', message: /row 1, column flux: HDU 1 \(COADD\): column flux holds 0 values per row \(TFORM1\)/ },
  },
  'csv-label-error-before-cut-last-line.csv.gz': {
    found: 'the native and TS readers named different errors (row 1 label, row 4 too few fields): the first in row order is the one',
    expect: { error: 'BAD_INPUT', message: /row 1, column label: unknown label "123456789012345678901234567890"/ },
  },
  'csv-two-boms.csv': {
    found: 'the TS reader skipped two byte-order marks (TextDecoder dropped one more), the native one skips one',
    expect: { error: 'BAD_INPUT', message: /row 0, column 1: header column 1 is "\ufeffid0"/ },
  },
  'csv-last-line-without-end-small-chunks.csv': {
    found: 'misread: read in 300-byte chunks, the last row (no line end) came back with id "\\r": the reader had moved it inside its buffer before finding the end of the file',
    expect: { rows: 5 },
  },
  'csv-extra-kinds-last-line-without-end.csv': {
    found: 'with no line end after the last row, the native reader decided the snr column was numeric without that row, then refused its "1e"',
    expect: { rows: 5 },
  },
};

const MAX_MILLISECONDS = 1000;
const MAX_RSS_MEGABYTES = 300;

function readInChild(path: string): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', child, path], { timeout: 30_000, killSignal: 'SIGKILL', maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`reading ${path} in a child process failed (${error.signal ?? error.code}): ${stderr.slice(0, 2000)}`));
      else resolve(JSON.parse(stdout) as ChildReport);
    });
  });
}

async function readWithTsReader(path: string): Promise<{ rows: number; message?: string }> {
  const bytes = readFileSync(path);
  const text = path.endsWith('.gz') ? gunzipSync(bytes) : bytes;
  async function* chunks() {
    yield new Uint8Array(text);
  }
  let rows = 0;
  try {
    for await (const batch of readCsvBatches(chunks(), path)) rows += batch.ids.length;
  } catch (error) {
    return { rows, message: (error as Error).message };
  }
  return { rows };
}

test('every fuzz finding in test/fixtures/fuzz has an expectation here', () => {
  const files = readdirSync(fixtures).filter((n) => n !== 'README.md').sort();
  assert.deepEqual(files, Object.keys(EXPECTED).sort());
});

for (const [name, { found, expect }] of Object.entries(EXPECTED)) {
  test(`fuzz finding ${name} (${found.split(':')[0]}): ${'error' in expect ? 'one clear error' : 'the right rows'}, fast and small`, async (t) => {
    const path = join(fixtures, name);
    const report = await readInChild(path);
    t.diagnostic(`${report.milliseconds.toFixed(0)} ms, peak RSS ${report.maxRssMegabytes.toFixed(0)} MB, ${report.error ? report.error.message : `${report.rows} rows`}`);
    assert.ok(report.milliseconds < MAX_MILLISECONDS, `${name}: took ${report.milliseconds.toFixed(0)} ms`);
    assert.ok(report.maxRssMegabytes < MAX_RSS_MEGABYTES, `${name}: peak RSS ${report.maxRssMegabytes.toFixed(0)} MB`);
    if ('error' in expect) {
      assert.ok(report.error, `${name}: expected ${expect.error}, but ${report.rows} rows were read`);
      assert.equal(report.error.name, 'AstrospecError');
      assert.equal(report.error.code, expect.error);
      assert.equal(report.error.file, path);
      assert.ok(report.error.message.startsWith(path), report.error.message);
      assert.match(report.error.message, expect.message);
    } else {
      assert.equal(report.error, undefined, report.error?.message);
      assert.equal(report.rows, expect.rows);
    }
    if (/\.csv(\.gz)?$/.test(name)) {
      const ts = await readWithTsReader(path);
      assert.equal(ts.message, report.error?.message, 'the TS reader gives the same result');
      if (!report.error) assert.equal(ts.rows, report.rows);
    }
  });
}

test('CSV: any read chunk size gives the same rows, the last one without a line end included', async () => {
  const path = join(fixtures, 'csv-last-line-without-end-small-chunks.csv');
  const read = async (chunkBytes?: number) => {
    const source = await openCsv(path, { chunkBytes, batchSize: 1 });
    const ids: string[] = [];
    const flux: number[] = [];
    for await (const b of source.batches()) {
      ids.push(...b.ids);
      flux.push(...b.flux);
    }
    return { ids, flux };
  };
  const whole = await read();
  assert.deepEqual(whole.ids, ['a,1', 'b2', 'b2', 'q"3', '4']);
  for (let chunkBytes = 40; chunkBytes <= 700; chunkBytes += 13) assert.deepEqual(await read(chunkBytes), whole, `chunkBytes ${chunkBytes}`);
});

test('CSV: the same rows give the same columns with and without a line end after the last row', async () => {
  const text = readFileSync(join(fixtures, 'csv-extra-kinds-last-line-without-end.csv'), 'latin1');
  assert.ok(!text.endsWith('\n'));
  const withEnd = join(dir, 'with-end.csv');
  writeFileSync(withEnd, `${text}\r\n`, 'latin1');
  for (const path of [withEnd, join(fixtures, 'csv-extra-kinds-last-line-without-end.csv')]) {
    const report = await readInChild(path);
    assert.equal(report.error, undefined, report.error?.message);
    assert.equal(report.rows, 5);
    assert.deepEqual(await readWithTsReader(path), { rows: 5 });
  }
});

test('CSV: a pixel cell is not a number unless it is one up to its comma; only then can it be non-finite', async () => {
  // Found by the native fuzzer (native/fuzz/corpus/csv_rows/regression-out-of-range-then-junk):
  // "1e39x" was reported as a non-finite flux rather than as text that isn't a number.
  const cases: [string, RegExp][] = [
    ['1e39x', /column FE1: "1e39x" is not a number/],
    ['nanx', /column FE1: "nanx" is not a number/],
    [' nan ', /column FE1: flux " nan " is not a finite float32/],
    ['-Infinity\t', /column FE1: flux "-Infinity\t" is not a finite float32/],
    ['1e39', /column FE1: flux "1e39" is not a finite float32/],
  ];
  for (const [k, [cell, pattern]] of cases.entries()) {
    const path = join(dir, `cell-${k}.csv`);
    writeFileSync(path, `id,FE0,FE1,FE2\na,1,${cell},3\n`);
    const report = await readInChild(path);
    assert.ok(report.error, `${JSON.stringify(cell)} was read`);
    assert.match(report.error.message, pattern);
    assert.equal((await readWithTsReader(path)).message, report.error.message);
  }
});
