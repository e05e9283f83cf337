#include "kernels/conv1d.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/conv1d_pool.h"
#include "kernels/cpu.h"
#include "kernels/parallel.h"

namespace astro {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Output positions [lo, hi) whose whole window x[o*stride - pad .. + kernel) lies inside x.
struct Interior {
  int64_t lo, hi;
};
Interior interior(const Conv1dShape& s) {
  int64_t lo = std::min(ceil_div(s.pad_left, s.stride), s.out_length);
  int64_t last_start = s.in_length - s.kernel + s.pad_left;  // o*stride <= this
  int64_t hi = last_start >= 0 ? std::min(floor_div(last_start, s.stride) + 1, s.out_length) : lo;
  return {lo, std::max(lo, hi)};
}

// Taps [k0, k1) of output position o that land inside x.
void valid_taps(const Conv1dShape& s, int64_t o, int64_t* k0, int64_t* k1) {
  int64_t start = o * s.stride - s.pad_left;
  *k0 = std::max<int64_t>(0, -start);
  *k1 = std::min<int64_t>(s.kernel, s.in_length - start);
  if (*k1 < *k0) *k1 = *k0;
}

using GemmFn = void (*)(int64_t, int64_t, int64_t, const float*, ptrdiff_t, ptrdiff_t, const float*, ptrdiff_t,
                        float*, ptrdiff_t, bool);
constexpr bool kAdd = true, kOverwrite = false;

GemmFn gemm_for(Isa isa) {
#if defined(ASTRO_HAVE_X86_ISAS)
  switch (isa) {
    case Isa::avx512: return avx512::gemm;
    case Isa::avx2: return avx2::gemm;
    default: return baseline::gemm;
  }
#else
  (void)isa;
  return baseline::gemm;
#endif
}

// Stride 1: dx[i] = sum_k dy[i + pad - k] · w[k]ᵀ. With j = kernel-1-k the dy rows run
// i + pad - kernel + 1 … i + pad upwards, a window of kernel·out_channels contiguous floats,
// so the input gradient is the forward's implicit-im2col GEMM over dy with the taps reversed:
// one pass that writes each dx row once (no clearing pass, no per-tap read-modify-write).
void backprop_input_stride1(const Conv1dShape& s, const GemmFn gemm, const float* dy, const float* w, float* dx,
                            int threads) {
  const int64_t cin = s.in_channels, cout = s.out_channels, K = s.kernel;
  // wr[(j·cout + c)·cin + i] = w[(kernel-1-j)·cin + i][c]
  std::vector<float> wr(s.w_size());
  for (int64_t j = 0; j < K; ++j)
    for (int64_t i = 0; i < cin; ++i)
      for (int64_t c = 0; c < cout; ++c) wr[(j * cout + c) * cin + i] = w[((K - 1 - j) * cin + i) * cout + c];
  // dx rows whose window dy[i + pad - kernel + 1 …] lies inside dy.
  const int64_t shift = s.pad_left - K + 1;
  const int64_t lo = std::min(std::max<int64_t>(0, -shift), s.in_length);
  const int64_t hi = std::max(lo, std::min(s.in_length, s.out_length - K + 1 - shift));
  conv1d_pool_run(static_cast<size_t>(s.batch), threads, [&](size_t n, int) {
    const float* dyn = dy + n * s.out_length * cout;
    float* dxn = dx + n * s.in_length * cin;
    gemm(hi - lo, cin, K * cout, dyn + (lo + shift) * cout, cout, 1, wr.data(), cin, dxn + lo * cin, cin, kOverwrite);
    for (int64_t i = 0; i < s.in_length; ++i) {
      if (i == lo) i = hi;
      if (i >= s.in_length) break;
      // Taps j0 … j1 of row i that land inside dy (none: a row of zeros).
      const int64_t start = i + shift;
      const int64_t j0 = std::min(K, std::max<int64_t>(0, -start)), j1 = std::max(j0, std::min(K, s.out_length - start));
      gemm(1, cin, (j1 - j0) * cout, dyn + (start + j0) * cout, 0, 1, wr.data() + j0 * cout * cin, cin,
           dxn + i * cin, cin, kOverwrite);
    }
  });
}

}  // namespace

