/**
 * One-spectrum-per-file FITS: LAMOST low-resolution spectra and SDSS/BOSS/eBOSS `spec-*.fits`.
 * The layout is detected per file (an HDU 1 BINTABLE with a LOGLAM column is SDSS, see sdss.ts;
 * anything else is LAMOST), so one folder or list may mix them.
 *
 * LAMOST has distributed two layouts:
 * - DR1–DR8: the primary image HDU holds 5 float32 rows named by the EXTEN0 card
 *   ('Flux Inverse Subcontinuum Andmask Ormask': flux, inverse variance, continuum-normalised
 *   flux, and/or masks); wavelengths come only from COEFF0/COEFF1 (λ = 10^(COEFF0 + COEFF1·i)).
 * - DR9/DR10: an empty primary HDU and a BINTABLE ('COADD') with one row of FLUX, IVAR,
 *   WAVELENGTH, ANDMASK, ORMASK arrays (TFORM like 3909E), usually gzip-compressed.
 * Each file is one spectrum, resampled onto the target grid (see resample.ts).
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { AstrospecError } from '../errors.js';
import { COMPETITION_GRID, parseLabel, type SpectrumBatch, type WavelengthGrid } from './batch.js';
import { headerNumber, headerString, readBigEndianFloats, readHdus, tableColumns, type FitsHeader, type Hdu } from './fits-hdu.js';
import { logLinearWavelengths, resampleLinear, type ObservedSpectrum } from './resample.js';
import { isSdssLayout, parseSdssSpectrum, type SdssSpectrum } from './sdss.js';
import type { ReadOptions, SpectraSource } from './types.js';
import { checkUnchanged, fileIdentity, type FileIdentity } from './file-identity.js';
import { countBytesRead, countRowsDecoded } from './read-stats.js';

const gunzipAsync = promisify(gunzip);

/** One LAMOST spectrum as stored, before resampling. */
export interface LamostSpectrum extends ObservedSpectrum {
  /** OBSID, or the file name when the header has none (DR1–DR8). */
  id: string;
  /** Header CLASS (STAR / GALAXY / QSO / Unknown ...), '' when absent. */
  className: string;
  subclass: string;
  redshift: number;
  /** r-band S/N (SNRR in DR9+, SN_R before), the number LAMOST quotes per spectrum; NaN when absent. */
  snr: number;
  header: FitsHeader;
}

/** Largest |WAVELENGTH − 10^(COEFF0+COEFF1·i)| accepted, in Å: float32 storage rounds by ≤ 0.003 Å at 9000 Å. */
const WAVELENGTH_TOLERANCE = 0.05;

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Largest FITS file read, after decompression. One spectrum is ~0.1–2 MB (LAMOST, SDSS); the limit
 * stops a small .gz that inflates to gigabytes (each file is held whole, several at once).
 */
export const MAX_FITS_BYTES = 64 << 20;

/**
 * Output chunk for gunzip: the size the gzip trailer declares (ISIZE, the last 4 bytes), within
 * 64 kB…8 MB. Each chunk is a round trip to the thread pool, and zlib's default of 16 kB made a
 * 200 kB spectrum 13 of them; a damaged trailer only changes the chunk size.
 */
function gunzipChunkBytes(raw: Uint8Array): number {
  const declared = raw.length >= 4 ? new DataView(raw.buffer, raw.byteOffset + raw.length - 4, 4).getUint32(0, true) : 0;
  return Math.min(8 << 20, Math.max(64 << 10, declared + 64));
}

/** Decompresses when the bytes are gzip (detected by magic number, not by extension). */
async function fitsBytes(raw: Uint8Array, file: string): Promise<Uint8Array> {
  const tooLarge = () => new AstrospecError('UNSUPPORTED', `larger than ${MAX_FITS_BYTES >> 20} MB (decompressed): not a single-spectrum FITS file`, { file });
  if (!isGzip(raw)) {
    if (raw.length > MAX_FITS_BYTES) throw tooLarge();
    return raw;
  }
  try {
    return await gunzipAsync(raw, { maxOutputLength: MAX_FITS_BYTES, chunkSize: gunzipChunkBytes(raw) });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
    const truncated = e.code === 'Z_BUF_ERROR' || /unexpected end/i.test(e.message);
    throw new AstrospecError(truncated ? 'TRUNCATED' : 'BAD_INPUT', `bad gzip stream: ${e.message}`, { file }, { cause: error });
  }
}

