import type { CommandModule } from 'yargs';
import { classifyFile, parseShard, type ClassifyResult } from '../../infer/classify.js';
import { scorePredictions } from '../../infer/evaluate.js';
import { readPredictions } from '../../infer/predictions.js';
import { GRAPH_OPTIMIZATIONS, type GraphOptimization } from '../../infer/session-pool.js';
import { describeDuplicateIds } from '../../io/duplicate-ids.js';
import { runInterruptible } from '../interrupt.js';
import { modelArg, SHIPPED_MODELS_HELP } from '../shipped-models.js';
import { createProgress, type Progress } from '../progress.js';

export interface ClassifyArgs {
  input: string[];
  output: string;
  model: string;
  batchSize?: number;
  threads?: number;
  workers?: number;
  graphOptimization?: GraphOptimization;
  limit?: number;
  shard?: string;
  /** Labels CSV joined by file name or id (src/io/labels.ts). */
  labels?: string;
  /** With --shard: keep a complete existing output, redo an incomplete one. */
  resume?: boolean;
  /** Print one JSON object with the run's numbers on stdout. */
  json?: boolean;
  quiet?: boolean;
}

/** The run's numbers as classify --json prints them. */
export function classifyJson(result: ClassifyResult): Record<string, unknown> {
  const slice = result.slice;
  return {
    output: result.output,
    rows: result.rows,
    first_row: result.firstRow,
    rows_numbered: slice?.split === 'bytes' ? 'within_shard' : 'global',
    shard: slice ? `${slice.shard.index}/${slice.shard.count}` : null,
    split: slice?.split ?? null,
    skipped: result.skipped === true,
    seconds: result.seconds,
    spectra_per_s: result.spectraPerSecond,
    bytes_read: result.read.bytes,
    rows_decoded: result.read.rows,
    status_counts: result.statusCounts,
    notes: slice?.notes ?? [],
  };
}

export async function classifyHandler(args: ClassifyArgs): Promise<ClassifyResult> {
  let progress: Progress | undefined;
  let reported = 0;
  try {
    // SIGINT/SIGTERM/SIGHUP: the batch under way finishes, the temporary output is removed, and the
    // exit code names the signal (src/cli/interrupt.ts); onnxruntime's threads are never killed mid-run.
    const result = await runInterruptible((signal) => classifyFile(args.input, {
      model: args.model,
      output: args.output,
      batchSize: args.batchSize,
      intraOpThreads: args.threads,
      workers: args.workers,
      graphOptimization: args.graphOptimization,
      limit: args.limit,
      shard: args.shard !== undefined ? parseShard(args.shard) : undefined,
      resume: args.resume,
      labels: args.labels,
      signal,
      onResume: (reason) => {
        if (!args.quiet && reason !== 'no output yet') process.stderr.write(`classify: ${args.output} is not this shard's complete output (${reason}): classifying it again\n`);
      },
      onStart: ({ rows, slice }) => {
        for (const note of slice?.notes ?? []) process.stderr.write(`astrospec: note: ${note}\n`);
        progress = createProgress('classify', rows >= 0 ? rows : undefined, { quiet: args.quiet });
      },
      onProgress: (rows) => {
        progress?.tick(rows - reported);
        reported = rows;
      },
    }), { cooperative: true });
    progress?.stop();
    progress = undefined;
    const duplicates = describeDuplicateIds(args.input.join(', '), result.duplicateIds);
    if (duplicates) process.stderr.write(duplicates);
    if (args.json) process.stdout.write(`${JSON.stringify(classifyJson(result))}\n`);
    const slice = result.slice;
    if (result.skipped) {
      if (!args.quiet) process.stderr.write(`classify: shard ${slice!.shard.index}/${slice!.shard.count}: ${result.output} is complete (${result.rows} rows), skipped\n`);
      return result;
    }
    if (!args.quiet) {
      const counts = Object.entries(result.statusCounts).map(([status, n]) => `${status} ${n}`).join(', ') || 'no rows';
      const s = result.settings;
      const rows = slice?.split === 'bytes' ? `shard ${slice.shard.index}/${slice.shard.count}'s rows 0–${result.rows - 1}, numbered within the shard` : `rows ${result.firstRow}–${result.firstRow + result.rows - 1}`;
      process.stderr.write(
        `classified ${result.rows} spectra (${rows}: ${counts}) in ${result.seconds.toFixed(1)} s, ` +
          `${result.spectraPerSecond.toFixed(0)} spectra/s (batch ${s.batchSize}, ${s.workers}×${s.intraOpThreads} threads) → ${result.output}\n`,
      );
      if (args.labels !== undefined && result.truth && slice?.split !== 'bytes') {
        // Truth is per classified row; predictions index rows in the whole input (shards start later).
        const size = result.firstRow + result.truth.ids.length;
        const ids = new Array<string>(size).fill('');
        const labels = new Int8Array(size).fill(-1);
        result.truth.ids.forEach((id, i) => (ids[result.firstRow + i] = id));
        labels.set(result.truth.labels, result.firstRow);
        const e = scorePredictions(await readPredictions(result.output), { file: args.labels, ids, labels });
        process.stderr.write(
          `against ${args.labels}: macro F1 ${e.metrics.macroF1.toFixed(4)}, accuracy ${e.metrics.accuracy.toFixed(4)} over ${e.scored} spectra ` +
            `(per class: astrospec evaluate ${result.output} --labels ${args.labels})\n`,
        );
      }
    }
    return result;
  } finally {
    progress?.stop();
  }
}

export const classifyCommand: CommandModule<object, ClassifyArgs> = {
  command: 'classify <input..>',
  describe: 'Classify spectra (CSV, CSV.gz, Arrow/Feather, FITS; files, folders, globs, @lists) with an exported ONNX model into a predictions file',
  builder: (y) =>
    y
      .positional('input', { type: 'string', array: true, demandOption: true, describe: 'Spectra: files, folders (Arrow chunks with a manifest, FITS, CSV…), globs or @list.txt, read in order as one input' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'Predictions file (.csv or .arrow)' })
      .option('model', { alias: 'm', type: 'string', demandOption: true, coerce: modelArg, describe: `ONNX model written by astrospec export, or ${SHIPPED_MODELS_HELP}` })
      .option('batch-size', { type: 'number', describe: 'Spectra per inference call (fixed; the last batch is padded). Default 128' })
      .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads per session. Default: cores / workers' })
      .option('workers', { type: 'number', describe: 'Inference worker threads, one session each. Default 2 (1 on a single core)' })
      .option('graph-optimization', { choices: GRAPH_OPTIMIZATIONS, describe: 'onnxruntime graph optimisation level. Default all' })
      .option('limit', { type: 'number', describe: 'Classify only the first N rows (of the shard)' })
      .option('shard', {
        type: 'string',
        describe: 'i/N: classify only shard i of N, reading only its slice: rows [floor(i·R/N), floor((i+1)·R/N)) of Arrow, FITS and chunk folders; of CSV input, the lines starting in byte range i of N, numbered within the shard (astrospec merge numbers them)',
      })
      .option('resume', { type: 'boolean', default: false, describe: 'With --shard: if the output exists and is this shard\'s complete output, keep it and classify nothing; redo it otherwise' })
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object (rows, seconds, bytes read, rows decoded, shard) on stdout' })
      .option('labels', { type: 'string', describe: 'Labels CSV (file or id column, class or label column) joined by file name or id; every spectrum needs a row. Prints the macro F1 against it' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No progress bar or summary' }) as never,
  handler: async (args) => {
    await classifyHandler(args);
  },
};
