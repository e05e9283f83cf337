/**
 * Seeded pseudo-random numbers for the synthetic survey: xoshiro128** (Blackman & Vigna 2018)
 * seeded through splitmix32, with Marsaglia's polar method for normal deviates. Every spectrum
 * gets its own generator derived from (survey seed, spectrum index), so a spectrum depends only
 * on those two numbers, never on batch size or generation order.
 */

/** splitmix32 step: a well-mixed 32-bit hash of `x` (used for seeding only). */
export function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

const TWO_POW_32 = 4294967296;

export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare = 0;
  private hasSpare = false;

  /** A generator for stream `stream` of seed `seed` (both any safe integers). */
  constructor(seed: number, stream = 0) {
    this.s0 = this.s1 = this.s2 = this.s3 = 0;
    this.reseed(seed, stream);
  }

  /** Restarts this generator as `new Random(seed, stream)` would (saves an allocation per spectrum). */
  reseed(seed: number, stream = 0): void {
    this.hasSpare = false;
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    let h = splitmix32(lo ^ splitmix32(hi ^ splitmix32(stream >>> 0 ^ splitmix32(Math.floor(stream / TWO_POW_32) >>> 0))));
    this.s0 = h = splitmix32(h);
    this.s1 = h = splitmix32(h);
    this.s2 = h = splitmix32(h);
    this.s3 = splitmix32(h) | 1; // the all-zero state is the one state xoshiro must avoid
  }

  /** Next 32-bit unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform in [a, b). */
  range(a: number, b: number): number {
    return a + (b - a) * this.uniform();
  }

  /** log-uniform in [a, b), a, b > 0. */
  logUniform(a: number, b: number): number {
    return a * Math.exp(Math.log(b / a) * this.uniform());
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal deviate (Marsaglia polar method; the second deviate is kept for the next call). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.uniform() - 1;
      v = 2 * this.uniform() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spare = v * f;
    this.hasSpare = true;
    return u * f;
  }

  /** Normal with mean and standard deviation. */
  gauss(mean: number, sd: number): number {
    return mean + sd * this.normal();
  }

  /** Normal truncated to [lo, hi] by redrawing (use only where the interval holds most of the mass). */
  truncatedGauss(mean: number, sd: number, lo: number, hi: number): number {
    for (let k = 0; k < 64; k++) {
      const x = mean + sd * this.normal();
      if (x >= lo && x <= hi) return x;
    }
    return Math.min(hi, Math.max(lo, mean));
  }

  /** Index drawn with probability proportional to `weights[i]`. */
  pick(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.uniform() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }

  /** Poisson deviate (Knuth's product method; fine for the small means used here). */
  poisson(mean: number): number {
    const limit = Math.exp(-mean);
    let k = 0;
    let p = this.uniform();
    while (p > limit) {
      k++;
      p *= this.uniform();
    }
    return k;
  }

  /**
   * Fills `out` with standard normal deviates by the ziggurat method (Marsaglia & Tsang 2000,
   * J. Stat. Softw. 5(8)), ~4× faster than the polar method; used for per-pixel noise.
   */
  fillNormal(out: Float64Array | Float32Array): void {
    const kn = ZIGGURAT.kn;
    const wn = ZIGGURAT.wn;
    const fn = ZIGGURAT.fn;
    for (let i = 0; i < out.length; i++) {
      const hz = this.nextUint32() | 0;
      const iz = hz & 127;
      if ((hz < 0 ? -hz : hz) < kn[iz]!) out[i] = hz * wn[iz]!;
      else out[i] = this.normalTail(hz, iz, kn, wn, fn);
    }
  }

  /** The ziggurat's slow path (rejection in the wedges and the tail beyond r). */
  private normalTail(hz: number, iz: number, kn: Uint32Array, wn: Float64Array, fn: Float64Array): number {
    const r = ZIGGURAT_R;
    for (;;) {
      const x = hz * wn[iz]!;
      if (iz === 0) {
        let xt: number;
        let y: number;
        do {
          xt = -Math.log(1 - this.uniform()) / r;
          y = -Math.log(1 - this.uniform());
        } while (y + y < xt * xt);
        return hz > 0 ? r + xt : -r - xt;
      }
      if (fn[iz]! + this.uniform() * (fn[iz - 1]! - fn[iz]!) < Math.exp(-0.5 * x * x)) return x;
      hz = this.nextUint32() | 0;
      iz = hz & 127;
      if ((hz < 0 ? -hz : hz) < kn[iz]!) return hz * wn[iz]!;
    }
  }
}

/** Ziggurat tables for the normal density, 128 layers (Marsaglia & Tsang 2000). */
const ZIGGURAT_R = 3.442619855899;
const ZIGGURAT = (() => {
  const m1 = 2147483648.0;
  const vn = 9.91256303526217e-3;
  const kn = new Uint32Array(128);
  const wn = new Float64Array(128);
  const fn = new Float64Array(128);
  let dn = ZIGGURAT_R;
  let tn = dn;
  const q = vn / Math.exp(-0.5 * dn * dn);
  kn[0] = Math.floor((dn / q) * m1);
  kn[1] = 0;
  wn[0] = q / m1;
  wn[127] = dn / m1;
  fn[0] = 1;
  fn[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = Math.floor((dn / tn) * m1);
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / m1;
  }
  return { kn, wn, fn };
})();

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
