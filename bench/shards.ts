/**
 * Sharding benchmark: how much a split `classify --shard i/N` run reads and costs compared with
 * one process, on one Arrow file and one CSV of the same synthetic survey.
 *
 *   npm run -s bench:shards -- [--rows 200000] [--shards 1,8,32] [--formats arrow,csv]
 *                              [--model models/default.onnx] [--processes] [--json]
 *
 * The survey is made once with `astrospec synth` (seed 7) and converted to CSV, both cached in
 * .bench-cache/. For each format and N = 1, 8, 32: the N shards one after another, between two
 * unsharded classify runs (the baseline is their mean, so both sides see the same machine), each a
 * whole classifyFile call (its own sessions, its own open of the input: what a Slurm task does),
 * in one plain Node process (bench/shards-runner.mjs). Reported per format and N:
 *   bytes_read_ratio  bytes all N shards read from the input (src/io/read-stats.ts) / file size
 *   shard_overhead    sum of the N shards' wall times / the unsharded wall time
 *   shard_cpu_overhead  the same with CPU time (all threads), which other work on the machine barely changes
 * and the start-up of one shard: in this process (sessions, open, an empty slice), and as a new
 * process (`node bin/astrospec.js classify … --limit 0`: Node, the CLI's modules, sessions), with
 * what N such processes add. --processes also runs every shard as its own process. Everything
 * runs the compiled package (dist/: npm run build:ts), as the CLI does. Progress on stderr; the
 * last stdout line is one JSON object.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { checkDistIsCurrent } from './dist.js';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));

// The compiled package, as `astrospec` runs (bench/dist.ts).
checkDistIsCurrent();
const dist = (path: string) => import(new URL(`../dist/${path}`, import.meta.url).href);
const { synthHandler } = (await dist('cli/commands/synth.js')) as typeof import('../src/cli/commands/synth.js');
const { convertHandler } = (await dist('cli/commands/convert.js')) as typeof import('../src/cli/commands/convert.js');
const { mergePredictionShards } = (await dist('infer/merge.js')) as typeof import('../src/infer/merge.js');
const { native } = (await dist('native/binding.js')) as typeof import('../src/native/binding.js');
const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    shards: { type: 'string', default: '1,8,32' },
    formats: { type: 'string', default: 'arrow,csv' },
    model: { type: 'string', default: join(root, 'models/default.onnx') },
    processes: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const rows = Number(args.rows);
if (!Number.isSafeInteger(rows) || rows < 1) throw new Error('--rows must be a positive integer');
const shardCounts = args.shards!.split(',').map(Number);
const formats = args.formats!.split(',') as ('arrow' | 'csv')[];
const model = args.model!;
const log = (message: string) => process.stderr.write(`[bench:shards] ${message}\n`);
const cache = join(root, '.bench-cache');
const work = join(cache, 'shards-out');

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** The cached survey: Arrow from astrospec synth, CSV converted from it. */
async function inputs(): Promise<Record<'arrow' | 'csv', string>> {
  await mkdir(cache, { recursive: true });
  const arrow = join(cache, `shards-${rows}.arrow`);
  const csv = join(cache, `shards-${rows}.csv`);
  if (!(await exists(arrow))) {
    log(`synthesising ${rows} spectra → ${arrow}`);
    await synthHandler({ n: rows, seed: 7, output: arrow, quiet: true });
  }
  if (formats.includes('csv') && !(await exists(csv))) {
    log(`converting to ${csv}`);
    await convertHandler({ inputs: [arrow], output: csv, quiet: true });
  }
  return { arrow, csv };
}

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

interface ProcessRun {
  seconds: number;
  json: Record<string, unknown>;
}

function runNode(args: string[]): Promise<{ seconds: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`${args.slice(0, 2).join(' ')} exited ${code}: ${stderr}`));
      else resolve({ seconds: seconds(t0), stdout });
    });
  });
}

