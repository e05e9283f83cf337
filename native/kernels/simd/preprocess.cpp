// Row kernels of the preprocessing chain, compiled once per instruction set (namespace
// astro::ASTRO_ISA_NS). Vectors are GCC/Clang vector extensions whose width follows the
// compile flags (16 floats with AVX-512, 8 with AVX2, 4 with SSE2), so one source gives every
// variant; tails are copied into a zero-padded block, and zero is a masked pixel anyway.
//
// Per row the raw flux is read from memory once (the stats pass); the fit/normalise pass
// re-reads it from L1/L2, and the residual passes touch only per-thread scratch.
#include <cfloat>
#include <cstddef>
#include <cstdint>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "kernels/preprocess_isa.h"

#ifndef ASTRO_ISA_NS
#error "ASTRO_ISA_NS must name the instruction-set namespace (see kernels.cmake)"
#endif

namespace astro {
namespace ASTRO_ISA_NS {
namespace {

using preprocess_detail::Plan;
using preprocess_detail::Scratch;

#if defined(__AVX512F__)
constexpr int W = 16;
#elif defined(__AVX2__)
constexpr int W = 8;
#else
constexpr int W = 4;
#endif
static_assert(W <= static_cast<int>(preprocess_detail::kMaxLanes), "tables are padded to kMaxLanes");

typedef float vf __attribute__((vector_size(W * 4)));
typedef int32_t vi __attribute__((vector_size(W * 4)));
typedef uint32_t vu __attribute__((vector_size(W * 4)));
typedef float vfh __attribute__((vector_size(W * 2)));  // half a vf
typedef double vd __attribute__((vector_size(W * 4)));  // W/2 doubles
typedef uint8_t vb __attribute__((vector_size(W)));

constexpr float kNaN = __builtin_nanf("");
constexpr float kInf = __builtin_inff();

inline vf load(const float* p) {
  vf v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, vf v) { __builtin_memcpy(p, &v, sizeof v); }
inline vf splat(float x) { return vf{} + x; }
inline vf keep(vi m, vf a) { return (vf)((vi)a & m); }
inline vf vabs(vf x) { return (vf)((vi)x & 0x7fffffff); }
inline vf vmin(vf a, vf b) { return a < b ? a : b; }
inline vf vmax(vf a, vf b) { return a > b ? a : b; }

// Valid pixel: finite and at least the smallest normal float (zero and subnormals are
// "no data"), and not flagged in the optional bad-pixel mask.
inline vi valid_mask(vf x) {
  vf ax = vabs(x);
  return (ax >= FLT_MIN) & (ax <= FLT_MAX);
}
// Bad-pixel bytes → lane mask (GCC scalarises __builtin_convertvector of bytes, so widen
// with the ISA's zero-extension).
inline vi not_flagged(const uint8_t* p) {
#if defined(__AVX512F__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's own _mm512_undefined_epi32
  return (vi)_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))) == 0;
#pragma GCC diagnostic pop
#elif defined(__AVX2__)
  return (vi)_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))) == 0;
#else
  vi v;
  for (int k = 0; k < W; ++k) v[k] = p[k];
  return v == 0;
#endif
}

inline float hsum(vf v) {
  float s = 0;
  for (int i = 0; i < W; ++i) s += v[i];
  return s;
}
inline double hsum(vd v) {
  double s = 0;
  for (int i = 0; i < W / 2; ++i) s += v[i];
  return s;
}

// Natural log of positive normal floats: Cephes logf (range reduction to [√½, √2), degree-8
// polynomial), max relative error about 2 ulp; tested against std::log in preprocess_test.
inline vf vlog(vf x) {
  vi bits = (vi)x;
  vi e = (bits >> 23) - 126;
  vf m = (vf)((bits & 0x007FFFFF) | 0x3F000000);  // [0.5, 1)
  vi small = m < 0.707106781186547524f;
  e = e + small;  // small lanes are -1: the mantissa is doubled below
  vf t = m - 1.0f + keep(small, m);
  vf z = t * t;
  vf p = splat(7.0376836292E-2f);
  p = p * t + -1.1514610310E-1f;
  p = p * t + 1.1676998740E-1f;
  p = p * t + -1.2420140846E-1f;
  p = p * t + 1.4249322787E-1f;
  p = p * t + -1.6668057665E-1f;
  p = p * t + 2.0000714765E-1f;
  p = p * t + -2.4999993993E-1f;
  p = p * t + 3.3333331174E-1f;
  vf ef = __builtin_convertvector(e, vf);
  vf y = t * z * p;
  y = y + ef * -2.12194440e-4f;
  y = y + z * -0.5f;
  return t + y + ef * 0.693359375f;
}

