import type { CommandModule } from 'yargs';
import { join } from 'node:path';
import { AstrospecError, check } from '../../errors.js';
import { datasetListText, listDataset, shardRange, summariseDataset, type DatasetSummary } from '../../io/dataset.js';
import { writeFileAtomic } from '../../io/partial-files.js';
import { checkShardOutput, type ShardExpectation } from '../../infer/shard-output.js';

export interface PlanArgs {
  inputs: string[];
  shards?: number;
  rowsPerShard?: number;
  outdir?: string;
  listOut?: string;
  json?: boolean;
  quiet?: boolean;
}

export interface PlanResult {
  summary: DatasetSummary;
  shards: number;
  /** A "rows" split's row range of each shard. */
  ranges?: [number, number][];
  /** With outdir: shards whose outdir/pred.<i>.csv is complete, and the others (with why). */
  complete?: number[];
  incomplete?: { shard: number; reason: string }[];
}

/** The shard count: --shards, else the rows (or estimated rows) over --rows-per-shard. */
function shardCount(args: PlanArgs, summary: DatasetSummary): number {
  if (args.shards !== undefined) {
    check(Number.isSafeInteger(args.shards) && args.shards >= 1, `--shards must be a positive integer, got ${args.shards}`);
    return args.shards;
  }
  const perShard = args.rowsPerShard ?? 100_000;
  check(Number.isSafeInteger(perShard) && perShard >= 1, `--rows-per-shard must be a positive integer, got ${perShard}`);
  const rows = summary.rows ?? summary.estimatedRows;
  if (rows === undefined) throw new AstrospecError('BAD_ARGUMENT', 'the rows of this dataset can\'t be estimated (a .csv.gz, or CSV without full lines): give --shards');
  return Math.max(1, Math.ceil(rows / perShard));
}

export async function planHandler(args: PlanArgs): Promise<PlanResult> {
  const dataset = await listDataset(args.inputs);
  const summary = await summariseDataset(dataset);
  const shards = shardCount(args, summary);
  const result: PlanResult = { summary, shards };
  if (summary.split === 'rows') result.ranges = Array.from({ length: shards }, (_, i) => shardRange(summary.rows!, { index: i, count: shards }));
  if (args.outdir !== undefined) {
    result.complete = [];
    result.incomplete = [];
    for (let i = 0; i < shards; i++) {
      const expect: ShardExpectation =
        summary.split === 'rows' ? { split: 'rows', begin: result.ranges![i]![0], end: result.ranges![i]![1] } : { split: 'bytes', index: i, count: shards, fingerprint: summary.fingerprint! };
      const done = await checkShardOutput(join(args.outdir, `pred.${i}.csv`), expect);
      if (done.complete) result.complete.push(i);
      else result.incomplete.push({ shard: i, reason: done.reason });
    }
  }
  if (args.listOut !== undefined) await writeFileAtomic(args.listOut, await datasetListText(dataset));
  if (args.json) {
    process.stdout.write(
      `${JSON.stringify({
        files: summary.files,
        formats: summary.formats,
        bytes: summary.bytes,
        rows: summary.rows ?? null,
        estimated_rows: summary.estimatedRows ?? null,
        split: summary.split,
        fingerprint: summary.fingerprint ?? null,
        unsplittable: summary.unsplittable,
        shards,
        complete: result.complete ?? null,
        incomplete: result.incomplete?.map((s) => s.shard) ?? null,
      })}\n`,
    );
  }
  if (!args.quiet) {
    const formats = Object.entries(summary.formats).filter(([, n]) => n > 0).map(([f, n]) => `${n} ${f}`).join(', ');
    const rows = summary.rows !== undefined ? `${summary.rows} rows` : summary.estimatedRows !== undefined ? `~${summary.estimatedRows} rows (estimated from the CSV sizes)` : 'rows unknown until read';
    const how = summary.split === 'rows' ? 'rows split evenly, numbered globally' : `byte ranges split evenly, rows numbered within each shard (dataset ${summary.fingerprint})`;
    process.stderr.write(`plan: ${summary.files} files (${formats}), ${(summary.bytes / 1e9).toFixed(3)} GB, ${rows}; ${shards} shards: ${how}\n`);
    for (const file of summary.unsplittable) process.stderr.write(`plan: note: ${file} is gzip-compressed and can't be split: one shard reads all of it (convert it to Arrow to split it)\n`);
    if (result.incomplete) process.stderr.write(`plan: ${result.complete!.length} of ${shards} shard outputs in ${args.outdir} are complete; ${result.incomplete.length} to run${result.incomplete.length > 0 ? `: ${result.incomplete.slice(0, 10).map((s) => s.shard).join(', ')}${result.incomplete.length > 10 ? ', …' : ''}` : ''}\n`);
  }
  return result;
}

export const planCommand: CommandModule<object, PlanArgs> = {
  command: 'plan <inputs..>',
  describe: 'Describe a dataset from its metadata (files, rows, bytes) and how classify --shard splits it; with --outdir, which shard outputs are complete',
  builder: (y) =>
    y
      .positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'Spectra: files, folders, globs or @list.txt, as classify takes them' })
      .option('shards', { type: 'number', describe: 'Number of shards (default: rows / --rows-per-shard)' })
      .option('rows-per-shard', { type: 'number', describe: 'Rows per shard when --shards is not given (CSV: estimated rows). Default 100000' })
      .option('outdir', { type: 'string', describe: 'Folder of shard outputs pred.<i>.csv: report which are complete (as classify --resume checks them)' })
      .option('list-out', { type: 'string', describe: 'Write the dataset\'s files as a list for @list (absolute paths, chunk folders as folders, each with its size and modification time: the list fails to read once a file has changed)' })
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object on stdout' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No summary on stderr' }) as never,
  handler: async (args) => {
    await planHandler(args);
  },
};
