/**
 * The classification report: everything known about one classify run (its predictions, and
 * when given the labelled spectra, the training log and the model) as one HTML page whose charts
 * are inline SVG. Each section says plainly which input it lacks rather than disappearing.
 */
import { CLASS_NAMES, NO_LABEL } from '../io/batch.js';
import { classificationMetrics, type ClassificationMetrics } from '../metrics/classification.js';
import type { ModelSpec } from '../model/spec.js';
import {
  confidenceSpec,
  confusionSpec,
  epochCurvesSpec,
  f1ByBinSpec,
  predictedCountsSpec,
  renderChart,
  spectrumSpec,
  stepLossSpec,
  type BinScore,
  type EpochPoint,
} from './charts.js';
import { escapeHtml, facts, figure, formatCount, formatNumber, missing, page, section, table, type Cell } from './html.js';
import type { PredictionTable } from '../infer/predictions-csv.js';
import type { TrainingLog } from './training-log.js';

/** The spectra file's side of the report, aligned with the predictions (index = prediction line). */
export interface ReportData {
  file: string;
  /** Rows in the spectra file. */
  rows: number;
  /** True class per prediction line, NO_LABEL where unknown; absent when the file has no labels. */
  truth?: Int8Array;
  /** Signal-to-noise per prediction line, when the file has an `snr` column. */
  snr?: Float32Array;
}

export interface ExampleSpectrum {
  row: number;
  id: string;
  truth: number;
  predicted: number;
  /** p_star, p_galaxy, p_qso */
  probabilities: number[];
  wavelength: ArrayLike<number>;
  flux: ArrayLike<number>;
  badPixels?: ArrayLike<number>;
  /** The fitted Wien curve on the same wavelengths; absent when the fit failed. */
  wien?: ArrayLike<number>;
  wienTemperature?: number;
  snr?: number;
  redshift?: number;
  subclass?: string;
}

export interface ReportInputs {
  predictions: PredictionTable;
  data?: ReportData;
  examples?: ExampleSpectrum[];
  log?: TrainingLog;
  model?: { path: string; spec: ModelSpec };
  generatedAt?: Date;
}

/** Scored rows: classified (status ok) and with a known true class. */
export function scoredLines(predictions: PredictionTable, truth: Int8Array): number[] {
  const lines: number[] = [];
  for (let i = 0; i < predictions.predicted.length; i++) if (predictions.predicted[i]! >= 0 && truth[i]! !== NO_LABEL) lines.push(i);
  return lines;
}

export function reportMetrics(predictions: PredictionTable, truth: Int8Array, lines = scoredLines(predictions, truth)): ClassificationMetrics {
  return classificationMetrics(
    lines.map((i) => truth[i]!),
    lines.map((i) => predictions.predicted[i]!),
    CLASS_NAMES,
  );
}

function significant(x: number): string {
  if (x === 0) return '0';
  return Math.abs(x) >= 100 ? x.toFixed(0) : Number(x.toPrecision(2)).toString();
}

/**
 * Per-class F1 in S/N bins of (about) equal row counts, so each point rests on similar
 * statistics. Classes absent from a bin's truth get no point there (F1 is undefined).
 */
export function scoresBySnr(predictions: PredictionTable, truth: Int8Array, snr: Float32Array, binCount = 5): { scores: BinScore[]; bins: { label: string; rows: number; macroF1: number }[] } {
  const lines = scoredLines(predictions, truth).filter((i) => Number.isFinite(snr[i]!));
  if (lines.length === 0) return { scores: [], bins: [] };
  const sorted = lines.map((i) => snr[i]!).sort((a, b) => a - b);
  const bins = Math.max(1, Math.min(binCount, Math.floor(lines.length / 30)));
  const edges: number[] = [sorted[0]!];
  for (let b = 1; b < bins; b++) {
    const edge = sorted[Math.floor((b * sorted.length) / bins)]!;
    if (edge > edges[edges.length - 1]!) edges.push(edge);
  }
  edges.push(Number.POSITIVE_INFINITY);
  const scores: BinScore[] = [];
  const summary: { label: string; rows: number; macroF1: number }[] = [];
  for (let b = 0; b + 1 < edges.length; b++) {
    const lo = edges[b]!;
    const hi = edges[b + 1]!;
    const inBin = lines.filter((i) => snr[i]! >= lo && snr[i]! < hi);
    if (inBin.length === 0) continue;
    const label = b + 2 === edges.length ? `≥ ${significant(lo)}` : `${significant(lo)}–${significant(hi)}`;
    const m = reportMetrics(predictions, truth, inBin);
    for (const s of m.perClass) if (s.support > 0) scores.push({ bin: label, binIndex: b, class: s.name, f1: s.f1, support: s.support });
    summary.push({ label, rows: inBin.length, macroF1: m.macroF1 });
  }
  return { scores, bins: summary };
}

