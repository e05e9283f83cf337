/**
 * The CLI's machinery, without any command: yargs set-up, the guard every command runs under,
 * and error reporting. main.ts gives it every command; run.ts (what bin/astrospec.js runs) only
 * the one named on the command line, so a task starts without loading the others' modules.
 */
import yargs from 'yargs';
import type { CommandModule } from 'yargs';
import { AstrospecError } from '../errors.js';
import { interruptExitCode, runInterruptible, wasInterrupted } from './interrupt.js';
import { refuseOverwritingInputs } from './output-guard.js';

/** The yargs CLI with these commands (all of them: main.ts; one: run.ts). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function buildCliWith(argv: string[], commands: CommandModule<any, any>[]) {
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
  skipHelpCache(cli);
  return cli.help().alias('h', 'help').version();
}

/**
 * yargs formats a command's whole help each time the command runs (its usage instance's
 * cacheHelpMessage), for handlers that show help after they have failed. Ours never do (errors
 * go through reportError), and the formatting took ~45 ms of every run's main thread, most of it
 * measuring string widths. `--help` and argument errors still format it when they need it.
 */
function skipHelpCache(cli: object): void {
  const internals = cli as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } };
  const usage = internals.getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
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
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function runCli(argv: string[], commands: CommandModule<any, any>[]): Promise<void> {
  try {
    await buildCliWith(argv, commands).parseAsync();
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
