/**
 * Mutation fuzzer for the spectra readers (openSpectra: LAMOST DR1/DR10 FITS, SDSS FITS, Arrow and
 * Feather uncompressed/LZ4/ZSTD as files and streams, CSV and CSV.gz).
 *
 *   npm run -s fuzz -- --seconds 600 --json
 *
 * Builds the seed corpus (fuzz/corpus.ts) on tmpfs, starts one worker process per core
 * (fuzz/worker.ts: it mutates, reads and checks; see there for the checks and oracles), restarts a
 * worker that crashed, hung (no report for 5 s) or passed 1 GB RSS, and prints executions per
 * format and the findings; with --json, one JSON object as the last line. Each distinct finding's
 * input is saved under --findings (default runs/fuzz/findings) with a .json beside it saying what
 * was mutated. Exit code 1 when anything was found.
 *
 * Options: --seconds N (60), --workers N (cores), --seed N (from the clock; printed), --formats a,b
 * (see FORMATS in fuzz/corpus.ts), --findings DIR, --json.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCorpus, FORMATS, type FuzzFormat } from '../fuzz/corpus.js';
import type { CaseInfo, Finding, FindingKind, WorkerConfig, WorkerMessage } from '../fuzz/worker.js';

/**
 * A case is a hang when the worker spends this much CPU time on it without answering, or is
 * silent this long in wall time whatever its CPU (blocked). CPU time, not wall time, is the
 * first test because on a shared machine a starved worker can be silent for seconds while
 * doing nothing wrong.
 */
const HANG_MS = 5000;
const STALL_MS = 60_000;
const RSS_LIMIT_MB = 1024;
/**
 * The worker's old generation starts this large. From V8's default start (an old-space limit of
 * about 35 MB over 11 MB live) the worker ran a full mark-compact every ~70 ms, about 10 cases,
 * and did 140 executions per CPU-second over all formats; with this, one mark-compact in 12 s and
 * 330–380 per CPU-second. The live heap stays near 13 MB and a worker's RSS peaks at 190–250 MB,
 * well under the 1 GB limit it is checked against.
 */
const INITIAL_OLD_SPACE_MB = 128;

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

const seconds = Number(option('seconds') ?? 60);
const workers = Number(option('workers') ?? availableParallelism());
const baseSeed = Number(option('seed') ?? (Date.now() % 1_000_000_007));
const formats = option('formats')?.split(',') as FuzzFormat[] | undefined;
const findingsDir = resolve(option('findings') ?? 'runs/fuzz/findings');
const json = process.argv.includes('--json');
if (!(seconds > 0) || !(workers >= 1)) throw new Error('usage: fuzz.ts [--seconds N] [--workers N] [--seed N] [--formats a,b] [--findings DIR] [--json]');
for (const f of formats ?? []) if (!(FORMATS as readonly string[]).includes(f)) throw new Error(`unknown format ${f}; formats: ${FORMATS.join(', ')}`);

const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
const scratch = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'astrospec-fuzz-'));
const corpusDir = join(scratch, 'corpus');
const started = performance.now();
const seeds = buildCorpus(corpusDir).filter((s) => !formats || formats.includes(s.format));
log(`astrospec fuzz: ${seeds.length} seeds, ${workers} workers, ${seconds} s, seed ${baseSeed}, findings in ${findingsDir}`);

const executions: Record<string, number> = Object.fromEntries((formats ?? FORMATS).map((f) => [f, 0]));
const oracle: Record<string, number> = {};
const findings: Finding[] = [];
let slowest = 0;
let restarts = 0;
const fuzzerErrors: string[] = [];
/** CPU time the workers used while the clock ran (reports during start-up are left out). */
let workerCpuMs = 0;
let fuzzing = false;
let spawned = 0;
const root = fileURLToPath(new URL('..', import.meta.url));
const workerSource = join(root, 'fuzz', 'worker.ts');