/** `node bin/astrospec.js classify …` as a new process: its wall time and its --json line. */
async function classifyProcess(input: string, output: string, extra: string[]): Promise<ProcessRun> {
  const r = await runNode([join(root, 'bin/astrospec.js'), 'classify', input, '--model', model, '-o', output, '--quiet', '--json', ...extra]);
  return { seconds: r.seconds, json: JSON.parse(r.stdout.trim().split('\n').at(-1)!) };
}

interface Call {
  seconds: number;
  cpu_s: number;
  bytes_read: number;
  rows_decoded: number;
  rows: number;
  workers: number;
  intra_op_threads: number;
}
interface Job {
  input: string;
  output: string;
  shard?: [number, number];
  limit?: number;
}

/**
 * classifyFile calls one after another in one process (bench/shards-runner.mjs, plain Node: this
 * benchmark runs under tsx, whose loader every worker thread would inherit and start first).
 */
async function inProcess(jobs: Job[]): Promise<Call[]> {
  const r = await runNode([join(root, 'bench/shards-runner.mjs'), JSON.stringify(jobs.map((j) => ({ ...j, model })))]);
  return r.stdout.trim().split('\n').map((line) => JSON.parse(line) as Call);
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

async function benchFormat(format: 'arrow' | 'csv', input: string) {
  // The machine is shared: the 1-minute load average before and after each format's runs.
  const loadBefore = loadavg()[0]!;
  const size = (await stat(input)).size;
  const out = join(work, format);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const single = join(out, 'single.csv');
  const describe = (c: Call) => `${c.rows} rows in ${c.seconds.toFixed(1)} s (${Math.round(c.rows / c.seconds)}/s, ${c.cpu_s.toFixed(1)} CPU s), read ${(c.bytes_read / 1e6).toFixed(0)} MB of ${(size / 1e6).toFixed(0)} MB`;

  // Start-up of one shard: an empty slice (--limit 0), in a process already running, and as a new process.
  const startup = await inProcess([0, 1, 2].map(() => ({ input, output: join(out, 'empty.csv'), shard: [1, 32] as [number, number], limit: 0 })));
  const asProcess: number[] = [];
  for (let k = 0; k < 3; k++) asProcess.push((await classifyProcess(input, join(out, 'empty.csv'), ['--shard', '1/32', '--limit', '0'])).seconds);
  // The first call of a process also loads the modules; the others show what each further shard costs.
  const startupIn = Math.min(...startup.slice(1).map((c) => c.seconds));
  const startupProcess = Math.min(...asProcess);
  log(`${format}: start-up of one shard: ${startupIn.toFixed(2)} s in a running process, ${startupProcess.toFixed(2)} s as a new process`);

  // The baseline: one run over the whole file, no --shard.
  let before = (await inProcess([{ input, output: single }]))[0]!;
  log(`${format}: unsharded ${describe(before)}`);
  const rows = before.rows;
  const baselines: number[] = [before.seconds];
  const firstCpu = before.cpu_s;
  const firstCall = before;
  const runs = [];
  let processBefore: ProcessRun | undefined;
  for (const n of shardCounts) {
    // The N shards, then the unsharded run again, in one process; each N is compared with the
    // unsharded runs just before and after it (their mean): on a shared machine the load drifts,
    // and both sides of the ratio should see the same drift.
    const files = Array.from({ length: n }, (_, i) => join(out, `n${n}.pred.${i}.csv`));
    const calls = await inProcess([...files.map((output, i) => ({ input, output, shard: [i, n] as [number, number] })), { input, output: single }]);
    const after = calls.pop()!;
    log(`${format}: unsharded ${describe(after)}`);
    baselines.push(after.seconds);
    const base = { seconds: (before.seconds + after.seconds) / 2, cpu: (before.cpu_s + after.cpu_s) / 2 };
    before = after;
    const wall = calls.reduce((t, c) => t + c.seconds, 0);
    const cpu = calls.reduce((t, c) => t + c.cpu_s, 0);
    const bytes = calls.reduce((t, c) => t + c.bytes_read, 0);
    const decoded = calls.reduce((t, c) => t + c.rows_decoded, 0);
    // The shards must join into exactly the unsharded file.
    const merged = join(out, `n${n}.merged.csv`);
    await mergePredictionShards(files, merged, { rows });
    const same = (await readFile(merged, 'utf8')) === (await readFile(single, 'utf8'));
    const run: Record<string, unknown> = {
      shards: n,
      unsharded_s: round(base.seconds, 2),
      wall_s: round(wall, 2),
      slowest_shard_s: round(Math.max(...calls.map((c) => c.seconds)), 2),
      bytes_read: bytes,
      bytes_read_ratio: round(bytes / size, 4),
      rows_decoded: decoded,
      shard_overhead: round(wall / base.seconds),
      shard_cpu_overhead: round(cpu / base.cpu),
      // What is left once the N shards' start-up (measured above) is taken out: reading and the pipeline.
      shard_overhead_without_startup: round((wall - (n - 1) * startupIn) / base.seconds),
      merged_identical: same,
    };
    log(`${format}: N=${n}: bytes read ${(bytes / size).toFixed(3)}× the file, shards ${wall.toFixed(1)} s = ${(wall / base.seconds).toFixed(3)}× unsharded (CPU ${(cpu / base.cpu).toFixed(3)}×); merged ${same ? 'identical' : 'DIFFERENT'}`);
    if (args.processes) {
      const one = processBefore ?? (await classifyProcess(input, join(out, 'p.single.csv'), []));
      let processWall = 0;
      let processBytes = 0;
      for (let i = 0; i < n; i++) {
        const r = await classifyProcess(input, join(out, `p${n}.pred.${i}.csv`), ['--shard', `${i}/${n}`]);
        processWall += r.seconds;
        processBytes += r.json.bytes_read as number;
      }
      const next = await classifyProcess(input, join(out, 'p.single.csv'), []);
      processBefore = next;
      const oneSeconds = (one.seconds + next.seconds) / 2;
      run.processes = { wall_s: round(processWall, 2), unsharded_s: round(oneSeconds, 2), shard_overhead: round(processWall / oneSeconds), bytes_read_ratio: round(processBytes / size, 4) };
      log(`${format}: N=${n} as processes: ${processWall.toFixed(1)} s = ${(processWall / oneSeconds).toFixed(3)}× one process (${one.seconds.toFixed(1)} s before, ${next.seconds.toFixed(1)} s after)`);
    }
    runs.push(run);
    await Promise.all(files.map((f) => rm(f, { force: true })));
  }
  return {
    file_bytes: size,
    rows,
    unsharded_s: baselines.map((b) => round(b, 2)),
    unsharded_spectra_per_s: Math.round(rows / Math.min(...baselines)),
    // Throughput per core: CPU time (all threads) per spectrum of the first unsharded run.
    unsharded_cpu_us_per_spectrum: round((firstCpu / rows) * 1e6, 1),
    // Threads of every classify call: onnxruntime sessions (worker threads) × intra-op threads each.
    inference_workers: firstCall.workers,
    intra_op_threads: firstCall.intra_op_threads,
    startup_in_process_s: round(startupIn),
    startup_process_s: round(startupProcess),
    runs,
    load_average_1min: [round(loadBefore, 2), round(loadavg()[0]!, 2)],
  };
}

const files = await inputs();
const results: Record<string, unknown> = {};
for (const format of formats) results[format] = await benchFormat(format, files[format]);
await rm(work, { recursive: true, force: true });
const info = native().info();
const result = {
  benchmark: 'shards',
  rows,
  model,
  formats: results,
  load_average_1min: Number(loadavg()[0]!.toFixed(2)),
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    isa: info.isa,
    node: process.version,
    onnxruntime: (require('onnxruntime-node/package.json') as { version: string }).version,
    platform: `${process.platform}-${process.arch}`,
    // The addon's thread pool (CSV parsing, preprocessing); ASTROSPEC_THREADS or the core count.
    native_threads: info.threads,
  },
};
if (!args.json) log(JSON.stringify(result, null, 2));
process.stdout.write(`${JSON.stringify(result)}\n`);
