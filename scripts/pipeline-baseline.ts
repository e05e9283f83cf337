/**
 * The model beside the SDSS pipeline on labelled SDSS spectra (docs/model-card.md, "Against the
 * SDSS pipeline"): both scored against the visual classes of a labels CSV that also carries the
 * pipeline's `class_pipeline` and `zwarning` columns (../shared/data/boss/labels.csv), and the
 * model alone on the spectra the pipeline was sure of (zwarning 0). Used by scripts/train-default.sh.
 *
 *   node --import tsx scripts/pipeline-baseline.ts PREDICTIONS --labels LABELS.csv
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CLASS_NAMES, parseLabel } from '../src/io/batch.js';
import { splitCsvLine } from '../src/io/csv-lines.js';
import { labelKey } from '../src/io/labels.js';
import { hasPrediction, readPredictions } from '../src/infer/predictions.js';
import { ConfusionMatrix, type ClassificationMetrics } from '../src/metrics/classification.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { labels: { type: 'string' } } });
if (!positionals[0] || !values.labels) throw new Error('usage: pipeline-baseline.ts PREDICTIONS --labels LABELS.csv');
const file = values.labels;
const lines = (await readFile(file, 'utf8')).split(/\r?\n/).filter((l) => l.length > 0);
const header = splitCsvLine(lines[0]!, { file }).map((h) => h.trim());
const column = (name: string) => {
  const at = header.indexOf(name);
  if (at < 0) throw new Error(`${file}: no "${name}" column`);
  return at;
};
const [key, visual, pipeline, zwarning] = [column('file'), column('class'), column('class_pipeline'), column('zwarning')];
const rows = new Map<string, { visual: number; pipeline: number; zwarning: number }>();
lines.slice(1).forEach((line, i) => {
  const cells = splitCsvLine(line, { file, row: i + 1 });
  rows.set(labelKey(cells[key]!), { visual: parseLabel(cells[visual]!), pipeline: parseLabel(cells[pipeline]!), zwarning: Number(cells[zwarning]) });
});

const predictions = await readPredictions(positionals[0]);
const pipelineScore = new ConfusionMatrix(CLASS_NAMES);
const modelScore = new ConfusionMatrix(CLASS_NAMES);
const modelWhereSure = new ConfusionMatrix(CLASS_NAMES);
predictions.ids.forEach((id, i) => {
  const row = rows.get(labelKey(id));
  if (!row) throw new Error(`${file}: no row for ${id}`);
  if (row.visual < 0) return;
  // A row the model left unclassified counts as a miss: scored as any class but the true one.
  const predicted = hasPrediction(predictions.status[i]!) ? predictions.predicted[i]! : (row.visual + 1) % CLASS_NAMES.length;
  pipelineScore.add(row.visual, row.pipeline);
  modelScore.add(row.visual, predicted);
  if (row.zwarning === 0) modelWhereSure.add(row.visual, predicted);
});

const hits = (m: ClassificationMetrics, k: number) => `${Math.round(m.perClass[k]!.recall * m.perClass[k]!.support)}/${m.perClass[k]!.support}`;
const line = (name: string, m: ClassificationMetrics) =>
  `| ${name} | ${CLASS_NAMES.map((_, k) => hits(m, k)).join(' | ')} | ${m.macroF1.toFixed(4)} | ${Math.round(m.accuracy * m.total)}/${m.total} |`;
const out = [
  `| classifier | ${CLASS_NAMES.join(' | ')} | macro F1 | accuracy |`,
  '|---|---|---|---|---|---|',
  line('SDSS pipeline (`class_pipeline`)', pipelineScore.metrics()),
  line('this model', modelScore.metrics()),
  line('this model, spectra with `zwarning` 0', modelWhereSure.metrics()),
];
process.stdout.write(`${out.join('\n')}\n`);
