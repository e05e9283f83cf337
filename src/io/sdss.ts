/**
 * SDSS / BOSS / eBOSS `spec-PLATE-MJD-FIBER.fits` files, as the SDSS Science Archive Server
 * distributes them (DR8 onwards):
 * - HDU1 (COADD): a BINTABLE with one row per pixel; columns `loglam` (log10 of the vacuum
 *   wavelength in Å), `flux` (1e-17 erg/s/cm²/Å), `ivar`, `and_mask`, `or_mask`, `wdisp`, `sky`,
 *   `model`. A column's values are therefore NAXIS1 bytes apart (readTableColumn).
 * - HDU2 (SPALL): one row of the pipeline's results: `CLASS`, `SUBCLASS`, `Z`, `SN_MEDIAN_ALL`, ...
 * Column names are matched without regard to case; `.fits.gz` is decompressed by the caller (fits.ts).
 *
 * Bad pixels follow the LAMOST rule (ivar ≤ 0 or non-finite flux) and nothing else: `and_mask` is
 * read and kept but marks no pixel bad. Measured on the 140 BOSS DR12 files in
 * ../shared/data/boss/spectra (644 837 pixels, 644 511 with ivar > 0): 47 166 pixels with ivar > 0
 * have and_mask ≠ 0, 29 073 of them inside 3800–8998 Å (5.5 % of that range's good pixels). They are
 * BRIGHTSKY (bit 23: 46 118, 28 650 in range, in all 140 files), NEARBADPIXEL (bit 16: 992, 542 in
 * range), BADSKYCHI (bit 27: 241, none in range) and one NODATA + BADFLUXFACTOR pixel (bits 24, 26:
 * the last pixel of one file, at 10 399 Å). The bits that mean "no measurement" (LOWFLAT,
 * FULLREJECT, PARTIALREJECT, NODATA) occur, apart from that edge pixel, only where ivar = 0 already.
 * So every and_mask-flagged pixel with ivar > 0 is a measured pixel whose ivar already includes the
 * sky noise. The 580 LAMOST files behave the same way: their ANDMASK is set (bit 0) only where
 * ivar = 0, and LAMOST never flags sky lines on measured pixels, so the competition grid keeps
 * sky-line pixels as measured. Masking BRIGHTSKY here would bridge ~5 % of every BOSS spectrum with
 * straight lines that LAMOST-grid spectra never have.
 */
import { AstrospecError } from '../errors.js';
import { headerNumber, headerString, MAX_TFIELDS, readTableColumn, readTableText, type FitsHeader, type Hdu } from './fits-hdu.js';
import type { ObservedSpectrum } from './resample.js';

/** One SDSS spectrum as stored, before resampling. */
export interface SdssSpectrum extends ObservedSpectrum {
  /** The file name without `.fits` / `.fits.gz`, e.g. `spec-7102-56666-0082`. */
  id: string;
  /** HDU2 CLASS (STAR / GALAXY / QSO). */
  className: string;
  subclass: string;
  redshift: number;
  /** HDU2 SN_MEDIAN_ALL (median S/N per pixel over the whole spectrum); NaN when the column is absent (some eBOSS files). */
  snr: number;
  /** HDU1 and_mask per source pixel (0 where the file has no such column); informational, see above. */
  andMask: Int32Array;
  /** Primary header. */
  header: FitsHeader;
}

/** File name extensions of FITS spectra, for ids and for joining labels by file name. */
export const FITS_EXTENSION = /\.fits?(\.gz)?$/i;

/** True when HDU1 is a BINTABLE with a LOGLAM column: the SDSS coadd layout (LAMOST tables have WAVELENGTH). */
export function isSdssLayout(hdus: Hdu[]): boolean {
  const coadd = hdus[1];
  if (!coadd || headerString(coadd.header, 'XTENSION') !== 'BINTABLE') return false;
  // The TTYPE cards decide; reading the column layout (and its TFORM errors) is left to the parser.
  const fields = headerNumber(coadd.header, 'TFIELDS') ?? 0;
  // A damaged TFIELDS (e.g. 4294967299) is refused by the table parser; here it must not drive a
  // loop of billions of card look-ups first.
  if (!(Number.isInteger(fields) && fields >= 0 && fields <= MAX_TFIELDS)) return false;
  for (let k = 1; k <= fields; k++) if ((headerString(coadd.header, `TTYPE${k}`) ?? '').trim().toUpperCase() === 'LOGLAM') return true;
  return false;
}

