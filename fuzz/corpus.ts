/**
 * The fuzzer's seed files: small slices of the real files in ../shared/data (LAMOST DR1 and DR10,
 * BOSS, the peer CSV and Feather files), and small files made here in every layout the readers
 * take (Arrow file and stream, compact and wide, uncompressed, LZ4 and ZSTD; CSV with ids, quotes,
 * extras and CRLF; .csv.gz and .fits.gz). Without ../shared, FITS seeds of all three layouts are
 * written here too, so the fuzzer runs anywhere.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { writeArrowSpec, type ArrowSpec } from './encoders.js';

/** Reader families, as executions are counted. */
export const FORMATS = ['lamost-dr1', 'lamost-dr10', 'sdss', 'csv', 'csv.gz', 'arrow', 'feather-lz4', 'feather-zstd'] as const;
export type FuzzFormat = (typeof FORMATS)[number];

export interface Seed {
  name: string;
  format: FuzzFormat;
  /** File name extension the case is written with (the reader is chosen by it). */
  ext: '.csv' | '.csv.gz' | '.arrow' | '.feather' | '.ipc' | '.fits' | '.fits.gz';
  /** Seed file inside the corpus folder. */
  file: string;
  /** Relative chance of being picked: small for the slow 3 MB peer files. */
  weight: number;
  /** For the seeds made here: what they hold, so mutated values can be re-encoded (value oracle). */
  arrow?: Omit<ArrowSpec, 'flux'> & { flux: number[]; nullable?: boolean };
  /** Where the file came from. */
  origin: string;
}

const SHARED = new URL('../../shared/data/', import.meta.url).pathname;

function sortedFiles(dir: string, pattern: RegExp): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => pattern.test(n)).sort() : [];
}

/** A deterministic spread of values like real fluxes (0.2 … 3, a few digits). */
function fakeFlux(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = Math.fround(0.2 + (s / 2 ** 32) * 2.8 + Math.sin(i / 40));
  }
  return out;
}

/** Rows of the peer CSV (header + the first `rows`), or undefined without ../shared. */
function peerCsvSlice(name: string, rows: number): string | undefined {
  const path = join(SHARED, 'peer-files', name);
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'latin1');
  let end = 0;
  for (let r = 0; r <= rows; r++) end = text.indexOf('\n', end) + 1;
  return text.slice(0, end);
}

/** Fluxes of the first rows of the peer CSV (or made up), `pixels` per row. */
function peerFlux(rows: number, pixels: number): Float32Array {
  const slice = peerCsvSlice('lamost-stars-200.csv', rows);
  if (!slice) return fakeFlux(rows * pixels, 7);
  const lines = slice.trimEnd().split('\n').slice(1);
  const out = new Float32Array(rows * pixels);
  lines.forEach((line, r) => {
    const cells = line.split(',');
    for (let j = 0; j < pixels; j++) out[r * pixels + j] = Math.fround(Number(cells[1 + (j % (cells.length - 2))]));
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Minimal FITS writing, for seeds when ../shared is absent (LAMOST DR1 image, DR10 table, SDSS).

function card(key: string, value: string | number | boolean): string {
  const v = typeof value === 'string' ? `'${value.padEnd(8)}'`.padEnd(20) : typeof value === 'boolean' ? (value ? 'T' : 'F').padStart(20) : String(value).padStart(20);
  return `${key.padEnd(8)}= ${v}`.padEnd(80);
}

function headerBlock(cards: string[]): Buffer {
  const text = [...cards, 'END'.padEnd(80)].join('');
  return Buffer.from(text.padEnd(Math.ceil(text.length / 2880) * 2880), 'latin1');
}

function padded(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((2880 - (data.length % 2880)) % 2880)]);
}

function floatsBE(values: ArrayLike<number>): Buffer {
  const b = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) b.writeFloatBE(values[i]!, i * 4);
  return b;
}

const N_PIXELS = 3909;
const COEFF0 = 3.5682;
const COEFF1 = 1e-4;

function lamostArrays() {
  const flux = fakeFlux(N_PIXELS, 11);
  const ivar = new Float32Array(N_PIXELS).map((_, i) => (i % 97 === 0 ? 0 : 4));
  const wave = new Float32Array(N_PIXELS).map((_, i) => 10 ** (COEFF0 + COEFF1 * i));
  return { flux, ivar, wave };
}

