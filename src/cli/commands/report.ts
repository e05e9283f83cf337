import type { CommandModule } from 'yargs';
import { writeFileAtomic } from '../../io/partial-files.js';
import { loadReportInputs } from '../../report/load.js';
import { buildReport } from '../../report/report.js';
import { modelArg, SHIPPED_MODELS_HELP } from '../shipped-models.js';

export interface ReportArgs {
  predictions: string;
  data?: string | string[];
  log?: string;
  model?: string;
  examples?: number;
  output: string;
  quiet?: boolean;
}

export async function reportHandler(args: ReportArgs): Promise<{ output: string; bytes: number }> {
  const inputs = await loadReportInputs({ predictions: args.predictions, data: args.data, log: args.log, model: args.model, examplesPerClass: args.examples });
  const html = await buildReport(inputs);
  await writeFileAtomic(args.output, html);
  const bytes = Buffer.byteLength(html);
  if (!args.quiet) process.stderr.write(`report: ${args.output} (${(bytes / 1024).toFixed(0)} KiB)\n`);
  return { output: args.output, bytes };
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report',
  describe: 'Write one self-contained HTML report: scores, confusion matrix, F1 against S/N, example spectra, training curves',
  builder: (y) =>
    y
      .option('predictions', { alias: 'p', type: 'string', demandOption: true, describe: 'Predictions written by classify (CSV or Arrow)' })
      .option('data', { alias: 'd', type: 'string', array: true, describe: 'The classified spectra (labels, S/N and example spectra come from it): files, a folder, a glob or @list.txt' })
      .option('log', { type: 'string', describe: 'Training log, runs/x/train-log.jsonl' })
      .option('model', { alias: 'm', type: 'string', coerce: modelArg, describe: `Model folder or .onnx file, to describe it (${SHIPPED_MODELS_HELP})` })
      .option('examples', { type: 'number', default: 2, describe: 'Example spectra per class' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'HTML file to write' })
      .option('quiet', { type: 'boolean', default: false }) as never,
  handler: async (args) => {
    await reportHandler(args);
  },
};
