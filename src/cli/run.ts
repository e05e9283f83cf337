/**
 * What bin/astrospec.js runs: `astrospec <command> …` loads only that command's module (a Slurm
 * task classifying a shard doesn't load the training, report and synthesis code: about three
 * quarters of the CLI's start-up); help, --version and anything unrecognised load every command
 * (src/cli/main.ts), so their output is the full CLI's.
 */
import type { CommandModule } from 'yargs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loader = () => Promise<CommandModule<any, any>>;

const LOADERS: Record<string, Loader> = {
  synth: async () => (await import('./commands/synth.js')).synthCommand,
  convert: async () => (await import('./commands/convert.js')).convertCommand,
  preprocess: async () => (await import('./commands/preprocess.js')).preprocessCommand,
  train: async () => (await import('./commands/train.js')).trainCommand,
  calibrate: async () => (await import('./commands/calibrate.js')).calibrateCommand,
  export: async () => (await import('./commands/export.js')).exportCommand,
  ood: async () => (await import('./commands/ood.js')).oodCommand,
  classify: async () => (await import('./commands/classify.js')).classifyCommand,
  evaluate: async () => (await import('./commands/evaluate.js')).evaluateCommand,
  report: async () => (await import('./commands/report.js')).reportCommand,
  plot: async () => (await import('./commands/plot.js')).plotCommand,
  plan: async () => (await import('./commands/plan.js')).planCommand,
  merge: async () => (await import('./commands/merge.js')).mergeCommand,
  demo: async () => (await import('./commands/demo.js')).demoCommand,
  info: async () => (await import('./commands/info.js')).infoCommand,
};

/** The commands run() can load alone (test/cli-reference.test.ts checks they are all of main.ts's). */
export const LAZY_COMMANDS = Object.keys(LOADERS);

export async function run(argv: string[]): Promise<void> {
  const load = Object.hasOwn(LOADERS, argv[0] ?? '') ? LOADERS[argv[0]!] : undefined;
  const wantsHelp = argv.some((a) => a === '--help' || a === '-h' || a === '--version');
  if (!load || wantsHelp) {
    await (await import('./main.js')).main(argv);
    return;
  }
  const { runCli } = await import('./cli.js');
  await runCli(argv, [await load()]);
}
