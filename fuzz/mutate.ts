/**
 * Mutations for the readers' fuzzer: generic byte-level ones (bit flips, bytes and words set to
 * interesting values, chunks duplicated, deleted, inserted, truncation, splicing) and format-aware
 * ones (FITS header card values, Arrow flatbuffer words and length prefixes, CSV cells and lines).
 * Every mutation returns a short note saying what it did, so a finding can be read and reproduced.
 */

/** A small, fast, seedable PRNG (mulberry32). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  /** Mostly small sizes, sometimes large: 1 … max. */
  size(max: number): number {
    return Math.max(1, Math.min(max, Math.floor(2 ** (this.next() * Math.log2(Math.max(2, max))))));
  }
}

export interface Mutated {
  bytes: Uint8Array;
  note: string;
}

/** Byte ranges of a seed a mutation can aim at. */
export interface SeedMap {
  /** FITS: offsets of the header cards (80-byte slots), END included. */
  cards?: number[];
  /** Arrow: [start, end) of every flatbuffer (schema, messages, footer). */
  metadata?: [number, number][];
  /** Arrow: offsets of the int32 length after each 0xFFFFFFFF continuation marker, the footer length, and each compressed buffer's int64 prefix. */
  lengths?: { at: number; bytes: 4 | 8 }[];
}

const INT32S = [0, 1, -1, 2, 7, 8, 16, 255, 256, 4096, 65535, 65536, 0x7fff, 0x8000, 0x7fffffff, -0x80000000, 0x7ffffff0, 0x3fffffff, -8, -2];
const BYTES = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x20, 0x30, 0x39, 0x2c, 0x0a, 0x27, 0x22];

function copy(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

function splice(bytes: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length - remove + insert.length);
  out.set(bytes.subarray(0, at));
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.length);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Generic

export function flipBits(b: Uint8Array, rng: Rng): Mutated {
  const out = copy(b);
  const n = 1 + rng.int(4);
  const where: number[] = [];
  for (let k = 0; k < n && out.length > 0; k++) {
    const at = rng.int(out.length);
    out[at]! ^= 1 << rng.int(8);
    where.push(at);
  }
  return { bytes: out, note: `flip bits at ${where.join(',')}` };
}

export function setBytes(b: Uint8Array, rng: Rng): Mutated {
  const out = copy(b);
  const n = 1 + rng.int(4);
  const where: string[] = [];
  for (let k = 0; k < n && out.length > 0; k++) {
    const at = rng.int(out.length);
    const v = rng.chance(0.3) ? (out[at]! + (rng.chance(0.5) ? 1 : -1)) & 255 : rng.pick(BYTES);
    out[at] = v;
    where.push(`${at}=${v}`);
  }
  return { bytes: out, note: `set bytes ${where.join(',')}` };
}

export function setWord(b: Uint8Array, rng: Rng, positions?: { at: number; bytes: 4 | 8 }[]): Mutated {
  if (b.length < 8) return setBytes(b, rng);
  const out = copy(b);
  const view = new DataView(out.buffer);
  const target = positions && positions.length > 0 ? rng.pick(positions) : { at: rng.chance(0.5) ? rng.int(out.length - 3) & ~3 : rng.int(out.length - 3), bytes: 4 as const };
  if (target.at + target.bytes > out.length) return setBytes(b, rng);
  const little = positions ? true : rng.chance(0.5);
  const old = target.bytes === 4 ? view.getInt32(target.at, little) : Number(view.getBigInt64(target.at, little));
  const choices = [...INT32S, old + 1, old - 1, old + 8, old - 8, old * 2, Math.floor(old / 2), b.length, b.length - target.at];
  const v = rng.pick(choices);
  if (target.bytes === 4) view.setInt32(target.at, v | 0, little);
  else view.setBigInt64(target.at, BigInt(rng.chance(0.2) ? -1 : Math.trunc(v)), little);
  return { bytes: out, note: `set ${target.bytes * 8}-bit ${little ? 'LE' : 'BE'} word at ${target.at} from ${old} to ${target.bytes === 4 ? v | 0 : v}` };
}

export function duplicateChunk(b: Uint8Array, rng: Rng): Mutated {
  if (b.length === 0) return { bytes: b, note: 'nothing to duplicate' };
  const n = rng.size(Math.min(b.length, 8192));
  const from = rng.int(b.length - n + 1);
  const to = rng.chance(0.5) ? from + n : rng.int(b.length + 1);
  return { bytes: splice(b, to, 0, b.slice(from, from + n)), note: `duplicate ${n} bytes from ${from} at ${to}` };
}

