/**
 * SIGINT, SIGTERM and SIGHUP for every command: no `.partial` file is left behind, and the exit
 * code says which signal stopped the command (128 + its number: 130, 143, 129).
 *
 * Most commands can stop anywhere: on the first signal their registered temporary files are
 * removed (src/io/partial-files.ts) and the process exits at once. Commands with onnxruntime
 * worker threads (classify, evaluate --model) stop cooperatively: killing a thread inside
 * onnxruntime-node's run() aborts the whole process, so they get an AbortSignal, stop after the
 * batch under way, remove their output and throw INTERRUPTED; if one hasn't stopped within
 * GRACE_MS, or a second signal comes, the process exits the hard way.
 */
import { constants } from 'node:os';
import { AstrospecError } from '../errors.js';
import { removePartialsSync } from '../io/partial-files.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type Signal = (typeof SIGNALS)[number];

/** How long a cooperative command may take to stop after a signal. */
const GRACE_MS = 10_000;

interface Run {
  controller: AbortController;
  signal?: Signal;
  /** Cooperative sections now running (nested calls of runInterruptible). */
  cooperative: number;
}

let run: Run | undefined;
let lastSignal: Signal | undefined;

/** 128 + the number of the signal that interrupted the last command (130 when none did). */
export function interruptExitCode(): number {
  return 128 + (lastSignal ? constants.signals[lastSignal] : constants.signals.SIGINT);
}

/** True once a signal has stopped (or is stopping) the command. */
export function wasInterrupted(): boolean {
  return lastSignal !== undefined;
}

function exitNow(signal: Signal): never {
  const removed = removePartialsSync();
  const what = removed.length > 0 ? `; removed ${removed.length} unfinished output file${removed.length > 1 ? 's' : ''}` : '';
  process.stderr.write(`astrospec: interrupted by ${signal}${what}\n`);
  process.exit(128 + constants.signals[signal]);
}

/**
 * Runs `work` with the three signals handled as described above. `cooperative`: `work` honours
 * the AbortSignal it is given (and must not be stopped abruptly). Calls nest: an inner call shares
 * the outer one's signal handling (demo → classify).
 */
export async function runInterruptible<T>(work: (signal: AbortSignal) => Promise<T>, options: { cooperative?: boolean } = {}): Promise<T> {
  if (run) {
    const current = run;
    if (options.cooperative) current.cooperative++;
    try {
      return await work(current.controller.signal);
    } finally {
      if (options.cooperative) current.cooperative--;
    }
  }
  const current: Run = { controller: new AbortController(), cooperative: options.cooperative ? 1 : 0 };
  run = current;
  let timer: NodeJS.Timeout | undefined;
  const onSignal = (signal: Signal) => {
    if (current.signal !== undefined || current.cooperative === 0) exitNow(current.signal ?? signal);
    current.signal = lastSignal = signal;
    current.controller.abort();
    timer = setTimeout(() => exitNow(signal), GRACE_MS);
  };
  const handlers = SIGNALS.map((signal) => [signal, () => onSignal(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  try {
    const result = await work(current.controller.signal);
    return result;
  } catch (error) {
    if (current.signal === undefined) throw error;
    const removed = removePartialsSync();
    const detail = error instanceof AstrospecError && error.code === 'INTERRUPTED' ? error.message : 'stopped';
    throw new AstrospecError('INTERRUPTED', `interrupted by ${current.signal} (${detail})${removed.length > 0 ? `; removed ${removed.length} unfinished output files` : ''}`);
  } finally {
    clearTimeout(timer);
    for (const [signal, handler] of handlers) process.off(signal, handler);
    run = undefined;
  }
}