function lamostDr1(): Buffer {
  const { flux, ivar, wave } = lamostArrays();
  const cards = [card('SIMPLE', true), card('BITPIX', -32), card('NAXIS', 2), card('NAXIS1', N_PIXELS), card('NAXIS2', 5), card('EXTEND', true),
    card('OBSID', 'generated-dr1'), card('CLASS', 'STAR'), card('SUBCLASS', 'G5'), card('Z', 0.0001), card('SN_R', 42.5),
    card('COEFF0', COEFF0), card('COEFF1', COEFF1), card('EXTEN0', 'Flux Inverse Subcontinuum Andmask Ormask')];
  const rows = [flux, ivar, flux, new Float32Array(N_PIXELS), new Float32Array(N_PIXELS)];
  void wave;
  return Buffer.concat([headerBlock(cards), padded(Buffer.concat(rows.map(floatsBE)))]);
}

function lamostDr10(): Buffer {
  const { flux, ivar, wave } = lamostArrays();
  const primary = headerBlock([card('SIMPLE', true), card('BITPIX', 8), card('NAXIS', 0), card('EXTEND', true), card('OBSID', 'generated-dr10'),
    card('CLASS', 'GALAXY'), card('SUBCLASS', ''), card('Z', 0.12), card('SNRR', 12.5), card('COEFF0', COEFF0), card('COEFF1', COEFF1)]);
  const names = ['FLUX', 'IVAR', 'WAVELENGTH', 'ANDMASK', 'ORMASK'];
  const table = headerBlock([card('XTENSION', 'BINTABLE'), card('BITPIX', 8), card('NAXIS', 2), card('NAXIS1', N_PIXELS * 4 * 5), card('NAXIS2', 1),
    card('PCOUNT', 0), card('GCOUNT', 1), card('TFIELDS', 5), ...names.flatMap((n, k) => [card(`TTYPE${k + 1}`, n), card(`TFORM${k + 1}`, `${N_PIXELS}E`)]), card('EXTNAME', 'COADD')]);
  const data = Buffer.concat([flux, ivar, wave, new Float32Array(N_PIXELS), new Float32Array(N_PIXELS)].map(floatsBE));
  return Buffer.concat([primary, table, padded(data)]);
}

function sdss(): Buffer {
  const n = 4600;
  const primary = headerBlock([card('SIMPLE', true), card('BITPIX', 8), card('NAXIS', 0), card('EXTEND', true)]);
  const coadd = headerBlock([card('XTENSION', 'BINTABLE'), card('BITPIX', 8), card('NAXIS', 2), card('NAXIS1', 16), card('NAXIS2', n), card('PCOUNT', 0),
    card('GCOUNT', 1), card('TFIELDS', 4), card('TTYPE1', 'flux'), card('TFORM1', 'E'), card('TTYPE2', 'loglam'), card('TFORM2', 'E'),
    card('TTYPE3', 'ivar'), card('TFORM3', 'E'), card('TTYPE4', 'and_mask'), card('TFORM4', 'J'), card('EXTNAME', 'COADD')]);
  const rows = Buffer.alloc(16 * n);
  const flux = fakeFlux(n, 5);
  for (let i = 0; i < n; i++) {
    rows.writeFloatBE(flux[i]!, 16 * i);
    rows.writeFloatBE(3.5565 + 1e-4 * i, 16 * i + 4);
    rows.writeFloatBE(i % 50 === 0 ? 0 : 2, 16 * i + 8);
    rows.writeInt32BE(i % 200 === 0 ? 1 << 23 : 0, 16 * i + 12);
  }
  const spall = headerBlock([card('XTENSION', 'BINTABLE'), card('BITPIX', 8), card('NAXIS', 2), card('NAXIS1', 32), card('NAXIS2', 1), card('PCOUNT', 0),
    card('GCOUNT', 1), card('TFIELDS', 4), card('TTYPE1', 'CLASS'), card('TFORM1', '6A'), card('TTYPE2', 'SUBCLASS'), card('TFORM2', '14A'),
    card('TTYPE3', 'Z'), card('TFORM3', 'E'), card('TTYPE4', 'SN_MEDIAN_ALL'), card('TFORM4', 'D'), card('EXTNAME', 'SPALL')]);
  const row = Buffer.alloc(32, 0x20);
  row.write('QSO', 0, 'latin1');
  row.write('BROADLINE', 6, 'latin1');
  row.writeFloatBE(1.5, 20);
  row.writeDoubleBE(7.25, 24);
  return Buffer.concat([primary, coadd, padded(rows), spall, padded(row)]);
}

