import type { CommandModule } from 'yargs';
import { AstrospecError } from '../../errors.js';
import { openSpectra } from '../../io/open.js';
import { mergePredictionShards, type MergeResult } from '../../report/merge.js';

export interface MergeArgs {
  shards: string[];
  output: string;
  rows?: number;
  input?: string;
  quiet?: boolean;
}

/** Rows in a spectra file: from its metadata when the format has it, else by reading it through. */
export async function countInputRows(input: string): Promise<number> {
  const source = await openSpectra(input);
  try {
    if (source.rowCount !== undefined) return source.rowCount;
    let rows = 0;
    for await (const batch of source.batches()) rows += batch.ids.length;
    return rows;
  } finally {
    await source.close();
  }
}

export async function mergeHandler(args: MergeArgs): Promise<MergeResult> {
  if (args.rows !== undefined && args.input !== undefined) throw new AstrospecError('BAD_ARGUMENT', 'give --rows or --input, not both');
  const rows = args.rows ?? (args.input !== undefined ? await countInputRows(args.input) : undefined);
  const result = await mergePredictionShards(args.shards, args.output, { rows });
  if (!args.quiet) {
    const empty = result.shards.filter((s) => s.rows === 0).length;
    process.stderr.write(
      `merged ${result.shards.length} shards (${empty} empty), rows 0–${result.rows - 1}${rows !== undefined ? ` = all ${rows} input rows` : ' (no --rows/--input: only contiguity from row 0 was checked)'} → ${result.output}\n`,
    );
  }
  return result;
}

export const mergeCommand: CommandModule<object, MergeArgs> = {
  command: 'merge <shards..>',
  describe: 'Join prediction shards of a split classify run into one CSV, checking rows 0…R−1 appear exactly once',
  builder: (y) =>
    y
      .positional('shards', { type: 'string', array: true, demandOption: true, describe: 'Prediction CSVs written by classify --shard' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'Merged predictions CSV' })
      .option('rows', { type: 'number', describe: 'Rows in the classified input (the merge must cover 0…rows−1)' })
      .option('input', { type: 'string', describe: 'The classified spectra file, to count its rows instead of --rows' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No summary line' }) as never,
  handler: async (args) => {
    await mergeHandler(args);
  },
};
