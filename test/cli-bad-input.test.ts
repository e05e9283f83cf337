/**
 * Bad input end to end, as a new user meets it: the compiled CLI (bin/astrospec.js; `npm test`
 * builds dist/ first) must print one clear message, exit non-zero, and leave no output behind.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMPETITION_GRID } from '../src/io/batch.js';
import { modelSpec, writeRandomModel } from './classify-fixtures.js';

const bin = fileURLToPath(new URL('../bin/astrospec.js', import.meta.url));
const shared = fileURLToPath(new URL('../../shared/data/', import.meta.url));
let dir: string;
let model: string;

function astrospec(...args: string[]) {
  const run = spawnSync(process.execPath, [bin, ...args, '--quiet'], { encoding: 'utf8' });
  return { code: run.status, stderr: run.stderr.trim() };
}

/** One message line, prefixed like every astrospec error (no stack trace). */
function assertOneClearMessage(stderr: string, pattern: RegExp) {
  const lines = stderr.split('\n').filter((l) => l.trim().length > 0);
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.match(lines[0]!, /^astrospec: /);
  assert.match(lines[0]!, pattern);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'astrospec-bad-input-'));
  await mkdir(join(dir, 'model'));
  model = (await writeRandomModel(join(dir, 'model'), modelSpec(COMPETITION_GRID, 2))).path;
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a FITS folder with one corrupt file names that file, exits non-zero, writes nothing', async () => {
  const fits = join(dir, 'fits');
  const out = join(dir, 'out-fits');
  await mkdir(fits);
  await mkdir(out);
  const real = (await readdir(join(shared, 'lamost', 'dr10'))).sort().slice(0, 3);
  for (const name of real) await copyFile(join(shared, 'lamost', 'dr10', name), join(fits, name));
  const whole = await readFile(join(fits, real[1]!));
  await writeFile(join(fits, 'zz-corrupt.fits.gz'), whole.subarray(0, Math.floor(whole.length / 2)));
  const { code, stderr } = astrospec('classify', fits, '--model', model, '-o', join(out, 'p.csv'));
  assert.notEqual(code, 0);
  assertOneClearMessage(stderr, /zz-corrupt\.fits\.gz/);
  assert.deepEqual(await readdir(out), []);
});

test('a CSV with a bad cell in the middle names file, row and column, and writes nothing', async () => {
  const lines = (await readFile(join(shared, 'peer-files', 'lamost-stars-200.nolabel.csv'), 'utf8')).split('\n');
  const cells = lines[101]!.split(',');
  cells[18] = 'n/a'; // data row 101 (rows count from 1 after the header), column FE17
  lines[101] = cells.join(',');
  const csv = join(dir, 'bad-row.csv');
  await writeFile(csv, lines.join('\n'));
  const out = join(dir, 'out-csv');
  await mkdir(out);
  const { code, stderr } = astrospec('classify', csv, '--model', model, '-o', join(out, 'p.csv'));
  assert.notEqual(code, 0);
  assertOneClearMessage(stderr, /bad-row\.csv, row 101, column FE17/);
  assert.deepEqual(await readdir(out), []);
});

test('a model for another input length gives one clear message', async () => {
  const other = join(dir, 'model-1300');
  await mkdir(other);
  const mismatched = (await writeRandomModel(other, modelSpec({ start: 3800, step: 4, length: 1300 }, 2))).path;
  const out = join(dir, 'out-model');
  await mkdir(out);
  const csv = join(shared, 'peer-files', 'lamost-stars-200.csv');
  const { code, stderr } = astrospec('classify', csv, '--model', mismatched, '-o', join(out, 'p.csv'));
  assert.notEqual(code, 0);
  assertOneClearMessage(stderr, /1300/);
  assert.deepEqual(await readdir(out), []);
});

test('an unwritable output path fails before any work, naming the path', async () => {
  const blocker = join(dir, 'not-a-folder');
  await writeFile(blocker, 'a file where a folder should be');
  const csv = join(shared, 'peer-files', 'lamost-stars-200.csv');
  const { code, stderr } = astrospec('classify', csv, '--model', model, '-o', join(blocker, 'p.csv'));
  assert.notEqual(code, 0);
  assertOneClearMessage(stderr, /not-a-folder/);
});

test('a missing input file is named', async () => {
  const { code, stderr } = astrospec('convert', join(dir, 'nope.csv'), '-o', join(dir, 'x.arrow'));
  assert.notEqual(code, 0);
  assertOneClearMessage(stderr, /nope\.csv/);
});
