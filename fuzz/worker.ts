/**
 * One fuzzing process (started by scripts/fuzz.ts): makes mutated cases from the seed corpus, reads
 * each through openSpectra from a file on tmpfs, checks the outcome, and reports counts and findings
 * to the parent over IPC every ~100 ms. The parent kills it on a hang (> 5 s without a report) or
 * when its RSS passes 1 GB, and starts another; case.json beside the case file says which case was
 * running.
 *
 * Checks, per case:
 * - the read either succeeds or throws an AstrospecError (BAD_INPUT, TRUNCATED or UNSUPPORTED) whose
 *   message starts with the file's path, names it in `.file`, and is under 500 characters;
 * - it takes under 5 s and the process stays under 1 GB RSS;
 * - a successful read has finite flux, labels in −1…2, as many ids as rows, rows = rowCount (and
 *   = countRows() for CSV), and for FITS a finite, increasing wavelength scale;
 * - value oracle (cases that change only values, so the file stays valid): the values read equal
 *   the expected ones, bit for bit. FITS: flux/ivar bytes changed in place at positions found in
 *   the unmutated file with the project's HDU parser; expected = those arrays, decoded here from the
 *   mutated bytes, resampled with resampleLinear. Arrow, uncompressed: flux bytes changed in place
 *   at positions taken from apache-arrow's zero-copy views of the unmutated file; expected = the
 *   values written. Arrow made here (any codec): values, ids and labels changed and the file
 *   re-encoded (fuzz/encoders.ts); expected = what was encoded. Non-finite flux must be refused.
 * - CSV and CSV.gz, every case: the native reader (src/io/csv.ts + native/kernels/csv.cpp) and the
 *   browser's pure-TypeScript reader (web/src/csv.ts) must agree: the same values, ids and labels
 *   bit for bit, or the same error message.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { tableFromIPC, type Data } from 'apache-arrow';
import { AstrospecError } from '../src/errors.js';
import { COMPETITION_GRID } from '../src/io/batch.js';
import { indexIpc } from '../src/io/arrow-ipc.js';
import { readHdus, tableColumns, headerNumber, headerString, type Hdu } from '../src/io/fits-hdu.js';
import { parseFitsSpectrum, type FitsSpectrum } from '../src/io/fits.js';
import { openSpectra, type ReadOptions } from '../src/io/open.js';
import { resampleLinear } from '../src/io/resample.js';
import { isSdssLayout } from '../src/io/sdss.js';
import { readCsvBatches } from '../web/src/csv.js';
import type { FuzzFormat, Seed } from './corpus.js';
import { writeArrowSpec, type ArrowSpec } from './encoders.js';
import {
  arrowLength,
  arrowLengthPositions,
  arrowMetadataWord,
  csvCell,
  csvLine,
  editCard,
  fitsCards,
  GENERIC,
  Rng,
  spliceFrom,
  type Mutated,
  type SeedMap,
} from './mutate.js';

export interface WorkerConfig {
  corpusDir: string;
  caseDir: string;
  findingsDir: string;
  seed: number;
  formats?: FuzzFormat[];
}

export type FindingKind = 'crash' | 'hang' | 'memory' | 'escape' | 'unnamed' | 'misread' | 'disagreement';

export interface Finding {
  kind: FindingKind;
  format: FuzzFormat;
  seed: string;
  mutations: string[];
  message: string;
  /** The saved case (first of its signature in this worker), in findingsDir. */
  file?: string;
  milliseconds?: number;
}

export interface CaseInfo {
  format: FuzzFormat;
  seed: string;
  ext: string;
  mutations: string[];
  oracle?: string;
}

export type WorkerMessage =
  | { type: 'ready'; seeds: number }
  | { type: 'report'; executions: Partial<Record<FuzzFormat, number>>; oracle: Record<string, number>; findings: Finding[]; slowest: number; fuzzerErrors: string[]; cpuMs: number };

export const HANG_MS = 5000;
const BATCH_SIZES = [1, 2, 3, 4, 7, 64];
/**
 * CSV read chunks: lines cut across chunks are under test too, and the default 16 MB buffer per
 * read (allocated per open) would make garbage collection most of the work on these small files.
 */
const CHUNK_BYTES = [300, 4096, 65536, 1 << 20];
export const RSS_LIMIT_MB = 1024;

interface Expect {
  kind: string;
  /** Expected flux, ids, labels; or the error the file must give. */
  flux?: Float32Array;
  ids?: string[];
  labels?: number[];
  error?: RegExp;
}

interface Case extends CaseInfo {
  bytes: Uint8Array;
  expect?: Expect;
  /** Re-parse a FITS file read without error and check its wavelengths (a quarter of the cases). */
  checkWavelengths?: boolean;
  /** Count a CSV file's rows with countRows() too (a third of the cases). */
  countRows?: boolean;
}

