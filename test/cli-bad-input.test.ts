/**
 * Bad input end to end, as a new user meets it: the compiled CLI (bin/astrospec.js; `npm test`
 * builds dist/ first) must print one clear message, exit non-zero, and leave no output behind.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFile, link, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMPETITION_GRID } from '../src/io/batch.js';
import { commands } from '../src/cli/main.js';
import { COMMAND_FILES } from '../src/cli/output-guard.js';
import { decodeModel } from '../src/export/onnx-proto.js';
import { modelSpec, writeArrowSpectra, writeRandomModel } from './classify-fixtures.js';

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

// ---------------------------------------------------------------------------------------------
// Hostile use of the CLI: outputs over inputs, signals mid-run, a damaged model, cut predictions.

/** A small grid, so that a long run (for the signal tests) needs only a small file. */
const SMALL_GRID = { start: 3800, step: 20, length: 260 };

async function smallFixtures() {
  const root = join(dir, 'hostile');
  await mkdir(join(root, 'model'), { recursive: true });
  const smallModel = (await writeRandomModel(join(root, 'model'), modelSpec(SMALL_GRID, 2))).path;
  const spectra = join(root, 'spectra.arrow');
  await writeArrowSpectra(spectra, 40_000, SMALL_GRID, 5);
  return { root, smallModel, spectra };
}
let small: Awaited<ReturnType<typeof smallFixtures>> | undefined;
const hostile = async () => (small ??= await smallFixtures());

test('every command that writes files declares its outputs and inputs to the output guard', () => {
  // info prints; calibrate updates the model folder it is given, which is its only file argument.
  const writesNothingElse = new Set(['info', 'calibrate']);
  for (const command of commands) {
    const name = String(command.command).split(' ')[0]!;
    if (!writesNothingElse.has(name)) assert.ok(COMMAND_FILES[name], `${name} is missing from COMMAND_FILES in src/cli/output-guard.ts`);
  }
});