/** A spectrum from a FITS file of either layout: the fields openFits uses are common to both. */
export type FitsSpectrum = LamostSpectrum | SdssSpectrum;

/** Parses one LAMOST spectrum from the (decompressed) bytes of a FITS file. */
export function parseLamostSpectrum(bytes: Uint8Array, file: string, hdus: Hdu[] = readHdus(bytes, file)): LamostSpectrum {
  const primary = hdus[0]!;
  const h = primary.header;
  const naxis = headerNumber(h, 'NAXIS') ?? 0;
  let arrays: { flux: Float64Array; ivar: Float64Array; wavelength?: Float64Array };
  if (naxis === 2 && primary.dataLength > 0) arrays = readImageLayout(bytes, primary, file);
  else {
    const table = hdus.find((hdu) => headerString(hdu.header, 'XTENSION') === 'BINTABLE' && tableColumns(hdu, file).some((c) => c.name.toUpperCase() === 'FLUX'));
    if (!table) {
      throw new AstrospecError('UNSUPPORTED', `no spectrum found: the primary HDU is not a 2-D image and no BINTABLE has a FLUX column (${hdus.length} HDUs)`, { file });
    }
    arrays = readTableLayout(bytes, table, file);
  }
  const n = arrays.flux.length;
  const coeff0 = headerNumber(h, 'COEFF0');
  const coeff1 = headerNumber(h, 'COEFF1');
  let wavelength = arrays.wavelength;
  if (coeff0 !== undefined && coeff1 !== undefined) {
    const fromHeader = logLinearWavelengths(coeff0, coeff1, n);
    if (wavelength) {
      for (let i = 0; i < n; i++) {
        if (!(Math.abs(wavelength[i]! - fromHeader[i]!) <= WAVELENGTH_TOLERANCE)) {
          throw new AstrospecError(
            'BAD_INPUT',
            `WAVELENGTH[${i}] = ${wavelength[i]} Å disagrees with COEFF0/COEFF1 (${fromHeader[i]!.toFixed(3)} Å)`,
            { file, column: 'WAVELENGTH' },
          );
        }
      }
    } else wavelength = fromHeader;
  }
  if (!wavelength) {
    throw new AstrospecError('BAD_INPUT', 'no wavelengths: neither a WAVELENGTH column nor COEFF0/COEFF1 header cards', { file, column: 'COEFF0' });
  }
  // resampleLinear interpolates over the wavelengths: unless they are finite and increasing, the
  // flux on the grid is zeros or scrambled (a damaged COEFF0, COEFF1 or WAVELENGTH did both).
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(wavelength[i]!) || (i > 0 && !(wavelength[i]! > wavelength[i - 1]!))) {
      const what = i > 0 && Number.isFinite(wavelength[i]!) ? ` is not above wavelength[${i - 1}] = ${wavelength[i - 1]} Å` : ' is not finite';
      throw new AstrospecError('BAD_INPUT', `wavelength[${i}] = ${wavelength[i]} Å${what}`, { file, column: arrays.wavelength ? 'WAVELENGTH' : 'COEFF1' });
    }
  }
  const obsid = headerString(h, 'OBSID');
  const snr = headerNumber(h, 'SNRR') ?? headerNumber(h, 'SN_R') ?? NaN;
  return {
    id: obsid !== undefined && obsid.trim() !== '' ? obsid.trim() : basename(file).replace(/\.gz$/i, ''),
    className: (headerString(h, 'CLASS') ?? '').trim(),
    subclass: (headerString(h, 'SUBCLASS') ?? '').trim(),
    redshift: headerNumber(h, 'Z') ?? NaN,
    snr,
    header: h,
    wavelength,
    flux: arrays.flux,
    ivar: arrays.ivar,
  };
}