interface Prepared {
  seed: Seed;
  raw: Uint8Array;
  /** Decompressed for .gz seeds (mutated there, then gzipped again), else raw. */
  inner: Uint8Array;
  gz: boolean;
  map: SeedMap;
  fits?: FitsOracle;
  arrowPositions?: { flux: Float32Array; positions: Int32Array; widths: Uint8Array };
  arrowSpec?: ArrowSpec;
}

interface FitsOracle {
  spectrum: FitsSpectrum;
  flux: { offset: number; stride: number; size: 4 | 8 };
  ivar: { offset: number; stride: number; size: 4 | 8 };
}

// ---------------------------------------------------------------------------------------------
// Seeds

function fitsOracle(bytes: Uint8Array, file: string): { oracle?: FitsOracle; cards: number[] } {
  const hdus = readHdus(bytes, file);
  const ranges = hdus.map((h, k) => ({ headerStart: k === 0 ? 0 : hdus[k - 1]!.dataOffset + Math.ceil(hdus[k - 1]!.dataLength / 2880) * 2880, dataOffset: h.dataOffset }));
  const cards = fitsCards(bytes, ranges);
  const spectrum = parseFitsSpectrum(bytes, file);
  const column = (hdu: Hdu, name: string, perRow: boolean) => {
    const c = tableColumns(hdu, file).find((col) => col.name.toUpperCase() === name);
    if (!c || (c.type !== 'E' && c.type !== 'D')) return undefined;
    const size = c.type === 'E' ? 4 : 8;
    return { offset: hdu.dataOffset + c.offset, stride: perRow ? headerNumber(hdu.header, 'NAXIS1')! : size, size } as const;
  };
  let flux, ivar;
  if (isSdssLayout(hdus)) {
    flux = column(hdus[1]!, 'FLUX', true);
    ivar = column(hdus[1]!, 'IVAR', true);
  } else if (headerNumber(hdus[0]!.header, 'NAXIS') === 2 && hdus[0]!.dataLength > 0) {
    const h = hdus[0]!.header;
    const names = (headerString(h, 'EXTEN0') ?? 'Flux Inverse').trim().split(/\s+/).map((s) => s.toLowerCase());
    const size = headerNumber(h, 'BITPIX') === -64 ? 8 : 4;
    const width = headerNumber(h, 'NAXIS1')!;
    const row = (k: number) => ({ offset: hdus[0]!.dataOffset + k * width * size, stride: size, size } as const);
    flux = row(names.findIndex((n) => n.startsWith('flux')));
    const inverse = names.findIndex((n) => n.startsWith('inverse'));
    ivar = row(inverse >= 0 ? inverse : names.findIndex((n) => n.startsWith('ivar')));
  } else {
    const table = hdus.find((h) => headerString(h.header, 'XTENSION') === 'BINTABLE' && tableColumns(h, file).some((c) => c.name.toUpperCase() === 'FLUX'))!;
    flux = column(table, 'FLUX', false);
    ivar = column(table, 'IVAR', false);
  }
  if (!flux || !ivar) return { cards };
  const oracle: FitsOracle = { spectrum, flux, ivar };
  // The positions must give back exactly what the reader read, else this oracle is off.
  const decoded = decodeFits(bytes, oracle);
  const same = (a: Float64Array, b: Float64Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
  if (!same(decoded.flux, spectrum.flux) || !same(decoded.ivar, spectrum.ivar)) throw new Error(`${file}: FITS oracle positions don't reproduce the reader's arrays`);
  return { oracle, cards };
}

function decodeFits(bytes: Uint8Array, o: FitsOracle): { flux: Float64Array; ivar: Float64Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = o.spectrum.flux.length;
  const read = (c: FitsOracle['flux']) => {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = c.size === 4 ? view.getFloat32(c.offset + i * c.stride, false) : view.getFloat64(c.offset + i * c.stride, false);
    return out;
  };
  return { flux: read(o.flux), ivar: read(o.ivar) };
}

/** Positions of every flux value in an uncompressed Arrow file: apache-arrow reads them as views of the bytes. */
function arrowFluxPositions(bytes: Uint8Array): Prepared['arrowPositions'] {
  let table;
  try {
    table = tableFromIPC(bytes);
  } catch {
    return undefined;
  }
  const fluxColumn = table.getChild('flux');
  const L = fluxColumn ? (fluxColumn.type as { listSize: number }).listSize : table.schema.fields.filter((f) => /^FE\d+$/.test(f.name)).length;
  const rows = table.numRows;
  const flux = new Float32Array(rows * L);
  const positions = new Int32Array(rows * L);
  const widths = new Uint8Array(rows * L);
  const locate = (data: Data, first: number, store: (k: number, value: number, at: number, width: number) => void, count: number) => {
    const values = data.values as Float32Array | Float64Array;
    if (!(values instanceof Float32Array || values instanceof Float64Array) || values.buffer !== bytes.buffer) return false;
    for (let k = 0; k < count; k++) store(first + k, values[data.offset + k]!, values.byteOffset - bytes.byteOffset + (data.offset + k) * values.BYTES_PER_ELEMENT, values.BYTES_PER_ELEMENT);
    return true;
  };
  if (fluxColumn) {
    let row = 0;
    for (const d of fluxColumn.data) {
      const ok = locate(d.children[0]!, row * L, (k, v, at, w) => ((flux[k] = v), (positions[k] = at), (widths[k] = w)), d.length * L);
      if (!ok) return undefined;
      row += d.length;
    }
  } else {
    for (let j = 0; j < L; j++) {
      const column = table.getChild(`FE${j}`);
      if (!column) return undefined;
      let row = 0;
      for (const d of column.data) {
        const ok = locate(d, row, (r, v, at, w) => ((flux[r * L + j] = v), (positions[r * L + j] = at), (widths[r * L + j] = w)), d.length);
        if (!ok) return undefined;
        row += d.length;
      }
    }
  }
  return { flux, positions, widths };
}

async function prepare(seed: Seed, config: WorkerConfig): Promise<Prepared> {
  const raw = new Uint8Array(readFileSync(join(config.corpusDir, seed.file)));
  const gz = seed.ext.endsWith('.gz');
  const inner = gz ? new Uint8Array(gunzip(raw)) : raw;
  const p: Prepared = { seed, raw, inner, gz, map: {} };
  const path = join(config.corpusDir, seed.file);
  if (seed.ext.startsWith('.fits')) {
    const { oracle, cards } = fitsOracle(inner, path);
    p.fits = oracle;
    p.map.cards = cards;
  } else if (seed.format === 'arrow' || seed.format.startsWith('feather')) {
    const fh = await openFile(path, 'r');
    try {
      const buf = Buffer.from(inner.buffer, inner.byteOffset, inner.length);
      const kind = buf.subarray(0, 6).toString('latin1') === 'ARROW1' ? 'file' : 'stream';
      const index = await indexIpc(fh, inner.length, kind, path);
      p.map.metadata = [[index.schemaSource.offset, index.schemaSource.offset + index.schemaSource.length], ...index.messages.map((m) => [m.flatbufferOffset, m.flatbufferOffset + m.flatbufferLength] as [number, number])];
    } finally {
      await fh.close();
    }
    p.map.lengths = arrowLengthPositions(inner);
    if (seed.format === 'arrow') p.arrowPositions = arrowFluxPositions(inner);
    if (seed.arrow) p.arrowSpec = { ...seed.arrow, flux: Float32Array.from(seed.arrow.flux) };
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Cases

const FLOATS = [0, -0, 1, -1, NaN, Infinity, -Infinity, 1e30, -1e30, 3.4e38, -3.4e38, 1e-40, 1.4e-45, 65504, 0.1, 2.5, 1e300, -1e-300];

function interestingFloat(rng: Rng): number {
  return rng.chance(0.7) ? rng.pick(FLOATS) : (rng.next() - 0.5) * 10 ** rng.int(8);
}

function fitsValueCase(p: Prepared, rng: Rng): { bytes: Uint8Array; note: string; expect: Expect } {
  const o = p.fits!;
  const bytes = p.inner.slice();
  const view = new DataView(bytes.buffer);
  const n = o.spectrum.flux.length;
  const notes: string[] = [];
  const write = (c: FitsOracle['flux'], i: number, v: number) => {
    if (c.size === 4) view.setFloat32(c.offset + i * c.stride, v, false);
    else view.setFloat64(c.offset + i * c.stride, v, false);
  };
  if (rng.chance(0.2)) {
    // A run of pixels marked bad (ivar 0), as a masked stretch would be.
    const len = rng.size(400);
    const from = rng.int(Math.max(1, n - len));
    for (let i = from; i < Math.min(n, from + len); i++) write(o.ivar, i, rng.chance(0.5) ? 0 : -1);
    notes.push(`ivar of pixels ${from}…${from + len - 1} set ≤ 0`);
  } else {
    const k = 1 + rng.int(8);
    for (let t = 0; t < k; t++) {
      const i = rng.chance(0.2) ? rng.pick([0, 1, n - 2, n - 1]) : rng.int(n);
      const which = rng.chance(0.7) ? 'flux' : 'ivar';
      const v = interestingFloat(rng);
      write(which === 'flux' ? o.flux : o.ivar, i, v);
      notes.push(`${which}[${i}] = ${v}`);
    }
  }
  const decoded = decodeFits(bytes, o);
  const flux = new Float32Array(COMPETITION_GRID.length);
  resampleLinear({ wavelength: o.spectrum.wavelength, flux: decoded.flux, ivar: decoded.ivar }, COMPETITION_GRID, flux, new Uint8Array(COMPETITION_GRID.length));
  return { bytes, note: `values: ${notes.join(', ')}`, expect: { kind: 'fits-values', flux } };
}

function arrowBytesCase(p: Prepared, rng: Rng): { bytes: Uint8Array; note: string; expect: Expect } {
  const { flux, positions, widths } = p.arrowPositions!;
  const bytes = p.inner.slice();
  const view = new DataView(bytes.buffer);
  const expected = flux.slice();
  const notes: string[] = [];
  const k = 1 + rng.int(6);
  for (let t = 0; t < k; t++) {
    const i = rng.int(flux.length);
    const v = interestingFloat(rng);
    if (widths[i] === 4) view.setFloat32(positions[i]!, v, true);
    else view.setFloat64(positions[i]!, v, true);
    expected[i] = v;
    notes.push(`flux value ${i} = ${v}`);
  }
  const finite = expected.every(Number.isFinite);
  return { bytes, note: `values in place: ${notes.join(', ')}`, expect: finite ? { kind: 'arrow-values-in-place', flux: expected } : { kind: 'arrow-non-finite', error: /NaN and infinite flux are rejected/ } };
}

const INT64_IDS = ['0', '-1', '42', '9007199254740993', '-9223372036854775808', '9223372036854775807'];
const ID_TEXT = ['', ' ', 'ü', '😀', 'a"b', 'x,y', '\n', 'long-'.repeat(40), '0', '-1', 'NaN', '\u0000'];

function arrowSpecCase(p: Prepared, rng: Rng): { bytes: Uint8Array; note: string; expect: Expect } {
  const spec: ArrowSpec = { ...p.arrowSpec!, flux: p.arrowSpec!.flux.slice(), ids: [...p.arrowSpec!.ids], labels: p.arrowSpec!.labels && [...p.arrowSpec!.labels] };
  const notes: string[] = [];
  const k = 1 + rng.int(6);
  for (let t = 0; t < k; t++) {
    const what = rng.int(10);
    if (what < 7) {
      const i = rng.int(spec.flux.length);
      const v = interestingFloat(rng);
      spec.flux[i] = v;
      notes.push(`flux value ${i} = ${v}`);
    } else if (what < 8 && p.seed.arrow?.nullable) {
      const i = rng.int(spec.flux.length);
      spec.nullFlux = [...(spec.nullFlux ?? []), i];
      notes.push(`flux value ${i} = null`);
    } else if (what < 9 || !spec.labels) {
      const r = rng.int(spec.ids.length);
      spec.ids[r] = rng.pick(spec.int64Ids ? INT64_IDS : ID_TEXT);
      notes.push(`id ${r} = ${JSON.stringify(spec.ids[r])}`);
    } else {
      const r = rng.int(spec.labels.length);
      spec.labels[r] = rng.int(4) - 1;
      notes.push(`label ${r} = ${spec.labels[r]}`);
    }
  }
  if (rng.chance(0.3)) {
    spec.batchRows = 1 + rng.int(spec.ids.length);
    notes.push(`${spec.batchRows} rows per batch`);
  }
  const finite = spec.flux.every(Number.isFinite);
  const nulls = (spec.nullFlux ?? []).length > 0;
  if (nulls) {
    // Which comes first, a null or a non-finite value, depends on how the reader cuts batches.
    const error = finite ? /missing pixel value \(null\)/ : /missing pixel value \(null\)|NaN and infinite flux are rejected/;
    return { bytes: writeArrowSpec(spec), note: `re-encoded: ${notes.join(', ')}`, expect: { kind: 'arrow-null-flux', error } };
  }
  return {
    bytes: writeArrowSpec(spec),
    note: `re-encoded: ${notes.join(', ')}`,
    expect: finite ? { kind: `arrow-reencoded-${spec.codec}`, flux: spec.flux, ids: spec.ids, labels: spec.labels ?? undefined } : { kind: 'arrow-non-finite', error: /NaN and infinite flux are rejected/ },
  };
}

function structuralMutation(p: Prepared, bytes: Uint8Array, rng: Rng, others: Prepared[]): Mutated {
  const f = p.seed.format;
  const r = rng.next();
  if (p.map.cards && r < 0.45) return editCard(bytes, rng, p.map.cards);
  if (p.map.metadata && r < 0.35) return arrowMetadataWord(bytes, rng, p.map);
  if (p.map.lengths && r < 0.5) return arrowLength(bytes, rng, p.map);
  if ((f === 'csv' || f === 'csv.gz') && r < 0.4) return csvCell(bytes, rng);
  if ((f === 'csv' || f === 'csv.gz') && r < 0.6) return csvLine(bytes, rng);
  if (r > 0.95 && others.length > 0) return spliceFrom(bytes, rng.pick(others).inner, rng);
  return rng.pick(GENERIC)(bytes, rng);
}

/**
 * Gzip for cases mutated inside the compression: mostly stored blocks (level 0: the readers see the
 * same bytes), real deflate blocks one time in 20: level 1 takes 5 ms for a 220 kB BOSS file
 * (float data compresses slowly), 20× level 0, and was 12 % of an SDSS worker's time at one in
 * 7. The gzipped seeds are level 1, so cases mutated outside the compression have real deflate
 * blocks too. One output chunk: with zlib's 16 kB default, level 0 took 3× as long.
 */
function gzip(bytes: Uint8Array, rng: Rng): Uint8Array {
  return gzipSync(bytes, { level: rng.chance(0.95) ? 0 : 1, chunkSize: bytes.length + (bytes.length >> 8) + 1024 });
}

/** gunzipSync with one output chunk of the size the trailer declares (within 64 kB…4 MB). */
function gunzip(bytes: Uint8Array): Buffer {
  const declared = bytes.length >= 4 ? new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 4, 4).getUint32(0, true) : 0;
  return gunzipSync(bytes, { chunkSize: Math.min(4 << 20, Math.max(64 << 10, declared + 64)) });
}

function makeCase(prepared: Prepared[], weights: number[], rng: Rng): Case {
  let x = rng.next() * weights[weights.length - 1]!;
  let k = 0;
  while (weights[k]! < x) k++;
  const p = prepared[k]!;
  const info = { format: p.seed.format, seed: p.seed.name, ext: p.seed.ext, checkWavelengths: rng.chance(0.25), countRows: rng.chance(0.33) };
  const valueCases = [p.fits && fitsValueCase, p.arrowSpec && arrowSpecCase, p.arrowPositions && arrowBytesCase].filter((f) => !!f);
  const valueCase = valueCases.length > 0 && rng.chance(0.2) ? rng.pick(valueCases) : undefined;
  if (valueCase) {
    const made = valueCase(p, rng);
    return { ...info, bytes: p.gz ? gzip(made.bytes, rng) : made.bytes, mutations: [made.note], oracle: made.expect.kind, expect: made.expect };
  }
  // Mutate inside the compression mostly: a damaged gzip stream alone only tests zlib.
  const inside = p.gz && rng.chance(0.85);
  let bytes = inside || !p.gz ? p.inner : p.raw;
  const mutations: string[] = [];
  const count = rng.chance(0.6) ? 1 : 2 + rng.int(3);
  const others = prepared.filter((o) => o !== p && o.seed.format === p.seed.format);
  for (let m = 0; m < count; m++) {
    const mutated = inside || !p.gz ? structuralMutation(p, bytes, rng, others) : rng.pick(GENERIC)(bytes, rng);
    bytes = mutated.bytes;
    mutations.push(mutated.note);
  }
  if (inside) {
    bytes = gzip(bytes, rng);
    mutations.push('gzipped');
  }
  return { ...info, bytes, mutations };
}

// ---------------------------------------------------------------------------------------------
// Reading and checking

interface Outcome {
  rows: number;
  rowCount?: number;
  countRows?: number;
  flux: Float32Array;
  ids: string[];
  labels?: number[];
  error?: unknown;
}

/** How the readers are asked to read: batch size, and the CSV reader's chunk size (CsvReadOptions). */
interface ReadShape {
  batchSize: number;
  chunkBytes: number;
}

async function readWithOpenSpectra(path: string, shape: ReadShape, countRows: boolean): Promise<Outcome> {
  const fluxParts: Float32Array[] = [];
  const ids: string[] = [];
  let labels: number[] | undefined;
  let rows = 0;
  let rowCount: number | undefined;
  let counted: number | undefined;
  try {
    // openSpectra hands its options to the format's reader; chunkBytes is the CSV reader's own.
    const source = await openSpectra(path, { batchSize: shape.batchSize, chunkBytes: shape.chunkBytes } as ReadOptions);
    rowCount = source.rowCount;
    try {
      for await (const batch of source.batches()) {
        const n = batch.ids.length;
        fluxParts.push(batch.flux.slice(0, n * batch.grid.length));
        ids.push(...batch.ids);
        if (batch.labels) (labels ??= []).push(...batch.labels.subarray(0, n));
        rows += n;
      }
      if (countRows && source.countRows) counted = await source.countRows();
    } finally {
      await source.close();
    }
  } catch (error) {
    return { rows, flux: new Float32Array(0), ids, error };
  }
  return { rows, rowCount, countRows: counted, flux: concatFloat32(fluxParts), ids, labels };
}

async function readWithTsCsv(bytes: Uint8Array, path: string, gz: boolean, shape: ReadShape): Promise<Outcome | undefined> {
  let text: Uint8Array;
  try {
    text = gz ? gunzip(bytes) : bytes;
  } catch {
    return undefined; // a damaged gzip stream: nothing to compare
  }
  const fluxParts: Float32Array[] = [];
  const ids: string[] = [];
  let labels: number[] | undefined;
  let rows = 0;
  try {
    // The TS reader is fed the bytes in chunks of the size the native one read them in.
    async function* chunks() {
      for (let at = 0; at < text.length; at += shape.chunkBytes) yield text.subarray(at, at + shape.chunkBytes);
    }
    for await (const batch of readCsvBatches(chunks(), path, { batchSize: shape.batchSize })) {
      const n = batch.ids.length;
      fluxParts.push(batch.flux.slice(0, n * batch.grid.length));
      ids.push(...batch.ids);
      if (batch.labels) (labels ??= []).push(...batch.labels.subarray(0, n));
      rows += n;
    }
  } catch (error) {
    return { rows, flux: new Float32Array(0), ids, error };
  }
  return { rows, flux: concatFloat32(fluxParts), ids, labels };
}

function concatFloat32(parts: Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function sameBits(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return -2;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.name}${e instanceof AstrospecError ? ` ${e.code}` : ''}: ${e.message.slice(0, 300)}`;
  return `non-Error thrown: ${String(e).slice(0, 200)}`;
}

const ALLOWED_CODES = new Set(['BAD_INPUT', 'TRUNCATED', 'UNSUPPORTED']);

function checkOutcome(c: Case, path: string, out: Outcome): { kind: FindingKind; message: string }[] {
  const problems: { kind: FindingKind; message: string }[] = [];
  if (out.error !== undefined) {
    const e = out.error;
    if (!(e instanceof AstrospecError)) problems.push({ kind: 'escape', message: `${describeError(e)}${e instanceof Error && e.stack ? ` @ ${e.stack.split('\n').slice(1, 3).join(' ').trim()}` : ''}` });
    else if (!ALLOWED_CODES.has(e.code)) problems.push({ kind: 'escape', message: `unexpected code: ${describeError(e)}` });
    else if (e.file !== path || !e.message.startsWith(path) || e.message.length > 500) problems.push({ kind: 'unnamed', message: describeError(e) });
  } else {
    const L = out.rows === 0 ? 0 : out.flux.length / out.rows;
    for (let i = 0; i < out.flux.length; i++) {
      if (!Number.isFinite(out.flux[i]!)) {
        problems.push({ kind: 'misread', message: `read succeeded with non-finite flux ${out.flux[i]} (row ${Math.floor(i / L) + 1}, pixel ${i % L})` });
        break;
      }
    }
    if (out.ids.length !== out.rows) problems.push({ kind: 'misread', message: `${out.ids.length} ids for ${out.rows} rows` });
    if (out.rowCount !== undefined && out.rowCount !== out.rows) problems.push({ kind: 'misread', message: `rowCount ${out.rowCount} but ${out.rows} rows read` });
    if (out.countRows !== undefined && out.countRows !== out.rows) problems.push({ kind: 'misread', message: `countRows() ${out.countRows} but ${out.rows} rows read` });
    if (out.labels && out.labels.some((l) => !(l >= -1 && l <= 2))) problems.push({ kind: 'misread', message: 'label outside −1…2' });
    if (c.ext.startsWith('.fits') && c.checkWavelengths) {
      // A spectrum is resampled by interpolating over its wavelengths: read as valid, they must be
      // finite and increasing, or the flux on the grid is meaningless (zeros or scrambled). The
      // readers check this themselves now, so it is re-checked here on a sample of the reads.
      const problem = fitsWavelengthProblem(c.bytes, path);
      if (problem) problems.push({ kind: 'misread', message: `read succeeded, but ${problem}` });
    }
  }
  const want = c.expect;
  if (want) {
    if (want.error) {
      if (out.error === undefined) problems.push({ kind: 'misread', message: `${want.kind}: expected an error matching ${want.error}, read ${out.rows} rows` });
      else if (!(out.error instanceof AstrospecError) || !want.error.test(out.error.message)) problems.push({ kind: 'misread', message: `${want.kind}: expected an error matching ${want.error}, got ${describeError(out.error)}` });
    } else if (out.error !== undefined) {
      problems.push({ kind: 'misread', message: `${want.kind}: a valid file was refused: ${describeError(out.error)}` });
    } else {
      const at = sameBits(out.flux, want.flux!);
      if (at !== -1) problems.push({ kind: 'misread', message: `${want.kind}: flux differs${at >= 0 ? ` at value ${at}: read ${out.flux[at]}, expected ${want.flux![at]}` : `: ${out.flux.length} values, expected ${want.flux!.length}`}` });
      if (want.ids && JSON.stringify(want.ids) !== JSON.stringify(out.ids)) problems.push({ kind: 'misread', message: `${want.kind}: ids ${JSON.stringify(out.ids).slice(0, 120)}, expected ${JSON.stringify(want.ids).slice(0, 120)}` });
      if (want.labels && JSON.stringify(want.labels) !== JSON.stringify(out.labels)) problems.push({ kind: 'misread', message: `${want.kind}: labels ${JSON.stringify(out.labels)}, expected ${JSON.stringify(want.labels)}` });
    }
  }
  return problems;
}

function fitsWavelengthProblem(bytes: Uint8Array, path: string): string | undefined {
  let spectrum: FitsSpectrum;
  try {
    spectrum = parseFitsSpectrum(bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzip(bytes) : bytes, path);
  } catch {
    return undefined; // gunzip read it differently: nothing to say here
  }
  const w = spectrum.wavelength;
  for (let i = 0; i < w.length; i++) {
    if (!Number.isFinite(w[i]!)) return `wavelength[${i}] is ${w[i]}`;
    if (i > 0 && !(w[i]! > w[i - 1]!)) return `wavelengths are not increasing: [${i - 1}] = ${w[i - 1]}, [${i}] = ${w[i]}`;
  }
  return undefined;
}

function compareCsvReaders(native: Outcome, ts: Outcome): string | undefined {
  if (native.error !== undefined || ts.error !== undefined) {
    if (native.error === undefined) return `TS reader refused what the native one read (${native.rows} rows): ${describeError(ts.error)}`;
    if (ts.error === undefined) return `native reader refused what the TS one read (${ts.rows} rows): ${describeError(native.error)}`;
    const a = (native.error as Error).message;
    const b = (ts.error as Error)?.message;
    return a === b ? undefined : `different errors: native "${a.slice(0, 200)}", TS "${String(b).slice(0, 200)}"`;
  }
  if (native.rows !== ts.rows) return `native read ${native.rows} rows, TS ${ts.rows}`;
  const at = sameBits(native.flux, ts.flux);
  if (at !== -1) return `flux differs at value ${at}: native ${native.flux[at]}, TS ${ts.flux[at]}`;
  if (JSON.stringify(native.ids) !== JSON.stringify(ts.ids)) return 'ids differ';
  if (JSON.stringify(native.labels) !== JSON.stringify(ts.labels)) return 'labels differ';
  return undefined;
}

// ---------------------------------------------------------------------------------------------

function signature(kind: string, format: string, message: string, path: string): string {
  return `${kind}|${format}|${message.split(path).join('<file>').replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, '#').slice(0, 160)}`;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]!) as WorkerConfig;
  mkdirSync(config.caseDir, { recursive: true });
  mkdirSync(config.findingsDir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(config.corpusDir, 'corpus.json'), 'utf8')) as Seed[];
  const chosen = manifest.filter((s) => !config.formats || config.formats.includes(s.format));
  const prepared: Prepared[] = [];
  for (const seed of chosen) prepared.push(await prepare(seed, config));
  // Each format gets an equal share of the cases; within a format, seeds by weight.
  const perFormat = new Map<FuzzFormat, number>();
  for (const p of prepared) perFormat.set(p.seed.format, (perFormat.get(p.seed.format) ?? 0) + p.seed.weight);
  const weights: number[] = [];
  let total = 0;
  for (const p of prepared) weights.push((total += p.seed.weight / perFormat.get(p.seed.format)!));
  const rng = new Rng(config.seed);
  const send = (m: WorkerMessage) => process.send!(m);
  send({ type: 'ready', seeds: prepared.length });

  let stopping = false;
  process.on('message', (m: { type: string }) => {
    if (m?.type === 'stop') stopping = true;
  });
  const executions: Partial<Record<FuzzFormat, number>> = {};
  const oracle: Record<string, number> = {};
  let findings: Finding[] = [];
  let fuzzerErrors: string[] = [];
  let slowest = 0;
  let lastSend = performance.now();
  const saved = new Set<string>();
  let cpu = process.cpuUsage();
  const flush = () => {
    // CPU time used since the last report: on a shared machine, executions per CPU-second say
    // what the fuzzer does with the cores it gets.
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    send({ type: 'report', executions: { ...executions }, oracle: { ...oracle }, findings, slowest, fuzzerErrors, cpuMs: (used.user + used.system) / 1000 });
    fuzzerErrors = [];
    for (const k of Object.keys(executions)) delete executions[k as FuzzFormat];
    for (const k of Object.keys(oracle)) delete oracle[k];
    findings = [];
    slowest = 0;
    lastSend = performance.now();
  };
  let current: Case | undefined;
  let previous: Case | undefined;
  const crashed = (what: string, error: unknown) => {
    // An error nothing could catch (e.g. an 'error' event from a stream inside a reader): a crash.
    // It may come from the previous case's leftover work, so that case is kept too.
    const stack = ((error as Error)?.stack ?? '').split('\n').slice(1, 4).map((l) => l.trim()).join(' ');
    if (previous) writeFileSync(join(config.caseDir, `previous${previous.ext}`), previous.bytes);
    writeFileSync(join(config.caseDir, 'crash.json'), JSON.stringify({ message: `${what} ${describeError(error)} @ ${stack}`, previous: previous && { seed: previous.seed, ext: previous.ext, mutations: previous.mutations } }));
    process.exit(70);
  };
  process.on('uncaughtException', (error) => crashed('uncaught', error));
  process.on('unhandledRejection', (error) => crashed('unhandled rejection', error));

  while (!stopping) {
    let c: Case;
    try {
      c = makeCase(prepared, weights, rng);
    } catch (error) {
      // The fuzzer's own fault, not the readers': counted and shown, never a finding.
      fuzzerErrors.push(describeError(error) + ` @ ${((error as Error)?.stack ?? '').split('\n')[1]?.trim()}`);
      continue;
    }
    previous = current;
    current = c;
    const currentPath = join(config.caseDir, `case${c.ext}`);
    writeFileSync(join(config.caseDir, 'case.json'), JSON.stringify({ format: c.format, seed: c.seed, ext: c.ext, mutations: c.mutations, oracle: c.oracle } satisfies CaseInfo));
    writeFileSync(currentPath, c.bytes);
    const started = performance.now();
    const startedCpu = process.cpuUsage();
    const csv = c.format === 'csv' || c.format === 'csv.gz';
    // Batches of a few rows mostly (re-cutting record batches and CSV chunks into batches is
    // under test too), sometimes the default 1024 (which allocates 10 MB of flux per read).
    const shape: ReadShape = { batchSize: rng.chance(0.05) ? 1024 : rng.pick(BATCH_SIZES), chunkBytes: rng.pick(CHUNK_BYTES) };
    const out = await readWithOpenSpectra(currentPath, shape, csv && c.countRows === true);
    const ms = performance.now() - started;
    const cpu = process.cpuUsage(startedCpu);
    const readCpuMs = (cpu.user + cpu.system) / 1000;
    const problems = checkOutcome(c, currentPath, out);
    if (csv) {
      const ts = await readWithTsCsv(c.bytes, currentPath, c.format === 'csv.gz', shape);
      if (ts) {
        const disagreement = compareCsvReaders(out, ts);
        if (disagreement) problems.push({ kind: 'disagreement', message: disagreement });
      }
      oracle['csv-native-vs-ts'] = (oracle['csv-native-vs-ts'] ?? 0) + 1;
    }
    if (c.oracle) oracle[c.oracle] = (oracle[c.oracle] ?? 0) + 1;
    // CPU time: on a shared machine a read can wait seconds for a core without being slow.
    if (readCpuMs > HANG_MS) problems.push({ kind: 'hang', message: `read took ${readCpuMs.toFixed(0)} ms of CPU time (${ms.toFixed(0)} ms in all)` });
    const rss = process.resourceUsage().maxRSS / 1024;
    if (rss > RSS_LIMIT_MB) problems.push({ kind: 'memory', message: `peak RSS ${rss.toFixed(0)} MB` });
    for (const problem of problems) {
      const sig = signature(problem.kind, c.format, problem.message, currentPath);
      let file: string | undefined;
      if (!saved.has(sig)) {
        saved.add(sig);
        file = join(config.findingsDir, `${problem.kind}-${c.seed}-${config.seed}-${saved.size}${c.ext}`);
        writeFileSync(file, c.bytes);
        writeFileSync(`${file}.json`, JSON.stringify({ ...problem, format: c.format, seed: c.seed, mutations: c.mutations }, null, 1));
      }
      findings.push({ kind: problem.kind, format: c.format, seed: c.seed, mutations: c.mutations, message: problem.message.split(currentPath).join('<case>'), file, milliseconds: ms });
    }
    executions[c.format] = (executions[c.format] ?? 0) + 1;
    slowest = Math.max(slowest, ms);
    if (rss > RSS_LIMIT_MB) {
      flush();
      process.exit(0); // start afresh: maxRSS never goes down
    }
    if (performance.now() - lastSend > 100) flush();
  }
  flush();
  process.disconnect?.();
}

await main();