// cos(2πu) for u in [0, 1): reduce to a quarter turn, then Taylor polynomials on |θ| ≤ π/4
// (truncation error below 4e-7).
inline vf vcos_turns(vf u) {
  vf v = u - keep(u >= 0.5f, splat(1.0f));  // [-0.5, 0.5)
  vi q = __builtin_convertvector(v * 4.0f + 4.5f, vi) - 4;  // round(4v) in -2 … 2
  vf r = (v - __builtin_convertvector(q, vf) * 0.25f) * 6.28318530717958648f;
  vf r2 = r * r;
  vf c = 1.0f + r2 * (-0.5f + r2 * (4.16666667e-2f + r2 * (-1.38888889e-3f + r2 * 2.48015873e-5f)));
  vf s = r * (1.0f + r2 * (-1.66666667e-1f + r2 * (8.33333333e-3f + r2 * -1.98412698e-4f)));
  vi quadrant = q & 3;
  vf out = quadrant == 0 ? c : (quadrant == 1 ? -s : (quadrant == 2 ? -c : s));
  return out;
}

// Calls body(i, x, ok, tail) for each block of W pixels of a row: full vector loads, then
// the tail copied into a zero-padded block (zero is a masked pixel, so padding never counts).
// `ok` is the valid-pixel mask. The loop is instantiated with and without a bad-pixel mask.
template <typename Body>
inline void for_blocks(const float* x, const uint8_t* bad, size_t n, Body&& body) {
  size_t i = 0;
  if (bad) {
    for (; i + W <= n; i += W) {
      vf v = load(x + i);
      body(i, v, valid_mask(v) & not_flagged(bad + i), false);
    }
  } else {
    for (; i + W <= n; i += W) {
      vf v = load(x + i);
      body(i, v, valid_mask(v), false);
    }
  }
  if (i < n) {
    float tx[W] = {};
    uint8_t tb[W] = {};
    for (size_t k = 0; i + k < n; ++k) {
      tx[k] = x[i + k];
      if (bad) tb[k] = bad[i + k];
    }
    vf v = load(tx);
    body(i, v, valid_mask(v) & not_flagged(tb), true);
  }
}
inline void store_block(float* out, size_t i, size_t n, vf v, bool tail) {
  if (!tail) {
    store(out + i, v);
  } else {
    for (size_t k = 0; i + k < n; ++k) out[i + k] = v[k];
  }
}
inline void add_halves(vf v, vd* sum) {
  vfh lo, hi;
  __builtin_memcpy(&lo, &v, sizeof lo);
  __builtin_memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof lo, sizeof hi);
  *sum += __builtin_convertvector(lo, vd) + __builtin_convertvector(hi, vd);
}

struct Stats {
  double count = 0, sum = 0, sumsq = 0;
  float min = kInf, max = -kInf;
};

