/**
 * The `astrospec` command line. One command per file in ./commands, each a typed yargs
 * CommandModule whose handler is also exported for tests to call directly.
 */
import yargs from 'yargs';
import type { CommandModule } from 'yargs';
import { AstrospecError } from '../errors.js';
import { interruptExitCode, runInterruptible, wasInterrupted } from './interrupt.js';
import { refuseOverwritingInputs } from './output-guard.js';
import { infoCommand } from './commands/info.js';
import { mergeCommand } from './commands/merge.js';
import { plotCommand } from './commands/plot.js';
import { reportCommand } from './commands/report.js';
import { exportCommand } from './commands/export.js';
import { calibrateCommand } from './commands/calibrate.js';
import { classifyCommand } from './commands/classify.js';
import { evaluateCommand } from './commands/evaluate.js';
import { convertCommand } from './commands/convert.js';
import { trainCommand } from './commands/train.js';
import { synthCommand } from './commands/synth.js';
import { preprocessCommand } from './commands/preprocess.js';
import { demoCommand } from './commands/demo.js';
import { planCommand } from './commands/plan.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
// In the order of the workflow: data, training, inference, results, then helpers.
export const commands: CommandModule<any, any>[] = [
  synthCommand, convertCommand, preprocessCommand, trainCommand, calibrateCommand, exportCommand, classifyCommand,
  evaluateCommand, reportCommand, plotCommand, planCommand, mergeCommand, demoCommand, infoCommand,
];

export function buildCli(argv: string[]) {
  let cli = yargs(argv)
    .scriptName('astrospec')
    .usage('$0 <command> [options]\n\nClassify LAMOST-like spectra into star, galaxy and QSO.')
    .strict()
    .demandCommand(1, 'Name a command (see --help).')
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((message, error, y) => {
      if (error) throw error;
      throw new AstrospecError('BAD_ARGUMENT', `${message}\n\n${y.help().toString?.() ?? ''}`.trim());
    });
  for (const command of commands) cli = cli.command(guarded(command));
  return cli.help().alias('h', 'help').version();
}

/**
 * Every command runs with the signal handling of interrupt.ts (no `.partial` file survives
 * SIGINT, SIGTERM or SIGHUP) and refuses outputs that are its own inputs (output-guard.ts).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function guarded(command: CommandModule<any, any>): CommandModule<any, any> {
  const name = String(command.command).split(' ')[0]!;
  const handler = command.handler;
  return {
    ...command,
    handler: (args) =>
      runInterruptible(async () => {
        await refuseOverwritingInputs(name, args as Record<string, unknown>);
        await handler(args);
      }),
  };
}

/** Runs the CLI; prints one clear line for expected errors and exits non-zero. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli(argv).parseAsync();
  } catch (error) {
    process.exitCode = reportError(error);
    // A stopped command may leave a read waiting (on a pipe, a slow disk): don't wait for it.
    if (wasInterrupted()) process.exit(process.exitCode);
  }
}

export function reportError(error: unknown): number {
  if (error instanceof AstrospecError) {
    process.stderr.write(`astrospec: ${error.message}\n`);
    if (process.env.ASTROSPEC_DEBUG && error.stack) process.stderr.write(`${error.stack}\n`);
    return error.code === 'INTERRUPTED' ? interruptExitCode() : error.code === 'BAD_ARGUMENT' ? 2 : 1;
  }
  const e = error as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.path === 'string') {
    process.stderr.write(`astrospec: ${e.path}: ${e.message}\n`);
    return 1;
  }
  process.stderr.write(`astrospec: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
  return 70;
}
