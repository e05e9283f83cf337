/**
 * The page: takes dropped or picked files (or a bundled example), hands them to the
 * classification worker (worker.ts) and shows what comes back: one row per spectrum with its
 * predicted class, probabilities, status and any further model outputs, a page of rows at a time,
 * and a plot of the selected spectrum. This thread only renders; a new input while one is running
 * stops the running worker and starts a fresh one, so the page answers whatever the input does.
 *
 * For tests and scripts the DOM says where things stand: body[data-state] is idle, running, done
 * or error; #results rows carry data-row, and numeric cells data-value (the full float32).
 * URL parameters: ?rows=N rows per table page (default 100), ?model=URL another exported model.
 */
import { CLASS_NAMES } from '../../src/io/batch.js';
import { AstrospecError } from '../../src/errors.js';
import { checkInputs } from './inputs.js';
import type { NamedFile, WorkerReply, WorkerRequest } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const pageSize = Math.max(10, Math.min(5000, Math.floor(Number(params.get('rows') ?? 100)) || 100));
const modelUrl = new URL(params.get('model') ?? 'models/default.onnx', location.href).href;
const BASE_COLUMNS = ['row', 'id', 'predicted', 'p_star', 'p_galaxy', 'p_qso', 'status'] as const;
/** Rows with a class and probabilities: 'ok', and 'ood' (classified, but ood_score is above the model's threshold). */
const hasPrediction = (status: string | undefined) => status === 'ok' || status === 'ood';

/** Everything received for the current input, in growable typed arrays. */
class Results {
  rows = 0;
  ids: string[] = [];
  status: string[] = [];
  probabilities = new Float32Array(3 * 1024);
  labels?: Int8Array;
  extras = new Map<string, Float32Array>();
  /** Rows per predicted class (or per status, for rows without a prediction). */
  counts = new Map<string, number>();

  private grow<T extends Float32Array | Int8Array>(array: T, need: number, make: (n: number) => T): T {
    if (array.length >= need) return array;
    const bigger = make(Math.max(need, array.length * 2));
    bigger.set(array);
    return bigger;
  }

  add(message: Extract<WorkerReply, { type: 'rows' }>): void {
    const n = message.ids.length;
    const at = message.firstRow;
    this.probabilities = this.grow(this.probabilities, 3 * (at + n), (k) => new Float32Array(k));
    this.probabilities.set(message.probabilities, 3 * at);
    for (let i = 0; i < n; i++) {
      this.ids[at + i] = message.ids[i]!;
      this.status[at + i] = message.status[i]!;
    }
    if (message.labels) {
      this.labels = this.grow(this.labels ?? new Int8Array(1024), at + n, (k) => new Int8Array(k));
      this.labels.set(message.labels, at);
    }
    for (const [name, values] of Object.entries(message.extras)) {
      const column = this.grow(this.extras.get(name) ?? new Float32Array(1024), at + n, (k) => new Float32Array(k));
      column.set(values, at);
      this.extras.set(name, column);
    }
    this.rows = Math.max(this.rows, at + n);
    for (let i = at; i < at + n; i++) {
      const key = this.status[i] === 'ok' ? this.predicted(i) : this.status[i]!; // ood rows are counted as ood
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    }
  }

  predicted(row: number): string {
    if (!hasPrediction(this.status[row])) return '';
    const p = this.probabilities;
    const a = p[3 * row]!, b = p[3 * row + 1]!, c = p[3 * row + 2]!;
    return CLASS_NAMES[a >= b ? (a >= c ? 0 : 2) : b >= c ? 1 : 2]!;
  }

