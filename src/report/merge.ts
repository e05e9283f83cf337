/**
 * Joins the prediction shards of a split `astrospec classify` run (one file per Slurm array
 * task) into one file, checking that together they cover rows 0 … R−1 exactly once. Shards are
 * streamed line by line, so a 20-million-row catalogue needs no more memory than one line.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { AstrospecError } from '../errors.js';
import { temporaryPath } from '../io/columns.js';
import { releasePartial } from '../io/partial-files.js';
import { parseRowIndex, splitCsvLine, textLines } from './predictions-csv.js';

export interface ShardSummary {
  file: string;
  /** First and last `row` in the shard; undefined for a shard with a header only. */
  firstRow?: number;
  lastRow?: number;
  rows: number;
}

export interface MergeResult {
  output: string;
  rows: number;
  /** Shards in the order they were written. */
  shards: ShardSummary[];
}

export interface MergeOptions {
  /** Rows the input had: the merged file must hold exactly rows 0 … rows−1. */
  rows?: number;
  /** Called after each shard, e.g. for a progress bar. */
  onShard?: (shard: ShardSummary) => void;
}

interface ShardHead {
  file: string;
  header: string;
  rowColumn: number;
  firstRow?: number;
}

async function readShardHead(file: string): Promise<ShardHead> {
  let header: string | undefined;
  for await (const line of textLines(file)) {
    if (header === undefined) {
      header = line.replace(/^\uFEFF/, '');
      continue;
    }
    const rowColumn = headerRowColumn(file, header);
    return { file, header, rowColumn, firstRow: parseRowIndex(splitCsvLine(line, { file, row: 1 })[rowColumn] ?? '', { file, row: 1 }) };
  }
  if (header === undefined) throw new AstrospecError('BAD_INPUT', 'empty file: a predictions shard needs at least its header line', { file });
  return { file, header, rowColumn: headerRowColumn(file, header) };
}

function headerRowColumn(file: string, header: string): number {
  const names = splitCsvLine(header, { file }).map((n) => n.trim());
  const index = names.indexOf('row');
  if (index < 0) throw new AstrospecError('BAD_INPUT', `the header has no "row" column (columns: ${names.join(', ')}); is this a predictions file from astrospec classify?`, { file });
  return index;
}

function describeRange(first: number, last: number): string {
  return first === last ? `row ${first}` : `rows ${first}–${last}`;
}

/**
 * Concatenates CSV prediction shards in the order of their first `row` into `output`
 * (written to a temporary name beside it and renamed when complete). Throws BAD_INPUT naming
 * the file and row when a row is missing, repeated or beyond `options.rows`.
 */
