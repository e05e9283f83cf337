import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthHandler } from '../src/cli/commands/synth.js';
import { classifyFile } from '../src/infer/classify.js';
import { readPredictions } from '../src/infer/predictions.js';
import { DEFAULT_INT8_MODEL, DEFAULT_MODEL, modelArg } from '../src/cli/shipped-models.js';

const bin = fileURLToPath(new URL('../bin/astrospec.js', import.meta.url));

test('both shipped models are in the package', () => {
  assert.ok(existsSync(DEFAULT_MODEL), DEFAULT_MODEL);
  assert.ok(existsSync(DEFAULT_INT8_MODEL), DEFAULT_INT8_MODEL);
});

test('--model names the shipped models, unless a file or folder of that name is here', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'astrospec-models-'));
  const cwd = process.cwd();
  t.after(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  });
  process.chdir(dir);
  assert.equal(modelArg('default'), DEFAULT_MODEL);
  assert.equal(modelArg('default-int8'), DEFAULT_INT8_MODEL);
  assert.equal(modelArg('model.onnx'), 'model.onnx');
  assert.equal(modelArg('Default'), 'Default');
  writeFileSync(join(dir, 'default'), 'mine');
  assert.equal(modelArg('default'), 'default');
});

test('astrospec classify -m default-int8 runs the shipped int8 model from any directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'astrospec-models-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, 'spectra.arrow');
  await synthHandler({ n: 60, seed: 9, output: data, quiet: true });
  const run = spawnSync(process.execPath, [bin, 'classify', data, '-m', 'default-int8', '-o', 'cli.csv', '--quiet'], { cwd: dir, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  await classifyFile(data, { model: DEFAULT_INT8_MODEL, output: join(dir, 'api.csv') });
  const [cli, api] = await Promise.all([readPredictions(join(dir, 'cli.csv')), readPredictions(join(dir, 'api.csv'))]);
  assert.equal(cli.ids.length, 60);
  assert.deepEqual(cli.predicted, api.predicted);
  assert.deepEqual(cli.probabilities, api.probabilities);
});
