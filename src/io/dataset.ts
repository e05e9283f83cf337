/**
 * Datasets: several spectra files read as one input, with one global row index, and shards of it
 * that read only their own slice.
 *
 * An input is any mix of
 *   - files: .csv, .csv.gz, .arrow/.feather/.ipc, .fits/.fit(.gz), in the order given;
 *   - folders, classified by their contents: a folder with astrospec-manifest.json is a folder of
 *     Arrow chunks (the manifest lists them, their rows and their grid: src/io/manifest.ts);
 *     otherwise its spectra files of every format, in sorted name order (hidden files, other
 *     files and subfolders are ignored);
 *   - globs (`data/*.arrow`, `dr10/**\/*.fits.gz`: `*`, `?`, `[…]` in any path segment, `**` for any
 *     depth), their matches in sorted order;
 *   - `@list.txt`: a text file naming one file, folder or glob per line (blank lines and `#`
 *     comments skipped; relative paths are relative to the list's folder), in the order given.
 * Names sort by their UTF-16 code units, the same on every machine and locale. A file named twice
 * is read twice (its rows get two sets of row numbers).
 *
 * Shard i of N (`--shard i/N`) reads only its slice:
 *   - when every file's row count is known without reading flux (Arrow: the footer's blocks or
 *     the manifest; FITS: one spectrum per file), the R rows split into N contiguous blocks
 *     [floor(i·R/N), floor((i+1)·R/N)) numbered globally ("rows" split). An Arrow file is read
 *     from the record batch holding the shard's first row (arrow.ts rowRange); FITS files from
 *     the shard's first file; no other file is opened.
 *   - otherwise (CSV, whose rows are only known by reading it), the files' bytes, laid end to end,
 *     split into N equal byte ranges ("bytes" split): a CSV row belongs to the shard whose range
 *     holds the first byte of its line, so each shard parses only its own lines (csv.ts
 *     byteRange); a row of an Arrow or FITS file in such a dataset sits at its proportional
 *     position in its file. A shard can't know how many rows the ranges before it hold, so its
 *     rows are numbered from 0 within the shard, and `astrospec merge` numbers them globally
 *     (src/infer/shard-output.ts). A gzip-compressed CSV can't be read from the middle: it goes
 *     whole to the shard whose range holds its first byte, with a note saying so.
 * Every file is checked, when it is read, to be the file that was listed (src/io/file-identity.ts),
 * and to have the grid of the dataset's first file.
 */
