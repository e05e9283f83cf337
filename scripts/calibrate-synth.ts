/**
 * Measures, on the 580 real LAMOST star spectra in ../shared/data/lamost, the instrument numbers
 * the synthetic survey uses (src/synth/instrument.ts) and prints them; docs/synthetic.md quotes
 * them. Run: `node --import tsx scripts/calibrate-synth.ts [data/lamost folder] [--json]`.
 *
 * What is measured, all on native LAMOST pixels (Δlog10 λ = 1e-4) unless said otherwise:
 * 1. how the header r-band S/N (SNRR / SN_R) relates to median(flux·√ivar) over 5600–7000 Å;
 * 2. the flux scale: log10 of the r-band median flux against log10 S/N;
 * 3. the noise profile σ(λ)/σ_r in 100 Å bins and its dependence on the local flux,
 *    σ(λ) = σ_r · P(λ) · (F(λ)/F_r)^β, fitted bin by bin across stars;
 * 4. extra noise and residuals at the strong sky lines;
 * 5. the mean depth of the telluric bands left in the spectra;
 * 6. the resolution R = λ/FWHM from the autocorrelation of high-S/N G/K spectra (many unresolved
 *    metal lines: the autocorrelation of a line forest seen through a Gaussian LSF is a Gaussian
 *    of width √2·σ_LSF);
 * 7. how often the resampled competition-grid spectra have zeroed or bridged pixel runs;
 * 8. on the competition grid, the red-end calibration residual and the cosmic-ray spikes
 *    (src/synth/artefact-stats.ts).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMPETITION_GRID } from '../src/io/batch.js';
import { openFits, readLamostFile, type LamostSpectrum } from '../src/io/fits.js';
import { countSpikes, redEndStatistic } from '../src/synth/artefact-stats.js';
import { SKY_LINES, TELLURIC_WINDOWS, airToVacuum } from '../src/synth/instrument.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const root = resolve(args.find((a) => !a.startsWith('--')) ?? fileURLToPath(new URL('../../shared/data/lamost/', import.meta.url)));

function median(values: ArrayLike<number>): number {
  const a = Float64Array.from(values).filter((x) => Number.isFinite(x)).sort();
  if (a.length === 0) return NaN;
  const m = a.length >> 1;
  return a.length % 2 ? a[m]! : 0.5 * (a[m - 1]! + a[m]!);
}
function percentile(values: ArrayLike<number>, p: number): number {
  const a = Float64Array.from(values).filter((x) => Number.isFinite(x)).sort();
  if (a.length === 0) return NaN;
  const at = (a.length - 1) * p;
  const lo = Math.floor(at);
  return a[lo]! + (a[Math.min(lo + 1, a.length - 1)]! - a[lo]!) * (at - lo);
}
/** Least-squares line y = slope·x + intercept; returns the residual standard deviation too. */
function fitLine(x: number[], y: number[]): { slope: number; intercept: number; scatter: number } {
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
  }
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (y[i]! - slope * x[i]! - intercept) ** 2;
  return { slope, intercept, scatter: Math.sqrt(ss / Math.max(1, n - 2)) };
}
/** Running median of `x` over `width` pixels (edges use the available part). */
function runningMedian(x: Float64Array, width: number): Float64Array {
  const out = new Float64Array(x.length);
  const half = width >> 1;
  for (let i = 0; i < x.length; i++) out[i] = median(x.subarray(Math.max(0, i - half), Math.min(x.length, i + half + 1)));
  return out;
}
function indexRange(w: Float64Array, lo: number, hi: number): [number, number] {
  let a = 0;
  while (a < w.length && w[a]! < lo) a++;
  let b = a;
  while (b < w.length && w[b]! < hi) b++;
  return [a, b];
}

interface Star {
  s: LamostSpectrum;
  type: string;
  sigma: Float64Array; // NaN where ivar = 0
  fluxR: number;
  sigmaR: number;
}

