/**
 * Writes a model folder with random weights (the competition grid, width 8, no side features):
 * enough to exercise classify, export and the Slurm plumbing without training anything.
 *   node --import tsx scripts/slurm/random-model.ts <dir>
 */
import * as tf from '@tensorflow/tfjs';
import { COMPETITION_GRID, CLASS_NAMES } from '../../src/io/batch.js';
import { buildResNet1d } from '../../src/model/resnet1d.js';
import { saveModel } from '../../src/model/io.js';
import { binnedLength, type ModelSpec } from '../../src/model/spec.js';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: random-model.ts <dir>\n');
  process.exit(2);
}
await tf.setBackend('cpu');
const bin = 2;
const architecture = { width: 8, inputLength: binnedLength(COMPETITION_GRID.length, bin), featureCount: 0, classCount: CLASS_NAMES.length };
const spec: ModelSpec = {
  format: 'astrospec-model',
  version: 1,
  classNames: [...CLASS_NAMES],
  grid: { ...COMPETITION_GRID },
  architecture,
  preprocess: { normalisation: 'l2', bin, smoothWindow: 0, features: [] },
  training: { note: 'random weights, untrained' },
};
await saveModel(tf, buildResNet1d(tf, architecture, 5), dir, spec);
process.stdout.write(`${dir}\n`);