// One read of the row: count, Σx and Σx², min and max of the valid pixels. Sums run in
// float over blocks of kFlushBlocks vectors, then in double: the float part sees at most
// kFlushBlocks terms per lane. Rows whose largest |x| is beyond 1e18 or below 1e-18 (whose
// squares could overflow or underflow float) are summed again in double lanes.
constexpr int kFlushBlocks = 16;
Stats row_stats(const float* x, const uint8_t* bad, size_t n) {
  vf count = vf{}, mn = splat(kInf), mx = splat(-kInf), bs = vf{}, bq = vf{};
  vd sum = vd{}, sumsq = vd{};
  int pending = 0;
  for_blocks(x, bad, n, [&](size_t, vf v, vi ok, bool) {
    vf xm = keep(ok, v);
    count += keep(ok, splat(1.0f));
    mn = vmin(mn, ok ? v : splat(kInf));
    mx = vmax(mx, ok ? v : splat(-kInf));
    bs += xm;
    bq += xm * xm;
    if (++pending == kFlushBlocks) {
      add_halves(bs, &sum);
      add_halves(bq, &sumsq);
      bs = bq = vf{};
      pending = 0;
    }
  });
  add_halves(bs, &sum);
  add_halves(bq, &sumsq);
  Stats s;
  s.count = hsum(count);
  s.sum = hsum(sum);
  s.sumsq = hsum(sumsq);
  for (int k = 0; k < W; ++k) {
    if (mn[k] < s.min) s.min = mn[k];
    if (mx[k] > s.max) s.max = mx[k];
  }
  const float amax = s.max > -s.min ? s.max : -s.min;
  if (amax > 1e18f || amax < 1e-18f) {
    vd wide_sum = vd{}, wide_sumsq = vd{};
    for_blocks(x, bad, n, [&](size_t, vf v, vi ok, bool) {
      vf xm = keep(ok, v);
      vfh lo, hi;
      __builtin_memcpy(&lo, &xm, sizeof lo);
      __builtin_memcpy(&hi, reinterpret_cast<const char*>(&xm) + sizeof lo, sizeof hi);
      vd dlo = __builtin_convertvector(lo, vd), dhi = __builtin_convertvector(hi, vd);
      wide_sum += dlo + dhi;
      wide_sumsq += dlo * dlo + dhi * dhi;
    });
    s.sum = hsum(wide_sum);
    s.sumsq = hsum(wide_sumsq);
  }
  return s;
}

// Normalisation as y = (x - offset)·factor. `ok` is false when the denominator is zero or
// its inverse is not a finite float32 (the row is then written as zeros and flagged). When
// the factor is below FLT_MIN (e.g. 'sum' of 1000 pixels near 3e38) float32 would lose its
// digits, and the row is written in double instead (`narrow`).
constexpr double kMinRelativeRange = 1e-6;
struct Scale {
  float offset = 0, factor = 0;
  double inverse = 0;
  bool ok = false, narrow = false;
};
Scale normalisation_scale(Normalisation norm, const Stats& s, double median) {
  Scale scale;
  double denominator = 1;
  switch (norm) {
    case Normalisation::none: break;
    case Normalisation::l2: denominator = __builtin_sqrt(s.sumsq); break;
    case Normalisation::sum: denominator = __builtin_fabs(s.sum); break;
    case Normalisation::median: denominator = __builtin_fabs(median); break;
    case Normalisation::minmax:
      scale.offset = s.min;
      denominator = static_cast<double>(s.max) - static_cast<double>(s.min);
      break;
  }
  double inverse = 1.0 / denominator;
  if (s.count == 0 || !(denominator > 0) || !(inverse <= FLT_MAX)) return Scale{};  // zeros
  // A range within float32 rounding of the values (a flat row, maybe smoothed) is no range.
  if (norm == Normalisation::minmax &&
      denominator < kMinRelativeRange * __builtin_fmax(__builtin_fabs(s.min), __builtin_fabs(s.max)))
    return Scale{};
  scale.inverse = inverse;
  scale.factor = static_cast<float>(inverse);
  scale.ok = true;
  scale.narrow = inverse < FLT_MIN;
  return scale;
}

// Writes (x - offset)·factor at valid pixels and 0 elsewhere.
void write_normalised(const float* x, const uint8_t* bad, size_t n, const Scale& scale, float* out) {
  if (scale.narrow) {
    for (size_t i = 0; i < n; ++i) {
      float v = x[i], a = __builtin_fabsf(v);
      bool ok = a >= FLT_MIN && a <= FLT_MAX && !(bad && bad[i]);
      out[i] = ok ? static_cast<float>((static_cast<double>(v) - scale.offset) * scale.inverse) : 0.0f;
    }
    return;
  }
  const float offset = scale.offset, factor = scale.factor;
  for_blocks(x, bad, n, [&](size_t i, vf v, vi ok, bool tail) {
    store_block(out, i, n, keep(ok, (v - offset) * factor), tail);
  });
}

double median_of_valid(const Plan& plan, const float* x, const uint8_t* bad, size_t n, float* values) {
  size_t m = 0;
  for (size_t i = 0; i < n; ++i) {
    float v = x[i], a = __builtin_fabsf(v);
    if (a >= FLT_MIN && a <= FLT_MAX && !(bad && bad[i])) values[m++] = v;
  }
  return plan.median(values, m);
}