  /** The predictions in astrospec classify's CSV layout (row,id,predicted,p_star,p_galaxy,p_qso,status[,ood_score][,z,z_err]). */
  csv(): Blob {
    const cell = (text: string) => (/[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
    const ood = this.extras.get('ood_score');
    const z = this.extras.get('z');
    const zErr = this.extras.get('z_err');
    const redshift = z !== undefined && zErr !== undefined;
    const parts: string[] = [`${BASE_COLUMNS.join(',')}${ood ? ',ood_score' : ''}${redshift ? ',z,z_err' : ''}\n`];
    let text = '';
    for (let i = 0; i < this.rows; i++) {
      const p = this.probabilities;
      const predicted = hasPrediction(this.status[i]);
      text += predicted
        ? `${i},${cell(this.ids[i]!)},${this.predicted(i)},${p[3 * i]!.toFixed(6)},${p[3 * i + 1]!.toFixed(6)},${p[3 * i + 2]!.toFixed(6)},${this.status[i]}`
        : `${i},${cell(this.ids[i]!)},,,,,${cell(this.status[i]!)}`;
      if (ood) text += predicted ? `,${Number.isFinite(ood[i]!) ? ood[i]!.toFixed(4) : 'inf'}` : ',';
      if (redshift) text += predicted && Number.isFinite(z[i]!) ? `,${z[i]!.toFixed(5)},${Number.isFinite(zErr[i]!) ? zErr[i]!.toFixed(5) : ''}` : ',,';
      text += '\n';
      if (text.length > 1 << 20) {
        parts.push(text);
        text = '';
      }
    }
    parts.push(text);
    return new Blob(parts, { type: 'text/csv' });
  }
}

let results = new Results();
let worker: Worker | undefined;
let running = false;
let page = 0;
let selected = -1;
let inputName = '';
let renderQueued = false;
let startedAt = 0;
/** When the worker started reading (after the model loaded). */
let classifyStartedAt = 0;
/** Longest time (ms) the page's thread was blocked during the current run. */
let maxStall = 0;

function setState(state: 'idle' | 'running' | 'done' | 'error'): void {
  document.body.dataset.state = state;
}

function showError(message: string): void {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
  setState('error');
  $('status').textContent = '';
}

function newWorker(): Worker {
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  w.onmessage = (event: MessageEvent<WorkerReply>) => onReply(event.data);
  // The worker itself died (out of memory, a bug in a library): say so rather than wait for ever.
  w.onerror = (event) => {
    event.preventDefault();
    running = false;
    worker = undefined;
    w.terminate();
    showError(`${inputName}: the classifier stopped: ${event.message || 'the worker crashed (out of memory?)'}`);
  };
  return w;
}

function send(request: WorkerRequest): void {
  worker!.postMessage(request);
}

/** Starts classifying `files`; a run in progress is stopped first. */
function classify(files: NamedFile[]): void {
  $('error').hidden = true;
  inputName = files.map((f) => f.name).join(', ');
  try {
    checkInputs(files.map((f) => ({ name: f.name, blob: f.blob })));
  } catch (error) {
    showError(error instanceof AstrospecError ? error.message : String(error));
    return;
  }
  if (running && worker) {
    worker.terminate();
    worker = undefined;
  }
  worker ??= newWorker();
  results = new Results();
  page = 0;
  selected = -1;
  running = true;
  startedAt = performance.now();
  classifyStartedAt = 0;
  maxStall = 0;
  setState('running');
  $('output').hidden = false;
  $('plot').replaceChildren();
  $('plot-caption').textContent = '';
  $('status').textContent = `Reading ${inputName}…`;
  delete document.body.dataset.seconds;
  renderTable();
  send({ type: 'classify', files, modelUrl });
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

function onReply(message: WorkerReply): void {
  switch (message.type) {
    case 'model':
      $('model-info').textContent = `Model loaded in ${message.seconds.toFixed(2)} s (onnxruntime-web, WASM, ${message.threads} thread${message.threads === 1 ? '' : 's'}; outputs: ${message.outputs.join(', ')}).`;
      break;
    case 'start':
      classifyStartedAt = performance.now();
      $('status').textContent = `Classifying ${inputName} (${message.format}, ${(message.bytes / 1e6).toFixed(1)} MB)…`;
      break;
    case 'rows':
      results.add(message);
      queueRender();
      break;
    case 'progress': {
      const seconds = (performance.now() - (classifyStartedAt || startedAt)) / 1000;
      const percent = message.bytes > 0 ? Math.round((100 * message.bytesRead) / message.bytes) : 100;
      $('status').textContent = `Classifying ${inputName}: ${formatCount(message.rows)} spectra, ${percent} % read, ${(message.rows / Math.max(seconds, 1e-3)).toFixed(0)} spectra/s…`;
      break;
    }
    case 'done': {
      running = false;
      const rate = message.rows / Math.max(message.seconds, 1e-6);
      $('status').textContent = `Classified ${formatCount(message.rows)} spectra from ${inputName} in ${message.seconds.toFixed(2)} s (${rate.toFixed(0)} spectra/s).`;
      document.body.dataset.seconds = message.seconds.toFixed(3);
      renderTable();
      setState('done');
      if (results.rows > 0) selectRow(0);
      break;
    }
    case 'error':
      if (message.during === 'spectrum') {
        $('plot-caption').textContent = message.message;
        break;
      }
      running = false;
      renderTable();
      showError(message.message);
      break;
    case 'spectrum':
      if (message.row === selected) drawSpectrum(message);
      break;
  }
}

function queueRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderNewRows();
  });
}

