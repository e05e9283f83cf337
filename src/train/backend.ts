/**
 * Picks the TensorFlow.js backend at run time, best first:
 *   1. @tensorflow/tfjs-node-gpu  (libtensorflow with CUDA)
 *   2. @tensorflow/tfjs-node      (libtensorflow on the CPU)
 *   3. @tensorflow/tfjs on WASM   (XNNPACK + SIMD, with our native conv1d kernels)
 *   4. @tensorflow/tfjs on the pure-JS CPU backend (with the same native kernels)
 * The first two are optionalDependencies whose install downloads libtensorflow; where that
 * failed they are simply absent, so they are imported dynamically and any failure moves on.
 * Training, benchmarks and inference all take the `tf` returned here, so the same command
 * uses CUDA where tfjs-node-gpu is installed and WASM elsewhere.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AstrospecError } from '../errors.js';
import type { Tf } from '../model/resnet1d.js';
import { installAdamKernel } from './adam.js';
import { installBatchNormGradient } from './batchnorm.js';
import { installConv1dKernels, installMeanGradient, installReluGradient } from './kernels.js';

export type BackendChoice = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** Short aliases accepted by --backend. */
const ALIASES: Record<string, BackendChoice> = {
  auto: 'auto',
  gpu: 'tensorflow-gpu',
  cuda: 'tensorflow-gpu',
  'tensorflow-gpu': 'tensorflow-gpu',
  'tfjs-node-gpu': 'tensorflow-gpu',
  node: 'tensorflow',
  tensorflow: 'tensorflow',
  'tfjs-node': 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

export interface ResolvedBackend {
  tf: Tf;
  /** 'tensorflow-gpu', 'tensorflow', 'wasm' or 'cpu'. */
  name: Exclude<BackendChoice, 'auto'>;
  /** One line for humans: package, version, what accelerates it. */
  description: string;
  /** True when our native conv1d kernels are registered on this backend. */
  nativeConvKernels: boolean;
}

export interface ResolveOptions {
  /** Print nothing (default: one line on stderr naming the backend). */
  quiet?: boolean;
}

export function parseBackendChoice(text: string | undefined): BackendChoice {
  if (text === undefined || text === '') return 'auto';
  const choice = ALIASES[text.toLowerCase()];
  if (!choice) throw new AstrospecError('BAD_ARGUMENT', `unknown backend '${text}' (choose from ${Object.keys(ALIASES).join(', ')})`);
  return choice;
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0]!;
}

async function importTfjsNode(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<Tf> {
  // A variable specifier keeps TypeScript from requiring the optional package at build time.
  const specifier: string = pkg;
  const mod = (await import(specifier)) as { default?: Tf } & Tf;
  const tf = (mod.default ?? mod) as Tf;
  await tf.ready();
  if (tf.getBackend() !== 'tensorflow') throw new Error(`${pkg} loaded but its backend is '${tf.getBackend()}'`);
  return tf;
}

/** The folder holding tfjs-backend-wasm's .wasm binaries, for setWasmPaths in Node. */
export function wasmBinaryDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
}

async function loadWasm(tf: Tf): Promise<string> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // Node reads the binaries from disk: a plain path prefix (with the trailing separator) works
  // for all three variants; Node 20 has no SharedArrayBuffer workers here, so the
  // single-threaded SIMD binary is what loads, and the native kernels supply the threads.
  wasm.setWasmPaths(`${wasmBinaryDir()}/`);
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed');
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return simd ? 'SIMD' : 'no SIMD';
}

const cache = new Map<BackendChoice, ResolvedBackend>();

/**
 * Loads and activates a backend. `preferred` forces one ('tensorflow-gpu'/'gpu',
 * 'tensorflow'/'node', 'wasm', 'cpu'); 'auto' or nothing walks the chain above. A forced
 * backend that can't load is an error; in 'auto' mode failures are reported and skipped.
 */
export async function resolveBackend(preferred?: string, options: ResolveOptions = {}): Promise<ResolvedBackend> {
  const choice = parseBackendChoice(preferred);
  const cached = cache.get(choice);
  if (cached) {
    if (cached.tf.getBackend() !== (cached.name === 'tensorflow-gpu' ? 'tensorflow' : cached.name)) await cached.tf.setBackend(cached.name === 'tensorflow-gpu' ? 'tensorflow' : cached.name);
    return cached;
  }
  const order: Exclude<BackendChoice, 'auto'>[] = choice === 'auto' ? ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] : [choice];
  const skipped: string[] = [];
  for (const name of order) {
    try {
      const resolved = await load(name);
      cache.set(choice, resolved);
      if (!options.quiet) {
        const notes = skipped.length > 0 && choice === 'auto' ? ` (not available: ${skipped.join('; ')})` : '';
        process.stderr.write(`backend: ${resolved.name} — ${resolved.description}${notes}\n`);
      }
      return resolved;
    } catch (error) {
      skipped.push(`${name}: ${firstLine(error)}`);
    }
  }
  throw new AstrospecError('UNSUPPORTED', `no TensorFlow.js backend could be loaded:\n  ${skipped.join('\n  ')}`);
}

async function load(name: Exclude<BackendChoice, 'auto'>): Promise<ResolvedBackend> {
  if (name === 'tensorflow-gpu' || name === 'tensorflow') {
    const pkg = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    const tf = await importTfjsNode(pkg);
    return { tf, name, description: `${pkg} ${tf.version.tfjs ?? ''} (libtensorflow)`.trim(), nativeConvKernels: false };
  }
  const tf = (await import('@tensorflow/tfjs')) as Tf;
  if (name === 'wasm') {
    const simd = await loadWasm(tf);
    const nativeConv = installConv1dKernels(tf, 'wasm');
    installBatchNormGradient(tf);
    installReluGradient(tf);
    installMeanGradient(tf);
    installAdamKernel(tf, 'wasm');
    return {
      tf,
      name,
      description: `@tensorflow/tfjs-backend-wasm ${tf.version.tfjs} (${simd}), ${nativeConv ? 'native conv1d kernels' : 'TypeScript filter gradient (native addon not built: slow)'}`,
      nativeConvKernels: nativeConv,
    };
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('tf.setBackend("cpu") failed');
  await tf.ready();
  const nativeConv = installConv1dKernels(tf, 'cpu');
  installBatchNormGradient(tf);
  installReluGradient(tf);
  installMeanGradient(tf);
  installAdamKernel(tf, 'cpu');
  return {
    tf,
    name,
    description: `@tensorflow/tfjs ${tf.version.tfjs} pure-JS CPU backend${nativeConv ? ', native conv1d kernels' : ' (slow)'}`,
    nativeConvKernels: nativeConv,
  };
}
