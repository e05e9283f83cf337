/**
 * The memory of one inference batch, shared between the thread that fills it and the session
 * worker that runs it: one SharedArrayBuffer holding the inputs and every output of the model.
 * Batches move between threads as slot numbers, not buffers: a transferred ArrayBuffer is new
 * external memory in the isolate that receives it, and ~430 KB of it per batch of 128 made the
 * main thread's heap start a full collection every ~60 batches.
 *
 * Imported by the session worker too, so it imports nothing.
 */

export interface SlotShape {
  batchSize: number;
  inputLength: number;
  featureCount: number;
  /** The model's outputs, in session order, with their float32 values per row. */
  outputs: readonly { name: string; perRow: number }[];
}

export interface SlotViews {
  /** batchSize × inputLength. */
  flux: Float32Array;
  /** batchSize × featureCount (empty without side features). */
  features: Float32Array;
  /** Every output by name, batchSize × perRow. */
  outputs: Record<string, Float32Array>;
}

/** Regions start on cache lines: the two threads never write the same line. */
const ALIGN = 64;

function regions(shape: SlotShape): { offsets: number[]; bytes: number } {
  const lengths = [shape.batchSize * shape.inputLength, shape.batchSize * shape.featureCount, ...shape.outputs.map((o) => shape.batchSize * o.perRow)];
  const offsets: number[] = [];
  let bytes = 0;
  for (const length of lengths) {
    offsets.push(bytes);
    bytes += Math.ceil((4 * length) / ALIGN) * ALIGN;
  }
  return { offsets, bytes };
}

export function slotBytes(shape: SlotShape): number {
  return regions(shape).bytes;
}

/** The views of a slot's buffer; both threads compute the same ones from the same shape. */
export function slotViews(buffer: SharedArrayBuffer, shape: SlotShape): SlotViews {
  const { offsets, bytes } = regions(shape);
  if (buffer.byteLength < bytes) throw new RangeError(`a batch slot needs ${bytes} bytes, got ${buffer.byteLength}`);
  const { batchSize: B } = shape;
  const outputs: Record<string, Float32Array> = {};
  shape.outputs.forEach((o, k) => (outputs[o.name] = new Float32Array(buffer, offsets[k + 2], B * o.perRow)));
  return {
    flux: new Float32Array(buffer, offsets[0], B * shape.inputLength),
    features: new Float32Array(buffer, offsets[1], B * shape.featureCount),
    outputs,
  };
}