test('no command writes its output over one of its inputs (same path, ./ spelling, symlink or hard link)', async () => {
  const { root, smallModel } = await hostile();
  const work = join(root, 'overwrite');
  await mkdir(work);
  const csv = join(work, 'in.csv');
  const pixels = Array.from({ length: SMALL_GRID.length }, (_, i) => `FE${i}`).join(',');
  const row = (id: string) => `${id},${Array.from({ length: SMALL_GRID.length }, (_, i) => (1 + i / 100).toFixed(2)).join(',')},star`;
  await writeFile(csv, `id,${pixels},label\n${row('a')}\n${row('b')}\n`);
  const predictions = join(work, 'p.csv');
  await writeFile(predictions, 'row,id,predicted,p_star,p_galaxy,p_qso,status\n0,a,star,1,0,0,ok\n1,b,star,1,0,0,ok\n');
  const truth = join(work, 't.csv');
  await writeFile(truth, 'id,label\na,star\nb,star\n');
  await symlink(csv, join(work, 'link.csv'));
  await link(csv, join(work, 'hard.csv'));
  const cases: string[][] = [
    ['classify', csv, '--model', smallModel, '-o', csv],
    ['convert', csv, '-o', csv],
    ['convert', csv, '-o', join(work, '.', 'sub', '..', 'in.csv')],
    ['convert', csv, '-o', join(work, 'link.csv')],
    ['convert', csv, '-o', join(work, 'hard.csv')],
    ['preprocess', csv, '-o', csv],
    ['merge', predictions, '-o', predictions],
    ['evaluate', predictions, '--truth', truth, '--json', truth],
    ['report', '--predictions', predictions, '-o', predictions],
    ['plot', csv, '--row', '0', '-o', csv],
    ['export', work, '-o', work],
  ];
  const before = await readFile(csv);
  const beforePredictions = await readFile(predictions);
  const beforeTruth = await readFile(truth);
  for (const args of cases) {
    const { code, stderr } = astrospec(...args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assertOneClearMessage(stderr, /is the same file as the input .*: refusing to overwrite an input/);
  }
  assert.deepEqual(await readFile(csv), before);
  assert.deepEqual(await readFile(predictions), beforePredictions);
  assert.deepEqual(await readFile(truth), beforeTruth);
  assert.deepEqual((await readdir(work)).filter((f) => f.includes('.partial')), []);
});

/** Starts the CLI, waits for a `.partial` file in `outDir`, sends `signal`, and returns how it ended. */
async function interrupt(args: string[], outDir: string, signal: NodeJS.Signals) {
  const child = spawn(process.execPath, [bin, ...args, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, sig) => resolve({ code, signal: sig })));
  let exitedEarly = false;
  void ended.then(() => (exitedEarly = true));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if ((await readdir(outDir)).some((f) => f.endsWith('.partial'))) break;
    if (exitedEarly) assert.fail(`${args[0]} ended before writing anything: ${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      assert.fail(`${args[0]}: no .partial file appeared within a minute`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(!exitedEarly, `${args[0]} finished before it could be interrupted; make its input larger`);
  child.kill(signal);
  const result = await ended;
  return { ...result, stderr: stderr.trim() };
}

const SIGNAL_EXIT_CODES: [NodeJS.Signals, number][] = [
  ['SIGTERM', 143],
  ['SIGHUP', 129],
  ['SIGINT', 130],
];

for (const [signal, exitCode] of SIGNAL_EXIT_CODES) {
  test(`${signal} during convert and classify removes the .partial output and exits ${exitCode}`, async () => {
    const { root, smallModel, spectra } = await hostile();
    const runs: [string, string[]][] = [
      // One row per batch, into gzip: slow enough to be caught mid-run.
      ['convert', ['convert', spectra, '--batch-size', '1']],
      ['classify', ['classify', spectra, '--model', smallModel, '--batch-size', '1', '--workers', '1', '--threads', '1']],
    ];
    for (const [name, args] of runs) {
      const out = join(root, `out-${name}-${signal}`);
      await mkdir(out);
      const output = join(out, name === 'convert' ? 'spectra.csv.gz' : 'predictions.csv');
      const { code, signal: killedBy, stderr } = await interrupt([...args, '-o', output], out, signal);
      assert.equal(killedBy, null, `${name}: killed by ${killedBy} instead of handling it`);
      assert.equal(code, exitCode, `${name}: ${stderr}`);
      assertOneClearMessage(stderr, new RegExp(`interrupted by ${signal}`));
      assert.deepEqual(await readdir(out), [], `${name} left files behind after ${signal}`);
    }
  });
}

/** The model with 4 bytes in the middle of its largest weight tensor set to a NaN. */
async function damagedModel(path: string, out: string): Promise<void> {
  const bytes = Buffer.from(await readFile(path));
  const largest = decodeModel(bytes).graph.initializer.reduce((a, b) => (b.raw_data.length > a.raw_data.length ? b : a));
  const at = bytes.indexOf(Buffer.from(largest.raw_data.subarray(0, 64)));
  assert.ok(at > 0, 'weights not found in the model file');
  bytes.writeUInt32LE(0x7fc00000, at + 4 * Math.floor(largest.raw_data.length / 8));
  await writeFile(out, bytes);
}

test('a model with 4 damaged bytes is refused at session start, before anything is written', async () => {
  const { root, smallModel, spectra } = await hostile();
  const damaged = join(root, 'damaged.onnx');
  await damagedModel(smallModel, damaged);
  const out = join(root, 'out-damaged');
  await mkdir(out);
  const { code, stderr } = astrospec('classify', spectra, '--model', damaged, '-o', join(out, 'p.csv'), '--limit', '100');
  assert.notEqual(code, 0);
  assertOneClearMessage(stderr, /damaged\.onnx: .*weights are damaged/);
  assert.deepEqual(await readdir(out), []);
});

test('evaluate refuses predictions cut short, incomplete or out of order; repeated ids are a warning', async () => {
  const work = join(dir, 'evaluate');
  await mkdir(work);
  const truth = join(work, 'truth.csv');
  await writeFile(truth, 'id,label\na,star\nb,galaxy\nc,qso\nd,star\n');
  const header = 'row,id,predicted,p_star,p_galaxy,p_qso,status\n';
  const line = (row: number, id: string) => `${row},${id},star,0.900000,0.050000,0.050000,ok\n`;
  const full = header + line(0, 'a') + line(1, 'b') + line(2, 'c') + line(3, 'd');
  const write = async (name: string, text: string) => {
    const path = join(work, name);
    await writeFile(path, text);
    return path;
  };
  const ok = astrospec('evaluate', await write('full.csv', full), '--truth', truth);
  assert.equal(ok.code, 0, ok.stderr);
  const cases: [string, string, RegExp][] = [
    ['cut.csv', full.slice(0, -12), /cut\.csv, row 4: the last line has no line end/],
    ['short.csv', header + line(0, 'a') + line(1, 'b'), /short\.csv: covers rows 0–1 but .*truth\.csv has rows 0–3/],
    ['order.csv', header + line(0, 'a') + line(2, 'c') + line(1, 'b') + line(3, 'd'), /order\.csv, row 2, column row: line 2 is input row 2, expected row 1/],
  ];
  for (const [name, text, pattern] of cases) {
    const { code, stderr } = astrospec('evaluate', await write(name, text), '--truth', truth);
    assert.equal(code, 1, stderr);
    assertOneClearMessage(stderr, pattern);
  }
  // A part of the truth on purpose (one shard, --limit): scored when said so.
  const part = astrospec('evaluate', join(work, 'short.csv'), '--truth', truth, '--partial');
  assert.equal(part.code, 0, part.stderr);
  const repeated = join(work, 'repeated-truth.csv');
  await writeFile(repeated, 'id,label\na,star\nb,galaxy\na,qso\nd,star\n');
  const dup = astrospec('evaluate', await write('dup.csv', header + line(0, 'a') + line(1, 'b') + line(2, 'a') + line(3, 'd')), '--truth', repeated);
  assert.equal(dup.code, 0, dup.stderr);
  assertOneClearMessage(dup.stderr, /warning: .*repeated-truth\.csv: id "a" is in rows 0 and 2; 1 row repeats an earlier id/);
});
