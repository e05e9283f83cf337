/**
 * Real-browser check of the HTML report (run by scripts/test-browser.sh, which finds or installs
 * Chromium): headless Chromium loads the report from disk with networking features off, dumps
 * the DOM it built and takes a full-height screenshot. Passes when the DOM holds every chart's
 * SVG marks and the screenshot shows the charts' colours (not a blank or error page).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { reportHandler } from '../src/cli/commands/report.js';
import { makeFixture } from '../test/report-fixture.js';

const run = promisify(execFile);
const browser = process.env.BROWSER ?? 'chromium';
const out = process.env.OUT ?? '/tmp';

function fail(message: string): never {
  process.stderr.write(`test:browser: FAIL ${message}\n`);
  process.exit(1);
}

let report = process.env.REPORT ? resolve(process.env.REPORT) : undefined;
if (!report) {
  const fixture = await makeFixture(out);
  report = join(out, 'report.html');
  await reportHandler({ predictions: fixture.predictions, data: fixture.data, log: fixture.log, model: fixture.model, output: report, quiet: true });
}
const source = await readFile(report, 'utf8');
const url = pathToFileURL(report).href;
const flags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--hide-scrollbars',
  `--user-data-dir=${join(out, 'profile')}`,
];

// The DOM as Chromium parsed it: every inline SVG survives with its marks.
const { stdout: dom } = await run(browser, [...flags, '--dump-dom', url], { maxBuffer: 256 << 20 });
const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;
const svgSource = count(source, /<svg[\s>]/g);
const svgDom = count(dom, /<svg[\s>]/g);
if (svgSource === 0) fail(`${report} has no <svg>`);
if (svgDom !== svgSource) fail(`the report has ${svgSource} <svg>, Chromium's DOM ${svgDom}`);
const marks = { paths: count(dom, /<path[\s>]/g), rects: count(dom, /<rect[\s>]/g), texts: count(dom, /<text[\s>]/g) };
if (marks.paths < svgSource || marks.texts < svgSource) fail(`too few marks in the DOM: ${JSON.stringify(marks)}`);

// The screenshot: tall enough for the whole page at 1280 px wide.
const screenshot = join(out, 'report.png');
const height = Number(process.env.HEIGHT ?? 7000);
await run(browser, [...flags, `--window-size=1280,${height}`, `--screenshot=${screenshot}`, url], { maxBuffer: 64 << 20 });
const png = PNG.sync.read(await readFile(screenshot));
let ink = 0;
const palette = { star: [0xe6, 0x9f, 0x00], galaxy: [0x00, 0x72, 0xb2], qso: [0xd5, 0x5e, 0x00] } as const;
const found: Record<string, number> = { star: 0, galaxy: 0, qso: 0 };
for (let i = 0; i < png.data.length; i += 4) {
  const [r, g, b] = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
  if (r < 240 || g < 240 || b < 240) ink++;
  for (const [name, [pr, pg, pb]] of Object.entries(palette)) {
    if (Math.abs(r - pr) + Math.abs(g - pg) + Math.abs(b - pb) < 30) found[name]!++;
  }
}
const inkFraction = ink / (png.width * png.height);
if (inkFraction < 0.02) fail(`screenshot ${screenshot} is almost blank (${(100 * inkFraction).toFixed(2)}% non-white)`);
for (const [name, pixels] of Object.entries(found)) if (pixels < 50) fail(`the ${name} colour is (almost) absent from the screenshot: ${pixels} pixels`);

process.stdout.write(
  `${JSON.stringify({ report, screenshot, size: [png.width, png.height], svgs: svgDom, marks, nonWhite: Number(inkFraction.toFixed(4)), classColourPixels: found })}\n` +
    'test:browser: 1 passed, 0 failed\n',
);