/**
 * The worker bundled by esbuild into one ES module, run by plain node: under tsx every dynamic
 * import (openSpectra loads its reader with one per call) is a round trip to tsx's loader thread,
 * a tenth of the time on these small files. It lives two folders below the package root, as
 * src/native/binding.ts expects of its own file, so the addon and node_modules resolve as usual.
 */
async function bundleWorker(): Promise<{ script: string; execArgv: string[] }> {
  try {
    const { build } = await import('esbuild');
    const script = join(root, 'build-fuzz', 'js', `worker-${process.pid}.mjs`);
    // "#apache-arrow" stays an import too: bundled, its CommonJS file's require() would fail in an
    // ES module (package.json "imports"; the bundle sits inside the package, so it resolves).
    await build({ entryPoints: [workerSource], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', external: ['#apache-arrow', '#apache-arrow/*'], outfile: script, logLevel: 'error' });
    return { script, execArgv: [] };
  } catch (error) {
    log(`fuzz: running the worker under tsx (esbuild bundle failed: ${(error as Error).message.split('\n')[0]})`);
    return { script: workerSource, execArgv: ['--import', 'tsx'] };
  }
}
const worker = await bundleWorker();

/** The seed corpus, the case folders and the worker bundle: all this run wrote outside --findings. */
function removeScratch(): void {
  rmSync(scratch, { recursive: true, force: true });
  if (worker.script !== workerSource) rmSync(worker.script, { force: true });
}

interface Running {
  child: ChildProcess;
  caseDir: string;
  ready: boolean;
  lastReport: number;
  /** The worker's CPU time (ms, /proc) at its last report. */
  cpuAtReport?: number;
  done: Promise<void>;
  killedFor?: FindingKind;
}
const running = new Set<Running>();
let stopping = false;

function caseInfo(caseDir: string): CaseInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(caseDir, 'case.json'), 'utf8')) as CaseInfo;
  } catch {
    return undefined;
  }
}

/** A worker died or was killed while reading a case: that case is the finding. */
function recordLostCase(w: Running, kind: FindingKind, message: string): void {
  const info = caseInfo(w.caseDir);
  if (!info) {
    findings.push({ kind, format: 'csv', seed: '?', mutations: [], message: `${message} (before its first case)` });
    return;
  }
  mkdirSync(findingsDir, { recursive: true });
  const file = join(findingsDir, `${kind}-${info.seed}-${baseSeed}-${spawned}${info.ext}`);
  try {
    copyFileSync(join(w.caseDir, `case${info.ext}`), file);
  } catch {
    /* the case file was not written yet */
  }
  writeFileSync(`${file}.json`, JSON.stringify({ kind, message, format: info.format, seed: info.seed, mutations: info.mutations }, null, 1));
  findings.push({ kind, format: info.format, seed: info.seed, mutations: info.mutations, message, file });
  executions[info.format] = (executions[info.format] ?? 0) + 1;
}

