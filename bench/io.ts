/**
 * I/O benchmark: native CSV parsing vs the parsers a user would otherwise reach for (papaparse in
 * JS, pandas.read_csv in Python), Arrow reading, and CSV writing, on a competition-format CSV
 * generated here (rows × 2600 pixels, numbers as pandas writes float32: shortest round-trip text).
 *
 *   npm run -s bench:io -- [--rows 6000] [--trials 3] [--json]
 *
 * Progress goes to stderr; the last stdout line is one JSON object (see bench/README.md).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Papa from 'papaparse';
import { COMPETITION_GRID, type SpectrumBatch } from '../src/io/batch.js';
import { openSpectra } from '../src/io/open.js';
import { createSpectraSink } from '../src/io/sink.js';
import { native } from '../src/native/binding.js';

function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

const rows = Math.floor(argValue('rows', 6000));
const trials = Math.floor(argValue('trials', 3));
const log = (message: string) => process.stderr.write(`[bench:io] ${message}\n`);
const L = COMPETITION_GRID.length;

/**
 * Spectra shaped like LAMOST fluxes in the peer file: a smooth continuum of a few hundred to a few
 * thousand counts, noise, and absorption lines, stored as float32 (7–9 significant digits as text).
 */
function syntheticBatch(first: number, count: number, seed: number): SpectrumBatch {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const flux = new Float32Array(count * L);
  const labels = new Int8Array(count);
  for (let r = 0; r < count; r++) {
    const amplitude = 50 + rand() * 3000;
    const slope = rand() * 2 - 0.5;
    const noise = 0.02 + rand() * 0.1;
    for (let i = 0; i < L; i++) {
      const x = i / L;
      const line = Math.exp(-(((i % 400) - 200) ** 2) / 50) * 0.4;
      flux[r * L + i] = amplitude * (1 + slope * x) * (1 - line) * (1 + noise * (rand() - 0.5));
    }
    labels[r] = Math.floor(rand() * 3);
  }
  return { ids: Array.from({ length: count }, (_, i) => String(first + i)), flux, grid: COMPETITION_GRID, labels, firstRow: first };
}

interface Timing<T> {
  seconds: number;
  /** CPU seconds (user + system, all threads): unlike wall time, barely changed by other load. */
  cpuSeconds: number;
  value: T;
}

async function time<T>(fn: () => Promise<T>): Promise<Timing<T>> {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const value = await fn();
  const cpu = process.cpuUsage(c0);
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpuSeconds: (cpu.user + cpu.system) / 1e6, value };
}

/** Best of `trials` runs: the least disturbed by other work on a shared machine. */
async function best<T>(label: string, fn: () => Promise<T>): Promise<Timing<T>> {
  let out: Timing<T> | undefined;
  let cpu = Infinity;
  for (let t = 0; t < trials; t++) {
    const r = await time(fn);
    log(`${label}: trial ${t + 1}/${trials} ${r.seconds.toFixed(3)} s (${r.cpuSeconds.toFixed(3)} CPU s)`);
    if (!out || r.seconds < out.seconds) out = r;
    cpu = Math.min(cpu, r.cpuSeconds);
  }
  return { ...out!, cpuSeconds: cpu };
}

/** best() of several runs whose trials take turns: trial 1 of each, then trial 2 of each, … */
async function bestAlternating<T>(runs: [string, () => Promise<T>][]): Promise<Timing<T>[]> {
  const out: (Timing<T> | undefined)[] = runs.map(() => undefined);
  const cpu = runs.map(() => Infinity);
  for (let t = 0; t < trials; t++) {
    for (const [k, [label, fn]] of runs.entries()) {
      const r = await time(fn);
      log(`${label}: trial ${t + 1}/${trials} ${r.seconds.toFixed(3)} s (${r.cpuSeconds.toFixed(3)} CPU s, load ${loadavg()[0]!.toFixed(2)})`);
      if (!out[k] || r.seconds < out[k]!.seconds) out[k] = r;
      cpu[k] = Math.min(cpu[k]!, r.cpuSeconds);
    }
  }
  return out.map((r, k) => ({ ...r!, cpuSeconds: cpu[k]! }));
}

