/**
 * The report's charts as Vega-Lite specifications, rendered to SVG strings in Node by Vega
 * (no browser, no canvas), so the report is one static file that any browser shows as is.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { CLASS_NAMES } from '../io/batch.js';

/** Colours per class, the same in every chart (colour-blind-safe: Okabe–Ito orange, blue, vermillion). */
export const CLASS_COLOURS: Record<string, string> = { star: '#E69F00', galaxy: '#0072B2', qso: '#D55E00' };
const classColour = { domain: [...CLASS_NAMES], range: CLASS_NAMES.map((n) => CLASS_COLOURS[n]!) };

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif';

const CONFIG = {
  font: FONT,
  background: 'white',
  view: { stroke: null },
  axis: { gridColor: '#ececec', domainColor: '#999', tickColor: '#999', labelColor: '#333', titleColor: '#333', titleFontWeight: 'normal', labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 'normal', labelLimit: 0 },
  title: { anchor: 'start', fontSize: 13, fontWeight: 'normal', color: '#222', subtitleColor: '#666' },
} as const;

// Every URL Vega might try to fetch is refused: all data is inline, and a report must never
// depend on the network to be drawn.
const offlineLoader = vega.loader();
offlineLoader.load = async (uri: string) => {
  throw new Error(`report charts are drawn offline; refusing to load ${uri}`);
};
offlineLoader.sanitize = async (uri: string) => {
  throw new Error(`report charts are drawn offline; refusing to load ${uri}`);
};

/** Renders a Vega-Lite spec to a standalone SVG string. */
export async function renderChart(spec: TopLevelSpec): Promise<string> {
  const { spec: vegaSpec } = compile({ config: CONFIG, ...spec } as TopLevelSpec);
  const view = new vega.View(vega.parse(vegaSpec), { renderer: 'none', loader: offlineLoader });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Averages consecutive points so a line chart of a long series stays a few thousand points. */
export function decimate<T extends { x: number; y: number }>(points: T[], maxPoints: number): { x: number; y: number }[] {
  if (points.length <= maxPoints) return points.map((p) => ({ x: p.x, y: p.y }));
  const group = Math.ceil(points.length / maxPoints);
  const out: { x: number; y: number }[] = [];
  for (let i = 0; i < points.length; i += group) {
    const slice = points.slice(i, i + group);
    out.push({ x: slice.reduce((s, p) => s + p.x, 0) / slice.length, y: slice.reduce((s, p) => s + p.y, 0) / slice.length });
  }
  return out;
}

export interface EpochPoint {
  epoch: number;
  series: string;
  value: number;
}

/** Lines per series against epoch, with an optional vertical rule at the best epoch. */
export function epochCurvesSpec(title: string, yTitle: string, points: EpochPoint[], options: { bestEpoch?: number; unitInterval?: boolean; colours: Record<string, string> }): TopLevelSpec {
  const series = Object.keys(options.colours);
  const layers: unknown[] = [
    {
      mark: { type: 'line', point: { size: 28 }, strokeWidth: 2 },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' }, scale: { zero: false, nice: false } },
        y: { field: 'value', type: 'quantitative', title: yTitle, scale: options.unitInterval ? { domain: [0, 1] } : { zero: false } },
        color: { field: 'series', type: 'nominal', title: null, scale: { domain: series, range: series.map((s) => options.colours[s]!) }, legend: { orient: 'bottom' } },
      },
    },
  ];
  if (options.bestEpoch !== undefined) {
    layers.push(
      { data: { values: [{ epoch: options.bestEpoch }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#555' }, encoding: { x: { field: 'epoch', type: 'quantitative' } } },
      { data: { values: [{ epoch: options.bestEpoch, label: `best (epoch ${options.bestEpoch})` }] }, mark: { type: 'text', align: 'left', dx: 4, dy: 2, baseline: 'top', color: '#555', fontSize: 10 }, encoding: { x: { field: 'epoch', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } } },
    );
  }
  return { title, width: 380, height: 200, data: { values: points.map((p) => ({ ...p, value: Number.isFinite(p.value) ? p.value : null })) }, layer: layers } as TopLevelSpec;
}

/** Loss per training step (thin line), decimated to keep the SVG small. */
export function stepLossSpec(points: { x: number; y: number }[]): TopLevelSpec {
  return {
    title: 'training loss per step',
    width: 380,
    height: 200,
    data: { values: decimate(points, 1500) },
    mark: { type: 'line', strokeWidth: 1, color: '#555' },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: 'step (all epochs)' },
      y: { field: 'y', type: 'quantitative', title: 'loss', scale: { zero: false } },
    },
  } as TopLevelSpec;
}

/** Confusion matrix: cells shaded by the row fraction (recall), labelled with counts. */
export function confusionSpec(confusion: number[][], classNames: readonly string[]): TopLevelSpec {
  const cells = confusion.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count, p) => ({ true: classNames[t], predicted: classNames[p], count, label: String(count), fraction: total > 0 ? count / total : 0 }));
  });
  const order = [...classNames];
  const side = 78 * classNames.length;
  return {
    title: { text: 'confusion matrix', subtitle: 'cells: rows; shade: fraction of the true class' },
    width: side,
    height: side,
    data: { values: cells },
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: order, title: 'predicted', axis: { orient: 'top', labelAngle: 0 } },
      y: { field: 'true', type: 'nominal', sort: order, title: 'true' },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 2 },
        encoding: { color: { field: 'fraction', type: 'quantitative', scale: { scheme: 'blues', domain: [0, 1] }, title: 'fraction', legend: { orient: 'right', format: '.0%' } } },
      },
      {
        mark: { type: 'text', fontSize: 14 },
        encoding: {
          text: { field: 'label', type: 'nominal' },
          color: { condition: { test: 'datum.fraction > 0.5', value: 'white' }, value: '#111' },
        },
      },
    ],
  } as TopLevelSpec;
}

