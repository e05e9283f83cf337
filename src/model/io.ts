/**
 * Saving and loading a trained model directory without tfjs-node's file:// handler (which
 * needs libtensorflow): model.json (tfjs layers format, loadable by tf.loadLayersModel),
 * weights.bin, and astrospec.json (the ModelSpec). Files are written under temporary names
 * and renamed, so a directory never holds a half-written model.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import { AstrospecError } from '../errors.js';
import { writeFileAtomic } from '../io/partial-files.js';
import type { ModelSpec } from './spec.js';
import type { Tf } from './resnet1d.js';

export const MODEL_FILES = { topology: 'model.json', weights: 'weights.bin', spec: 'astrospec.json' } as const;

function concatWeightData(data: ArrayBuffer | ArrayBuffer[]): Uint8Array {
  if (!Array.isArray(data)) return new Uint8Array(data);
  const total = data.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const b of data) {
    out.set(new Uint8Array(b), at);
    at += b.byteLength;
  }
  return out;
}

export async function saveModel(tf: Tf, model: tfType.LayersModel, dir: string, spec: ModelSpec): Promise<void> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      if (!artifacts.weightData || !artifacts.weightSpecs) throw new AstrospecError('MODEL', 'tfjs produced a model without weights');
      const weights = concatWeightData(artifacts.weightData as ArrayBuffer | ArrayBuffer[]);
      await writeFileAtomic(join(dir, MODEL_FILES.weights), weights);
      const manifest = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: 'astrospec',
        weightsManifest: [{ paths: [MODEL_FILES.weights], weights: artifacts.weightSpecs }],
      };
      await writeFileAtomic(join(dir, MODEL_FILES.topology), JSON.stringify(manifest));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    }),
  );
  await writeFileAtomic(join(dir, MODEL_FILES.spec), `${JSON.stringify(spec, null, 2)}\n`);
}

export async function loadModelSpec(dir: string): Promise<ModelSpec> {
  const path = join(dir, MODEL_FILES.spec);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new AstrospecError('MODEL', `no model spec here (${(error as Error).message}); is this a directory written by astrospec train?`, { file: path });
  }
  const spec = JSON.parse(text) as ModelSpec;
  if (spec.format !== 'astrospec-model') throw new AstrospecError('MODEL', 'not an astrospec model spec', { file: path });
  return spec;
}

export async function loadModel(tf: Tf, dir: string): Promise<{ model: tfType.LayersModel; spec: ModelSpec }> {
  const spec = await loadModelSpec(dir);
  const topologyPath = join(dir, MODEL_FILES.topology);
  const manifest = JSON.parse(await readFile(topologyPath, 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tfType.io.WeightsManifestEntry[] }[];
  };
  const weightSpecs = manifest.weightsManifest.flatMap((g) => g.weights);
  const buffers = await Promise.all(manifest.weightsManifest.flatMap((g) => g.paths).map((p) => readFile(join(dir, p))));
  const joined = Buffer.concat(buffers);
  const weightData = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: manifest.modelTopology, weightSpecs, weightData }));
  return { model, spec };
}
