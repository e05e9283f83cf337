/**
 * Runs one onnxruntime InferenceSession in a worker thread. onnxruntime-node's run() blocks
 * the thread that calls it (onnxruntime issues 19611, 26968), so the main thread keeps reading
 * and preprocessing while this thread infers. Batches live in slots shared with the pool
 * (src/infer/batch-slot.ts): a request names a slot, this thread copies its inputs into the
 * session's own input tensors (onnxruntime-node refuses views of a SharedArrayBuffer), runs
 * into preallocated output tensors and copies the outputs back into the slot.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { slotViews, type SlotShape, type SlotViews } from './batch-slot.js';
import type { SessionWorkerData, SessionRequest, SessionReply } from './session-pool.js';

const data = workerData as SessionWorkerData;
const port = parentPort!;

function reply(message: SessionReply): void {
  port.postMessage(message);
}

/** The session's inputs and outputs: tensors over buffers of this thread, reused by every run. */
interface Io {
  flux: Float32Array;
  features: Float32Array;
  feeds: Record<string, ort.Tensor>;
  fetches: Record<string, ort.Tensor>;
  outputs: SlotShape['outputs'];
}

/** Pixels per spectrum and side features the network takes. */
interface InputShape {
  inputLength: number;
  featureCount: number;
}

/**
 * The input shape: as given, or read from the model's inputs (flux [N, 1, L], features [N, F]
 * when it has them), so that a pool can start loading a model file before anyone has read it.
 */
function inputShape(session: ort.InferenceSession): InputShape | string {
  if (data.inputLength !== undefined && data.featureCount !== undefined) return { inputLength: data.inputLength, featureCount: data.featureCount };
  const dims = (name: string) => {
    const meta = session.inputMetadata.find((m) => m.name === name);
    return meta?.isTensor ? meta.shape : undefined;
  };
  const flux = dims('flux');
  const length = flux?.[2];
  if (!flux || flux.length !== 3 || typeof length !== 'number' || !(length >= 1)) return `its input "flux" is [${flux?.join(', ') ?? 'missing'}], not [batch, 1, pixels]`;
  const features = dims('features');
  const count = features?.[1];
  if (features && (features.length !== 2 || typeof count !== 'number' || !(count >= 0))) return `its input "features" is [${features.join(', ')}], not [batch, features]`;
  return { inputLength: length, featureCount: features ? (count as number) : 0 };
}

function inputs({ inputLength, featureCount }: InputShape): Pick<Io, 'flux' | 'features' | 'feeds'> {
  const { batchSize } = data;
  const flux = new Float32Array(batchSize * inputLength);
  const features = new Float32Array(batchSize * featureCount);
  const feeds: Record<string, ort.Tensor> = { flux: new ort.Tensor('float32', flux, [batchSize, 1, inputLength]) };
  if (featureCount > 0) feeds.features = new ort.Tensor('float32', features, [batchSize, featureCount]);
  return { flux, features, feeds };
}

/**
 * Runs one batch of made-up spectra through the new session: alternately all zeros (what rows
 * without valid pixels are sent as) and a smooth unit-L2 spectrum, side features at their mean.
 * A model with damaged weights (a few flipped bytes make a NaN or a 1e38) loads fine and then
 * gives NaN for every row; this finds out before any input is read. Its outputs give their
 * sizes per row, for the shared slots and the preallocated output tensors. Returns why the
 * model is refused, or its inputs and outputs.
 */
async function probe(session: ort.InferenceSession, shape: InputShape): Promise<string | Io> {
  const { batchSize } = data;
  const { inputLength } = shape;
  const io = inputs(shape);
  const smooth = Float32Array.from({ length: inputLength }, (_, i) => 1 + 0.5 * Math.sin(i / 37));
  let norm = 0;
  for (const v of smooth) norm += v * v;
  norm = Math.sqrt(norm);
  for (let r = 1; r < batchSize; r += 2) for (let i = 0; i < inputLength; i++) io.flux[r * inputLength + i] = smooth[i]! / norm;
  const output = await session.run(io.feeds);
  const probabilities = output.probabilities?.data as Float32Array | undefined;
  if (!probabilities || probabilities.length !== batchSize * 3) return `its output "probabilities" has ${probabilities?.length ?? 0} values for ${batchSize} spectra, expected ${batchSize * 3}`;
  const bad = probabilities.findIndex((p) => !Number.isFinite(p));
  if (bad >= 0) return `it gives ${probabilities[bad]} probabilities for a plain test spectrum: its weights are damaged (re-export or re-download it)`;
  const outputs: { name: string; perRow: number }[] = [];
  const fetches: Record<string, ort.Tensor> = {};
  for (const name of session.outputNames) {
    const tensor = output[name]!;
    if (tensor.type !== 'float32' || tensor.dims[0] !== batchSize || tensor.data.length % batchSize !== 0) {
      return `its output "${name}" is ${tensor.type} [${tensor.dims.join(', ')}]; every output must be float32 with one row per spectrum`;
    }
    outputs.push({ name, perRow: tensor.data.length / batchSize });
    fetches[name] = new ort.Tensor('float32', new Float32Array(tensor.data.length), tensor.dims);
  }
  io.flux.fill(0);
  return { ...io, fetches, outputs };
}

async function main(): Promise<void> {
  let session: ort.InferenceSession;
  let io: Io;
  let input: InputShape;
  try {
    // A model given as a path is read by onnxruntime here, beside the other workers.
    const { model, sessionOptions } = data;
    session = typeof model === 'string' ? await ort.InferenceSession.create(model, sessionOptions) : await ort.InferenceSession.create(model, sessionOptions);
    const shaped = inputShape(session);
    const probed = typeof shaped === 'string' ? shaped : await probe(session, shaped);
    if (typeof probed === 'string') {
      await session.release();
      reply({ type: 'failed', message: probed });
      return;
    }
    io = probed;
    input = shaped as InputShape;
  } catch (error) {
    reply({ type: 'failed', message: (error as Error).message });
    return;
  }
  reply({ type: 'ready', inputNames: [...session.inputNames], ...input, outputs: io.outputs });
  const shape: SlotShape = { batchSize: data.batchSize, ...input, outputs: io.outputs };
  const slots: SlotViews[] = [];
  // Requests are handled strictly one after another: results must come back in the order asked.
  let chain = Promise.resolve();
  let dropping = false;
  port.on('message', (request: SessionRequest) => {
    if (request.type === 'slot') {
      slots[request.index] = slotViews(request.buffer, shape);
      return;
    }
    if (request.type === 'close') {
      dropping ||= request.drop === true;
      chain = chain.then(() => session.release()).then(() => port.close());
      return;
    }
    chain = chain.then(async () => {
      if (dropping) return; // the pool is stopping and nobody waits for this result
      try {
        const slot = slots[request.slot]!;
        io.flux.set(slot.flux);
        io.features.set(slot.features);
        await session.run(io.feeds, io.fetches);
        for (const { name } of io.outputs) slot.outputs[name]!.set(io.fetches[name]!.data as Float32Array);
        reply({ type: 'result', seq: request.seq });
      } catch (error) {
        reply({ type: 'error', seq: request.seq, message: (error as Error).message });
      }
    });
  });
}

void main();
