// Runs classify calls one after another in one plain Node process (no tsx: the session workers
// start as they do for the CLI) for bench/shards.ts. argv[2]: JSON list of
// {input, output, model, shard?: [i, n], limit?}; prints one JSON line per call:
// {seconds, cpu_s, bytes_read, rows_decoded, rows, workers, intra_op_threads}.
const { classifyFile } = await import(new URL('../dist/infer/classify.js', import.meta.url).href);
const jobs = JSON.parse(process.argv[2]);
for (const job of jobs) {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const r = await classifyFile(job.input, {
    model: job.model,
    output: job.output,
    shard: job.shard ? { index: job.shard[0], count: job.shard[1] } : undefined,
    limit: job.limit,
  });
  const c = process.cpuUsage(c0);
  const line = { seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpu_s: (c.user + c.system) / 1e6, bytes_read: r.read.bytes, rows_decoded: r.read.rows, rows: r.rows, workers: r.settings.workers, intra_op_threads: r.settings.intraOpThreads };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
