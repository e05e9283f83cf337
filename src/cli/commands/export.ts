import type { CommandModule } from 'yargs';
import { AstrospecError } from '../../errors.js';
import { exportOnnx, type ExportResult } from '../../export/onnx.js';
import type { ActivationType, CalibrationMethod, QuantFormat, QuantizationInfo } from '../../export/quantize.js';

export interface ExportArgs {
  model: string;
  output: string;
  quantize?: 'int8';
  calibration?: string;
  calibrationRows?: number;
  calibrationMethod?: CalibrationMethod;
  percentile?: number;
  quantFormat?: QuantFormat;
  activations?: ActivationType;
  perChannel?: boolean;
  keepFloat?: string[];
  foldBatch?: boolean;
  quiet?: boolean;
}

export type ExportHandlerResult = ExportResult & { quantization?: QuantizationInfo };

export async function exportHandler(args: ExportArgs): Promise<ExportHandlerResult> {
  if (args.quantize === undefined) {
    if (args.calibration !== undefined) throw new AstrospecError('BAD_ARGUMENT', '--calibration is used only with --quantize int8');
    if (args.model.toLowerCase().endsWith('.onnx')) throw new AstrospecError('BAD_ARGUMENT', `${args.model} is already an ONNX model; pass --quantize int8 --calibration <spectra> to quantise it`);
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
  if (args.quantize !== 'int8') throw new AstrospecError('BAD_ARGUMENT', `--quantize must be int8, got ${String(args.quantize)}`);
  if (args.calibration === undefined) throw new AstrospecError('BAD_ARGUMENT', '--quantize int8 needs --calibration <spectra>: activation ranges are measured on real inputs');
  const { exportInt8 } = await import('../../export/int8.js');
  const result = await exportInt8(args.model, args.output, {
    calibration: args.calibration,
    calibrationRows: args.calibrationRows,
    method: args.calibrationMethod,
    percentile: args.percentile,
    format: args.quantFormat,
    activations: args.activations,
    perChannel: args.perChannel,
    keepFloat: args.keepFloat,
    foldBatch: args.foldBatch,
  });
  if (!args.quiet) {
    const q = result.info;
    const nodes = Object.entries(q.report.quantizedNodes).map(([op, k]) => `${k} ${op}`).join(', ');
    process.stderr.write(
      `quantised ${args.model} → ${result.output} (${(result.bytes.byteLength / 1e6).toFixed(2)} MB): int8 ${q.perChannel ? 'per-channel' : 'per-tensor'} weights, ` +
        `${q.activations} activations (${q.format}; ${nodes}; ${q.report.fusedRelus} ReLUs fused${q.foldedBatch ? '; batch as rows' : ''}), ranges from ${q.calibration.rows} calibration spectra (${q.calibration.method})\n`,
    );
  }
  return { output: result.output, bytes: result.bytes.byteLength, spec: result.spec, quantization: result.info };
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export <model>',
  describe: 'Write a trained model directory as one self-describing ONNX file (opset 17, BatchNorm folded), or quantise a model to int8',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'Model directory written by astrospec train (model.json, weights.bin, astrospec.json), or with --quantize an exported .onnx file' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'ONNX file to write' })
      .option('quantize', { type: 'string', choices: ['int8'], describe: 'Write a statically quantised model: int8 weights, 8-bit activations with ranges measured on --calibration' })
      .option('calibration', { type: 'string', describe: 'Spectra to measure activation ranges on (any input classify reads; preprocessed as classify does)' })
      .option('calibration-rows', { type: 'number', default: 4096, describe: 'Use at most this many calibration spectra' })
      .option('calibration-method', { type: 'string', choices: ['percentile', 'minmax', 'mse'], default: 'percentile', describe: 'Activation range per tensor: clipped at --percentile of |x|, the min/max seen, or the clip with least squared error' })
      .option('percentile', { type: 'number', default: 99.99, describe: 'With --calibration-method percentile' })
      .option('quant-format', { type: 'string', choices: ['qoperator', 'qdq'], default: 'qoperator', describe: 'QLinearConv/QLinearAdd nodes (fastest in onnxruntime), or QuantizeLinear/DequantizeLinear pairs around float ops' })
      .option('activations', { type: 'string', choices: ['uint8', 'int8'], default: 'uint8', describe: 'Type of the 8-bit activations (weights are always int8): uint8 uses onnxruntime\'s u8·s8 kernels; int8 ran 10× slower in onnxruntime 1.30 on x86' })
      .option('per-channel', { type: 'boolean', default: true, describe: 'One weight scale per output channel (--no-per-channel: one per tensor)' })
      .option('keep-float', { type: 'string', array: true, describe: 'Leave these nodes (by ONNX node name, e.g. stem_conv) in float' })
      .option('fold-batch', { type: 'boolean', default: true, describe: 'Run the 1×k layers on the batch laid out as image rows ([1, C, N, L]: one wide GEMM per layer, same outputs; --no-fold-batch: one per spectrum)' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No summary line' }) as never,
  handler: async (args) => {
    await exportHandler(args);
  },
};