export interface BinScore {
  bin: string;
  binIndex: number;
  class: string;
  f1: number;
  support: number;
}

/** Per-class F1 in bins of a per-row quantity (S/N), one line per class. */
export function f1ByBinSpec(title: string, xTitle: string, scores: BinScore[]): TopLevelSpec {
  return {
    title,
    width: 460,
    height: 220,
    data: { values: scores },
    encoding: {
      x: { field: 'bin', type: 'ordinal', sort: { field: 'binIndex' }, title: xTitle, axis: { labelAngle: 0 } },
      y: { field: 'f1', type: 'quantitative', title: 'F1', scale: { domain: [0, 1] } },
      color: { field: 'class', type: 'nominal', title: null, scale: classColour, legend: { orient: 'bottom' } },
    },
    layer: [{ mark: { type: 'line', strokeWidth: 2 } }, { mark: { type: 'point', filled: true, size: 40 } }],
  } as TopLevelSpec;
}

/** Bar chart of how many rows were predicted as each class. */
export function predictedCountsSpec(counts: { class: string; count: number }[]): TopLevelSpec {
  return {
    title: 'predicted classes',
    width: 260,
    height: 160,
    data: { values: counts },
    encoding: {
      y: { field: 'class', type: 'nominal', sort: [...CLASS_NAMES], title: null },
      x: { field: 'count', type: 'quantitative', title: 'rows' },
    },
    layer: [
      { mark: { type: 'bar' }, encoding: { color: { field: 'class', type: 'nominal', scale: classColour, legend: null } } },
      { mark: { type: 'text', align: 'left', dx: 4 }, encoding: { text: { field: 'count', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
}

/** Histogram of the winning probability, stacked by predicted class. */
export function confidenceSpec(values: { class: string; confidence: number }[]): TopLevelSpec {
  return {
    title: 'confidence (largest probability)',
    width: 340,
    height: 160,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'confidence', type: 'quantitative', bin: { extent: [1 / 3, 1], step: 1 / 30 }, title: 'max(p)' },
      y: { aggregate: 'count', type: 'quantitative', title: 'rows' },
      color: { field: 'class', type: 'nominal', scale: classColour, title: null, legend: { orient: 'bottom' } },
    },
  } as TopLevelSpec;
}

export interface SpectrumChartInput {
  title: string;
  subtitle?: string;
  wavelength: ArrayLike<number>;
  flux: ArrayLike<number>;
  /** Fitted Wien curve on the same wavelengths; omitted when the fit failed. */
  wien?: ArrayLike<number>;
  /** Nonzero = bad pixel. */
  badPixels?: ArrayLike<number>;
  width?: number;
  height?: number;
}

export const SPECTRUM_SERIES = { flux: 'flux', wien: 'Wien fit', bad: 'bad pixel' } as const;

/** One spectrum: flux, the fitted Wien curve (dashed) and bad pixels as faint red rules. */
export function spectrumSpec(input: SpectrumChartInput): TopLevelSpec {
  const points: { wavelength: number; value: number | null; series: string }[] = [];
  const bad: { wavelength: number }[] = [];
  for (let i = 0; i < input.wavelength.length; i++) {
    const lambda = input.wavelength[i]!;
    const isBad = input.badPixels !== undefined && input.badPixels[i] !== 0;
    const flux = input.flux[i]!;
    // Bad pixels break the line rather than drawing whatever value they hold.
    points.push({ wavelength: lambda, value: isBad || !Number.isFinite(flux) ? null : flux, series: SPECTRUM_SERIES.flux });
    if (isBad) bad.push({ wavelength: lambda });
  }
  if (input.wien) {
    for (let i = 0; i < input.wavelength.length; i++) {
      const w = input.wien[i]!;
      points.push({ wavelength: input.wavelength[i]!, value: Number.isFinite(w) ? w : null, series: SPECTRUM_SERIES.wien });
    }
  }
  const series = [SPECTRUM_SERIES.flux, ...(input.wien ? [SPECTRUM_SERIES.wien] : []), ...(bad.length > 0 ? [SPECTRUM_SERIES.bad] : [])];
  const colours: Record<string, string> = { [SPECTRUM_SERIES.flux]: '#34495e', [SPECTRUM_SERIES.wien]: '#E69F00', [SPECTRUM_SERIES.bad]: '#d62728' };
  const colour = { field: 'series', type: 'nominal', title: null, scale: { domain: series, range: series.map((s) => colours[s]!) }, legend: { orient: 'top', direction: 'horizontal' } };
  const x = { field: 'wavelength', type: 'quantitative', title: 'wavelength (Å)', scale: { zero: false, nice: false } };
  const layers: unknown[] = [];
  if (bad.length > 0) {
    layers.push({ data: { values: bad.map((b) => ({ ...b, series: SPECTRUM_SERIES.bad })) }, mark: { type: 'rule', opacity: 0.35, strokeWidth: 1 }, encoding: { x, color: colour } });
  }
  layers.push({
    transform: [{ filter: `datum.series === '${SPECTRUM_SERIES.flux}'` }],
    mark: { type: 'line', strokeWidth: 0.9, interpolate: 'linear' },
    encoding: { x, y: { field: 'value', type: 'quantitative', title: 'flux', scale: { zero: false } }, color: colour },
  });
  if (input.wien) {
    layers.push({
      transform: [{ filter: `datum.series === '${SPECTRUM_SERIES.wien}'` }],
      mark: { type: 'line', strokeWidth: 2, strokeDash: [6, 3] },
      encoding: { x, y: { field: 'value', type: 'quantitative' }, color: colour },
    });
  }
  return {
    title: input.subtitle ? { text: input.title, subtitle: input.subtitle } : input.title,
    width: input.width ?? 760,
    height: input.height ?? 220,
    data: { values: points },
    layer: layers,
  } as TopLevelSpec;
}