function classCell(index: number): Cell {
  if (index < 0) return { html: '<span class="missing-label">–</span>' };
  const name = CLASS_NAMES[index]!;
  return { html: `<span class="class class-${name}">${name}</span>` };
}

function perClassTable(m: ClassificationMetrics): string {
  return table(
    ['class', 'precision', 'recall', 'F1', 'support', 'predicted'],
    m.perClass.map((s, c) => [classCell(c), s.precision, s.recall, s.f1, s.support, s.predicted]),
    { className: 'per-class' },
  );
}

function statusCounts(predictions: PredictionTable): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of predictions.status) counts.set(s, (counts.get(s) ?? 0) + 1);
  return counts;
}

async function scoresSection(inputs: ReportInputs): Promise<string> {
  const { predictions, data } = inputs;
  if (!data) return section('scores', 'Scores', missing('No spectra file given (--data): scores need the true classes of the classified rows.'));
  if (!data.truth) return section('scores', 'Scores', missing(`${data.file} has no star/galaxy/qso labels, so there is nothing to score against.`));
  const lines = scoredLines(predictions, data.truth);
  if (lines.length === 0) return section('scores', 'Scores', missing('No row is both classified (status ok) and labelled.'));
  const m = reportMetrics(predictions, data.truth, lines);
  const notClassified = predictions.predicted.reduce((n, p) => n + (p < 0 ? 1 : 0), 0);
  const unlabelled = predictions.predicted.length - lines.length - notClassified;
  const headline = `<div class="headline">
<div><span class="value" id="macro-f1" data-value="${m.macroF1}">${formatNumber(m.macroF1)}</span><span class="label">macro F1</span></div>
<div><span class="value" id="accuracy" data-value="${m.accuracy}">${formatNumber(m.accuracy)}</span><span class="label">accuracy</span></div>
<div><span class="value" id="scored-rows" data-value="${m.total}">${formatCount(m.total)}</span><span class="label">rows scored</span></div>
</div>`;
  const left: string[] = [];
  if (notClassified > 0) left.push(`${formatCount(notClassified)} rows not classified (status ≠ ok)`);
  if (unlabelled > 0) left.push(`${formatCount(unlabelled)} rows without a label`);
  const note = left.length > 0 ? `<p>Left out of the scores: ${escapeHtml(left.join('; '))}.</p>` : '';
  const confusion = figure(await renderChart(confusionSpec(m.confusion, CLASS_NAMES)), 'Rows are the true class, columns the predicted one.', 'chart', { 'data-chart': 'confusion' });
  return section('scores', 'Scores', `${headline}${note}<div class="charts"><div>${perClassTable(m)}</div>${confusion}</div>`);
}

async function predictionsSection(inputs: ReportInputs): Promise<string> {
  const { predictions } = inputs;
  const counts = CLASS_NAMES.map((name, c) => ({ class: name, count: predictions.predicted.reduce((n, p) => n + (p === c ? 1 : 0), 0) }));
  const confidence: { class: string; confidence: number }[] = [];
  for (let i = 0; i < predictions.predicted.length; i++) {
    const p = predictions.predicted[i]!;
    if (p < 0) continue;
    const probs = predictions.probabilities.subarray(3 * i, 3 * i + 3);
    confidence.push({ class: CLASS_NAMES[p]!, confidence: Math.max(probs[0]!, probs[1]!, probs[2]!) });
  }
  const charts = [figure(await renderChart(predictedCountsSpec(counts)), undefined, 'chart', { 'data-chart': 'predicted-counts' })];
  if (confidence.length > 0) charts.push(figure(await renderChart(confidenceSpec(confidence)), 'How sure the model was: the probability of the class it chose.', 'chart', { 'data-chart': 'confidence' }));
  const statuses = [...statusCounts(predictions).entries()].sort((a, b) => b[1] - a[1]);
  const statusTable = table(['status', 'rows'], statuses.map(([s, n]) => [s, n]), { className: 'status' });
  return section('predictions', 'Predictions', `<div class="charts">${charts.join('')}<div><h3>status</h3>${statusTable}</div></div>`);
}

async function snrSection(inputs: ReportInputs): Promise<string> {
  const title = 'Scores against signal-to-noise';
  const { data, predictions } = inputs;
  if (!data) return section('snr', title, missing('No spectra file given (--data): S/N and true classes come from it.'));
  if (!data.truth) return section('snr', title, missing(`${data.file} has no labels to score against.`));
  if (!data.snr) return section('snr', title, missing(`${data.file} has no snr column.`));
  const { scores, bins } = scoresBySnr(predictions, data.truth, data.snr);
  if (bins.length === 0) return section('snr', title, missing('No scored row has a finite S/N.'));
  const chart = figure(await renderChart(f1ByBinSpec('F1 per class against S/N', 'S/N (bins of equal row count)', scores)), 'Each point is the F1 of one class within one S/N bin; a class with no true rows in a bin has no point there.', 'chart', {
    'data-chart': 'f1-by-snr',
  });
  const binTable = table(['S/N', 'rows', 'macro F1'], bins.map((b) => [b.label, b.rows, b.macroF1]), { className: 'snr-bins' });
  return section('snr', title, `<div class="charts">${chart}<div>${binTable}</div></div>`);
}

