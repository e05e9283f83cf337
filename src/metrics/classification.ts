/**
 * Classification scores shared by training (validation) and `astrospec evaluate`.
 * Macro F1 is the unweighted mean of per-class F1, the competitions' score. A class with no
 * true and no predicted rows has F1 = 0 by convention here only if it appears nowhere; such a
 * class is excluded from the macro average (and reported with support 0).
 */

export interface ClassScores {
  name: string;
  precision: number;
  recall: number;
  f1: number;
  /** Rows whose true class is this one. */
  support: number;
  /** Rows predicted as this class. */
  predicted: number;
}

export interface ClassificationMetrics {
  classNames: string[];
  /** confusion[t][p]: rows of true class t predicted as p. */
  confusion: number[][];
  perClass: ClassScores[];
  macroF1: number;
  accuracy: number;
  total: number;
}

/** Incremental confusion matrix, so metrics can be computed over streamed predictions. */
export class ConfusionMatrix {
  readonly counts: number[][];

  constructor(readonly classNames: readonly string[]) {
    this.counts = classNames.map(() => classNames.map(() => 0));
  }

  add(truth: number, predicted: number): void {
    const k = this.classNames.length;
    if (!Number.isInteger(truth) || truth < 0 || truth >= k) throw new RangeError(`true class ${truth} out of range 0..${k - 1}`);
    if (!Number.isInteger(predicted) || predicted < 0 || predicted >= k) throw new RangeError(`predicted class ${predicted} out of range 0..${k - 1}`);
    this.counts[truth]![predicted]!++;
  }

  addAll(truth: ArrayLike<number>, predicted: ArrayLike<number>): void {
    if (truth.length !== predicted.length) throw new RangeError(`truth has ${truth.length} rows, predictions ${predicted.length}`);
    for (let i = 0; i < truth.length; i++) this.add(truth[i]!, predicted[i]!);
  }

  metrics(): ClassificationMetrics {
    return metricsFromConfusion(this.counts, [...this.classNames]);
  }
}

export function metricsFromConfusion(confusion: number[][], classNames: string[]): ClassificationMetrics {
  const k = classNames.length;
  let total = 0;
  let correct = 0;
  const perClass: ClassScores[] = [];
  for (let c = 0; c < k; c++) {
    let support = 0;
    let predicted = 0;
    for (let j = 0; j < k; j++) {
      support += confusion[c]![j]!;
      predicted += confusion[j]![c]!;
    }
    const tp = confusion[c]![c]!;
    total += support;
    correct += tp;
    // A class that is never predicted has precision 0 (sklearn's zero_division=0).
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ name: classNames[c]!, precision, recall, f1, support, predicted });
  }
  // Classes absent from both truth and predictions carry no information: leave them out of the mean.
  const present = perClass.filter((s) => s.support > 0 || s.predicted > 0);
  const macroF1 = present.length > 0 ? present.reduce((sum, s) => sum + s.f1, 0) / present.length : 0;
  return { classNames, confusion: confusion.map((r) => [...r]), perClass, macroF1, accuracy: total > 0 ? correct / total : 0, total };
}

export function classificationMetrics(truth: ArrayLike<number>, predicted: ArrayLike<number>, classNames: readonly string[]): ClassificationMetrics {
  const m = new ConfusionMatrix(classNames);
  m.addAll(truth, predicted);
  return m.metrics();
}

/** The per-class table and confusion matrix as fixed-width text. */
export function formatMetrics(m: ClassificationMetrics): string {
  const pct = (x: number) => x.toFixed(4);
  const width = Math.max(7, ...m.classNames.map((n) => n.length));
  const lines = [
    `${'class'.padEnd(width)}  precision  recall     f1         support`,
    ...m.perClass.map((s) => `${s.name.padEnd(width)}  ${pct(s.precision).padEnd(9)}  ${pct(s.recall).padEnd(9)}  ${pct(s.f1).padEnd(9)}  ${s.support}`),
    '',
    `macro F1 ${pct(m.macroF1)}   accuracy ${pct(m.accuracy)}   rows ${m.total}`,
    '',
    `confusion (rows: true, columns: predicted)`,
    `${''.padEnd(width)}  ${m.classNames.map((n) => n.padStart(8)).join(' ')}`,
    ...m.confusion.map((row, t) => `${m.classNames[t]!.padEnd(width)}  ${row.map((v) => String(v).padStart(8)).join(' ')}`),
  ];
  return lines.join('\n');
}
