import type { CommandModule } from 'yargs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AstrospecError } from '../../errors.js';
import { sliceRows, type SpectrumBatch } from '../../io/batch.js';
import { readLabelsCsv, withLabels } from '../../io/labels.js';
import { MANIFEST_NAME, manifestJson, type ManifestEntry } from '../../io/manifest.js';
import { openSpectra } from '../../io/open.js';
import { commitPartial, discardPartial, temporaryPath, writeFileAtomic } from '../../io/partial-files.js';
import { createSpectraSink, sinkFormatOfPath } from '../../io/sink.js';
import type { SpectraSink, SpectraSource } from '../../io/types.js';
import { createProgress, type Progress } from '../progress.js';

export interface ConvertArgs {
  inputs: string[];
  output: string;
  batchSize?: number;
  threads?: number;
  /** Labels CSV joined by file name or id (src/io/labels.ts); its classes replace the input's. */
  labels?: string;
  /** Write a folder of Arrow chunks of this many rows with a manifest, instead of one file. */
  chunkRows?: number;
  quiet?: boolean;
}

export interface ConvertResult {
  output: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  megabytesPerSecond: number;
}

/** Copies every row of the inputs to the output (format from its extension), row for row. */
export async function convertHandler(args: ConvertArgs): Promise<ConvertResult> {
  if (args.inputs.length === 0) throw new AstrospecError('BAD_ARGUMENT', 'convert: give at least one input');
  if (args.chunkRows !== undefined) {
    if (!Number.isSafeInteger(args.chunkRows) || args.chunkRows < 1) throw new AstrospecError('BAD_ARGUMENT', `convert: --chunk-rows must be a positive integer, got ${args.chunkRows}`);
    if (sinkFormatOfPath(args.output)) throw new AstrospecError('BAD_ARGUMENT', `convert --chunk-rows writes a folder of Arrow chunks: name a folder, not a file (${args.output})`);
  } else if (!sinkFormatOfPath(args.output)) {
    throw new AstrospecError('BAD_ARGUMENT', `convert: output must end in .csv, .csv.gz, .arrow, .feather or .ipc: ${args.output}`);
  }
  const labels = args.labels !== undefined ? await readLabelsCsv(args.labels) : undefined;
  const input = args.inputs.length === 1 ? args.inputs[0]! : args.inputs;
  let source = await openSpectra(input, { batchSize: args.batchSize, threads: args.threads });
  let sink: SpectraSink | undefined;
  try {
    if (labels) source = await withLabels(source, labels, input);
    // A total for the bar only when it is free: CSV would need an extra pass over the file.
    const total = source.rowCount;
    const progress = createProgress('convert', total, { quiet: args.quiet });
    let written: number;
    if (args.chunkRows !== undefined) written = await writeChunkFolder(source, args.output, args.chunkRows, progress);
    else {
      // Extra and tag columns travel on the batches; the sink takes its columns from the first one.
      sink = await createSpectraSink(args.output, { grid: source.grid, hasLabels: source.hasLabels });
      for await (const batch of source.batches()) {
        await sink.write(batch);
        progress.tick(batch.ids.length);
      }
      await sink.close();
      written = sink.rowsWritten;
    }
    const stats = { ...progress.stop() };
    // The whole input has been read once, so its size over the time is the input rate.
    stats.megabytesPerSecond = source.byteLength / 1e6 / Math.max(stats.seconds, 1e-9);
    if (stats.rows !== written) {
      throw new AstrospecError('IO', `read ${stats.rows} rows but wrote ${written}`, { file: args.output });
    }
    if (!args.quiet) {
      process.stderr.write(
        `converted ${stats.rows} spectra → ${args.output} in ${stats.seconds.toFixed(2)} s (${stats.rowsPerSecond.toFixed(0)} spectra/s, ${stats.megabytesPerSecond.toFixed(1)} MB/s of input)\n`,
      );
    }
    return { output: args.output, rows: stats.rows, seconds: stats.seconds, rowsPerSecond: stats.rowsPerSecond, megabytesPerSecond: stats.megabytesPerSecond };
  } catch (error) {
    await sink?.abort();
    throw error;
  } finally {
    await source.close();
  }
}

