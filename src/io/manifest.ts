/**
 * The manifest of a folder of Arrow chunks (`astrospec convert --chunk-rows K -o folder/`):
 * `astrospec-manifest.json` beside the chunks lists them in order with their row counts and sizes,
 * and the wavelength grid they share, so a dataset's rows are known, and a shard finds its chunks,
 * without opening any other chunk.
 *
 *   {"format": "astrospec-chunks", "version": 1,
 *    "grid": {"start": 3800, "step": 2, "length": 2600}, "hasLabels": true, "rows": 40000,
 *    "files": [{"file": "chunk-000000.arrow", "rows": 20000, "bytes": 208655488}, …]}
 *
 * A manifest is input like any other: everything in it is checked before it is used, and a
 * count that disagrees with its file is an error naming that file (when the file is opened: the
 * row count is in the chunk's footer, the size from stat at listing).
 */
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AstrospecError, excerpt } from '../errors.js';
import type { WavelengthGrid } from './batch.js';
import { countBytesRead } from './read-stats.js';

export const MANIFEST_NAME = 'astrospec-manifest.json';
export const MANIFEST_FORMAT = 'astrospec-chunks';
/** A manifest of half a million chunks is ~50 MB; anything larger is not a manifest. */
const MAX_MANIFEST_BYTES = 64 << 20;

export interface ManifestEntry {
  /** The chunk's file name, in the manifest's folder. */
  file: string;
  rows: number;
  bytes: number;
}

export interface ChunkManifest {
  /** The manifest file. */
  path: string;
  /** The folder it describes. */
  dir: string;
  grid: WavelengthGrid;
  hasLabels: boolean;
  rows: number;
  files: ManifestEntry[];
}

/** What a manifest states, as written into astrospec-manifest.json. */
export function manifestJson(manifest: Omit<ChunkManifest, 'path' | 'dir'>): string {
  const body = {
    format: MANIFEST_FORMAT,
    version: 1,
    grid: manifest.grid,
    hasLabels: manifest.hasLabels,
    rows: manifest.rows,
    files: manifest.files.map((f) => ({ file: f.file, rows: f.rows, bytes: f.bytes })),
  };
  // One chunk per line: readable, and diffs of two manifests line up.
  const files = body.files.map((f) => `    ${JSON.stringify(f)}`).join(',\n');
  const head = JSON.stringify({ ...body, files: [] }, null, 2).replace(/"files": \[\]\n}$/, '');
  return `${head}"files": [\n${files}\n  ]\n}\n`;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Reads and checks `dir/astrospec-manifest.json`. */
export async function readChunkManifest(dir: string): Promise<ChunkManifest> {
  const path = join(dir, MANIFEST_NAME);
  const fail = (message: string): never => {
    throw new AstrospecError('BAD_INPUT', message, { file: path });
  };
  let text: string;
  const fh = await open(path, 'r').catch((error: Error) => {
    throw new AstrospecError('IO', error.message, { file: path }, { cause: error });
  });
  try {
    const { size } = await fh.stat();
    if (size > MAX_MANIFEST_BYTES) fail(`${size} bytes: larger than any manifest (${MAX_MANIFEST_BYTES >> 20} MB)`);
    const bytes = Buffer.alloc(size);
    const { bytesRead } = await fh.read(bytes, 0, size, 0);
    countBytesRead(bytesRead);
    text = bytes.toString('utf8', 0, bytesRead);
  } finally {
    await fh.close();
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return fail(`not JSON: ${excerpt((error as Error).message, 80)}`);
  }
  const m = json as Record<string, unknown>;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return fail('not a JSON object');
  if (m.format !== MANIFEST_FORMAT) fail(`"format" is ${excerpt(JSON.stringify(m.format) ?? 'missing', 40)}, expected "${MANIFEST_FORMAT}"`);
  if (m.version !== 1) fail(`"version" ${excerpt(JSON.stringify(m.version) ?? 'missing', 20)} is not one astrospec reads (1)`);
  const g = m.grid as Partial<WavelengthGrid> | undefined;
  if (!g || typeof g !== 'object' || !Number.isFinite(g.start) || !Number.isFinite(g.step) || !(g.step! > 0) || !Number.isSafeInteger(g.length) || g.length! < 1) {
    fail(`"grid" must be {start, step > 0, length ≥ 1}, got ${excerpt(JSON.stringify(m.grid) ?? 'nothing', 80)}`);
  }
  if (typeof m.hasLabels !== 'boolean') fail('"hasLabels" must be true or false');
  if (!isCount(m.rows)) fail(`"rows" must be a non-negative integer, got ${excerpt(JSON.stringify(m.rows) ?? 'nothing', 40)}`);
  if (!Array.isArray(m.files)) return fail('"files" must be a list of {file, rows, bytes}');
  const seen = new Set<string>();
  let total = 0;
  const files: ManifestEntry[] = (m.files as unknown[]).map((entry, k) => {
    const e = entry as Record<string, unknown>;
    const what = `files[${k}]`;
    if (typeof e !== 'object' || e === null) fail(`${what} is not an object`);
    const file = e.file;
    // Chunks are plain names in the manifest's folder: no paths that lead elsewhere.
    if (typeof file !== 'string' || file === '' || file !== basename(file) || file === '.' || file === '..' || file.includes('\\')) {
      fail(`${what}.file must be a file name in the manifest's folder, got ${excerpt(JSON.stringify(file) ?? 'nothing', 60)}`);
    }
    if (!/\.(arrow|feather|ipc)$/i.test(file as string)) fail(`${what}.file ${excerpt(file as string)} is not an Arrow file (.arrow, .feather, .ipc)`);
    if (seen.has(file as string)) fail(`${what}.file ${excerpt(file as string)} is listed twice`);
    seen.add(file as string);
    if (!isCount(e.rows)) fail(`${what}.rows must be a non-negative integer`);
    if (!isCount(e.bytes)) fail(`${what}.bytes must be a non-negative integer`);
    total += e.rows as number;
    return { file: file as string, rows: e.rows as number, bytes: e.bytes as number };
  });
  if (total !== m.rows) fail(`"rows" is ${m.rows}, but its files' rows add up to ${total}`);
  return { path, dir, grid: { start: g!.start!, step: g!.step!, length: g!.length! }, hasLabels: m.hasLabels as boolean, rows: m.rows as number, files };
}
