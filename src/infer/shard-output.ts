/**
 * The predictions file of one shard, and whether one on disk is complete (`classify --resume`,
 * `astrospec plan --outdir`, scripts/slurm/submit.sh --resume).
 *
 * A shard of a "rows" split (Arrow, FITS, chunk folders: src/io/dataset.ts) writes the ordinary
 * predictions CSV, its `row`s the global rows [begin, end). A shard of a "bytes" split (CSV
 * input) can't know how many rows the shards before it hold, so its rows are numbered from 0
 * within the shard, and the file says so on its first and last lines:
 *
 *   # astrospec shard 3/8 of dataset 1f0e…c2 (bytes 1500000000–2000000000 of 4000000000): rows numbered within the shard; astrospec merge numbers them
 *   row,id,predicted,p_star,p_galaxy,p_qso,status
 *   0,…
 *   # astrospec shard 3/8 end: 41234 rows
 *
 * `astrospec merge` checks that all N shards of the same dataset are there, each complete (the end
 * line is written last, when the file is finished), and numbers their rows globally. Readers of
 * ordinary predictions refuse such a file with a message saying to merge it first.
 */
import { open } from 'node:fs/promises';
import { AstrospecError } from '../errors.js';
import { splitCsvLine, textLines } from '../io/csv-lines.js';
import type { SourceSlice } from '../io/types.js';
import { predictionHeader } from './predictions-csv.js';

export const SHARD_LINE_PREFIX = '# astrospec shard ';

export interface ShardIdentity {
  index: number;
  count: number;
  fingerprint: string;
}

export function shardHeadLine(slice: SourceSlice): string {
  const [from, to] = slice.bytes ?? [0, 0];
  return `${SHARD_LINE_PREFIX}${slice.shard.index}/${slice.shard.count} of dataset ${slice.fingerprint} (bytes ${from}–${to} of ${slice.totalBytes}): rows numbered within the shard; astrospec merge numbers them`;
}

export function shardEndLine(shard: { index: number; count: number }, rows: number): string {
  return `${SHARD_LINE_PREFIX}${shard.index}/${shard.count} end: ${rows} rows`;
}

const HEAD = /^# astrospec shard (\d+)\/(\d+) of dataset ([0-9a-f]+) /;
const END = /^# astrospec shard (\d+)\/(\d+) end: (\d+) rows$/;

export function parseShardHead(line: string): ShardIdentity | undefined {
  const m = HEAD.exec(line);
  return m ? { index: Number(m[1]), count: Number(m[2]), fingerprint: m[3]! } : undefined;
}

export function parseShardEnd(line: string): { index: number; count: number; rows: number } | undefined {
  const m = END.exec(line);
  return m ? { index: Number(m[1]), count: Number(m[2]), rows: Number(m[3]) } : undefined;
}

/** What a complete output of a shard holds. */
export type ShardExpectation =
  | { split: 'rows'; begin: number; end: number }
  | { split: 'bytes'; index: number; count: number; fingerprint: string };

export function expectationOf(slice: SourceSlice, limit?: number): ShardExpectation {
  if (slice.split === 'rows') {
    const end = limit !== undefined ? Math.min(slice.end!, slice.begin! + limit) : slice.end!;
    return { split: 'rows', begin: slice.begin!, end };
  }
  return { split: 'bytes', index: slice.shard.index, count: slice.shard.count, fingerprint: slice.fingerprint! };
}

export type ShardOutputCheck =
  | { complete: true; rows: number; statusCounts: Record<string, number> }
  | { complete: false; reason: string };

/** Whether the file's last byte is a line end (a file cut off mid-line is not a finished output). */
export async function endsWithNewline(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size === 0) return false;
    const last = Buffer.alloc(1);
    await fh.read(last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } finally {
    await fh.close();
  }
}

