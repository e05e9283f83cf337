import type { CommandModule } from 'yargs';
import { AstrospecError } from '../../errors.js';
import { findSpectrum, plotSpectrum } from '../../report/spectrum-plot.js';
import { writeFileAtomic } from '../../io/partial-files.js';

export interface PlotArgs {
  /** Spectra: a file, several, a folder, a glob or @list.txt (rows counted across them). */
  input: string | string[];
  row?: number;
  id?: string | number;
  output: string;
  quiet?: boolean;
}

export async function plotHandler(args: PlotArgs): Promise<{ output: string; row: number; id: string }> {
  const lower = args.output.toLowerCase();
  const format = lower.endsWith('.svg') ? 'svg' : lower.endsWith('.html') || lower.endsWith('.htm') ? 'html' : undefined;
  if (!format) throw new AstrospecError('BAD_ARGUMENT', `-o ${args.output}: name the output .svg or .html`);
  const spectrum = await findSpectrum(args.input, { row: args.row, id: args.id === undefined ? undefined : String(args.id) });
  await writeFileAtomic(args.output, await plotSpectrum(spectrum, format));
  if (!args.quiet) process.stderr.write(`plot: row ${spectrum.row} (${spectrum.id}) → ${args.output}\n`);
  return { output: args.output, row: spectrum.row, id: spectrum.id };
}

export const plotCommand: CommandModule<object, PlotArgs> = {
  command: 'plot <input..>',
  describe: 'Draw one spectrum with its Wien fit and bad pixels as SVG or HTML',
  builder: (y) =>
    y
      .positional('input', { type: 'string', array: true, demandOption: true, describe: 'Spectra: files (CSV, Arrow, FITS), folders, globs or @list.txt, read as one input' })
      .option('row', { type: 'number', describe: '0-based row in the input' })
      .option('id', { type: 'string', describe: 'Spectrum id (the first row with it)' })
      .conflicts('row', 'id')
      .check((a) => (a.row === undefined && a.id === undefined ? 'give --row or --id' : true))
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'spectrum.svg or spectrum.html' })
      .option('quiet', { type: 'boolean', default: false }) as never,
  handler: async (args) => {
    await plotHandler(args);
  },
};
