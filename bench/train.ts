/**
 * Training speed of the 1D ResNet18: spectra per second through full optimisation steps
 * (forward in training mode, cross-entropy, backward, Adam) on the backend resolveBackend()
 * picks, against PyTorch training the same architecture on the same CPU when /usr/bin/python3
 * (or python3) can import torch.
 *
 *   npm run -s bench:train -- [--width 16] [--length 2600] [--batch 32] [--warmup 3] [--steps 10]
 *                             [--rounds 3] [--backend auto] [--profile] [--no-torch] [--json]
 *
 * The last stdout line is one JSON object. The CPU is often shared: tfjs and PyTorch are timed in
 * alternating rounds (tfjs, PyTorch on all cores, PyTorch on one) and each side's median is
 * compared, so a burst of other load hits both sides rather than one; the 1-minute load average
 * at the start is recorded.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildResNet1d } from '../src/model/resnet1d.js';
import { native } from '../src/native/binding.js';
import { resolveBackend } from '../src/train/backend.js';
import { createAdam } from '../src/train/adam.js';
import { useFusedBatchNorm } from '../src/train/batchnorm.js';
import { useNativeConv1d } from '../src/train/conv1d-layer.js';
import { useFusedAddRelu } from '../src/train/fuse-relu.js';
import { Random } from '../src/synth/random.js';
import { makeTrainStep } from '../src/train/trainer.js';

const { values: args } = parseArgs({
  options: {
    width: { type: 'string', default: '16' },
    length: { type: 'string', default: '2600' },
    batch: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '3' },
    steps: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'auto' },
    profile: { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const width = Number(args.width);
const inputLength = Number(args.length);
const batch = Number(args.batch);
const warmup = Number(args.warmup);
const steps = Number(args.steps);
const rounds = Math.max(1, Number(args.rounds));

function machine() {
  let nativeInfo: object | string;
  try {
    const i = native().info();
    nativeInfo = { isa: i.isa, threads: i.threads };
  } catch (error) {
    nativeInfo = `not loaded: ${(error as Error).message.split('\n')[0]}`;
  }
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, native: nativeInfo, load_average_1min: loadavg()[0] };
}

/** Builds the model and optimiser, runs the warm-up steps, and returns a timer for `steps` more. */
async function tfjsTrainer() {
  const { tf, name, description } = await resolveBackend(args.backend, { quiet: true });
  const model = buildResNet1d(tf, { width, inputLength, featureCount: 0, classCount: 3 }, 1);
  const fusedBatchNormLayers = useFusedBatchNorm(tf, model);
  const fusedAddReluLayers = useFusedAddRelu(tf, model);
  const nativeConv1dLayers = useNativeConv1d(tf, model);
  const optimizer = createAdam(tf, 1e-3);
  const step = makeTrainStep(tf, model, optimizer);
  const random = new Random(1);
  const flux = Float32Array.from({ length: batch * inputLength }, () => random.uniform() - 0.5);
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 3);
  const weights = new Float32Array(batch).fill(1);
  const run = () => step(batch, flux, undefined, labels, weights);
  for (let i = 0; i < warmup; i++) run();
  const time = () => {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    for (let i = 0; i < steps; i++) run();
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    return { spectraPerSecond: (batch * steps) / seconds, spectraPerCpuSecond: (batch * steps) / ((cpu.user + cpu.system) / 1e6), msPerStep: (seconds * 1000) / steps };
  };
  const profile = async () => {
    const p = await tf.profile(() => {
      run();
    });
    const byKernel = new Map<string, number>();
    for (const k of p.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs || 0));
    const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
    return [...byKernel.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([kernel, ms]) => ({ kernel, ms: Number(ms.toFixed(2)), share: Number((ms / total).toFixed(3)) }));
  };
  const dispose = () => {
    optimizer.dispose();
    model.dispose();
  };
  return { backend: name, description, fusedBatchNormLayers, fusedAddReluLayers, nativeConv1dLayers, time, profile, dispose };
}

interface TorchRun {
  spectraPerSecond: number;
  spectraPerCpuSecond: number;
  version: string;
  threads: number;
}

/**
 * PyTorch with all cores and with one thread. Under other load, OpenMP's spinning threads can
 * make the multi-threaded run several times slower than one thread, so both are recorded and
 * the faster is the comparison.
 */
