/**
 * The one error type astrospec throws. `code` is stable and machine-readable; the message
 * names the file, row and column where the input is at fault.
 */
export type ErrorCode =
  | 'BAD_ARGUMENT' // an option or argument is out of range or of the wrong type
  | 'BAD_INPUT' // a file's content is malformed (ragged row, non-numeric cell, bad label, ...)
  | 'UNSUPPORTED' // a valid file we can't read (unknown codec, FITS layout, ...)
  | 'TRUNCATED' // a file ends early
  | 'IO' // the file system said no
  | 'NATIVE' // the addon failed or is missing
  | 'MODEL' // a model doesn't fit the data or can't be loaded
  | 'INTERRUPTED'; // the user stopped the command

export interface ErrorLocation {
  file?: string;
  /** 1-based data row (header excluded) for tabular files, or the spectrum index for FITS. */
  row?: number;
  /** Column name (e.g. `FE17`) or 1-based column number. */
  column?: string | number;
  /**
   * File offset of the line at fault, when its row number isn't known: a shard of a CSV file
   * reads from the middle and can't know how many rows came before it.
   */
  byte?: number;
}

export class AstrospecError extends Error {
  readonly code: ErrorCode;
  readonly file?: string;
  readonly row?: number;
  readonly column?: string | number;
  readonly byte?: number;

  constructor(code: ErrorCode, message: string, where: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(formatMessage(message, where), options);
    this.name = 'AstrospecError';
    this.code = code;
    this.file = where.file;
    this.row = where.row;
    this.column = where.column;
    this.byte = where.byte;
  }
}

function formatMessage(message: string, where: ErrorLocation): string {
  const parts: string[] = [];
  if (where.file !== undefined) parts.push(where.file);
  if (where.row !== undefined) parts.push(`row ${where.row}`);
  else if (where.byte !== undefined) parts.push(`line at byte ${where.byte}`);
  // A column name comes from the file, and a damaged file can make it megabytes long.
  if (where.column !== undefined) parts.push(`column ${excerpt(String(where.column), 80)}`);
  return parts.length > 0 ? `${parts.join(', ')}: ${message}` : message;
}

/**
 * `text` cut to at most `max` characters (with … when cut). Error messages quote cells, headers and
 * names from the input; one line of a hostile file can be many megabytes, and a message that
 * echoes it whole buries the point and can exhaust a log.
 */
export function excerpt(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** Throws BAD_ARGUMENT unless `condition` holds; the TS side owns argument validation. */
export function check(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new AstrospecError('BAD_ARGUMENT', typeof message === 'string' ? message : message());
}
