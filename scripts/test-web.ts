/**
 * Real-browser check of the classification page (run by scripts/test-web.sh, which builds it and
 * finds or installs Chromium). Serves web/dist on localhost, drives headless Chromium over the
 * DevTools protocol (--remote-debugging-pipe: no extra packages), puts real files into the page's
 * file input, waits for the page to finish and reads the rendered table from the DOM. Passes when,
 * for every file, the page's rows equal `astrospec classify`'s (same ids, class and status,
 * probabilities within 1e-4), bad inputs (corrupt CSV, unsupported file, FITS of a wrong layout,
 * damaged gzip, a file over 2 GB) each show one message — the CLI's own where the CLI reads the
 * file — and the page's thread is never blocked for long. Prints one JSON line per case.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { AttributeType, DataType, decodeModel, encodeModel } from '../src/export/onnx-proto.js';
import { CLASS_NAMES } from '../src/io/batch.js';
import { readPredictionsCsv } from '../src/infer/predictions-csv.js';
import { serveStatic } from './serve-web.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
const shared = resolve(root, '../shared/data');
const browser = process.env.BROWSER ?? 'chromium';
const dist = resolve(process.env.WEB_DIST ?? join(root, 'web/dist'));
const work = process.env.OUT ?? mkdtempSync(join(tmpdir(), 'astrospec-web-'));
const TOLERANCE = 1e-4;
/** z is written with 5 decimals by the CLI; float rounding of the pure-TS preprocessing moves a broad z distribution's mean by ~1e-4 at most. */
const Z_TOLERANCE = 1e-3;
/** The page's thread may never be blocked longer than this while classifying. */
const MAX_STALL_MS = 500;

