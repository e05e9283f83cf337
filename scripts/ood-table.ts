/**
 * Measures a model's out-of-distribution flag for docs/model-card.md: the share of spectra with
 * status `ood` in each family of scripts/ood-families.ts (written to a temporary folder), in
 * synthetic validation-like spectra of another seed, and on the real LAMOST and BOSS spectra in
 * ../shared/data, through `classifyFile` exactly as `astrospec classify` runs it. Prints a
 * Markdown table and, last, one JSON object.
 *
 *   node --import tsx scripts/ood-table.ts [model.onnx] [spectra per family]
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readOnnxModelSpec } from '../src/export/onnx.js';
import { classifyFile } from '../src/infer/classify.js';
import { readPredictions } from '../src/infer/predictions.js';
import { createSpectraSink } from '../src/io/sink.js';
import { CLASS_NAMES, type WavelengthGrid } from '../src/io/batch.js';
import { generateSurvey } from '../src/synth/survey.js';
import { OOD_FAMILIES, oodFamily } from './ood-families.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const model = process.argv[2] ?? join(root, 'models/default.onnx');
const perFamily = Number(process.argv[3] ?? 1000);
const data = join(root, '../shared/data');

interface Row {
  set: string;
  kind: 'synthetic OOD' | 'synthetic in-distribution' | 'real';
  rows: number;
  flagged: number;
  /** Rows that were not classified at all (no valid pixels, ...). */
  unclassified: number;
  /** Median ood_score of the classified rows. */
  medianScore: number;
}

function median(values: number[]): number {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor(s.length / 2)]!;
}

async function measure(set: string, kind: Row['kind'], input: string | string[], work: string, labels?: string): Promise<Row[]> {
  const output = join(work, `${set.replace(/[^a-z0-9]+/gi, '-')}.csv`);
  const result = await classifyFile(input, { model, output, labels });
  const p = await readPredictions(output);
  const summarise = (name: string, keep: (i: number) => boolean): Row => {
    let rows = 0, flagged = 0, unclassified = 0;
    const scores: number[] = [];
    p.status.forEach((status, i) => {
      if (!keep(i)) return;
      rows++;
      if (status === 'ood') flagged++;
      else if (status !== 'ok') unclassified++;
      if (p.oodScore) scores.push(p.oodScore[i]!);
    });
    return { set: name, kind, rows, flagged, unclassified, medianScore: median(scores) };
  };
  if (!labels || !result.truth) return [summarise(set, () => true)];
  // One line per true class (the labels file's).
  const plural: Record<string, string> = { star: 'stars', galaxy: 'galaxies', qso: 'QSOs' };
  return CLASS_NAMES.map((name, k) => summarise(`${set} ${plural[name] ?? name}`, (i) => result.truth!.labels[i] === k));
}

const spec = await readOnnxModelSpec(model);
if (!spec.ood) throw new Error(`${model} has no OOD score: add one with astrospec ood`);
const grid: WavelengthGrid = spec.grid;
const work = await mkdtemp(join(tmpdir(), 'astrospec-ood-table-'));
const results: Row[] = [];
try {
  for (const family of OOD_FAMILIES) {
    const path = join(work, `${family}.arrow`);
    const sink = await createSpectraSink(path, { grid, hasLabels: false });
    await sink.write(oodFamily(family, perFamily, 7, grid));
    await sink.close();
    results.push(...(await measure(family, 'synthetic OOD', path, work)));
  }
  // In-distribution spectra the statistics were not fitted on (another seed, same generator).
  const synthetic = join(work, 'synthetic.arrow');
  const sink = await createSpectraSink(synthetic, { grid, hasLabels: true });
  for (const b of generateSurvey({ n: 5000, seed: 5, grid, generator: 'mixed', templates: 'train', mix: [0.5, 0.25, 0.25], snrRange: [1, 100] })) await sink.write(b);
  await sink.close();
  results.push(...(await measure('synthetic (seed 5, S/N 1–100)', 'synthetic in-distribution', synthetic, work)));
  const lamost = join(data, 'lamost');
  if (existsSync(lamost)) results.push(...(await measure('LAMOST stars (dr1 + dr10)', 'real', [join(lamost, 'dr1'), join(lamost, 'dr10')], work)));
  const boss = join(data, 'boss');
  if (existsSync(boss)) results.push(...(await measure('BOSS', 'real', join(boss, 'spectra'), work, join(boss, 'labels.csv'))));
} finally {
  await rm(work, { recursive: true, force: true });
}

const pct = (r: Row) => {
  if (r.rows === 0) return '–';
  const share = (100 * r.flagged) / r.rows;
  return `${share > 0 && share < 1 ? share.toFixed(2) : share.toFixed(1)} %`;
};
console.log(`OOD flag of ${model}: threshold ${spec.ood.threshold.toFixed(3)} (the ${(100 * spec.ood.quantile).toFixed(2)} % quantile of ${spec.ood.rows} validation spectra), layers ${spec.ood.layers.map((l) => l.name).join(' + ')}\n`);
console.log('| spectra | kind | rows | flagged ood | share | median ood_score |');
console.log('|---|---|---:|---:|---:|---:|');
for (const r of results) console.log(`| ${r.set} | ${r.kind} | ${r.rows} | ${r.flagged} | ${pct(r)} | ${r.medianScore.toFixed(3)} |`);
console.log(JSON.stringify({ model, threshold: spec.ood.threshold, quantile: spec.ood.quantile, layers: spec.ood.layers.map((l) => l.name), perFamily, results }));