/** Parses one SDSS spectrum from the (decompressed) bytes of a FITS file and its HDUs. */
export function parseSdssSpectrum(bytes: Uint8Array, file: string, hdus: Hdu[]): SdssSpectrum {
  const coadd = hdus[1];
  if (!coadd || !isSdssLayout(hdus)) {
    throw new AstrospecError('UNSUPPORTED', `not an SDSS spectrum: HDU 1 is not a BINTABLE with a loglam column (${hdus.length} HDUs)`, { file });
  }
  const where = `HDU 1 (${coadd.name})`;
  const column = (name: string): Float64Array => {
    const values = readTableColumn(bytes, coadd, name, file);
    if (!values) throw new AstrospecError('BAD_INPUT', `${where}: missing column ${name}`, { file, column: name });
    return values;
  };
  const loglam = column('loglam');
  const flux = column('flux');
  const ivar = column('ivar');
  const mask = readTableColumn(bytes, coadd, 'and_mask', file);
  const wavelength = new Float64Array(loglam.length);
  for (let i = 0; i < loglam.length; i++) {
    // resampleLinear needs strictly increasing wavelengths; a bad loglam would silently scramble the spectrum.
    if (!Number.isFinite(loglam[i]!) || (i > 0 && !(loglam[i]! > loglam[i - 1]!))) {
      throw new AstrospecError('BAD_INPUT', `${where}: loglam[${i}] = ${loglam[i]} is not finite and above loglam[${i - 1}] = ${loglam[i - 1]}`, { file, column: 'loglam' });
    }
    wavelength[i] = 10 ** loglam[i]!;
    // Increasing and finite is not enough: above 308 the wavelength overflows to Infinity.
    if (!Number.isFinite(wavelength[i]!)) {
      throw new AstrospecError('BAD_INPUT', `${where}: loglam[${i}] = ${loglam[i]} is no wavelength (10^loglam overflows)`, { file, column: 'loglam' });
    }
  }
  const andMask = new Int32Array(loglam.length);
  if (mask) for (let i = 0; i < mask.length; i++) andMask[i] = mask[i]! | 0;

  const spall = hdus[2];
  if (!spall || headerString(spall.header, 'XTENSION') !== 'BINTABLE') {
    throw new AstrospecError('BAD_INPUT', `no HDU 2 table with CLASS, SUBCLASS and Z (${hdus.length} HDUs)`, { file, column: 'CLASS' });
  }
  const required = <T>(value: T | undefined, name: string): T => {
    if (value === undefined) throw new AstrospecError('BAD_INPUT', `HDU 2 (${spall.name}): missing column ${name}`, { file, column: name });
    return value;
  };
  const firstRow = (name: string): number | undefined => {
    const values = readTableColumn(bytes, spall, name, file);
    if (values && values.length === 0) throw new AstrospecError('BAD_INPUT', `HDU 2 (${spall.name}): the table has no rows`, { file, column: name });
    return values?.[0];
  };
  return {
    id: fitsFileStem(file),
    className: required(readTableText(bytes, spall, 'CLASS', file), 'CLASS').trim(),
    subclass: (readTableText(bytes, spall, 'SUBCLASS', file) ?? '').trim(),
    redshift: required(firstRow('Z'), 'Z'),
    snr: firstRow('SN_MEDIAN_ALL') ?? NaN,
    andMask,
    header: hdus[0]!.header,
    wavelength,
    flux,
    ivar,
  };
}

/** The file name without its directory and without `.fits`, `.fit`, `.fits.gz` or `.fit.gz`. */
export function fitsFileStem(path: string): string {
  const name = path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
  return name.replace(FITS_EXTENSION, '');
}