async function main() {
  const manifest = (await readFile(join(root, 'manifest.csv'), 'utf8')).trim().split('\n').slice(1);
  const files = manifest.map((line) => join(root, '..', line.split(',')[0]!));
  const stars: Star[] = [];
  for (const file of files) {
    const s = await readLamostFile(file);
    const sigma = s.ivar.map((v) => (v > 0 ? 1 / Math.sqrt(v) : NaN));
    const [r0, r1] = indexRange(s.wavelength, 5600, 7000);
    const fr: number[] = [];
    const sr: number[] = [];
    for (let i = r0; i < r1; i++) if (s.ivar[i]! > 0) {
      fr.push(s.flux[i]!);
      sr.push(sigma[i]!);
    }
    stars.push({ s, type: s.subclass.slice(0, 1), sigma, fluxR: median(fr), sigmaR: median(sr) });
  }
  const valid = (x: number) => Number.isFinite(x) && x > 0 && x < 900; // 999 and −9999 are pipeline sentinels

  // 1. Header S/N against median(F·√ivar) in 5600–7000 Å.
  const snrRatio: number[] = [];
  for (const st of stars) {
    if (!valid(st.s.snr)) continue;
    const [r0, r1] = indexRange(st.s.wavelength, 5600, 7000);
    const v: number[] = [];
    for (let i = r0; i < r1; i++) if (st.s.ivar[i]! > 0) v.push(st.s.flux[i]! * Math.sqrt(st.s.ivar[i]!));
    snrRatio.push(st.s.snr / median(v));
  }

  // 2. Flux scale against S/N.
  const lx: number[] = [];
  const ly: number[] = [];
  for (const st of stars) if (valid(st.s.snr) && st.fluxR > 0) {
    lx.push(Math.log10(st.s.snr));
    ly.push(Math.log10(st.fluxR));
  }
  const fluxScale = fitLine(lx, ly);

  // 3. Noise profile: per 100 Å bin, regress log(σ_bin/σ_r) on log(F_bin/F_r) across stars.
  const edges: number[] = [];
  for (let l = 3800; l < 9000; l += 100) edges.push(l);
  const profile: { lambda: number; P: number; beta: number; scatter: number }[] = [];
  const noisy = stars.filter((st) => valid(st.s.snr) && st.s.snr > 10 && st.fluxR > 0);
  for (const lo of edges) {
    const x: number[] = [];
    const y: number[] = [];
    for (const st of noisy) {
      const [a, b] = indexRange(st.s.wavelength, lo, lo + 100);
      const f: number[] = [];
      const sg: number[] = [];
      for (let i = a; i < b; i++) if (st.s.ivar[i]! > 0) {
        f.push(st.s.flux[i]!);
        sg.push(st.sigma[i]!);
      }
      if (sg.length < 10) continue;
      const fm = median(f);
      if (!(fm > 0)) continue;
      x.push(Math.log(fm / st.fluxR));
      y.push(Math.log(median(sg) / st.sigmaR));
    }
    const fit = fitLine(x, y);
    profile.push({ lambda: lo + 50, P: Math.exp(fit.intercept), beta: fit.slope, scatter: fit.scatter });
  }
  const beta = median(profile.map((p) => p.beta));

  // 4. Sky lines: σ at the line over σ of the neighbourhood, and residual rms in units of σ.
  // Stars with few metal lines (A/F), so stellar absorption does not pass for a sky residual;
  // the residual is then compared with the rms of the same statistic off the line.
  const sky: { name: string; lambda: number; noiseBoost: number; residualRms: number; offLineRms: number; excessRms: number; medianResidual: number; stars: number }[] = [];
  const hot = noisy.filter((st) => 'AF'.includes(st.type));
  for (const line of SKY_LINES) {
    const vac = airToVacuum(line.air);
    const boost: number[] = [];
    const res: number[] = [];
    const signed: number[] = [];
    const off: number[] = [];
    for (const st of hot) {
      const w = st.s.wavelength;
      const [a, b] = indexRange(w, vac - 30, vac + 30);
      if (b - a < 20) continue;
      const seg = st.s.flux.slice(a, b);
      const cont = runningMedian(seg, 15);
      let k = a;
      for (let i = a; i < b; i++) if (Math.abs(w[i]! - vac) < Math.abs(w[k]! - vac)) k = i;
      const near: number[] = [];
      const offz: number[] = [];
      for (let i = a; i < b; i++) {
        if (!(st.s.ivar[i]! > 0)) continue;
        const z = (st.s.flux[i]! - cont[i - a]!) / st.sigma[i]!;
        if (Math.abs(w[i]! - vac) > 8) {
          near.push(st.sigma[i]!);
          offz.push(z * z);
        }
      }
      if (!(st.s.ivar[k]! > 0) || near.length < 10) continue;
      boost.push(st.sigma[k]! / median(near));
      res.push(((st.s.flux[k]! - cont[k - a]!) / st.sigma[k]!) ** 2);
      signed.push((st.s.flux[k]! - cont[k - a]!) / st.sigma[k]!);
      off.push(median(offz));
    }
    const residualRms = Math.sqrt(median(res) / 0.455);
    const offLineRms = Math.sqrt(median(off) / 0.455);
    sky.push({ name: line.name, lambda: vac, noiseBoost: median(boost), residualRms, offLineRms, excessRms: Math.sqrt(Math.max(0, residualRms ** 2 - offLineRms ** 2)), medianResidual: median(signed), stars: boost.length });
  }

  // 5. Telluric bands: flux in the band over a line through the side windows (high-S/N A–G stars).
  const telluric: { name: string; meanDepth: number; p25: number; p75: number; spread: number; stars: number }[] = [];
  for (const band of TELLURIC_WINDOWS) {
    const depths: number[] = [];
    for (const st of stars) {
      if (!(valid(st.s.snr) && st.s.snr > 30 && 'AFG'.includes(st.type))) continue;
      const w = st.s.wavelength;
      const side = (lo: number, hi: number) => {
        const [a, b] = indexRange(w, lo, hi);
        const v: number[] = [];
        for (let i = a; i < b; i++) if (st.s.ivar[i]! > 0) v.push(st.s.flux[i]!);
        return { lambda: (lo + hi) / 2, flux: median(v) };
      };
      const left = side(band.continuum[0], band.continuum[1]);
      const right = side(band.continuum[2], band.continuum[3]);
      const inBand = side(band.lo, band.hi);
      const expected = left.flux + ((right.flux - left.flux) * (inBand.lambda - left.lambda)) / (right.lambda - left.lambda);
      if (expected > 0 && Number.isFinite(inBand.flux)) depths.push(1 - inBand.flux / expected);
    }
    const p25 = percentile(depths, 0.25);
    const p75 = percentile(depths, 0.75);
    telluric.push({ name: band.name, meanDepth: median(depths), p25, p75, spread: (p75 - p25) / 1.349, stars: depths.length });
  }

  // 6. Resolution from the autocorrelation of continuum-normalised G/K spectra.
  const lsf: { arm: string; range: [number, number]; sigmaPixels: number; R: number; spectra: number }[] = [];
  const kmsPerPixel = 299792.458 * Math.LN10 * 1e-4;
  for (const [arm, lo, hi] of [['blue', 4400, 5300], ['red', 6000, 6500]] as const) {
    const widths: number[] = [];
    for (const st of stars) {
      if (!(valid(st.s.snr) && st.s.snr > 40 && 'GK'.includes(st.type))) continue;
      const [a, b] = indexRange(st.s.wavelength, lo, hi);
      let ok = true;
      for (let i = a; i < b; i++) if (!(st.s.ivar[i]! > 0)) ok = false;
      if (!ok) continue;
      const seg = st.s.flux.slice(a, b);
      const cont = runningMedian(seg, 31);
      const r = seg.map((f, i) => f / cont[i]! - 1);
      const mean = r.reduce((s, v) => s + v, 0) / r.length;
      const acf: number[] = [];
      for (let lag = 0; lag <= 5; lag++) {
        let s = 0;
        for (let i = 0; i + lag < r.length; i++) s += (r[i]! - mean) * (r[i + lag]! - mean);
        acf.push(s);
      }
      const x: number[] = [];
      const y: number[] = [];
      for (let lag = 1; lag <= 5; lag++) if (acf[lag]! / acf[0]! > 0.02) {
        x.push(lag * lag);
        y.push(Math.log(acf[lag]! / acf[0]!));
      }
      if (x.length < 3) continue;
      const fit = fitLine(x, y);
      if (fit.slope < 0) widths.push(Math.sqrt(-1 / (4 * fit.slope)));
    }
    const sigmaPixels = median(widths);
    lsf.push({ arm, range: [lo, hi], sigmaPixels, R: 299792.458 / (sigmaPixels * 2.35482 * kmsPerPixel), spectra: widths.length });
  }

  // 7. Zeroed and bridged runs on the competition grid, as the peer files would show them.
  const source = await openFits(files);
  let spectra = 0;
  let leading = 0;
  let trailing = 0;
  const leadingLengths: number[] = [];
  const trailingLengths: number[] = [];
  let interiorZeroRuns = 0;
  let bridgedRuns = 0;
  const zeroRunLengths: number[] = [];
  const bridgedPerBin = new Array<number>(Math.ceil((COMPETITION_GRID.length * COMPETITION_GRID.step) / 100)).fill(0);
  const bridgedRunLengths: number[] = [];
  const redEnd: number[] = [];
  const spikes: number[] = [];
  const n = COMPETITION_GRID.length;
  for await (const batch of source.batches()) {
    for (let r = 0; r < batch.ids.length; r++) {
      spectra++;
      const f = batch.flux.subarray(r * n, (r + 1) * n);
      const bad = batch.badPixels!.subarray(r * n, (r + 1) * n);
      const red = redEndStatistic(f, batch.grid);
      if (Number.isFinite(red)) redEnd.push(red);
      spikes.push(countSpikes(f));
      if (f[0] === 0 && bad[0]) {
        leading++;
        let j = 0;
        while (j < n && bad[j] && f[j] === 0) j++;
        leadingLengths.push(j);
      }
      if (f[n - 1] === 0 && bad[n - 1]) {
        trailing++;
        let j = n - 1;
        while (j >= 0 && bad[j] && f[j] === 0) j--;
        trailingLengths.push(n - 1 - j);
      }
      for (let i = 0; i < n; ) {
        const zero = f[i] === 0 && !bad[i];
        const bridged = bad[i] === 1 && f[i] !== 0;
        if (!zero && !bridged) {
          i++;
          continue;
        }
        let j = i;
        while (j < n && (zero ? f[j] === 0 && !bad[j] : bad[j] === 1 && f[j] !== 0)) j++;
        if (zero) {
          interiorZeroRuns++;
          zeroRunLengths.push(j - i);
        } else {
          bridgedRuns++;
          bridgedRunLengths.push(j - i);
          bridgedPerBin[Math.floor((i * COMPETITION_GRID.step) / 100)]!++;
        }
        i = j;
      }
    }
  }

  const result = {
    spectra: stars.length,
    redEnd: {
      definition: 'median flux 8560-8760 A / line between 8330-8450 and 8860-8960 A medians - 1',
      quantiles: [0.02, 0.1, 0.5, 0.9, 0.98].map((p) => percentile(redEnd, p)),
      beyond5Percent: redEnd.filter((x) => Math.abs(x) > 0.05).length / redEnd.length,
      n: redEnd.length,
    },
    spikes: { definition: 'pixels >= 10 sigma and >= 1.5x above their 9-pixel median', perSpectrum: spikes.reduce((a, b) => a + b, 0) / spikes.length, withAny: spikes.filter((x) => x > 0).length / spikes.length },
    snr: { definition: 'header SNRR (DR9+) or SN_R (DR1-8) / median(flux*sqrt(ivar)) over 5600-7000 A', median: median(snrRatio), p10: percentile(snrRatio, 0.1), p90: percentile(snrRatio, 0.9), n: snrRatio.length },
    fluxScale: { relation: 'log10 median r-band flux = slope*log10(SNR) + intercept', slope: fluxScale.slope, intercept: fluxScale.intercept, scatterDex: fluxScale.scatter, n: lx.length },
    noise: { relation: 'sigma(lambda) = sigma_r * P(lambda) * (F(lambda)/F_r)^beta', beta, profile },
    sky,
    telluric,
    lsf,
    badPixels: {
      spectra,
      leadingZeroFraction: leading / spectra,
      leadingLength: { median: median(leadingLengths), max: Math.max(0, ...leadingLengths) },
      trailingZeroFraction: trailing / spectra,
      trailingLength: { median: median(trailingLengths), max: Math.max(0, ...trailingLengths) },
      interiorZeroRunsPerSpectrum: interiorZeroRuns / spectra,
      bridgedRunsPerSpectrum: bridgedRuns / spectra,
      zeroRunLength: { median: median(zeroRunLengths), max: Math.max(0, ...zeroRunLengths) },
      bridgedRunLength: { median: median(bridgedRunLengths), mean: bridgedRunLengths.reduce((a, b) => a + b, 0) / bridgedRunLengths.length, p90: percentile(bridgedRunLengths, 0.9), max: Math.max(0, ...bridgedRunLengths) },
      bridgedRunsPer100A: bridgedPerBin.map((c) => c / spectra),
      leadingQuantiles: [0.1, 0.3, 0.5, 0.7, 0.9].map((p) => percentile(leadingLengths, p)),
      trailingQuantiles: [0.1, 0.3, 0.5, 0.7, 0.9].map((p) => percentile(trailingLengths, p)),
    },
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const f = (x: number, d = 3) => x.toFixed(d);
  const lines = [
    `LAMOST calibration from ${result.spectra} real star spectra in ${root}`,
    `S/N: header / median(F*sqrt(ivar)) in 5600-7000 A = ${f(result.snr.median)} (10-90%: ${f(result.snr.p10)}-${f(result.snr.p90)}, n=${result.snr.n})`,
    `flux scale: log10 F_r = ${f(fluxScale.slope)} log10 SNR + ${f(fluxScale.intercept)}  (scatter ${f(fluxScale.scatter)} dex, n=${lx.length})`,
    `noise: sigma = sigma_r * P(lambda) * (F/F_r)^beta, median beta = ${f(beta, 2)}`,
    '  lambda   P      beta   scatter(ln)',
    ...profile.map((p) => `  ${p.lambda}   ${f(p.P, 2).padStart(5)}  ${f(p.beta, 2).padStart(5)}  ${f(p.scatter, 2)}`),
    'sky lines (vacuum A, A/F stars): noise boost at the line, residual rms / sigma at the line, off-line rms / sigma, excess = sqrt(residual^2 - off-line^2)',
    ...sky.map((s) => `  ${s.name.padEnd(10)} ${f(s.lambda, 1)}  boost ${f(s.noiseBoost, 2)}  residual ${f(s.residualRms, 2)}  off-line ${f(s.offLineRms, 2)}  excess ${f(s.excessRms, 2)}  median ${f(s.medianResidual, 2)}  (n=${s.stars})`),
    'telluric bands (A-G stars, S/N > 30): median depth (25-75%)',
    ...telluric.map((t) => `  ${t.name.padEnd(10)} ${f(t.meanDepth)} (${f(t.p25)} - ${f(t.p75)}; sd from IQR ${f(t.spread)}), n=${t.stars}`),
    'resolution (autocorrelation of G/K spectra, S/N > 40):',
    ...lsf.map((l) => `  ${l.arm.padEnd(5)} ${l.range[0]}-${l.range[1]} A: sigma ${f(l.sigmaPixels, 2)} px = R ${l.R.toFixed(0)} (n=${l.spectra})`),
    `competition grid: leading zeros in ${f(result.badPixels.leadingZeroFraction)} of spectra (median ${result.badPixels.leadingLength.median} px), ` +
      `trailing zeros in ${f(result.badPixels.trailingZeroFraction)} (median ${result.badPixels.trailingLength.median} px); ` +
      `interior zero runs ${f(result.badPixels.interiorZeroRunsPerSpectrum)} and bridged runs ${f(result.badPixels.bridgedRunsPerSpectrum)} per spectrum; ` +
      `bridged run length median ${result.badPixels.bridgedRunLength.median}, 90% ${result.badPixels.bridgedRunLength.p90}, max ${result.badPixels.bridgedRunLength.max}; ` +
      `zero run length median ${result.badPixels.zeroRunLength.median}, max ${result.badPixels.zeroRunLength.max}`,
    `  bridged run length mean ${f(result.badPixels.bridgedRunLength.mean, 2)}; leading length 10/30/50/70/90%: ${result.badPixels.leadingQuantiles.map((x) => x.toFixed(0)).join(' ')}; trailing: ${result.badPixels.trailingQuantiles.map((x) => x.toFixed(0)).join(' ')}`,
    `  bridged runs per spectrum per 100 A bin from 3800 A: ${result.badPixels.bridgedRunsPer100A.map((x) => x.toFixed(2)).join(' ')}`,
    `red-end residual (${result.redEnd.definition}): 2/10/50/90/98% ${result.redEnd.quantiles.map((x) => f(x)).join(' ')}, beyond +-0.05 in ${f(result.redEnd.beyond5Percent)} (n=${result.redEnd.n})`,
    `spikes (${result.spikes.definition}): ${f(result.spikes.perSpectrum, 2)} per spectrum, in ${f(result.spikes.withAny)} of spectra`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