function start(): void {
  const id = spawned++;
  const caseDir = join(scratch, `worker-${id}`);
  const config: WorkerConfig = { corpusDir, caseDir, findingsDir, seed: (baseSeed + id * 7919) >>> 0, formats };
  const child = fork(worker.script, [JSON.stringify(config)], {
    execArgv: [...worker.execArgv, '--max-old-space-size=1536', `--initial-old-space-size=${INITIAL_OLD_SPACE_MB}`, ...(process.env.ASTROSPEC_FUZZ_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ASTROSPEC_FUZZ_CPU_PROF}`] : [])],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const w: Running = { child, caseDir, ready: false, lastReport: performance.now(), done: Promise.resolve() };
  w.done = new Promise((done) => {
    child.on('exit', (code, signal) => {
      running.delete(w);
      if (!w.ready && !w.killedFor && !stopping) {
        // It never got to a case: the harness is broken, and restarting it would only repeat that.
        const lines = stderr.trim().split('\n');
        log(`fuzz: a worker exited (${signal ?? `code ${code}`}) before it was ready: ${(lines.find((l) => /Error\b/.test(l)) ?? lines.at(-1) ?? '').slice(0, 1000)}`);
        for (const other of running) other.child.kill('SIGKILL');
        removeScratch();
        process.exit(2);
      }
      if (w.killedFor) {
        recordLostCase(w, w.killedFor, w.killedFor === 'hang' ? `no answer after ${HANG_MS / 1000} s of CPU time or ${STALL_MS / 1000} s in all (killed)` : `RSS over ${RSS_LIMIT_MB} MB (killed)`);
      } else if (code !== 0 || signal) {
        let message = `worker exited with ${signal ?? `code ${code}`}`;
        try {
          const crash = JSON.parse(readFileSync(join(caseDir, 'crash.json'), 'utf8')) as { message: string; previous?: { ext: string } };
          message = crash.message;
          if (crash.previous) {
            // The previous case may have left the work that failed; keep it too.
            mkdirSync(findingsDir, { recursive: true });
            copyFileSync(join(caseDir, `previous${crash.previous.ext}`), join(findingsDir, `crash-previous-case-${baseSeed}-${spawned}${crash.previous.ext}`));
          }
        } catch {
          if (stderr.trim()) message += `: ${stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`;
        }
        recordLostCase(w, /heap|memory/i.test(message) ? 'memory' : 'crash', message);
      }
      rmSync(caseDir, { recursive: true, force: true });
      if (!stopping && (code !== 0 || signal || w.killedFor)) restarts++;
      if (!stopping) start();
      done();
    });
  });
  child.on('message', (m: WorkerMessage) => {
    w.lastReport = performance.now();
    w.cpuAtReport = cpuMilliseconds(child.pid);
    if (m.type === 'ready') {
      w.ready = true;
      return;
    }
    for (const [format, n] of Object.entries(m.executions)) executions[format] = (executions[format] ?? 0) + n!;
    for (const [kind, n] of Object.entries(m.oracle)) oracle[kind] = (oracle[kind] ?? 0) + n;
    for (const f of m.findings) {
      findings.push(f);
      if (findings.length <= 20) log(`finding: ${f.kind} ${f.format} (${f.seed}; ${f.mutations.join('; ').slice(0, 200)}): ${f.message.slice(0, 300)}`);
    }
    slowest = Math.max(slowest, m.slowest);
    if (fuzzing) workerCpuMs += m.cpuMs;
    for (const e of m.fuzzerErrors) if (fuzzerErrors.push(e) <= 5) log(`fuzzer error (not a finding): ${e}`);
  });
  running.add(w);
}

/** CPU time of a process's main thread in ms (/proc/<pid>/schedstat), undefined where unavailable. */
function cpuMilliseconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const ns = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
    return Number.isFinite(ns) ? ns / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

function rssMegabytes(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

for (let k = 0; k < workers; k++) start();
// The run's seconds count from when every worker has loaded the readers and prepared its seeds
// (a few seconds, more on a busy machine), so a short run still fuzzes for its whole length.
for (const deadline = performance.now() + 120_000; performance.now() < deadline && [...running].some((w) => !w.ready); ) await new Promise((r) => setTimeout(r, 50));
const fuzzStart = performance.now();
for (const format of Object.keys(executions)) executions[format] = 0; // cases read while others were still starting
fuzzing = true;
const watchdog = setInterval(() => {
  const now = performance.now();
  for (const w of running) {
    if (w.killedFor) continue;
    const silent = now - w.lastReport;
    const cpu = cpuMilliseconds(w.child.pid);
    const busy = cpu !== undefined && w.cpuAtReport !== undefined ? cpu - w.cpuAtReport : silent;
    if (w.ready && (busy > HANG_MS + 500 || silent > STALL_MS)) w.killedFor = 'hang';
    else if (rssMegabytes(w.child.pid) > RSS_LIMIT_MB) w.killedFor = 'memory';
    if (w.killedFor) w.child.kill('SIGKILL');
  }
}, 200);
let lastProgress = performance.now();
const progress = setInterval(() => {
  if (json || performance.now() - lastProgress < 10_000) return;
  lastProgress = performance.now();
  const total = Object.values(executions).reduce((a, b) => a + b, 0);
  log(`${((performance.now() - fuzzStart) / 1000).toFixed(0)} s: ${total} executions, ${findings.length} findings`);
}, 1000);

await new Promise((r) => setTimeout(r, seconds * 1000));
stopping = true;
clearInterval(progress);
const ending = [...running];
for (const w of ending) w.child.send({ type: 'stop' });
// Each worker finishes the case it is reading, still watched for hangs and memory. A fixed wall
// time (5 s) here reported starved workers as crashed: beside a training job at nice −10, two
// workers at nice 19 were still inside cases that read in 25 ms when it ran out.
const grace = setTimeout(() => {
  for (const w of running) {
    w.killedFor ??= 'hang';
    w.child.kill('SIGKILL');
  }
}, STALL_MS + 5000);
await Promise.all(ending.map((w) => w.done));
clearTimeout(grace);
clearInterval(watchdog);
const elapsed = (performance.now() - fuzzStart) / 1000;
removeScratch();

const total = Object.values(executions).reduce((a, b) => a + b, 0);
const byKind: Record<FindingKind, number> = { crash: 0, hang: 0, memory: 0, escape: 0, unnamed: 0, misread: 0, disagreement: 0 };
for (const f of findings) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
const unique = new Map<string, Finding & { count: number }>();
for (const f of findings) {
  const key = `${f.kind}|${f.format}|${f.message.replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, '#').slice(0, 160)}`;
  const u = unique.get(key);
  if (u) {
    u.count++;
    u.file ??= f.file;
  } else unique.set(key, { ...f, count: 1 });
}
const cpu = cpus()[0]?.model ?? 'unknown CPU';
const summary = {
  seconds: Number(elapsed.toFixed(1)),
  setupSeconds: Number(((fuzzStart - started) / 1000).toFixed(1)),
  workers,
  seed: baseSeed,
  executions: total,
  executionsPerSecond: Math.round(total / elapsed),
  // On a busy machine the workers get less than their cores: what they did per CPU-second used.
  workerCpuSeconds: Math.round(workerCpuMs / 1000),
  executionsPerWorkerCpuSecond: Math.round(total / Math.max(1e-3, workerCpuMs / 1000)),
  perFormat: executions,
  oracleChecked: oracle,
  slowestCaseMs: Math.round(slowest),
  workerRestarts: restarts,
  fuzzerErrors: fuzzerErrors.length,
  findings: { total: findings.length, byKind, unique: [...unique.values()].map((u) => ({ kind: u.kind, format: u.format, count: u.count, message: u.message, mutations: u.mutations, file: u.file })) },
  machine: { cpu, cores: availableParallelism(), node: process.version, loadAverage1m: Number(loadavg()[0]!.toFixed(2)) },
};
if (!json) {
  log(`${total} executions in ${elapsed.toFixed(1)} s (${summary.executionsPerSecond}/s; ${summary.executionsPerWorkerCpuSecond} per worker CPU-second, ${summary.workerCpuSeconds} CPU-s): ${Object.entries(executions).map(([f, n]) => `${f} ${n}`).join(', ')}`);
  log(`value oracle: ${Object.entries(oracle).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  log(`findings: ${findings.length}${findings.length ? ` (${Object.entries(byKind).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')}; ${unique.size} distinct)` : ''}`);
  for (const u of unique.values()) log(`  ${u.kind} ${u.format} ×${u.count}: ${u.message.slice(0, 300)}${u.file ? `\n    ${u.file}` : ''}`);
} else process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exit(findings.length > 0 ? 1 : 0);
