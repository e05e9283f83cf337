/**
 * The truth the model card's table scripts (score-tables.ts, redshift-tables.ts) score against,
 * per predictions row: class, S/N, redshift and pipeline subclass, from a labelled spectra file
 * (its `snr` and `redshift` columns) or a BOSS-style labels CSV (file, class, z, sn_median,
 * subclass_pipeline).
 */
import { readFileSync } from 'node:fs';
import { parseLabel } from '../src/io/batch.js';
import { splitCsvLine } from '../src/io/csv-lines.js';
import { openSpectra } from '../src/io/open.js';
import type { PredictionTable } from '../src/infer/predictions.js';

export interface TableTruth {
  /** Class index per predictions row, −1 where unknown. */
  labels: Int8Array;
  snr: Float64Array;
  redshift: Float64Array;
  /** The labels CSV's pipeline subclass ('' without one). */
  subclass: string[];
}

export async function readTableTruth(predictions: PredictionTable, from: { truth?: string; labels?: string }): Promise<TableTruth> {
  const n = predictions.ids.length;
  const t: TableTruth = { labels: new Int8Array(n).fill(-1), snr: new Float64Array(n).fill(NaN), redshift: new Float64Array(n).fill(NaN), subclass: new Array<string>(n).fill('') };
  if (from.truth) {
    const source = await openSpectra(from.truth);
    for await (const b of source.batches()) {
      for (let r = 0; r < b.ids.length; r++) {
        const row = b.firstRow + r;
        if (row >= n) continue;
        t.labels[row] = b.labels?.[r] ?? -1;
        t.snr[row] = b.extra?.snr?.[r] ?? NaN;
        t.redshift[row] = b.extra?.redshift?.[r] ?? NaN;
      }
    }
    await source.close();
  } else if (from.labels) {
    const lines = readFileSync(from.labels, 'utf8').split('\n').filter((l) => l.trim() !== '');
    const header = splitCsvLine(lines[0]!, { file: from.labels });
    const col = (name: string) => header.indexOf(name);
    const byId = new Map<string, string[]>();
    for (const line of lines.slice(1)) {
      const cells = splitCsvLine(line, { file: from.labels });
      byId.set(cells[col('file')]!.replace(/\.fits(\.gz)?$/i, ''), cells);
    }
    predictions.ids.forEach((id, i) => {
      const cells = byId.get(id);
      if (!cells) return;
      t.labels[i] = parseLabel(cells[col('class')]!);
      t.snr[i] = Number(cells[col('sn_median')]);
      t.redshift[i] = col('z') >= 0 && cells[col('z')] !== '' ? Number(cells[col('z')]) : NaN;
      t.subclass[i] = cells[col('subclass_pipeline')] ?? '';
    });
  } else throw new Error('give --truth or --labels');
  return t;
}
