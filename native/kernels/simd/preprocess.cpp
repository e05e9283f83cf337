// Row kernels of the preprocessing chain, compiled once per instruction set (namespace
// astro::ASTRO_ISA_NS). Vectors are GCC/Clang vector extensions whose width follows the
// compile flags (16 floats with AVX-512, 8 with AVX2, 4 with SSE2), so one source gives every
// variant; tails are copied into a zero-padded block, and zero is a masked pixel anyway.
//
// Per row the raw flux is read from memory once (the first pass: count, Σx, Σx², and with
// features the Wien fit's moment sums, keeping ln-flux and weights in per-thread scratch); a
// second pass over the row, now in L1/L2, writes the normalised flux and takes the centred
// moments (std) and the fit's residual sum (RMS). R² needs no pass of its own: at the
// least-squares solution Σw(y − ȳ)² = Σw·r² + b²·Σw(u − ū)².
#include "kernels/simd/isa.h"

#include <cfloat>
#include <utility>

#include "kernels/preprocess_isa.h"

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
inline vf splat(float x) { return x - vf{}; }  // not vf{} + x: +0 + −0 is +0
inline vf keep(vi m, vf a) { return (vf)((vi)a & m); }
inline vf vabs(vf x) { return (vf)((vi)x & 0x7fffffff); }
inline vf vmin(vf a, vf b) { return a < b ? a : b; }
inline vf vmax(vf a, vf b) { return a > b ? a : b; }

// Lane masks. With AVX-512 they live in mask registers, where "add where valid" or "zero
// where masked" is one instruction (merge/zero masking) instead of a compare, an and and an
// add; elsewhere they are integer vectors of all-ones / zero lanes.
//
// Valid pixel: finite and at least the smallest normal float (zero and subnormals are
// "no data"), and not flagged in the optional bad-pixel mask.
#if defined(__AVX512F__)
typedef __mmask16 Mask;
static_assert(W == 16, "one mask bit per lane");
// vfpclassps categories: 0x01 QNaN, 0x02 +0, 0x04 −0, 0x08 +inf, 0x10 −inf, 0x20 subnormal, 0x80 SNaN.
inline Mask valid_lanes(vf x) { return static_cast<Mask>(~_mm512_fpclass_ps_mask((__m512)x, 0xBF)); }
inline Mask not_flagged(const uint8_t* p) {
  __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm_testn_epi8_mask(b, b);
}
inline Mask both(Mask a, Mask b) { return static_cast<Mask>(a & b); }
inline Mask all_lanes() { return static_cast<Mask>(0xFFFF); }
// 0x40: negative (valid lanes are nonzero, so "valid and not negative" is "valid and > 0").
inline Mask positive_lanes(Mask ok, vf x) { return static_cast<Mask>(ok & ~_mm512_fpclass_ps_mask((__m512)x, 0x40)); }
inline Mask less_equal(vf a, vf b) { return _mm512_cmp_ps_mask((__m512)a, (__m512)b, _CMP_LE_OQ); }
// Sign bit clear (+0 included, −0 not).
inline Mask sign_clear(vf x) { return static_cast<Mask>(~_mm512_movepi32_mask((__m512i)x)); }
inline vf select(Mask m, vf a, vf b) { return (vf)_mm512_mask_blend_ps(m, (__m512)b, (__m512)a); }
inline vf zero_unless(Mask m, vf a) { return (vf)_mm512_maskz_mov_ps(m, (__m512)a); }
inline vf add_if(vf acc, Mask m, vf a) { return (vf)_mm512_mask_add_ps((__m512)acc, m, (__m512)acc, (__m512)a); }
inline vf fma_if(vf acc, Mask m, vf a, vf b) { return (vf)_mm512_mask3_fmadd_ps((__m512)a, (__m512)b, (__m512)acc, m); }
inline vf min_if(vf acc, Mask m, vf a) { return (vf)_mm512_mask_min_ps((__m512)acc, m, (__m512)acc, (__m512)a); }
inline vf max_if(vf acc, Mask m, vf a) { return (vf)_mm512_mask_max_ps((__m512)acc, m, (__m512)acc, (__m512)a); }
struct Counter {
  uint32_t n = 0;
  void add(Mask m) { n += static_cast<uint32_t>(__builtin_popcount(m)); }
  double total() const { return n; }
};
#else
typedef vi Mask;
inline Mask valid_lanes(vf x) {
  vf ax = vabs(x);
  return (ax >= FLT_MIN) & (ax <= FLT_MAX);
}
// Bad-pixel bytes → lane mask (GCC scalarises __builtin_convertvector of bytes, so widen
// with the ISA's zero-extension).
inline Mask not_flagged(const uint8_t* p) {
#if defined(__AVX2__)
  return (vi)_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))) == 0;
