/**
 * The `astrospec` command line. One command per file in ./commands, each a typed yargs
 * CommandModule whose handler is also exported for tests to call directly.
 */
import type { CommandModule } from 'yargs';
import { buildCliWith, runCli } from './cli.js';
import { infoCommand } from './commands/info.js';
import { mergeCommand } from './commands/merge.js';
import { plotCommand } from './commands/plot.js';
import { reportCommand } from './commands/report.js';
import { exportCommand } from './commands/export.js';
import { calibrateCommand } from './commands/calibrate.js';
import { oodCommand } from './commands/ood.js';
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
  synthCommand, convertCommand, preprocessCommand, trainCommand, calibrateCommand, exportCommand, oodCommand, classifyCommand,
  evaluateCommand, reportCommand, plotCommand, planCommand, mergeCommand, demoCommand, infoCommand,
];

export function buildCli(argv: string[]) {
  return buildCliWith(argv, commands);
}

/** Runs the CLI with every command; prints one clear line for expected errors and exits non-zero. */
export async function main(argv: string[]): Promise<void> {
  await runCli(argv, commands);
}

export { reportError } from './cli.js';
