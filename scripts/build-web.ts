/**
 * `npm run web`: builds the static classification page into web/dist/ (or OUT=dir): the page and
 * its worker bundled by esbuild from web/src (which reuses src/'s readers, preprocessing reference
 * and model metadata), onnxruntime-web's WASM runtime copied beside them, the shipped model, and a
 * few small example files from ../shared/data when they are there. Serve the folder with any
 * static file server; nothing runs on the server.
 */
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.env.OUT ?? join(root, 'web/dist'));
const shared = join(root, '../shared/data');

/**
 * The reused src/ modules import Node built-ins (and, in src/export/onnx.ts's exportOnnx, tfjs
 * and the tfjs model loader) only for entry points the page never calls: it hands them bytes.
 * `node:path` and `node:util` resolve to web/src/node-shim.ts (real basename/dirname/join, used for
 * FITS ids; a promisify whose result rejects); every other `node:*` module becomes a stub with the
 * same export names, each a function that throws if it is ever called; the tfjs imports stay
 * external (never fetched).
 */
const nodeShim: Plugin = {
  name: 'node-shim',
  setup(b) {
    b.onResolve({ filter: /^node:(path|util)$/ }, () => ({ path: join(root, 'web/src/node-shim.ts') }));
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, async (args) => {
      const names = Object.keys((await import(args.path)) as object).filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n));
      const stub = (n: string) => `export const ${n} = () => { throw new Error(${JSON.stringify(`${args.path} ${n} is not available in the browser`)}); };`;
      return { contents: [...names.map(stub), 'export default {};'].join('\n'), loader: 'js' };
    });
    b.onResolve({ filter: /^@tensorflow\/|\/model\/io\.js$/ }, (args) => ({ path: args.path, external: true }));
  },
};

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function firstFile(dir: string, pattern: RegExp): Promise<string | undefined> {
  if (!(await exists(dir))) return undefined;
  return (await readdir(dir)).filter((n) => pattern.test(n)).sort()[0];
}

const started = Date.now();
await rm(out, { recursive: true, force: true });
await mkdir(join(out, 'models'), { recursive: true });

const result = await build({
  entryPoints: { main: join(root, 'web/src/main.ts'), worker: join(root, 'web/src/worker.ts') },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome111', 'firefox111', 'safari16.4'],
  // onnxruntime-web then loads its WASM glue (ort-wasm-simd-threaded.mjs) from env.wasm.wasmPaths
  // instead of inlining it, which is what lets its threads start from a file of their own.
  conditions: ['onnxruntime-web-use-extern-wasm'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
  plugins: [nodeShim],
});

const ort = join(root, 'node_modules/onnxruntime-web/dist');
for (const name of ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']) await copyFile(join(ort, name), join(out, name));
for (const name of ['index.html', 'style.css']) await copyFile(join(root, 'web', name), join(out, name));
await copyFile(join(root, 'models/default.onnx'), join(out, 'models/default.onnx'));

// Small examples, from the real data beside the project when it is there.
const examples: { file: string; label: string }[] = [];
const exampleDir = join(out, 'examples');
await mkdir(exampleDir, { recursive: true });
const candidates: [string | undefined, string, string][] = [
  [await firstFile(join(shared, 'lamost/dr10'), /\.fits(\.gz)?$/), 'lamost/dr10', 'LAMOST DR10 star (FITS, binary table)'],
  [await firstFile(join(shared, 'lamost/dr1'), /\.fits(\.gz)?$/), 'lamost/dr1', 'LAMOST DR1 star (FITS, image)'],
  [await firstFile(join(shared, 'boss/spectra'), /\.fits(\.gz)?$/), 'boss/spectra', 'SDSS/BOSS spectrum (FITS)'],
  [(await exists(join(shared, 'peer-files/lamost-stars-200.lz4.feather'))) ? 'lamost-stars-200.lz4.feather' : undefined, 'peer-files', '200 LAMOST stars (Feather, LZ4, pandas)'],
];
for (const [name, dir, label] of candidates) {
  if (!name) continue;
  await copyFile(join(shared, dir, name), join(exampleDir, name));
  examples.push({ file: name, label: `${label}: ${name}` });
}
const peerCsv = join(shared, 'peer-files/lamost-stars-200.csv');
if (await exists(peerCsv)) {
  // The first 40 rows: a CSV example of ~1 MB.
  const lines = (await readFile(peerCsv, 'utf8')).split('\n').slice(0, 41);
  await writeFile(join(exampleDir, 'lamost-stars-40.csv'), `${lines.join('\n')}\n`);
  examples.push({ file: 'lamost-stars-40.csv', label: '40 LAMOST stars (competition CSV): lamost-stars-40.csv' });
}
await writeFile(join(exampleDir, 'examples.json'), `${JSON.stringify(examples, null, 1)}\n`);

const sizes = Object.entries(result.metafile.outputs)
  .filter(([path]) => path.endsWith('.js'))
  .map(([path, info]) => `${path.slice(path.lastIndexOf('/') + 1)} ${(info.bytes / 1024).toFixed(0)} kB`);
process.stdout.write(
  `web: built ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s (${sizes.join(', ')}; ${examples.length} examples${examples.length === 0 ? ': ../shared/data not found' : ''})\n`,
);