function readImageLayout(bytes: Uint8Array, hdu: Hdu, file: string) {
  const h = hdu.header;
  const bitpix = headerNumber(h, 'BITPIX');
  if (bitpix !== -32 && bitpix !== -64) {
    throw new AstrospecError('UNSUPPORTED', `HDU 0 (PRIMARY): BITPIX ${bitpix}; LAMOST images are float (-32 or -64)`, { file, column: 'BITPIX' });
  }
  const width = headerNumber(h, 'NAXIS1') ?? 0;
  const rows = headerNumber(h, 'NAXIS2') ?? 0;
  const size = bitpix === -32 ? 4 : 8;
  // Row names from EXTEN0 when present; DR1–DR8 put the continuum-normalised flux, not the
  // wavelength, in row 3 ('Subcontinuum'), so rows are matched by name, never by position alone.
  const names = (headerString(h, 'EXTEN0') ?? 'Flux Inverse').trim().split(/\s+/).map((s) => s.toLowerCase());
  const rowOf = (prefix: string) => names.findIndex((name) => name.startsWith(prefix));
  const fluxRow = rowOf('flux');
  const ivarRow = rowOf('inverse') >= 0 ? rowOf('inverse') : rowOf('ivar');
  const waveRow = rowOf('wavelength');
  if (fluxRow < 0 || fluxRow >= rows) throw new AstrospecError('BAD_INPUT', `HDU 0 (PRIMARY): no flux row (EXTEN0 '${names.join(' ')}', ${rows} rows)`, { file, column: 'FLUX' });
  if (ivarRow < 0 || ivarRow >= rows) throw new AstrospecError('BAD_INPUT', `HDU 0 (PRIMARY): no inverse-variance row (EXTEN0 '${names.join(' ')}', ${rows} rows)`, { file, column: 'IVAR' });
  const row = (r: number) => readBigEndianFloats(bytes, hdu.dataOffset + r * width * size, width, size as 4 | 8, file);
  return {
    flux: row(fluxRow),
    ivar: row(ivarRow),
    wavelength: waveRow >= 0 && waveRow < rows ? row(waveRow) : undefined,
  };
}

/**
 * Column names for an error message: as many as fit in 200 characters, then how many there are.
 * A damaged LAMOST file can send the reader to an SDSS-like table of 200 columns.
 */
function columnList(names: string[]): string {
  let out = '';
  for (const name of names) {
    const next = out === '' ? name : `${out}, ${name}`;
    if (next.length > 200) return `${out}, … (${names.length} columns)`;
    out = next;
  }
  return out;
}

function readTableLayout(bytes: Uint8Array, hdu: Hdu, file: string) {
  const columns = tableColumns(hdu, file);
  const rows = headerNumber(hdu.header, 'NAXIS2') ?? 0;
  if (rows !== 1) {
    throw new AstrospecError('UNSUPPORTED', `HDU ${hdu.index} (${hdu.name}): ${rows} table rows; a LAMOST spectrum file has exactly 1`, { file });
  }
  const column = (name: string, required: boolean): Float64Array | undefined => {
    const c = columns.find((col) => col.name.toUpperCase() === name);
    if (!c) {
      if (!required) return undefined;
      throw new AstrospecError('BAD_INPUT', `HDU ${hdu.index} (${hdu.name}): missing column ${name} (has ${columnList(columns.map((x) => x.name))})`, { file, column: name });
    }
    if (c.type !== 'E' && c.type !== 'D') {
      throw new AstrospecError('UNSUPPORTED', `HDU ${hdu.index} (${hdu.name}): column ${name} has TFORM type ${c.type}; expected E or D`, { file, column: name });
    }
    return readBigEndianFloats(bytes, hdu.dataOffset + c.offset, c.repeat, c.type === 'E' ? 4 : 8, file);
  };
  const flux = column('FLUX', true)!;
  const ivar = column('IVAR', true)!;
  const wavelength = column('WAVELENGTH', false);
  if (ivar.length !== flux.length || (wavelength && wavelength.length !== flux.length)) {
    throw new AstrospecError('BAD_INPUT', `HDU ${hdu.index} (${hdu.name}): FLUX, IVAR and WAVELENGTH lengths differ (${flux.length}, ${ivar.length}, ${wavelength?.length})`, { file, column: 'IVAR' });
  }
  return { flux, ivar, wavelength };
}

