import type { CommandModule } from 'yargs';
import { calibrateModel, type CalibrateResult } from '../../infer/calibrate.js';
import { DEFAULT_OOD_LAYERS, DEFAULT_OOD_QUANTILE } from '../../infer/ood.js';
import { runInterruptible } from '../interrupt.js';
import { describeOod, parseOodLayers } from './ood.js';

export interface CalibrateArgs {
  model: string;
  data: string[];
  labels?: string;
  ood?: boolean;
  oodQuantile?: number;
  oodLayers?: string;
  quiet?: boolean;
}

export async function calibrateHandler(args: CalibrateArgs): Promise<CalibrateResult> {
  const data = args.data.length === 1 ? args.data[0]! : args.data;
  const ood = args.ood === false ? false : { quantile: args.oodQuantile, layers: parseOodLayers(args.oodLayers) };
  // Its classification pass has onnxruntime threads: stopped cooperatively by a signal (src/cli/interrupt.ts).
  const result = await runInterruptible((signal) => calibrateModel(args.model, { data, labels: args.labels, signal, ood }), { cooperative: true });
  if (!args.quiet) {
    const c = result.calibration;
    process.stderr.write(
      `calibrate: temperature ${c.temperature.toFixed(3)} on ${c.rows} spectra; NLL ${c.nllBefore.toFixed(4)} → ${c.nllAfter.toFixed(4)}, ` +
        `ECE ${c.eceBefore.toFixed(4)} → ${c.eceAfter.toFixed(4)}; stored in ${args.model} (export again to apply)\n`,
    );
    if (result.ood) process.stderr.write(`calibrate: ${describeOod(result.ood)}\n`);
  }
  return result;
}

export const calibrateCommand: CommandModule<object, CalibrateArgs> = {
  command: 'calibrate <model>',
  describe: 'Fit temperature scaling and the out-of-distribution score of a trained model on labelled validation spectra; export applies them',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'Model directory written by astrospec train' })
      .option('data', { type: 'string', array: true, demandOption: true, describe: 'Labelled validation spectra (not the training data)' })
      .option('labels', { type: 'string', describe: 'Labels CSV joined by file name (file,class), for data without labels' })
      .option('ood', { type: 'boolean', default: true, describe: 'Fit the out-of-distribution score (--no-ood: none)' })
      .option('ood-quantile', { type: 'number', default: DEFAULT_OOD_QUANTILE, describe: 'Share of the validation spectra below the OOD threshold (docs/ood.md)' })
      .option('ood-layers', { type: 'string', default: DEFAULT_OOD_LAYERS.join(','), describe: 'Layers whose features the OOD score uses: stage1…stage4 and head (pooled), redshift (the hidden layer of the redshift head)' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No summary line' }) as never,
  handler: async (args) => {
    await calibrateHandler(args);
  },
};
