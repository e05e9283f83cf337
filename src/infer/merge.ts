/**
 * Joins the prediction shards of a split `astrospec classify` run (one file per Slurm array
 * task) into one file, checking that together they cover rows 0 … R−1 exactly once. Shards are
 * streamed line by line, so a 20-million-row catalogue needs no more memory than one line.
 *
 * Shards of a CSV input number their rows within the shard (src/infer/shard-output.ts): they are
 * joined in shard order, all N of them from the same dataset, each complete, and their rows are
 * numbered globally here. Ordinary shards are joined in the order of their first row.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { AstrospecError } from '../errors.js';
import { splitCsvLine, textLines } from '../io/csv-lines.js';
import { commitPartial, discardPartial, temporaryPath } from '../io/partial-files.js';
import { parseRowIndex } from './predictions-csv.js';
import { parseShardEnd, parseShardHead, SHARD_LINE_PREFIX, type ShardIdentity } from './shard-output.js';

export interface ShardSummary {
  file: string;
  /** First and last `row` in the shard (numbered globally); undefined for a shard with a header only. */
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
  /** Shards numbered within themselves must come from the dataset with this fingerprint (src/io/dataset.ts). */
  fingerprint?: string;
  /** Called after each shard, e.g. for a progress bar. */
  onShard?: (shard: ShardSummary) => void;
}

interface ShardHead {
  file: string;
  header: string;
  rowColumn: number;
  firstRow?: number;
  /** A shard whose rows are numbered within it: which one, of which dataset. */
  local?: ShardIdentity;
}

async function readShardHead(file: string): Promise<ShardHead> {
  let header: string | undefined;
  let local: ShardIdentity | undefined;
  let lineNumber = 0;
  for await (const line of textLines(file)) {
    lineNumber++;
    if (lineNumber === 1 && line.startsWith(SHARD_LINE_PREFIX)) {
      local = parseShardHead(line);
      if (!local) throw new AstrospecError('BAD_INPUT', 'the first line starts like a shard head line but is not one', { file, row: 0 });
      continue;
    }
    if (header === undefined) {
      header = line.replace(/^\uFEFF/, '');
      continue;
    }
    const rowColumn = headerRowColumn(file, header);
    // A local shard's first line after the header may be its end line (no rows).
    if (local && line.startsWith(SHARD_LINE_PREFIX)) return { file, header, rowColumn, local };
    const firstRow = parseRowIndex(splitCsvLine(line, { file, row: 1 })[rowColumn] ?? '', { file, row: 1 });
    return { file, header, rowColumn, firstRow, local };
  }
  if (header === undefined) throw new AstrospecError('BAD_INPUT', 'empty file: a predictions shard needs at least its header line', { file });
  return { file, header, rowColumn: headerRowColumn(file, header), local };
}

/** Local shards: all N of one split of one dataset, in shard order. */
function orderLocalShards(heads: ShardHead[], options: MergeOptions): ShardHead[] {
  const first = heads[0]!;
  const { count, fingerprint } = first.local!;
  const byIndex = new Map<number, ShardHead>();
  for (const head of heads) {
    const id = head.local;
    if (!id) throw new AstrospecError('BAD_INPUT', `is an ordinary predictions file, but ${first.file} is a shard numbered within itself (CSV input): shards must come from one classify run`, { file: head.file });
    if (id.count !== count) throw new AstrospecError('BAD_INPUT', `is shard ${id.index}/${id.count}, but ${first.file} is one of ${count}: shards must come from one split`, { file: head.file });
    if (id.fingerprint !== fingerprint) throw new AstrospecError('BAD_INPUT', `comes from dataset ${id.fingerprint}, ${first.file} from ${fingerprint}: shards of different inputs (or of an input that changed) can't be joined`, { file: head.file });
    const other = byIndex.get(id.index);
    if (other) throw new AstrospecError('BAD_INPUT', `is shard ${id.index}/${count}, as is ${other.file}: the same rows are in two shards`, { file: head.file });
    byIndex.set(id.index, head);
  }
  if (options.fingerprint !== undefined && options.fingerprint !== fingerprint) {
    throw new AstrospecError('BAD_INPUT', `comes from dataset ${fingerprint}, but the input given is ${options.fingerprint}: it is another input, or its files changed after classify listed them`, { file: first.file });
  }
  const missing: number[] = [];
  for (let i = 0; i < count; i++) if (!byIndex.has(i)) missing.push(i);
  if (missing.length > 0) {
    const list = missing.length > 8 ? `${missing.slice(0, 8).join(', ')}, … (${missing.length} in all)` : missing.join(', ');
    throw new AstrospecError('BAD_INPUT', `shard${missing.length > 1 ? 's' : ''} ${list} of ${count} missing: the shards given are ${heads.length} of the ${count} this split has`, { file: first.file });
  }
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, head]) => head);
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
  const local = heads.some((h) => h.local !== undefined);
  if (local && heads[0]!.rowColumn !== 0) throw new AstrospecError('BAD_INPUT', '"row" is not the first column: not a shard astrospec classify wrote', { file: heads[0]!.file });
  // Header-only shards (more tasks than rows) contribute nothing; the others go in order of their
  // first row, or, numbered within themselves, in shard order.
  const ordered = local ? orderLocalShards(heads, options) : heads.filter((h) => h.firstRow !== undefined).sort((a, b) => a.firstRow! - b.firstRow!);
  for (let i = 1; i < ordered.length && !local; i++) {
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
      // Lines before the first data row: the header, and a local shard's head line.
      const skip = head.local ? 2 : 1;
      const offset = expected;
      let ended: number | undefined;
      let lineNumber = 0;
      let chunk = '';
      for await (const rawLine of textLines(head.file)) {
        lineNumber++;
        if (lineNumber <= skip) continue;
        const where = { file: head.file, row: lineNumber - skip };
        if (ended !== undefined) throw new AstrospecError('BAD_INPUT', 'a line after the shard\'s end line', where);
        let line = rawLine;
        if (head.local && line.startsWith(SHARD_LINE_PREFIX)) {
          const end = parseShardEnd(line);
          if (!end || end.index !== head.local.index || end.count !== head.local.count) throw new AstrospecError('BAD_INPUT', 'not this shard\'s end line', where);
          if (end.rows !== summary.rows) throw new AstrospecError('BAD_INPUT', `the end line says ${end.rows} rows, the shard holds ${summary.rows}`, where);
          ended = end.rows;
          continue;
        }
        if (line.length === 0) throw new AstrospecError('BAD_INPUT', 'empty line inside the shard', where);
        let row = parseRowIndex(splitCsvLine(line, where)[head.rowColumn] ?? '', where);
        if (head.local) {
          // Rows numbered within the shard: 0, 1, … here, then offset by the rows of the shards before.
          if (row !== summary.rows) throw new AstrospecError('BAD_INPUT', `row ${row} of the shard found where row ${summary.rows} was expected: its rows must run 0, 1, … within it`, { ...where, column: 'row' });
          row += offset;
          line = `${row}${line.slice(line.indexOf(','))}`;
        }
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
      if (head.local && ended === undefined) {
        throw new AstrospecError('TRUNCATED', 'no end line: the shard was cut short (classify it again, e.g. with --resume, which redoes incomplete shards)', { file: head.file });
      }
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
    await commitPartial(temporary, output);
  } catch (error) {
    sink.destroy();
    await discardPartial(temporary);
    throw error;
  }
  if (!local) for (const head of heads) if (head.firstRow === undefined) summaries.push({ file: head.file, rows: 0 });
  return { output, rows: expected, shards: summaries };
}
