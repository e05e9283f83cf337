import type { CommandModule } from 'yargs';
import { check } from '../../errors.js';
import { OOD_LAYERS } from '../../export/ood-graph.js';
import { addOodToOnnx, DEFAULT_OOD_LAYERS, DEFAULT_OOD_QUANTILE } from '../../infer/ood.js';
import type { OodSpec } from '../../model/spec.js';
import { runInterruptible } from '../interrupt.js';

export interface OodArgs {
  model: string;
  data: string[];
  labels?: string;
  output: string;
  quantile?: number;
  layers?: string;
  quiet?: boolean;
}

/** `--ood-layers stage1,head` → ['stage1', 'head'], checked. */
export function parseOodLayers(text: string | undefined): string[] {
  const layers = (text ?? DEFAULT_OOD_LAYERS.join(',')).split(',').map((l) => l.trim()).filter((l) => l !== '');
  for (const l of layers) check((OOD_LAYERS as readonly string[]).includes(l), `OOD layer '${l}' is not one of ${OOD_LAYERS.join(', ')}`);
  check(layers.length > 0 && new Set(layers).size === layers.length, `OOD layers must be distinct and at least one, got '${text}'`);
  return layers;
}

export function describeOod(ood: OodSpec): string {
  const v = ood.validationScores;
  return (
    `OOD score over ${ood.layers.map((l) => `${l.name} (${l.dimension})`).join(', ')} fitted on ${ood.rows} spectra; threshold ${ood.threshold.toFixed(3)} ` +
    `(the ${(100 * ood.quantile).toFixed(2)} % quantile; validation median ${v.q50.toFixed(3)}, 99 % ${v.q99.toFixed(3)}, max ${v.max.toFixed(3)})`
  );
}

export async function oodHandler(args: OodArgs): Promise<OodSpec> {
  const data = args.data.length === 1 ? args.data[0]! : args.data;
  const layers = parseOodLayers(args.layers);
  const ood = await runInterruptible((signal) => addOodToOnnx(args.model, args.output, data, { labels: args.labels, quantile: args.quantile, layers, signal }), { cooperative: true });
  if (!args.quiet) process.stderr.write(`ood: ${describeOod(ood)}; written to ${args.output}\n`);
  return ood;
}

export const oodCommand: CommandModule<object, OodArgs> = {
  command: 'ood <model>',
  describe: 'Fit the out-of-distribution score of an exported ONNX model on labelled validation spectra and write the model with it (ood_score output, status ood)',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'ONNX model written by astrospec export' })
      .option('data', { type: 'string', array: true, demandOption: true, describe: 'Labelled validation spectra (not the training data)' })
      .option('labels', { type: 'string', describe: 'Labels CSV joined by file name (file,class), for data without labels' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'ONNX file to write (may be the model itself)' })
      .option('quantile', { type: 'number', default: DEFAULT_OOD_QUANTILE, describe: 'Share of the validation spectra below the threshold (docs/ood.md)' })
      .option('layers', { type: 'string', default: DEFAULT_OOD_LAYERS.join(','), describe: 'Layers whose features the score uses: stage1…stage4 and head (pooled), redshift (the hidden layer of the redshift head)' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No summary line' }) as never,
  handler: async (args) => {
    await oodHandler(args);
  },
};
