/**
 * Repeated spectrum ids. astrospec never uses ids as keys (every output row carries its 0-based
 * `row` in the input, and evaluate matches by row), so repeated ids are read and written as they
 * are; but a user joining predictions to a catalogue by id would silently get duplicate matches,
 * so classify and evaluate warn about them on stderr (docs/formats.md, "Hostile input").
 */
export interface DuplicateIds {
  /** Rows whose id appeared in an earlier row. */
  repeats: number;
  /** The first repeated id and the 0-based rows of its first two appearances. */
  first?: { id: string; rows: [number, number] };
  /** Rows checked (ids beyond `limit` rows are not remembered, to keep memory bounded). */
  checked: number;
}

/**
 * Remembers ids as 64-bit hashes (two 32-bit halves) with the row of each, in an open-addressing
 * table of typed arrays: 16 bytes per slot, at least two slots per id, nothing on the JS heap. A
 * Set of the id strings kept each one alive (a million 20-character ids, with the arrays beside
 * it: 186 MB of heap for the collector to walk), and its add cost ~1 µs of classify's main thread
 * per row. Two different ids are taken for one only when both halves agree: for a million
 * distinct ids, the chance that any pair does is below 1e-7.
 */
export class DuplicateIdTracker {
  private k1 = new Int32Array(1024);
  private k2 = new Int32Array(1024);
  /** Row of the id in each slot; −1: empty. */
  private rows = new Float64Array(1024).fill(-1);
  private used = 0;
  readonly report: DuplicateIds = { repeats: 0, checked: 0 };

  /** `limit`: rows remembered, to keep memory bounded on catalogues of tens of millions of rows. */
  constructor(private readonly limit = 1_000_000) {}

  add(ids: readonly string[], firstRow: number): void {
    const n = Math.min(ids.length, this.limit - this.report.checked);
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      const earlier = this.remember(id, firstRow + i);
      if (earlier >= 0) this.repeat(id, earlier, firstRow + i);
    }
    if (n > 0) this.report.checked += n;
  }

  /** Adds the id's hash with its row; returns the row of an earlier id with the same hash, or −1. */
  private remember(id: string, row: number): number {
    hashId(id);
    const mask = this.rows.length - 1;
    for (let slot = hash1 & mask; ; slot = (slot + 1) & mask) {
      const r = this.rows[slot]!;
      if (r < 0) {
        this.k1[slot] = hash1;
        this.k2[slot] = hash2;
        this.rows[slot] = row;
        if (++this.used * 2 > this.rows.length) this.grow();
        return -1;
      }
      if (this.k1[slot] === hash1 && this.k2[slot] === hash2) return r;
    }
  }

  private repeat(id: string, earlier: number, row: number): void {
    this.report.repeats++;
    this.report.first ??= { id, rows: [earlier, row] };
  }

  /** Doubles the table (it stays at most half full, so probes stay short). */
  private grow(): void {
    const { k1, k2, rows } = this;
    const size = 2 * rows.length;
    this.k1 = new Int32Array(size);
    this.k2 = new Int32Array(size);
    this.rows = new Float64Array(size).fill(-1);
    const mask = size - 1;
    for (let from = 0; from < rows.length; from++) {
      if (rows[from]! < 0) continue;
      let slot = k1[from]! & mask;
      while (this.rows[slot]! >= 0) slot = (slot + 1) & mask;
      this.k1[slot] = k1[from]!;
      this.k2[slot] = k2[from]!;
      this.rows[slot] = rows[from]!;
    }
  }
}

/** The two halves of the last hashId, module-level so that hashing allocates nothing. */
let hash1 = 0;
let hash2 = 0;

/**
 * Two 32-bit hashes of the id's UTF-16 code units, built differently (FNV-1a, and a
 * multiply-rotate mix), each finished with MurmurHash3's avalanche.
 */
function hashId(id: string): void {
  let a = 0x811c9dc5 ^ id.length;
  let b = 0x9747b28c ^ id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b + c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  hash1 = avalanche(a);
  hash2 = avalanche(b);
}

function avalanche(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export function findDuplicateIds(ids: readonly string[], firstRow = 0): DuplicateIds {
  const tracker = new DuplicateIdTracker(Number.POSITIVE_INFINITY);
  tracker.add(ids, firstRow);
  return tracker.report;
}

/** One line for stderr, or undefined when no id repeats. */
export function describeDuplicateIds(file: string, d: DuplicateIds | undefined): string | undefined {
  if (!d?.first) return undefined;
  const { id, rows } = d.first;
  const shown = id.length > 60 ? `${id.slice(0, 60)}…` : id;
  return (
    `astrospec: warning: ${file}: id "${shown}" is in rows ${rows[0]} and ${rows[1]}; ${d.repeats} row${d.repeats > 1 ? 's repeat' : ' repeats'} an earlier id` +
    ` (rows are matched by position, never by id)\n`
  );
}
