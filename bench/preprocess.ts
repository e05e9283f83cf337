/**
 * Preprocessing throughput: the native engine (every ISA, all threads and one) against the
 * pure-TS reference, vectorised numpy doing the same work, and scipy curve_fit per spectrum.
 *
 *   npm run -s bench:preprocess -- --n 20000 --json
 *
 * Work per spectrum ("full"): mask, l2-normalise, Wien fit (weighted least squares in ln
 * space, R², RMS) and the mean/std features, on 2600-pixel spectrum-like rows (Planck
 * continua × noise, emission lines, NaN runs). Progress goes to stderr; the last stdout line
 * is one JSON object. See bench/README.md for what the numbers mean.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { SpectrumBatch } from '../src/io/batch.js';
import { COMPETITION_GRID } from '../src/io/batch.js';
import { native } from '../src/native/binding.js';
import type { IsaName } from '../src/native/binding.js';
import { preprocess, preprocessSync, WIEN_C2_NM_K } from '../src/preprocess/index.js';
import type { PreprocessOptions } from '../src/preprocess/index.js';
import { preprocessReference } from '../src/preprocess/reference.js';

const args = yargs(hideBin(process.argv))
  .option('n', { type: 'number', default: 20000, describe: 'spectra in the batch' })
  .option('json', { type: 'boolean', default: false, describe: 'print only the JSON line on stdout' })
  .option('seconds', { type: 'number', default: 1.5, describe: 'minimum timing per configuration' })
  .option('reference-n', { type: 'number', default: 400, describe: 'spectra for the TS reference' })
  .option('numpy-n', { type: 'number', default: 5000, describe: 'spectra for numpy' })
  .option('scipy-n', { type: 'number', default: 100, describe: 'spectra for scipy curve_fit' })
  .strict()
  .parseSync();

const log = (message: string) => process.stderr.write(`${message}\n`);
const grid = COMPETITION_GRID;
const L = grid.length;

/** Planck continua at 64 temperatures × per-row scale × (1 + 5% noise), lines, NaN runs. */
function spectrumLikeBatch(rows: number, seed = 1): SpectrumBatch {
  let s = seed;
  const rand = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const templates = Array.from({ length: 64 }, (_, k) => {
    const t = 3000 + k * 400;
    return Float32Array.from({ length: L }, (_, i) => {
      const lambda = (grid.start + grid.step * i) / 10;
      return 1e18 * lambda ** -5 / Math.expm1(WIEN_C2_NM_K / (lambda * t));
    });
  });
  const flux = new Float32Array(rows * L);
  for (let r = 0; r < rows; r++) {
    const template = templates[r % 64]!;
    const scale = 10 ** (rand() * 4 - 2);
    const row = flux.subarray(r * L, (r + 1) * L);
    for (let i = 0; i < L; i++) row[i] = template[i]! * scale * (1 + 0.17 * (rand() - 0.5));
    for (let k = Math.floor(rand() * 4); k > 0; k--) {
      const centre = Math.floor(rand() * (L - 8));
      for (let i = centre; i < centre + 6; i++) row[i] = row[i]! * 3;
    }
    if (r % 50 === 0) row.fill(NaN, 1000, 1040);
    if (r % 70 === 0) row.fill(0, 2000, 2100);
  }
  return { ids: Array.from({ length: rows }, (_, r) => `s${r}`), flux, grid, firstRow: 0 };
}

/** Best seconds per call over at least 3 calls and `seconds` of wall time. */
async function bestTime(fn: () => unknown | Promise<unknown>, seconds = args.seconds): Promise<number> {
  await fn();
  let best = Infinity;
  const start = performance.now();
  let runs = 0;
  while (runs < 3 || performance.now() - start < seconds * 1000) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
    runs++;
  }
  return best;
}

function pythonWithScipy(): { exe: string | null; reason: string } {
  const reasons: string[] = [];
  for (const exe of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(exe, ['-c', 'import numpy, scipy.optimize'], { stdio: 'pipe' });
      return { exe, reason: '' };
    } catch (error) {
      reasons.push(`${exe}: ${((error as Error).message ?? '').split('\n')[0]}`);
    }
  }
  return { exe: null, reason: reasons.join('; ') };
}

