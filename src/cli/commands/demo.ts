/**
 * `astrospec demo` (what `npm start` runs): the main job on the embedded default.
 * Synthesises a seeded survey, classifies it with models/default.onnx, evaluates the
 * predictions against the known classes, and writes an HTML report.
 */
import type { CommandModule } from 'yargs';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AstrospecError } from '../../errors.js';
import { formatMetrics } from '../../metrics/classification.js';
import { DEFAULT_MODEL, modelArg, SHIPPED_MODELS_HELP } from '../shipped-models.js';
import { classifyHandler } from './classify.js';
import { evaluateHandler } from './evaluate.js';
import { reportHandler } from './report.js';
import { synthHandler } from './synth.js';

export interface DemoArgs {
  n: number;
  seed: number;
  model: string;
  out: string;
}

export interface DemoResult {
  macroF1: number;
  classifySpectraPerSecond: number;
  report: string;
}


export async function demoHandler(args: DemoArgs): Promise<DemoResult> {
  if (!existsSync(args.model)) {
    throw new AstrospecError('MODEL', `no model at ${args.model}; build the default with: npm run train:default`);
  }
  const out = resolve(args.out);
  await mkdir(out, { recursive: true });
  const survey = join(out, 'survey.arrow');
  const predictions = join(out, 'predictions.csv');
  const report = join(out, 'report.html');
  const log = (line: string) => process.stdout.write(`${line}\n`);

  log(`1/4 synthesising ${args.n} LAMOST-like spectra (seed ${args.seed}) → ${survey}`);
  const synth = await synthHandler({ n: args.n, seed: args.seed, output: survey, quiet: true });
  log(`    ${synth.rows} spectra (${synth.counts[0]} stars, ${synth.counts[1]} galaxies, ${synth.counts[2]} QSOs) in ${synth.seconds.toFixed(1)} s`);

  log(`2/4 classifying with ${args.model}`);
  const classified = await classifyHandler({ input: [survey], output: predictions, model: args.model, quiet: true });
  log(`    ${classified.rows} spectra in ${classified.seconds.toFixed(1)} s: ${classified.spectraPerSecond.toFixed(0)} spectra/s → ${predictions}`);

  log('3/4 evaluating against the known classes');
  const evaluation = await evaluateHandler({ predictions, truth: survey, quiet: true });
  log('');
  log(formatMetrics(evaluation.metrics));
  log('');

  log('4/4 writing the report');
  await reportHandler({ predictions, data: survey, model: args.model, output: report, quiet: true });
  log(`    ${report}`);
  log('');
  log(`macro F1 ${evaluation.metrics.macroF1.toFixed(4)} on ${evaluation.metrics.total} synthetic spectra; ` +
    `classify ${classified.spectraPerSecond.toFixed(0)} spectra/s; report: ${report}`);
  return { macroF1: evaluation.metrics.macroF1, classifySpectraPerSecond: classified.spectraPerSecond, report };
}

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'The main job on the embedded default: synthesise a survey, classify it with the shipped model, evaluate, report',
  builder: (y) =>
    y
      .option('n', { type: 'number', default: 20000, describe: 'Spectra to synthesise' })
      .option('seed', { type: 'number', default: 2026, describe: 'Survey seed (the default model was trained on seeds 1 and 2)' })
      .option('model', { type: 'string', default: DEFAULT_MODEL, defaultDescription: 'models/default.onnx (shipped)', coerce: modelArg, describe: `ONNX model (${SHIPPED_MODELS_HELP})` })
      .option('out', { type: 'string', default: 'runs/demo', describe: 'Folder for the survey, predictions and report' }) as never,
  handler: async (args) => {
    await demoHandler(args);
  },
};