#else
  vi v;
  for (int k = 0; k < W; ++k) v[k] = p[k];
  return v == 0;
#endif
}
inline Mask both(Mask a, Mask b) { return a & b; }
inline Mask all_lanes() { return vi{} - 1; }
inline Mask positive_lanes(Mask ok, vf x) { return ok & (x > 0.0f); }
inline Mask less_equal(vf a, vf b) { return a <= b; }
inline Mask sign_clear(vf x) { return (vi)x >= 0; }
inline vf select(Mask m, vf a, vf b) { return m ? a : b; }
inline vf zero_unless(Mask m, vf a) { return keep(m, a); }
inline vf add_if(vf acc, Mask m, vf a) { return acc + keep(m, a); }
inline vf fma_if(vf acc, Mask m, vf a, vf b) { return acc + keep(m, a * b); }
inline vf min_if(vf acc, Mask m, vf a) { return vmin(acc, m ? a : splat(kInf)); }
inline vf max_if(vf acc, Mask m, vf a) { return vmax(acc, m ? a : splat(-kInf)); }
struct Counter {
  vi n = vi{};
  void add(Mask m) { n -= m; }  // true lanes are -1
  double total() const {
    double s = 0;
    for (int k = 0; k < W; ++k) s += n[k];
    return s;
  }
};
#endif

