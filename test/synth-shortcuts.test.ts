/**
 * No instrument shortcuts in the synthetic survey: at a fixed S/N, the parts of a spectrum that
 * come from the instrument model — noise level, missing and bridged pixels, flux scale — must
 * not tell a star from a galaxy or a QSO. A network trained on a survey where they did could
 * score well on it by learning the simulator instead of the spectra.
 *
 * A multinomial logistic regression on those statistics, fitted on one half of a balanced survey
 * and scored on the other, must stay near chance (1/3 balanced accuracy).
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { generateSurvey, type Generator } from '../src/synth/survey.js';

const PIXELS = 2600;

/** Instrument-only statistics of one observed spectrum (flux only, as any file carries it). */
function instrumentStatistics(flux: Float32Array): number[] {
  // r band (5600–7000 Å) on the competition grid.
  const r0 = 900;
  const r1 = 1600;
  const band = Array.from(flux.subarray(r0, r1)).filter((v) => v !== 0);
  const sorted = [...band].sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1] ?? 0;
  const diffs = band.slice(1).map((v, i) => Math.abs(v - band[i]!)).sort((a, b) => a - b);
  const mad = diffs[diffs.length >> 1] ?? 0;
  let zeros = 0;
  let bridged = 0;
  let runs = 0;
  let inRun = false;
  for (let i = 1; i < PIXELS - 1; i++) {
    if (flux[i] === 0) zeros++;
    const a = flux[i - 1]!;
    const b = flux[i]!;
    const c = flux[i + 1]!;
    // A straight-line bridge has zero second difference up to float32 rounding.
    const straight = b !== 0 && Math.abs(a - 2 * b + c) <= 1e-5 * Math.max(Math.abs(a), Math.abs(b), Math.abs(c));
    if (straight) bridged++;
    if (straight && !inRun) runs++;
    inRun = straight;
  }
  let lead = 0;
  while (lead < PIXELS && flux[lead] === 0) lead++;
  let trail = 0;
  while (trail < PIXELS && flux[PIXELS - 1 - trail] === 0) trail++;
  return [median !== 0 ? mad / Math.abs(median) : 0, Math.log10(Math.abs(median) + 1e-3), zeros, bridged, runs, lead, trail];
}

/** Balanced accuracy of a softmax regression fitted by gradient descent on standardised features. */
function logisticRegressionScore(x: number[][], y: number[], trainShare = 0.5): number {
  const n = x.length;
  const d = x[0]!.length;
  const mean = new Array<number>(d).fill(0);
  const sd = new Array<number>(d).fill(0);
  for (const row of x) row.forEach((v, j) => (mean[j]! += v / n));
  for (const row of x) row.forEach((v, j) => (sd[j]! += (v - mean[j]!) ** 2 / n));
  const z = x.map((row) => row.map((v, j) => (v - mean[j]!) / (Math.sqrt(sd[j]!) || 1)));
  const split = Math.floor(n * trainShare);
  const w = Array.from({ length: 3 }, () => new Array<number>(d + 1).fill(0));
  const probs = (row: number[]) => {
    const s = w.map((wc) => wc[d]! + row.reduce((acc, v, j) => acc + v * wc[j]!, 0));
    const m = Math.max(...s);
    const e = s.map((v) => Math.exp(v - m));
    const t = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / t);
  };
  for (let iter = 0; iter < 300; iter++) {
    const grad = Array.from({ length: 3 }, () => new Array<number>(d + 1).fill(0));
    for (let i = 0; i < split; i++) {
      const p = probs(z[i]!);
      for (let c = 0; c < 3; c++) {
        const g = p[c]! - (y[i] === c ? 1 : 0);
        for (let j = 0; j < d; j++) grad[c]![j]! += (g * z[i]![j]!) / split;
        grad[c]![d]! += g / split;
      }
    }
    for (let c = 0; c < 3; c++) for (let j = 0; j <= d; j++) w[c]![j]! -= 0.5 * grad[c]![j]!;
  }
  const hit = [0, 0, 0];
  const count = [0, 0, 0];
  for (let i = split; i < n; i++) {
    const p = probs(z[i]!);
    const best = p.indexOf(Math.max(...p));
    count[y[i]!]!++;
    if (best === y[i]) hit[y[i]!]!++;
  }
  return (hit[0]! / count[0]! + hit[1]! / count[1]! + hit[2]! / count[2]!) / 3;
}

function surveyStatistics(generator: Generator, snr: number, n: number): { x: number[][]; y: number[] } {
  const x: number[][] = [];
  const y: number[] = [];
  for (const batch of generateSurvey({ n, seed: 77, mix: [1, 1, 1], snrRange: [snr, snr], generator })) {
    for (let r = 0; r < batch.ids.length; r++) {
      x.push(instrumentStatistics(batch.flux.subarray(r * PIXELS, (r + 1) * PIXELS)));
      y.push(batch.labels![r]!);
    }
  }
  return { x, y };
}

for (const generator of ['physics', 'templates'] as const) {
  test(`${generator} survey: instrument statistics at fixed S/N don't reveal the class`, (t) => {
    for (const snr of [5, 30]) {
      const { x, y } = surveyStatistics(generator, snr, 1500);
      const score = logisticRegressionScore(x, y);
      t.diagnostic(`${generator}, S/N ${snr}: balanced accuracy ${score.toFixed(3)} (chance 0.333)`);
      if (snr === 5) {
        // The same classifier does find a shortcut when there is one: a statistic whose class
        // means differ by about two of its standard deviations.
        const leaky = x.map((row, i) => [...row, y[i]! + Math.sin(i * 12.9898) * 0.8]);
        assert.ok(logisticRegressionScore(leaky, y) > 0.5, 'the regression finds a planted shortcut');
      }
      // Chance is 0.333; the bound leaves room for sampling noise on 750 test spectra and for
      // genuine physics (e.g. emission lines raise the r-band pixel-to-pixel scatter a little).
      assert.ok(score < 0.45, `${generator}, S/N ${snr}: balanced accuracy ${score.toFixed(3)} from instrument statistics alone`);
    }
  });
}
