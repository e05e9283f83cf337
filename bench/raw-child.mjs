// onnxruntime alone, for bench/infer.ts: the SessionPool classify uses (compiled package, dist/),
// fed preprocessed batches, in a fresh plain Node process as the classify child runs. argv[2]:
// JSON {batches, batchCount, model, batchSize, intraOpThreads, workers, graphOptimization, runs,
// spectra, inputLength, featureCount}; `batches` is a file of batchCount × (flux, features) float32
// blocks. Rates count `spectra`, the spectra both sides classify: the last of the `runs` batches is
// padded, as classify pads it, and its padding rows are no spectra (they were once counted).
// Prints one JSON line: from before SessionPool.start to the last result (rate, CPU time of
// the whole process), then the same sessions again, warm.
import { readFileSync } from 'node:fs';
const options = JSON.parse(process.argv[2]);
const dist = (path) => import(new URL(`../dist/${path}`, import.meta.url).href);
const { SessionPool } = await dist('infer/session-pool.js');
// Loaded before timing, as in the classify child.
(await dist('native/binding.js')).native();
await import('onnxruntime-node');
const { batchSize, inputLength: L, featureCount: F, runs, workers } = options;
const model = readFileSync(options.model);
const file = readFileSync(options.batches);
const perBatch = batchSize * (L + F);
const batches = Array.from({ length: options.batchCount }, (_, b) => {
  const all = new Float32Array(file.buffer, file.byteOffset + b * perBatch * 4, perBatch);
  return { flux: all.subarray(0, batchSize * L), features: all.subarray(batchSize * L) };
});

const settings = { batchSize, intraOpThreads: options.intraOpThreads, workers, graphOptimization: options.graphOptimization };
const startedAt = performance.now();
const startCpu = process.cpuUsage();
const pool = await SessionPool.start(model, { inputLength: L, featureCount: F }, settings, options.model);
let next = 0;
// Every run gets the next batch's values, copied into a slot as classify preprocesses into one.
const job = () => {
  const b = batches[next++ % batches.length];
  const slot = pool.slot();
  slot.flux.set(b.flux);
  if (F > 0) slot.features.set(b.features);
  return pool.run(slot);
};
// Two jobs queued per worker, as classify keeps them busy.
const runAll = async () => {
  const queue = Array.from({ length: Math.min(runs, 2 * workers) }, job);
  let sent = queue.length;
  while (queue.length > 0) {
    pool.release(await queue.shift());
    if (sent < runs) {
      queue.push(job());
      sent++;
    }
  }
};
await runAll();
const withStartSeconds = (performance.now() - startedAt) / 1000;
const withStartCpu = process.cpuUsage(startCpu);
const start = performance.now();
const cpuStart = process.cpuUsage();
await runAll();
const seconds = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpuStart);
await pool.close();
const rows = options.spectra;
process.stdout.write(`${JSON.stringify({
  rate: rows / seconds,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  withStartRate: rows / withStartSeconds,
  withStartCpuSeconds: (withStartCpu.user + withStartCpu.system) / 1e6,
})}\n`);
