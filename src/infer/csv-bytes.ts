/**
 * CSV text built straight into bytes: the predictions writer's lines without a string per cell.
 * Template strings, toFixed and the join before each write cost classify's main thread ~2 µs
 * per spectrum, on cores onnxruntime is using; digits written as bytes cost a fraction of that.
 */
const COMMA = 0x2c;
const QUOTE = 0x22;
const RETURN = 0x0d;
const NEWLINE = 0x0a;
const DOT = 0x2e;
const MINUS = 0x2d;
const ZERO = 0x30;
/** 10^0 … 10^16: digit counts of safe integers, and the scales of 1 … 8 decimals. */
const POWERS_OF_TEN = Array.from({ length: 17 }, (_, k) => 10 ** k);

export class CsvBytes {
  private bytes: Buffer;
  length = 0;

  constructor(capacity = 1 << 16) {
    this.bytes = Buffer.allocUnsafe(capacity);
  }

  /** Room for n more bytes. */
  private reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.bytes.length, this.length + n));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  /** The bytes so far, handed over (the next line starts a new buffer of the same capacity). */
  take(): Buffer {
    const out = this.bytes.subarray(0, this.length);
    this.bytes = Buffer.allocUnsafe(this.bytes.length);
    this.length = 0;
    return out;
  }

  /**
   * Lets `write` fill the space after the bytes so far: it returns the bytes it wrote, or
   * −(the room it needs) having written nothing, and is then called again with that much room.
   */
  fill(write: (bytes: Buffer, at: number) => number): void {
    let written = write(this.bytes, this.length);
    if (written < 0) {
      this.reserve(-written);
      written = write(this.bytes, this.length);
      if (written < 0) throw new RangeError(`CsvBytes.fill: ${-written} bytes of room were asked for twice`);
    }
    this.length += written;
  }

  comma(): void {
    this.reserve(1);
    this.bytes[this.length++] = COMMA;
  }

  newline(): void {
    this.reserve(1);
    this.bytes[this.length++] = NEWLINE;
  }

  /** A string as UTF-8, unquoted. */
  text(s: string): void {
    this.reserve(3 * s.length);
    // ASCII byte by byte: a Buffer.write call per short string cost more than the loop.
    const bytes = this.bytes;
    const start = this.length;
    for (let k = 0; k < s.length; k++) {
      const c = s.charCodeAt(k);
      if (c >= 0x80) {
        this.length = start + bytes.write(s, start);
        return;
      }
      bytes[start + k] = c;
    }
    this.length = start + s.length;
  }

  /** A string as a CSV cell: quoted when it holds a comma, a quote or a line end. */
  cell(s: string): void {
    for (let k = 0; k < s.length; k++) {
      const c = s.charCodeAt(k);
      if (c === COMMA || c === QUOTE || c === NEWLINE || c === RETURN) {
        this.text(`"${s.replace(/"/g, '""')}"`);
        return;
      }
    }
    this.text(s);
  }

  /** A non-negative safe integer in decimal. */
  uint(n: number): void {
    let digits = 1;
    while (digits < 16 && n >= POWERS_OF_TEN[digits]!) digits++;
    this.reserve(digits);
    let at = this.length + digits;
    this.length = at;
    do {
      const q = Math.floor(n / 10);
      this.bytes[--at] = ZERO + (n - 10 * q);
      n = q;
    } while (n > 0);
  }

  /**
   * x.toFixed(digits) for a float32 x (1 ≤ digits ≤ 8), the same text. x·10^digits is exact in
   * double (x has 24 significant bits, the odd part of 10^digits at most 19), so Math.round of it
   * is the integer toFixed picks, ties included (both round half up; the sign is handled apart).
   * Below 1e6 the division that splits off the whole part cannot round up to the next integer.
   * Larger and non-finite values are written by toFixed itself.
   */
  fixed(x: number, digits: number): void {
    const magnitude = Math.abs(x);
    if (!(magnitude < 1e6)) {
      this.text(x.toFixed(digits));
      return;
    }
    const scale = POWERS_OF_TEN[digits]!;
    const scaled = Math.round(magnitude * scale);
    const whole = Math.floor(scaled / scale);
    let fraction = scaled - whole * scale;
    // toFixed keeps the sign of negative values that round to zero ("-0.00000"), not of −0.
    if (x < 0) {
      this.reserve(1);
      this.bytes[this.length++] = MINUS;
    }
    this.uint(whole);
    this.reserve(1 + digits);
    this.bytes[this.length] = DOT;
    let at = this.length + 1 + digits;
    this.length = at;
    for (let k = 0; k < digits; k++) {
      const q = Math.floor(fraction / 10);
      this.bytes[--at] = ZERO + (fraction - 10 * q);
      fraction = q;
    }
  }
}
