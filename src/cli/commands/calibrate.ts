import type { CommandModule } from 'yargs';
import { calibrateModel } from '../../infer/calibrate.js';
import type { CalibrationSpec } from '../../model/spec.js';
import { runInterruptible } from '../interrupt.js';

export interface CalibrateArgs {
  model: string;
  data: string[];
  labels?: string;
  quiet?: boolean;
}

export async function calibrateHandler(args: CalibrateArgs): Promise<CalibrationSpec> {
  const data = args.data.length === 1 ? args.data[0]! : args.data;
  // Its classification pass has onnxruntime threads: stopped cooperatively by a signal (src/cli/interrupt.ts).
  const c = await runInterruptible((signal) => calibrateModel(args.model, { data, labels: args.labels, signal }), { cooperative: true });
  if (!args.quiet) {
    process.stderr.write(
      `calibrate: temperature ${c.temperature.toFixed(3)} on ${c.rows} spectra; NLL ${c.nllBefore.toFixed(4)} → ${c.nllAfter.toFixed(4)}, ` +
        `ECE ${c.eceBefore.toFixed(4)} → ${c.eceAfter.toFixed(4)}; stored in ${args.model} (export again to apply)\n`,
    );
  }
  return c;
}

export const calibrateCommand: CommandModule<object, CalibrateArgs> = {
  command: 'calibrate <model>',
  describe: 'Fit temperature scaling of a trained model on labelled validation spectra; export applies it',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'Model directory written by astrospec train' })
      .option('data', { type: 'string', array: true, demandOption: true, describe: 'Labelled validation spectra (not the training data)' })
      .option('labels', { type: 'string', describe: 'Labels CSV joined by file name (file,class), for data without labels' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No summary line' }) as never,
  handler: async (args) => {
    await calibrateHandler(args);
  },
};