struct FitSums {
  double s0 = 0, s1 = 0, s2 = 0, sy = 0, suy = 0, count = 0;
  // Σd and Σd² of d = x·scale − centre over valid pixels: the variance without the
  // cancellation of Σx²/n − mean² (scale is a power of two, so x·scale is exact).
  double d1 = 0, d2 = 0;
};
struct Line {
  double a = 0, b = 0, mean_y = 0;
  bool ok = false;
};

// Weighted least squares y = a + b·u from the moment sums. The weighted variance of u must
// reach kMinFitVariance (u spans [-1, 1]): below it the weight sits on a sliver of the grid.
constexpr double kMinFitVariance = 1e-4;
Line solve(const FitSums& s) {
  Line line;
  if (s.count < 3 || !(s.s0 > 0)) return line;
  double mu = s.s1 / s.s0, my = s.sy / s.s0;
  double cuu = s.s2 / s.s0 - mu * mu, cuy = s.suy / s.s0 - mu * my;
  if (!(cuu >= kMinFitVariance)) return line;
  line.b = cuy / cuu;
  line.a = my - line.b * mu;
  line.mean_y = my;
  line.ok = true;
  return line;
}

// The fit pass over a row already in cache. For each positive valid pixel, with z = F / F_max:
//   y' = ln z + g_i   (g_i = 5 ln λ_i − const),  w = z²,
// the weights of least squares in ln space under constant flux noise (σ_lnF = σ_F / F).
// Scratch y holds y' (NaN where unusable), w the weight. When `out` is set the same pass
// writes (x − offset)·factor there, so the normalised row costs no extra read.
template <bool kFit, bool kWrite>
FitSums fit_pass(const Plan& plan, const float* x, const uint8_t* bad, size_t n, float inv_max, float moment_scale,
                 float moment_centre, float offset, float factor, float* __restrict out, float* __restrict ys,
                 float* __restrict ws) {
  vf s0 = vf{}, s1 = vf{}, s2 = vf{}, sy = vf{}, suy = vf{}, count = vf{}, d1 = vf{}, d2 = vf{};
  const float* __restrict u_table = plan.u;
  const float* __restrict g_table = plan.g;
  for_blocks(x, bad, n, [&](size_t i, vf v, vi ok, bool tail) {
    if (kWrite) store_block(out, i, n, keep(ok, (v - offset) * factor), tail);
    if (kFit) {
      vf d = keep(ok, v * moment_scale - moment_centre);
      d1 += d;
      d2 += d * d;
      vi pos = ok & (v > 0.0f);
      vf z = v * inv_max;
      // z below FLT_MIN (a pixel 1e38 times fainter than the brightest) has zero weight; its
      // log is then finite but meaningless, and only the clip test sees it (and drops it).
      vf ly = vlog(pos ? z : splat(1.0f));
      vf w = keep(pos, z * z);
      vf u = load(u_table + i), g = load(g_table + i);
      vf y = pos ? ly + g : splat(kNaN);
      store(ys + i, y);
      store(ws + i, w);
      vf yz = keep(pos, y);
      vf wu = w * u;
      s0 += w;
      s1 += wu;
      s2 += wu * u;
      sy += w * yz;
      suy += wu * yz;
      count += keep(pos, splat(1.0f));
    }
  });
  FitSums s;
  s.s0 = hsum(s0);
  s.s1 = hsum(s1);
  s.s2 = hsum(s2);
  s.sy = hsum(sy);
  s.suy = hsum(suy);
  s.count = hsum(count);
  s.d1 = hsum(d1);
  s.d2 = hsum(d2);
  return s;
}

// Σw·r² and Σw·(y − ȳ)² of the line `fit` over the pixels whose w·r² from the line `select`
// is at most `clip` (NaN y never kept). w·r² is the squared flux-space residual (F·r ≈ ΔF) up
// to a constant, the quantity that has the same variance at every pixel.
struct Residuals {
  double ss_res = 0, ss_tot = 0;
};
Residuals residual_pass(const Plan& plan, size_t n, const Line& select, float clip, const Line& fit, const float* ys,
                        const float* ws) {
  vf res = vf{}, tot = vf{};
  const float sa = static_cast<float>(select.a), sb = static_cast<float>(select.b);
  const float a = static_cast<float>(fit.a), b = static_cast<float>(fit.b), my = static_cast<float>(fit.mean_y);
  for (size_t i = 0; i < n; i += W) {
    vf y = load(ys + i), w = load(ws + i), u = load(plan.u + i);
    vf rs = y - (sa + sb * u);
    vi kept = w * rs * rs <= clip;
    vf r = y - (a + b * u);
    vf d = y - my;
    res += keep(kept, w * r * r);
    tot += keep(kept, w * d * d);
  }
  return Residuals{hsum(res), hsum(tot)};
}

