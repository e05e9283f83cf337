import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import {
  FixedSizeList,
  Field,
  Float32,
  RecordBatchFileWriter,
  RecordBatchStreamWriter,
  Utf8,
  makeData,
  makeTable,
  vectorFromArray,
} from 'apache-arrow';
// The registry the readers use: in Node, apache-arrow's CommonJS build (package.json "#apache-arrow").
import { CompressionType, compressionRegistry } from '#apache-arrow';
import { AstrospecError, type ErrorCode } from '../src/errors.js';
import { openSpectra } from '../src/io/open.js';
import { createSpectraSink } from '../src/io/sink.js';

const peer = fileURLToPath(new URL('../../shared/data/peer-files/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'astrospec-io-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileNumber = 0;

async function readEverything(path: string, options = {}): Promise<number> {
  const source = await openSpectra(path, options);
  let rows = 0;
  for await (const b of source.batches()) rows += b.ids.length;
  return rows;
}

/** The read fails with `code`, naming the file and, when given, the row and column. */
async function rejects(path: string, want: { code: ErrorCode; row?: number; column?: string | number; message?: RegExp }, options = {}): Promise<void> {
  await assert.rejects(readEverything(path, options), (error: unknown) => {
    assert.ok(error instanceof AstrospecError, `not an AstrospecError: ${String(error)}`);
    assert.equal(error.code, want.code, error.message);
    assert.equal(error.file, path, error.message);
    assert.ok(error.message.includes(path));
    if (want.row !== undefined) assert.equal(error.row, want.row, error.message);
    if (want.column !== undefined) assert.equal(error.column, want.column, error.message);
    if (want.message) assert.match(error.message, want.message);
    return true;
  });
}

function csv(text: string, ext = '.csv'): string {
  const path = join(dir, `case-${fileNumber++}${ext}`);
  writeFileSync(path, ext.endsWith('.gz') ? gzipSync(text) : text);
  return path;
}

const grid3 = { grid: { start: 0, step: 1, length: 3 } };
const good = 'id,FE0,FE1,FE2,label\n1,1,2,3,star\n';

const csvCases: [string, string, { code: ErrorCode; row?: number; column?: string | number; message?: RegExp }][] = [
  ['ragged row (too few fields)', `${good}2,1,2\n`, { code: 'BAD_INPUT', row: 2, column: 'FE2', message: /too few fields/ }],
  ['ragged row (too many fields)', `${good}2,1,2,3,star,9\n`, { code: 'BAD_INPUT', row: 2, column: 6, message: /more fields/ }],
  ['non-numeric cell', `${good}2,1,abc,3,star\n`, { code: 'BAD_INPUT', row: 2, column: 'FE1', message: /"abc" is not a number/ }],
  ['empty cell', `${good}2,1,,3,star\n`, { code: 'BAD_INPUT', row: 2, column: 'FE1', message: /empty cell/ }],
  ['NaN flux', `${good}2,1,NaN,3,star\n`, { code: 'BAD_INPUT', row: 2, column: 'FE1', message: /not a finite/ }],
  ['infinite flux', `${good}2,-inf,2,3,star\n`, { code: 'BAD_INPUT', row: 2, column: 'FE0', message: /not a finite/ }],
  ['flux beyond float32', `${good}2,1,2,1e39,star\n`, { code: 'BAD_INPUT', row: 2, column: 'FE2', message: /not a finite/ }],
  ['unknown label', `${good}2,1,2,3,quasar\n`, { code: 'BAD_INPUT', row: 2, column: 'label', message: /unknown label "quasar"/ }],
  ['unterminated quote', `${good}"2,1,2,3,star\n`, { code: 'BAD_INPUT', row: 2, column: 'id', message: /quoted/ }],
  ['blank line between rows', `${good}\n2,1,2,3,star\n`, { code: 'BAD_INPUT', row: 2, message: /empty line/ }],
  ['header with a gap in the pixel columns', 'id,FE0,FE2,FE1\n1,1,2,3\n', { code: 'BAD_INPUT', row: 0, column: 3, message: /FE2 after FE0/ }],
  ['header without pixel columns', 'id,flux0,flux1\n1,1,2\n', { code: 'BAD_INPUT', row: 0, column: 2, message: /expected the header/ }],
  ['empty file', '', { code: 'BAD_INPUT', message: /empty file/ }],
];

for (const [name, text, want] of csvCases) {
  test(`CSV: ${name} is rejected naming file, row and column`, async () => {
    await rejects(csv(text), want, grid3);
  });
}

test('CSV: wrong pixel count for the requested grid', async () => {
  await rejects(csv(good), { code: 'BAD_INPUT', message: /3 pixel columns.*expected 2600/ }, { grid: { start: 3800, step: 2, length: 2600 } });
});

test('CSV: the same errors come out of .csv.gz', async () => {
  await rejects(csv(`${good}2,1,x,3,star\n`, '.csv.gz'), { code: 'BAD_INPUT', row: 2, column: 'FE1' }, grid3);
  const truncated = join(dir, 'truncated.csv.gz');
  writeFileSync(truncated, gzipSync(readFileSync(join(peer, 'lamost-stars-200.csv'))).subarray(0, 100_000));
  await rejects(truncated, { code: 'TRUNCATED' });
});

test('CSV: a bad cell deep in a large file is reported at its row, and no rows are returned', async () => {
  const lines = readFileSync(join(peer, 'lamost-stars-200.csv'), 'utf8').split('\n');
  const cells = lines[151]!.split(',');
  cells[1001] = '12.5.3';
  lines[151] = cells.join(',');
  const path = csv(lines.join('\n'));
  for (const batchSize of [7, 64, 1024]) await rejects(path, { code: 'BAD_INPUT', row: 151, column: 'FE1000' }, { batchSize, threads: 2 });
});

test('CSV: a numeric extra column that turns to text later is rejected at that cell', async () => {
  const path = csv('id,FE0,FE1,FE2,snr\n1,1,2,3,10.5\n2,1,2,3,12\n3,1,2,3,high\n');
  await rejects(path, { code: 'BAD_INPUT', row: 3, column: 'snr', message: /not a number/ }, { ...grid3, batchSize: 2 });
});

test('Arrow: truncated files and streams are TRUNCATED, an empty file is BAD_INPUT', async () => {
  const full = readFileSync(join(peer, 'lamost-stars-200.uncompressed.feather'));
  for (const cut of [100, 2_000_000, full.length - 10]) {
    const path = join(dir, `cut-${cut}.feather`);
    writeFileSync(path, full.subarray(0, cut));
    await rejects(path, { code: 'TRUNCATED' });
  }
  const table = makeTable({ FE0: new Float32Array(100).fill(1), FE1: new Float32Array(100).fill(2) });
  const writer = new RecordBatchStreamWriter();
  for (let i = 0; i < 3; i++) writer.write(table.batches[0]!);
  writer.finish();
  const stream = writer.toUint8Array(true);
  const whole = join(dir, 'whole.ipc');
  writeFileSync(whole, stream);
  assert.equal(await readEverything(whole), 300);
  // Cut at a record-batch boundary (only the end-of-stream marker missing) and mid-batch.
  for (const cut of [stream.length - 8, stream.length - 300]) {
    const path = join(dir, `stream-cut-${cut}.ipc`);
    writeFileSync(path, stream.subarray(0, cut));
    await rejects(path, { code: 'TRUNCATED' });
  }
  const empty = join(dir, 'empty.arrow');
  writeFileSync(empty, '');
  await rejects(empty, { code: 'BAD_INPUT', message: /empty file/ });
});

test('Arrow: a codec without a decoder is UNSUPPORTED and named', async () => {
  const path = join(peer, 'lamost-stars-200.zstd.feather');
  await readEverything(path); // registers the decoders
  const zstd = compressionRegistry.get(CompressionType.ZSTD);
  compressionRegistry.set(CompressionType.ZSTD, null as never);
  try {
    await rejects(path, { code: 'UNSUPPORTED', message: /ZSTD/ });
  } finally {
    compressionRegistry.set(CompressionType.ZSTD, zstd!);
  }
  assert.equal(await readEverything(path), 200);
});

function compactFile(name: string, flux: Float32Array, labels: (string | null)[], L: number): string {
  const rows = labels.length;
  const type = new FixedSizeList(L, new Field('item', new Float32(), false));
  const table = makeTable({
    id: vectorFromArray(labels.map((_, i) => `s${i}`), new Utf8()),
    flux: makeData({ type, length: rows, nullCount: 0, child: makeData({ type: new Float32(), length: rows * L, data: flux }) }),
    label: vectorFromArray(labels, new Utf8()),
  } as never);
  const path = join(dir, name);
  writeFileSync(path, RecordBatchFileWriter.writeAll(table).toUint8Array(true));
  return path;
}

test('Arrow: NaN flux, unknown labels and missing pixel columns are rejected with row and column', async () => {
  const flux = new Float32Array(12).fill(1);
  flux[7] = Number.NaN;
  await rejects(compactFile('nan.arrow', flux, ['star', 'qso', 'galaxy'], 4), { code: 'BAD_INPUT', row: 2, column: 'flux[3]', message: /NaN/ });
  await rejects(compactFile('label.arrow', new Float32Array(12), ['star', 'QSO', 'planet'], 4), { code: 'BAD_INPUT', row: 3, column: 'label', message: /"planet"/ });
  const wide = makeTable({ FE0: new Float32Array(2), FE2: new Float32Array(2) });
  const path = join(dir, 'gap.feather');
  writeFileSync(path, RecordBatchFileWriter.writeAll(wide).toUint8Array(true));
  await assert.rejects(openSpectra(path), (e: unknown) => e instanceof AstrospecError && e.code === 'BAD_INPUT' && /FE1 is missing/.test(e.message));
});

test('writers refuse NaN flux instead of writing a file they could not read back', async () => {
  const grid = { start: 0, step: 1, length: 2 };
  for (const name of ['nan-out.csv', 'nan-out.arrow']) {
    const path = join(dir, name);
    const sink = await createSpectraSink(path, { grid, hasLabels: false });
    await assert.rejects(sink.write({ ids: ['a', 'b'], flux: new Float32Array([1, 2, 3, Number.POSITIVE_INFINITY]), grid, firstRow: 10 }), (e: unknown) => {
      return e instanceof AstrospecError && e.row === 12 && /refusing/.test(e.message);
    });
    await sink.abort();
  }
});