import { createHash } from 'node:crypto';
import { open, readdir, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { AstrospecError, check, excerpt } from '../errors.js';
import { COMPETITION_GRID, sameGrid, type SpectrumBatch, type WavelengthGrid } from './batch.js';
import { fileIdentity, type FileIdentity } from './file-identity.js';
import { MANIFEST_NAME, readChunkManifest, type ChunkManifest } from './manifest.js';
import { countBytesRead } from './read-stats.js';
import type { ReadOptions, SourceSlice, SpectraFormat, SpectraSource } from './types.js';

/** Shard i of N. */
export interface Shard {
  index: number;
  count: number;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new AstrospecError('BAD_ARGUMENT', `--shard must look like i/N (e.g. 0/4), got "${text}"`);
  const shard = { index: Number(m[1]), count: Number(m[2]) };
  check(Number.isSafeInteger(shard.count) && shard.count >= 1 && shard.index < shard.count, `--shard ${text}: need 0 ≤ i < N`);
  return shard;
}

/** Shard i of N over R rows: rows [floor(i·R/N), floor((i+1)·R/N)). */
export function shardRange(rows: number, shard: Shard): [number, number] {
  return [Math.floor((shard.index * rows) / shard.count), Math.floor(((shard.index + 1) * rows) / shard.count)];
}

/** Format of a path from its extension, or undefined. */
export function formatOfPath(path: string): SpectraFormat | undefined {
  const p = path.toLowerCase();
  if (p.endsWith('.csv') || p.endsWith('.csv.gz')) return 'csv';
  if (p.endsWith('.arrow') || p.endsWith('.feather') || p.endsWith('.ipc')) return 'arrow';
  if (p.endsWith('.fits') || p.endsWith('.fits.gz') || p.endsWith('.fit') || p.endsWith('.fit.gz')) return 'fits';
  return undefined;
}

const UNKNOWN_FORMAT = 'unknown spectra format: expected .csv, .csv.gz, .arrow, .feather, .ipc, .fits, .fits.gz, a folder, a glob or @list.txt';

export interface DatasetFile {
  path: string;
  format: SpectraFormat;
  /** Rows and bytes as a chunk manifest states them. */
  listed?: { rows: number; bytes: number; manifest: ChunkManifest };
}

export interface Dataset {
  /** The inputs as given. */
  inputs: string[];
  files: DatasetFile[];
}

function isGzipCsv(file: DatasetFile): boolean {
  return file.format === 'csv' && file.path.toLowerCase().endsWith('.gz');
}

// ---------------------------------------------------------------------------------------------
// Listing

/** The longest line a list file may hold: paths are at most a few kB. */
const MAX_LIST_LINE = 64 << 10;

/**
 * A list line `# listed: <bytes> bytes, mtime_ms <ms>` (what `plan --list-out` writes after each
 * path): the size and modification time the path had when it was listed. For a chunk folder they
 * are its manifest's. A comment to anything else that reads the list.
 */
const LISTED_LINE = /^# listed: (\d+) bytes, mtime_ms (\d+(?:\.\d+)?)$/;

interface ListEntry {
  path: string;
  /** Size and modification time at listing, from a `# listed:` line after the path. */
  listed?: { size: number; mtimeMs: number };
}

/** Entries of a list file, trimmed, without blank lines and # comments. */
async function readListFile(list: string): Promise<ListEntry[]> {
  const fh = await open(list, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new AstrospecError('IO', error.code === 'ENOENT' ? 'no such list file' : error.message, { file: list }, { cause: error });
  });
  const entries: ListEntry[] = [];
  try {
    const chunk = Buffer.alloc(1 << 20);
    let carry = '';
    let lineNumber = 0;
    let previous: ListEntry | undefined;
    const take = (line: string) => {
      lineNumber++;
      const text = line.replace(/\r$/, '').trim();
      const listed = LISTED_LINE.exec(text);
      if (listed && previous && !previous.listed) previous.listed = { size: Number(listed[1]), mtimeMs: Number(listed[2]) };
      if (text === '' || text.startsWith('#')) return;
      previous = { path: text };
      entries.push(previous);
    };
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      countBytesRead(bytesRead);
      if (bytesRead === 0) break;
      if (chunk.subarray(0, bytesRead).includes(0)) throw new AstrospecError('BAD_INPUT', 'a list of paths is text, but this file holds NUL bytes', { file: list });
      const lines = (carry + chunk.toString('utf8', 0, bytesRead)).split('\n');
      carry = lines.pop()!;
      for (const line of lines) take(line);
      if (carry.length > MAX_LIST_LINE) throw new AstrospecError('BAD_INPUT', `line ${lineNumber + 1} is longer than ${MAX_LIST_LINE >> 10} kB: not a list of paths`, { file: list });
    }
    take(carry);
  } finally {
    await fh.close();
  }
  if (entries.length === 0) throw new AstrospecError('BAD_INPUT', 'the list names no files (one path, folder or glob per line)', { file: list });
  return entries;
}

