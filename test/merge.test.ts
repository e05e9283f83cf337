import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AstrospecError } from '../src/errors.js';
import { mergeHandler } from '../src/cli/commands/merge.js';
import { splitCsvLine } from '../src/io/csv-lines.js';
import { createSpectraSink } from '../src/io/sink.js';

const HEADER = 'row,id,predicted,p_star,p_galaxy,p_qso,status';

function predictionLine(row: number): string {
  // Ids with commas and quotes check that only the row cell is read and lines are copied verbatim.
  const id = row % 7 === 3 ? `"obs ${row}, ""B"""` : `obs${row}`;
  return row % 11 === 5 ? `${row},${id},,,,,nan flux` : `${row},${id},galaxy,0.1,0.8,0.1,ok`;
}

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-merge-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes shards holding the given row ranges [first, end) and returns their paths. */
async function writeShards(dir: string, ranges: [number, number][], options: { crlf?: boolean } = {}): Promise<string[]> {
  const eol = options.crlf ? '\r\n' : '\n';
  const files: string[] = [];
  for (const [k, [first, end]] of ranges.entries()) {
    const lines = [HEADER];
    for (let r = first; r < end; r++) lines.push(predictionLine(r));
    const file = join(dir, `pred.${k}.csv`);
    await writeFile(file, lines.join(eol) + eol);
    files.push(file);
  }
  return files;
}

async function expectMergeError(args: Parameters<typeof mergeHandler>[0], pattern: RegExp, file: string, dir: string): Promise<void> {
  await assert.rejects(mergeHandler({ ...args, quiet: true }), (error: unknown) => {
    assert.ok(error instanceof AstrospecError, String(error));
    assert.equal(error.code, 'BAD_INPUT');
    assert.equal(error.file, file);
    assert.match(error.message, pattern);
    return true;
  });
  // A failed merge leaves neither the output nor its temporary file.
  const left = await readdir(dir);
  assert.ok(!left.some((n) => n.includes('all.csv')), `left behind: ${left.join(', ')}`);
}

test('shards given out of order merge into rows 0..R-1 in order, lines copied verbatim', async () => {
  await withDir(async (dir) => {
    const files = await writeShards(dir, [[0, 25], [25, 50], [50, 75], [75, 100], [100, 100]], { crlf: true });
    const output = join(dir, 'all.csv');
    const result = await mergeHandler({ shards: [files[2]!, files[4]!, files[0]!, files[3]!, files[1]!], output, rows: 100, quiet: true });
    assert.equal(result.rows, 100);
    assert.deepEqual(result.shards.map((s) => s.rows), [25, 25, 25, 25, 0]);
    const expected = [HEADER, ...Array.from({ length: 100 }, (_, r) => predictionLine(r))].join('\n') + '\n';
    assert.equal(await readFile(output, 'utf8'), expected);
    // The quoted ids survive as one cell each.
    const line = (await readFile(output, 'utf8')).split('\n')[4]!;
    assert.deepEqual(splitCsvLine(line, { file: output }).slice(0, 2), ['3', 'obs 3, "B"']);
    assert.deepEqual(await readdir(dir).then((n) => n.filter((x) => x.startsWith('.'))), []);
  });
});

test('a gap between shards names the file, its first row and the missing rows', async () => {
  await withDir(async (dir) => {
    const files = await writeShards(dir, [[0, 10], [13, 20]]);
    await expectMergeError({ shards: files, output: join(dir, 'all.csv') }, /row 13 found where row 10 was expected: rows 10–12 missing between .*pred\.0\.csv \(ends at row 9\)/, files[1]!, dir);
  });
});

test('a shard overlapping the previous one is a repeated row', async () => {
  await withDir(async (dir) => {
    const files = await writeShards(dir, [[0, 10], [8, 20]]);
    await expectMergeError({ shards: files, output: join(dir, 'all.csv') }, /row 8 repeated: it is already in .*pred\.0\.csv/, files[1]!, dir);
  });
});