export function deleteChunk(b: Uint8Array, rng: Rng): Mutated {
  if (b.length === 0) return { bytes: b, note: 'nothing to delete' };
  const n = rng.size(Math.min(b.length, 8192));
  const from = rng.int(b.length - n + 1);
  return { bytes: splice(b, from, n, new Uint8Array(0)), note: `delete ${n} bytes at ${from}` };
}

export function insertBytes(b: Uint8Array, rng: Rng): Mutated {
  const n = rng.size(256);
  const bytes = new Uint8Array(n);
  const fill = rng.chance(0.5) ? rng.pick(BYTES) : -1;
  for (let i = 0; i < n; i++) bytes[i] = fill >= 0 ? fill : rng.int(256);
  const at = rng.int(b.length + 1);
  return { bytes: splice(b, at, 0, bytes), note: `insert ${n} ${fill >= 0 ? `bytes of ${fill}` : 'random bytes'} at ${at}` };
}

export function truncate(b: Uint8Array, rng: Rng): Mutated {
  const keep = rng.chance(0.5) ? Math.max(0, b.length - rng.size(Math.max(1, b.length))) : rng.int(b.length + 1);
  return { bytes: b.slice(0, keep), note: `truncate to ${keep} of ${b.length} bytes` };
}

/** The same span of another seed of the format copied over this one (crossover). */
export function spliceFrom(b: Uint8Array, other: Uint8Array, rng: Rng): Mutated {
  // rng.size() is at least 1: an empty case (truncated to nothing earlier) has no span to overwrite.
  if (Math.min(b.length, other.length) === 0) return { bytes: b, note: 'nothing to copy over' };
  const n = rng.size(Math.min(b.length, other.length, 16384));
  const at = rng.int(Math.max(1, Math.min(b.length, other.length) - n + 1));
  const out = copy(b);
  out.set(other.subarray(at, at + n), at);
  return { bytes: out, note: `copy ${n} bytes at ${at} from another seed` };
}

export const GENERIC: readonly ((b: Uint8Array, rng: Rng) => Mutated)[] = [flipBits, setBytes, setWord, duplicateChunk, deleteChunk, insertBytes, truncate];

// ---------------------------------------------------------------------------------------------
// FITS header cards

/** Offsets of the 80-byte header card slots of every HDU (up to and including END). */
export function fitsCards(bytes: Uint8Array, dataRanges: { headerStart: number; dataOffset: number }[]): number[] {
  const out: number[] = [];
  for (const { headerStart, dataOffset } of dataRanges) {
    for (let at = headerStart; at + 80 <= dataOffset; at += 80) {
      const key = Buffer.from(bytes.buffer, bytes.byteOffset + at, 8).toString('latin1');
      if (key.trim() === '') continue;
      out.push(at);
      if (key.startsWith('END ')) break;
    }
  }
  return out;
}

const STRUCTURAL = /^(SIMPLE|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|TFORM\d+|TTYPE\d+|XTENSION|EXTEND|EXTNAME|EXTEN0|COEFF0|COEFF1|TSCAL\d+|TZERO\d+|THEAP|END)\b/;
const CARD_VALUES = [
  '0', '1', '-1', '2', '3', '999', '1000', '-32', '-64', '8', '16', '64', '2147483647', '2147483648', '4294967299', '9007199254740993', '1E300', '-1E300',
  '0.5', '1.0E-300', 'NaN', 'Infinity', 'T', 'F', "''", "'abc'", "'3909E'", "'9999999999E'", "'0E'", "'E'", "'3909D'", "'1J'", "'-5E'", "'3909X'",
  "'BINTABLE'", "'IMAGE'", "'FLUX'", "'loglam'", "'Flux'", "'Inverse Flux'", '', '   ', "'unterminated", "'It''s'", '1e5', '+5', '05', '3909.', '.5e1',
];

