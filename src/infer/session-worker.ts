/**
 * Runs one onnxruntime InferenceSession in a worker thread. onnxruntime-node's run() blocks
 * the thread that calls it (onnxruntime issues 19611, 26968), so the main thread keeps reading
 * and preprocessing while this thread infers. Input buffers arrive transferred (no copy) and
 * go back with the result, so the main thread reuses a fixed set of them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { SessionWorkerData, SessionRequest, SessionReply } from './session-pool.js';

const data = workerData as SessionWorkerData;
const port = parentPort!;

function reply(message: SessionReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

/**
 * Runs one batch of made-up spectra through the new session: alternately all zeros (what rows
 * without valid pixels are sent as) and a smooth unit-L2 spectrum, side features at their mean.
 * A model with damaged weights (a few flipped bytes make a NaN or a 1e38) loads fine and then
 * gives NaN for every row; this finds out before any input is read. Returns why it is refused.
 */
async function probe(session: ort.InferenceSession): Promise<string | undefined> {
  const { batchSize, inputLength, featureCount } = data;
  const flux = new Float32Array(batchSize * inputLength);
  const smooth = Float32Array.from({ length: inputLength }, (_, i) => 1 + 0.5 * Math.sin(i / 37));
  let norm = 0;
  for (const v of smooth) norm += v * v;
  norm = Math.sqrt(norm);
  for (let r = 1; r < batchSize; r += 2) for (let i = 0; i < inputLength; i++) flux[r * inputLength + i] = smooth[i]! / norm;
  const feeds: Record<string, ort.Tensor> = { flux: new ort.Tensor('float32', flux, [batchSize, 1, inputLength]) };
  if (featureCount > 0) feeds.features = new ort.Tensor('float32', new Float32Array(batchSize * featureCount), [batchSize, featureCount]);
  const output = await session.run(feeds);
  const probabilities = output.probabilities?.data as Float32Array | undefined;
  if (!probabilities || probabilities.length !== batchSize * 3) return `its output "probabilities" has ${probabilities?.length ?? 0} values for ${batchSize} spectra, expected ${batchSize * 3}`;
  const bad = probabilities.findIndex((p) => !Number.isFinite(p));
  if (bad >= 0) return `it gives ${probabilities[bad]} probabilities for a plain test spectrum: its weights are damaged (re-export or re-download it)`;
  return undefined;
}

async function main(): Promise<void> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(data.model, data.sessionOptions);
    const refused = await probe(session);
    if (refused) {
      await session.release();
      reply({ type: 'failed', message: refused });
      return;
    }
  } catch (error) {
    reply({ type: 'failed', message: (error as Error).message });
    return;
  }
  reply({ type: 'ready', inputNames: [...session.inputNames], outputNames: [...session.outputNames] });
  const { batchSize, inputLength, featureCount } = data;
  // Requests are handled strictly one after another: results must come back in the order asked.
  let chain = Promise.resolve();
  let dropping = false;
  port.on('message', (request: SessionRequest) => {
    if (request.type === 'close') {
      dropping ||= request.drop === true;
      chain = chain.then(() => session.release()).then(() => port.close());
      return;
    }
    chain = chain.then(async () => {
      if (dropping) return; // the pool is stopping and nobody waits for this result
      const transfer: ArrayBuffer[] = [request.flux.buffer as ArrayBuffer];
      if (request.features) transfer.push(request.features.buffer as ArrayBuffer);
      try {
        const feeds: Record<string, ort.Tensor> = { flux: new ort.Tensor('float32', request.flux, [batchSize, 1, inputLength]) };
        if (featureCount > 0) feeds.features = new ort.Tensor('float32', request.features!, [batchSize, featureCount]);
        const output = await session.run(feeds);
        const probabilities = (output.probabilities!.data as Float32Array).slice();
        transfer.push(probabilities.buffer);
        // Every other output (ood_score, or the penultimate features while fitting the OOD statistics).
        const extras: Record<string, Float32Array> = {};
        for (const name of session.outputNames) {
          if (name === 'probabilities') continue;
          const values = (output[name]!.data as Float32Array).slice();
          extras[name] = values;
          transfer.push(values.buffer);
        }
        reply({ type: 'result', seq: request.seq, flux: request.flux, features: request.features, probabilities, extras }, transfer);
      } catch (error) {
        reply({ type: 'error', seq: request.seq, message: (error as Error).message, flux: request.flux, features: request.features }, transfer);
      }
    });
  });
}

void main();
