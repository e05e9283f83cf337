/**
 * The page's inputs: one or more dropped files (Blobs with names) read as one stream of spectrum
 * batches, with the format taken from the name as src/io/open.ts does. FITS files are one spectrum
 * each; CSV (.csv, .csv.gz) and Arrow files are read one after another as one table, rows numbered
 * across files; FITS and tabular files can't be mixed (./inputs.ts checks that up front).
 */
import { AstrospecError } from '../../src/errors.js';
import type { SpectrumBatch, WavelengthGrid } from '../../src/io/batch.js';
import { readArrowBatches, type BlobLike } from './arrow.js';
import { readCsvBatches } from './csv.js';
import { readFitsBatches } from './fits.js';
import { formatOfName, type WebFormat } from './inputs.js';

export { checkInputs, formatOfName, MAX_INPUT_BYTES, type WebFormat } from './inputs.js';

export interface InputFile {
  name: string;
  blob: BlobLike & { stream(): ReadableStream<Uint8Array> };
}

/** A ReadableStream as an async iterable of its chunks, each reported to `onBytes` (works where streams aren't iterable yet). */
async function* chunksOf(stream: ReadableStream<Uint8Array>, file: string, gzip: boolean): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      let next: { done?: boolean; value?: Uint8Array };
      try {
        next = await reader.read();
      } catch (error) {
        if (!gzip) throw new AstrospecError('IO', (error as Error)?.message ?? String(error), { file }, { cause: error });
        throw new AstrospecError('BAD_INPUT', `gzip stream: ${(error as Error)?.message ?? String(error)}`, { file }, { cause: error });
      }
      if (next.done || next.value === undefined) return;
      yield next.value;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** The bytes of a file as it is read (before decompression), for progress. */
function countedStream(blob: InputFile['blob'], onBytes: (n: number) => void): ReadableStream<Uint8Array> {
  return blob.stream().pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        onBytes(chunk.length);
        controller.enqueue(chunk);
      },
    }),
  );
}

export interface OpenOptions {
  grid?: WavelengthGrid;
  batchSize?: number;
  /** Called with each number of input bytes read. */
  onBytes?: (n: number) => void;
}

/** All the files' spectra in order, as one stream of batches (rows numbered across files). */
export async function* readInputBatches(files: readonly InputFile[], format: WebFormat, options: OpenOptions = {}): AsyncGenerator<SpectrumBatch> {
  const onBytes = options.onBytes ?? (() => undefined);
  if (format === 'fits') {
    let done = 0;
    for await (const batch of readFitsBatches(files as InputFile[], { grid: options.grid, batchSize: options.batchSize })) {
      for (let r = 0; r < batch.ids.length; r++) onBytes(files[done + r]!.blob.size);
      done += batch.ids.length;
      yield batch;
    }
    return;
  }
  let offset = 0;
  for (const file of files) {
    let rows = 0;
    let batches: AsyncGenerator<SpectrumBatch>;
    if (formatOfName(file.name) === 'csv') {
      const gzip = file.name.toLowerCase().endsWith('.gz');
      let stream = countedStream(file.blob, onBytes);
      if (gzip) stream = stream.pipeThrough(new DecompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>);
      batches = readCsvBatches(chunksOf(stream, file.name, gzip), file.name, { grid: options.grid, batchSize: options.batchSize });
    } else {
      batches = readArrowBatches(file.blob, file.name, { grid: options.grid, batchSize: options.batchSize, onBytes });
    }
    for await (const batch of batches) {
      rows += batch.ids.length;
      yield offset === 0 ? batch : { ...batch, firstRow: batch.firstRow + offset };
    }
    offset += rows;
  }
}
