import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binnedGrid, FLAGS_COLUMN, preprocessHandler } from '../src/cli/commands/preprocess.js';
import { concatBatches } from '../src/io/batch.js';
import type { SpectrumBatch } from '../src/io/batch.js';
import { openSpectra } from '../src/io/open.js';
import { FEATURE_NAMES, preprocessSync } from '../src/preprocess/index.js';

const peer = fileURLToPath(new URL('../../shared/data/peer-files/', import.meta.url));

async function readAll(path: string): Promise<SpectrumBatch> {
  const source = await openSpectra(path);
  const batches: SpectrumBatch[] = [];
  const extras: Record<string, Float32Array[]> = {};
  try {
    for await (const b of source.batches()) {
      batches.push(b);
      for (const [k, v] of Object.entries(b.extra ?? {})) (extras[k] ??= []).push(v.slice(0, b.ids.length));
    }
  } finally {
    await source.close();
  }
  const all = concatBatches(batches);
  all.extra = Object.fromEntries(Object.entries(extras).map(([k, parts]) => {
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return [k, out];
  }));
  return all;
}

test('preprocess command: a pandas Feather file in, Arrow out with feature columns matching the library', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-preprocess-'));
  try {
    const input = join(peer, 'lamost-stars-200.zstd.feather');
    const output = join(dir, 'out.arrow');
    const result = await preprocessHandler({
      inputs: [input], output, norm: 'median', bin: 2, smooth: 7, features: true, robust: true, batchSize: 64, quiet: true,
    });
    assert.equal(result.rows, 200);
    assert.deepEqual(await readdir(dir), ['out.arrow'], 'no temporary file left behind');

    const original = await readAll(input);
    const written = await readAll(output);
    const expected = preprocessSync(original, { normalisation: 'median', bin: 2, smoothWindow: 7, features: true, robust: true });
    assert.deepEqual(written.grid, binnedGrid(original.grid, 2));
    assert.equal(written.grid.length, 1300);
    assert.deepEqual(written.ids, original.ids);
    assert.deepEqual(written.labels, original.labels);
    assert.deepEqual(written.flux, expected.flux);
    FEATURE_NAMES.forEach((name, k) => {
      const column = written.extra![name]!;
      for (let r = 0; r < 200; r++) assert.ok(Object.is(column[r], expected.features![r * FEATURE_NAMES.length + k]), `${name} row ${r}`);
    });
    assert.deepEqual(Array.from(written.extra![FLAGS_COLUMN]!), Array.from(expected.flags));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('preprocess command: bad options fail before any output exists', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-preprocess-'));
  try {
    const input = join(peer, 'lamost-stars-200.csv');
    const base = { inputs: [input], output: join(dir, 'o.arrow'), norm: 'l2' as const, bin: 1, smooth: 0, features: false, robust: false, quiet: true };
    await assert.rejects(preprocessHandler({ ...base, smooth: 6 }), /--smooth must be 0 or an odd window/);
    await assert.rejects(preprocessHandler({ ...base, bin: 0 }), /--bin must be an integer/);
    await assert.rejects(preprocessHandler({ ...base, output: join(dir, 'o.txt') }), /output must end in/);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
