// classify one Arrow file with the compiled package (dist/), in a plain Node process as
// `astrospec classify` runs, for bench/infer.ts. argv[2]: JSON {data, output, model, batchSize,
// intraOpThreads, workers, graphOptimization}. Prints one JSON line: time, CPU time of the whole
// process, peak RSS, the steady rate between the first and last written batch, stages.
const options = JSON.parse(process.argv[2]);
const dist = (path) => import(new URL(`../dist/${path}`, import.meta.url).href);
const { classifyFile } = await dist('infer/classify.js');
// Modules are loaded before timing, as the raw side's process has them: the Arrow reader, the
// native addon (which the raw side preprocessed with) and onnxruntime-node (which it imports
// on its main thread; its workers then find the library loaded).
await dist('io/arrow.js');
(await dist('native/binding.js')).native();
await import('onnxruntime-node');
const cpuStart = process.cpuUsage();
let first;
let last = { t: 0, rows: 0 };
const onProgress = (rows) => {
  last = { t: performance.now(), rows };
  first ??= last;
};
const { data, ...rest } = options;
const result = await classifyFile(data, { ...rest, onProgress });
const cpu = process.cpuUsage(cpuStart);
const steadySpectraPerSecond = first && last.t > first.t ? (last.rows - first.rows) / ((last.t - first.t) / 1000) : null;
process.stdout.write(`${JSON.stringify({
  rows: result.rows,
  seconds: result.seconds,
  spectraPerSecond: result.spectraPerSecond,
  steadySpectraPerSecond,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  peakRssMb: process.resourceUsage().maxRSS / 1024,
  statusCounts: result.statusCounts,
  stages: result.stages,
})}\n`);