function columns(): string[] {
  const out: string[] = [...BASE_COLUMNS];
  if (results.labels) out.push('label');
  out.push(...results.extras.keys());
  return out;
}

function renderSummary(): void {
  const parts = [...results.counts].map(([name, n]) => `<span class="count ${name}">${name} ${formatCount(n)}</span>`);
  $('summary').innerHTML = results.rows > 0 ? `${formatCount(results.rows)} spectra: ${parts.join(' ')}` : '';
}

/** The table row of input row i. */
function tableRow(i: number): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.row = String(i);
  if (i === selected) tr.className = 'selected';
  const ok = hasPrediction(results.status[i]);
  const cells: [string, string, number | undefined][] = [
    ['row', String(i), undefined],
    ['id', results.ids[i] ?? '', undefined],
    ['predicted', results.predicted(i), undefined],
  ];
  for (let k = 0; k < 3; k++) {
    const v = results.probabilities[3 * i + k]!;
    cells.push([BASE_COLUMNS[3 + k]!, ok ? v.toFixed(4) : '', ok ? v : undefined]);
  }
  cells.push(['status', results.status[i] ?? '', undefined]);
  if (results.labels) {
    const label = results.labels[i]!;
    cells.push(['label', label >= 0 ? CLASS_NAMES[label]! : '', undefined]);
  }
  // NaN: no value for this row (a star's z, an unclassified row's scores): an empty cell.
  for (const [name, values] of results.extras) cells.push([name, formatValue(values[i]!), Number.isNaN(values[i]!) ? undefined : values[i]!]);
  for (const [name, text, value] of cells) {
    const td = document.createElement('td');
    td.dataset.col = name;
    td.textContent = text;
    if (value !== undefined) td.dataset.value = String(value);
    if (name === 'predicted' && text !== '') td.className = `class ${text}`;
    tr.append(td);
  }
  return tr;
}

/** Input rows shown in the table now: [pageFirst, renderedUntil). */
let renderedUntil = 0;
let renderedHead = '';

function renderPager(): void {
  const first = page * pageSize;
  const last = Math.min(results.rows, first + pageSize);
  $('page-info').textContent = results.rows > 0 ? `rows ${formatCount(first)}–${formatCount(last - 1)} of ${formatCount(results.rows)}${running ? '…' : ''}` : '';
  $<HTMLButtonElement>('prev').disabled = page === 0;
  $<HTMLButtonElement>('next').disabled = last >= results.rows;
  renderSummary();
}

