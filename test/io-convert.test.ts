import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertHandler } from '../src/cli/commands/convert.js';
import { synthHandler } from '../src/cli/commands/synth.js';
import { buildCli } from '../src/cli/main.js';
import { openSpectra } from '../src/io/open.js';
import { concatBatches, type SpectrumBatch } from '../src/io/batch.js';
import { AstrospecError } from '../src/errors.js';

const data = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const peer = join(data, 'peer-files');
const dir = mkdtempSync(join(tmpdir(), 'astrospec-io-convert-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(path: string): Promise<SpectrumBatch> {
  const source = await openSpectra(path);
  const batches: SpectrumBatch[] = [];
  for await (const b of source.batches()) batches.push(b);
  return concatBatches(batches);
}

test('convert: lz4 Feather → csv.gz → arrow → csv keeps every row bit for bit', async () => {
  const original = await readAll(join(peer, 'lamost-stars-200.lz4.feather'));
  const chain = ['a.csv.gz', 'b.arrow', 'c.csv'].map((f) => join(dir, f));
  let input = join(peer, 'lamost-stars-200.lz4.feather');
  for (const output of chain) {
    const result = await convertHandler({ inputs: [input], output, quiet: true, batchSize: 64 });
    assert.equal(result.rows, 200);
    assert.ok(result.rowsPerSecond > 0 && result.megabytesPerSecond > 0);
    const back = await readAll(output);
    assert.deepEqual(back.ids, original.ids);
    assert.deepEqual(back.labels, original.labels);
    assert.deepEqual(new Uint32Array(back.flux.buffer, back.flux.byteOffset, back.flux.length), new Uint32Array(original.flux.buffer, original.flux.byteOffset, original.flux.length));
    input = output;
  }
});

test('synth → arrow → csv → arrow round-trips bit for bit, extras and tags included', async () => {
  const [arrow, csv, again] = ['synth.arrow', 'synth.csv', 'synth-again.arrow'].map((f) => join(dir, f));
  await synthHandler({ n: 1500, seed: 5, output: arrow, quiet: true });
  await convertHandler({ inputs: [arrow], output: csv, quiet: true });
  await convertHandler({ inputs: [csv], output: again, quiet: true });
  const a = await readAll(arrow);
  const b = await readAll(again);
  assert.equal(b.ids.length, 1500);
  assert.deepEqual(b.ids, a.ids);
  assert.deepEqual(b.labels, a.labels);
  assert.deepEqual(new Uint32Array(b.flux.buffer, b.flux.byteOffset, b.flux.length), new Uint32Array(a.flux.buffer, a.flux.byteOffset, a.flux.length));
  for (const name of ['snr', 'redshift']) {
    assert.equal(a.extra?.[name]?.length, 1500, `${name} missing from the synthetic file`);
    assert.deepEqual(b.extra?.[name], a.extra?.[name], name);
  }
  assert.equal(a.tags?.subclass?.length, 1500);
  assert.deepEqual(b.tags?.subclass, a.tags?.subclass);
});

test('convert: several CSV inputs are concatenated in order', async () => {
  const out = join(dir, 'both.feather');
  await convertHandler({ inputs: [join(peer, 'lamost-stars-200.csv'), join(peer, 'lamost-stars-200.nolabel.csv')], output: out, quiet: true });
  const both = await readAll(out);
  assert.equal(both.ids.length, 400);
  assert.equal(both.labels, undefined, 'one input has no labels, so the output has none');
});

test('convert: a FITS folder converts to Arrow with one row per file', { skip: !existsSync(join(data, 'lamost', 'dr1')) && 'no FITS folder' }, async () => {
  const folder = join(data, 'lamost', 'dr1');
  const files = readdirSync(folder).filter((f) => /\.fits(\.gz)?$/i.test(f)).length;
  const out = join(dir, 'dr1.arrow');
  const result = await convertHandler({ inputs: [folder], output: out, quiet: true });
  assert.equal(result.rows, files);
  const source = await openSpectra(out);
  assert.equal(source.rowCount, files);
  assert.equal(source.grid.length, 2600);
});

test('convert: a bad input leaves no output file, and the CLI parses the command', async () => {
  const bad = join(dir, 'bad.csv');
  writeFileSync(bad, 'id,FE0,FE1\n1,1,2\n2,1\n');
  const out = join(dir, 'bad.arrow');
  await assert.rejects(convertHandler({ inputs: [bad], output: out, quiet: true }), (e: unknown) => e instanceof AstrospecError && e.row === 2);
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('bad.arrow')), []);
  await assert.rejects(convertHandler({ inputs: [bad], output: join(dir, 'x.parquet'), quiet: true }), /output must end in/);
  const cli = await buildCli(['convert', join(peer, 'lamost-stars-200.csv'), '-o', join(dir, 'cli.arrow'), '--quiet']).parseAsync();
  assert.deepEqual(cli.inputs, [join(peer, 'lamost-stars-200.csv')]);
  assert.equal((await openSpectra(join(dir, 'cli.arrow'))).rowCount, 200);
});
