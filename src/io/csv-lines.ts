/**
 * Line-level CSV for the small text tables astrospec reads besides spectra (predictions, labels):
 * RFC 4180 cells split per line (a quoted cell may contain commas and "", but no line break), and
 * a file's lines streamed without their line ends. No CSV library: the runtime dependencies have
 * none, and these header + rows formats need no more.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { AstrospecError } from '../errors.js';

/** Splits one CSV line into cells (RFC 4180 quoting; a quoted cell may contain commas and ""). */
export function splitCsvLine(line: string, where: { file: string; row?: number }): string[] {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let cell = '';
      i++;
      for (;;) {
        const close = line.indexOf('"', i);
        if (close < 0) throw new AstrospecError('BAD_INPUT', `unterminated quoted cell ${cells.length + 1}`, where);
        cell += line.slice(i, close);
        if (line[close + 1] === '"') {
          cell += '"';
          i = close + 2;
        } else {
          i = close + 1;
          break;
        }
      }
      cells.push(cell);
      if (i === line.length) return cells;
      if (line[i] !== ',') throw new AstrospecError('BAD_INPUT', `text after the closing quote of cell ${cells.length}`, where);
      i++;
    } else {
      const comma = line.indexOf(',', i);
      if (comma < 0) {
        cells.push(line.slice(i));
        return cells;
      }
      cells.push(line.slice(i, comma));
      i = comma + 1;
    }
  }
}

/** Lines of a text file without their line ends (CRLF or LF), skipping a final empty line. */
export async function* textLines(path: string): AsyncGenerator<string> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  try {
    for await (const line of lines) yield line;
  } finally {
    lines.close();
  }
}