/** Rebuilds the table: the current page's rows received so far. */
function renderTable(): void {
  const names = columns();
  const headHtml = `<tr>${names.map((n) => `<th scope="col">${escapeHtml(n)}</th>`).join('')}</tr>`;
  if (renderedHead !== headHtml) {
    $('results').querySelector('thead')!.innerHTML = headHtml;
    renderedHead = headHtml;
  }
  const pages = Math.max(1, Math.ceil(results.rows / pageSize));
  page = Math.min(page, pages - 1);
  const first = page * pageSize;
  const last = Math.min(results.rows, first + pageSize);
  const body = document.createElement('tbody');
  for (let i = first; i < last; i++) body.append(tableRow(i));
  $('results').querySelector('tbody')!.replaceWith(body);
  renderedUntil = last;
  renderPager();
}

/** While rows stream in: appends the ones that belong on the page shown (a page is built once, not per batch). */
function renderNewRows(): void {
  const names = columns();
  const headHtml = `<tr>${names.map((n) => `<th scope="col">${escapeHtml(n)}</th>`).join('')}</tr>`;
  if (renderedHead !== headHtml) return renderTable();
  const last = Math.min(results.rows, page * pageSize + pageSize);
  if (renderedUntil < last) {
    const body = $('results').querySelector('tbody')!;
    const rows = document.createDocumentFragment();
    for (let i = renderedUntil; i < last; i++) rows.append(tableRow(i));
    body.append(rows);
    renderedUntil = last;
  }
  renderPager();
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return '';
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function selectRow(row: number): void {
  selected = row;
  for (const tr of $('results').querySelectorAll('tr.selected')) tr.classList.remove('selected');
  $('results').querySelector(`tr[data-row="${row}"]`)?.classList.add('selected');
  $('plot-caption').textContent = `Loading spectrum ${row}…`;
  if (worker) send({ type: 'spectrum', row });
}

const SVG = 'http://www.w3.org/2000/svg';

function svg(name: string, attributes: Record<string, string | number>, text?: string): SVGElement {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Flux against wavelength, with masked pixels (zero flux, or flagged by a FITS reader) marked below the axis. */
function drawSpectrum(message: Extract<WorkerReply, { type: 'spectrum' }>): void {
  const { grid, flux, badPixels } = message;
  const width = 900;
  const height = 320;
  const m = { left: 70, right: 16, top: 16, bottom: 44 };
  const values = Array.from(flux).filter((v, i) => v !== 0 && !(badPixels && badPixels[i])).sort((a, b) => a - b);
  // The 0.5–99.5 % range: one cosmic ray shouldn't flatten the plot.
  let lo = values.length > 0 ? values[Math.floor(0.005 * (values.length - 1))]! : 0;
  let hi = values.length > 0 ? values[Math.ceil(0.995 * (values.length - 1))]! : 1;
  if (!(hi > lo)) [lo, hi] = [lo - 1, hi + 1];
  const pad = 0.06 * (hi - lo);
  lo -= pad;
  hi += pad;
  const x0 = grid.start;
  const x1 = grid.start + grid.step * (grid.length - 1);
  const x = (w: number) => m.left + ((w - x0) / (x1 - x0)) * (width - m.left - m.right);
  const y = (v: number) => m.top + (1 - (Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * (height - m.top - m.bottom);
  const root = $('plot') as unknown as SVGSVGElement;
  root.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const nodes: SVGElement[] = [];
  nodes.push(svg('rect', { x: m.left, y: m.top, width: width - m.left - m.right, height: height - m.top - m.bottom, class: 'frame' }));
  for (let w = Math.ceil(x0 / 500) * 500; w <= x1; w += 500) {
    nodes.push(svg('line', { x1: x(w), x2: x(w), y1: height - m.bottom, y2: height - m.bottom + 5, class: 'tick' }));
    nodes.push(svg('text', { x: x(w), y: height - m.bottom + 18, 'text-anchor': 'middle' }, String(w)));
  }
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    nodes.push(svg('text', { x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, Number(v.toPrecision(3)).toString()));
  }
  nodes.push(svg('text', { x: (m.left + width - m.right) / 2, y: height - 6, 'text-anchor': 'middle' }, 'wavelength (Å)'));
  let d = '';
  let pen = false;
  const masked: string[] = [];
  for (let i = 0; i < grid.length; i++) {
    const w = grid.start + grid.step * i;
    const bad = flux[i] === 0 || (badPixels !== undefined && badPixels[i] !== 0);
    if (bad) masked.push(`M${x(w).toFixed(1)} ${height - m.bottom + 1}v4`);
    if (flux[i] === 0) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${x(w).toFixed(1)} ${y(flux[i]!).toFixed(1)}`;
    pen = true;
  }
  nodes.push(svg('path', { d, class: 'flux' }));
  if (masked.length > 0) nodes.push(svg('path', { d: masked.join(''), class: 'masked' }));
  root.replaceChildren(...nodes);
  const predicted = results.predicted(message.row);
  $('plot-caption').textContent = `Row ${message.row}, ${message.id}${predicted ? `: ${predicted}` : ''}${masked.length > 0 ? ` (${masked.length} masked pixels marked below the axis)` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Wiring

const fileInput = $<HTMLInputElement>('file-input');
function onPicked(list: FileList | null | undefined): void {
  const files = [...(list ?? [])].map((f) => ({ name: f.name, blob: f as Blob }));
  if (files.length > 0) classify(files);
}
fileInput.addEventListener('change', () => {
  onPicked(fileInput.files);
  fileInput.value = ''; // the same file picked again is a new run
});
const drop = $('drop');
for (const type of ['dragenter', 'dragover']) {
  drop.addEventListener(type, (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
}
for (const type of ['dragleave', 'drop']) drop.addEventListener(type, () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  onPicked((event as DragEvent).dataTransfer?.files);
});
// A file dropped beside the zone would make the browser navigate away to show it.
window.addEventListener('dragover', (event) => event.preventDefault());
window.addEventListener('drop', (event) => event.preventDefault());

$('prev').addEventListener('click', () => {
  page = Math.max(0, page - 1);
  renderTable();
});
$('next').addEventListener('click', () => {
  page++;
  renderTable();
});
$('results').addEventListener('click', (event) => {
  const tr = (event.target as HTMLElement).closest('tr[data-row]') as HTMLElement | null;
  if (tr) selectRow(Number(tr.dataset.row));
});
$('download').addEventListener('click', () => {
  const link = $<HTMLAnchorElement>('download');
  if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(results.csv());
  link.download = `${inputName.split(',')[0]!.replace(/\.(csv|csv\.gz|arrow|feather|ipc|fits|fits\.gz|fit|fit\.gz)$/i, '') || 'spectra'}-predictions.csv`;
});

interface Example {
  file: string;
  label: string;
}
async function loadExamples(): Promise<void> {
  const select = $<HTMLSelectElement>('example');
  let examples: Example[] = [];
  try {
    const response = await fetch('examples/examples.json');
    if (response.ok) examples = (await response.json()) as Example[];
  } catch {
    // No examples in this build.
  }
  if (examples.length === 0) {
    $('examples-box').hidden = true;
    return;
  }
  select.replaceChildren(...examples.map((e) => Object.assign(document.createElement('option'), { value: e.file, textContent: e.label })));
  $('run-example').addEventListener('click', async () => {
    const file = select.value;
    setState('running');
    $('status').textContent = `Fetching ${file}…`;
    try {
      const response = await fetch(`examples/${file}`);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      classify([{ name: file, blob: await response.blob() }]);
    } catch (error) {
      showError(`${file}: can't fetch the example: ${(error as Error).message}`);
    }
  });
}

// How long the page's thread was blocked during the current run (for test:web).
let lastTick = performance.now();
setInterval(() => {
  const now = performance.now();
  if (document.body.dataset.state === 'running') maxStall = Math.max(maxStall, now - lastTick - 100);
  document.body.dataset.maxStallMs = maxStall.toFixed(0);
  lastTick = now;
}, 100);

setState('idle');
void loadExamples();