let failures = 0;
function fail(message: string): void {
  failures++;
  process.stderr.write(`test:web: FAIL ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// Chrome DevTools Protocol over a pipe: JSON messages ending in NUL, fd 3 to the browser, fd 4 back.

class DevTools {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string }>();
  private buffer = '';

  constructor(private readonly proc: ChildProcess) {
    const input = proc.stdio[4] as Readable;
    input.setEncoding('utf8');
    input.on('data', (text: string) => {
      this.buffer += text;
      for (let end = this.buffer.indexOf('\0'); end >= 0; end = this.buffer.indexOf('\0')) {
        const message = JSON.parse(this.buffer.slice(0, end)) as { id?: number; result?: unknown; error?: { message: string } };
        this.buffer = this.buffer.slice(end + 1);
        const waiter = message.id !== undefined ? this.pending.get(message.id) : undefined;
        if (!waiter) continue;
        this.pending.delete(message.id!);
        if (message.error) waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
        else waiter.resolve(message.result);
      }
    });
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = this.next++;
    (this.proc.stdio[3] as Writable).write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    return new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method }));
  }
}

class Page {
  constructor(
    private readonly cdp: DevTools,
    private readonly session: string,
  ) {}

  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.cdp.send<{ result: { value: T }; exceptionDetails?: { text: string; exception?: { description?: string } } }>(
      'Runtime.evaluate',
      { expression, returnByValue: true, awaitPromise: true },
      this.session,
    );
    if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value;
  }

  async waitFor<T>(expression: string, timeoutMs: number, what: string): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      let value: T | undefined;
      try {
        value = await this.evaluate<T>(expression);
      } catch (error) {
        // A cross-origin-isolated page swaps renderer process while loading: no context for a moment.
        if (!/execution context/.test((error as Error).message)) throw error;
      }
      if (value) return value;
      if (Date.now() > until) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async goto(url: string): Promise<void> {
    await this.cdp.send('Page.navigate', { url }, this.session);
    await this.waitFor("document.readyState === 'complete' && document.body.dataset.state === 'idle'", 30_000, `${url} to load`);
  }

  /** Sets the page's file input to `paths`, as a person picking files does. */
  async pickFiles(paths: string[]): Promise<void> {
    const { root: doc } = await this.cdp.send<{ root: { nodeId: number } }>('DOM.getDocument', { depth: 0 }, this.session);
    const { nodeId } = await this.cdp.send<{ nodeId: number }>('DOM.querySelector', { nodeId: doc.nodeId, selector: '#file-input' }, this.session);
    await this.cdp.send('DOM.setFileInputFiles', { nodeId, files: paths }, this.session);
  }
}

// ---------------------------------------------------------------------------------------------
// Inputs and the CLI's answers

interface PageResult {
  state: string;
  error: string;
  status: string;
  seconds: number;
  maxStallMs: number;
  rows: Record<string, string>[];
}

/** Everything the page shows, the table read page by page through its own pager buttons. */
const READ_PAGE = `(() => {
  const prev = document.getElementById('prev');
  const next = document.getElementById('next');
  while (!prev.disabled) prev.click();
  const rows = [];
  for (;;) {
    for (const tr of document.querySelectorAll('#results tbody tr')) {
      rows.push(Object.fromEntries([...tr.children].map((td) => [td.dataset.col, td.dataset.value ?? td.textContent])));
    }
    if (next.disabled) break;
    next.click();
  }
  while (!prev.disabled) prev.click();
  return {
    state: document.body.dataset.state,
    error: document.getElementById('error').hidden ? '' : document.getElementById('error').textContent,
    status: document.getElementById('status').textContent,
    seconds: Number(document.body.dataset.seconds ?? NaN),
    maxStallMs: Number(document.body.dataset.maxStallMs ?? NaN),
    rows,
  };
})()`;

async function cli(args: string[], cwd = root): Promise<{ ok: boolean; stderr: string; seconds: number }> {
  const started = process.hrtime.bigint();
  try {
    await run(process.execPath, [join(root, 'bin/astrospec.js'), ...args], { cwd, maxBuffer: 64 << 20 });
    return { ok: true, stderr: '', seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
    return { ok: false, stderr: stderr.replace(/^astrospec: /, ''), seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  }
}

function firstFile(dir: string, pattern: RegExp): string {
  const name = readdirSync(dir).filter((n) => pattern.test(n)).sort()[0];
  if (!name) throw new Error(`no ${pattern} file in ${dir}`);
  return join(dir, name);
}

/** A FITS file whose primary HDU is a 1-D image and that has no table: no spectrum in it. */
function writeWrongLayoutFits(path: string): void {
  const card = (text: string) => text.padEnd(80);
  const header = [card('SIMPLE  =                    T'), card('BITPIX  =                  -32'), card('NAXIS   =                    1'), card('NAXIS1  =                   10'), card('END')].join('');
  writeFileSync(path, Buffer.concat([Buffer.from(header.padEnd(2880)), Buffer.alloc(2880)]));
}

const dr10 = firstFile(join(shared, 'lamost/dr10'), /\.fits(\.gz)?$/);
const sdss = firstFile(join(shared, 'boss/spectra'), /\.fits(\.gz)?$/);
const csv = join(shared, 'peer-files/lamost-stars-200.csv');
const feather = join(shared, 'peer-files/lamost-stars-200.lz4.feather');

const corruptCsv = join(work, 'corrupt.csv');
{
  const lines = readFileSync(csv, 'utf8').split('\n').slice(0, 4);
  const cells = lines[3]!.split(',');
  cells[11] = 'abc'; // FE10 of data row 3
  lines[3] = cells.join(',');
  writeFileSync(corruptCsv, `${lines.join('\n')}\n`);
}
const unsupported = join(work, 'spectra.txt');
writeFileSync(unsupported, 'id,FE0\n1,2\n');
const wrongLayout = join(work, 'wrong-layout.fits');
writeWrongLayoutFits(wrongLayout);
const truncatedGz = join(work, 'truncated.fits.gz');
{
  const bytes = readFileSync(dr10);
  writeFileSync(truncatedGz, bytes.subarray(0, bytes.length >> 1));
}
// A larger gzipped CSV of synthetic spectra (all three classes): the streaming path, and the time per spectrum.
const synthetic = join(work, 'synthetic.csv.gz');
const syntheticRows = Number(process.env.SYNTH_ROWS ?? 2000);
const synth = await cli(['synth', '-n', String(syntheticRows), '--seed', '7', '-o', synthetic, '--quiet']);
if (!synth.ok) throw new Error(`astrospec synth failed: ${synth.stderr}`);
/**
 * The shipped model with two more outputs that the page knows nothing of: `p_max` [N] =
 * max(probabilities) and `ood` [N, 3] = sqrt(probabilities). The page must show them as columns
 * p_max, ood[0], ood[1], ood[2] without knowing their names.
 */
function writeExtraOutputsModel(path: string): void {
  const model = decodeModel(readFileSync(join(root, 'models/default.onnx')));
  const tensor = (name: string, dims: (number | string)[]) => ({
    name,
    type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
  });
  model.graph.node.push(
    { name: 'extra_p_max', op_type: 'ReduceMax', input: ['probabilities'], output: ['p_max'], attribute: [{ name: 'axes', type: AttributeType.INTS, ints: [1] }, { name: 'keepdims', type: AttributeType.INT, i: 0 }] },
    { name: 'extra_ood', op_type: 'Sqrt', input: ['probabilities'], output: ['ood'], attribute: [] },
  );
  model.graph.output.push(tensor('p_max', ['N']), tensor('ood', ['N', 3]));
  writeFileSync(path, encodeModel(model));
}
writeExtraOutputsModel(join(dist, 'models/extra-outputs.onnx'));

const huge = join(work, 'huge.csv');
writeFileSync(huge, '');
truncateSync(huge, 2.2e9); // sparse: no disk used

// ---------------------------------------------------------------------------------------------

// ISOLATE=1 serves the page cross-origin isolated (COOP/COEP), so onnxruntime-web may use threads.
const server = await serveStatic(dist, { isolate: process.env.ISOLATE === '1' });
const profile = join(work, 'profile');
const chrome = spawn(
  browser,
  [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--remote-debugging-pipe',
    `--user-data-dir=${profile}`,
    'about:blank',
  ],
  { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
);
let chromeLog = '';
(chrome.stderr as Readable).on('data', (d: Buffer) => (chromeLog = (chromeLog + d.toString()).slice(-4000)));
const cdp = new DevTools(chrome);
const results: Record<string, unknown>[] = [];

try {
  const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: `${server.url}?rows=1000` });
  const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
  const page = new Page(cdp, sessionId);
  await page.waitFor("document.readyState === 'complete' && document.body.dataset.state === 'idle'", 30_000, 'the page to load');

  /** Runs one input through the page: picked files, or a bundled example. */
  async function runPage(input: { files: string[] } | { example: string }): Promise<PageResult> {
    await page.evaluate("document.body.dataset.state = 'submitted'");
    if ('files' in input) await page.pickFiles(input.files);
    else await page.evaluate(`(() => { const s = document.getElementById('example'); s.value = ${JSON.stringify(input.example)}; document.getElementById('run-example').click(); })()`);
    await page.waitFor("['done', 'error'].includes(document.body.dataset.state)", 180_000, 'the page to finish');
    return page.evaluate<PageResult>(READ_PAGE);
  }

  async function checkGood(name: string, input: { files: string[] } | { example: string }, file: string): Promise<void> {
    const predictions = join(work, `${basename(file)}.predictions.csv`);
    const reference = await cli(['classify', file, '--model', join(root, 'models/default.onnx'), '-o', predictions]);
    if (!reference.ok) return fail(`${name}: astrospec classify failed: ${reference.stderr}`);
    const expected = await readPredictionsCsv(predictions);
    const got = await runPage(input);
    if (got.state !== 'done') return fail(`${name}: the page says ${got.error || got.status}`);
    if (got.rows.length !== expected.ids.length) return fail(`${name}: the page shows ${got.rows.length} rows, the CLI wrote ${expected.ids.length}`);
    let worst = 0;
    let worstZ = 0;
    for (let i = 0; i < got.rows.length; i++) {
      const row = got.rows[i]!;
      const where = `${name}, row ${i}`;
      if (row.row !== String(expected.rows[i])) fail(`${where}: row index ${row.row} vs ${expected.rows[i]}`);
      if (row.id !== expected.ids[i]) fail(`${where}: id ${row.id} vs ${expected.ids[i]}`);
      if (row.status !== expected.status[i]) fail(`${where}: status ${row.status} vs ${expected.status[i]}`);
      if (expected.status[i] !== 'ok') continue;
      if (row.predicted !== CLASS_NAMES[expected.predicted[i]!]) fail(`${where}: predicted ${row.predicted} vs ${CLASS_NAMES[expected.predicted[i]!]}`);
      for (const [k, column] of (['p_star', 'p_galaxy', 'p_qso'] as const).entries()) {
        const diff = Math.abs(Number(row[column]) - expected.probabilities[3 * i + k]!);
        worst = Math.max(worst, Number.isNaN(diff) ? Infinity : diff);
      }
      // The redshift, when the model has one: the same z (the CLI writes 5 decimals), none for stars.
      if (expected.z) {
        const cliZ = expected.z[i]!;
        const pageZ = row.z === undefined || row.z === '' ? Number.NaN : Number(row.z);
        if (Number.isNaN(cliZ) !== Number.isNaN(pageZ)) fail(`${where}: z ${row.z} on the page, ${cliZ} from the CLI`);
        else if (!Number.isNaN(cliZ)) worstZ = Math.max(worstZ, Math.abs(pageZ - cliZ));
      }
    }
    if (!(worst <= TOLERANCE)) fail(`${name}: max |p_page − p_cli| = ${worst} > ${TOLERANCE}`);
    if (!(worstZ <= Z_TOLERANCE)) fail(`${name}: max |z_page − z_cli| = ${worstZ} > ${Z_TOLERANCE}`);
    if (!(got.maxStallMs <= MAX_STALL_MS)) fail(`${name}: the page's thread was blocked for ${got.maxStallMs} ms`);
    // The first row's spectrum is plotted once the run is done.
    const plotted = await page.waitFor<number>("document.getElementById('plot-caption').textContent.startsWith('Row 0') && (document.querySelector('#plot path.flux')?.getAttribute('d') ?? '').length", 30_000, 'the plot');
    const counts: Record<string, number> = {};
    for (const row of got.rows) counts[row.predicted || row.status!] = (counts[row.predicted || row.status!] ?? 0) + 1;
    const threads = /WASM, (\d+) thread/.exec(await page.evaluate<string>("document.getElementById('model-info').textContent"))?.[1];
    results.push({ case: name, rows: got.rows.length, classes: counts, threads: Number(threads), maxAbsDiff: Number(worst.toExponential(2)), ...(expected.z ? { maxAbsDiffZ: Number(worstZ.toExponential(2)) } : {}), pageSeconds: got.seconds, cliSeconds: Number(reference.seconds.toFixed(3)), maxStallMs: got.maxStallMs, plotPathChars: plotted });
  }

  async function checkBad(name: string, file: string, expected: { cli?: boolean; message?: RegExp }): Promise<void> {
    const started = Date.now();
    const got = await runPage({ files: [file] });
    const seconds = (Date.now() - started) / 1000;
    if (got.state !== 'error' || got.error === '') return fail(`${name}: expected an error message, the page says: ${got.status}`);
    if (got.error.split('\n').length !== 1) fail(`${name}: the message has several lines: ${got.error}`);
    if (!got.error.startsWith(`${basename(file)}`)) fail(`${name}: the message doesn't start with the file's name: ${got.error}`);
    if (expected.message && !expected.message.test(got.error)) fail(`${name}: message ${JSON.stringify(got.error)} doesn't match ${expected.message}`);
    let cliMessage: string | undefined;
    if (expected.cli) {
      // The CLI run from the file's folder names it the same way the page does.
      const reference = await cli(['classify', basename(file), '--model', join(root, 'models/default.onnx'), '-o', join(work, 'bad.csv')], work);
      cliMessage = reference.stderr;
      if (reference.ok) fail(`${name}: the CLI accepted the file`);
      else if (cliMessage !== got.error) fail(`${name}: page says ${JSON.stringify(got.error)}, CLI says ${JSON.stringify(cliMessage)}`);
    }
    results.push({ case: name, message: got.error, ...(cliMessage !== undefined ? { sameAsCli: cliMessage === got.error } : {}), seconds: Number(seconds.toFixed(2)) });
  }

  await checkGood('lamost-dr10-fits', { files: [dr10] }, dr10);
  await checkGood('sdss-fits', { files: [sdss] }, sdss);
  await checkGood('csv-200', { files: [csv] }, csv);
  if (process.env.SCREENSHOT) {
    // For a person to look at (SCREENSHOT=page.png); the checks above read the DOM, not pixels.
    await cdp.send('Emulation.setDeviceMetricsOverride', { width: 1200, height: 1400, deviceScaleFactor: 1, mobile: false }, sessionId);
    const { data } = await cdp.send<{ data: string }>('Page.captureScreenshot', { format: 'png' }, sessionId);
    writeFileSync(process.env.SCREENSHOT, Buffer.from(data, 'base64'));
  }
  await checkGood('feather-lz4-200', { files: [feather] }, feather);
  await checkGood(`synthetic-csv-gz-${syntheticRows}`, { files: [synthetic] }, synthetic);
  await checkGood('example-sdss', { example: basename(sdss) }, sdss);
  await checkBad('corrupt-csv', corruptCsv, { cli: true, message: /row 3, column FE10: "abc" is not a number/ });
  await checkBad('unsupported', unsupported, { message: /^spectra\.txt: unknown spectra format/ });
  await checkBad('wrong-layout-fits', wrongLayout, { cli: true, message: /row 1: no spectrum found/ });
  await checkBad('truncated-fits-gz', truncatedGz, { message: /^truncated\.fits\.gz, row 1: bad gzip stream/ });
  await checkBad('over-2-GB', huge, { message: /^huge\.csv: 2\.2 GB is larger than the page reads/ });
  // After all that, the page still classifies.
  await checkGood('lamost-dr10-fits-again', { files: [dr10] }, dr10);

  // A model with more outputs than probabilities: they appear as columns.
  await page.goto(`${server.url}?rows=1000&model=models/extra-outputs.onnx`);
  await checkGood('extra-outputs-model', { files: [csv] }, csv);
  const extra = await runPage({ files: [csv] });
  const columns = Object.keys(extra.rows[0] ?? {});
  for (const name of ['p_max', 'ood[0]', 'ood[1]', 'ood[2]']) if (!columns.includes(name)) fail(`extra-outputs-model: no ${name} column (columns: ${columns.join(', ')})`);
  let worstExtra = 0;
  for (const row of extra.rows) {
    const p = [row.p_star, row.p_galaxy, row.p_qso].map(Number);
    worstExtra = Math.max(worstExtra, Math.abs(Number(row.p_max) - Math.max(...p)));
    p.forEach((v, k) => (worstExtra = Math.max(worstExtra, Math.abs(Number(row[`ood[${k}]`]) - Math.sqrt(v)))));
  }
  if (!(worstExtra < 1e-6)) fail(`extra-outputs-model: extra columns off by ${worstExtra}`);
  results.push({ case: 'extra-outputs-columns', columns, maxAbsDiff: worstExtra });
} catch (error) {
  fail(`${(error as Error).message}\n${chromeLog}`);
} finally {
  const exited = new Promise((done) => chrome.once('exit', done));
  chrome.kill();
  await Promise.race([exited, new Promise((done) => setTimeout(done, 5000))]);
  await server.close();
}

for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
const cases = results.length;
process.stdout.write(`test:web: ${failures === 0 ? `${cases} passed, 0 failed` : `${failures} failure(s) in ${cases} cases`}\n`);
process.exit(failures === 0 ? 0 : 1);
