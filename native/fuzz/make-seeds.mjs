// Seed inputs for the libFuzzer harnesses (native/fuzz/*_fuzz.cpp), written into a folder per
// harness: small hand-made rows covering the grammar (quotes, CRLF, exponents, nan, blanks), and
// slices of the peer CSV files in ../shared/data/peer-files when present (ids, the first N pixels,
// labels), each with the 4 layout bytes csv_rows_fuzz reads first.
//
//   node native/fuzz/make-seeds.mjs OUT_DIR [--small]     (--small: only what is committed)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const out = process.argv[2];
if (!out) throw new Error('usage: make-seeds.mjs OUT_DIR [--small]');
const small = process.argv.includes('--small');
const peer = fileURLToPath(new URL('../../../shared/data/peer-files/', import.meta.url));

/** The 4 layout bytes of csv_rows_fuzz: id column, trailing text fields, pixels, max rows. */
function layout({ id, trailing, pixels, maxRows }) {
  const long = pixels > 24;
  const p = pixels - 1;
  return Buffer.from([(id ? 1 : 0) | (trailing << 1), long ? p & 0xff : p, long ? 0x80 | (p >> 8) : 0, maxRows - 1]);
}

function write(dir, name, bytes) {
  mkdirSync(join(out, dir), { recursive: true });
  writeFileSync(join(out, dir, name), bytes);
}

const rows = [
  ['plain', { id: true, trailing: 1, pixels: 3, maxRows: 4 }, '7,1.5,-2,3e2,star\n8,0,+.5,-0,QSO\n'],
  ['quoted-crlf', { id: true, trailing: 2, pixels: 2, maxRows: 3 }, '"a,b",1,2,"x""y",galaxy\r\n"q",3.25,4E-3,"",\r\n'],
  ['spaces', { id: false, trailing: 0, pixels: 4, maxRows: 2 }, ' 1 ,\t2\t, 3.5e+1 ,4.\n.5,5.,-.25,1e-7\n'],
  ['non-finite', { id: true, trailing: 0, pixels: 3, maxRows: 3 }, 'x,nan,inf,-Infinity\ny,1e39,1e-50,3.4028235e38\n'],
  ['long-digits', { id: false, trailing: 0, pixels: 2, maxRows: 2 }, '123456789012345678901234567890,0.000000000000000000000000000001234\n16777217,1.00000005960464477539062500001\n'],
  ['blank-lines', { id: true, trailing: 1, pixels: 1, maxRows: 5 }, 'a,1,x\n\n \t\nb,2,y\r\n\r\n'],
  ['bad-quote', { id: true, trailing: 1, pixels: 1, maxRows: 2 }, '"unterminated,1,x\n"a"b,2,y\n'],
  ['ragged', { id: true, trailing: 1, pixels: 2, maxRows: 3 }, 'a,1\nb,1,2,3,4\nc,1,2,star\npartial,1'],
];
for (const [name, l, text] of rows) write('csv_rows', name, Buffer.concat([layout(l), Buffer.from(text)]));

const numbers = ['0', '-0', '+1.5', '1e-45', '7e-46', '3.4028235e38', '3.4028236e38', '1.17549435e-38', ' 2.5 ', 'nan', '-inf', 'nan(x1)', '1e', '.', '0x10', '9007199254740993', '0.1e-3'];
numbers.forEach((t, k) => write('csv_number', `text-${k}`, Buffer.concat([Buffer.from([1]), Buffer.from(t)])));
// Round trip: selector byte 0 (even), then float32 bytes: ordinary, subnormal, max, -0, NaN, Inf.
const floats = new Float32Array([1, -0, 1.4e-45, 3.4028234663852886e38, 0.1, NaN, Infinity, -123.456, 1.17549435e-38]);
write('csv_number', 'round-trip', Buffer.concat([Buffer.from([2]), Buffer.from(floats.buffer)]));

if (!small) {
  for (const [file, trailing] of [['lamost-stars-200.csv', 1], ['lamost-stars-200.nolabel.csv', 0]]) {
    const path = join(peer, file);
    if (!existsSync(path)) continue;
    const text = readFileSync(path, 'latin1');
    const lines = text.split('\n').slice(1, 13).filter((l) => l !== '');
    for (const pixels of [8, 16, 24, 100, 300]) {
      for (const [k, eol] of [[0, '\n'], [1, '\r\n']]) {
        const slice = lines.slice(k * 3, k * 3 + 3).map((line) => {
          const cells = line.split(',');
          return [cells[0], ...cells.slice(1, 1 + pixels), ...(trailing ? [cells[cells.length - 1]] : [])].join(',');
        });
        write('csv_rows', `${file}-${pixels}-${k}`, Buffer.concat([layout({ id: true, trailing, pixels, maxRows: 3 }), Buffer.from(slice.join(eol) + eol)]));
      }
    }
    // Fluxes as the files write them, for the number parser.
    lines[0].split(',').slice(1, 40).forEach((cell, j) => write('csv_number', `${file}-cell-${j}`, Buffer.concat([Buffer.from([1]), Buffer.from(cell)])));
  }
}
