/**
 * Hostile input: files mutated to break the readers (../shared/data/bad-inputs, copied to
 * test/fixtures/hostile), and one regression test per fault class found by a mutation fuzz of
 * openSpectra. Every damaged file must give one AstrospecError naming it, within a second and
 * without memory growth; every valid one, the right values.
 *
 * Each file is read in its own process (test/read-spectra-child.ts) with a time limit: the faults
 * were endless loops and multi-gigabyte allocations, which would take the test runner down too.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Decimal, Field, FixedSizeList, Float16, makeData, makeTable, RecordBatchFileWriter, RecordBatchStreamWriter, vectorFromArray } from 'apache-arrow';
import { AstrospecError, type ErrorCode } from '../src/errors.js';
import { openSpectra } from '../src/io/open.js';
import { openCsv } from '../src/io/csv.js';
import { decodeLz4Frames, Lz4FrameError } from '../src/io/lz4-frame.js';
import type { ChildReport } from './read-spectra-child.js';

const fixtures = fileURLToPath(new URL('./fixtures/hostile/', import.meta.url));
const shared = fileURLToPath(new URL('../../shared/data/bad-inputs/', import.meta.url));
const child = fileURLToPath(new URL('./read-spectra-child.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'astrospec-bad-inputs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Limits every file must be read (or refused) within. */
const MAX_MILLISECONDS = 1000;
const MAX_RSS_MEGABYTES = 300;
/** The child is killed after this: a reader that hangs fails the test instead of hanging it. */
const HARD_TIMEOUT_MS = 30_000;

type Expectation =
  | { error: ErrorCode; message: RegExp }
  | { rows: number; check?: (report: ChildReport) => void };

/** float16 and decimal128(10, 3) pixels of row 0, as pyarrow reads them. */
const FLOAT16_ROW0 = [0.7763671875, 0.7998046875, 0.97216796875, 0.86669921875, 0.7568359375, 1.1982421875, 0.58154296875, 0.90478515625];
const DECIMAL_ROW0 = [0.591, 0.928, 0.7, 1.152, 1.242, 1.458, 1.093, 1.588].map(Math.fround);

const EXPECTED: Record<string, Expectation> = {
  'fits-naxis-huge.fits': { error: 'BAD_INPUT', message: /NAXIS = 999999999 is not an integer from 0 to 999/ },
  'fits-negative-naxis1.fits.gz': { error: 'BAD_INPUT', message: /HDU 1 \(COADD\): NAXIS1 = -3909 is not a non-negative integer/ },
  'fits-tform-huge-repeat.fits': { error: 'BAD_INPUT', message: /TFORM2 = '9999999999E'.*NAXIS1/ },
  'fits-naxis1-fraction.fits': { error: 'BAD_INPUT', message: /NAXIS1 = 0\.5 is not a non-negative integer/ },
  'feather-lz4-duplicated-chunk.feather': { error: 'BAD_INPUT', message: /record batch 0: column "FE\d+"/ },
  'arrow-stream-corrupt-field-nodes.arrow': { error: 'BAD_INPUT', message: /vector of \d+ elements doesn't fit/ },
  'arrow-stream-corrupt-field-count.arrow': { error: 'BAD_INPUT', message: /vector of \d+ elements doesn't fit/ },
  'arrow-corrupt-header.arrow': { error: 'BAD_INPUT', message: /Arrow file: / },
  'arrow-invalid-accepted.arrow': { error: 'BAD_INPUT', message: /column "id" has length 4294967299/ },
  'csv-gz-corrupt.csv.gz': { error: 'BAD_INPUT', message: /gzip stream/ },
  'arrow-float16-pixels.arrow': {
    rows: 5,
    check: (r) => assert.deepEqual(r.flux.slice(0, 8), FLOAT16_ROW0),
  },
  'arrow-decimal128-pixels.arrow': {
    rows: 5,
    check: (r) => {
      assert.deepEqual(r.flux.slice(0, 8), DECIMAL_ROW0);
      assert.deepEqual(r.ids, ['i0', 'i1', 'i2', 'i3', 'i4']);
    },
  },
  'csv-whitespace-last-line.csv': { rows: 0 },
};

function readInChild(path: string): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', child, path], { timeout: HARD_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`reading ${path} in a child process failed (${error.signal ?? error.code}): ${stderr.slice(0, 2000)}`));
      else resolve(JSON.parse(stdout) as ChildReport);
    });
  });
}