bool conv1d_shape_valid(const Conv1dShape& s) {
  if (s.batch <= 0 || s.in_length <= 0 || s.in_channels <= 0 || s.out_length <= 0 || s.out_channels <= 0 ||
      s.kernel <= 0 || s.stride <= 0 || s.pad_left < 0 || s.pad_left >= s.kernel + s.stride)
    return false;
  // The last output's window must start inside x or the right padding (which is < kernel + stride).
  int64_t last_start = (s.out_length - 1) * s.stride - s.pad_left;
  return last_start < s.in_length;
}

void conv1d_forward(const Conv1dShape& s, const float* x, const float* w, float* y, int threads) {
  const GemmFn gemm = gemm_for(active_isa());
  const Interior in = interior(s);
  const int64_t cin = s.in_channels, cout = s.out_channels;
  conv1d_pool_run(static_cast<size_t>(s.batch), threads, [&](size_t n, int) {
    const float* xn = x + n * s.in_length * cin;
    float* yn = y + n * s.out_length * cout;
    // Every y row is written once, by the GEMM: the interior in one call, each boundary row
    // from its taps inside x (zeros when it has none).
    gemm(in.hi - in.lo, cout, s.kernel * cin, xn + (in.lo * s.stride - s.pad_left) * cin, s.stride * cin, 1, w, cout,
         yn + in.lo * cout, cout, kOverwrite);
    for (int64_t o = 0; o < s.out_length; ++o) {
      if (o == in.lo) o = in.hi;
      if (o >= s.out_length) break;
      int64_t k0, k1;
      valid_taps(s, o, &k0, &k1);
      gemm(1, cout, (k1 - k0) * cin, xn + (o * s.stride - s.pad_left + k0) * cin, 0, 1, w + k0 * cin * cout, cout,
           yn + o * cout, cout, kOverwrite);
    }
  });
}

void conv1d_backprop_input(const Conv1dShape& s, const float* dy, const float* w, float* dx, int threads) {
  const GemmFn gemm = gemm_for(active_isa());
  if (s.stride == 1) return backprop_input_stride1(s, gemm, dy, w, dx, threads);
  const int64_t cin = s.in_channels, cout = s.out_channels;
  // dx rows gather dy · w[k]^T; transposing w once makes B's rows contiguous over in_channels.
  std::vector<float> wt(s.w_size());
  for (int64_t k = 0; k < s.kernel; ++k)
    for (int64_t i = 0; i < cin; ++i)
      for (int64_t c = 0; c < cout; ++c) wt[(k * cout + c) * cin + i] = w[(k * cin + i) * cout + c];
  conv1d_pool_run(static_cast<size_t>(s.batch), threads, [&](size_t n, int) {
    {
      const float* dyn = dy + n * s.out_length * cout;
      float* dxn = dx + n * s.in_length * cin;
      std::memset(dxn, 0, sizeof(float) * s.in_length * cin);
      // Tap k scatters output o onto input row o*stride - pad + k: one strided GEMM per tap.
      for (int64_t k = 0; k < s.kernel; ++k) {
        int64_t o0 = std::max<int64_t>(0, ceil_div(s.pad_left - k, s.stride));
        int64_t o1 = std::min(s.out_length, floor_div(s.in_length - 1 + s.pad_left - k, s.stride) + 1);
        if (o1 <= o0) continue;
        gemm(o1 - o0, cin, cout, dyn + o0 * cout, cout, 1, wt.data() + k * cout * cin, cin,
             dxn + (o0 * s.stride - s.pad_left + k) * cin, s.stride * cin, kAdd);
      }
    }
  });
}

