import type { CommandModule } from 'yargs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AstrospecError } from '../../errors.js';
import { classifyFile } from '../../infer/classify.js';
import { evaluatePredictionsAgainstLabels, evaluatePredictionsFile, REDSHIFT_TOLERANCES, scorePredictions, type Evaluation, type RedshiftScore } from '../../infer/evaluate.js';
import { readPredictions } from '../../infer/predictions.js';
import { describeDuplicateIds } from '../../io/duplicate-ids.js';
import { writeFileAtomic } from '../../io/partial-files.js';
import { runInterruptible } from '../interrupt.js';
import { modelArg, SHIPPED_MODELS_HELP } from '../shipped-models.js';
import { formatMetrics } from '../../metrics/classification.js';

export interface EvaluateArgs {
  predictions?: string;
  truth?: string;
  /** Labels CSV joined by id / file name (src/io/labels.ts), instead of --truth or the data's own labels. */
  labels?: string;
  model?: string;
  /** Labelled spectra for --model: a file, several, a folder, a glob or @list.txt. */
  data?: string | string[];
  /** Keep the predictions made with --model here. */
  output?: string;
  /** '' = JSON on stdout (the table then goes to stderr); a path = write the JSON there. */
  json?: string;
  batchSize?: number;
  threads?: number;
  /** The predictions cover a contiguous part of --truth (one shard, --limit): score just those. */
  partial?: boolean;
  quiet?: boolean;
}

export function evaluationJson(e: Evaluation): object {
  const m = e.metrics;
  return {
    predictions: e.predictions,
    truth: e.truth,
    macro_f1: m.macroF1,
    accuracy: m.accuracy,
    ece: e.ece,
    scored: e.scored,
    unclassified: e.unclassified,
    out_of_distribution: e.outOfDistribution,
    unlabelled: e.unlabelled,
    class_names: m.classNames,
    per_class: m.perClass,
    confusion: m.confusion,
    ...(e.redshift ? { redshift: e.redshift.map((r) => ({ class: r.class, rows: r.rows, predicted: r.predicted, within: r.within, median_error: r.medianError })) } : {}),
  };
}

/** Text lines of the redshift scores: per true class, the fraction within each tolerance. */
function formatRedshift(scores: RedshiftScore[]): string {
  const lines = scores
    .filter((s) => s.rows > 0)
    .map((s) => {
      const within = REDSHIFT_TOLERANCES.map((t) => `${(100 * s.within[String(t)]!).toFixed(1)} % < ${t}`).join(', ');
      return `redshift ${s.class}: ${s.rows} with known z, ${s.predicted} given one; |Δz|/(1+z): ${within}; median ${s.medianError.toFixed(4)}\n`;
    });
  return lines.join('');
}

