import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { AstrospecError } from '../src/errors.js';
import { COMPETITION_GRID, type SpectrumBatch } from '../src/io/batch.js';
import { openFits, readLamostFile } from '../src/io/fits.js';
import { resampleLinear } from '../src/io/resample.js';

const data = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const lamost = join(data, 'lamost');

interface ManifestRow {
  file: string;
  objectId: string;
  cls: string;
  subclass: string;
  z: number;
  snr: number;
}

async function manifest(): Promise<ManifestRow[]> {
  const lines = (await readFile(join(lamost, 'manifest.csv'), 'utf8')).trim().split('\n');
  assert.equal(lines[0], 'file,object_id,cls,subclass,z,snr,ra,dec');
  return lines.slice(1).map((line) => {
    const [file, objectId, cls, subclass, z, snr] = line.split(',');
    return { file: join(data, file!), objectId: objectId!, cls: cls!, subclass: subclass!, z: Number(z), snr: Number(snr) };
  });
}

async function readAll(input: string | string[]): Promise<SpectrumBatch[]> {
  const source = await openFits(input, { batchSize: 128 });
  const out: SpectrumBatch[] = [];
  for await (const batch of source.batches()) out.push(batch);
  await source.close();
  return out;
}

test('all 580 real LAMOST files read, headers match the manifest', async () => {
  const rows = await manifest();
  assert.equal(rows.length, 580);
  const batches = await readAll(rows.map((r) => r.file));
  const n = batches.reduce((s, b) => s + b.ids.length, 0);
  assert.equal(n, 580);
  let i = 0;
  let flaggedPixels = 0;
  for (const b of batches) {
    assert.equal(b.firstRow, i);
    for (let r = 0; r < b.ids.length; r++, i++) {
      const m = rows[i]!;
      assert.equal(b.ids[r], m.objectId, m.file);
      assert.equal(b.labels![r], m.cls === 'STAR' ? 0 : -1);
      assert.equal(b.tags!.subclass![r], m.subclass);
      assert.equal(b.extra!.redshift![r], Math.fround(m.z));
      assert.equal(b.extra!.snr![r], Math.fround(m.snr));
    }
    for (let k = 0; k < b.flux.length; k++) {
      assert.ok(Number.isFinite(b.flux[k]!));
      if (b.badPixels![k]) flaggedPixels++;
    }
  }
  // Some real spectra have masked pixels: the flags must be in use, but only on a small fraction.
  assert.ok(flaggedPixels > 0 && flaggedPixels < 0.05 * 580 * COMPETITION_GRID.length, `flagged ${flaggedPixels}`);
});

test('a folder reads all its .fits / .fits.gz files in name order', async () => {
  const batches = await readAll(join(lamost, 'dr1'));
  const ids = batches.flatMap((b) => b.ids);
  assert.equal(ids.length, 179);
  assert.deepEqual(ids, [...ids].sort());
  assert.ok(ids[0]!.startsWith('spec-') && ids[0]!.endsWith('.fits'));
});

test('DR1 wavelengths come from COEFF0/COEFF1; DR10 WAVELENGTH column agrees with them', async () => {
  const rows = await manifest();
  const dr1 = await readLamostFile(rows.find((r) => r.file.includes('/dr1/'))!.file);
  assert.equal(dr1.wavelength.length, 3904);
  assert.ok(Math.abs(dr1.wavelength[0]! - 10 ** 3.5682) < 1e-9);
  const dr10 = await readLamostFile(rows.find((r) => r.file.includes('/dr10/'))!.file);
  assert.equal(dr10.wavelength.length, 3909);
  assert.ok(Math.abs(dr10.wavelength[0]! - 10 ** 3.5682) < 0.01);
});

/**
 * The peer files hold the first 200 manifest stars, in manifest order (peer id i = manifest row i),
 * resampled by numpy's interp over ivar > 0 pixels with 0 outside. Measured: all 200 × 2600
 * fluxes are bit-identical (0 ulp); the tolerance below allows 1 ulp of float32.
 */
test('resampled fluxes equal the competition-grid peer CSV of the same 200 stars', async () => {
  const rows = (await manifest()).slice(0, 200);
  const batches = await readAll(rows.map((r) => r.file));
  const ours = batches.flatMap((b) => Array.from({ length: b.ids.length }, (_, r) => b.flux.subarray(r * 2600, (r + 1) * 2600)));
  const text = await readFile(join(data, 'peer-files', 'lamost-stars-200.csv'), 'utf8');
  const lines = text.trim().split('\n');
  assert.equal(lines.length, 201);
  let worst = 0;
  let zeros = 0;
  for (let i = 0; i < 200; i++) {
    const cells = lines[i + 1]!.split(',');
    assert.equal(cells[0], String(i));
    const mine = ours[i]!;
    for (let k = 0; k < 2600; k++) {
      const theirs = Math.fround(Number(cells[k + 1]));
      const ulp = Math.max(Math.abs(theirs) * 2 ** -23, 1e-30);
      worst = Math.max(worst, Math.abs(mine[k]! - theirs) / ulp);
      if (theirs === 0) zeros++;
    }
  }
  assert.ok(worst <= 1, `worst difference ${worst} ulp`);
  assert.ok(zeros > 0, 'some peer rows have zeroed pixels outside the good range');
});

