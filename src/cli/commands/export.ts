import type { CommandModule } from 'yargs';
import { exportOnnx, type ExportResult } from '../../export/onnx.js';

export interface ExportArgs {
  model: string;
  output: string;
  quiet?: boolean;
}

export async function exportHandler(args: ExportArgs): Promise<ExportResult> {
  const result = await exportOnnx(args.model, args.output);
  if (!args.quiet) {
    const a = result.spec.architecture;
    process.stderr.write(
      `exported ${args.model} → ${result.output} (${(result.bytes / 1e6).toFixed(2)} MB): ResNet18-1D width ${a.width}, ` +
        `flux [N, 1, ${a.inputLength}]${a.featureCount > 0 ? `, features [N, ${a.featureCount}]` : ''} → probabilities [N, ${a.classCount}]\n`,
    );
  }
  return result;
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export <model>',
  describe: 'Write a trained model directory as one self-describing ONNX file (opset 17, BatchNorm folded)',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'Model directory written by astrospec train (model.json, weights.bin, astrospec.json)' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'ONNX file to write' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No summary line' }) as never,
  handler: async (args) => {
    await exportHandler(args);
  },
};