inline double hsum_wide(vf v) {
  double s = 0;
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
// The noise generator uses it: √(−2 ln u) needs ln u accurate relative to itself as u → 1.
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

// The Wien fit's ln-flux: ln x − shift·ln 2 + g at the lanes in `pos` (positive normal x),
// finite elsewhere. x = m·2^e with m in [1, 2) and ln m = t·q(t), t = m − 1, q the degree-6 minimax
// fit of ln(1+t)/t in absolute error: |error| ≤ 3.2e-7 on [1, 2) evaluated in float (tested in
// preprocess_test), below the float rounding of the ln-flux values it produces (|y| ≳ 4 ⇒
// half an ulp ≥ 2.4e-7) and far below photon noise. Seven FMAs instead of Cephes' twelve, and
// no correction for m near 2 — absolute, not relative, accuracy is what a least-squares fit needs.
inline vf vlog_fit(vf x, Mask pos, int shift, vf g) {
#if defined(__AVX512F__)
  // Zero-masked: other lanes get m = 0 (t = −1) and e = −shift, finite (y is unused there).
  vf m = (vf)_mm512_maskz_getmant_ps(pos, (__m512)x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
  vf e = (vf)_mm512_maskz_getexp_ps(pos, (__m512)x) - static_cast<float>(shift);
#else
  vi bits = (vi)select(pos, x, splat(1.0f));
  vf m = (vf)((bits & 0x007FFFFF) | 0x3F800000);
  vf e = __builtin_convertvector((bits >> 23) - (127 + shift), vf);
#endif
  vf t = m - 1.0f;
  vf q = splat(1.076551340520382e-2f);
  q = q * t + -5.514824017882347e-2f;
  q = q * t + 1.3467806577682495e-1f;
  q = q * t + -2.2589996457099915e-1f;
  q = q * t + 3.282427191734314e-1f;
  q = q * t + -4.9947184324264526e-1f;
  q = q * t + 9.99981164932251e-1f;
  return t * q + (e * 0.693147180559945309f + g);
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
      body(i, v, both(valid_lanes(v), not_flagged(bad + i)), false);
    }
  } else {
    for (; i + W <= n; i += W) {
      vf v = load(x + i);
      body(i, v, valid_lanes(v), false);
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
    body(i, v, both(valid_lanes(v), not_flagged(tb)), true);
  }
}
// for_blocks in runs of kRun blocks, calling flush() after each run (the last may be
// shorter): per-run float accumulators then see a bounded number of terms, and the loop over
// a run keeps only them in registers.
template <int kRun, typename Body, typename Flush>
inline void for_block_runs(const float* x, const uint8_t* bad, size_t n, Body&& body, Flush&& flush) {
  constexpr size_t run = static_cast<size_t>(W) * kRun;
  for (size_t start = 0; start < n; start += run) {
    const size_t len = n - start < run ? n - start : run;
    for_blocks(x + start, bad ? bad + start : nullptr, len,
               [&](size_t i, vf v, Mask ok, bool tail) { body(start + i, v, ok, tail); });
    flush();
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

inline bool valid_pixel(const float* x, const uint8_t* bad, size_t i) {
  float a = __builtin_fabsf(x[i]);
  return a >= FLT_MIN && a <= FLT_MAX && !(bad && bad[i]);
}

struct Stats {
  double count = 0, sum = 0, sumsq = 0;
  float min = kInf, max = -kInf;
};

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

double median_of_valid(const Plan& plan, const float* x, const uint8_t* bad, size_t n, float* values) {
  size_t m = 0;
  for (size_t i = 0; i < n; ++i)
    if (valid_pixel(x, bad, i)) values[m++] = x[i];
  return plan.median(values, m);
}

// The per-row power of two both passes multiply the flux by, so that squares and fit weights
// stay inside float range: x·2^-shift. It is chosen before the row is read, from the first
// block of W pixels that has a valid one (that block then lies in [1, 2)); first_pass checks
// the choice and falls back to the row's largest |x|.
struct RowScale {
  float factor = 1;  // 2^-shift
  int shift = 0;
};
RowScale scale_for(float magnitude) {
  int e = __builtin_ilogbf(magnitude);
  e = e < -126 ? -126 : (e > 126 ? 126 : e);  // keep 2^-e a normal float
  return RowScale{__builtin_ldexpf(1.0f, -e), e};
}
// False when the row has no valid pixel.
bool first_block_scale(const float* x, const uint8_t* bad, size_t n, RowScale* out) {
  size_t first = 0;
  while (first < n && !valid_pixel(x, bad, first)) ++first;
  if (first == n) return false;
  float magnitude = 0;
  for (size_t i = first; i < n && i < first + W; ++i)
    if (valid_pixel(x, bad, i) && __builtin_fabsf(x[i]) > magnitude) magnitude = __builtin_fabsf(x[i]);
  *out = scale_for(magnitude);
  return true;
}
float largest_magnitude(const float* x, const uint8_t* bad, size_t n) {
  vf m = vf{};
  for_blocks(x, bad, n, [&](size_t, vf v, Mask ok, bool) { m = vmax(m, zero_unless(ok, vabs(v))); });
  float out = 0;
  for (int k = 0; k < W; ++k) out = m[k] > out ? m[k] : out;
  return out;
}

struct FitSums {
  double s0 = 0, s1 = 0, s2 = 0, sy = 0, suy = 0, count = 0;
};
struct FirstPass {
  double count = 0, sum = 0, sumsq = 0;  // over the valid pixels, of x·2^-shift
  float min = kInf, max = -kInf;         // raw x, with kRange
  FitSums fit;
  Stats stats(const RowScale& scale) const {
    const double inverse = 1.0 / scale.factor;
    return Stats{count, sum * inverse, sumsq * inverse * inverse, min, max};
  }
};

// The first pass, the one read of the raw row from memory: count, Σx and Σx² (and min, max
// for 'minmax') of the valid pixels, and with kFit the Wien fit's moment sums. For each
// positive valid pixel, with z = x·2^-shift:
//   y = ln z + g_i   (g_i = 5 ln λ_i − const),  w = z²,
// the weights of least squares in ln space under constant flux noise (σ_lnF = σ_F / F).
// Scratch y holds y; with kWeights (robust refit) scratch w holds the weight, −0 at pixels the
// fit does not use (so the refit tells an unused pixel from a used one whose weight underflowed
// to +0). The second pass recomputes the weight from x instead of reading a third stream.
// Σx and Σx² go to double every kFlushBlocks vectors; the fit sums to a second float
// accumulator, so no float sum sees more than ~kFlushBlocks + n/(W·kFlushBlocks) terms per lane.
constexpr int kFlushBlocks = 16;
// Software prefetch distance of the fitting first pass, in floats (8 kB: most of a row ahead,
// running into the next row near the end of this one). With the hardware prefetchers alone one
// core streamed ~350 000 rows/s against ~625 000 in cache; 1 024–4 096 floats measured alike
// (Zen 4). Without the fit the pass is fast enough for the hardware prefetchers, and prefetching
// there measured 12 % slower.
// Non-temporal stores of the output were tried as well: +0–3 % for the full chain on AVX-512,
// but −20 % for normalisation alone and slower into freshly allocated output, so not used.
constexpr size_t kPrefetchFloats = 2048;
template <bool kFit, bool kRange, bool kWeights>
FirstPass first_pass(const Plan& plan, const float* x, const uint8_t* bad, size_t n, const RowScale& scale,
                     float* __restrict ys, float* __restrict ws) {
  const float factor = scale.factor;
  const int shift = scale.shift;
  const float* __restrict u_table = plan.u;
  const float* __restrict g_table = plan.g;
  Counter valid, positive;
  vf bs = vf{}, bq = vf{}, mn = splat(kInf), mx = splat(-kInf);
  vd sum = vd{}, sumsq = vd{};
  vf s0 = vf{}, s1 = vf{}, s2 = vf{}, sy = vf{}, suy = vf{};       // this run of kFlushBlocks
  vf t0 = vf{}, t1 = vf{}, t2 = vf{}, ty = vf{}, tuy = vf{};       // the runs before it
  for_block_runs<kFlushBlocks>(x, bad, n, [&](size_t i, vf v, Mask ok, bool) {
    if (kFit) __builtin_prefetch(x + i + kPrefetchFloats, 0, 3);  // a hint: never faults past the batch
    vf z = v * factor;
    valid.add(ok);
    bs = add_if(bs, ok, z);
    bq = fma_if(bq, ok, z, z);
    if (kRange) {
      mn = min_if(mn, ok, v);
      mx = max_if(mx, ok, v);
    }
    if (kFit) {
      Mask pos = positive_lanes(ok, v);
      positive.add(pos);
      vf w = select(pos, z * z, splat(-0.0f));
      vf u = load(u_table + i);
      vf y = vlog_fit(v, pos, shift, load(g_table + i));
      store(ys + i, y);
      if (kWeights) store(ws + i, w);
      vf wu = w * u;
      s0 += w;
      s1 += wu;
      s2 += wu * u;
      sy += w * y;
      suy += wu * y;
    }
  }, [&] {
    add_halves(bs, &sum);
    add_halves(bq, &sumsq);
    bs = bq = vf{};
    if (kFit) {
      t0 += s0, t1 += s1, t2 += s2, ty += sy, tuy += suy;
      s0 = s1 = s2 = sy = suy = vf{};
    }
  });
  FirstPass p;
  p.count = valid.total();
  p.sum = hsum(sum);
  p.sumsq = hsum(sumsq);
  if (kRange) {
    for (int k = 0; k < W; ++k) {
      if (mn[k] < p.min) p.min = mn[k];
      if (mx[k] > p.max) p.max = mx[k];
    }
  }
  if (kFit) {
    p.fit.s0 = hsum_wide(t0);
    p.fit.s1 = hsum_wide(t1);
    p.fit.s2 = hsum_wide(t2);
    p.fit.sy = hsum_wide(ty);
    p.fit.suy = hsum_wide(tuy);
    p.fit.count = positive.total();
  }
  return p;
}

// The first pass with the scale checked: a row whose mean (x·2^-shift)² exceeds 2^24 (its
// first block far fainter than the rest, or squares that overflowed) is summed again with
// the scale of its largest |x|. Besides float range this keeps ln z near 0 where the weight
// is, which the float moment sums need (they lose digits to a large mean ȳ).
constexpr double kMaxMeanSquare = 0x1p24;
FirstPass first_pass_checked(const Plan& plan, const float* x, const uint8_t* bad, size_t n, bool fit, bool range,
                             RowScale* scale, float* ys, float* ws) {
  const bool weights = fit && ws;
  auto run = [&] {
    if (weights) return range ? first_pass<true, true, true>(plan, x, bad, n, *scale, ys, ws)
                              : first_pass<true, false, true>(plan, x, bad, n, *scale, ys, ws);
    if (fit) return range ? first_pass<true, true, false>(plan, x, bad, n, *scale, ys, ws)
                          : first_pass<true, false, false>(plan, x, bad, n, *scale, ys, ws);
    return range ? first_pass<false, true, false>(plan, x, bad, n, *scale, ys, ws)
                 : first_pass<false, false, false>(plan, x, bad, n, *scale, ys, ws);
  };
  FirstPass p = run();
  if (!(p.sumsq <= p.count * kMaxMeanSquare)) {
    *scale = scale_for(largest_magnitude(x, bad, n));
    p = run();
  }
  return p;
}

// Stats of a row (or processed series) without the fit.
Stats row_stats(const Plan& plan, const float* x, const uint8_t* bad, size_t n, bool range) {
  RowScale scale;
  if (!first_block_scale(x, bad, n, &scale)) return Stats{};
  return first_pass_checked(plan, x, bad, n, false, range, &scale, nullptr, nullptr).stats(scale);
}

struct Line {
  double a = 0, b = 0, cuu = 0;
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
  line.cuu = cuu;
  line.ok = true;
  return line;
}

// The second pass, over the row again (now in cache): with kWrite ≥ 1 writes
// (x − offset)·factor at valid pixels and 0 elsewhere (kWrite 1: offset 0, skipped); with
// kFeatures the centred moments Σd, Σd² of d = x·2^-shift − centre (the variance without the
// cancellation of Σx²/n − mean²; the scale is a power of two, so x·2^-shift is exact) and the
// fit's Σw·r², r = y − (a + b·u), from the first pass's scratch (unused pixels have w = −0).
struct SecondPass {
  double d1 = 0, d2 = 0, ss_res = 0;
};
template <int kWrite, bool kFeatures>
SecondPass second_pass(const Plan& plan, const float* x, const uint8_t* bad, size_t n, const Scale& scale,
                       float* out, float moment_factor, float centre, const Line& line, const float* ys) {
  const float offset = scale.offset, factor = scale.factor;
  const float a = static_cast<float>(line.a), b = static_cast<float>(line.b);
  const float* __restrict u_table = plan.u;
  vf d1 = vf{}, d2 = vf{}, res = vf{};
  for_blocks(x, bad, n, [&](size_t i, vf v, Mask ok, bool tail) {
    if (kWrite == 1) store_block(out, i, n, zero_unless(ok, v * factor), tail);
    if (kWrite == 2) store_block(out, i, n, zero_unless(ok, (v - offset) * factor), tail);
    if (kFeatures) {
      vf z = v * moment_factor;
      vf d = z - centre;
      d1 = add_if(d1, ok, d);
      d2 = fma_if(d2, ok, d, d);
      // The weight again (z² at positive pixels) rather than a third scratch stream.
      vf r = load(ys + i) - (a + b * load(u_table + i));
      vf wr = zero_unless(positive_lanes(ok, v), z * z) * r;
      res += wr * r;
    }
  });
  return SecondPass{hsum_wide(d1), hsum_wide(d2), hsum_wide(res)};
}

// Writes (x - offset)·factor at valid pixels and 0 elsewhere.
void write_normalised(const Plan& plan, const float* x, const uint8_t* bad, size_t n, const Scale& scale, float* out) {
  if (scale.narrow) {
    for (size_t i = 0; i < n; ++i)
      out[i] = valid_pixel(x, bad, i)
                   ? static_cast<float>((static_cast<double>(x[i]) - scale.offset) * scale.inverse)
                   : 0.0f;
    return;
  }
  if (scale.offset != 0)
    second_pass<2, false>(plan, x, bad, n, scale, out, 0, 0, Line{}, nullptr);
  else
    second_pass<1, false>(plan, x, bad, n, scale, out, 0, 0, Line{}, nullptr);
}

// Pixels the robust refit keeps: used by the fit (w not −0) and w·r² within the clip, r the
// residual from `select`.
inline Mask within_clip(vf y, vf w, vf u, float a, float b, float clip) {
  vf r = y - (a + b * u);
  return both(less_equal(w * r * r, splat(clip)), sign_clear(w));
}

// Moment sums again, over the pixels within the clip.
FitSums clipped_sums(const Plan& plan, size_t n, const Line& line, float clip, const float* ys, const float* ws) {
  vf s0 = vf{}, s1 = vf{}, s2 = vf{}, sy = vf{}, suy = vf{};
  Counter count;
  const float a = static_cast<float>(line.a), b = static_cast<float>(line.b);
  for (size_t i = 0; i < n; i += W) {
    vf y = load(ys + i), w = load(ws + i), u = load(plan.u + i);
    Mask kept = within_clip(y, w, u, a, b, clip);
    vf wk = zero_unless(kept, w);
    vf wu = wk * u;
    s0 += wk;
    s1 += wu;
    s2 += wu * u;
    sy += wk * y;
    suy += wu * y;
    count.add(kept);
  }
  FitSums s;
  s.s0 = hsum_wide(s0);
  s.s1 = hsum_wide(s1);
  s.s2 = hsum_wide(s2);
  s.sy = hsum_wide(sy);
  s.suy = hsum_wide(suy);
  s.count = count.total();
  return s;
}

// Σw·r² of the line `fit` over the pixels within the clip of the line `select`.
double clipped_residual(const Plan& plan, size_t n, const Line& select, float clip, const Line& fit, const float* ys,
                        const float* ws) {
  vf res = vf{};
  const float sa = static_cast<float>(select.a), sb = static_cast<float>(select.b);
  const float a = static_cast<float>(fit.a), b = static_cast<float>(fit.b);
  for (size_t i = 0; i < n; i += W) {
    vf y = load(ys + i), w = load(ws + i), u = load(plan.u + i);
    Mask kept = within_clip(y, w, u, sa, sb, clip);
    vf r = y - (a + b * u);
    res = fma_if(res, kept, w * r, r);
  }
  return hsum_wide(res);
}

void write_features(const Plan& plan, const FirstPass& first, const SecondPass& second, const RowScale& scale,
                    Line line, const float* ys, const float* ws, float* f, uint8_t* flag) {
  const size_t n = plan.input.length;
  const double count = first.count;
  double mean = first.sum / count / scale.factor;
  double dm = second.d1 / count, variance = second.d2 / count - dm * dm;
  f[kFeatureMean] = static_cast<float>(mean);
  f[kFeatureStd] = static_cast<float>(__builtin_sqrt(variance > 0 ? variance : 0) / scale.factor);
  f[kFeatureWienPixels] = static_cast<float>(first.fit.count);
  if (!line.ok) {
    f[kFeatureWienTemperature] = f[kFeatureWienLogAmplitude] = f[kFeatureWienR2] = f[kFeatureWienRms] = kNaN;
    *flag |= kFlagNoWienFit;
    return;
  }
  double s0 = first.fit.s0, ss_res = second.ss_res;
  if (plan.params.robust) {
    // Drop pixels whose flux-space residual exceeds kRobustClipSigma × its RMS.
    float clip = static_cast<float>(kRobustClipSigma * kRobustClipSigma * ss_res / first.fit.count);
    FitSums kept = clipped_sums(plan, n, line, clip, ys, ws);
    Line refit = solve(kept);
    if (kept.count < first.fit.count && refit.ok) {
      // R² and RMS of the refit, over the pixels it used.
      ss_res = clipped_residual(plan, n, line, clip, refit, ys, ws);
      line = refit;
      s0 = kept.s0;
      f[kFeatureWienPixels] = static_cast<float>(kept.count);
    }
  }
  // Σw(y − ȳ)² = Σw·r² + b²·Σw(u − ū)² at the least-squares solution (the cross term is a
  // normal equation), so R² = explained / (explained + residual) without a pass over y.
  const double explained = line.b * line.b * line.cuu * s0;
  const double total = explained + ss_res;
  // Back from (u, y) to (1/λ, ln F + 5 ln λ): 1/λ = x_center + u / x_scale,
  // ln F + 5 ln λ = y + shift·ln 2 + g_center.
  double slope = line.b * plan.x_scale;
  double intercept = line.a + scale.shift * 0.693147180559945309 + plan.g_center - slope * plan.x_center;
  f[kFeatureWienTemperature] = static_cast<float>(-kWienC2NmK / slope);
  f[kFeatureWienLogAmplitude] = static_cast<float>(intercept);
  f[kFeatureWienR2] = static_cast<float>(total > 0 ? explained / total : 1.0);
  f[kFeatureWienRms] = static_cast<float>(__builtin_sqrt(ss_res / s0));
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
//
// D = W/2 bins at a time in double lanes: the same sums in the same order and the same division
// as the scalar loop at the end (bit for bit), without a scalar division per bin, which made this
// loop ~60 % of preprocessing at bin 4. When every value of the D bins counts and the bin is a
// power of two, sum / bin is exactly sum · (1 / bin): no division at all.
constexpr int D = W / 2;

// Adds the values v (one per bin) that are valid pixels to sum, and counts them.
inline void add_valid(vd v, vd* sum, vd* count) {
  vd a = v < 0 ? -v : v;
  auto valid = (a >= static_cast<double>(FLT_MIN)) & (a <= static_cast<double>(FLT_MAX));
  *sum += valid ? v : vd{};
  *count += valid ? vd{} + 1.0 : vd{};
}

// Whether every lane of v equals x: one compare and a mask test (a horizontal sum of the
// lanes was a chain of dependent adds, the slowest part of binning).
inline bool all_equal(vd v, double x) {
#if defined(__AVX512F__)
  return _mm512_cmpneq_pd_mask((__m512d)v, _mm512_set1_pd(x)) == 0;
#elif defined(__AVX2__)
  return _mm256_movemask_pd(_mm256_cmp_pd((__m256d)v, _mm256_set1_pd(x), _CMP_NEQ_UQ)) == 0;
#else
  return _mm_movemask_pd(_mm_cmpneq_pd((__m128d)v, _mm_set1_pd(x))) == 0;
#endif
}

// Writes the means of D bins.
inline void store_means(float* out, vd sum, vd count, int bin, bool power_of_two) {
  const bool all_counted = all_equal(count, static_cast<double>(bin));
  vd mean = power_of_two && all_counted ? sum * (1.0 / bin) : count > 0 ? sum / count : vd{};
  vfh m = __builtin_convertvector(mean, vfh);
  __builtin_memcpy(out, &m, sizeof m);
}

#if defined(__clang__) || __GNUC__ >= 12
#define ASTRO_BIN_SHUFFLE 1
// Bins of B = 2 or 4 pixels: the D bins' B·D pixels are one or two full vectors, and the k-th
// pixel of every bin is one shuffle of them (lanes k, k + B, k + 2B, …), where the general loop
// below gathers it with D scalar loads.
template <int B, int K, size_t... I>
inline vfh nth_of_bins(vf a, vf b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (K + B * static_cast<int>(I))...);
}

template <int B, size_t... K>
size_t bin_small(const float* in, size_t bins, float* out, std::index_sequence<K...>) {
  static_assert(B * D == W || B * D == 2 * W, "one or two vectors hold the D bins");
  size_t j = 0;
  for (; j + D <= bins; j += D) {
    const float* p = in + j * B;
    const vf a = load(p);
    const vf b = B * D == 2 * W ? load(p + W) : a;
    vd sum = vd{}, count = vd{};
    // k = 0, 1, …, B − 1 in turn: the order of the scalar loop's sum.
    (add_valid(__builtin_convertvector(nth_of_bins<B, static_cast<int>(K)>(a, b, std::make_index_sequence<D>()), vd), &sum, &count), ...);
    store_means(out + j, sum, count, B, true);
  }
  return j;
}
#endif

void bin_series(const float* in, size_t n, int bin, float* out) {
  const size_t bins = n / static_cast<size_t>(bin);
  const bool power_of_two = (bin & (bin - 1)) == 0;
  size_t j = 0;
#ifdef ASTRO_BIN_SHUFFLE
  if (bin == 2) j = bin_small<2>(in, bins, out, std::make_index_sequence<2>());
  else if (bin == 4) j = bin_small<4>(in, bins, out, std::make_index_sequence<4>());
#endif
  if (j == 0) {
    for (; j + D <= bins; j += D) {
      vd sum = vd{}, count = vd{};
      for (int k = 0; k < bin; ++k) {
        vd v;
        for (int d = 0; d < D; ++d) v[d] = in[(j + d) * static_cast<size_t>(bin) + k];
        add_valid(v, &sum, &count);
      }
      store_means(out + j, sum, count, bin, power_of_two);
    }
  }
  for (; j < bins; ++j) {
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

  RowScale row_scale;
  if (!first_block_scale(x, bad, n, &row_scale)) {
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
  const bool range = norm == Normalisation::minmax;
  // Smoothed or binned without features, nothing of the raw row's pass would be used (the scale
  // comes from the processed series): skipping it saved ~1 µs per 2600-pixel row at bin 4.
  const FirstPass first =
      direct || fit ? first_pass_checked(plan, x, bad, n, fit, direct && range, &row_scale, scratch.y,
                                         plan.params.robust ? scratch.w : nullptr)
                    : FirstPass{};
  const Stats stats = first.stats(row_scale);
  const Line line = fit ? solve(first.fit) : Line{};
  // The mean, times 2^-shift (a valid pixel exists, so count ≥ 1 whenever the pass ran).
  const float centre = first.count > 0 ? static_cast<float>(first.sum / first.count) : 0.0f;
  auto features_pass = [&](const Scale& scale, float* dest) {
    const float f = row_scale.factor;
    if (!dest) return second_pass<0, true>(plan, x, bad, n, scale, nullptr, f, centre, line, scratch.y);
    if (scale.offset != 0) return second_pass<2, true>(plan, x, bad, n, scale, dest, f, centre, line, scratch.y);
    return second_pass<1, true>(plan, x, bad, n, scale, dest, f, centre, line, scratch.y);
  };

  Scale scale;
  SecondPass second;
  if (direct) {
    double median = norm == Normalisation::median ? median_of_valid(plan, x, bad, n, scratch.values) : 0.0;
    scale = normalisation_scale(norm, stats, median);
    if (fit && !scale.narrow) {
      second = features_pass(scale, out);
    } else {
      if (fit) second = features_pass(scale, nullptr);
      write_normalised(plan, x, bad, n, scale, out);
    }
  } else {
    // Masked copy (zero = masked; with the features, in the same pass as the moments), then
    // smooth, bin, normalise.
    Scale identity;
    identity.factor = 1;
    const float* series = scratch.series;
    if (fit)
      second = features_pass(identity, scratch.series);
    else if (bad || plan.params.smooth_window > 0)
      write_normalised(plan, x, bad, n, identity, scratch.series);
    else
      // Binning alone skips the pixels the masked copy would zero (its validity test is
      // valid_pixel's without a mask), so it reads the row itself: one pass over it fewer.
      series = x;
    if (plan.params.smooth_window > 0) {
      smooth(plan, series, n, scratch.series2);
      series = scratch.series2;
    }
    if (plan.params.bin > 1) {
      float* binned = series == scratch.series ? scratch.series2 : scratch.series;
      bin_series(series, n, plan.params.bin, binned);
      series = binned;
    }
    const Stats s = row_stats(plan, series, nullptr, out_n, range);
    double median = norm == Normalisation::median ? median_of_valid(plan, series, nullptr, out_n, scratch.values) : 0.0;
    scale = normalisation_scale(norm, s, median);
    write_normalised(plan, series, nullptr, out_n, scale, out);
  }
  if (!scale.ok) *flag |= kFlagDegenerateScale;

  if (features) write_features(plan, first, second, row_scale, line, scratch.y, scratch.w, features, flag);
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
    vf abs_sum = vf{};
    Counter count;
    for_blocks(x, nullptr, length, [&](size_t, vf v, Mask ok, bool) {
      abs_sum = add_if(abs_sum, ok, vabs(v));
      count.add(ok);
    });
    double n = count.total();
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
    for_blocks(x, nullptr, length, [&](size_t i, vf v, Mask ok, bool tail) {
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
      store_block(x, i, length, select(ok, v + noise, v), tail);
    });
  }
}

float log_approx(float x) { return vlog(splat(x))[0]; }
float fit_log_approx(float x) { return vlog_fit(splat(x), all_lanes(), 0, vf{})[0]; }

}  // namespace ASTRO_ISA_NS
}  // namespace astro
