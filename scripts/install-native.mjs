#!/usr/bin/env node
// npm's "install" script: use the prebuilt addon when one loads on this machine, otherwise compile
// it from source with cmake-js into build/, as every install did before prebuilt binaries.
//
// Plain JavaScript (no tsx, nothing compiled): it runs in a user's project, where only the
// package's dependencies are installed.
//
// The source build is also chosen
// - in a git checkout (this repository: `npm ci` compiles the sources it has, as CI always did,
//   whatever prebuilds/ an earlier `npm pack` left behind), and
// - on request: `npm install --build-from-source` (the flag node-pre-gyp and prebuild-install use)
//   or ASTROSPEC_BUILD_FROM_SOURCE=1.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const NEEDS = 'needs cmake >= 3.18 and a C++17 compiler';

function truthy(value) {
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

/** The binary node-gyp-build would load at run time (build/ first, then prebuilds/), and whether it loads. */
function checkPrebuilt() {
  let path;
  try {
    path = require('node-gyp-build').resolve(root);
  } catch (error) {
    return { ok: false, reason: String(error.message ?? error).trim().replace(/\s*\n\s*/g, '; ') };
  }
  // In a child process, so a binary that crashes while loading can't take the install down with it.
  const probe = spawnSync(process.execPath, ['-e', 'const i = require(process.argv[1]).info(); console.log(`${i.isa}, ${i.threads} threads`)', path], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (probe.status === 0) return { ok: true, path, info: probe.stdout.trim() };
  const detail = (probe.stderr || probe.error?.message || `exit ${probe.status ?? probe.signal}`).trim().split('\n').find((line) => /error/i.test(line)) ?? 'it did not load';
  return { ok: false, path, reason: `${relative(root, path)}: ${detail.trim()}` };
}

function onPath(command) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, command)));
}

function buildFromSource() {
  const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  const result = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build'], { cwd: root, stdio: 'inherit' });
  if (result.status === 0) return { ok: true };
  const missing = [
    ...(onPath('cmake') ? [] : ['cmake']),
    ...(['c++', 'g++', 'clang++'].some(onPath) ? [] : ['a C++ compiler (c++, g++, clang++)']),
  ];
  return {
    ok: false,
    reason: missing.length > 0 ? `${missing.join(' and ')} not found on PATH` : `cmake-js exited with ${result.status ?? result.signal} (its output is above)`,
  };
}

const platform = `${process.platform}-${process.arch}`;
const requested = truthy(process.env.npm_config_build_from_source) || truthy(process.env.ASTROSPEC_BUILD_FROM_SOURCE);
const checkout = existsSync(join(root, '.git'));
let prebuiltReason;

if (!requested && !checkout) {
  const prebuilt = checkPrebuilt();
  if (prebuilt.ok) {
    console.log(`astrospec: using the prebuilt addon ${relative(root, prebuilt.path)} (${prebuilt.info}); nothing to compile`);
    process.exit(0);
  }
  prebuiltReason = prebuilt.reason;
  console.log(`astrospec: no prebuilt addon loads here (${prebuiltReason}); building from source with cmake-js`);
}

const built = buildFromSource();
if (!built.ok) {
  console.error(
    [
      '',
      'The astrospec native addon could not be installed.',
      ...(prebuiltReason ? [`No prebuilt binary for ${platform} loads here: ${prebuiltReason}`] : []),
      `Building it from source failed: ${built.reason}.`,
      'Prebuilt binaries: linux-x64 with glibc >= 2.34 and GCC 12\'s libstdc++ or newer (README, "Installing").',
      `Build it with:  npm rebuild astrospec   (${NEEDS}; in a clone: npm run build:native)`,
      '',
    ].join('\n'),
  );
  process.exit(1);
}