// The same work in numpy (vectorised over the batch) and with scipy curve_fit per spectrum.
const PYTHON = String.raw`
import json, sys, time
import numpy as np
from scipy.optimize import curve_fit
path, rows, length, start, step, numpy_n, scipy_n = sys.argv[1], *map(int, sys.argv[2:4]), *map(float, sys.argv[4:6]), *map(int, sys.argv[6:8])
flux = np.fromfile(path, dtype=np.float32).reshape(rows, length)
lam = (start + step * np.arange(length)) / 10.0  # nm
C2 = 1.438776877e7
x = 1.0 / lam

def numpy_preprocess(f):
    valid = np.isfinite(f) & (np.abs(f) >= np.finfo(np.float32).tiny)
    fz = np.where(valid, f, 0.0).astype(np.float32)
    n = valid.sum(axis=1)
    norm = np.sqrt((fz.astype(np.float64) ** 2).sum(axis=1))
    out = fz / norm[:, None].astype(np.float32)
    mean = fz.sum(axis=1, dtype=np.float64) / n
    std = np.sqrt((np.where(valid, f - mean[:, None], 0.0) ** 2).sum(axis=1) / n)
    pos = valid & (f > 0)
    w = np.where(pos, fz, 0.0).astype(np.float64) ** 2
    y = np.where(pos, np.log(np.where(pos, fz, 1.0)) + 5 * np.log(lam), 0.0)
    s0 = w.sum(axis=1)
    mx = (w * x).sum(axis=1) / s0
    my = (w * y).sum(axis=1) / s0
    dx = x - mx[:, None]
    dy = np.where(pos, y - my[:, None], 0.0)
    cxx = (w * dx * dx).sum(axis=1)
    cxy = (w * dx * dy).sum(axis=1)
    cyy = (w * dy * dy).sum(axis=1)
    b = cxy / cxx
    a = my - b * mx
    r = np.where(pos, y - (a[:, None] + b[:, None] * x), 0.0)
    ss = (w * r * r).sum(axis=1)
    return out, np.stack([mean, std, -C2 / b, a, 1 - ss / cyy, np.sqrt(ss / s0), pos.sum(axis=1)], axis=1)

def wien(l, ln_a, t):
    return np.exp(ln_a - 5 * np.log(l) - C2 / (l * t))

def scipy_preprocess(f):
    feats = []
    for row in f:
        valid = np.isfinite(row) & (row > 0)
        out = np.where(valid, row, 0) / np.linalg.norm(np.where(valid, row, 0))
        scale = row[valid].max()
        p, _ = curve_fit(wien, lam[valid], row[valid] / scale, p0=(25.0, 6000.0), maxfev=2000)
        feats.append((row[valid].mean(), row[valid].std(), p[1], p[0] + np.log(scale)))
    return feats

res = {}
sub = flux[:numpy_n]
best = 1e9
for _ in range(3):
    t0 = time.perf_counter(); numpy_preprocess(sub); best = min(best, time.perf_counter() - t0)
res["numpy_spectra_per_s"] = len(sub) / best
sub = flux[:scipy_n]
t0 = time.perf_counter(); scipy_preprocess(sub); dt = time.perf_counter() - t0
res["scipy_curvefit_spectra_per_s"] = len(sub) / dt
res["numpy_version"] = np.__version__
import scipy; res["scipy_version"] = scipy.__version__
print(json.dumps(res))
`;

