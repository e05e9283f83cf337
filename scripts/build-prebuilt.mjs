#!/usr/bin/env node
// npm run build:prebuilt (and prepack, so `npm pack` and `npm publish` always carry a fresh binary).
//
// Compiles the addon exactly as a source install does (CMakeLists.txt: -O3 for baseline x86-64, the
// AVX2 and AVX-512 kernels compiled beside it and chosen at run time, no -march=native) in a fresh
// temporary directory, never build/ (a running process may have loaded it, and a stale CMake cache
// must not leak into a release), checks that the result loads, and copies it to
//   prebuilds/<platform>-<arch>/astrospec.napi[.glibc|.musl].node
// prebuildify's layout, which node-gyp-build reads at run time: `napi` says it runs on any Node
// with Node-API 8, `glibc`/`musl` which C library it was linked against. Only this machine's
// platform is replaced; prebuilds made elsewhere (copied into prebuilds/) are kept.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function libcTag() {
  if (process.platform !== 'linux') return [];
  return [process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl'];
}

/** The newest glibc and libstdc++ symbol versions an ELF binary asks for (its floor on other systems). */
function symbolVersionFloor(binary) {
  const text = readFileSync(binary).toString('latin1');
  const newest = (pattern) => {
    const versions = [...text.matchAll(pattern)].map((m) => m[1].split('.').map(Number));
    versions.sort((a, b) => a[0] - b[0] || a[1] - b[1] || (a[2] ?? 0) - (b[2] ?? 0));
    return versions.at(-1)?.join('.');
  };
  const glibc = newest(/GLIBC_(\d+\.\d+(?:\.\d+)?)/g);
  const glibcxx = newest(/GLIBCXX_(\d+\.\d+\.\d+)/g);
  return [glibc && `glibc >= ${glibc}`, glibcxx && `libstdc++ GLIBCXX_${glibcxx}`].filter(Boolean).join(', ');
}

const platform = `${process.platform}-${process.arch}`;
const out = mkdtempSync(join(tmpdir(), 'astrospec-prebuild-'));
try {
  const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  const build = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', out], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) {
    console.error(`build:prebuilt: cmake-js failed (${build.status ?? build.signal}); needs cmake >= 3.18 and a C++17 compiler`);
    process.exit(1);
  }
  const built = join(out, 'Release', 'astrospec.node');
  const probe = spawnSync(process.execPath, ['-e', 'const i = require(process.argv[1]).info(); console.log(`${i.isa} (supports ${i.supportedIsas.join(", ")}), compiler ${i.compiler}`)', built], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.error(`build:prebuilt: the new binary does not load:\n${probe.stderr}`);
    process.exit(1);
  }
  const dir = join(root, 'prebuilds', platform);
  mkdirSync(dir, { recursive: true });
  for (const old of readdirSync(dir)) if (/^astrospec\..*node$/.test(old)) rmSync(join(dir, old));
  const target = join(dir, ['astrospec', 'napi', ...libcTag(), 'node'].join('.'));
  copyFileSync(built, `${target}.partial`);
  renameSync(`${target}.partial`, target);
  const floor = process.platform === 'linux' ? `; needs ${symbolVersionFloor(target)}` : '';
  console.log(`build:prebuilt: ${relative(root, target)}: ${probe.stdout.trim()}${floor}`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