function torchSpeed(): { best: TorchRun | null; runs: TorchRun[]; reason?: string } {
  const script = fileURLToPath(new URL('./train_torch.py', import.meta.url));
  const reasons: string[] = [];
  for (const python of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      reasons.push(`${python}: ${probe.error?.message ?? probe.stderr.trim().split('\n').at(-1)}`);
      continue;
    }
    const runs: TorchRun[] = [];
    for (const threads of [...new Set([cpus().length, 1])]) {
      const argv = [script, '--width', String(width), '--length', String(inputLength), '--batch', String(batch), '--warmup', String(warmup), '--steps', String(steps), '--threads', String(threads)];
      const run = spawnSync(python, argv, { encoding: 'utf8', timeout: 600_000 });
      if (run.status !== 0) {
        reasons.push(`${python} (${threads} threads): benchmark failed: ${run.stderr.trim().split('\n').at(-1)}`);
        continue;
      }
      const r = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { torch: string; threads: number; spectra_per_s: number; spectra_per_cpu_s: number };
      runs.push({ spectraPerSecond: r.spectra_per_s, spectraPerCpuSecond: r.spectra_per_cpu_s, version: r.torch, threads: r.threads });
    }
    if (runs.length > 0) return { best: runs.reduce((a, b) => (b.spectraPerSecond > a.spectraPerSecond ? b : a)), runs };
  }
  return { best: null, runs: [], reason: `PyTorch not importable (${reasons.join('; ')})` };
}

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

const machineInfo = machine();
const trainer = await tfjsTrainer();
const tfjsRounds: ReturnType<typeof trainer.time>[] = [];
const torchRounds: ReturnType<typeof torchSpeed>[] = [];
for (let r = 0; r < rounds; r++) {
  tfjsRounds.push(trainer.time());
  if (!args['no-torch']) {
    const t = torchSpeed();
    torchRounds.push(t);
    if (!t.best) break; // no PyTorch here: one probe is enough
  }
}
const profile = args.profile ? await trainer.profile() : undefined;
trainer.dispose();
const tfjs = {
  ...trainer,
  spectraPerSecond: median(tfjsRounds.map((t) => t.spectraPerSecond)),
  spectraPerCpuSecond: median(tfjsRounds.map((t) => t.spectraPerCpuSecond)),
  msPerStep: median(tfjsRounds.map((t) => t.msPerStep)),
  profile,
};
// Per thread count, the median over rounds; the faster thread count is the comparison.
const torchByThreads = new Map<number, TorchRun[]>();
for (const t of torchRounds) for (const run of t.runs) torchByThreads.set(run.threads, [...(torchByThreads.get(run.threads) ?? []), run]);
const torchRuns: TorchRun[] = [...torchByThreads.values()].map((runs) => ({
  threads: runs[0]!.threads,
  version: runs[0]!.version,
  spectraPerSecond: median(runs.map((r) => r.spectraPerSecond)),
  spectraPerCpuSecond: median(runs.map((r) => r.spectraPerCpuSecond)),
}));
const torch = {
  best: torchRuns.length > 0 ? torchRuns.reduce((a, b) => (b.spectraPerSecond > a.spectraPerSecond ? b : a)) : null,
  runs: torchRuns,
  reason: args['no-torch'] ? 'skipped (--no-torch)' : torchRounds.find((t) => t.reason)?.reason,
};
const round = (x: number) => Number(x.toFixed(2));
const best = torch.best;
const result = {
  benchmark: 'train',
  backend: tfjs.backend,
  backend_description: tfjs.description,
  width,
  input_length: inputLength,
  batch,
  warmup_steps: warmup,
  timed_steps: steps,
  fused_batchnorm_layers: tfjs.fusedBatchNormLayers,
  fused_add_relu_layers: tfjs.fusedAddReluLayers,
  native_conv1d_layers: tfjs.nativeConv1dLayers,
  train_spectra_per_s: round(tfjs.spectraPerSecond),
  ms_per_step: Number(tfjs.msPerStep.toFixed(1)),
  // Per CPU second (user + system, all threads): less affected by other jobs on the machine.
  train_spectra_per_cpu_s: round(tfjs.spectraPerCpuSecond),
  torch_train_spectra_per_s: best ? round(best.spectraPerSecond) : null,
  torch_threads: best?.threads,
  torch_version: best?.version,
  torch_runs: torch.runs.map((r) => ({ threads: r.threads, spectra_per_s: round(r.spectraPerSecond), spectra_per_cpu_s: round(r.spectraPerCpuSecond) })),
  torch_reason: torch.reason,
  ratio_to_torch: best ? Number((tfjs.spectraPerSecond / best.spectraPerSecond).toFixed(3)) : null,
  rounds: tfjsRounds.map((t, i) => ({
    train_spectra_per_s: round(t.spectraPerSecond),
    torch: torchRounds[i]?.runs.map((r) => ({ threads: r.threads, spectra_per_s: round(r.spectraPerSecond) })) ?? [],
  })),
  profile: tfjs.profile,
  machine: machineInfo,
};
if (!args.json) {
  process.stdout.write(
    `${tfjs.backend}: ${result.train_spectra_per_s} spectra/s (${result.ms_per_step} ms/step), width ${width}, ${inputLength} px, batch ${batch}\n` +
      (best
        ? `PyTorch ${best.version}: ${result.torch_runs.map((r) => `${r.spectra_per_s} spectra/s with ${r.threads} thread(s)`).join(', ')}; ratio to the faster ${result.ratio_to_torch}\n`
        : `PyTorch: ${torch.reason}\n`),
  );
}
process.stdout.write(`${JSON.stringify(result)}\n`);