/**
 * Whether `file` is the complete output of a shard: the predictions header, then exactly the
 * expected rows in order (a "rows" split: begin … end−1; a "bytes" split: 0 … n−1 between the
 * shard's own head and end lines, n as the end line says), every line ended. Reads the whole file
 * (~55 bytes per row). Never throws for a damaged file: that is an incomplete one.
 */
export async function checkShardOutput(file: string, expect: ShardExpectation): Promise<ShardOutputCheck> {
  const exists = await open(file, 'r').then(
    async (fh) => {
      await fh.close();
      return true;
    },
    () => false,
  );
  if (!exists) return { complete: false, reason: 'no output yet' };
  const statusCounts: Record<string, number> = {};
  // With a model that has an OOD score or a redshift head, their columns follow the others.
  const headers = [{}, { oodScore: true }, { redshift: true }, { oodScore: true, redshift: true }].map((c) => predictionHeader(c).join(','));
  let columns = headers[0]!.split(',').length;
  let lineNumber = 0;
  let rows = 0;
  let ended: number | undefined;
  let state: 'head' | 'header' | 'rows' | 'after' = expect.split === 'bytes' ? 'head' : 'header';
  try {
    for await (const line of textLines(file)) {
      lineNumber++;
      if (state === 'head' && expect.split === 'bytes') {
        const head = parseShardHead(line);
        if (!head) return { complete: false, reason: 'line 1 is not a shard head line' };
        if (head.index !== expect.index || head.count !== expect.count) return { complete: false, reason: `it is shard ${head.index}/${head.count}` };
        if (head.fingerprint !== expect.fingerprint) return { complete: false, reason: `it is from another dataset (or the input changed): fingerprint ${head.fingerprint}, now ${expect.fingerprint}` };
        state = 'header';
        continue;
      }
      if (state === 'header') {
        const at = headers.indexOf(line);
        if (at < 0) return { complete: false, reason: `line ${lineNumber} is not the predictions header` };
        columns = headers[at]!.split(',').length;
        state = 'rows';
        continue;
      }
      if (state === 'after') return { complete: false, reason: `line ${lineNumber} follows the end line` };
      if (expect.split === 'bytes' && line.startsWith(SHARD_LINE_PREFIX)) {
        const end = parseShardEnd(line);
        if (!end || end.index !== expect.index || end.count !== expect.count) return { complete: false, reason: `line ${lineNumber} is not this shard's end line` };
        ended = end.rows;
        state = 'after';
        continue;
      }
      const cells = splitCsvLine(line, { file, row: lineNumber });
      const want = expect.split === 'rows' ? expect.begin + rows : rows;
      if (cells[0] !== String(want)) return { complete: false, reason: `line ${lineNumber} holds row ${cells[0]}, expected ${want}` };
      if (cells.length !== columns) return { complete: false, reason: `line ${lineNumber} has ${cells.length} cells` };
      const status = cells[6]!;
      statusCounts[status] = (statusCounts[status] ?? 0) + 1;
      rows++;
    }
  } catch (error) {
    return { complete: false, reason: (error as Error).message };
  }
  if (state === 'head' || state === 'header') return { complete: false, reason: 'no predictions header' };
  if (!(await endsWithNewline(file))) return { complete: false, reason: 'the last line has no line end (cut short)' };
  if (expect.split === 'rows') {
    if (rows !== expect.end - expect.begin) return { complete: false, reason: `${rows} rows, expected ${expect.end - expect.begin} (rows ${expect.begin}–${expect.end - 1})` };
  } else {
    if (ended === undefined) return { complete: false, reason: 'no end line (cut short)' };
    if (ended !== rows) return { complete: false, reason: `the end line says ${ended} rows, the file holds ${rows}` };
  }
  return { complete: true, rows, statusCounts };
}

/** A clear error for reading a "bytes"-split shard as if it were ordinary predictions. */
export function shardLocalError(file: string): AstrospecError {
  return new AstrospecError(
    'BAD_INPUT',
    'is one shard of a split CSV input, whose rows are numbered within the shard: join the shards with astrospec merge first',
    { file, row: 0 },
  );
}