export function editCard(b: Uint8Array, rng: Rng, allCards: number[]): Mutated {
  // An earlier mutation of the same case may have shortened the file.
  const cards = allCards.filter((at) => at + 80 <= b.length);
  if (cards.length === 0) return setBytes(b, rng);
  const structural = cards.filter((at) => STRUCTURAL.test(Buffer.from(b.buffer, b.byteOffset + at, 8).toString('latin1')));
  const at = rng.chance(0.75) && structural.length > 0 ? rng.pick(structural) : rng.pick(cards);
  const out = copy(b);
  const text = Buffer.from(out.buffer, out.byteOffset + at, 80);
  const key = text.toString('latin1', 0, 8).trim();
  const op = rng.int(10);
  if (op === 0) {
    text.fill(0x20);
    return { bytes: out, note: `blank card ${key} at ${at}` };
  }
  if (op === 1) {
    const other = rng.pick(cards);
    text.set(Buffer.from(b.buffer, b.byteOffset + other, 80));
    return { bytes: out, note: `card ${key} at ${at} replaced by the card at ${other}` };
  }
  if (op === 2) {
    text.write('END'.padEnd(80), 'latin1');
    return { bytes: out, note: `END written over card ${key} at ${at}` };
  }
  if (op === 3 && key !== 'END') {
    // A number off by a little, keeping the card's format.
    const value = text.toString('latin1', 10, 30).trim();
    const n = Number(value);
    if (Number.isFinite(n)) {
      const v = rng.pick([n + 1, n - 1, n * 2, -n, n + 2880, n / 2, n + 0.5]);
      text.write(String(v).padStart(20).slice(0, 70), 10, 'latin1');
      return { bytes: out, note: `card ${key} = ${value} → ${v}` };
    }
  }
  const value = rng.pick(CARD_VALUES);
  if (key === 'END') {
    text.write('XND'.padEnd(80), 'latin1');
    return { bytes: out, note: `END card damaged at ${at}` };
  }
  text.write('= ', 8, 'latin1');
  text.write(`${value.startsWith("'") ? value.padEnd(20) : value.padStart(20)} / fuzzed`.padEnd(70).slice(0, 70), 10, 'latin1');
  return { bytes: out, note: `card ${key} = '${value}'` };
}

// ---------------------------------------------------------------------------------------------
// Arrow metadata

export function arrowMetadataWord(b: Uint8Array, rng: Rng, map: SeedMap): Mutated {
  const regions = map.metadata ?? [];
  if (regions.length === 0) return setWord(b, rng);
  const [start, end] = rng.pick(regions);
  if (end - start < 4) return setWord(b, rng);
  const out = copy(b);
  const view = new DataView(out.buffer);
  const at = start + (rng.int(Math.floor((end - start) / 4)) << 2);
  if (at + 4 > out.length) return setWord(b, rng);
  const old = view.getInt32(at, true);
  const small = rng.chance(0.5);
  const v = small ? rng.pick([old + 1, old - 1, old + 4, old - 4, 0, 1, 2, old * 2]) : rng.pick(INT32S);
  if (rng.chance(0.25)) {
    // A 16-bit vtable entry (field offset or table size).
    const at16 = at + (rng.chance(0.5) ? 2 : 0);
    const old16 = view.getUint16(at16, true);
    const v16 = rng.pick([0, 1, 4, 0xffff, 0x8000, old16 + 4, old16 - 4 & 0xffff, old16 + 1]);
    view.setUint16(at16, v16 & 0xffff, true);
    return { bytes: out, note: `flatbuffer u16 at ${at16}: ${old16} → ${v16 & 0xffff}` };
  }
  view.setInt32(at, v | 0, true);
  return { bytes: out, note: `flatbuffer word at ${at}: ${old} → ${v | 0}` };
}

export function arrowLength(b: Uint8Array, rng: Rng, map: SeedMap): Mutated {
  const lengths = map.lengths ?? [];
  if (lengths.length === 0) return arrowMetadataWord(b, rng, map);
  return setWord(b, rng, lengths);
}

