import type { CommandModule } from 'yargs';
import { AstrospecError } from '../../errors.js';
import { datasetFingerprint, listDataset } from '../../io/dataset.js';
import { textLines } from '../../io/csv-lines.js';
import { openSpectra } from '../../io/open.js';
import { mergePredictionShards, type MergeResult } from '../../infer/merge.js';
import { SHARD_LINE_PREFIX } from '../../infer/shard-output.js';

export interface MergeArgs {
  shards: string[];
  output: string;
  rows?: number;
  /** The classified input: a file, several, a folder, a glob or @list.txt. */
  input?: string | string[];
  quiet?: boolean;
}

/** Rows in a spectra input: from metadata when the formats have it (Arrow, FITS, manifests), else by reading it through. */
export async function countInputRows(input: string | string[]): Promise<number> {
  const source = await openSpectra(input);
  try {
    if (source.rowCount !== undefined) return source.rowCount;
    if (source.countRows) return await source.countRows();
    let rows = 0;
    for await (const batch of source.batches()) rows += batch.ids.length;
    return rows;
  } finally {
    await source.close();
  }
}

/** Whether a shard numbers its rows within itself (a shard of a CSV input: src/infer/shard-output.ts). */
async function isLocalShard(file: string): Promise<boolean> {
  for await (const line of textLines(file)) return line.startsWith(SHARD_LINE_PREFIX);
  return false;
}

export async function mergeHandler(args: MergeArgs): Promise<MergeResult> {
  if (args.rows !== undefined && args.input !== undefined) throw new AstrospecError('BAD_ARGUMENT', 'give --rows or --input, not both');
  const input = args.input === undefined ? undefined : typeof args.input === 'string' ? [args.input] : args.input;
  let rows = args.rows;
  let fingerprint: string | undefined;
  if (input !== undefined && input.length > 0) {
    // Shards numbered within themselves say which dataset they come from: comparing that with the
    // input's fingerprint (a stat of each file) replaces counting its rows, which for CSV means reading it all.
    const local = args.shards.length > 0 && (await isLocalShard(args.shards[0]!).catch(() => false));
    if (local) fingerprint = await datasetFingerprint((await listDataset(input)).files);
    else rows = await countInputRows(input);
  }
  const result = await mergePredictionShards(args.shards, args.output, { rows, fingerprint });
  if (!args.quiet) {
    const empty = result.shards.filter((s) => s.rows === 0).length;
    const checked =
      rows !== undefined
        ? ` = all ${rows} input rows`
        : fingerprint !== undefined
          ? ` = every shard of the input (dataset ${fingerprint})`
          : ' (no --rows/--input: only contiguity from row 0 was checked)';
    process.stderr.write(`merged ${result.shards.length} shards (${empty} empty), rows 0–${result.rows - 1}${checked} → ${result.output}\n`);
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
      .option('input', {
        type: 'string',
        array: true,
        describe: 'The classified input (files, a folder, a glob or @list.txt), to count its rows instead of --rows; shards of a CSV input are checked against its files instead',
      })
      .option('quiet', { type: 'boolean', default: false, describe: 'No summary line' }) as never,
  handler: async (args) => {
    await mergeHandler(args);
  },
};
