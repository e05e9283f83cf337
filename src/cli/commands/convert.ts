import type { CommandModule } from 'yargs';
import { AstrospecError } from '../../errors.js';
import { readLabelsCsv, withLabels } from '../../io/labels.js';
import { openSpectra } from '../../io/open.js';
import { createSpectraSink, sinkFormatOfPath } from '../../io/sink.js';
import type { SpectraSink } from '../../io/types.js';
import { createProgress } from '../progress.js';

export interface ConvertArgs {
  inputs: string[];
  output: string;
  batchSize?: number;
  threads?: number;
  /** Labels CSV joined by file name or id (src/io/labels.ts); its classes replace the input's. */
  labels?: string;
  quiet?: boolean;
}

export interface ConvertResult {
  output: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  megabytesPerSecond: number;
}

/** Copies every row of the inputs to the output (format from its extension), row for row. */
export async function convertHandler(args: ConvertArgs): Promise<ConvertResult> {
  if (args.inputs.length === 0) throw new AstrospecError('BAD_ARGUMENT', 'convert: give at least one input');
  if (!sinkFormatOfPath(args.output)) {
    throw new AstrospecError('BAD_ARGUMENT', `convert: output must end in .csv, .csv.gz, .arrow, .feather or .ipc: ${args.output}`);
  }
  const labels = args.labels !== undefined ? await readLabelsCsv(args.labels) : undefined;
  const input = args.inputs.length === 1 ? args.inputs[0]! : args.inputs;
  let source = await openSpectra(input, { batchSize: args.batchSize, threads: args.threads });
  let sink: SpectraSink | undefined;
  try {
    if (labels) source = await withLabels(source, labels, input);
    // A total for the bar only when it is free: CSV would need an extra pass over the file.
    const total = source.rowCount;
    const progress = createProgress('convert', total, { quiet: args.quiet });
    // Extra and tag columns travel on the batches; the sink takes its columns from the first one.
    sink = await createSpectraSink(args.output, { grid: source.grid, hasLabels: source.hasLabels });
    for await (const batch of source.batches()) {
      await sink.write(batch);
      progress.tick(batch.ids.length);
    }
    await sink.close();
    const stats = { ...progress.stop() };
    // The whole input has been read once, so its size over the time is the input rate.
    stats.megabytesPerSecond = source.byteLength / 1e6 / Math.max(stats.seconds, 1e-9);
    if (stats.rows !== sink.rowsWritten) {
      throw new AstrospecError('IO', `read ${stats.rows} rows but wrote ${sink.rowsWritten}`, { file: args.output });
    }
    if (!args.quiet) {
      process.stderr.write(
        `converted ${stats.rows} spectra → ${args.output} in ${stats.seconds.toFixed(2)} s (${stats.rowsPerSecond.toFixed(0)} spectra/s, ${stats.megabytesPerSecond.toFixed(1)} MB/s of input)\n`,
      );
    }
    return { output: args.output, rows: stats.rows, seconds: stats.seconds, rowsPerSecond: stats.rowsPerSecond, megabytesPerSecond: stats.megabytesPerSecond };
  } catch (error) {
    await sink?.abort();
    throw error;
  } finally {
    await source.close();
  }
}

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: 'convert <inputs..>',
  describe: 'Convert spectra between CSV (.csv, .csv.gz), Arrow/Feather and FITS folders (input only)',
  builder: (y) =>
    y
      .positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'Input files (.csv, .csv.gz, .arrow, .feather, .ipc, .fits) or a FITS folder' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'Output file: .csv, .csv.gz, .arrow, .feather or .ipc' })
      .option('batch-size', { type: 'number', describe: 'Rows per batch (default 1024)' })
      .option('threads', { type: 'number', describe: 'Native parser threads (default: all cores)' })
      .option('labels', { type: 'string', describe: 'Labels CSV (file or id column, class or label column) joined by file name or id; its classes replace the input\'s' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No progress bar or summary line' }) as never,
  handler: async (args) => {
    await convertHandler(args);
  },
};
