/**
 * Atomic writes: every output is written under a temporary name beside its target and renamed
 * into place only when complete, so an interrupted or failed run never leaves a file (or a folder
 * of chunks) that looks finished. This is the one implementation; writers use temporaryPath +
 * commitPartial/discardPartial (streams) or writeFileAtomic (whole contents at once).
 *
 * Every temporary name is registered here while it exists: a command stopped by SIGINT, SIGTERM
 * or SIGHUP may be waiting in the middle of anything, and the CLI's signal handling
 * (src/cli/interrupt.ts) removes whatever is still registered, synchronously, before it exits.
 */
import { rmSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const live = new Set<string>();

export function trackPartial(path: string): string {
  live.add(path);
  return path;
}

/** The temporary was renamed into place or removed. */
export function releasePartial(path: string): void {
  live.delete(path);
}

/**
 * A registered temporary name beside `path`: same directory, so the final rename is atomic;
 * hidden and ending in `.partial`, so nothing mistakes it for an output.
 */
export function temporaryPath(path: string): string {
  const unique = `${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  return trackPartial(join(dirname(path), `.${basename(path)}.${unique}.partial`));
}

/** Renames a finished temporary (file or folder) to its target and forgets it. */
export async function commitPartial(temporary: string, path: string): Promise<void> {
  await rename(temporary, path);
  releasePartial(temporary);
}

/** Removes a temporary (file or folder) that will not be completed, and forgets it. */
export async function discardPartial(temporary: string): Promise<void> {
  await rm(temporary, { force: true, recursive: true });
  releasePartial(temporary);
}

/** Writes `data` to a temporary beside `path`, then renames it into place; on failure `path` is untouched. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temporary = temporaryPath(path);
  try {
    await writeFile(temporary, data);
    await commitPartial(temporary, path);
  } catch (error) {
    await discardPartial(temporary);
    throw error;
  }
}

/** Removes every registered temporary now (a name already renamed or removed is skipped). */
export function removePartialsSync(): string[] {
  const removed: string[] = [];
  for (const path of live) {
    try {
      rmSync(path, { recursive: true });
      removed.push(path);
    } catch {
      // ENOENT: renamed into place or removed already.
    }
  }
  live.clear();
  return removed;
}