/** Parses one spectrum of either layout from the (decompressed) bytes of a FITS file. */
/** Row r of a fitsBatch: the spectrum resampled onto the batch's grid (bad pixels flagged), its id, label, S/N, redshift and subclass. */
export function putSpectrum(batch: SpectrumBatch, r: number, spectrum: FitsSpectrum): void {
  const L = batch.grid.length;
  const at = r * L;
  resampleLinear(spectrum, batch.grid, batch.flux.subarray(at, at + L), batch.badPixels!.subarray(at, at + L));
  batch.ids.push(spectrum.id);
  batch.labels![r] = parseLabel(spectrum.className);
  batch.extra!.snr![r] = spectrum.snr;
  batch.extra!.redshift![r] = spectrum.redshift;
  batch.tags!.subclass!.push(spectrum.subclass);
}

/**
 * An error from one file of a folder, with its 1-based position among the spectra as the row (like
 * data rows elsewhere), so the message says where in the folder it failed. Other errors unchanged.
 */
export function withSpectrumPosition(error: unknown, row: number): unknown {
  if (error instanceof AstrospecError && error.row === undefined) {
    const where = [error.file, error.column === undefined ? undefined : `column ${error.column}`].filter((x) => x !== undefined).join(', ');
    const message = where !== '' && error.message.startsWith(`${where}: `) ? error.message.slice(where.length + 2) : error.message;
    return new AstrospecError(error.code, message, { file: error.file, row, column: error.column }, { cause: error });
  }
  return error;
}

/** An empty batch of `rows` FITS spectra: flux and bad-pixel mask on `grid`, label, and the snr, redshift and subclass columns the headers give. */
export function fitsBatch(rows: number, grid: WavelengthGrid, firstRow: number): SpectrumBatch {
  return {
    ids: [],
    flux: new Float32Array(rows * grid.length),
    grid,
    labels: new Int8Array(rows),
    badPixels: new Uint8Array(rows * grid.length),
    firstRow,
    extra: { snr: new Float32Array(rows), redshift: new Float32Array(rows) },
    tags: { subclass: [] },
  };
}

export function parseFitsSpectrum(bytes: Uint8Array, file: string): FitsSpectrum {
  const hdus = readHdus(bytes, file);
  return isSdssLayout(hdus) ? parseSdssSpectrum(bytes, file, hdus) : parseLamostSpectrum(bytes, file, hdus);
}

/**
 * The bytes of a FITS file, decompressed when it is gzip. With `listed`, the file must still be
 * the one that was listed (same inode, size and modification time).
 */
