/**
 * The addon's predictions CSV lines and output checks with redshift decoding
 * (native/kernels/predictions.cpp) against their TypeScript twins (src/infer/prediction-lines.ts,
 * src/infer/redshift.ts): the same bytes, the same statuses and numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CsvBytes } from '../src/infer/csv-bytes.js';
import { appendPredictionLines, appendPredictionLinesTs, checkedRows, checkedRowsTs } from '../src/infer/prediction-lines.js';
import type { PredictionRows } from '../src/infer/predictions.js';
import type { PredictionColumns } from '../src/infer/predictions-csv.js';
import { DEFAULT_REDSHIFT_HEAD } from '../src/infer/redshift.js';
import { native } from '../src/native/binding.js';

function random(seed: number): () => number {
  let s = seed * 7919 + 1; // small seeds would start with a run of tiny values
  return () => (s = (s * 48271) % 2147483647) / 2147483647;
}

/** Values that test toFixed's edges: ties, signs, the exact-product range's end, huge and non-finite. */
function edgyValue(r: () => number): number {
  const pick = r();
  if (pick < 0.5) return r();
  if (pick < 0.6) return [0, -0, 1, 0.5, 1 / 128, -1 / 64, 5e-7, -1e-6, -5e-6, 0.9999995, 999999.94, 1e6, 16777215.5, 16777216, 123456789, 1e20, 1e21, 3e38, -3e38][Math.floor(r() * 19)]!;
  if (pick < 0.65) return [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][Math.floor(r() * 3)]!;
  if (pick < 0.8) return Math.floor(r() * 4096) / 2 ** Math.floor(r() * 16); // dyadic: exact ties
  return (r() - 0.3) * 2 ** (Math.floor(r() * 90) - 40);
}

function randomRows(seed: number, n: number, firstRow: number): PredictionRows {
  const r = random(seed);
  const statuses = ['ok', 'ok', 'ok', 'ood', 'no_valid_pixels', 'non_finite_output', 'odd, "quoted"\nstatus'];
  const ids = Array.from({ length: n }, (_, i) => {
    const kind = r();
    if (kind < 0.6) return `spec-${seed}-${i}`;
    if (kind < 0.7) return `a,b "${i}"`;
    if (kind < 0.8) return `line\r\nend ${i}`;
    if (kind < 0.9) return `spéc-ü-${i}-✓`;
    if (kind < 0.95) return `lone \ud800 surrogate ${i}`;
    return '';
  });
  const f32 = (k: number) => Float32Array.from({ length: k }, () => edgyValue(r));
  return {
    firstRow,
    ids,
    status: Array.from({ length: n }, () => statuses[Math.floor(r() * statuses.length)]!),
    probabilities: f32(3 * n),
    oodScore: f32(n),
    z: f32(n),
    zErr: f32(n),
  };
}

test('predictions CSV lines: the addon writes the same bytes as the TypeScript writer', () => {
  assert.ok(native().predictionLinesSync, 'this build of the addon has predictionLinesSync');
  const columnSets: PredictionColumns[] = [{}, { oodScore: true }, { redshift: true }, { oodScore: true, redshift: true }];
  let lines = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const n = seed === 1 ? 0 : (seed * 37) % 301;
    const rows = randomRows(seed, n, seed === 2 ? 2 ** 53 - 1 - n : seed * 1000);
    for (const columns of columnSets) {
      // A small buffer, so the native side asks for room and is called again.
      const fast = new CsvBytes(16);
      const reference = new CsvBytes(16);
      fast.uint(7); // lines are appended after what is there
      reference.uint(7);
      appendPredictionLines(fast, rows, n, columns);
      appendPredictionLinesTs(reference, rows, n, columns);
      const got = fast.take().toString('utf8');
      const want = reference.take().toString('utf8');
      lines += want.split('\n').length - 1;
      if (got !== want) {
        const a = got.split('\n');
        const b = want.split('\n');
        const k = b.findIndex((line, i) => a[i] !== line);
        assert.fail(`seed ${seed}, columns ${JSON.stringify(columns)}, line ${k}: got ${JSON.stringify(a[k])}, want ${JSON.stringify(b[k])}`);
      }
    }
  }
  assert.ok(lines > 20_000, `${lines} lines compared`);
});

test('predictions CSV lines: the addon checks its arguments', () => {
  const lines = native().predictionLinesSync!;
  const out = new Uint8Array(1 << 12);
  const p = new Float32Array(6);
  assert.throws(() => lines(0, ['a', 'b'], ['ok'], p, null, null, null, out, 0), /status must hold a value per row/);
  assert.throws(() => lines(0, ['a', 7 as unknown as string], ['ok', 'ok'], p, null, null, null, out, 0), /ids must be an array of strings/);
  assert.throws(() => lines(0, ['a', 'b'], ['ok', 'ok'], new Float32Array(5), null, null, null, out, 0), /3 values per row/);
  assert.throws(() => lines(0, ['a'], ['ok'], p, null, new Float32Array(1), null, out, 0), /z and zErr come together/);
  assert.throws(() => lines(-1, ['a'], ['ok'], p, null, null, null, out, 0), /firstRow/);
  assert.throws(() => lines(0, ['a'], ['ok'], p, null, null, null, out, out.length + 1), /at must be/);
  // Too little room: the bytes it may need, negated, and nothing written.
  const small = new Uint8Array(8).fill(0x78);
  const asked = lines(0, ['a'], ['ok'], p, null, null, null, small, 0);
  assert.ok(asked < -8, `asked for ${-asked} bytes`);
  assert.deepEqual([...small], new Array(8).fill(0x78));
});

