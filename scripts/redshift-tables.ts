/**
 * Markdown tables of the redshift head's accuracy for docs/model-card.md, from a predictions file
 * with z and z_err and its truth: per true class (galaxy, qso) and per S/N bin, the fraction of
 * spectra whose z is within 0.005, 0.01 and 0.05 (1 + z) of the known one (a spectrum predicted
 * star has no z and counts as a miss), the median |Δz| / (1 + z), and how often the true z lies
 * within 2 z_err. Used by scripts/train-default.sh.
 *
 *   node --import tsx scripts/redshift-tables.ts PREDICTIONS (--truth SPECTRA | --labels LABELS.csv) [--title T]
 */
import { parseArgs } from 'node:util';
import { CLASS_NAMES } from '../src/io/batch.js';
import { readTableTruth } from './table-truth.js';
import { hasPrediction, readPredictions } from '../src/infer/predictions.js';
import { REDSHIFT_TOLERANCES } from '../src/infer/evaluate.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { truth: { type: 'string' }, labels: { type: 'string' }, title: { type: 'string' } } });
const predictions = await readPredictions(positionals[0]!);
if (!predictions.z || !predictions.zErr) {
  process.stderr.write(`${positionals[0]} has no z column (the model has no redshift head): no redshift tables\n`);
  process.exit(0);
}
const n = predictions.ids.length;
const { labels: truth, redshift: trueZ, snr } = await readTableTruth(predictions, values);

interface Row {
  i: number;
  error: number; // |Δz| / (1 + z), Infinity without a predicted z
  covered: boolean; // |Δz| ≤ 2 z_err
}
const rowsOf = (label: number): Row[] =>
  [...Array(n).keys()]
    .filter((i) => truth[i] === label && Number.isFinite(trueZ[i]!) && hasPrediction(predictions.status[i]!))
    .map((i) => {
      const z = predictions.z![i]!;
      const error = Number.isFinite(z) ? Math.abs(z - trueZ[i]!) / (1 + trueZ[i]!) : Infinity;
      return { i, error, covered: Number.isFinite(z) && Math.abs(z - trueZ[i]!) <= 2 * predictions.zErr![i]! };
    });
const pct = (k: number, of: number) => (of > 0 ? `${((100 * k) / of).toFixed(1)} %` : '–');
const line = (label: string, rows: Row[]) => {
  const given = rows.filter((r) => Number.isFinite(r.error));
  const errors = given.map((r) => r.error).sort((a, b) => a - b);
  const median = errors.length > 0 ? errors[Math.floor((errors.length - 1) / 2)]!.toFixed(4) : '–';
  const within = REDSHIFT_TOLERANCES.map((t) => pct(rows.filter((r) => r.error < t).length, rows.length));
  return `| ${label} | ${rows.length} | ${given.length} | ${within.join(' | ')} | ${median} | ${pct(given.filter((r) => r.covered).length, given.length)} |`;
};

const out: string[] = [];
if (values.title) out.push(`### ${values.title}: redshift`, '');
const head = `| ${'%s'} | spectra | with z | ${REDSHIFT_TOLERANCES.map((t) => `< ${t} (1+z)`).join(' | ')} | median \\|Δz\\|/(1+z) | within 2 z_err |`;
const rule = `|${'---|'.repeat(5 + REDSHIFT_TOLERANCES.length)}`;
out.push(head.replace('%s', 'true class'), rule);
for (const name of ['galaxy', 'qso'] as const) out.push(line(name, rowsOf(CLASS_NAMES.indexOf(name))));
const edges = values.labels ? [0, 1, 2, 3, 5, 10, Infinity] : [0, 2, 3, 5, 10, 20, 50, Infinity];
for (const name of ['galaxy', 'qso'] as const) {
  const rows = rowsOf(CLASS_NAMES.indexOf(name));
  if (rows.length === 0) continue;
  out.push('', head.replace('%s', `${name}, S/N`), rule);
  for (let b = 0; b + 1 < edges.length; b++) {
    const subset = rows.filter((r) => snr[r.i]! >= edges[b]! && snr[r.i]! < edges[b + 1]!);
    if (subset.length > 0) out.push(line(`${edges[b]}–${Number.isFinite(edges[b + 1]!) ? edges[b + 1] : '∞'}`, subset));
  }
}
process.stdout.write(`${out.join('\n')}\n`);