function hasGlobCharacters(path: string): boolean {
  return /[*?[]/.test(path);
}

/** A glob segment as a regular expression: `*` and `?` don't cross `/` or match a leading dot. */
function segmentRegex(segment: string): RegExp {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close < 0) out += '\\[';
      else {
        let body = segment.slice(i + 1, close);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        out += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^(?!\\.)${out}$`);
}

async function listDir(dir: string): Promise<{ name: string; isDir: boolean }[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: { name: string; isDir: boolean }[] = [];
  for (const e of entries) {
    let isDir = e.isDirectory();
    if (e.isSymbolicLink()) isDir = await stat(join(dir, e.name)).then((s) => s.isDirectory(), () => false);
    out.push({ name: e.name, isDir });
  }
  return out;
}

/** Paths matching a glob, sorted; `**` matches any number of folders. */
async function expandGlob(pattern: string): Promise<string[]> {
  const absolute = isAbsolute(pattern);
  const segments = pattern.split(/[/\\]+/).filter((s) => s !== '');
  const matches: string[] = [];
  const walk = async (base: string, k: number): Promise<void> => {
    if (k === segments.length) {
      matches.push(base);
      return;
    }
    const segment = segments[k]!;
    if (segment === '**') {
      await walk(base, k + 1);
      for (const e of await listDir(base === '' ? '.' : base)) if (e.isDir && !e.name.startsWith('.')) await walk(join(base, e.name), k);
      return;
    }
    if (!hasGlobCharacters(segment)) {
      await walk(base === '' ? segment : join(base, segment), k + 1);
      return;
    }
    const regex = segmentRegex(segment);
    const entries = (await listDir(base === '' ? '.' : base)).filter((e) => regex.test(e.name) && (k === segments.length - 1 || e.isDir));
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) await walk(base === '' ? e.name : join(base, e.name), k + 1);
  };
  await walk(absolute ? sep : '', 0);
  const existing: string[] = [];
  for (const m of [...new Set(matches)].sort()) if (await stat(m).then(() => true, () => false)) existing.push(m);
  return existing;
}

/** IO error naming `path` when it is no longer as a list file recorded it (size, modification time). */
function checkAsListed(path: string, now: Stats, listed: ListEntry['listed'], list: string | undefined): void {
  if (!listed || (now.size === listed.size && now.mtimeMs === listed.mtimeMs)) return;
  const when = (ms: number) => new Date(ms).toISOString();
  throw new AstrospecError(
    'IO',
    `changed after it was listed in ${list} (${listed.size} bytes, modified ${when(listed.mtimeMs)}; now ${now.size} bytes, modified ${when(now.mtimeMs)}): the dataset is no longer the one listed; list it again (and classify every shard again)`,
    { file: path },
  );
}

async function listFolder(dir: string, out: DatasetFile[], listed?: ListEntry['listed'], list?: string): Promise<void> {
  const manifestPath = join(dir, MANIFEST_NAME);
  const manifestStat = await stat(manifestPath).catch(() => undefined);
  const manifestPresent = manifestStat?.isFile() === true;
  if (listed && !manifestPresent) {
    throw new AstrospecError('IO', `no ${MANIFEST_NAME} in this chunk folder, which had one when it was listed in ${list}: list the dataset again`, { file: dir });
  }
  if (manifestPresent) {
    // A chunk folder is rewritten whole (convert renames a new folder into place): its manifest changes with it.
    checkAsListed(manifestPath, manifestStat, listed, list);
    const manifest = await readChunkManifest(dir);
    for (const f of manifest.files) out.push({ path: join(dir, f.file), format: 'arrow', listed: { rows: f.rows, bytes: f.bytes, manifest } });
    return;
  }
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new AstrospecError('IO', (error as Error).message, { file: dir }, { cause: error });
  }
  const names = entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith('.') && formatOfPath(e.name) !== undefined)
    .map((e) => e.name)
    .sort();
  if (names.length === 0) {
    throw new AstrospecError('BAD_INPUT', 'no spectra files in this folder (.fits, .fits.gz, .csv, .csv.gz, .arrow, .feather, .ipc, or an astrospec-manifest.json)', { file: dir });
  }
  for (const name of names) out.push({ path: join(dir, name), format: formatOfPath(name)! });
}

async function listEntry(entry: string, out: DatasetFile[], list?: string, listed?: ListEntry['listed']): Promise<void> {
  if (entry.startsWith('@') && list === undefined) {
    const file = entry.slice(1);
    const base = dirname(file);
    for (const line of await readListFile(file)) {
      if (line.path.startsWith('@')) throw new AstrospecError('BAD_ARGUMENT', `a list can't name another list (${excerpt(line.path, 200)})`, { file });
      await listEntry(isAbsolute(line.path) ? line.path : join(base, line.path), out, file, line.listed);
    }
    return;
  }
  const where = list !== undefined ? ` (listed in ${list})` : '';
  const info = await stat(entry).catch((error: NodeJS.ErrnoException) => error);
  if (!(info instanceof Error)) {
    if (info.isDirectory()) return listFolder(entry, out, listed, list);
    const format = formatOfPath(entry);
    if (!format) throw new AstrospecError('UNSUPPORTED', `${UNKNOWN_FORMAT}${where}`, { file: entry });
    checkAsListed(entry, info, listed, list);
    out.push({ path: entry, format });
    return;
  }
  if (hasGlobCharacters(entry)) {
    const matches = await expandGlob(entry);
    if (matches.length === 0) throw new AstrospecError('BAD_INPUT', `no files match this pattern${where}`, { file: entry });
    for (const match of matches) {
      if ((await stat(match)).isDirectory()) await listFolder(match, out);
      else {
        const format = formatOfPath(match);
        if (!format) throw new AstrospecError('UNSUPPORTED', `${UNKNOWN_FORMAT} (matched by ${excerpt(entry, 200)})`, { file: match });
        out.push({ path: match, format });
      }
    }
    return;
  }
  const e = info as NodeJS.ErrnoException;
  throw new AstrospecError('IO', e.code === 'ENOENT' ? `no such file or folder${where}` : e.message, { file: entry }, { cause: e });
}