test('checked rows: the addon sets the same statuses, probabilities, z and z_err as the TypeScript checks', () => {
  assert.ok(native().checkOutputsSync, 'this build of the addon has checkOutputsSync');
  const head = DEFAULT_REDSHIFT_HEAD;
  const r = random(99);
  const rows = 600;
  const B = rows + 5; // outputs hold a whole inference batch; only the first `rows` are this batch's
  const bins = new Float32Array(B * head.bins);
  for (let i = 0; i < B; i++) {
    const kind = i % 5;
    for (let k = 0; k < head.bins; k++) {
      const at = i * head.bins + k;
      // Smooth peaks, two peaks, flat, a peak at either end, all zeros (no mass: NaN).
      if (kind === 0) bins[at] = Math.exp(-0.5 * ((k - r() * head.bins) / 2) ** 2) + 1e-4 * r();
      else if (kind === 1) bins[at] = r() ** 8;
      else if (kind === 2) bins[at] = 1 / head.bins;
      else if (kind === 3) bins[at] = k === (i % 2 ? 0 : head.bins - 1) ? 0.9 : 0.1 / head.bins;
      else bins[at] = i % 10 === 4 ? 0 : r();
    }
  }
  // Probabilities with NaN and ±Inf now and then; OOD scores around the threshold, NaN and Inf.
  const probabilities = Float32Array.from({ length: 3 * B }, () => (r() < 0.01 ? [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][Math.floor(3 * r())]! : r()));
  const scores = Float32Array.from({ length: B }, () => (r() < 0.02 ? [Number.NaN, Number.POSITIVE_INFINITY][Math.floor(2 * r())]! : 2 * r()));
  const statuses = () => Array.from({ length: rows }, (_, i) => (i % 7 === 3 ? 'no_valid_pixels' : i % 13 === 5 ? 'non_finite_features' : 'ok'));
  const outputs = { probabilities, ood_score: scores, z_probabilities: bins };
  let compared = 0;
  for (const columns of [[0, 1, 2], [2, 0, 1], [1, 2, 0]]) {
    for (const model of [
      { columns, oodThreshold: undefined, redshiftHead: undefined, model: 'm.onnx' },
      { columns, oodThreshold: 1, redshiftHead: undefined, model: 'm.onnx' },
      { columns, oodThreshold: 1.2, redshiftHead: head, model: 'm.onnx' },
      { columns, oodThreshold: undefined, redshiftHead: head, model: 'm.onnx' },
    ]) {
      const got = checkedRows({ firstRow: 3, ids: [], status: statuses(), rows }, outputs, model);
      const want = checkedRowsTs({ firstRow: 3, ids: [], status: statuses(), rows }, outputs, model);
      const where = `columns ${columns}, threshold ${model.oodThreshold}, redshift ${model.redshiftHead !== undefined}`;
      assert.deepEqual(got.status, want.status, where);
      assert.deepEqual(got.probabilities, want.probabilities, where);
      assert.deepEqual(got.oodScore, want.oodScore, where);
      assert.equal(got.z === undefined, want.z === undefined, where);
      if (!want.z) continue;
      for (let i = 0; i < rows; i++) {
        for (const [name, a, b] of [['z', got.z![i]!, want.z[i]!], ['z_err', got.zErr![i]!, want.zErr![i]!]] as const) {
          if (Number.isNaN(b)) {
            assert.ok(Number.isNaN(a), `${where}, row ${i} ${name}: got ${a}, want NaN`);
            continue;
          }
          // The same double arithmetic in the same order; log1p, expm1 and exp of two libms may differ in a last bit.
          assert.ok(Math.abs(a - b) <= Math.abs(b) * 2 ** -22, `${where}, row ${i} ${name}: got ${a}, want ${b}`);
          compared++;
        }
      }
      const counts = new Map<string, number>();
      for (const s of want.status) counts.set(s, (counts.get(s) ?? 0) + 1);
      // Every status occurs, so each path of the checks was taken.
      const expected = ['ok', 'no_valid_pixels', 'non_finite_features', 'non_finite_output', ...(model.oodThreshold !== undefined ? ['ood'] : [])];
      for (const s of expected) assert.ok((counts.get(s) ?? 0) > 0, `${where}: no row is ${s}`);
    }
  }
  assert.ok(compared > 1000, `${compared} redshifts compared`);
});

test('checked rows: a model whose spec promises outputs its graph lacks is refused, naming the file', () => {
  const job = () => ({ firstRow: 0, ids: ['a'], status: ['ok'], rows: 1 });
  const outputs = { probabilities: new Float32Array(3) };
  assert.throws(() => checkedRows(job(), outputs, { columns: [0, 1, 2], oodThreshold: 1, redshiftHead: undefined, model: 'm.onnx' }), /no 'ood_score' output/);
  assert.throws(() => checkedRows(job(), outputs, { columns: [0, 1, 2], oodThreshold: undefined, redshiftHead: DEFAULT_REDSHIFT_HEAD, model: 'm.onnx' }), /redshift head/);
});
