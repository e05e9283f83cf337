import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPredictionWriter } from '../src/infer/predictions.js';
import { CsvBytes } from '../src/infer/csv-bytes.js';
import { DuplicateIdTracker, findDuplicateIds } from '../src/io/duplicate-ids.js';

test('CsvBytes writes float32 values exactly as toFixed does (ties and signs included), integers and quoted cells', () => {
  const f32 = new Float32Array(1);
  let seed = 1;
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  // Ties of toFixed(6) (1/128 · 10^6 = 7812.5), −0, negatives that round to zero, the fast path's edge.
  const values = [0, -0, 1, 0.5, 1 / 128, -1 / 64, 5e-7, -1e-6, -5e-6, 0.9999995, 999999.94, 1e6, 3e38, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  for (let i = 0; i < 50_000; i++) values.push((random() - 0.2) * 2 ** (Math.floor(random() * 52) - 30));
  for (let k = 0; k < 2000; k++) values.push(k / 1024, k / 128, -k / 64, k / 2 ** 20);
  const out = new CsvBytes(16); // grows as it goes
  const want: string[] = [];
  for (const v of values) {
    f32[0] = v;
    const x = f32[0]!;
    for (const digits of [1, 4, 5, 6, 8]) {
      out.fixed(x, digits);
      out.newline();
      want.push(x.toFixed(digits));
    }
  }
  for (const n of [0, 7, 10, 99, 100, 123456789, 2 ** 53 - 1]) {
    out.uint(n);
    out.newline();
    want.push(String(n));
  }
  for (const s of ['plain', 'a,b', 'say "hi"', 'line\nend', 'ünïcode']) {
    out.cell(s);
    out.newline();
    want.push(/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  }
  const got = out.take().toString('utf8');
  assert.equal(out.length, 0);
  if (got !== `${want.join('\n')}\n`) {
    const lines = got.split('\n');
    const k = want.findIndex((w, i) => lines[i] !== w);
    assert.fail(`line ${k}: got ${JSON.stringify(lines[k])}, want ${JSON.stringify(want[k])}`);
  }
});

test('repeated ids: the first repeat and its earlier row, the count, and the row limit', () => {
  assert.deepEqual(findDuplicateIds(['a', 'b', 'c']), { repeats: 0, checked: 3 });
  assert.deepEqual(findDuplicateIds(['a', 'b', 'c', 'b', 'a', 'b'], 10), { repeats: 3, checked: 6, first: { id: 'b', rows: [11, 13] } });
  const tracker = new DuplicateIdTracker(4);
  tracker.add(['x', 'y'], 0);
  tracker.add(['z', 'x', 'x'], 2); // the fifth row is beyond the limit
  assert.deepEqual(tracker.report, { repeats: 1, checked: 4, first: { id: 'x', rows: [0, 3] } });
});

test('repeated ids across the hash table growing: none among 300 000 look-alike ids, then each repeat found', () => {
  // Ids that differ in one character, in order, in length, or only beyond ASCII.
  const ids: string[] = [];
  for (let i = 0; i < 100_000; i++) ids.push(`spec-${i}`, `${i}-spec`, `spéc-${String(i).split('').reverse().join('')}x`);
  const tracker = new DuplicateIdTracker(Number.POSITIVE_INFINITY);
  for (let at = 0; at < ids.length; at += 1000) tracker.add(ids.slice(at, at + 1000), at);
  assert.deepEqual(tracker.report, { repeats: 0, checked: ids.length });
  tracker.add(['spec-77', 'nothing', '99999-spec', 'spec-77'], ids.length);
  assert.deepEqual(tracker.report, { repeats: 3, checked: ids.length + 4, first: { id: 'spec-77', rows: [3 * 77, ids.length] } });
  assert.deepEqual(findDuplicateIds(['', 'a', '', 'ab', 'ba']), { repeats: 1, checked: 5, first: { id: '', rows: [0, 2] } });
});

test('the CSV writer counts statuses and writes every row, across its buffered flushes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'astrospec-predictions-'));
  try {
    const path = join(dir, 'p.csv');
    const writer = await createPredictionWriter(path);
    const n = 7000; // several flushes of the writer's buffer
    const status = Array.from({ length: n }, (_, i) => (i % 97 === 3 ? 'no_valid_pixels' : 'ok'));
    const probabilities = new Float32Array(3 * n).map((_, k) => ((k % 3) + 1) / 6);
    const ids = Array.from({ length: n }, (_, i) => `s${i}`);
    for (let at = 0; at < n; at += 64) {
      const end = Math.min(n, at + 64);
      await writer.write({ firstRow: at, ids: ids.slice(at, end), probabilities: probabilities.subarray(3 * at, 3 * end), status: status.slice(at, end) });
    }
    await writer.close();
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, n + 1);
    assert.equal(lines[1], '0,s0,qso,0.166667,0.333333,0.500000,ok');
    assert.equal(lines[4], '3,s3,,,,,no_valid_pixels');
    assert.equal(lines[n], `${n - 1},s${n - 1},qso,0.166667,0.333333,0.500000,ok`);
    const bad = status.filter((s) => s !== 'ok').length;
    assert.deepEqual(Object.fromEntries(writer.statusCounts), { ok: n - bad, no_valid_pixels: bad });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