async function readFitsBytes(file: string, listed?: FileIdentity): Promise<Uint8Array> {
  let raw: Uint8Array;
  if (listed) {
    let fh;
    try {
      fh = await open(file, 'r');
    } catch (error) {
      const gone = (error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new AstrospecError('IO', gone ? 'no such file: it was removed after the dataset was listed' : (error as Error).message, { file }, { cause: error });
    }
    try {
      await checkUnchanged(file, listed, fh);
      raw = await fh.readFile();
    } catch (error) {
      if (error instanceof AstrospecError) throw error;
      throw new AstrospecError('IO', (error as Error).message, { file }, { cause: error });
    } finally {
      await fh.close();
    }
  } else {
    try {
      raw = await readFile(file);
    } catch (error) {
      throw new AstrospecError('IO', (error as Error).message, { file }, { cause: error });
    }
  }
  countBytesRead(raw.length);
  return fitsBytes(raw, file);
}

/** Reads and parses one LAMOST FITS file (.fits or .fits.gz). */
export async function readLamostFile(file: string): Promise<LamostSpectrum> {
  return parseLamostSpectrum(await readFitsBytes(file), file);
}

/** Reads and parses one FITS spectrum, LAMOST or SDSS (.fits or .fits.gz). */
export async function readFitsSpectrum(file: string, listed?: FileIdentity): Promise<FitsSpectrum> {
  const spectrum = parseFitsSpectrum(await readFitsBytes(file, listed), file);
  countRowsDecoded(1);
  return spectrum;
}

const FITS_NAME = /\.fits?(\.gz)?$/i;

/** The files an input names: a file, a list of files, or a directory's .fits/.fit(.gz) files sorted by name. */
export async function listFitsFiles(input: string | string[]): Promise<string[]> {
  const inputs = Array.isArray(input) ? input : [input];
  const files: string[] = [];
  for (const path of inputs) {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      throw new AstrospecError('IO', (error as Error).message, { file: path }, { cause: error });
    }
    if (info.isDirectory()) {
      const names = (await readdir(path)).filter((name) => FITS_NAME.test(name)).sort();
      for (const name of names) files.push(join(path, name));
    } else files.push(path);
  }
  return files;
}

/** How many files are read and decompressed ahead of the one being resampled. */
const PREFETCH = 4;

export async function openFits(input: string | string[], options: ReadOptions = {}): Promise<SpectraSource> {
  const files = await listFitsFiles(input);
  if (files.length === 0) throw new AstrospecError('BAD_INPUT', 'no .fits or .fits.gz files found', { file: Array.isArray(input) ? input.join(', ') : input });
  return openFitsFiles(files, options, { path: Array.isArray(input) ? input.join(',') : input });
}

/**
 * One-spectrum FITS files read as one source, in the order given: row r is files[r]. Each file is
 * stat'ed here (its size for byteLength) and must be the same file when it is read. `firstPosition`
 * is the position of files[0] in a larger listing (a dataset, a shard's slice of a folder), so
 * errors name each file's 1-based position there.
 */
export async function openFitsFiles(files: string[], options: ReadOptions = {}, where: { path?: string; firstPosition?: number } = {}): Promise<SpectraSource> {
  const grid: WavelengthGrid = options.resampleGrid ?? options.grid ?? COMPETITION_GRID;
  const batchSize = options.batchSize ?? 1024;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new AstrospecError('BAD_ARGUMENT', `batchSize must be a positive integer, got ${batchSize}`);
  const firstPosition = where.firstPosition ?? 0;
  const identities: FileIdentity[] = [];
  let byteLength = 0;
  for (const file of files) {
    const identity = await fileIdentity(file);
    identities.push(identity);
    byteLength += identity.size;
  }

  async function* batches(): AsyncIterable<SpectrumBatch> {
    const pending: Promise<FitsSpectrum>[] = [];
    let next = 0;
    const fill = () => {
      while (pending.length < PREFETCH && next < files.length) {
        const p = readFitsSpectrum(files[next]!, identities[next]);
        next++;
        p.catch(() => undefined); // handled when awaited in order below
        pending.push(p);
      }
    };
    for (let first = 0; first < files.length; first += batchSize) {
      const rows = Math.min(batchSize, files.length - first);
      const batch: SpectrumBatch = { ...fitsBatch(rows, grid, first), files: files.slice(first, first + rows) };
      for (let r = 0; r < rows; r++) {
        fill();
        let spectrum: FitsSpectrum;
        try {
          spectrum = await pending.shift()!;
        } catch (error) {
          throw withSpectrumPosition(error, firstPosition + first + r + 1);
        }
        putSpectrum(batch, r, spectrum);
      }
      yield batch;
    }
  }

  return {
    path: where.path ?? files.join(','),
    format: 'fits',
    grid,
    hasLabels: true,
    rowCount: files.length,
    byteLength,
    batches,
    close: async () => undefined,
  };
}
