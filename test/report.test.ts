import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, type DefaultTreeAdapterMap } from 'parse5';
import { XMLValidator } from 'fast-xml-parser';
import { AstrospecError } from '../src/errors.js';
import { CLASS_NAMES } from '../src/io/batch.js';
import { classificationMetrics } from '../src/metrics/classification.js';
import { reportHandler } from '../src/cli/commands/report.js';
import { plotHandler } from '../src/cli/commands/plot.js';
import { buildReport } from '../src/report/report.js';
import { readPredictionsCsv } from '../src/infer/predictions-csv.js';
import { renderChart, spectrumSpec } from '../src/report/charts.js';
import { makeFixture, ROWS } from './report-fixture.js';

type Node = DefaultTreeAdapterMap['node'];
type Element = DefaultTreeAdapterMap['element'];

function walk(node: Node, visit: (e: Element) => void): void {
  if ('tagName' in node) visit(node);
  const children = 'childNodes' in node ? node.childNodes : [];
  for (const child of children) walk(child as Node, visit);
  if ('content' in node && node.content) walk(node.content as Node, visit);
}

function attr(e: Element, name: string): string | undefined {
  return e.attrs.find((a) => a.name === name)?.value;
}

function textOf(node: Node): string {
  if (node.nodeName === '#text') return (node as DefaultTreeAdapterMap['textNode']).value;
  return ('childNodes' in node ? node.childNodes : []).map((c) => textOf(c as Node)).join('');
}