async function checkFile(path: string, name: string, diagnostic: (message: string) => void): Promise<void> {
  const want = EXPECTED[name];
  assert.ok(want, `${name}: a bad input without an expectation in this test`);
  const report = await readInChild(path);
  const label = `${name}: ${report.error?.message ?? `${report.rows} rows`}`;
  diagnostic(`${name}: ${report.milliseconds.toFixed(0)} ms, peak RSS ${report.maxRssMegabytes.toFixed(0)} MB, ${report.error ? `${report.error.code}: ${report.error.message}` : `${report.rows} rows`}`);
  assert.ok(report.milliseconds < MAX_MILLISECONDS, `${label}: took ${report.milliseconds.toFixed(0)} ms`);
  assert.ok(report.maxRssMegabytes < MAX_RSS_MEGABYTES, `${label}: peak RSS ${report.maxRssMegabytes.toFixed(0)} MB`);
  if ('error' in want) {
    assert.ok(report.error, `${label}: expected ${want.error}, but the file was read`);
    assert.equal(report.error.name, 'AstrospecError', label);
    assert.equal(report.error.code, want.error, label);
    assert.equal(report.error.file, path, label);
    assert.ok(report.error.message.startsWith(`${path}`), label);
    assert.match(report.error.message, want.message, label);
    assert.ok(report.error.message.length < 500, `${label}: message of ${report.error.message.length} characters`);
  } else {
    assert.equal(report.error, undefined, label);
    assert.equal(report.rows, want.rows, label);
    want.check?.(report);
  }
}

for (const name of Object.keys(EXPECTED)) {
  test(`hostile file ${name}: ${'error' in EXPECTED[name]! ? 'one clear error naming it' : 'the right values'}, fast and small`, async (t) => {
    await checkFile(join(fixtures, name), name, (m) => t.diagnostic(m));
  });
}

test('the fixtures are the shared bad inputs, and any new shared bad input is handled', async (t) => {
  if (!existsSync(shared)) {
    t.skip(`${shared} is absent: checked the copies in test/fixtures/hostile only`);
    return;
  }
  for (const name of readdirSync(shared).filter((n) => n !== 'README.md')) {
    const copy = join(fixtures, name);
    if (existsSync(copy) && readFileSync(copy).equals(readFileSync(join(shared, name)))) continue;
    // A file added to (or changed in) ../shared since the copy: read it there.
    await checkFile(join(shared, name), name, (m) => t.diagnostic(m));
  }
});

// ---------------------------------------------------------------------------------------------
// One regression test per fault class, on inputs made here.

async function readAll(path: string, options = {}): Promise<number> {
  const source = await openSpectra(path, options);
  let rows = 0;
  try {
    for await (const b of source.batches()) rows += b.ids.length;
  } finally {
    await source.close();
  }
  return rows;
}

