/**
 * One entry point for writing spectra: CSV (optionally gzip-compressed) or Arrow IPC / Feather v2.
 * Every sink writes to a temporary name in the output's directory and renames it on close(), so a
 * failed or interrupted run never leaves a complete-looking file; abort() removes the temporary.
 */
import { AstrospecError } from '../errors.js';
import type { SpectraSink, WriteOptions } from './types.js';

export type { SpectraSink, WriteOptions } from './types.js';
export type SinkFormat = 'csv' | 'arrow';

export function sinkFormatOfPath(path: string): SinkFormat | undefined {
  const p = path.toLowerCase();
  if (p.endsWith('.csv') || p.endsWith('.csv.gz')) return 'csv';
  if (p.endsWith('.arrow') || p.endsWith('.feather') || p.endsWith('.ipc')) return 'arrow';
  return undefined;
}

export async function createSpectraSink(path: string, options: WriteOptions & { format?: SinkFormat }): Promise<SpectraSink> {
  const format = options.format ?? sinkFormatOfPath(path);
  if (!format) {
    throw new AstrospecError('BAD_ARGUMENT', 'unknown output format: name the file .csv, .csv.gz, .arrow, .feather or .ipc (or pass format)', { file: path });
  }
  if (format === 'csv') return (await import('./csv.js')).createCsvSink(path, options);
  return (await import('./arrow.js')).createArrowSink(path, options);
}