async function trainingSection(inputs: ReportInputs): Promise<string> {
  const title = 'Training';
  const { log } = inputs;
  if (!log) return section('training', title, missing('No training log given (--log runs/x/train-log.jsonl).'));
  const parts: string[] = [];
  const start = log.start;
  const best = log.epochs.find((e) => e.best && e.epoch === log.end?.bestEpoch) ?? [...log.epochs].reverse().find((e) => e.best);
  const bestEpoch = log.end?.bestEpoch ?? best?.epoch;
  parts.push(
    facts([
      ['log', log.file],
      ['started', start?.time ?? '–'],
      ['backend', start?.backend ?? '–'],
      ['training / validation rows', start ? `${formatCount(start.trainRows)} / ${formatCount(start.valRows)}` : '–'],
      ['epochs run', String(log.epochs.length)],
      ['best epoch', bestEpoch !== undefined ? String(bestEpoch) : '–'],
      ['best validation macro F1', { html: `<span id="best-val-macro-f1">${formatNumber(log.end?.bestValMacroF1 ?? best?.valMacroF1)}</span>` }],
      ['time', log.end ? `${log.end.seconds.toFixed(0)} s${log.end.stoppedEarly ? ' (stopped early)' : ''}` : 'no end record: training still running or interrupted'],
    ]),
  );
  if (log.epochs.length === 0) {
    parts.push(missing('The log has no epoch records yet.'));
    return section('training', title, parts.join('\n'));
  }
  const loss: EpochPoint[] = log.epochs.flatMap((e) => [
    { epoch: e.epoch, series: 'training loss', value: e.loss },
    { epoch: e.epoch, series: 'validation loss', value: e.valLoss },
  ]);
  const scores: EpochPoint[] = log.epochs.flatMap((e) => [
    { epoch: e.epoch, series: 'validation macro F1', value: e.valMacroF1 },
    { epoch: e.epoch, series: 'validation accuracy', value: e.valAccuracy },
    { epoch: e.epoch, series: 'training accuracy', value: e.accuracy },
  ]);
  const charts = [
    figure(await renderChart(epochCurvesSpec('loss per epoch', 'cross-entropy', loss, { bestEpoch, colours: { 'training loss': '#999999', 'validation loss': '#0072B2' } })), undefined, 'chart', { 'data-chart': 'loss' }),
    figure(
      await renderChart(epochCurvesSpec('scores per epoch', 'score', scores, { bestEpoch, unitInterval: true, colours: { 'validation macro F1': '#0072B2', 'validation accuracy': '#56B4E9', 'training accuracy': '#999999' } })),
      undefined,
      'chart',
      { 'data-chart': 'val-macro-f1' },
    ),
  ];
  if (log.steps.length > 1) {
    charts.push(figure(await renderChart(stepLossSpec(log.steps.map((s, k) => ({ x: k + 1, y: s.loss })))), undefined, 'chart', { 'data-chart': 'step-loss' }));
  }
  parts.push(`<div class="charts">${charts.join('')}</div>`);
  const shown = best ?? log.epochs[log.epochs.length - 1]!;
  if (shown.valPerClass?.length) {
    parts.push(`<h3>validation scores at epoch ${shown.epoch}${best ? ' (best)' : ' (last)'}</h3>`);
    parts.push(table(['class', 'precision', 'recall', 'F1', 'support'], shown.valPerClass.map((s) => [{ html: `<span class="class class-${escapeHtml(s.name)}">${escapeHtml(s.name)}</span>` }, s.precision, s.recall, s.f1, s.support]), { className: 'val-per-class' }));
  }
  return section('training', title, parts.join('\n'));
}

