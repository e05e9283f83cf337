/**
 * Child process for test/bad-inputs.test.ts: reads one spectra file completely with openSpectra and
 * prints one JSON line: rows, per-row flux sums (or the error), how long the read took and the peak
 * RSS. A hostile file can hang or exhaust memory, so the parent runs this in its own process with a
 * time limit rather than in the test runner itself.
 *
 *   node --import tsx test/read-spectra-child.ts <file>
 */
import { AstrospecError } from '../src/errors.js';
import { openSpectra } from '../src/io/open.js';

export interface ChildReport {
  rows: number;
  /** float64 sum of each row's flux, when the read succeeded. */
  sums: number[];
  ids: string[];
  labels: number[];
  /** The flux of the first two rows. */
  flux: number[];
  error?: { name: string; code?: string; file?: string; message: string };
  /** Wall time of openSpectra plus reading every batch (not the process start). */
  milliseconds: number;
  /** Peak resident set size of the whole process, MB. */
  maxRssMegabytes: number;
}

async function readOne(path: string): Promise<ChildReport> {
  // Load every reader first, so the time measured is the read, not module loading (tsx compiles
  // each module on first import, which on a busy machine alone can take most of a second).
  await Promise.all([import('../src/io/csv.js'), import('../src/io/arrow.js'), import('../src/io/fits.js')]);
  const started = performance.now();
  const report: ChildReport = { rows: 0, sums: [], ids: [], labels: [], flux: [], milliseconds: 0, maxRssMegabytes: 0 };
  try {
    const source = await openSpectra(path);
    try {
      const L = source.grid.length;
      for await (const batch of source.batches()) {
        for (let r = 0; r < batch.ids.length; r++) {
          let sum = 0;
          for (let j = 0; j < L; j++) sum += batch.flux[r * L + j]!;
          report.sums.push(sum);
          report.ids.push(batch.ids[r]!);
          report.labels.push(batch.labels ? batch.labels[r]! : -1);
          if (report.ids.length <= 2) report.flux.push(...batch.flux.subarray(r * L, (r + 1) * L));
        }
        report.rows += batch.ids.length;
      }
    } finally {
      await source.close();
    }
  } catch (error) {
    const e = error as Error;
    report.error = {
      name: e?.name ?? typeof error,
      code: error instanceof AstrospecError ? error.code : undefined,
      file: error instanceof AstrospecError ? error.file : undefined,
      message: String(e?.message ?? error),
    };
  }
  report.milliseconds = performance.now() - started;
  report.maxRssMegabytes = process.resourceUsage().maxRSS / 1024;
  return report;
}

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: read-spectra-child.ts <file>\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(await readOne(path))}\n`);