/** The files an input names (see the top of this file), in reading order. */
export async function listDataset(input: string | string[]): Promise<Dataset> {
  const inputs = typeof input === 'string' ? [input] : [...input];
  if (inputs.length === 0) throw new AstrospecError('BAD_ARGUMENT', 'no input files given');
  const files: DatasetFile[] = [];
  for (const entry of inputs) await listEntry(entry, files);
  if (files.length === 0) throw new AstrospecError('BAD_INPUT', 'the dataset has no files', { file: inputs.join(', ') });
  return { inputs, files };
}

/**
 * A short hash of the dataset as listed: every file's absolute path, size and modification time.
 * Shards of a "bytes" split carry it, and merge compares it with the input's, so shards of
 * different inputs (or of an input changed since) are never joined.
 */
export async function datasetFingerprint(files: DatasetFile[], identities?: FileIdentity[]): Promise<string> {
  const hash = createHash('sha256');
  for (let k = 0; k < files.length; k++) {
    const id = identities?.[k] ?? (await fileIdentity(files[k]!.path));
    hash.update(`${resolve(files[k]!.path)}\0${id.size}\0${id.mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

// ---------------------------------------------------------------------------------------------
// Reading

type RangeSource = SpectraSource & { rowRange?(begin: number, end: number): SpectraSource; byteRange?(start: number, end: number): SpectraSource };

/** Part of the dataset a source reads: one file (all of it, a row range or a byte range) or a run of FITS files. */
interface Segment {
  open(): Promise<SpectraSource>;
  /** Rows, when known before reading. */
  rows?: number;
}

export interface DatasetReadOptions extends ReadOptions {
  shard?: Shard;
}

function describeGrid(grid: WavelengthGrid): string {
  return `${grid.length} pixels from ${grid.start} Å in steps of ${grid.step} Å`;
}

class DatasetReader {
  /** Files whose reader is open (header or footer read), by position in the dataset. */
  readonly opened = new Map<number, RangeSource>();
  private readonly identities = new Map<number, FileIdentity>();
  reference?: { grid: WavelengthGrid; from: string };

  constructor(
    readonly dataset: Dataset,
    readonly options: ReadOptions,
  ) {}

  identity(k: number): Promise<FileIdentity> {
    const known = this.identities.get(k);
    if (known) return Promise.resolve(known);
    const file = this.dataset.files[k]!;
    return fileIdentity(file.path).then((id) => {
      if (file.listed && id.size !== file.listed.bytes) {
        throw new AstrospecError('BAD_INPUT', `${file.listed.manifest.path} says this chunk has ${file.listed.bytes} bytes, but it has ${id.size}: the manifest doesn't describe this file (rewrite the folder with astrospec convert --chunk-rows)`, { file: file.path });
      }
      this.identities.set(k, id);
      return id;
    });
  }

  /** The file's reader (CSV or Arrow), opened once: header or footer read, checked against the listing. */
  async openFile(k: number): Promise<RangeSource> {
    const known = this.opened.get(k);
    if (known) return known;
    const file = this.dataset.files[k]!;
    const identity = await this.identity(k);
    let source: RangeSource;
    if (file.format === 'csv') source = await (await import('./csv.js')).openCsv(file.path, { ...this.options, identity });
    else if (file.format === 'arrow') {
      source = await (await import('./arrow.js')).openArrow(file.path, { ...this.options, identity });
      if (file.listed && source.rowCount !== file.listed.rows) {
        throw new AstrospecError('BAD_INPUT', `${file.listed.manifest.path} says this chunk has ${file.listed.rows} rows, but it has ${source.rowCount}: the manifest doesn't describe this file (rewrite the folder with astrospec convert --chunk-rows)`, { file: file.path });
      }
      if (file.listed && !sameGrid(source.grid, file.listed.manifest.grid)) {
        throw new AstrospecError('BAD_INPUT', `has ${describeGrid(source.grid)}, but ${file.listed.manifest.path} says ${describeGrid(file.listed.manifest.grid)}`, { file: file.path });
      }
    } else throw new Error('openFile: FITS files are read in runs');
    this.checkGrid(source.grid, file.path);
    this.opened.set(k, source);
    return source;
  }

  /** The grid every file must have: the first file's (a manifest's, or the FITS target grid). */
  async fixReference(): Promise<void> {
    if (this.reference) return;
    const first = this.dataset.files[0]!;
    if (first.listed) this.reference = { grid: first.listed.manifest.grid, from: first.listed.manifest.path };
    else if (first.format === 'fits') this.reference = { grid: this.options.resampleGrid ?? this.options.grid ?? COMPETITION_GRID, from: first.path };
    else {
      const source = await this.openFile(0);
      this.reference ??= { grid: source.grid, from: first.path };
    }
  }

  checkGrid(grid: WavelengthGrid, path: string): void {
    if (!this.reference) {
      this.reference = { grid, from: path };
      return;
    }
    if (!sameGrid(grid, this.reference.grid)) {
      throw new AstrospecError('BAD_INPUT', `has ${describeGrid(grid)}, but ${this.reference.from} has ${describeGrid(this.reference.grid)}: a dataset's files must share one grid`, { file: path });
    }
  }

  /** Rows of file k when known without reading flux (manifest, FITS, an Arrow file's index). */
  async knownRows(k: number): Promise<number | undefined> {
    const file = this.dataset.files[k]!;
    if (file.listed) return file.listed.rows;
    if (file.format === 'fits') return 1;
    if (file.format === 'arrow') return (await this.openFile(k)).rowCount;
    return undefined;
  }

  fitsRun(from: number, to: number, rows?: [number, number]): Segment {
    const files = this.dataset.files.slice(from, to).map((f) => f.path);
    const [a, b] = rows ?? [0, files.length];
    return {
      rows: b - a,
      open: async () => {
        const { openFitsFiles } = await import('./fits.js');
        const path = b - a > 1 ? `${files[a]} … ${files[b - 1]} (${b - a} files)` : files[a]!;
        const source = await openFitsFiles(files.slice(a, b), this.options, { path, firstPosition: from + a });
        this.checkGrid(source.grid, files[a]!);
        return source;
      },
    };
  }

  /** Segments reading files [0, n) whole, FITS files grouped into runs. */
  wholeSegments(): Segment[] {
    const files = this.dataset.files;
    const segments: Segment[] = [];
    for (let k = 0; k < files.length; ) {
      if (files[k]!.format === 'fits') {
        let end = k;
        while (end < files.length && files[end]!.format === 'fits') end++;
        segments.push(this.fitsRun(k, end));
        k = end;
        continue;
      }
      const index = k++;
      segments.push({ open: () => this.openFile(index), rows: files[index]!.listed?.rows });
    }
    return segments;
  }

  /** Segments for global rows [begin, end), given every file's row count. */
  rowSegments(counts: number[], begin: number, end: number): Segment[] {
    const files = this.dataset.files;
    const segments: Segment[] = [];
    let offset = 0;
    for (let k = 0; k < files.length; ) {
      if (files[k]!.format === 'fits') {
        let last = k;
        while (last < files.length && files[last]!.format === 'fits') last++;
        // One row per file: the run's rows are its files.
        const a = Math.max(begin, offset) - offset;
        const b = Math.min(end, offset + (last - k)) - offset;
        if (a < b) segments.push(this.fitsRun(k, last, [a, b]));
        offset += last - k;
        k = last;
        continue;
      }
      const rows = counts[k]!;
      const a = Math.max(begin, offset) - offset;
      const b = Math.min(end, offset + rows) - offset;
      if (a < b) {
        const index = k;
        segments.push({ rows: b - a, open: async () => (await this.openFile(index)).rowRange!(a, b) });
      }
      offset += rows;
      k++;
    }
    return segments;
  }

  async close(): Promise<void> {
    await Promise.all([...this.opened.values()].map((s) => s.close()));
  }
}

