/**
 * LAMOST and SDSS FITS spectra from Blobs (one spectrum per file), for the browser: the bytes are
 * gunzipped when they start with the gzip magic (DecompressionStream, as src/io/fits.ts uses
 * zlib), parsed by the project's own readers (src/io/fits.ts parseFitsSpectrum: LAMOST DR1–8 and
 * DR9/10 layouts via src/io/fits-hdu.ts, SDSS via src/io/sdss.ts), and resampled onto the model's
 * grid by src/io/resample.ts — so a FITS file becomes exactly the batch row `astrospec classify`
 * builds from it (src/io/fits.ts openFits), errors included (file, 1-based position, column).
 */
import { AstrospecError } from '../../src/errors.js';
import { COMPETITION_GRID, type SpectrumBatch, type WavelengthGrid } from '../../src/io/batch.js';
import { fitsBatch, parseFitsSpectrum, putSpectrum, withSpectrumPosition, type FitsSpectrum } from '../../src/io/fits.js';
import type { BlobLike } from './arrow.js';

/**
 * Largest FITS file read, after decompression: one spectrum is ~0.1–2 MB, and each file is held
 * whole, so this stops a small .gz that inflates to gigabytes.
 */
export const MAX_FITS_BYTES = 64 << 20;

export interface NamedBlob {
  name: string;
  blob: BlobLike & { stream?(): ReadableStream<Uint8Array> };
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function tooLarge(file: string): AstrospecError {
  return new AstrospecError('UNSUPPORTED', `larger than ${MAX_FITS_BYTES >> 20} MB (decompressed): not a single-spectrum FITS file`, { file });
}

/** Gunzips `bytes` with the platform's DecompressionStream, stopping past `limit` bytes. */
export async function gunzipBytes(bytes: Uint8Array, file: string, limit = MAX_FITS_BYTES): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel().catch(() => undefined);
        throw tooLarge(file);
      }
      parts.push(value);
    }
  } catch (error) {
    if (error instanceof AstrospecError) throw error;
    const message = (error as Error)?.message ?? String(error);
    throw new AstrospecError('BAD_INPUT', `bad gzip stream: ${message}`, { file }, { cause: error });
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Reads and parses one FITS spectrum (LAMOST or SDSS, .fits or .fits.gz). */
export async function readFitsBlob(file: NamedBlob): Promise<FitsSpectrum> {
  if (file.blob.size > MAX_FITS_BYTES) throw tooLarge(file.name);
  let bytes: Uint8Array = new Uint8Array(await file.blob.slice(0).arrayBuffer());
  if (isGzip(bytes)) bytes = await gunzipBytes(bytes, file.name);
  return parseFitsSpectrum(bytes, file.name);
}

/** Streams the spectra of FITS files in order, `batchSize` files per batch, resampled onto `grid`. */
export async function* readFitsBatches(files: NamedBlob[], options: { grid?: WavelengthGrid; batchSize?: number } = {}): AsyncGenerator<SpectrumBatch> {
  const grid = options.grid ?? COMPETITION_GRID;
  const batchSize = options.batchSize ?? 64;
  for (let first = 0; first < files.length; first += batchSize) {
    const rows = Math.min(batchSize, files.length - first);
    const batch = fitsBatch(rows, grid, first);
    for (let r = 0; r < rows; r++) {
      let spectrum: FitsSpectrum;
      try {
        spectrum = await readFitsBlob(files[first + r]!);
      } catch (error) {
        throw withSpectrumPosition(error, first + r + 1);
      }
      putSpectrum(batch, r, spectrum);
    }
    yield batch;
  }
}