// Moment sums again, over the pixels with w·r² within the clip.
FitSums clipped_sums(const Plan& plan, size_t n, const Line& line, float clip, const float* ys, const float* ws) {
  vf s0 = vf{}, s1 = vf{}, s2 = vf{}, sy = vf{}, suy = vf{}, count = vf{};
  const float a = static_cast<float>(line.a), b = static_cast<float>(line.b);
  for (size_t i = 0; i < n; i += W) {
    vf y = load(ys + i), w = load(ws + i), u = load(plan.u + i);
    vf r = y - (a + b * u);
    vi kept = w * r * r <= clip;
    vf wk = keep(kept, w), yk = keep(kept, y);
    vf wu = wk * u;
    s0 += wk;
    s1 += wu;
    s2 += wu * u;
    sy += wk * yk;
    suy += wu * yk;
    count += keep(kept, splat(1.0f));
  }
  FitSums s;
  s.s0 = hsum(s0);
  s.s1 = hsum(s1);
  s.s2 = hsum(s2);
  s.sy = hsum(sy);
  s.suy = hsum(suy);
  s.count = hsum(count);
  return s;
}

void write_fit_features(const Plan& plan, const Stats& stats, const FitSums& sums, double row_shift,
                        double moment_scale, float* ys, float* ws, float* f, uint8_t* flag) {
  const size_t n = plan.input.length;
  double mean = stats.sum / stats.count;
  double dm = sums.d1 / stats.count, variance = sums.d2 / stats.count - dm * dm;
  f[kFeatureMean] = static_cast<float>(mean);
  f[kFeatureStd] = static_cast<float>(__builtin_sqrt(variance > 0 ? variance : 0) / moment_scale);
  f[kFeatureWienPixels] = static_cast<float>(sums.count);
  Line line = solve(sums);
  if (!line.ok) {
    f[kFeatureWienTemperature] = f[kFeatureWienLogAmplitude] = f[kFeatureWienR2] = f[kFeatureWienRms] = kNaN;
    *flag |= kFlagNoWienFit;
    return;
  }
  double s0 = sums.s0;
  Residuals r = residual_pass(plan, n, line, kInf, line, ys, ws);
  if (plan.params.robust) {
    // Drop pixels whose flux-space residual exceeds kRobustClipSigma × its RMS.
    float clip = static_cast<float>(kRobustClipSigma * kRobustClipSigma * r.ss_res / sums.count);
    FitSums kept = clipped_sums(plan, n, line, clip, ys, ws);
    Line refit = solve(kept);
    if (kept.count < sums.count && refit.ok) {
      // R² and RMS of the refit, over the pixels it used.
      r = residual_pass(plan, n, line, clip, refit, ys, ws);
      line = refit;
      s0 = kept.s0;
      f[kFeatureWienPixels] = static_cast<float>(kept.count);
    }
  }
  // Back from (u, y') to (1/λ, y): 1/λ = x_center + u / x_scale, y = y' + row_shift + g_center.
  double slope = line.b * plan.x_scale;
  double intercept = line.a + row_shift + plan.g_center - slope * plan.x_center;
  f[kFeatureWienTemperature] = static_cast<float>(-kWienC2NmK / slope);
  f[kFeatureWienLogAmplitude] = static_cast<float>(intercept);
  f[kFeatureWienR2] = static_cast<float>(r.ss_tot > 0 ? 1.0 - r.ss_res / r.ss_tot : 1.0);
  f[kFeatureWienRms] = static_cast<float>(__builtin_sqrt(r.ss_res / s0));
}