const chunkName = (k: number) => `chunk-${String(k).padStart(6, '0')}.arrow`;

/**
 * Writes the source as a folder of Arrow chunks of `chunkRows` rows (the last may be shorter) and
 * astrospec-manifest.json (src/io/manifest.ts), all into a temporary folder renamed into place
 * at the end: a failed or interrupted run leaves no folder that looks complete. An existing
 * chunk folder (one with a manifest) is replaced; any other existing output is refused.
 */
async function writeChunkFolder(source: SpectraSource, output: string, chunkRows: number, progress: Progress): Promise<number> {
  const existing = await stat(output).catch(() => undefined);
  if (existing) {
    const replaceable = existing.isDirectory() && ((await readdir(output)).length === 0 || (await stat(join(output, MANIFEST_NAME)).then(() => true, () => false)));
    if (!replaceable) throw new AstrospecError('BAD_ARGUMENT', `convert --chunk-rows: ${output} exists and is not a chunk folder (no ${MANIFEST_NAME}); remove it or name another folder`);
  }
  const temporary = temporaryPath(output);
  await mkdir(temporary);
  const entries: ManifestEntry[] = [];
  let sink: SpectraSink | undefined;
  let inChunk = 0;
  let rows = 0;
  const finishChunk = async () => {
    await sink!.close();
    const file = chunkName(entries.length);
    entries.push({ file, rows: inChunk, bytes: (await stat(join(temporary, file))).size });
    sink = undefined;
    inChunk = 0;
  };
  try {
    const write = async (batch: SpectrumBatch) => {
      sink ??= await createSpectraSink(join(temporary, chunkName(entries.length)), { grid: source.grid, hasLabels: source.hasLabels, format: 'arrow' });
      await sink.write(batch);
      inChunk += batch.ids.length;
      rows += batch.ids.length;
      if (inChunk === chunkRows) await finishChunk();
    };
    for await (const batch of source.batches()) {
      const n = batch.ids.length;
      for (let at = 0; at < n; ) {
        const take = Math.min(n - at, chunkRows - inChunk);
        await write(at === 0 && take === n ? batch : sliceRows(batch, at, at + take));
        at += take;
      }
      progress.tick(n);
    }
    // An empty input still gets one (empty) chunk: a dataset has at least one file.
    if (sink || entries.length === 0) {
      sink ??= await createSpectraSink(join(temporary, chunkName(entries.length)), { grid: source.grid, hasLabels: source.hasLabels, format: 'arrow' });
      await finishChunk();
    }
    await writeFileAtomic(join(temporary, MANIFEST_NAME), manifestJson({ grid: source.grid, hasLabels: source.hasLabels, rows, files: entries }));
    if (existing) {
      // The old folder moves aside (registered: a signal removes it), the new one takes its name.
      const old = temporaryPath(output);
      await commitPartial(output, old);
      await commitPartial(temporary, output);
      await discardPartial(old);
    } else await commitPartial(temporary, output);
  } catch (error) {
    await sink?.abort();
    await discardPartial(temporary);
    throw error;
  }
  return rows;
}

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: 'convert <inputs..>',
  describe: 'Convert spectra between CSV (.csv, .csv.gz), Arrow/Feather and FITS folders (input only)',
  builder: (y) =>
    y
      .positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'Input files (.csv, .csv.gz, .arrow, .feather, .ipc, .fits), folders, globs or @list.txt, read in order as one input' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'Output file: .csv, .csv.gz, .arrow, .feather or .ipc; with --chunk-rows, a folder' })
      .option('chunk-rows', { type: 'number', describe: 'Write a folder of Arrow chunks of this many rows each, with astrospec-manifest.json (files, row counts, grid), which classify --shard splits without opening other chunks' })
      .option('batch-size', { type: 'number', describe: 'Rows per batch (default 1024)' })
      .option('threads', { type: 'number', describe: 'Native parser threads (default: all cores)' })
      .option('labels', { type: 'string', describe: 'Labels CSV (file or id column, class or label column) joined by file name or id; its classes replace the input\'s' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No progress bar or summary line' }) as never,
  handler: async (args) => {
    await convertHandler(args);
  },
};