test('a row repeated inside a shard, and a hole inside a shard, point at the data row', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'pred.0.csv');
    await writeFile(file, [HEADER, predictionLine(0), predictionLine(1), predictionLine(1), predictionLine(2)].join('\n') + '\n');
    await assert.rejects(mergeHandler({ shards: [file], output: join(dir, 'all.csv'), quiet: true }), (e: AstrospecError) => e.row === 3 && /row 1 repeated: it is already earlier in this shard/.test(e.message));
    await writeFile(file, [HEADER, predictionLine(0), predictionLine(2)].join('\n') + '\n');
    await expectMergeError({ shards: [file], output: join(dir, 'all.csv') }, /row 1 missing after row 0 of this shard/, file, dir);
  });
});

test('rows missing at the end or beyond the input are reported against --rows', async () => {
  await withDir(async (dir) => {
    const files = await writeShards(dir, [[0, 10], [10, 18]]);
    await expectMergeError({ shards: files, output: join(dir, 'all.csv'), rows: 20 }, /rows 18–19 of 20 missing: the last shard, .*pred\.1\.csv, ends at row 17/, files[1]!, dir);
    await expectMergeError({ shards: files, output: join(dir, 'all.csv'), rows: 15 }, /row 15 is beyond the input, which has 15 rows/, files[1]!, dir);
    // Without --rows only contiguity from 0 is checked: a first shard not starting at 0 is a gap.
    const late = await writeShards(dir, [[2, 5]]);
    await expectMergeError({ shards: late, output: join(dir, 'all.csv') }, /rows 0–1 missing before this shard/, late[0]!, dir);
  });
});

test('two shards starting at the same row, differing headers and non-integer rows are refused', async () => {
  await withDir(async (dir) => {
    const files = await writeShards(dir, [[0, 5], [0, 5]]);
    await expectMergeError({ shards: files, output: join(dir, 'all.csv') }, /starts at row 0, as does .*pred\.0\.csv/, files[1]!, dir);
    await writeFile(files[1]!, `row,id,predicted\n5,a,star\n`);
    await expectMergeError({ shards: files, output: join(dir, 'all.csv') }, /header "row,id,predicted" differs/, files[1]!, dir);
    await writeFile(files[1]!, `${HEADER}\n5,a,star,1,0,0,ok\n6.5,b,star,1,0,0,ok\n`);
    await expectMergeError({ shards: files, output: join(dir, 'all.csv') }, /row index "6.5" is not a non-negative integer/, files[1]!, dir);
    await writeFile(files[1]!, `id,predicted\na,star\n`);
    await expectMergeError({ shards: files, output: join(dir, 'all.csv') }, /no "row" column/, files[1]!, dir);
  });
});

test('only CSV shards and a CSV output are accepted', async () => {
  await withDir(async (dir) => {
    const files = await writeShards(dir, [[0, 5]]);
    await assert.rejects(mergeHandler({ shards: files, output: join(dir, 'all.arrow'), quiet: true }), /merge joins CSV prediction files/);
    await assert.rejects(mergeHandler({ shards: [join(dir, 'pred.0.arrow')], output: join(dir, 'all.csv'), quiet: true }), /merge joins CSV prediction files/);
  });
});

test('--input counts the rows of the classified spectra file', async () => {
  await withDir(async (dir) => {
    const grid = { start: 3800, step: 2, length: 8 };
    const input = join(dir, 'spectra.arrow');
    const sink = await createSpectraSink(input, { grid, hasLabels: false });
    await sink.write({ ids: Array.from({ length: 10 }, (_, r) => `obs${r}`), flux: new Float32Array(80).fill(1), grid, firstRow: 0 });
    await sink.close();
    const complete = await writeShards(dir, [[0, 6], [6, 10]]);
    assert.equal((await mergeHandler({ shards: complete, output: join(dir, 'all.csv'), input, quiet: true })).rows, 10);
    await rm(join(dir, 'all.csv'));
    const short = await writeShards(dir, [[0, 6], [6, 9]]);
    await expectMergeError({ shards: short, output: join(dir, 'all.csv'), input }, /row 9 of 10 missing/, short[1]!, dir);
  });
});