// Savitzky–Golay on the masked series (zero = masked): interior pixels use the centred
// coefficients, the first and last half-window the edge fits (scipy's mode='interp');
// masked pixels stay zero.
void smooth(const Plan& plan, const float* in, size_t n, float* out) {
  const int w = plan.params.smooth_window, half = w / 2;
  const float* centre = plan.savgol + static_cast<size_t>(half) * w;
  for (size_t i = 0; i < n; ++i) out[i] = 0;
  for (int k = 0; k < w; ++k) {
    const float c = centre[k];
    const float* src = in + k;
    float* dst = out + half;
    const size_t m = n - static_cast<size_t>(w) + 1;
    for (size_t i = 0; i < m; ++i) dst[i] += c * src[i];
  }
  for (int t = 0; t < half; ++t) {
    const float* c = plan.savgol + static_cast<size_t>(t) * w;
    const float* cr = plan.savgol + static_cast<size_t>(w - 1 - t) * w;
    float left = 0, right = 0;
    for (int k = 0; k < w; ++k) {
      left += c[k] * in[k];
      right += cr[k] * in[n - w + k];
    }
    out[t] = left;
    out[n - 1 - t] = right;
  }
  for (size_t i = 0; i < n; ++i)
    if (in[i] == 0.0f) out[i] = 0.0f;
}

// Integer binning: mean of the unmasked pixels of each bin (zero when none); the trailing
// partial bin is dropped.
void bin_series(const float* in, size_t n, int bin, float* out) {
  const size_t bins = n / static_cast<size_t>(bin);
  for (size_t j = 0; j < bins; ++j) {
    const float* p = in + j * static_cast<size_t>(bin);
    double sum = 0;  // float would overflow on bins of values near FLT_MAX
    int count = 0;
    for (int k = 0; k < bin; ++k) {
      float v = p[k], a = __builtin_fabsf(v);
      if (a >= FLT_MIN && a <= FLT_MAX) {
        sum += v;
        ++count;
      }
    }
    out[j] = count > 0 ? static_cast<float>(sum / count) : 0.0f;
  }
}

void process_row(const Plan& plan, const Scratch& scratch, size_t row) {
  const size_t n = plan.input.length, out_n = plan.out_length;
  const float* x = plan.input.flux + row * n;
  const uint8_t* bad = plan.input.bad_pixels ? plan.input.bad_pixels + row * n : nullptr;
  float* out = plan.output.flux + row * out_n;
  float* features = plan.output.features ? plan.output.features + row * kFeatureCount : nullptr;
  uint8_t* flag = plan.output.flags + row;
  *flag = 0;

  const Stats stats = row_stats(x, bad, n);
  if (stats.count == 0) {
    *flag = kFlagNoValidPixels;
    for (size_t i = 0; i < out_n; ++i) out[i] = 0;
    if (features) {
      for (int k = 0; k < kFeatureCount; ++k) features[k] = kNaN;
      features[kFeatureWienPixels] = 0;
    }
    return;
  }

  const Normalisation norm = plan.params.normalisation;
  const bool direct = plan.params.bin == 1 && plan.params.smooth_window == 0;
  const bool fit = features != nullptr;
  const float inv_max = stats.max > 0 ? 1.0f / stats.max : 1.0f;
  const double row_shift = -__builtin_log(static_cast<double>(inv_max));
  // Power of two near 1/max|x| (kept normal): the centred moments then stay within float range.
  const float amax = stats.max > -stats.min ? stats.max : -stats.min;
  const float moment_scale = __builtin_ldexpf(1.0f, -(__builtin_ilogbf(amax) < 126 ? __builtin_ilogbf(amax) : 126));
  const float moment_centre = static_cast<float>(stats.sum / stats.count * moment_scale);

  Scale scale;
  FitSums sums;
  if (direct) {
    double median = norm == Normalisation::median ? median_of_valid(plan, x, bad, n, scratch.values) : 0.0;
    scale = normalisation_scale(norm, stats, median);
    if (fit && !scale.narrow) {
      sums = fit_pass<true, true>(plan, x, bad, n, inv_max, moment_scale, moment_centre, scale.offset, scale.factor,
                                  out, scratch.y, scratch.w);
    } else {
      if (fit)
        sums = fit_pass<true, false>(plan, x, bad, n, inv_max, moment_scale, moment_centre, 0.0f, 0.0f, nullptr,
                                     scratch.y, scratch.w);
      write_normalised(x, bad, n, scale, out);
    }
  } else {
    // Masked copy (zero = masked) in the same pass as the fit, then smooth, bin, normalise.
    Scale identity;
    identity.factor = 1;
    if (fit)
      sums = fit_pass<true, true>(plan, x, bad, n, inv_max, moment_scale, moment_centre, 0.0f, 1.0f,
                                  scratch.series, scratch.y, scratch.w);
    else
      write_normalised(x, bad, n, identity, scratch.series);
    const float* series = scratch.series;
    if (plan.params.smooth_window > 0) {
      smooth(plan, series, n, scratch.series2);
      series = scratch.series2;
    }
    if (plan.params.bin > 1) {
      float* binned = series == scratch.series ? scratch.series2 : scratch.series;
      bin_series(series, n, plan.params.bin, binned);
      series = binned;
    }
    const Stats s = row_stats(series, nullptr, out_n);
    double median = norm == Normalisation::median ? median_of_valid(plan, series, nullptr, out_n, scratch.values) : 0.0;
    scale = normalisation_scale(norm, s, median);
    write_normalised(series, nullptr, out_n, scale, out);
  }
  if (!scale.ok) *flag |= kFlagDegenerateScale;

  if (features) write_fit_features(plan, stats, sums, row_shift, moment_scale, scratch.y, scratch.w, features, flag);
}

}  // namespace