async function refuses(path: string, code: ErrorCode, pattern: RegExp, options = {}): Promise<void> {
  const started = performance.now();
  await assert.rejects(readAll(path, options), (e: unknown) => {
    assert.ok(e instanceof AstrospecError, `${path}: not an AstrospecError: ${(e as Error)?.stack}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.file, path, e.message);
    assert.match(e.message, pattern);
    assert.ok(e.message.length < 500, `message of ${e.message.length} characters`);
    return true;
  });
  assert.ok(performance.now() - started < 5 * MAX_MILLISECONDS, `${path}: took ${(performance.now() - started).toFixed(0)} ms`);
}

/** FITS bytes with the first `key` card's value replaced (the card stays 80 characters). */
function patchCard(base: Buffer, key: string, value: string): Buffer {
  const out = Buffer.from(base);
  const at = out.indexOf(Buffer.from(key.padEnd(8) + '= ', 'latin1'));
  assert.ok(at >= 0 && at % 80 === 0, `${key} card not found`);
  out.write(`${key.padEnd(8)}= ${value.padStart(20)}`.padEnd(80), at, 'latin1');
  return out;
}

function withCard(base: Buffer, key: string, value: string, name: string): string {
  const path = join(dir, name);
  writeFileSync(path, patchCard(base, key, value));
  return path;
}

test('FITS: header numbers that size the data are checked before any loop or allocation', { timeout: 60_000 }, async () => {
  // The DR1 and DR10 fixtures differ from good files only in NAXIS1 and TFORM2.
  const dr1 = patchCard(readFileSync(join(fixtures, 'fits-naxis1-fraction.fits')), 'NAXIS1', '3904');
  const dr10 = patchCard(readFileSync(join(fixtures, 'fits-tform-huge-repeat.fits')), 'TFORM2', "'3909E'");
  assert.equal(await readAll(withCard(dr1, 'NAXIS1', '3904', 'good.fits')), 1);
  assert.equal(await readAll(withCard(dr10, 'TFORM2', "'3909E'", 'good-dr10.fits')), 1);
  await refuses(withCard(dr1, 'NAXIS', '-1', 'naxis-negative.fits'), 'BAD_INPUT', /NAXIS = -1 is not an integer from 0 to 999/);
  await refuses(withCard(dr1, 'NAXIS', '1000', 'naxis-1000.fits'), 'BAD_INPUT', /NAXIS = 1000/);
  await refuses(withCard(dr1, 'NAXIS', "'two'", 'naxis-text.fits'), 'BAD_INPUT', /NAXIS = two/);
  await refuses(withCard(dr1, 'NAXIS1', '1E300', 'naxis1-huge.fits'), 'BAD_INPUT', /NAXIS1 = 1e\+300 is not a non-negative integer/);
  await refuses(withCard(dr1, 'NAXIS2', '4000000000', 'naxis2-huge.fits'), 'TRUNCATED', /file ends inside the data of HDU 0 \(PRIMARY\)/);
  await refuses(withCard(dr1, 'BITPIX', '-33', 'bitpix.fits'), 'BAD_INPUT', /BITPIX = -33/);
  // DR10: the primary HDU is empty; the table is HDU 1.
  await refuses(withCard(dr10, 'TFORM2', "'9999999999E'", 'tform.fits'), 'BAD_INPUT', /TFORM2/);
  await refuses(withCard(dr10, 'TFIELDS', '1000000', 'tfields.fits'), 'BAD_INPUT', /TFIELDS = 1000000 is not an integer from 0 to 999/);
  await refuses(withCard(dr10, 'GCOUNT', '-1', 'gcount.fits'), 'BAD_INPUT', /GCOUNT = -1/);
  // Many axes, each small: the product alone is absurd.
  const axes = withCard(dr1, 'NAXIS', '999', 'naxis-999.fits');
  await refuses(axes, 'BAD_INPUT', /the header has no NAXIS3 card/);
});

test('FITS: a .fits.gz that inflates past the size limit is refused without inflating it all', async () => {
  const path = join(dir, 'bomb.fits.gz');
  const header = readFileSync(join(fixtures, 'fits-naxis1-fraction.fits')).subarray(0, 2880 * 4);
  writeFileSync(path, gzipSync(Buffer.concat([header, Buffer.alloc(80 << 20)])));
  await refuses(path, 'UNSUPPORTED', /larger than 64 MB/);
});

async function openFileDescriptors(): Promise<number> {
  return readdirSync('/proc/self/fd').length;
}

test('CSV.gz: opening and closing (or failing on) a > 64 kB .csv.gz leaks no file descriptor', { skip: !existsSync('/proc/self/fd') && 'no /proc/self/fd on this system' }, async () => {
  // Incompressible digits, so the gzip file itself is over 64 kB.
  let s = 1;
  const digits = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % 1000) / 100;
  const lines = ['id,FE0,FE1,FE2,FE3'];
  for (let r = 0; r < 12_000; r++) lines.push(`${r},${digits()},${digits()},${digits()},${digits()}`);
  const big = join(dir, 'big.csv.gz');
  writeFileSync(big, gzipSync(`${lines.join('\n')}\n`));
  assert.ok(readFileSync(big).length > 64 << 10);
  const corrupt = join(dir, 'corrupt.csv.gz');
  const damaged = Buffer.from(readFileSync(big));
  damaged.fill(0x55, 2000, 2100);
  writeFileSync(corrupt, damaged);
  const before = await openFileDescriptors();
  for (let i = 0; i < 1000; i++) {
    const source = await openSpectra(big);
    await source.close();
    await assert.rejects(readAll(corrupt), (e: unknown) => e instanceof AstrospecError && e.file === corrupt);
  }
  // Some descriptors belong to others (the runner's pipes, libuv); a leak would add 2000.
  assert.ok((await openFileDescriptors()) - before < 10, `open descriptors: ${before} before, ${await openFileDescriptors()} after`);
});

test('CSV: whitespace-only lines at the end are blank lines (accepted); counts agree', async () => {
  const grid = { grid: { start: 0, step: 1, length: 2 } };
  for (const [name, tail] of [
    ['tab', '\t\n'],
    ['spaces-no-newline', '   '],
    ['mixed', ' \r\n\t \n\n'],
  ] as const) {
    const path = join(dir, `ws-${name}.csv`);
    writeFileSync(path, `id,FE0,FE1\n1,1,2\n2,3,4\n${tail}`);
    assert.equal(await readAll(path, grid), 2, name);
    const source = await openSpectra(path, grid);
    assert.equal(await source.countRows!(), 2, name);
  }
  const middle = join(dir, 'ws-middle.csv');
  writeFileSync(middle, 'id,FE0,FE1\n1,1,2\n \t\n2,3,4\n');
  await refuses(middle, 'BAD_INPUT', /row 2/, grid);
});

test('CSV: error messages quote at most a short excerpt of a huge header or cell', async () => {
  const header = join(dir, 'huge-header.csv');
  writeFileSync(header, `id,${'x'.repeat(10 << 20)}\n1,2\n`);
  await refuses(header, 'BAD_INPUT', /header column 2 is "x{60}…"/);
  const label = join(dir, 'huge-label.csv');
  writeFileSync(label, `id,FE0,label\n1,2,${'q'.repeat(1 << 20)}\n`);
  await refuses(label, 'BAD_INPUT', /unknown label "q{60}…"/);
  const name = join(dir, 'huge-name.csv');
  writeFileSync(name, `id,FE0,${'n'.repeat(1 << 20)}\n1,2\n`);
  await refuses(name, 'BAD_INPUT', /row 1, column n{80}…: row has too few fields/);
});

test('CSV: a line much longer than the read chunk costs time linear in its length', async () => {
  const pixels = 200_000;
  const path = join(dir, 'long-lines.csv');
  const row = (r: number) => `${r},${Array.from({ length: pixels }, (_, i) => ((i * 7 + r) % 100) / 8).join(',')}`;
  writeFileSync(path, `id,${Array.from({ length: pixels }, (_, i) => `FE${i}`).join(',')}\n${row(0)}\n${row(1)}\n`);
  const time = async (chunkBytes: number) => {
    const started = performance.now();
    const source = await openCsv(path, { chunkBytes });
    let rows = 0;
    for await (const b of source.batches()) rows += b.ids.length;
    assert.equal(rows, 2);
    return performance.now() - started;
  };
  await time(1 << 24); // warm up
  const whole = await time(1 << 24);
  // 1.2 MB lines in 64-byte chunks: ~20 000 chunks per line. Re-copying and re-scanning the line
  // for each (as before) took 40× the one-chunk read (6 s); doubling the read takes about as long.
  const tiny = await time(64);
  assert.ok(tiny < 8 * whole + 1000, `64-byte chunks: ${tiny.toFixed(0)} ms, one chunk: ${whole.toFixed(0)} ms`);
});

test('LZ4: a damaged frame is an exception thrown where it is decoded, not an error event', () => {
  const frame = readFileSync(join(fixtures, 'feather-lz4-duplicated-chunk.feather'));
  const magic = frame.indexOf(Buffer.from([0x04, 0x22, 0x4d, 0x18]));
  assert.ok(magic > 0);
  for (const cut of [5, 9, 20, 40]) {
    assert.throws(() => decodeLz4Frames(frame.subarray(magic, magic + cut), 100), Lz4FrameError);
  }
  // A claimed size the compressed bytes can't hold is refused before allocating it.
  assert.throws(() => decodeLz4Frames(frame.subarray(magic, magic + 40), 2 ** 40), /can't hold/);
});

test('LZ4: linked blocks (Arrow writes them for buffers over 64 kB) decode; matches may reach into the previous block', () => {
  const first = Buffer.alloc(65536);
  for (let i = 0; i < first.length; i++) first[i] = (i * 7) & 255;
  // FLG: version 01, blocks linked, no checksums; BD: 64 kB blocks. The header checksum is
  // xxh32(FLG BD) >> 8 & 0xFF.
  const descriptor = Buffer.from([0x40, 0x40, 0xc0]);
  const stored = Buffer.alloc(4);
  stored.writeUInt32LE((0x80000000 | first.length) >>> 0);
  // Block 2: no literals, a 100-byte match at offset 64 536 (bytes 1000…1099 of block 1), then one literal 0x42.
  const second = Buffer.from([0x0f, 64536 & 255, 64536 >> 8, 100 - 4 - 15, 0x10, 0x42]);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(second.length);
  const frame = Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), descriptor, stored, first, size, second, Buffer.alloc(4)]);
  const out = decodeLz4Frames(frame, first.length + 101);
  assert.deepEqual(Buffer.from(out), Buffer.concat([first, first.subarray(1000, 1100), Buffer.from([0x42])]));
  // The same block in an independent-blocks frame may not reach back into block 1.
  const independent = Buffer.from(frame);
  independent[4] = 0x60;
  independent[6] = 0x82;
  assert.throws(() => decodeLz4Frames(independent, first.length + 101), /reaches before the start/);
});

test('Arrow: float16 and decimal pixel columns are converted (decimals by their scale, negative ones too)', async () => {
  const table = makeTable({
    FE0: vectorFromArray([0.5, -2.25, 65504, 6.103515625e-5], new Float16()),
    FE1: makeData({
      type: new Decimal(2, 9, 128),
      length: 4,
      // 12345 → 123.45; −1 → −0.01 (two's complement over all four words); 0; 99999 → 999.99
      data: new Uint32Array([12345, 0, 0, 0, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0, 0, 0, 0, 99999, 0, 0, 0]),
    }),
  } as never);
  const path = join(dir, 'half-decimal.arrow');
  writeFileSync(path, RecordBatchFileWriter.writeAll(table).toUint8Array(true));
  const source = await openSpectra(path);
  const flux: number[] = [];
  for await (const b of source.batches()) flux.push(...b.flux);
  assert.deepEqual(flux, [0.5, 123.45, -2.25, -0.01, 65504, 0, 6.103515625e-5, 999.99].map(Math.fround));
  // A decimal with more digits than its precision is refused, as pyarrow's full validation does.
  const wide = makeTable({ FE0: makeData({ type: new Decimal(0, 3, 128), length: 1, data: new Uint32Array([1000, 0, 0, 0]) }) } as never);
  const bad = join(dir, 'decimal-precision.arrow');
  writeFileSync(bad, RecordBatchFileWriter.writeAll(wide).toUint8Array(true));
  await refuses(bad, 'BAD_INPUT', /row 1, column FE0: decimal value 1000 has more than the column's 3 digits/);
  // The same in a compact flux column, in a record batch's third row, read a row at a time.
  const item = new Decimal(0, 3, 128);
  const words = new Uint32Array(4 * 8);
  for (let k = 0; k < 8; k++) words[4 * k] = k === 5 ? 1000 : 7;
  const items = makeData({ type: item, length: 8, data: words });
  const compact = makeTable({ flux: makeData({ type: new FixedSizeList(2, new Field('item', item)), length: 4, child: items }) } as never);
  const badCompact = join(dir, 'decimal-precision-compact.arrow');
  writeFileSync(badCompact, RecordBatchFileWriter.writeAll(compact).toUint8Array(true));
  await refuses(badCompact, 'BAD_INPUT', /row 3, column flux: decimal value 1000 has more than the column's 3 digits/, { batchSize: 1 });
});

test('Arrow: damaged framing is refused before apache-arrow reads it', async () => {
  const table = makeTable({ FE0: new Float32Array([1, 2, 3]), FE1: new Float32Array([4, 5, 6]) });
  const stream = Buffer.from(RecordBatchStreamWriter.writeAll(table).toUint8Array(true));
  const write = (name: string, bytes: Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  // The schema message's length word.
  const huge = Buffer.from(stream);
  huge.writeInt32LE(0x7fffffff, 4);
  await refuses(write('metadata-length.ipc', huge), 'TRUNCATED', /metadata, past the end of the file/);
  const negative = Buffer.from(stream);
  negative.writeInt32LE(-8, 4);
  await refuses(write('negative-length.ipc', negative), 'BAD_INPUT', /negative metadata length/);
  // The record batch's body length (the int64 after the header table in its Message).
  const file = Buffer.from(RecordBatchFileWriter.writeAll(table).toUint8Array(true));
  const footerLength = file.readInt32LE(file.length - 10);
  const cutFooter = Buffer.from(file);
  cutFooter.writeInt32LE(footerLength + 100_000, file.length - 10);
  await refuses(write('footer-length.arrow', cutFooter), 'BAD_INPUT', /footer length/);
  // Every 4-byte word of the stream's metadata set to a huge value, one at a time: never a hang,
  // a huge allocation or an error without the file's name.
  const schemaEnd = 8 + stream.readInt32LE(4);
  for (let at = 8; at + 4 <= schemaEnd; at += 4) {
    const mutated = Buffer.from(stream);
    mutated.writeInt32LE(0x7ffffff0, at);
    const path = write(`word-${at}.ipc`, mutated);
    try {
      await readAll(path);
    } catch (e) {
      assert.ok(e instanceof AstrospecError && e.file === path, `word ${at}: ${(e as Error)?.stack}`);
    }
  }
});