/** Smallest row k of a file of `rows` rows and `size` bytes whose position floor(k·size/rows) is ≥ x. */
function firstRowAt(x: number, rows: number, size: number): number {
  if (x <= 0) return 0;
  if (size <= 0) return rows;
  const k = (BigInt(x) * BigInt(rows) + BigInt(size) - 1n) / BigInt(size);
  return Number(k < BigInt(rows) ? k : BigInt(rows));
}

/** Segments for the byte range [from, to) of the files laid end to end (a "bytes" split). */
async function byteSegments(reader: DatasetReader, identities: FileIdentity[], from: number, to: number, notes: string[], shard: Shard): Promise<Segment[]> {
  const files = reader.dataset.files;
  const segments: Segment[] = [];
  let offset = 0;
  let fitsRun: { first: number; last: number } | undefined;
  const flushFits = () => {
    if (fitsRun) segments.push(reader.fitsRun(fitsRun.first, fitsRun.last + 1));
    fitsRun = undefined;
  };
  const total = identities.reduce((n, id) => n + id.size, 0);
  for (let k = 0; k < files.length; k++) {
    const file = files[k]!;
    const size = identities[k]!.size;
    const start = offset;
    offset += size;
    if (size === 0) {
      // An empty file holds no byte to own: the shard whose range holds its position opens it,
      // so it fails there as it does in one process.
      if (from <= start && (start < to || to === total)) {
        flushFits();
        const index = k;
        segments.push({ open: () => (file.format === 'fits' ? reader.fitsRun(index, index + 1).open() : reader.openFile(index)) });
      }
      continue;
    }
    if (file.format === 'fits') {
      // A FITS file is one row, at the file's first byte.
      if (from <= start && start < to) {
        if (fitsRun && fitsRun.last === k - 1) fitsRun.last = k;
        else {
          flushFits();
          fitsRun = { first: k, last: k };
        }
      }
      continue;
    }
    flushFits();
    const index = k;
    if (isGzipCsv(file)) {
      if (from <= start && start < to) {
        notes.push(`${file.path}: gzip can't seek, so this shard (${shard.index}/${shard.count}) reads all of it; convert it to Arrow (astrospec convert ${file.path} -o ….arrow) to split it between shards`);
        segments.push({ open: () => reader.openFile(index) });
      }
      continue;
    }
    if (file.format === 'csv') {
      const a = Math.max(from - start, 0);
      const b = Math.min(to - start, size);
      if (a < b) segments.push({ open: async () => (await reader.openFile(index)).byteRange!(a, b) });
      continue;
    }
    // Arrow: row j sits at byte floor(j·size/rows) of the file; only files that overlap the range are opened.
    if (start + size <= from || start >= to) continue;
    const rows = (await reader.knownRows(k))!;
    const a = firstRowAt(from - start, rows, size);
    const b = firstRowAt(to - start, rows, size);
    if (a < b) segments.push({ rows: b - a, open: async () => (await reader.openFile(index)).rowRange!(a, b) });
  }
  flushFits();
  return segments;
}