function modelSection(inputs: ReportInputs): string {
  const title = 'Model';
  if (!inputs.model) return section('model', title, missing('No model given (--model runs/x or model.onnx).'));
  const { path, spec } = inputs.model;
  const p = spec.preprocess;
  const entries: [string, Cell][] = [
    ['model', path],
    ['classes', spec.classNames.join(', ')],
    ['grid', `${spec.grid.length} pixels, ${spec.grid.start}–${spec.grid.start + spec.grid.step * (spec.grid.length - 1)} Å, step ${spec.grid.step} Å`],
    ['network', `1D ResNet, width ${spec.architecture.width}, input ${spec.architecture.inputLength} pixels, ${spec.architecture.featureCount} side features`],
    ['preprocessing', `normalisation ${p.normalisation}, bin ${p.bin}, smoothing ${p.smoothWindow > 0 ? `Savitzky–Golay window ${p.smoothWindow}` : 'none'}`],
    ['side features', p.features.length > 0 ? p.features.join(', ') : 'none'],
  ];
  for (const [key, value] of Object.entries(spec.training ?? {})) {
    entries.push([`training: ${key}`, typeof value === 'object' ? JSON.stringify(value) : String(value)]);
  }
  return section('model', title, facts(entries));
}

function probabilitiesText(p: number[]): string {
  return CLASS_NAMES.map((name, c) => `p(${name}) ${formatNumber(p[c], 3)}`).join(' · ');
}

async function examplesSection(inputs: ReportInputs): Promise<string> {
  const title = 'Example spectra';
  if (!inputs.data) return section('examples', title, missing('No spectra file given (--data): examples are drawn from it.'));
  const examples = inputs.examples ?? [];
  if (examples.length === 0) return section('examples', title, missing('No classified row to show.'));
  const byTruth = inputs.data.truth !== undefined;
  const intro = `<p>${byTruth ? 'For each true class: a misclassified spectrum when there is one, then correctly classified ones' : 'The spectra file has no labels: the first spectra predicted as each class'}. The dashed curve is the Wien-law fit of the continuum; faint red lines mark bad pixels.</p>`;
  const figures: string[] = [];
  for (const e of examples) {
    const wrong = e.truth >= 0 && e.truth !== e.predicted;
    const heading = `${e.id} (row ${e.row})`;
    const chartSubtitle = `${e.truth >= 0 ? `true ${CLASS_NAMES[e.truth]}, ` : ''}predicted ${CLASS_NAMES[e.predicted]}`;
    const svg = await renderChart(spectrumSpec({ title: heading, subtitle: chartSubtitle, wavelength: e.wavelength, flux: e.flux, wien: e.wien, badPixels: e.badPixels }));
    const details = [
      e.truth >= 0 ? `true <span class="class class-${CLASS_NAMES[e.truth]}">${CLASS_NAMES[e.truth]}</span>` : undefined,
      `predicted <span class="class class-${CLASS_NAMES[e.predicted]}">${CLASS_NAMES[e.predicted]}</span>${wrong ? ' <span class="wrong">(wrong)</span>' : ''}`,
      escapeHtml(probabilitiesText(e.probabilities)),
      e.wienTemperature !== undefined && Number.isFinite(e.wienTemperature) ? `Wien T ≈ ${Math.round(e.wienTemperature)} K` : 'no Wien fit',
      e.snr !== undefined && Number.isFinite(e.snr) ? `S/N ${e.snr.toFixed(1)}` : undefined,
      e.redshift !== undefined && Number.isFinite(e.redshift) ? `z ${e.redshift.toFixed(3)}` : undefined,
      e.subclass ? `subclass ${escapeHtml(e.subclass)}` : undefined,
    ].filter((d) => d !== undefined);
    figures.push(figure(svg, details.join(' · '), 'example-spectrum', { 'data-row': e.row, 'data-class': CLASS_NAMES[byTruth ? e.truth : e.predicted]! }));
  }
  return section('examples', title, intro + figures.join('\n'));
}

/** Renders the whole report as one HTML document. */
export async function buildReport(inputs: ReportInputs): Promise<string> {
  const generated = (inputs.generatedAt ?? new Date()).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const { predictions } = inputs;
  const sources = [
    `predictions <code>${escapeHtml(predictions.file)}</code> (${formatCount(predictions.rows.length)} rows)`,
    inputs.data ? `spectra <code>${escapeHtml(inputs.data.file)}</code> (${formatCount(inputs.data.rows)} rows)` : undefined,
    inputs.log ? `log <code>${escapeHtml(inputs.log.file)}</code>` : undefined,
    inputs.model ? `model <code>${escapeHtml(inputs.model.path)}</code>` : undefined,
  ].filter((s) => s !== undefined);
  const body = [
    await scoresSection(inputs),
    await predictionsSection(inputs),
    await snrSection(inputs),
    await examplesSection(inputs),
    await trainingSection(inputs),
    modelSection(inputs),
  ].join('\n');
  const nav: [string, string][] = [
    ['scores', 'Scores'],
    ['predictions', 'Predictions'],
    ['snr', 'S/N'],
    ['examples', 'Examples'],
    ['training', 'Training'],
    ['model', 'Model'],
  ];
  return page('astrospec classification report', `${sources.join(' · ')} · generated ${escapeHtml(generated)}`, nav, body);
}
