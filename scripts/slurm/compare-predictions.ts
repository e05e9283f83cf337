/**
 * Checks that a merged predictions file equals a single-process one: same rows in the same
 * order with the same ids, classes and statuses, and probabilities within 1e-5 (the shards run
 * in other processes, where batch composition may change the last float digits).
 *   node --import tsx scripts/slurm/compare-predictions.ts merged.csv single.csv [rows]
 */
import { readPredictions } from '../../src/infer/predictions.js';

const [mergedPath, singlePath, rowsText] = process.argv.slice(2);
if (!mergedPath || !singlePath) {
  process.stderr.write('usage: compare-predictions.ts merged.csv single.csv [rows]\n');
  process.exit(2);
}
const merged = await readPredictions(mergedPath);
const single = await readPredictions(singlePath);
const problems: string[] = [];
const n = single.rows.length;
if (rowsText !== undefined && n !== Number(rowsText)) problems.push(`single-process file has ${n} rows, the input ${rowsText}`);
if (merged.rows.length !== n) problems.push(`merged has ${merged.rows.length} rows, single ${n}`);
let maxDifference = 0;
for (let i = 0; i < Math.min(n, merged.rows.length) && problems.length < 10; i++) {
  const where = `line ${i + 1}`;
  if (merged.rows[i] !== i || single.rows[i] !== i) problems.push(`${where}: rows ${merged.rows[i]} / ${single.rows[i]}, expected ${i}`);
  if (merged.ids[i] !== single.ids[i]) problems.push(`${where}: ids ${merged.ids[i]} / ${single.ids[i]}`);
  if (merged.status[i] !== single.status[i]) problems.push(`${where}: status ${merged.status[i]} / ${single.status[i]}`);
  if (merged.predicted[i] !== single.predicted[i]) problems.push(`${where}: predicted ${merged.predicted[i]} / ${single.predicted[i]}`);
  for (let k = 0; k < 3; k++) {
    const a = merged.probabilities[3 * i + k]!;
    const b = single.probabilities[3 * i + k]!;
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    maxDifference = Math.max(maxDifference, Math.abs(a - b));
  }
}
if (maxDifference > 1e-5) problems.push(`probabilities differ by up to ${maxDifference}`);
const classes = [0, 1, 2].map((c) => merged.predicted.reduce((s, p) => s + (p === c ? 1 : 0), 0));
if (problems.length > 0) {
  process.stderr.write(`compare: FAIL\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write(`compare: merged equals single-process: ${n} rows, predicted star/galaxy/qso ${classes.join('/')}, max |Δp| ${maxDifference.toExponential(2)}\n`);