void preprocess_rows(const Plan& plan, const Scratch& scratch, size_t begin, size_t end) {
  for (size_t row = begin; row < end; ++row) process_row(plan, scratch, row);
}

void augment_rows(const NoiseParams& params, float* flux, size_t length, const uint8_t* row_mask, size_t begin,
                  size_t end) {
  for (size_t row = begin; row < end; ++row) {
    if (row_mask && !row_mask[row]) continue;
    float* x = flux + row * length;
    // Signal = mean |F| over valid pixels; σ = signal / (S/N).
    vf abs_sum = vf{}, count = vf{};
    for_blocks(x, nullptr, length, [&](size_t, vf v, vi ok, bool) {
      abs_sum += keep(ok, vabs(v));
      count += keep(ok, splat(1.0f));
    });
    double n = hsum(count);
    if (n == 0) continue;
    double signal = 0;
    for (int k = 0; k < W; ++k) signal += abs_sum[k];
    signal /= n;
    const uint32_t key = lowbias32(params.seed + 0x9E3779B9u * (static_cast<uint32_t>(row) + 1u));
    const double u_row = static_cast<double>(lowbias32(key ^ 0x85EBCA6Bu) >> 8) * 0x1p-24;
    const double snr = params.snr_low + (params.snr_high - params.snr_low) * u_row;
    const float sigma = static_cast<float>(signal / snr);
    vu lane;
    for (int k = 0; k < W; ++k) lane[k] = static_cast<uint32_t>(k);
    for_blocks(x, nullptr, length, [&](size_t i, vf v, vi ok, bool tail) {
      // Box–Muller on two hashed counters per pixel: r·cos θ, r = √(−2 ln u1), θ = 2π u2.
      vu c = (lane + static_cast<uint32_t>(i)) * 2u + key;
      vu h1 = c, h2 = c + 1u;
      h1 ^= h1 >> 16; h1 *= 0x7feb352dU; h1 ^= h1 >> 15; h1 *= 0x846ca68bU; h1 ^= h1 >> 16;
      h2 ^= h2 >> 16; h2 *= 0x7feb352dU; h2 ^= h2 >> 15; h2 *= 0x846ca68bU; h2 ^= h2 >> 16;
      vf u1 = __builtin_convertvector((vi)((h1 >> 9) * 2u + 1u), vf) * 0x1p-24f;
      vf u2 = __builtin_convertvector((vi)(h2 >> 8), vf) * 0x1p-24f;
      vf radius = -2.0f * vlog(u1);
      vf rs;
      for (int k = 0; k < W; ++k) rs[k] = __builtin_sqrtf(radius[k]);
      vf noise = rs * vcos_turns(u2) * sigma;
      store_block(x, i, length, ok ? v + noise : v, tail);
    });
  }
}

float log_approx(float x) { return vlog(splat(x))[0]; }

}  // namespace ASTRO_ISA_NS
}  // namespace astro
