/**
 * HTML building blocks for the report: one self-contained page (inline CSS and SVG, no scripts,
 * no external requests), written as well-formed markup so it also parses as XML.
 */

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Fixed decimals, with an en dash for missing values. */
export function formatNumber(value: number | undefined, digits = 4): string {
  return value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);
}

export function formatCount(value: number): string {
  return value.toLocaleString('en-GB');
}

export type Cell = string | number | { html: string; className?: string };

function cellHtml(cell: Cell): string {
  if (typeof cell === 'number') return `<td class="num">${escapeHtml(Number.isInteger(cell) ? formatCount(cell) : formatNumber(cell))}</td>`;
  if (typeof cell === 'string') return `<td>${escapeHtml(cell)}</td>`;
  return `<td${cell.className ? ` class="${cell.className}"` : ''}>${cell.html}</td>`;
}

export function table(headers: string[], rows: Cell[][], options: { className?: string; id?: string } = {}): string {
  const attributes = `${options.id ? ` id="${options.id}"` : ''}${options.className ? ` class="${options.className}"` : ''}`;
  return [
    `<table${attributes}>`,
    `<thead><tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>`,
    `<tbody>${rows.map((r) => `<tr>${r.map(cellHtml).join('')}</tr>`).join('')}</tbody>`,
    '</table>',
  ].join('\n');
}

/** A definition list of name → value (already escaped HTML values allowed via { html }). */
export function facts(entries: [string, Cell][]): string {
  return `<dl class="facts">${entries
    .map(([name, value]) => `<dt>${escapeHtml(name)}</dt><dd>${typeof value === 'object' ? value.html : escapeHtml(String(value))}</dd>`)
    .join('')}</dl>`;
}

export function section(id: string, title: string, body: string): string {
  return `<section id="${id}">\n<h2>${escapeHtml(title)}</h2>\n${body}\n</section>`;
}

/** What a section shows when its input was not given: says which option would fill it. */
export function missing(text: string): string {
  return `<p class="missing">${escapeHtml(text)}</p>`;
}

export function figure(svg: string, caption: string | undefined, className: string, attributes: Record<string, string | number> = {}): string {
  const extra = Object.entries(attributes)
    .map(([k, v]) => ` ${k}="${escapeHtml(String(v))}"`)
    .join('');
  return `<figure class="${className}"${extra}>${svg}${caption ? `<figcaption>${caption}</figcaption>` : ''}</figure>`;
}

const STYLE = `
:root { --ink: #1d2329; --muted: #5f6b76; --line: #dde3e8; --panel: #f6f8fa; --star: #E69F00; --galaxy: #0072B2; --qso: #D55E00; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--ink); background: #fff; }
header { padding: 28px 40px 18px; border-bottom: 1px solid var(--line); background: var(--panel); }
header h1 { margin: 0 0 6px; font-size: 24px; font-weight: 600; }
header p { margin: 0; color: var(--muted); }
nav { margin-top: 12px; font-size: 14px; }
nav a { color: var(--galaxy); margin-right: 16px; text-decoration: none; }
main { padding: 8px 40px 48px; max-width: 1280px; }
section { margin-top: 28px; }
h2 { font-size: 19px; font-weight: 600; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; font-weight: 600; margin: 18px 0 6px; }
.headline { display: flex; gap: 32px; flex-wrap: wrap; margin: 8px 0 16px; }
.headline div { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 18px; }
.headline .value { display: block; font-size: 28px; font-weight: 600; font-variant-numeric: tabular-nums; }
.headline .label { color: var(--muted); font-size: 13px; }
.charts { display: flex; flex-wrap: wrap; gap: 20px 28px; align-items: flex-start; }
figure { margin: 0; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 2px; max-width: 780px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
th, td { padding: 4px 12px; border-bottom: 1px solid var(--line); text-align: left; }
th { font-weight: 600; background: var(--panel); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; margin: 8px 0; font-size: 14px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-all; }
.missing { color: var(--muted); font-style: italic; background: var(--panel); border-left: 3px solid var(--line); padding: 8px 12px; }
.class { font-weight: 600; }
.class-star { color: var(--star); } .class-galaxy { color: var(--galaxy); } .class-qso { color: var(--qso); }
.wrong { color: #b00020; font-weight: 600; }
.example-spectrum { margin-bottom: 18px; }
code { font-size: 13px; }
`;

export function page(title: string, subtitle: string, nav: [string, string][], body: string): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8" />',
    '<meta name="viewport" content="width=device-width, initial-scale=1" />',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<header><h1>${escapeHtml(title)}</h1><p>${subtitle}</p><nav>${nav.map(([id, label]) => `<a href="#${id}">${escapeHtml(label)}</a>`).join('')}</nav></header>`,
    `<main>\n${body}\n</main>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