/**
 * Opens a dataset (or one shard of it) as one source. Batches never span two files, except runs
 * of FITS files (one spectrum each). `firstRow` is the global row, or, in a "bytes" split, the row
 * within the shard (see `slice`).
 */
export async function openDataset(input: string | string[] | Dataset, options: DatasetReadOptions = {}): Promise<SpectraSource> {
  const dataset = typeof input === 'object' && !Array.isArray(input) ? input : await listDataset(input);
  const { shard, ...readOptions } = options;
  const reader = new DatasetReader(dataset, readOptions);
  const files = dataset.files;
  try {
    let segments: Segment[];
    let slice: SourceSlice | undefined;
    let rowCount: number | undefined;
    let byteLength = 0;
    if (!shard) {
      // Every tabular file is opened now (its header or footer), as a list always was: grids and
      // labels are known up front, and rowCount when no file is CSV.
      // Chunks a manifest lists are opened only when read: it gives their rows and sizes.
      await reader.fixReference();
      const counts: (number | undefined)[] = [];
      for (let k = 0; k < files.length; k++) {
        const file = files[k]!;
        if (file.format === 'fits') counts.push(1);
        else if (file.listed) {
          counts.push(file.listed.rows);
          byteLength += file.listed.bytes;
        } else {
          const source = await reader.openFile(k);
          counts.push(source.rowCount);
          byteLength += source.byteLength;
        }
      }
      segments = reader.wholeSegments();
      rowCount = counts.every((c) => c !== undefined) ? counts.reduce<number>((n, c) => n + c!, 0) : undefined;
    } else {
      await reader.fixReference();
      const rowsKnown = files.every((f) => f.format !== 'csv');
      if (rowsKnown) {
        const counts: number[] = [];
        for (let k = 0; k < files.length; k++) counts.push((await reader.knownRows(k))!);
        const total = counts.reduce((n, c) => n + c, 0);
        const [begin, end] = shardRange(total, shard);
        segments = reader.rowSegments(counts, begin, end);
        rowCount = end - begin;
        slice = { shard, split: 'rows', begin, end, totalRows: total, notes: [] };
      } else {
        const identities: FileIdentity[] = [];
        for (let k = 0; k < files.length; k++) identities.push(await reader.identity(k));
        const total = identities.reduce((n, id) => n + id.size, 0);
        const [from, to] = shardRange(total, shard);
        const notes: string[] = [];
        segments = await byteSegments(reader, identities, from, to, notes, shard);
        slice = { shard, split: 'bytes', bytes: [from, to], totalBytes: total, fingerprint: await datasetFingerprint(files, identities), notes };
      }
      byteLength = 0;
    }
    return new DatasetSource(dataset, reader, segments, rowCount, byteLength, slice);
  } catch (error) {
    await reader.close();
    throw error;
  }
}