export async function mergePredictionShards(files: string[], output: string, options: MergeOptions = {}): Promise<MergeResult> {
  if (files.length === 0) throw new AstrospecError('BAD_ARGUMENT', 'merge needs at least one predictions shard');
  if (options.rows !== undefined && (!Number.isSafeInteger(options.rows) || options.rows < 0)) {
    throw new AstrospecError('BAD_ARGUMENT', `--rows must be a non-negative integer, got ${options.rows}`);
  }
  for (const file of [...files, output]) {
    if (!file.toLowerCase().endsWith('.csv')) throw new AstrospecError('BAD_ARGUMENT', `${file}: merge joins CSV prediction files (classify -o pred.<i>.csv) into a CSV`);
  }
  const seen = new Set<string>();
  for (const file of files) {
    if (seen.has(file)) throw new AstrospecError('BAD_ARGUMENT', `shard ${file} is named twice`);
    seen.add(file);
  }
  const heads = await Promise.all(files.map(readShardHead));
  const header = heads[0]!.header;
  for (const head of heads) {
    if (head.header !== header) {
      throw new AstrospecError('BAD_INPUT', `header "${head.header}" differs from "${header}" in ${heads[0]!.file}; shards must come from the same classify run`, { file: head.file });
    }
  }
  // Header-only shards (more tasks than rows) contribute nothing; the others go in order of their first row.
  const ordered = heads.filter((h) => h.firstRow !== undefined).sort((a, b) => a.firstRow! - b.firstRow!);
  for (let i = 1; i < ordered.length; i++) {
    if (ordered[i]!.firstRow === ordered[i - 1]!.firstRow) {
      throw new AstrospecError('BAD_INPUT', `starts at row ${ordered[i]!.firstRow}, as does ${ordered[i - 1]!.file}: the same rows are in two shards`, { file: ordered[i]!.file, row: 1, column: 'row' });
    }
  }

  const temporary = temporaryPath(output); // registered: a signal removes it (src/cli/interrupt.ts)
  const sink = createWriteStream(temporary, { encoding: 'utf8' });
  const sinkError = new Promise<never>((_, reject) => sink.once('error', reject));
  sinkError.catch(() => undefined);
  const write = async (text: string) => {
    if (!sink.write(text)) await Promise.race([once(sink, 'drain'), sinkError]);
  };
  const summaries: ShardSummary[] = [];
  let expected = 0;
  try {
    await write(`${header}\n`);
    let previous: ShardSummary | undefined;
    for (const head of ordered) {
      const summary: ShardSummary = { file: head.file, rows: 0 };
      let lineNumber = -1;
      let chunk = '';
      for await (const line of textLines(head.file)) {
        lineNumber++;
        if (lineNumber === 0) continue;
        const where = { file: head.file, row: lineNumber };
        if (line.length === 0) throw new AstrospecError('BAD_INPUT', 'empty line inside the shard', where);
        const row = parseRowIndex(splitCsvLine(line, where)[head.rowColumn] ?? '', where);
        if (row !== expected) {
          if (row > expected) {
            const after = summary.rows > 0 ? `after row ${expected - 1} of this shard` : previous ? `between ${previous.file} (ends at row ${previous.lastRow}) and this shard` : 'before this shard, the first';
            throw new AstrospecError('BAD_INPUT', `row ${row} found where row ${expected} was expected: ${describeRange(expected, row - 1)} missing ${after}`, { ...where, column: 'row' });
          }
          const holder = summary.rows > 0 && row >= summary.firstRow! ? 'earlier in this shard' : `in ${summaries.find((s) => s.firstRow! <= row && row <= s.lastRow!)?.file ?? 'an earlier shard'}`;
          throw new AstrospecError('BAD_INPUT', `row ${row} repeated: it is already ${holder} (expected row ${expected} here)`, { ...where, column: 'row' });
        }
        if (options.rows !== undefined && row >= options.rows) {
          throw new AstrospecError('BAD_INPUT', `row ${row} is beyond the input, which has ${options.rows} rows (0–${options.rows - 1})`, { ...where, column: 'row' });
        }
        summary.firstRow ??= row;
        summary.lastRow = row;
        summary.rows++;
        expected++;
        chunk += `${line}\n`;
        if (chunk.length >= 1 << 16) {
          await write(chunk);
          chunk = '';
        }
      }
      if (chunk.length > 0) await write(chunk);
      summaries.push(summary);
      previous = summary;
      options.onShard?.(summary);
    }
    if (options.rows !== undefined && expected < options.rows) {
      const last = previous ? `the last shard, ${previous.file}, ends at row ${previous.lastRow}` : 'the shards hold no rows';
      throw new AstrospecError('BAD_INPUT', `${describeRange(expected, options.rows - 1)} of ${options.rows} missing: ${last}`, previous ? { file: previous.file } : {});
    }
    sink.end();
    await Promise.race([once(sink, 'finish'), sinkError]);
    await rename(temporary, output);
    releasePartial(temporary);
  } catch (error) {
    sink.destroy();
    await rm(temporary, { force: true });
    releasePartial(temporary);
    throw error;
  }
  for (const head of heads) if (head.firstRow === undefined) summaries.push({ file: head.file, rows: 0 });
  return { output, rows: expected, shards: summaries };
}
