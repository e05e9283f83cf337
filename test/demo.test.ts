import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoHandler } from '../src/cli/commands/demo.js';
import { DEFAULT_MODEL } from '../src/cli/shipped-models.js';

// The shipped model against a fresh synthetic survey (a seed it was not trained on): guards the
// whole chain — synthesis, reading, preprocessing, inference, scoring, report — and the model.
test('npm start: the shipped model classifies a new synthetic survey well and writes a report', async () => {
  assert.ok(existsSync(DEFAULT_MODEL), `missing ${DEFAULT_MODEL}`);
  const out = await mkdtemp(join(tmpdir(), 'astrospec-demo-'));
  const log = process.stdout.write.bind(process.stdout);
  try {
    process.stdout.write = (() => true) as typeof process.stdout.write;
    const result = await demoHandler({ n: 3000, seed: 77, model: DEFAULT_MODEL, out });
    process.stdout.write = log;
    assert.ok(result.macroF1 >= 0.95, `macro F1 ${result.macroF1}`);
    assert.ok(existsSync(result.report));
  } finally {
    process.stdout.write = log;
    await rm(out, { recursive: true, force: true });
  }
});
