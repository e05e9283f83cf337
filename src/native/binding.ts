/**
 * The only module that loads the native addon and types its surface. Everything else imports
 * `native` from here. Each family of functions (csv, preprocess, conv, ...) adds its
 * signatures to `NativeAddon` below; TS validates arguments before calling in.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AstrospecError } from '../errors.js';

export type IsaName = 'baseline' | 'avx2' | 'avx512';

export interface NativeInfo {
  isa: IsaName;
  detectedIsa: IsaName;
  supportedIsas: IsaName[];
  threads: number;
  hardwareThreads: number;
  compiler: string;
}

/** The addon's exports. Sections are grouped by the native/binding/*.cpp file that defines them. */
export interface NativeAddon {
  // info.cpp
  info(): NativeInfo;
  setThreads(threads: number): number;
  setIsa(isa: IsaName): boolean;
}

const here = dirname(fileURLToPath(import.meta.url));
/** Package root: this file lives in src/native or dist/native. */
export const packageRoot = join(here, '..', '..');

function loadAddon(): NativeAddon {
  const candidates = [
    process.env.ASTROSPEC_ADDON,
    join(packageRoot, 'build', 'Release', 'astrospec.node'),
    join(packageRoot, 'build', 'Debug', 'astrospec.node'),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  const require = createRequire(import.meta.url);
  const errors: string[] = [];
  for (const path of candidates) {
    if (!existsSync(path)) continue;
    try {
      return require(path) as NativeAddon;
    } catch (error) {
      errors.push(`${path}: ${(error as Error).message}`);
    }
  }
  throw new AstrospecError(
    'NATIVE',
    [
      'The astrospec native addon could not be loaded.',
      errors.length > 0 ? `Tried:\n  ${errors.join('\n  ')}` : `No build found at ${candidates.join(' or ')}.`,
      'Build it with:  npm run build:native   (needs cmake >= 3.18 and a C++17 compiler)',
    ].join('\n'),
  );
}

let addon: NativeAddon | undefined;

/** The loaded addon (loaded on first use, so commands that don't need it start without it). */
export function native(): NativeAddon {
  addon ??= loadAddon();
  return addon;
}
