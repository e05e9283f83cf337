import type { CommandModule } from 'yargs';
import { createProgress } from '../progress.js';
import { AstrospecError, check } from '../../errors.js';
import { openSpectra } from '../../io/open.js';
import { loadModelSpec } from '../../model/io.js';
import type { Normalisation, RedshiftHeadSpec } from '../../model/spec.js';
import { DEFAULT_REDSHIFT_HEAD } from '../../infer/redshift.js';
import { FEATURE_NAMES, NORMALISATIONS, augmentNoise, preprocess } from '../../preprocess/index.js';
import { CLASS_NAMES, networkInput } from '../../io/batch.js';
import { BACKEND_CHOICES, resolveBackend } from '../../train/backend.js';
import {
  type Balance,
  type LabelledSet,
  type PreprocessSettings,
  type Preprocessor,
  collectLabelledSet,
  stratifiedSplit,
  subset,
} from '../../train/dataset.js';
import { LAST_DIR, type Schedule, type TrainResult, trainModel } from '../../train/trainer.js';
import { join } from 'node:path';

export interface TrainArgs {
  data: string;
  valData?: string;
  valFraction: number;
  width: number;
  bin: number;
  smooth: number;
  epochs: number;
  batchSize: number;
  lr: number;
  schedule: Schedule;
  norm: Normalisation;
  features: boolean;
  balance: Balance;
  /** "lo,hi" or one number. */
  noiseSnr: string | number;
  augment: number;
  patience: number;
  seed: number;
  /** Default: the --resume folder when resuming, else runs/train. */
  out?: string;
  resume?: string;
  backend: string;
  logEvery: number;
  quiet?: boolean;
  /** Redshift bins of the redshift head; 0 = no head; default: DEFAULT_REDSHIFT_HEAD when the data has redshifts. */
  redshiftBins?: number;
}

/** "lo,hi" or a single number → [lo, hi] with 0 < lo ≤ hi. */
export function parseSnrRange(text: string | number): [number, number] {
  const parts = String(text).split(',').map((x) => Number(x.trim()));
  const [lo, hi] = parts.length === 1 ? [parts[0]!, parts[0]!] : [parts[0]!, parts[1]!];
  check(parts.length <= 2 && Number.isFinite(lo) && Number.isFinite(hi) && lo > 0 && hi >= lo, `--noise-snr wants a positive number or lo,hi with 0 < lo ≤ hi, got '${text}'`);
  return [lo, hi];
}

/** src/preprocess (native, all cores) for the dataset code. */
const nativePreprocess: Preprocessor = (batch, s) =>
  preprocess(networkInput(batch), { normalisation: s.normalisation, bin: s.bin, smoothWindow: s.smoothWindow, features: s.features.length > 0 });

async function readSet(path: string, settings: PreprocessSettings, label: string, quiet: boolean | undefined): Promise<LabelledSet> {
  const source = await openSpectra(path);
  try {
    if (!source.hasLabels) throw new AstrospecError('BAD_INPUT', 'has no label column; training needs star/galaxy/qso labels', { file: path });
    const progress = createProgress(`reading ${label}`, source.rowCount, { quiet });
    const set = await collectLabelledSet(source, settings, nativePreprocess, (rows) => progress.tick(rows));
    progress.stop();
    return set;
  } finally {
    await source.close();
  }
}

function validate(args: TrainArgs): void {
  const positiveInt = (v: number, name: string) => check(Number.isInteger(v) && v > 0, `--${name} must be a positive integer, got ${v}`);
  positiveInt(args.width, 'width');
  positiveInt(args.bin, 'bin');
  positiveInt(args.epochs, 'epochs');
  positiveInt(args.batchSize, 'batch-size');
  check(args.batchSize >= 2, '--batch-size must be at least 2 (BatchNorm needs two rows)');
  check(Number.isFinite(args.lr) && args.lr > 0, `--lr must be positive, got ${args.lr}`);
  check(args.valFraction > 0 && args.valFraction < 1, `--val-fraction must be between 0 and 1, got ${args.valFraction}`);
  check(Number.isInteger(args.seed) && args.seed >= 0 && args.seed < 2 ** 31, `--seed must be an integer in [0, 2^31), got ${args.seed}`);
  parseSnrRange(args.noiseSnr);
  check(args.augment >= 0 && args.augment <= 1, `--augment must be a fraction from 0 to 1, got ${args.augment}`);
  check(Number.isInteger(args.patience) && args.patience >= 0, `--patience must be a non-negative integer, got ${args.patience}`);
  check(Number.isInteger(args.smooth) && args.smooth >= 0, `--smooth must be a non-negative integer, got ${args.smooth}`);
  if (args.redshiftBins !== undefined) {
    check(Number.isInteger(args.redshiftBins) && args.redshiftBins >= 0 && args.redshiftBins <= 4096, `--redshift-bins must be an integer from 0 to 4096, got ${args.redshiftBins}`);
  }
}

/** The redshift head to train: as asked, else the default one when the training data has redshifts of galaxies or QSOs. */
function redshiftHead(args: TrainArgs, set: LabelledSet): RedshiftHeadSpec | undefined {
  if (args.redshiftBins === 0) return undefined;
  if (args.redshiftBins !== undefined) return { ...DEFAULT_REDSHIFT_HEAD, bins: args.redshiftBins };
  const star = CLASS_NAMES.indexOf('star');
  const known = set.redshift?.some((z, i) => Number.isFinite(z) && set.labels[i] !== star) ?? false;
  return known ? { ...DEFAULT_REDSHIFT_HEAD } : undefined;
}

