import type { CommandModule } from 'yargs';
import { AstrospecError } from '../../errors.js';
import type { WavelengthGrid } from '../../io/batch.js';
import { openSpectra } from '../../io/open.js';
import { createSpectraSink, sinkFormatOfPath } from '../../io/sink.js';
import type { SpectraSink } from '../../io/types.js';
import type { Normalisation } from '../../model/spec.js';
import { FEATURE_NAMES, NORMALISATIONS, preprocess } from '../../preprocess/index.js';
import { createProgress } from '../progress.js';

/** Extra column with the per-row preprocessing flags (1 no valid pixel, 2 no Wien fit, 4 degenerate scale). */
export const FLAGS_COLUMN = 'preprocess_flags';

export interface PreprocessArgs {
  inputs: string[];
  output: string;
  norm: Normalisation;
  bin: number;
  smooth: number;
  features: boolean;
  robust: boolean;
  batchSize?: number;
  threads?: number;
  quiet?: boolean;
}

export interface PreprocessResult {
  output: string;
  rows: number;
  /** Rows with each flag bit set. */
  flagged: { noValidPixels: number; noWienFit: number; degenerateScale: number };
  seconds: number;
  rowsPerSecond: number;
}

/** Grid of the binned output: bin j averages pixels j·bin … j·bin + bin − 1, centred between them. */
export function binnedGrid(grid: WavelengthGrid, bin: number): WavelengthGrid {
  return { start: grid.start + (grid.step * (bin - 1)) / 2, step: grid.step * bin, length: Math.floor(grid.length / bin) };
}

/** Reads the inputs, preprocesses every batch natively and writes spectra (+ feature columns). */
export async function preprocessHandler(args: PreprocessArgs): Promise<PreprocessResult> {
  if (args.inputs.length === 0) throw new AstrospecError('BAD_ARGUMENT', 'preprocess: give at least one input');
  if (!sinkFormatOfPath(args.output)) {
    throw new AstrospecError('BAD_ARGUMENT', `preprocess: output must end in .csv, .csv.gz, .arrow, .feather or .ipc: ${args.output}`);
  }
  if (!NORMALISATIONS.includes(args.norm)) {
    throw new AstrospecError('BAD_ARGUMENT', `preprocess: --norm must be one of ${NORMALISATIONS.join(', ')}`);
  }
  const source = await openSpectra(args.inputs.length === 1 ? args.inputs[0]! : args.inputs, { batchSize: args.batchSize, threads: args.threads });
  let sink: SpectraSink | undefined;
  try {
    const { grid } = source;
    if (!Number.isInteger(args.bin) || args.bin < 1 || args.bin > grid.length) {
      throw new AstrospecError('BAD_ARGUMENT', `preprocess: --bin must be an integer from 1 to ${grid.length}`);
    }
    if (args.smooth !== 0 && (!Number.isInteger(args.smooth) || args.smooth < 3 || args.smooth % 2 === 0 || args.smooth > grid.length)) {
      throw new AstrospecError('BAD_ARGUMENT', `preprocess: --smooth must be 0 or an odd window from 3 to ${grid.length}`);
    }
    const outGrid = binnedGrid(grid, args.bin);
    const extraColumns = [...(args.features ? FEATURE_NAMES : []), FLAGS_COLUMN];
    sink = await createSpectraSink(args.output, { grid: outGrid, hasLabels: source.hasLabels, extraColumns });
    const progress = createProgress('preprocess', source.rowCount, { quiet: args.quiet });
    const flagged = { noValidPixels: 0, noWienFit: 0, degenerateScale: 0 };
    for await (const batch of source.batches()) {
      const result = await preprocess(batch, {
        normalisation: args.norm,
        bin: args.bin,
        smoothWindow: args.smooth,
        features: args.features,
        robust: args.robust,
        threads: args.threads,
      });
      const rows = result.rows;
      const extra: Record<string, Float32Array> = { [FLAGS_COLUMN]: Float32Array.from(result.flags) };
      if (result.features) {
        const k = FEATURE_NAMES.length;
        FEATURE_NAMES.forEach((name, c) => {
          const column = new Float32Array(rows);
          for (let r = 0; r < rows; r++) column[r] = result.features![r * k + c]!;
          extra[name] = column;
        });
      }
      for (const f of result.flags) {
        if (f & 1) flagged.noValidPixels++;
        if (f & 2) flagged.noWienFit++;
        if (f & 4) flagged.degenerateScale++;
      }
      await sink.write({ ...batch, flux: result.flux, grid: outGrid, badPixels: undefined }, extra);
      progress.tick(rows);
    }
    await sink.close();
    const stats = progress.stop();
    if (stats.rows !== sink.rowsWritten) {
      throw new AstrospecError('IO', `read ${stats.rows} rows but wrote ${sink.rowsWritten}`, { file: args.output });
    }
    if (!args.quiet) {
      process.stderr.write(
        `preprocessed ${stats.rows} spectra → ${args.output} in ${stats.seconds.toFixed(2)} s (${stats.rowsPerSecond.toFixed(0)} spectra/s); ` +
          `flagged: ${flagged.noValidPixels} without valid pixels, ${flagged.noWienFit} without a Wien fit, ${flagged.degenerateScale} with a degenerate scale\n`,
      );
    }
    return { output: args.output, rows: stats.rows, flagged, seconds: stats.seconds, rowsPerSecond: stats.rowsPerSecond };
  } catch (error) {
    await sink?.abort();
    throw error;
  } finally {
    await source.close();
  }
}

export const preprocessCommand: CommandModule<object, PreprocessArgs> = {
  command: 'preprocess <inputs..>',
  describe: 'Normalise, smooth and bin spectra, and add Wien-fit features as extra columns',
  builder: (y) =>
    y
      .positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'Input files (.csv, .csv.gz, .arrow, .feather, .ipc, .fits), folders, globs or @list.txt, read in order as one input' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'Output file: .arrow, .feather, .ipc, .csv or .csv.gz' })
      .option('norm', { type: 'string', choices: NORMALISATIONS as string[], default: 'l2', describe: 'Flux normalisation' })
      .option('bin', { type: 'number', default: 1, describe: 'Average every N pixels (trailing partial bin dropped)' })
      .option('smooth', { type: 'number', default: 0, describe: 'Savitzky–Golay window (odd, e.g. 7; 0 = none)' })
      .option('features', { type: 'boolean', default: false, describe: `Add feature columns: ${FEATURE_NAMES.join(', ')}` })
      .option('robust', { type: 'boolean', default: false, describe: 'Refit the Wien line once without > 3σ outliers' })
      .option('batch-size', { type: 'number', describe: 'Rows per batch (default 1024)' })
      .option('threads', { type: 'number', describe: 'Native threads (default: all cores)' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No progress bar or summary line' }) as never,
  handler: async (args) => {
    await preprocessHandler(args);
  },
};