async function main() {
  const n = args.n;
  const info = native().info();
  log(`preprocess bench: ${n} spectra × ${L} pixels (${((n * L * 4) / 1e9).toFixed(2)} GB float32), cpu ${cpus()[0]?.model}, ${info.hardwareThreads} hardware threads, isa ${info.isa}, load ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  const t0 = performance.now();
  const batch = spectrumLikeBatch(n);
  log(`generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const bytesRead = n * L * 4;
  const threads = info.threads;
  const full: PreprocessOptions = { normalisation: 'l2', features: true };
  const out = new Float32Array(n * L);
  const detected = info.isa;

  const perIsa: Record<string, Record<string, number>> = {};
  for (const isa of info.supportedIsas as IsaName[]) {
    native().setIsa(isa);
    const r: Record<string, number> = {};
    r.spectra_per_s = n / (await bestTime(() => preprocessSync(batch, { ...full, threads, out })));
    r.spectra_per_s_1thread = n / (await bestTime(() => preprocessSync(batch, { ...full, threads: 1, out })));
    r.gb_per_s = (r.spectra_per_s * L * 4) / 1e9;
    perIsa[isa] = r;
    log(`${isa.padEnd(8)} full: ${fmt(r.spectra_per_s)} spectra/s on ${threads} threads (${r.gb_per_s.toFixed(2)} GB/s read), ${fmt(r.spectra_per_s_1thread)} on 1`);
  }
  native().setIsa(detected);

  // Variants on the detected ISA: where the time goes.
  const time = async (label: string, options: PreprocessOptions, rows = n) => {
    const b = rows === n ? batch : { ...batch, ids: batch.ids.slice(0, rows), flux: batch.flux.subarray(0, rows * L) };
    const o = out.subarray(0, rows * Math.floor(L / (options.bin ?? 1)));
    const rate = rows / (await bestTime(() => preprocessSync(b, { ...options, out: o })));
    log(`${label.padEnd(44)} ${fmt(rate)} spectra/s`);
    return rate;
  };
  const variants = {
    full_fresh_output_spectra_per_s: n / (await bestTime(() => preprocessSync(batch, { ...full, threads }))),
    full_async_spectra_per_s: n / (await bestTime(() => preprocess(batch, { ...full, threads, out }))),
    normalise_only_spectra_per_s: await time('normalise only (l2, no features)', { normalisation: 'l2', features: false, threads }),
    robust_spectra_per_s: await time('full + robust refit', { ...full, robust: true, threads }),
    median_spectra_per_s: await time('median normalisation + features', { normalisation: 'median', threads }),
    smooth7_bin2_spectra_per_s: await time('full + smooth 7 + bin 2', { ...full, smoothWindow: 7, bin: 2, threads }),
    in_cache_full_1thread_spectra_per_s: await time('full, 1 thread, 200 rows (in cache)', { ...full, threads: 1 }, Math.min(200, n)),
    in_cache_normalise_only_1thread_spectra_per_s: await time('normalise only, 1 thread, 200 rows (in cache)', { normalisation: 'l2', features: false, threads: 1 }, Math.min(200, n)),
  };
  log(`full with a fresh output array each call: ${fmt(variants.full_fresh_output_spectra_per_s)} spectra/s; async: ${fmt(variants.full_async_spectra_per_s)}`);

  const refN = Math.min(args['reference-n'], n);
  const refBest = await bestTime(() => preprocessReference(batch.flux.subarray(0, refN * L), refN, grid, full), 1);
  const referenceRate = refN / refBest;
  log(`TS reference: ${fmt(referenceRate)} spectra/s (${refN} spectra, 1 thread)`);

  let numpyRate: number | null = null;
  let scipyRate: number | null = null;
  let pythonNote = '';
  const python = pythonWithScipy();
  if (python.exe) {
    const dir = mkdtempSync(join(tmpdir(), 'astrospec-bench-'));
    try {
      const rows = Math.min(n, Math.max(args['numpy-n'], args['scipy-n']));
      const file = join(dir, 'flux.f32');
      writeFileSync(file, batch.flux.subarray(0, rows * L));
      writeFileSync(join(dir, 'bench.py'), PYTHON);
      log(`running numpy (${Math.min(rows, args['numpy-n'])} spectra) and scipy curve_fit (${Math.min(rows, args['scipy-n'])}) with ${python.exe} ...`);
      const text = execFileSync(python.exe, [join(dir, 'bench.py'), file, String(rows), String(L), String(grid.start), String(grid.step), String(Math.min(rows, args['numpy-n'])), String(Math.min(rows, args['scipy-n']))], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
      const py = JSON.parse(text.trim().split('\n').pop()!) as Record<string, number | string>;
      numpyRate = py.numpy_spectra_per_s as number;
      scipyRate = py.scipy_curvefit_spectra_per_s as number;
      pythonNote = `${python.exe}: numpy ${py.numpy_version}, scipy ${py.scipy_version}`;
      log(`numpy: ${fmt(numpyRate)} spectra/s; scipy curve_fit: ${fmt(scipyRate)} spectra/s (${pythonNote})`);
    } catch (error) {
      pythonNote = `python failed: ${((error as Error).message ?? '').split('\n')[0]}`;
      log(pythonNote);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else {
    pythonNote = `no python3 with numpy and scipy (${python.reason})`;
    log(`numpy/scipy skipped: ${pythonNote}`);
  }

  const best = perIsa[detected]!;
  const result = {
    bench: 'preprocess',
    spectra: n,
    pixels: L,
    work: 'mask + l2 normalisation + Wien fit (T, ln A, R², RMS, pixels) + mean/std, output written to a reused array',
    isa: detected,
    threads,
    native_spectra_per_s: best.spectra_per_s,
    native_1thread_spectra_per_s: best.spectra_per_s_1thread,
    native_gb_per_s_read: (best.spectra_per_s! * L * 4) / 1e9,
    native_gb_per_s_read_written: (best.spectra_per_s! * L * 8) / 1e9,
    bytes_read: bytesRead,
    thread_scaling: best.spectra_per_s! / best.spectra_per_s_1thread!,
    reference_spectra_per_s: referenceRate,
    speedup_vs_reference: best.spectra_per_s! / referenceRate,
    numpy_spectra_per_s: numpyRate,
    speedup_vs_numpy: numpyRate ? best.spectra_per_s! / numpyRate : null,
    scipy_curvefit_spectra_per_s: scipyRate,
    speedup_vs_scipy_curvefit: scipyRate ? best.spectra_per_s! / scipyRate : null,
    python: pythonNote,
    per_isa: perIsa,
    ...variants,
    machine: { cpu: cpus()[0]?.model, hardware_threads: info.hardwareThreads, node: process.version, compiler: info.compiler, load_average: loadavg() },
  };
  if (!args.json) {
    process.stdout.write(
      [
        `native (${detected}, ${threads} threads): ${fmt(result.native_spectra_per_s!)} spectra/s, ${result.native_gb_per_s_read.toFixed(2)} GB/s read`,
        `  1 thread: ${fmt(result.native_1thread_spectra_per_s!)} (scaling ×${result.thread_scaling.toFixed(2)})`,
        `  vs TS reference ×${result.speedup_vs_reference.toFixed(0)}` +
          (result.speedup_vs_numpy ? `, vs numpy ×${result.speedup_vs_numpy.toFixed(0)}` : '') +
          (result.speedup_vs_scipy_curvefit ? `, vs scipy curve_fit ×${result.speedup_vs_scipy_curvefit.toFixed(0)}` : ''),
        '',
      ].join('\n'),
    );
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function fmt(v: number): string {
  return Math.round(v).toLocaleString('en-US');
}

await main();
