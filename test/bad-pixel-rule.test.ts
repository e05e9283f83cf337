/**
 * One bad-pixel rule end to end (src/io/batch.ts: networkInput): the same spectra read from
 * FITS, from a CSV and from an Arrow file written from them, and from a third party's Feather,
 * reach the network as the same input; so do synthetic spectra, whose writers drop the
 * simulator's flags the same way.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { convertHandler } from '../src/cli/commands/convert.js';
import { concatBatches, networkInput, type SpectrumBatch } from '../src/io/batch.js';
import { openSpectra } from '../src/io/open.js';
import { createSpectraSink } from '../src/io/sink.js';
import { preprocess } from '../src/preprocess/index.js';
import { generateSurvey } from '../src/synth/survey.js';

const shared = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'astrospec-bad-pixel-rule-'));
after(() => rmSync(dir, { recursive: true, force: true }));
/** The shipped model's preprocessing. */
const MODEL_INPUT = { normalisation: 'l2' as const, bin: 4, features: false };

async function readAll(path: string): Promise<SpectrumBatch> {
  const source = await openSpectra(path);
  const batches: SpectrumBatch[] = [];
  try {
    for await (const b of source.batches()) batches.push(b);
  } finally {
    await source.close();
  }
  const out = concatBatches(batches);
  if (batches.every((b) => b.badPixels)) out.badPixels = new Uint8Array(batches.flatMap((b) => Array.from(b.badPixels!)));
  return out;
}

async function modelInput(batch: SpectrumBatch): Promise<Float32Array> {
  return (await preprocess(networkInput(batch), MODEL_INPUT)).flux;
}

function assertSameInput(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  assert.ok(worst <= 1e-6, `${what}: largest difference ${worst}`);
}

test('LAMOST and SDSS FITS, and the CSV and Arrow files converted from them, give the same model input', async (t) => {
  const folders = [join(shared, 'lamost', 'dr1'), join(shared, 'lamost', 'dr10'), join(shared, 'boss', 'spectra')];
  if (!folders.every(existsSync)) {
    t.skip(`needs ../shared/data (absent: ${folders.filter((f) => !existsSync(f)).join(', ')})`);
    return;
  }
  // 20 files of each kind in one mixed folder.
  const mixed = join(dir, 'fits');
  for (const folder of folders) {
    for (const name of readdirSync(folder).filter((n) => /\.fits(\.gz)?$/.test(n)).sort().slice(0, 20)) cpSync(join(folder, name), join(mixed, name), { recursive: true });
  }
  const fits = await readAll(mixed);
  assert.equal(fits.ids.length, 60);
  // The FITS reader flags masked (bridged) and missing pixels; the rule must not depend on them.
  const flagged = fits.badPixels!.reduce((n, v) => n + v, 0);
  assert.ok(flagged > 1000, `flagged pixels ${flagged}`);
  const withFlags = (await preprocess(fits, MODEL_INPUT)).flux;
  const fromFits = await modelInput(fits);
  assert.ok(withFlags.some((v, i) => Math.abs(v - fromFits[i]!) > 1e-4), 'using the flags would change the input (so this test can tell)');

  for (const output of ['spectra.csv', 'spectra.arrow', 'spectra.csv.gz']) {
    const path = join(dir, output);
    await convertHandler({ inputs: [mixed], output: path, quiet: true });
    const back = await readAll(path);
    assert.deepEqual(back.ids, fits.ids);
    assert.equal(back.badPixels, undefined, `${output} carries no flags`);
    assertSameInput(await modelInput(back), fromFits, `FITS vs ${output}`);
  }
});

test("a third party's Feather and CSV of the same stars give the model the same input", async (t) => {
  const feather = join(shared, 'peer-files', 'lamost-stars-200.lz4.feather');
  const csv = join(shared, 'peer-files', 'lamost-stars-200.csv');
  if (!existsSync(feather) || !existsSync(csv)) {
    t.skip('needs ../shared/data/peer-files');
    return;
  }
  assertSameInput(await modelInput(await readAll(feather)), await modelInput(await readAll(csv)), 'pandas Feather vs pandas CSV');
});

test('synthetic spectra reach the network the same in memory and after an Arrow or CSV round trip', async () => {
  const [batch] = [...generateSurvey({ n: 300, seed: 4, batchSize: 300, generator: 'mixed' })];
  assert.ok(batch!.badPixels!.some((v) => v !== 0), 'the simulator flags pixels');
  const inMemory = await modelInput(batch!);
  for (const output of ['synth.arrow', 'synth.csv']) {
    const path = join(dir, output);
    const sink = await createSpectraSink(path, { grid: batch!.grid, hasLabels: true });
    await sink.write(batch!);
    await sink.close();
    assertSameInput(await modelInput(await readAll(path)), inMemory, `in memory vs ${output}`);
  }
});