class DatasetSource implements SpectraSource {
  readonly path: string;
  readonly format: SpectraFormat;
  readonly grid: WavelengthGrid;
  private fitsBytes = 0;

  constructor(
    private readonly dataset: Dataset,
    private readonly reader: DatasetReader,
    private readonly segments: Segment[],
    readonly rowCount: number | undefined,
    private readonly tabularBytes: number,
    readonly slice: SourceSlice | undefined,
  ) {
    this.path = dataset.inputs.join(',');
    this.format = dataset.files[0]!.format;
    this.grid = reader.reference!.grid;
  }

  /** Labels when every file read so far has them; FITS files always do, manifests say. */
  get hasLabels(): boolean {
    const files = this.dataset.files;
    return files.every((f, k) => {
      if (f.format === 'fits') return true;
      if (f.listed) return f.listed.manifest.hasLabels;
      const opened = this.reader.opened.get(k);
      return opened === undefined ? true : opened.hasLabels;
    });
  }

  /** Bytes of the input: the tabular files opened up front, plus FITS files as they are read. */
  get byteLength(): number {
    return this.tabularBytes + this.fitsBytes;
  }

  async countRows(): Promise<number> {
    if (this.rowCount !== undefined) return this.rowCount;
    let rows = 0;
    for (const segment of this.segments) {
      if (segment.rows !== undefined) {
        rows += segment.rows;
        continue;
      }
      const source = await segment.open();
      rows += source.rowCount ?? (source.countRows ? await source.countRows() : 0);
    }
    return rows;
  }

  async *batches(): AsyncGenerator<SpectrumBatch> {
    const labelled = this.hasLabels;
    let next = this.slice?.begin ?? 0;
    for (const segment of this.segments) {
      const source = await segment.open();
      try {
        for await (const batch of source.batches()) {
          const out: SpectrumBatch = { ...batch, firstRow: next };
          if (!labelled) delete out.labels;
          next += batch.ids.length;
          yield out;
        }
        if (source.format === 'fits') this.fitsBytes += source.byteLength;
      } finally {
        if (source.format === 'fits') await source.close();
      }
    }
  }