/** Reads every batch of `path`; with reuseBuffers, as classify reads (each batch used before the next). */
async function readRows(path: string, threads?: number, reuseBuffers = false): Promise<number> {
  const source = await openSpectra(path, { threads, reuseBuffers });
  let n = 0;
  let checksum = 0;
  for await (const b of source.batches()) {
    n += b.ids.length;
    checksum += b.flux[0]!; // touch the data so nothing is optimised away
  }
  await source.close();
  if (!Number.isFinite(checksum)) throw new Error('non-finite checksum');
  return n;
}

function pandasReadCsv(path: string): { mbPerS: number | null; mbPerCpuS?: number; reason?: string; version?: string } {
  const script = [
    'import sys, time',
    'import pandas as pd',
    'path, trials = sys.argv[1], int(sys.argv[2])',
    'best = cpu = 1e9',
    'for _ in range(trials):',
    '    t, c = time.perf_counter(), time.process_time()',
    '    df = pd.read_csv(path)',
    '    best, cpu = min(best, time.perf_counter() - t), min(cpu, time.process_time() - c)',
    '    assert df.shape[1] >= 2601, df.shape',
    'print(best, cpu, pd.__version__)',
  ].join('\n');
  for (const python of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(python, ['-c', 'import pandas'], { encoding: 'utf8' });
    if (probe.status !== 0) continue;
    log(`pandas.read_csv via ${python} (${trials} trials)…`);
    const run = spawnSync(python, ['-c', script, path, String(Math.min(trials, 2))], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (run.status !== 0) return { mbPerS: null, reason: `pandas run failed: ${run.stderr.trim().split('\n').pop()}` };
    const [seconds, cpuSeconds, version] = run.stdout.trim().split(/\s+/);
    const mb = statSync(path).size / 1e6;
    return { mbPerS: mb / Number(seconds), mbPerCpuS: mb / Number(cpuSeconds), version };
  }
  return { mbPerS: null, reason: 'no python3 with pandas (apt-get install python3-pandas for /usr/bin/python3)' };
}

async function main(): Promise<void> {
  const info = native().info();
  const dir = mkdtempSync(join(tmpdir(), 'astrospec-bench-io-'));
  try {
    const csv = join(dir, 'spectra.csv');
    const arrow = join(dir, 'spectra.arrow');
    log(`generating ${rows} spectra × ${L} pixels…`);
    const batches: SpectrumBatch[] = [];
    for (let first = 0; first < rows; first += 1000) batches.push(syntheticBatch(first, Math.min(1000, rows - first), 1 + first));
    const write = await time(async () => {
      const sink = await createSpectraSink(csv, { grid: COMPETITION_GRID, hasLabels: true });
      for (const b of batches) await sink.write(b);
      await sink.close();
    });
    const arrowSink = await createSpectraSink(arrow, { grid: COMPETITION_GRID, hasLabels: true });
    for (const b of batches) await arrowSink.write(b);
    await arrowSink.close();
    batches.length = 0;
    const csvBytes = statSync(csv).size;
    const csvMb = csvBytes / 1e6;
    log(`CSV ${csvMb.toFixed(1)} MB (${(csvBytes / rows / L).toFixed(2)} bytes per value), written at ${(csvMb / write.seconds).toFixed(0)} MB/s`);

    await readRows(csv); // warm the page cache and the addon
    // All threads and one thread take turns, so other work on the machine weighs on both alike.
    const [parse, parse1, parseReuse] = await bestAlternating([
      [`native CSV, ${info.threads} threads`, () => readRows(csv)],
      ['native CSV, 1 thread', () => readRows(csv, 1)],
      [`native CSV, ${info.threads} threads, one flux array (as classify reads)`, () => readRows(csv, undefined, true)],
    ]);
    if (parse.value !== rows || parse1.value !== rows || parseReuse.value !== rows) throw new Error(`read ${parse.value}, ${parse1.value} and ${parseReuse.value} rows, expected ${rows}`);
    const arrowRead = await best('Arrow (compact) read', () => readRows(arrow));

    log('papaparse (dynamicTyping) on the same file…');
    const papa = await best('papaparse', async () => {
      const text = readFileSync(csv, 'utf8');
      const result = Papa.parse<unknown[]>(text, { dynamicTyping: true, skipEmptyLines: true });
      const flux = new Float32Array(L);
      for (let r = 1; r < result.data.length; r++) for (let j = 0; j < L; j++) flux[j] = result.data[r]![j + 1] as number;
      return result.data.length - 1;
    });
    if (papa.value !== rows) throw new Error(`papaparse read ${papa.value} rows`);

    const pandas = pandasReadCsv(csv);
    if (pandas.mbPerS === null) log(`pandas skipped: ${pandas.reason}`);

    const csvMbPerS = csvMb / parse.seconds;
    const jsMbPerS = csvMb / papa.seconds;
    const result = {
      benchmark: 'io',
      rows,
      pixels: L,
      csv_megabytes: Number(csvMb.toFixed(2)),
      trials,
      csv_parse_mb_per_s: Number(csvMbPerS.toFixed(1)),
      csv_parse_spectra_per_s: Math.round(rows / parse.seconds),
      csv_parse_1thread_mb_per_s: Number((csvMb / parse1.seconds).toFixed(1)),
      csv_parse_thread_scaling: Number((parse1.seconds / parse.seconds).toFixed(2)),
      csv_parse_1thread_mb_per_cpu_s: Number((csvMb / parse1.cpuSeconds).toFixed(1)),
      csv_parse_reuse_mb_per_s: Number((csvMb / parseReuse.seconds).toFixed(1)),
      csv_parse_reuse_mb_per_cpu_s: Number((csvMb / parseReuse.cpuSeconds).toFixed(1)),
      csv_write_mb_per_s: Number((csvMb / write.seconds).toFixed(1)),
      arrow_read_spectra_per_s: Math.round(rows / arrowRead.seconds),
      arrow_read_mb_per_s: Number((statSync(arrow).size / 1e6 / arrowRead.seconds).toFixed(1)),
      js_csv_baseline: 'papaparse 5.5.3, dynamicTyping',
      js_csv_baseline_mb_per_s: Number(jsMbPerS.toFixed(1)),
      pandas_read_csv_mb_per_s: pandas.mbPerS === null ? null : Number(pandas.mbPerS.toFixed(1)),
      csv_parse_mb_per_cpu_s: Number((csvMb / parse.cpuSeconds).toFixed(1)),
      js_csv_baseline_mb_per_cpu_s: Number((csvMb / papa.cpuSeconds).toFixed(1)),
      pandas_read_csv_mb_per_cpu_s: pandas.mbPerCpuS === undefined ? null : Number(pandas.mbPerCpuS.toFixed(1)),
      pandas_version: pandas.version ?? null,
      pandas_skipped_reason: pandas.reason ?? null,
      ratio_csv_vs_js: Number((csvMbPerS / jsMbPerS).toFixed(2)),
      ratio_csv_vs_pandas: pandas.mbPerS === null ? null : Number((csvMbPerS / pandas.mbPerS).toFixed(2)),
      ratio_csv_vs_pandas_per_cpu_s: pandas.mbPerCpuS === undefined ? null : Number((csvMb / parse.cpuSeconds / pandas.mbPerCpuS).toFixed(2)),
      threads: info.threads,
      cpu: cpus()[0]?.model ?? 'unknown',
      hardware_threads: info.hardwareThreads,
      isa: info.isa,
      node: process.version,
      compiler: info.compiler,
      // Other work on the machine slows every wall-clock number above; record how busy it was.
      load_average_1min: Number(loadavg()[0]!.toFixed(2)),
    };
    if (!process.argv.includes('--json')) {
      log(`native CSV ${result.csv_parse_mb_per_s} MB/s (${result.csv_parse_spectra_per_s} spectra/s), papaparse ${result.js_csv_baseline_mb_per_s} MB/s, pandas ${result.pandas_read_csv_mb_per_s ?? 'n/a'} MB/s`);
    }
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
