/**
 * Probability calibration: temperature scaling (Guo et al. 2017, "On Calibration of Modern
 * Neural Networks", ICML) and the expected calibration error it is judged by.
 *
 * Temperature scaling divides the logits by one scalar T > 0 before the softmax. Since
 * softmax(z/T) = normalise(p^(1/T)) for p = softmax(z), T can be fitted from the model's
 * probabilities alone; it never changes which class wins, only how confident the answer is.
 */

/** Smallest probability used inside a logarithm (float32 softmax outputs can be exactly 0). */
const P_FLOOR = 1e-12;

/** p^(1/T), renormalised, for one row of k probabilities, written into `out`. */
export function applyTemperatureRow(p: ArrayLike<number>, temperature: number, out: Float64Array | Float32Array, offset = 0, k = out.length): void {
  let max = -Infinity;
  for (let j = 0; j < k; j++) max = Math.max(max, Math.log(Math.max(p[offset + j]!, P_FLOOR)) / temperature);
  let sum = 0;
  for (let j = 0; j < k; j++) {
    const v = Math.exp(Math.log(Math.max(p[offset + j]!, P_FLOOR)) / temperature - max);
    out[j] = v;
    sum += v;
  }
  for (let j = 0; j < k; j++) out[j]! /= sum;
}

/** Mean negative log-likelihood of the true classes after temperature T. */
export function meanNll(probabilities: Float32Array, labels: Int8Array, k: number, temperature = 1): number {
  const row = new Float64Array(k);
  let sum = 0;
  for (let r = 0; r < labels.length; r++) {
    applyTemperatureRow(probabilities, temperature, row, r * k, k);
    sum -= Math.log(Math.max(row[labels[r]!]!, P_FLOOR));
  }
  return sum / labels.length;
}

export interface TemperatureFit {
  temperature: number;
  nllBefore: number;
  nllAfter: number;
}

/**
 * The T in [0.05, 20] that minimises the mean NLL on labelled rows (golden-section search on
 * ln T; the NLL is convex in 1/T).
 */
export function fitTemperature(probabilities: Float32Array, labels: Int8Array, k: number): TemperatureFit {
  if (labels.length === 0) throw new RangeError('fitTemperature: no labelled rows');
  if (probabilities.length !== labels.length * k) throw new RangeError(`fitTemperature: ${probabilities.length} probabilities for ${labels.length} rows × ${k} classes`);
  const f = (lnT: number) => meanNll(probabilities, labels, k, Math.exp(lnT));
  let a = Math.log(0.05);
  let b = Math.log(20);
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = b - g * (b - a);
  let x2 = a + g * (b - a);
  let f1 = f(x1);
  let f2 = f(x2);
  for (let i = 0; i < 60 && b - a > 1e-5; i++) {
    if (f1 < f2) {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = b - g * (b - a);
      f1 = f(x1);
    } else {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + g * (b - a);
      f2 = f(x2);
    }
  }
  const temperature = Math.exp((a + b) / 2);
  return { temperature, nllBefore: f(0), nllAfter: f(Math.log(temperature)) };
}

export interface CalibrationError {
  /** Expected calibration error: Σ_b (n_b/N)·|accuracy_b − confidence_b| over confidence bins. */
  ece: number;
  bins: { lo: number; hi: number; count: number; accuracy: number; confidence: number }[];
}

/** ECE of the top-label confidence in `binCount` equal-width bins (Naeini et al. 2015; Guo et al. 2017 use 15). */
export function expectedCalibrationError(probabilities: ArrayLike<number>, labels: ArrayLike<number>, k: number, binCount = 15): CalibrationError {
  const count = new Array<number>(binCount).fill(0);
  const hits = new Array<number>(binCount).fill(0);
  const conf = new Array<number>(binCount).fill(0);
  const n = labels.length;
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (probabilities[r * k + j]! > probabilities[r * k + best]!) best = j;
    const c = probabilities[r * k + best]!;
    const b = Math.min(binCount - 1, Math.floor(c * binCount));
    count[b]!++;
    conf[b]! += c;
    if (best === labels[r]) hits[b]!++;
  }
  let ece = 0;
  const bins = count.map((m, b) => {
    const accuracy = m > 0 ? hits[b]! / m : 0;
    const confidence = m > 0 ? conf[b]! / m : 0;
    ece += n > 0 ? (m / n) * Math.abs(accuracy - confidence) : 0;
    return { lo: b / binCount, hi: (b + 1) / binCount, count: m, accuracy, confidence };
  });
  return { ece, bins };
}
