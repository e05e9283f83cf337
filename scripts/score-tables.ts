/**
 * Markdown tables for docs/model-card.md from a predictions file and its truth: per class, per
 * S/N bin (the truth's `snr` column, or the labels CSV's `sn_median`), the expected calibration
 * error, and the misclassified rows when there are few. Used by scripts/train-default.sh.
 *
 *   node --import tsx scripts/score-tables.ts PREDICTIONS (--truth SPECTRA | --labels LABELS.csv) [--title T]
 */
import { parseArgs } from 'node:util';
import { CLASS_NAMES } from '../src/io/batch.js';
import { hasPrediction, readPredictions } from '../src/infer/predictions.js';
import { expectedCalibrationError } from '../src/metrics/calibration.js';
import { ConfusionMatrix } from '../src/metrics/classification.js';
import { readTableTruth } from './table-truth.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { truth: { type: 'string' }, labels: { type: 'string' }, title: { type: 'string' } } });
const predictions = await readPredictions(positionals[0]!);
const k = CLASS_NAMES.length;
const n = predictions.ids.length;
const { labels: truth, snr, redshift, subclass } = await readTableTruth(predictions, values);

const rows = [...Array(n).keys()].filter((i) => truth[i]! >= 0 && hasPrediction(predictions.status[i]!));
const table = (subset: number[]) => {
  const m = new ConfusionMatrix(CLASS_NAMES);
  for (const i of subset) m.add(truth[i]!, predictions.predicted[i]!);
  return m.metrics();
};
const eceOf = (subset: number[]) =>
  expectedCalibrationError(
    subset.flatMap((i) => Array.from(predictions.probabilities.subarray(i * k, (i + 1) * k))),
    subset.map((i) => truth[i]!),
    k,
  ).ece;

const all = table(rows);
const out: string[] = [];
if (values.title) out.push(`### ${values.title}`, '');
out.push('| class | precision | recall | F1 | support |', '|---|---|---|---|---|');
for (const c of all.perClass) out.push(`| ${c.name} | ${c.precision.toFixed(4)} | ${c.recall.toFixed(4)} (${Math.round(c.recall * c.support)}/${c.support}) | ${c.f1.toFixed(4)} | ${c.support} |`);
out.push('', `Macro F1 **${all.macroF1.toFixed(4)}**, accuracy ${all.accuracy.toFixed(4)}, expected calibration error ${eceOf(rows).toFixed(4)} (15 bins).`, '');
out.push('|  | ' + CLASS_NAMES.join(' | ') + ' |', '|---|---|---|---|');
all.confusion.forEach((r, t) => out.push(`| ${CLASS_NAMES[t]} | ${r.join(' | ')} |`));
const edges = values.labels ? [0, 1, 2, 3, 5, 10, Infinity] : [0, 2, 3, 5, 10, 20, 50, Infinity];
out.push('', '| S/N | spectra | macro F1 | recall star | recall galaxy | recall qso |', '|---|---|---|---|---|---|');
for (let b = 0; b + 1 < edges.length; b++) {
  const subset = rows.filter((i) => snr[i]! >= edges[b]! && snr[i]! < edges[b + 1]!);
  if (subset.length === 0) continue;
  const m = table(subset);
  const recall = m.perClass.map((c) => (c.support > 0 ? `${c.recall.toFixed(3)} (${c.support})` : '–'));
  out.push(`| ${edges[b]}–${edges[b + 1] === Infinity ? '' : edges[b + 1]} | ${subset.length} | ${m.macroF1.toFixed(4)} | ${recall.join(' | ')} |`);
}
const wrong = rows.filter((i) => truth[i] !== predictions.predicted[i]);
if (wrong.length > 0 && wrong.length <= 30) {
  out.push('', 'Misclassified:', '', '| id | true | predicted | p(star, galaxy, qso) | S/N | z | pipeline subclass |', '|---|---|---|---|---|---|---|');
  for (const i of wrong) {
    const p = Array.from(predictions.probabilities.subarray(i * k, (i + 1) * k)).map((v) => v.toFixed(2)).join(', ');
    out.push(`| ${predictions.ids[i]} | ${CLASS_NAMES[truth[i]!]} | ${CLASS_NAMES[predictions.predicted[i]!]} | ${p} | ${snr[i]!.toFixed(2)} | ${Number.isFinite(redshift[i]!) ? redshift[i]!.toFixed(5) : ''} | ${subclass[i]} |`);
  }
}
process.stdout.write(`${out.join('\n')}\n`);
