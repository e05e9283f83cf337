/**
 * The published package installs and runs on a machine with no compiler (`npm run test:install`).
 *
 * `npm pack`s this checkout (prepack compiles the prebuilt addon into prebuilds/, prepare compiles
 * dist/), installs the tarball into a temporary project whose PATH holds only node, npm, sh and a
 * few coreutils (no cmake, cc, c++, make or python), offline from the npm cache, then runs the
 * installed CLI. Then, with prebuilds/ removed, `npm rebuild` must fail with the install script's
 * message and the CLI with the loader's; with the compilers back it must build from source.
 *
 * Not part of `npm test`: packing compiles the addon from scratch and the TypeScript (45–110 s on
 * 2 busy cores), the install takes ~20 s and the source-build check compiles the addon again
 * (~35 s): about 3 minutes in all.
 *
 * The temporary project's lockfile is this repository's, less its dev dependencies, with each
 * package's registry URL filled in (the repository's lockfile omits them): `npm ci --offline` then
 * installs exactly the versions CI tests, from the cache that `npm ci` here filled.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'astrospec-install-'));
const project = join(work, 'project');
const bin = join(work, 'bin');
const installed = join(project, 'node_modules', 'astrospec');
let tarball = '';

/** Tools a source build needs; none may be reachable from the restricted PATH. */
const BUILD_TOOLS = ['cmake', 'cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'make', 'ninja', 'python3'];
/** What npm and the packages' install scripts run besides node: sh for npm's scripts, and a few coreutils. */
const BASIC_TOOLS = ['sh', 'env', 'cat', 'ls', 'mkdir', 'rm', 'cp', 'mv', 'ln', 'chmod', 'uname'];

function which(command: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/**
 * A clean environment: HOME (npm's cache and config), TMPDIR, the npm cache if one is set, and
 * offline mode. tfjs-node's install script downloads libtensorflow from outside the npm registry
 * whatever npm's mode; pointed at a closed local port, it fails at once with or without a network.
 */
function environment(path: string): NodeJS.ProcessEnv {
  return {
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR ?? tmpdir(),
    PATH: path,
    ...(process.env.npm_config_cache ? { npm_config_cache: process.env.npm_config_cache } : {}),
    npm_config_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    TFJS_NODE_CDN_STORAGE: 'http://127.0.0.1:9/',
  };
}

function run(command: string, args: string[], options: { cwd: string; path: string; timeout?: number }): SpawnSyncReturns<string> {
  return spawnSync(command, args, {
    cwd: options.cwd,
    env: environment(options.path),
    encoding: 'utf8',
    timeout: options.timeout ?? 300_000,
    maxBuffer: 64 << 20,
  });
}

function output(result: SpawnSyncReturns<string>): string {
  return `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`;
}

function astrospec(args: string[]): SpawnSyncReturns<string> {
  return run(join(project, 'node_modules', '.bin', 'astrospec'), args, { cwd: project, path: bin });
}

/** The repository's lockfile as the temporary project's: the tarball at the root's place, no dev packages. */
function projectLockfile(tarballName: string): object {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as Record<string, unknown>;
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const packages: Record<string, object> = {
    '': { name: 'astrospec-install-check', version: '1.0.0', dependencies: { astrospec: `file:${tarballName}` } },
    'node_modules/astrospec': {
      version: pkg.version,
      resolved: `file:${tarballName}`,
      integrity,
      hasInstallScript: true,
      license: pkg.license,
      dependencies: pkg.dependencies,
      optionalDependencies: pkg.optionalDependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (!key.startsWith('node_modules/') || entry.dev) continue;
    const { devOptional, ...rest } = entry;
    const name = (entry.name as string | undefined) ?? key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    packages[key] = {
      ...rest,
      ...(devOptional ? { optional: true } : {}),
      resolved: entry.resolved ?? `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${String(entry.version)}.tgz`,
    };
  }
  return { name: 'astrospec-install-check', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

before(() => {
  // Pack: prepack builds prebuilds/<platform>-<arch>/, prepare builds dist/ (both ignored by git).
  const packed = join(work, 'packed');
  mkdirSync(packed);
  const pack = spawnSync('npm', ['pack', '--pack-destination', packed], { cwd: repo, encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20 });
  assert.equal(pack.status, 0, `npm pack failed:\n${output(pack)}`);
  const name = readdirSync(packed).find((file) => file.endsWith('.tgz'));
  assert.ok(name, 'npm pack wrote no tarball');
  mkdirSync(project);
  tarball = join(project, name);
  renameSync(join(packed, name), tarball);

  // PATH: node, npm and basic tools, each a symlink in one folder.
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  const npmCli = process.env.npm_execpath ?? realpathSync(which('npm') ?? 'npm');
  symlinkSync(npmCli, join(bin, 'npm'));
  for (const tool of BASIC_TOOLS) {
    const found = which(tool);
    assert.ok(found, `${tool} not found`);
    symlinkSync(found, join(bin, tool));
  }

  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'astrospec-install-check', version: '1.0.0', private: true, dependencies: { astrospec: `file:${name}` } }, null, 2)}\n`);
  writeFileSync(join(project, 'package-lock.json'), `${JSON.stringify(projectLockfile(name), null, 2)}\n`);
  // onnxruntime-node-install=skip: its install script would download CUDA libraries otherwise.
  copyFileSync(join(repo, '.npmrc'), join(project, '.npmrc'));
});

after(() => {
  rmSync(work, { recursive: true, force: true });
});

test('the tarball carries the prebuilt addon, the compiled CLI, the model, templates and native sources, and nothing private', () => {
  const list = spawnSync('tar', ['-tzvf', tarball], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(list.status, 0, output(list));
  const files = new Map<string, number>();
  for (const line of list.stdout.trim().split('\n')) {
    const fields = line.trim().split(/\s+/);
    files.set(fields.slice(5).join(' ').replace(/^package\//, ''), Number(fields[2]));
  }
  const platform = `${process.platform}-${process.arch}`;
  const expected = [
    'package.json', 'README.md', 'LICENSE', 'CMakeLists.txt', 'bin/astrospec.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js',
    'models/default.onnx', 'data/templates/README.md', 'native/kernels/kernels.cmake', 'native/binding/addon.cpp',
    'scripts/install-native.mjs', 'docs/model-card.md', `prebuilds/${platform}/astrospec.napi.glibc.node`,
  ];
  for (const path of expected) assert.ok(files.has(path), `${path} missing from the tarball`);
  for (const path of files.keys()) {
    assert.doesNotMatch(path, /^(build|build-[^/]*|runs|node_modules|test|src|bench|web|\.git[^/]*)\//, `${path} should not be published`);
    assert.doesNotMatch(path, /\.map$/, `${path}: source maps point at src/, which is not published`);
  }
  const unpacked = [...files.values()].reduce((sum, size) => sum + size, 0);
  const packed = readFileSync(tarball).byteLength;
  assert.ok(unpacked < 25e6 && packed < 20e6, `tarball ${packed} bytes, ${unpacked} unpacked`);
  console.log(`tarball: ${(packed / 1e6).toFixed(1)} MB, ${(unpacked / 1e6).toFixed(1)} MB unpacked, ${files.size} files`);
});

test('installs offline with no cmake or compiler on PATH, uses the prebuilt addon and classifies', () => {
  for (const tool of BUILD_TOOLS) assert.equal(which(tool, bin), undefined, `${tool} is reachable`);
  const started = Date.now();
  // --foreground-scripts: npm prints the install scripts' output, which is checked below.
  const install = run(join(bin, 'npm'), ['ci', '--foreground-scripts'], { cwd: project, path: bin });
  assert.equal(install.status, 0, `npm ci failed:\n${output(install)}`);
  console.log(`install: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.match(output(install), /astrospec: using the prebuilt addon prebuilds\/\S+\/astrospec\.napi\.glibc\.node/);
  assert.ok(!existsSync(join(installed, 'build')), 'nothing should have been compiled');
  // tfjs-node's libtensorflow download failed; as an optional dependency it was left out.
  assert.ok(!existsSync(join(project, 'node_modules', '@tensorflow', 'tfjs-node')));

  const info = astrospec(['info', '--json']);
  assert.equal(info.status, 0, output(info));
  const report = JSON.parse(info.stdout) as { native: { loaded: boolean; path?: string; isa?: string }; backends: Record<string, { available: boolean }> };
  assert.equal(report.native.loaded, true);
  assert.match(report.native.path ?? '', /prebuilds\/[^/]+\/astrospec\.napi\.glibc\.node$/);
  assert.equal(report.backends['onnxruntime-node']?.available, true);
  assert.equal(report.backends['@tensorflow/tfjs-node']?.available, false);

  const synth = astrospec(['synth', '-n', '50', '--seed', '11', '-o', 'survey.arrow']);
  assert.equal(synth.status, 0, output(synth));
  const classify = astrospec(['classify', 'survey.arrow', '--model', join(installed, 'models', 'default.onnx'), '-o', 'predictions.csv']);
  assert.equal(classify.status, 0, output(classify));
  const rows = readFileSync(join(project, 'predictions.csv'), 'utf8').trim().split('\n');
  // The shipped model has an OOD score and a redshift head: their columns follow the status.
  assert.equal(rows[0], 'row,id,predicted,p_star,p_galaxy,p_qso,status,ood_score,z,z_err');
  assert.equal(rows.length, 51);
  const status = rows[0]!.split(',').indexOf('status');
  assert.ok(rows.slice(1).every((row) => row.split(',')[status] === 'ok'), rows.slice(1).find((row) => row.split(',')[status] !== 'ok'));
  const evaluate = astrospec(['evaluate', 'predictions.csv', '--truth', 'survey.arrow', '--json']);
  assert.equal(evaluate.status, 0, output(evaluate));
  const scores = JSON.parse(evaluate.stdout) as { macro_f1: number };
  assert.ok(scores.macro_f1 > 0.8, `macro F1 ${scores.macro_f1}`);
});

test('with no prebuilt binary and no compiler, the install and the CLI fail with messages saying what to install', () => {
  renameSync(join(installed, 'prebuilds'), join(work, 'prebuilds'));
  const rebuild = run(join(bin, 'npm'), ['rebuild', 'astrospec'], { cwd: project, path: bin });
  assert.notEqual(rebuild.status, 0, 'the install script should fail');
  const message = output(rebuild);
  assert.match(message, /The astrospec native addon could not be installed\./);
  assert.match(message, /No prebuilt binary for \S+ loads here: No native build was found/);
  assert.match(message, /Building it from source failed: cmake and a C\+\+ compiler \(c\+\+, g\+\+, clang\+\+\) not found on PATH/);
  assert.match(message, /npm rebuild astrospec {3}\(needs cmake >= 3\.18 and a C\+\+17 compiler/);

  const info = astrospec(['info', '--json']);
  assert.equal(info.status, 0, output(info));
  const report = JSON.parse(info.stdout) as { native: { loaded: boolean; error?: string } };
  assert.equal(report.native.loaded, false);
  assert.match(report.native.error ?? '', /^The astrospec native addon could not be loaded\.\nTried:\n {2}No native build was found/);
  const preprocess = astrospec(['preprocess', 'survey.arrow', '-o', 'features.arrow']);
  assert.notEqual(preprocess.status, 0);
  assert.match(output(preprocess), /could not be loaded[\s\S]*needs cmake >= 3\.18 and a C\+\+17 compiler[\s\S]*npm rebuild astrospec/);
});

test('with no prebuilt binary and a compiler, the install builds the addon from source', { skip: !which('cmake') && 'no cmake here' }, () => {
  const path = [bin, ...(process.env.PATH ?? '').split(delimiter)].join(delimiter);
  const rebuild = run(join(bin, 'npm'), ['rebuild', 'astrospec', '--foreground-scripts'], { cwd: project, path, timeout: 600_000 });
  assert.equal(rebuild.status, 0, output(rebuild));
  assert.match(output(rebuild), /no prebuilt addon loads here \(No native build was found[^)]*\); building from source with cmake-js/);
  const info = astrospec(['info', '--json']);
  const report = JSON.parse(info.stdout) as { native: { loaded: boolean; path?: string } };
  assert.equal(report.native.loaded, true);
  assert.match(report.native.path ?? '', /build\/Release\/astrospec\.node$/);
});
