/**
 * Every `.partial` file a writer has open, so that a signal can remove them all.
 *
 * Writers stream to a temporary name beside their target and rename it into place when complete
 * (temporaryPath in columns.ts). A command stopped by SIGINT, SIGTERM or SIGHUP may be waiting in
 * the middle of anything; the CLI's signal handling (src/cli/interrupt.ts) removes whatever is
 * still registered here, synchronously, before the process exits.
 */
import { unlinkSync } from 'node:fs';

const live = new Set<string>();

export function trackPartial(path: string): string {
  live.add(path);
  return path;
}

/** The file was renamed into place or removed. */
export function releasePartial(path: string): void {
  live.delete(path);
}

/** Removes every registered temporary file now (a name already renamed or removed is skipped). */
export function removePartialsSync(): string[] {
  const removed: string[] = [];
  for (const path of live) {
    try {
      unlinkSync(path);
      removed.push(path);
    } catch {
      // ENOENT: renamed into place or removed already.
    }
  }
  live.clear();
  return removed;
}