export async function evaluateHandler(args: EvaluateArgs): Promise<Evaluation> {
  let evaluation: Evaluation;
  const dataName = args.data === undefined ? undefined : typeof args.data === 'string' ? args.data : args.data.join(', ');
  if (args.model !== undefined || args.data !== undefined) {
    if (args.model === undefined || args.data === undefined) throw new AstrospecError('BAD_ARGUMENT', 'evaluate --model needs --data (and --data needs --model)');
    if (args.predictions !== undefined || args.truth !== undefined) throw new AstrospecError('BAD_ARGUMENT', 'give either a predictions file with --truth or --labels, or --model with --data');
    const dir = args.output === undefined ? await mkdtemp(join(tmpdir(), 'astrospec-evaluate-')) : undefined;
    const output = args.output ?? join(dir!, 'predictions.csv');
    try {
      // Stopped by a signal like classify is (src/cli/interrupt.ts): onnxruntime threads finish their run.
      const result = await runInterruptible(
        (signal) => classifyFile(args.data!, { model: args.model!, output, batchSize: args.batchSize, intraOpThreads: args.threads, keepLabels: true, labels: args.labels, signal }),
        { cooperative: true },
      );
      if (!result.truth) throw new AstrospecError('BAD_INPUT', 'has no labels to evaluate against', { file: dataName });
      evaluation = scorePredictions(await readPredictions(output), { file: args.labels ?? dataName!, ...result.truth });
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  } else {
    if (args.truth !== undefined && args.labels !== undefined) throw new AstrospecError('BAD_ARGUMENT', 'give --truth (matched by row) or --labels (matched by id), not both');
    if (args.predictions === undefined || (args.truth === undefined && args.labels === undefined)) {
      throw new AstrospecError(
        'BAD_ARGUMENT',
        'usage: astrospec evaluate <predictions> --truth <labelled spectra or id,label CSV>, astrospec evaluate <predictions> --labels <file,class CSV>, or astrospec evaluate --model <m.onnx> --data <spectra> [--labels <file,class CSV>]',
      );
    }
    evaluation = args.labels !== undefined ? await evaluatePredictionsAgainstLabels(args.predictions, args.labels) : await evaluatePredictionsFile(args.predictions, args.truth!, { partial: args.partial });
  }
  const duplicates = describeDuplicateIds(args.truth ?? dataName ?? '', evaluation.duplicateIds);
  if (duplicates) process.stderr.write(duplicates);
  const skipped = [
    ...Object.entries(evaluation.unclassified).map(([status, n]) => `${n} ${status}`),
    ...(evaluation.unlabelled > 0 ? [`${evaluation.unlabelled} without a known class`] : []),
  ];
  const flagged = evaluation.outOfDistribution > 0 ? `scored rows flagged ood: ${evaluation.outOfDistribution}\n` : '';
  const table =
    `${formatMetrics(evaluation.metrics)}\nexpected calibration error ${evaluation.ece.toFixed(4)}\n${flagged}` +
    `${evaluation.redshift ? formatRedshift(evaluation.redshift) : ''}${skipped.length > 0 ? `not scored: ${skipped.join(', ')}\n` : ''}`;
  const json = `${JSON.stringify(evaluationJson(evaluation), null, 2)}\n`;
  if (args.json === '') {
    if (!args.quiet) process.stderr.write(table);
    process.stdout.write(json);
  } else {
    if (!args.quiet) process.stdout.write(table);
    if (args.json !== undefined) {
      await writeFileAtomic(args.json, json);
    }
  }
  return evaluation;
}

export const evaluateCommand: CommandModule<object, EvaluateArgs> = {
  command: 'evaluate [predictions]',
  describe: 'Macro F1, per-class precision/recall/F1 and the confusion matrix of predictions against known classes',
  builder: (y) =>
    y
      .positional('predictions', { type: 'string', describe: 'Predictions file written by classify or merge (.csv or .arrow)' })
      .option('truth', { type: 'string', describe: 'Known classes: a labelled spectra file, or a CSV with id and label/answer/class columns (matched by row)' })
      .option('labels', { type: 'string', describe: 'Known classes from a CSV with file (or id) and class (or label) columns, matched by id / file name without .fits; with --model, joined to --data' })
      .option('model', { alias: 'm', type: 'string', coerce: modelArg, describe: `Classify --data with this ONNX model first (${SHIPPED_MODELS_HELP})` })
      .option('data', { type: 'string', array: true, describe: 'Labelled spectra to classify with --model: files, a folder, a glob or @list.txt' })
      .option('output', { alias: 'o', type: 'string', describe: 'With --model: keep the predictions in this file' })
      .option('json', { type: 'string', describe: 'Write the scores as JSON to this file (no file: JSON on stdout, table on stderr)' })
      .option('partial', { type: 'boolean', default: false, describe: 'With --truth: the predictions are one contiguous part of it (a --shard or --limit run); score those rows only' })
      .option('batch-size', { type: 'number', describe: 'With --model: spectra per inference call' })
      .option('threads', { type: 'number', describe: 'With --model: onnxruntime intra-op threads' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No table' }) as never,
  handler: async (args) => {
    await evaluateHandler(args);
  },
};