// ---------------------------------------------------------------------------------------------

function generatedCsv(): string {
  const L = 8;
  const flux = fakeFlux(4 * L, 3);
  const lines = [`\ufeffid,${Array.from({ length: L }, (_, j) => `FE${j}`).join(',')},label,snr,note`];
  const ids = ['"a,1"', 'b2', '"q""3"', '4'];
  const labels = ['star', 'GALAXY', '', 'Qso'];
  const extras = ['12.5', '', 'nan', '3e2'];
  const notes = ['x', '"y, z"', '', 'w'];
  for (let r = 0; r < 4; r++) {
    const cells = Array.from(flux.subarray(r * L, (r + 1) * L), (v, j) => (j === 3 ? ` ${v} ` : j === 5 ? v.toExponential(4) : String(v)));
    lines.push(`${ids[r]},${cells.join(',')},${labels[r]},${extras[r]},${notes[r]}`);
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** Builds the seed corpus into `dir` and returns its manifest (also written as dir/corpus.json). */
export function buildCorpus(dir: string): Seed[] {
  mkdirSync(dir, { recursive: true });
  const seeds: Seed[] = [];
  const add = (seed: Omit<Seed, 'file'>, bytes: Uint8Array) => {
    const file = `${seed.name}${seed.ext}`;
    writeFileSync(join(dir, file), bytes);
    seeds.push({ ...seed, file });
  };

  // FITS: two real files of each layout (one stored gzipped), or generated ones.
  const dr1 = sortedFiles(join(SHARED, 'lamost/dr1'), /\.fits$/).slice(0, 2);
  const dr10 = sortedFiles(join(SHARED, 'lamost/dr10'), /\.fits\.gz$/).slice(0, 2);
  const boss = sortedFiles(join(SHARED, 'boss/spectra'), /\.fits$/).slice(0, 2);
  if (dr1.length === 2 && dr10.length === 2 && boss.length === 2) {
    const dr1Bytes = dr1.map((n) => readFileSync(join(SHARED, 'lamost/dr1', n)));
    const dr10Bytes = dr10.map((n) => readFileSync(join(SHARED, 'lamost/dr10', n)));
    const bossBytes = boss.map((n) => readFileSync(join(SHARED, 'boss/spectra', n)));
    add({ name: 'lamost-dr1-a', format: 'lamost-dr1', ext: '.fits', weight: 1, origin: `lamost/dr1/${dr1[0]}` }, dr1Bytes[0]!);
    add({ name: 'lamost-dr1-b', format: 'lamost-dr1', ext: '.fits.gz', weight: 1, origin: `lamost/dr1/${dr1[1]}, gzipped` }, gzipSync(dr1Bytes[1]!, { level: 1 }));
    add({ name: 'lamost-dr10-a', format: 'lamost-dr10', ext: '.fits.gz', weight: 1, origin: `lamost/dr10/${dr10[0]}` }, dr10Bytes[0]!);
    add({ name: 'lamost-dr10-b', format: 'lamost-dr10', ext: '.fits', weight: 1, origin: `lamost/dr10/${dr10[1]}, gunzipped` }, gunzipSync(dr10Bytes[1]!));
    add({ name: 'sdss-a', format: 'sdss', ext: '.fits', weight: 1, origin: `boss/spectra/${boss[0]}` }, bossBytes[0]!);
    add({ name: 'sdss-b', format: 'sdss', ext: '.fits.gz', weight: 1, origin: `boss/spectra/${boss[1]}, gzipped` }, gzipSync(bossBytes[1]!, { level: 1 }));
  } else {
    add({ name: 'lamost-dr1-gen', format: 'lamost-dr1', ext: '.fits', weight: 1, origin: 'generated (no ../shared)' }, lamostDr1());
    add({ name: 'lamost-dr10-gen', format: 'lamost-dr10', ext: '.fits.gz', weight: 1, origin: 'generated (no ../shared)' }, gzipSync(lamostDr10(), { level: 1 }));
    add({ name: 'sdss-gen', format: 'sdss', ext: '.fits', weight: 1, origin: 'generated (no ../shared)' }, sdss());
  }

  // CSV: slices of the peer files (2600 pixels) and a small file with every optional feature.
  const peer = peerCsvSlice('lamost-stars-200.csv', 3);
  const peerNoLabel = peerCsvSlice('lamost-stars-200.nolabel.csv', 2);
  const small = generatedCsv();
  if (peer) add({ name: 'csv-peer-3', format: 'csv', ext: '.csv', weight: 1, origin: 'peer-files/lamost-stars-200.csv, header + 3 rows' }, Buffer.from(peer, 'latin1'));
  if (peerNoLabel) add({ name: 'csv-peer-nolabel-2', format: 'csv', ext: '.csv', weight: 1, origin: 'peer-files/lamost-stars-200.nolabel.csv, header + 2 rows' }, Buffer.from(peerNoLabel, 'latin1'));
  add({ name: 'csv-small', format: 'csv', ext: '.csv', weight: 2, origin: 'generated: BOM, CRLF, quoted ids, label, extra and tag columns' }, Buffer.from(small, 'utf8'));
  if (peer) add({ name: 'csvgz-peer-3', format: 'csv.gz', ext: '.csv.gz', weight: 1, origin: 'peer-files/lamost-stars-200.csv, header + 3 rows, gzipped' }, gzipSync(peer, { level: 1 }));
  add({ name: 'csvgz-small', format: 'csv.gz', ext: '.csv.gz', weight: 2, origin: 'generated, gzipped' }, gzipSync(small, { level: 1 }));

  // Arrow: every container × layout × codec, small; values from the peer CSV.
  const ids = ['101', 'spec-2', 'ünï', '4', ''];
  const labels = [0, 1, -1, 2, 0];
  let k = 0;
  for (const codec of ['none', 'lz4', 'zstd'] as const) {
    for (const layout of ['compact', 'wide'] as const) {
      for (const container of ['file', 'stream'] as const) {
        const pixels = layout === 'wide' ? 12 : 24;
        // Variety across the seeds: pandas' Int64 ids, a dictionary-encoded label (category),
        // nullable pixel columns (the re-encoding oracle then also writes nulls).
        const int64Ids = k % 4 === 3;
        const spec: ArrowSpec = {
          layout, container, codec, pixels, batchRows: container === 'file' ? 2 : 3, ids: int64Ids ? ['101', '2', '-3', '9007199254740993', '0'] : ids,
          labels: k % 3 === 2 ? undefined : labels, int64Ids, labelDictionary: k % 3 === 1,
          flux: peerFlux(ids.length, pixels), float64: layout === 'wide' && k % 2 === 1, rawEvery: k % 4 === 1 ? 3 : 0,
          lz4: { contentChecksum: k % 2 === 0, contentSize: k % 3 === 0, blockSizeCode: 4 + (k % 4) }, zstdBlock: k % 2 === 0 ? 64 : 128 << 10,
        };
        const format = codec === 'none' ? 'arrow' : codec === 'lz4' ? 'feather-lz4' : 'feather-zstd';
        add({ name: `${format}-${layout}-${container}`, format, ext: container === 'file' ? '.feather' : '.arrow', weight: 1, origin: 'generated', arrow: { ...spec, flux: Array.from(spec.flux), nullable: k % 2 === 0 } }, writeArrowSpec(spec));
        k++;
      }
    }
  }
  // One full-length compact file (2600 pixels, as astrospec writes) per codec.
  for (const codec of ['none', 'lz4', 'zstd'] as const) {
    const spec: ArrowSpec = { layout: 'compact', container: 'file', codec, pixels: 2600, batchRows: 2, ids: ['x', 'y'], labels: [1, 2], flux: peerFlux(2, 2600), lz4: { contentChecksum: true } };
    const format = codec === 'none' ? 'arrow' : codec === 'lz4' ? 'feather-lz4' : 'feather-zstd';
    add({ name: `${format}-compact-2600`, format, ext: '.arrow', weight: 1, origin: 'generated, 2600 pixels', arrow: { ...spec, flux: Array.from(spec.flux) } }, writeArrowSpec(spec));
  }
  // pandas' own Feather files (3 MB, 200 × 2600 wide columns): real encoders, but slow to read.
  for (const [name, format] of [['uncompressed', 'arrow'], ['lz4', 'feather-lz4'], ['zstd', 'feather-zstd']] as const) {
    const path = join(SHARED, 'peer-files', `lamost-stars-200.${name}.feather`);
    if (existsSync(path)) add({ name: `${format}-pandas-200`, format, ext: '.feather', weight: 0.01, origin: `peer-files/lamost-stars-200.${name}.feather` }, readFileSync(path));
  }
  writeFileSync(join(dir, 'corpus.json'), JSON.stringify(seeds, null, 1));
  return seeds;
}