/** Positions of Arrow length fields: message length prefixes, the footer length, compressed-buffer prefixes. */
export function arrowLengthPositions(bytes: Uint8Array): { at: number; bytes: 4 | 8 }[] {
  const out: { at: number; bytes: 4 | 8 }[] = [];
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let at = buf.indexOf(Buffer.from([0xff, 0xff, 0xff, 0xff])); at >= 0 && at + 8 <= buf.length; at = buf.indexOf(Buffer.from([0xff, 0xff, 0xff, 0xff]), at + 4)) {
    if (at % 8 === 0 || at % 8 === 4) out.push({ at: at + 4, bytes: 4 });
  }
  if (buf.subarray(buf.length - 6).toString('latin1') === 'ARROW1') out.push({ at: buf.length - 10, bytes: 4 });
  for (const magic of [[0x04, 0x22, 0x4d, 0x18], [0x28, 0xb5, 0x2f, 0xfd]]) {
    const m = Buffer.from(magic);
    for (let at = buf.indexOf(m); at >= 8; at = buf.indexOf(m, at + 4)) out.push({ at: at - 8, bytes: 8 });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// CSV text

const CELLS = [
  '', ' ', '0', '-0', '+1', '1e39', '-1e39', '1e-50', '-1e-50', 'nan', 'NaN', '-nan', 'inf', '-inf', 'Infinity', '1e', '1e+', '.', '-', '+', '.e5',
  '1.5e+5', '0x10', '1,2', '"', '""', '"a,b"', '"x""y"', '"unterminated', 'star', 'GALAXY', 'qso ', ' Qso', 'quasar', '\r', '1\r',
  '123456789012345678901234567890', '0.000000000000000000000000000000000000000000000000000001', '3.4028235e38', '3.4028236e38', '3.40282357e38',
  '1.17549435e-38', '1.4e-45', '7e-46', '7.1e-46', ' 1 ', '\t2\t', '1 2', '١', '1e99999999999', '1e-99999999999', '9007199254740993', '0.1',
  '16777217', '1.00000005960464477539062500001', '8.589973e9', '1.0000000596046448', '1_000', '1..2', '--1', 'e5', '12abc',
];

function lineStarts(b: Uint8Array): number[] {
  const out = [0];
  for (let i = 0; i < b.length; i++) if (b[i] === 0x0a && i + 1 < b.length) out.push(i + 1);
  return out;
}

export function csvCell(b: Uint8Array, rng: Rng): Mutated {
  const starts = lineStarts(b);
  const line = starts.length > 1 && rng.chance(0.9) ? 1 + rng.int(starts.length - 1) : rng.int(starts.length);
  const from = starts[line]!;
  let to = b.indexOf(0x0a, from);
  if (to < 0) to = b.length;
  const commas: number[] = [from - 1];
  for (let i = from; i < to; i++) if (b[i] === 0x2c) commas.push(i);
  commas.push(to);
  const k = rng.int(commas.length - 1);
  const cellStart = commas[k]! + 1;
  const cellEnd = Math.max(cellStart, commas[k + 1]!);
  const text = line === 0 ? rng.pick(['FE0', 'FE1', 'FE9', 'fe2', 'ID', 'id', 'label', 'answer', 'LABEL', '', 'FE2600', 'x', '"FE3"']) : rng.pick(CELLS);
  return { bytes: splice(b, cellStart, cellEnd - cellStart, Buffer.from(text, 'utf8')), note: `line ${line + 1}, cell ${k + 1} → ${JSON.stringify(text)}` };
}

export function csvLine(b: Uint8Array, rng: Rng): Mutated {
  const starts = lineStarts(b);
  const k = rng.int(starts.length);
  const from = starts[k]!;
  const next = b.indexOf(0x0a, from);
  const to = next < 0 ? b.length : next + 1;
  const line = b.slice(from, to);
  switch (rng.int(7)) {
    case 0:
      return { bytes: splice(b, to, 0, line), note: `line ${k + 1} duplicated` };
    case 1:
      return { bytes: splice(b, from, to - from, new Uint8Array(0)), note: `line ${k + 1} deleted` };
    case 2: {
      const blank = rng.pick(['\n', '\r\n', ' \n', '\t\n', '\r']);
      return { bytes: splice(b, from, 0, Buffer.from(blank)), note: `${JSON.stringify(blank)} inserted before line ${k + 1}` };
    }
    case 3:
      return { bytes: b[b.length - 1] === 0x0a ? b.slice(0, b.length - 1) : splice(b, b.length, 0, Buffer.from('\n')), note: 'last line end removed or added' };
    case 4:
      return { bytes: splice(b, 0, 0, Buffer.from([0xef, 0xbb, 0xbf])), note: 'BOM added' };
    case 5: {
      const cut = from + rng.int(Math.max(1, to - from));
      return { bytes: splice(b, cut, 0, Buffer.from(rng.pick(['\n', '\r\n', ',', '"', '\r']))), note: `line break or separator inserted at ${cut}` };
    }
    default: {
      const eol = next < 0 ? b.length : next > 0 && b[next - 1] === 0x0d ? next - 1 : next;
      return { bytes: splice(b, eol, 0, Buffer.from(rng.pick([',', ',1', ',x', ',"', ',,']))), note: `field appended to line ${k + 1}` };
    }
  }
}