export async function trainHandler(args: TrainArgs): Promise<TrainResult> {
  validate(args);
  let settings: PreprocessSettings = {
    normalisation: args.norm,
    bin: args.bin,
    smoothWindow: args.smooth,
    features: args.features ? [...FEATURE_NAMES] : [],
  };
  let width = args.width;
  let resumedHead: RedshiftHeadSpec | undefined;
  if (args.resume) {
    // A resumed run keeps the checkpoint's model and preprocessing; the data is given again.
    const spec = await loadModelSpec(join(args.resume, LAST_DIR));
    settings = { normalisation: spec.preprocess.normalisation, bin: spec.preprocess.bin, smoothWindow: spec.preprocess.smoothWindow, features: spec.preprocess.features };
    width = spec.architecture.width;
    resumedHead = spec.architecture.redshift;
  }
  const out = args.out ?? args.resume ?? 'runs/train';
  const { tf, name } = await resolveBackend(args.backend, { quiet: args.quiet });

  const set = await readSet(args.data, settings, 'training data', args.quiet);
  let trainRows: Int32Array;
  let validation: LabelledSet;
  if (args.valData) {
    trainRows = Int32Array.from({ length: set.rows }, (_, i) => i);
    validation = await readSet(args.valData, settings, 'validation data', args.quiet);
  } else {
    const split = stratifiedSplit(set.labels, args.valFraction, args.seed);
    trainRows = split.train;
    validation = subset(set, split.validation);
  }
  const result = await trainModel(
    tf,
    name,
    { set, trainRows, validation, source: args.data },
    settings,
    {
      width,
      epochs: args.epochs,
      batchSize: args.batchSize,
      lr: args.lr,
      schedule: args.schedule,
      balance: args.balance,
      seed: args.seed,
      patience: args.patience,
      noiseSnr: parseSnrRange(args.noiseSnr),
      augment: args.augment,
      out,
      resume: args.resume,
      logEvery: args.logEvery,
      quiet: args.quiet,
      redshift: args.resume ? resumedHead : redshiftHead(args, set),
    },
    augmentNoise,
  );
  result.model.dispose();
  process.stderr.write(
    `best epoch ${result.bestEpoch}: validation macro F1 ${result.bestValMacroF1.toFixed(4)}; model in ${out}` +
      `${result.stoppedEarly ? ' (stopped early)' : ''}, ${(result.seconds / 60).toFixed(1)} min\n`,
  );
  return result;
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'Train the 1D ResNet18 classifier (TensorFlow.js: CUDA, native CPU, WASM or JS, whichever loads)',
  builder: (y) =>
    y
      .option('data', { type: 'string', demandOption: true, describe: 'Labelled training spectra (Arrow/Feather, CSV or FITS)' })
      .option('val-data', { type: 'string', describe: 'Separate labelled validation spectra (default: a stratified split of --data)' })
      .option('val-fraction', { type: 'number', default: 0.1, describe: 'Fraction of --data held out for validation' })
      .option('width', { type: 'number', default: 16, describe: 'Channels of the first ResNet stage (64 = full ResNet18)' })
      .option('bin', { type: 'number', default: 4, describe: 'Integer binning factor of the flux before the network' })
      .option('smooth', { type: 'number', default: 0, describe: 'Savitzky–Golay window before binning (0 = none)' })
      .option('epochs', { type: 'number', default: 10, describe: 'Training epochs' })
      .option('batch-size', { type: 'number', default: 64 })
      .option('lr', { type: 'number', default: 2e-3, describe: 'Peak learning rate (Adam)' })
      .option('schedule', { choices: ['cosine', 'step', 'constant'] as const, default: 'cosine' as Schedule, describe: 'Learning-rate schedule over the epochs' })
      .option('norm', { choices: NORMALISATIONS, default: 'l2' as Normalisation, describe: 'Flux normalisation' })
      .option('features', { type: 'boolean', default: false, describe: `Feed the preprocessing features (${FEATURE_NAMES.join(', ')}) to the head, standardised` })
      .option('balance', { choices: ['oversample', 'weights', 'none'] as const, default: 'oversample' as Balance, describe: 'Class imbalance: oversampling of rare classes, loss weights, or nothing' })
      .option('augment', { type: 'number', default: 0.3, describe: 'Fraction of rows (of every class alike) that get extra Gaussian noise each epoch' })
      .option('noise-snr', { type: 'string', default: '5,50', describe: 'S/N range of that noise, per pixel of the network input ("lo,hi" or one number)' })
      .option('patience', { type: 'number', default: 4, describe: 'Stop after this many epochs without a better validation macro F1 (0 = never)' })
      .option('seed', { type: 'number', default: 1 })
      .option('out', { type: 'string', describe: 'Output folder: best model, last/ checkpoint, train-log.jsonl (default runs/train, or the --resume folder)' })
      .option('resume', { type: 'string', describe: 'Continue the run in this folder from its last/ checkpoint' })
      .option('backend', { type: 'string', default: 'auto', describe: `TensorFlow.js backend: ${BACKEND_CHOICES.join(', ')} (gpu and node are aliases)` })
      .option('log-every', { type: 'number', default: 50, describe: 'Write a step line to the log every N steps (0 = none)' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No progress bars or per-epoch lines' })
      .option('redshift-bins', {
        type: 'number',
        describe: `Bins of the redshift head in ln(1+z) up to z = ${DEFAULT_REDSHIFT_HEAD.zMax} (0 = no head; default ${DEFAULT_REDSHIFT_HEAD.bins} when the data has a redshift column)`,
      }) as never,
  handler: async (args) => {
    await trainHandler(args);
  },
};