  async close(): Promise<void> {
    await this.reader.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Planning

export interface DatasetSummary {
  files: number;
  /** Files by format (csv counts .csv.gz too). */
  formats: Record<SpectraFormat, number>;
  /** Rows, when every file's count is known without reading flux; else undefined. */
  rows?: number;
  /** Rows estimated from the CSV files' sizes and their first lines, when `rows` is not known. */
  estimatedRows?: number;
  /** Sum of the files' sizes (stat'ed). */
  bytes: number;
  /** How `--shard` splits it. */
  split: 'rows' | 'bytes';
  /** A "bytes" split's dataset fingerprint (what its shards carry). */
  fingerprint?: string;
  /** Files that go whole to one shard (gzip CSV). */
  unsplittable: string[];
}

/** Data bytes per row of a CSV file, from its first MB after the header (undefined when it has no full line). */
async function csvBytesPerRow(path: string): Promise<number | undefined> {
  if (path.toLowerCase().endsWith('.gz')) return undefined;
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    countBytesRead(bytesRead);
    const head = buf.indexOf(0x0a);
    if (head < 0) return undefined;
    let lines = 0;
    let last = head;
    for (let k = buf.indexOf(0x0a, head + 1); k >= 0 && k < bytesRead; k = buf.indexOf(0x0a, k + 1)) {
      lines++;
      last = k;
    }
    return lines > 0 ? (last - head) / lines : undefined;
  } finally {
    await fh.close();
  }
}

/**
 * What a dataset holds and how shards would split it, from metadata only (footers, manifests,
 * stat; CSV rows estimated from the size and the first lines).
 */
export async function summariseDataset(dataset: Dataset, options: ReadOptions = {}): Promise<DatasetSummary> {
  const reader = new DatasetReader(dataset, options);
  try {
    const files = dataset.files;
    const formats: Record<SpectraFormat, number> = { csv: 0, arrow: 0, fits: 0 };
    const identities: FileIdentity[] = [];
    let bytes = 0;
    for (let k = 0; k < files.length; k++) {
      formats[files[k]!.format]++;
      const id = await reader.identity(k);
      identities.push(id);
      bytes += id.size;
    }
    const split = files.some((f) => f.format === 'csv') ? 'bytes' : 'rows';
    let known = 0;
    let estimated = 0;
    let estimate = true;
    for (let k = 0; k < files.length; k++) {
      const rows = await reader.knownRows(k);
      if (rows !== undefined) {
        known += rows;
        continue;
      }
      const perRow = await csvBytesPerRow(files[k]!.path);
      if (perRow === undefined) estimate = false;
      else estimated += Math.round(identities[k]!.size / perRow);
    }
    const summary: DatasetSummary = { files: files.length, formats, bytes, split, unsplittable: files.filter(isGzipCsv).map((f) => f.path) };
    if (split === 'rows') summary.rows = known;
    else {
      if (estimate) summary.estimatedRows = known + estimated;
      summary.fingerprint = await datasetFingerprint(files, identities);
    }
    return summary;
  } finally {
    await reader.close();
  }
}

/**
 * The dataset as a list file for `@list.txt`: absolute paths, one per line, and a chunk folder
 * as its folder (its manifest lists the chunks), so every task of a job array reads exactly the
 * files listed here, whatever is added to a folder or matches a glob later. After each path a
 * `# listed:` line records its size and modification time (a chunk folder's manifest's): a task
 * that lists the dataset again from this file fails, naming the file, if one was rewritten since,
 * instead of reading rows the other tasks never saw.
 */
export async function datasetListText(dataset: Dataset): Promise<string> {
  const lines: string[] = [];
  const manifests = new Set<string>();
  const add = async (path: string, identityOf: string) => {
    if (/[\r\n]/.test(path)) throw new AstrospecError('BAD_INPUT', 'a path with a line break can\'t be written to a list file', { file: path });
    const id = await fileIdentity(identityOf);
    lines.push(resolve(path), `# listed: ${id.size} bytes, mtime_ms ${id.mtimeMs}`);
  };
  for (const f of dataset.files) {
    if (f.listed) {
      if (!manifests.has(f.listed.manifest.dir)) await add(f.listed.manifest.dir, f.listed.manifest.path);
      manifests.add(f.listed.manifest.dir);
    } else await add(f.path, f.path);
  }
  return `${lines.join('\n')}\n`;
}