test('resampler: bad runs are bridged and flagged, outside the good range is 0 and flagged', () => {
  const wavelength = Float64Array.from({ length: 10 }, (_, i) => 100 + 10 * i);
  const flux = Float64Array.from({ length: 10 }, (_, i) => i);
  const ivar = new Float64Array(10).fill(1);
  ivar[0] = 0;
  ivar[4] = 0;
  ivar[5] = 0;
  const grid = { start: 95, step: 5, length: 21 }; // 95 … 195
  const out = new Float32Array(21);
  const bad = new Uint8Array(21);
  resampleLinear({ wavelength, flux, ivar }, grid, out, bad);
  // 95, 100, 105 lie below the first good pixel (110).
  assert.deepEqual([...out.subarray(0, 3)], [0, 0, 0]);
  assert.deepEqual([...bad.subarray(0, 3)], [1, 1, 1]);
  assert.equal(out[3], 1); // 110 is good pixel 1
  assert.equal(bad[3], 0);
  // Between 130 (good 3) and 160 (good 6) is a bridged gap: value follows the line 3 → 6.
  assert.equal(out[10], 4.5); // 145
  assert.equal(bad[10], 1);
  assert.equal(bad[7], 0); // 130 itself is measured
  assert.equal(out[19], 9); // 190: the last good pixel
  assert.equal(bad[19], 0);
  assert.equal(out[20], 0); // 195: beyond it
  assert.equal(bad[20], 1);
});

test('corrupt input fails with a message naming the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-fits-'));
  try {
    const rows = await manifest();
    const dr10 = rows.find((r) => r.file.includes('/dr10/'))!.file;
    const dr1 = rows.find((r) => r.file.includes('/dr1/'))!.file;
    const expectError = async (file: string, code: string, pattern: RegExp) => {
      await assert.rejects(
        async () => readAll(file),
        (e: unknown) => e instanceof AstrospecError && e.code === code && e.message.includes(file) && pattern.test(e.message),
      );
    };
    // Truncated plain FITS: cut inside the data unit.
    const plain = await readFile(dr1);
    const cut = join(dir, 'cut.fits');
    await writeFile(cut, plain.subarray(0, plain.length - 5000));
    await expectError(cut, 'TRUNCATED', /file ends inside the data of HDU 0 \(PRIMARY\)/);
    // Cut inside the header.
    const head = join(dir, 'head.fits');
    await writeFile(head, plain.subarray(0, 1000));
    await expectError(head, 'TRUNCATED', /header of HDU 0/);
    // Truncated gzip stream.
    const gz = await readFile(dr10);
    const cutGz = join(dir, 'cut.fits.gz');
    await writeFile(cutGz, gz.subarray(0, Math.floor(gz.length / 2)));
    await expectError(cutGz, 'TRUNCATED', /gzip/);
    // Bad gzip: right magic, garbage body.
    const badGz = join(dir, 'bad.fits.gz');
    await writeFile(badGz, Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(100, 7)]));
    await expectError(badGz, 'BAD_INPUT', /bad gzip/);
    // Not a FITS file at all.
    const text = join(dir, 'notes.fits');
    await writeFile(text, 'id,FE0\n1,2\n'.repeat(300));
    await expectError(text, 'BAD_INPUT', /not a FITS file/);
    // Table without IVAR: rename the column in the header.
    const table = Buffer.from(gunzipSync(gz));
    const at = table.indexOf("TTYPE2  = 'IVAR    '");
    assert.ok(at > 0);
    table.write("TTYPE2  = 'SIGMA   '", at, 'latin1');
    const noIvar = join(dir, 'noivar.fits.gz');
    await writeFile(noIvar, gzipSync(table));
    await expectError(noIvar, 'BAD_INPUT', /HDU 1 \(COADD\): missing column IVAR/);
    // In a list, the failing file's position is reported as the row.
    const good = join(dir, 'a.fits');
    await copyFile(dr1, good);
    await assert.rejects(
      async () => readAll([good, noIvar]),
      (e: unknown) => e instanceof AstrospecError && e.row === 2 && e.message.startsWith(`${noIvar}, row 2, column IVAR: `),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