void conv1d_backprop_filter(const Conv1dShape& s, const float* x, const float* dy, float* dw, int threads) {
  const GemmFn gemm = gemm_for(active_isa());
  const Interior in = interior(s);
  const int64_t cin = s.in_channels, cout = s.out_channels;
  if (threads <= 0) threads = default_threads();
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, s.batch)));
  // Each worker sums its samples into its own copy of dw; the copies are added at the end.
  std::vector<std::vector<float>> partial(threads - 1, std::vector<float>(s.w_size(), 0.f));
  std::memset(dw, 0, sizeof(float) * s.w_size());
  conv1d_pool_run(static_cast<size_t>(s.batch), threads, [&](size_t n, int worker) {
    float* acc = worker == 0 ? dw : partial[worker - 1].data();
    {
      const float* xn = x + n * s.in_length * cin;
      const float* dyn = dy + n * s.out_length * cout;
      // dw[(k,i), c] = sum_o window_o[(k,i)] * dy[o, c]: the im2col view, transposed.
      gemm(s.kernel * cin, cout, in.hi - in.lo, xn + (in.lo * s.stride - s.pad_left) * cin, 1, s.stride * cin,
           dyn + in.lo * cout, cout, acc, cout, kAdd);
      for (int64_t o = 0; o < s.out_length; ++o) {
        if (o == in.lo) o = in.hi;
        if (o >= s.out_length) break;
        int64_t k0, k1;
        valid_taps(s, o, &k0, &k1);
        gemm((k1 - k0) * cin, cout, 1, xn + (o * s.stride - s.pad_left + k0) * cin, 1, 0, dyn + o * cout, cout,
             acc + k0 * cin * cout, cout, kAdd);
      }
    }
  });
  for (auto& p : partial)
    for (size_t i = 0; i < p.size(); ++i) dw[i] += p[i];
}

void conv1d_forward_reference(const Conv1dShape& s, const float* x, const float* w, float* y) {
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t o = 0; o < s.out_length; ++o)
      for (int64_t c = 0; c < s.out_channels; ++c) {
        double sum = 0;
        for (int64_t k = 0; k < s.kernel; ++k) {
          int64_t at = o * s.stride - s.pad_left + k;
          if (at < 0 || at >= s.in_length) continue;
          for (int64_t i = 0; i < s.in_channels; ++i)
            sum += double(x[(n * s.in_length + at) * s.in_channels + i]) * w[(k * s.in_channels + i) * s.out_channels + c];
        }
        y[(n * s.out_length + o) * s.out_channels + c] = static_cast<float>(sum);
      }
}

void conv1d_backprop_input_reference(const Conv1dShape& s, const float* dy, const float* w, float* dx) {
  std::vector<double> acc(s.x_size(), 0.0);
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t o = 0; o < s.out_length; ++o)
      for (int64_t k = 0; k < s.kernel; ++k) {
        int64_t at = o * s.stride - s.pad_left + k;
        if (at < 0 || at >= s.in_length) continue;
        for (int64_t i = 0; i < s.in_channels; ++i)
          for (int64_t c = 0; c < s.out_channels; ++c)
            acc[(n * s.in_length + at) * s.in_channels + i] +=
                double(dy[(n * s.out_length + o) * s.out_channels + c]) * w[(k * s.in_channels + i) * s.out_channels + c];
      }
  for (size_t i = 0; i < acc.size(); ++i) dx[i] = static_cast<float>(acc[i]);
}

void conv1d_backprop_filter_reference(const Conv1dShape& s, const float* x, const float* dy, float* dw) {
  std::vector<double> acc(s.w_size(), 0.0);
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t o = 0; o < s.out_length; ++o)
      for (int64_t k = 0; k < s.kernel; ++k) {
        int64_t at = o * s.stride - s.pad_left + k;
        if (at < 0 || at >= s.in_length) continue;
        for (int64_t i = 0; i < s.in_channels; ++i)
          for (int64_t c = 0; c < s.out_channels; ++c)
            acc[(k * s.in_channels + i) * s.out_channels + c] +=
                double(x[(n * s.in_length + at) * s.in_channels + i]) * dy[(n * s.out_length + o) * s.out_channels + c];
      }
  for (size_t i = 0; i < acc.size(); ++i) dw[i] = static_cast<float>(acc[i]);
}

}  // namespace astro
