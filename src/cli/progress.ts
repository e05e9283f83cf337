/**
 * Progress bars for long commands (cli-progress), drawn on stderr only when it is a TTY so
 * piped output and CI logs stay clean; the final summary line is always printed.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Advance by `rows` (and `bytes` of input, for MB/s). */
  tick(rows: number, bytes?: number, extra?: Record<string, string | number>): void;
  /** Stops the bar and returns rows/s and MB/s since start. */
  stop(): { rows: number; seconds: number; rowsPerSecond: number; megabytesPerSecond: number };
}

export function createProgress(label: string, total?: number, options: { quiet?: boolean } = {}): Progress {
  const start = process.hrtime.bigint();
  let rows = 0;
  let bytes = 0;
  const show = !options.quiet && process.stderr.isTTY === true;
  const bar = show
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: total
            ? `${label} [{bar}] {percentage}% | {value}/{total} | {rate} spectra/s | ETA {eta_formatted}{suffix}`
            : `${label} {value} spectra | {rate} spectra/s{suffix}`,
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(total ?? 0, 0, { rate: '0', suffix: '' });
  const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;
  return {
    tick(n, b = 0, extra) {
      rows += n;
      bytes += b;
      const suffix = extra ? ' | ' + Object.entries(extra).map(([k, v]) => `${k} ${v}`).join(' | ') : '';
      bar?.update(rows, { rate: (rows / Math.max(elapsed(), 1e-9)).toFixed(0), suffix });
    },
    stop() {
      bar?.stop();
      const seconds = elapsed();
      return { rows, seconds, rowsPerSecond: rows / Math.max(seconds, 1e-9), megabytesPerSecond: bytes / 1e6 / Math.max(seconds, 1e-9) };
    },
  };
}