/** Parses the page with parse5 (collecting its parse errors) and checks the invariants every report must meet. */
function checkPage(html: string): { elements: Element[]; svgs: string[] } {
  const errors: string[] = [];
  const document = parse(html, { onParseError: (e) => errors.push(`${e.code} at line ${e.startLine}`) });
  assert.deepEqual(errors, [], 'HTML parse errors');
  const elements: Element[] = [];
  walk(document as unknown as Node, (e) => elements.push(e));
  // Self-contained: no scripts, no external stylesheets, no http(s) in src/href anywhere (SVG too).
  assert.ok(!elements.some((e) => e.tagName === 'script' || e.tagName === 'link' || e.tagName === 'iframe' || e.tagName === 'img'));
  for (const e of elements) {
    for (const a of e.attrs) {
      if (/(^|:)(src|href)$/.test(a.name)) assert.ok(!/^\s*(https?:)?\/\//i.test(a.value), `external reference ${a.name}="${a.value}" on <${e.tagName}>`);
    }
  }
  assert.ok(!/url\(\s*['"]?\s*(https?:)?\/\//i.test(html), 'CSS url() to another host');
  assert.ok(!/@import/i.test(html), 'CSS @import');
  // Ids are unique across all inline SVGs (clip paths and gradients from separate charts must not collide).
  const ids = elements.map((e) => attr(e, 'id')).filter((id): id is string => id !== undefined);
  assert.equal(new Set(ids).size, ids.length, `duplicate ids: ${ids.join(' ')}`);
  const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
  assert.equal(svgs.length, elements.filter((e) => e.tagName === 'svg').length, 'an <svg> nested in another or unterminated');
  for (const svg of svgs) assert.equal(XMLValidator.validate(svg), true, `SVG is not well-formed XML: ${svg.slice(0, 120)}`);
  return { elements, svgs };
}

function chart(elements: Element[], name: string): Element | undefined {
  return elements.find((e) => e.tagName === 'figure' && attr(e, 'data-chart') === name);
}

function svgTexts(figure: Element): string[] {
  const texts: string[] = [];
  walk(figure as unknown as Node, (e) => {
    if (e.tagName === 'text') texts.push(textOf(e as unknown as Node).trim());
  });
  return texts;
}

test('the full report: scores match src/metrics, confusion counts are drawn, examples and training curves are there', async () => {
  const f = await makeFixture();
  try {
    const output = join(f.dir, 'report.html');
    await reportHandler({ predictions: f.predictions, data: f.data, log: f.log, model: f.model, examples: 2, output, quiet: true });
    const html = await readFile(output, 'utf8');
    const { elements } = checkPage(html);

    const ok = f.status.map((s) => s === 'ok');
    const expected = classificationMetrics(f.truth.filter((_, r) => ok[r]), f.predicted.filter((_, r) => ok[r]), CLASS_NAMES);
    const macro = elements.find((e) => attr(e, 'id') === 'macro-f1')!;
    assert.equal(Number(attr(macro, 'data-value')), expected.macroF1);
    assert.equal(textOf(macro as unknown as Node), expected.macroF1.toFixed(4));
    assert.equal(Number(attr(elements.find((e) => attr(e, 'id') === 'scored-rows')!, 'data-value')), ok.filter(Boolean).length);
    // Per-class F1 in the HTML table.
    const perClass = elements.find((e) => e.tagName === 'table' && attr(e, 'class') === 'per-class')!;
    const cells = textOf(perClass as unknown as Node);
    for (const s of expected.perClass) assert.ok(cells.includes(s.f1.toFixed(4)), `${s.name} F1 ${s.f1.toFixed(4)} not in the table`);

    // Every confusion count appears as a text mark of the confusion chart, in row-major order.
    const confusion = chart(elements, 'confusion');
    assert.ok(confusion, 'no confusion chart');
    const texts = svgTexts(confusion);
    const counts = expected.confusion.flat().map(String);
    const drawn = texts.filter((t) => /^\d+$/.test(t));
    for (const c of counts) assert.ok(drawn.includes(c), `count ${c} not drawn (drawn: ${drawn.join(' ')})`);
    assert.ok(expected.confusion.flat().some((c) => c > 0 && c < 80));

    // Two examples per true class, each an SVG with a flux path.
    const examples = elements.filter((e) => e.tagName === 'figure' && attr(e, 'class') === 'example-spectrum');
    assert.equal(examples.length, 6);
    assert.deepEqual(examples.map((e) => attr(e, 'data-class')), ['star', 'star', 'galaxy', 'galaxy', 'qso', 'qso']);
    for (const e of examples) {
      const row = Number(attr(e, 'data-row'));
      assert.equal(f.status[row], 'ok');
      // Two long paths: the flux and the fitted Wien curve.
      let paths = 0;
      walk(e as unknown as Node, (x) => (paths += x.tagName === 'path' && (attr(x, 'd')?.length ?? 0) > 1000 ? 1 : 0));
      assert.equal(paths, 2, `example row ${row}: ${paths} long paths`);
      // The fixture's continua are exact Wien laws (times noise): the fit must find their temperature.
      const caption = textOf(e as unknown as Node);
      const fitted = Number(/Wien T ≈ (\d+) K/.exec(caption)?.[1]);
      if (f.truth[row] !== 2) assert.ok(Math.abs(fitted - f.temperature[row]!) < 0.03 * f.temperature[row]!, `row ${row}: fitted ${fitted} K, drawn from ${f.temperature[row]} K`);
    }
    // The first example of a class is misclassified when the class has a misclassified row.
    for (const [c, name] of CLASS_NAMES.entries()) {
      const firstWrong = f.truth.findIndex((t, r) => t === c && ok[r] && f.predicted[r] !== t);
      const first = examples.find((e) => attr(e, 'data-class') === name)!;
      if (firstWrong >= 0) assert.equal(Number(attr(first, 'data-row')), firstWrong);
    }

    assert.ok(chart(elements, 'f1-by-snr'), 'no F1-by-S/N chart');
    assert.ok(chart(elements, 'loss') && chart(elements, 'val-macro-f1') && chart(elements, 'step-loss'), 'training charts missing');
    assert.equal(textOf(elements.find((e) => attr(e, 'id') === 'best-val-macro-f1')! as unknown as Node), '0.7000');
    assert.ok(html.includes('width 16'), 'model section missing');
    assert.ok(!html.includes('class="missing"'), 'a section says its input is missing although all were given');
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('with predictions only, every other section says which input it lacks', async () => {
  const f = await makeFixture();
  try {
    const html = await buildReport({ predictions: await readPredictionsCsv(f.predictions) });
    const { elements } = checkPage(html);
    const missing = elements.filter((e) => attr(e, 'class') === 'missing').map((e) => textOf(e as unknown as Node));
    assert.equal(missing.length, 5, missing.join('\n'));
    assert.ok(missing.some((m) => m.includes('No training log given')));
    assert.ok(missing.some((m) => m.includes('No model given')));
    assert.ok(missing.some((m) => m.includes('--data')));
    assert.ok(chart(elements, 'predicted-counts') && chart(elements, 'confidence'));
    assert.equal(elements.filter((e) => attr(e, 'class') === 'example-spectrum').length, 0);
    // The status table counts the rows that were not classified.
    const notOk = f.status.filter((s) => s !== 'ok').length;
    const status = textOf(elements.find((e) => e.tagName === 'table' && attr(e, 'class') === 'status')! as unknown as Node);
    assert.ok(status.includes(`nan flux${notOk}`), status);
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('predictions that do not belong to the spectra file are refused, naming the file and row', async () => {
  const f = await makeFixture();
  try {
    const text = await readFile(f.predictions, 'utf8');
    await writeFile(f.predictions, text.replace('\n7,spec-7,', '\n7,other-7,'));
    await assert.rejects(reportHandler({ predictions: f.predictions, data: f.data, output: join(f.dir, 'r.html'), quiet: true }), (e: AstrospecError) => {
      assert.equal(e.code, 'BAD_INPUT');
      assert.equal(e.file, f.predictions);
      assert.equal(e.row, 8);
      assert.match(e.message, /"other-7".*"spec-7"/);
      return true;
    });
    await writeFile(f.predictions, text + `${ROWS + 5},spec-x,star,1,0,0,ok\n`);
    await assert.rejects(reportHandler({ predictions: f.predictions, data: f.data, output: join(f.dir, 'r.html'), quiet: true }), /row 245 is beyond .*spectra\.arrow, which has 240 rows/);
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('plot draws one spectrum by row or id, as SVG or HTML', async () => {
  const f = await makeFixture();
  try {
    const svgPath = join(f.dir, 'one.svg');
    const byRow = await plotHandler({ input: f.data, row: 5, output: svgPath, quiet: true });
    assert.equal(byRow.id, 'spec-5');
    const svg = await readFile(svgPath, 'utf8');
    assert.equal(XMLValidator.validate(svg), true);
    assert.ok(svg.includes('spec-5 (row 5)'));
    const htmlPath = join(f.dir, 'one.html');
    const byId = await plotHandler({ input: f.data, id: 'spec-17', output: htmlPath, quiet: true });
    assert.equal(byId.row, 17);
    checkPage(await readFile(htmlPath, 'utf8'));
    await assert.rejects(plotHandler({ input: f.data, row: ROWS, output: svgPath, quiet: true }), /no row 240: the file has 240 rows/);
    await assert.rejects(plotHandler({ input: f.data, id: 'nope', output: svgPath, quiet: true }), /no spectrum with id "nope"/);
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('a spectrum chart marks each bad pixel and breaks the flux line there', async () => {
  const wavelength = Array.from({ length: 300 }, (_, i) => 3800 + 2 * i);
  const badPixels = wavelength.map((_, i) => (i >= 100 && i < 107) || i === 250 ? 1 : 0);
  const svg = await renderChart(spectrumSpec({ title: 'bad pixels', wavelength, flux: wavelength.map((l) => l / 1000), badPixels }));
  assert.equal(XMLValidator.validate(svg), true);
  assert.equal((svg.match(/aria-roledescription="rule mark"/g) ?? []).length, 8);
  // The flux line is drawn in three pieces: a path's "M" starts each (one per unbroken run).
  const flux = /<g class="mark-line role-mark[^>]*><path[^>]* d="([^"]+)"/.exec(svg)?.[1] ?? '';
  assert.equal((flux.match(/M/g) ?? []).length, 3, flux.slice(0, 200));
});

test('the training log reader keeps a half-written last line out and names the line of a broken one', async () => {
  const { parseTrainingLog } = await import('../src/report/training-log.js');
  const epoch = (e: number) => JSON.stringify({ type: 'epoch', epoch: e, loss: 1, valLoss: 1, valMacroF1: 0.5 });
  const log = parseTrainingLog(`${epoch(1)}\n${epoch(2)}\n{"type":"epo`, 'log.jsonl');
  assert.deepEqual(log.epochs.map((e) => e.epoch), [1, 2]);
  assert.equal(log.end, undefined);
  assert.throws(() => parseTrainingLog(`${epoch(1)}\n{oops\n${epoch(2)}\n`, 'log.jsonl'), (e: AstrospecError) => e.row === 2 && e.file === 'log.jsonl');
  assert.throws(() => parseTrainingLog(`{"type":"epoch","epoch":1}\n`, 'log.jsonl'), /needs a number "loss"/);
});
