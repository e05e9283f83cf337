import type { CommandModule } from 'yargs';
import { AstrospecError } from '../../errors.js';
import { createSpectraSink, sinkFormatOfPath, type SinkFormat } from '../../io/sink.js';
import type { SpectraSink } from '../../io/types.js';
import { DEFAULT_MIX, generateSurvey, GENERATORS, SURVEY_EXTRA_COLUMNS, TEMPLATE_SETS, validateSurveyOptions, type Generator } from '../../synth/survey.js';
import type { TemplateSet } from '../../synth/template-library.js';
import { createProgress } from '../progress.js';

export interface SynthArgs {
  n: number;
  output: string;
  seed?: number;
  /** "0.84,0.12,0.04" or percentages "84,12,4" (star, galaxy, qso). */
  mix?: string;
  snrMin?: number;
  snrMax?: number;
  format?: SinkFormat;
  batchSize?: number;
  generator?: Generator;
  templates?: TemplateSet;
  templateFraction?: number;
  deepGalaxies?: number;
  quiet?: boolean;
}

export interface SynthResult {
  output: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  counts: [number, number, number];
}

/** Parses "a,b,c" into three fractions; percentages (sum > 1.5) are accepted too. */
export function parseMix(text: string): [number, number, number] {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x) || x < 0)) {
    throw new AstrospecError('BAD_ARGUMENT', `--mix wants three non-negative numbers star,galaxy,qso (e.g. 0.84,0.12,0.04 or 84,12,4), got '${text}'`);
  }
  const sum = parts[0]! + parts[1]! + parts[2]!;
  if (!(sum > 0)) throw new AstrospecError('BAD_ARGUMENT', `--mix must not be all zero, got '${text}'`);
  return [parts[0]! / sum, parts[1]! / sum, parts[2]! / sum];
}

/** Generates a synthetic LAMOST-like survey and writes it to a .arrow / .csv / .csv.gz file. */
export async function synthHandler(args: SynthArgs): Promise<SynthResult> {
  const format = args.format ?? sinkFormatOfPath(args.output);
  if (!format) throw new AstrospecError('BAD_ARGUMENT', `synth: output must end in .csv, .csv.gz, .arrow, .feather or .ipc (or pass --format): ${args.output}`);
  const options = validateSurveyOptions({
    n: args.n,
    seed: args.seed,
    mix: args.mix === undefined ? DEFAULT_MIX : parseMix(args.mix),
    snrRange: [args.snrMin ?? 2, args.snrMax ?? 100],
    batchSize: args.batchSize,
    generator: args.generator,
    templates: args.templates,
    templateFraction: args.templateFraction,
    deepGalaxies: args.deepGalaxies,
  });
  let sink: SpectraSink | undefined;
  const counts: [number, number, number] = [0, 0, 0];
  try {
    sink = await createSpectraSink(args.output, { grid: options.grid, hasLabels: true, extraColumns: [...SURVEY_EXTRA_COLUMNS], format });
    const progress = createProgress('synth', options.n, { quiet: args.quiet });
    for (const batch of generateSurvey(options)) {
      await sink.write(batch);
      for (const label of batch.labels!) counts[label]!++;
      progress.tick(batch.ids.length);
    }
    await sink.close();
    const stats = progress.stop();
    if (!args.quiet) {
      process.stderr.write(
        `synth: ${stats.rows} spectra (star ${counts[0]}, galaxy ${counts[1]}, qso ${counts[2]}; seed ${options.seed}, ${options.generator}${options.generator === 'physics' ? '' : ` (${options.templates} templates)`}) → ${args.output} in ${stats.seconds.toFixed(2)} s (${stats.rowsPerSecond.toFixed(0)} rows/s)\n`,
      );
    }
    return { output: args.output, rows: stats.rows, seconds: stats.seconds, rowsPerSecond: stats.rowsPerSecond, counts };
  } catch (error) {
    await sink?.abort();
    throw error;
  }
}

export const synthCommand: CommandModule<object, SynthArgs> = {
  command: 'synth',
  describe: 'Generate a synthetic LAMOST-like survey of stars, galaxies and QSOs (see docs/synthetic.md)',
  builder: (y) =>
    y
      .option('n', { type: 'number', demandOption: true, describe: 'Number of spectra' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'Output file: .arrow, .feather, .csv or .csv.gz' })
      .option('seed', { type: 'number', default: 1, describe: 'Random seed; the same seed gives the same file' })
      .option('mix', { type: 'string', describe: 'Class fractions star,galaxy,qso (default 0.84,0.12,0.04; percentages accepted)' })
      .option('snr-min', { type: 'number', default: 2, describe: 'Lowest r-band S/N (log-uniform)' })
      .option('snr-max', { type: 'number', default: 100, describe: 'Highest r-band S/N' })
      .option('generator', { choices: GENERATORS, default: 'physics' as Generator, describe: 'Class models: physics, real-spectrum templates, or mixed (see docs/synthetic.md)' })
      .option('templates', { choices: TEMPLATE_SETS, default: 'all' as TemplateSet, describe: 'Templates to draw from: all, train (the held-out quarter excluded) or heldout (only those)' })
      .option('template-fraction', { type: 'number', default: 0.6, describe: 'Share of template spectra with --generator mixed' })
      .option('deep-galaxies', { type: 'number', default: 0, describe: 'Share of galaxies at z 0.5–1.45 (BOSS/eBOSS depths) instead of the LAMOST-like distribution' })
      .option('format', { choices: ['csv', 'arrow'] as const, describe: 'Output format (default: from the file name)' })
      .option('batch-size', { type: 'number', default: 1024, describe: 'Spectra per written batch' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No progress bar or summary' }) as never,
  handler: async (args) => {
    await synthHandler(args);
  },
};
