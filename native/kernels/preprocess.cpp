// Dispatcher for the preprocessing kernels: builds the per-call tables (1/λ, ln λ,
// Savitzky–Golay coefficients), allocates per-thread scratch, and runs the row kernels of
// the active instruction set over the batch with parallel_for.
#include "kernels/preprocess.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu.h"
#include "kernels/parallel.h"
#include "kernels/preprocess_isa.h"

namespace astro {

namespace {

using preprocess_detail::kMaxLanes;
using preprocess_detail::Plan;
using preprocess_detail::Scratch;

size_t padded(size_t n) { return (n + kMaxLanes - 1) / kMaxLanes * kMaxLanes + kMaxLanes; }

// Median as numpy defines it: the middle value, or the mean of the two middle values.
double median_of(float* values, size_t n) {
  if (n == 0) return NAN;
  size_t mid = n / 2;
  std::nth_element(values, values + mid, values + n);
  double upper = values[mid];
  if (n % 2 == 1) return upper;
  double lower = *std::max_element(values, values + mid);
  return 0.5 * (lower + upper);
}

using RowsFn = void (*)(const Plan&, const Scratch&, size_t, size_t);
using AugmentFn = void (*)(const NoiseParams&, float*, size_t, const uint8_t*, size_t, size_t);

RowsFn rows_kernel() {
#if defined(ASTRO_HAVE_X86_ISAS)
  switch (active_isa()) {
    case Isa::avx512: return avx512::preprocess_rows;
    case Isa::avx2: return avx2::preprocess_rows;
    default: break;
  }
#endif
  return baseline::preprocess_rows;
}

AugmentFn augment_kernel() {
#if defined(ASTRO_HAVE_X86_ISAS)
  switch (active_isa()) {
    case Isa::avx512: return avx512::augment_rows;
    case Isa::avx2: return avx2::augment_rows;
    default: break;
  }
#endif
  return baseline::augment_rows;
}

}  // namespace

void savgol_coefficients(int window, int target, double* out) {
  // Least-squares quadratic through (k - target, x_k), evaluated at 0: the first row of
  // (VᵀV)⁻¹Vᵀ with V[k][d] = (k - target)^d.
  constexpr int D = kSavgolOrder + 1;
  double m[D][D] = {};
  for (int k = 0; k < window; ++k) {
    double p = k - target, pw[2 * D - 1];
    pw[0] = 1;
    for (int d = 1; d < 2 * D - 1; ++d) pw[d] = pw[d - 1] * p;
    for (int r = 0; r < D; ++r)
      for (int c = 0; c < D; ++c) m[r][c] += pw[r + c];
  }
  // Solve (VᵀV) a = e0 by Gauss–Jordan with partial pivoting; coefficient k = Σ_d a_d p_k^d.
  double a[D] = {1, 0, 0};
  for (int col = 0; col < D; ++col) {
    int pivot = col;
    for (int r = col + 1; r < D; ++r)
      if (std::fabs(m[r][col]) > std::fabs(m[pivot][col])) pivot = r;
    std::swap(m[col], m[pivot]);
    std::swap(a[col], a[pivot]);
    for (int r = 0; r < D; ++r) {
      if (r == col) continue;
      double f = m[r][col] / m[col][col];
      for (int c = 0; c < D; ++c) m[r][c] -= f * m[col][c];
      a[r] -= f * a[col];
    }
  }
  for (int d = 0; d < D; ++d) a[d] /= m[d][d];
  for (int k = 0; k < window; ++k) {
    double p = k - target, v = 0, pw = 1;
    for (int d = 0; d < D; ++d, pw *= p) v += a[d] * pw;
    out[k] = v;
  }
}

void preprocess(const PreprocessParams& params, const PreprocessInput& input, const PreprocessOutput& output,
                int threads) {
  const size_t length = input.length;
  if (params.bin < 1) throw std::invalid_argument("bin must be >= 1");
  if (params.smooth_window != 0 &&
      (params.smooth_window < 3 || params.smooth_window % 2 == 0 || static_cast<size_t>(params.smooth_window) > length))
    throw std::invalid_argument("smoothing window must be odd, >= 3 and <= length");
  if (input.rows > 0 && (!input.flux || !output.flux || !output.flags))
    throw std::invalid_argument("missing flux or flags buffer");
  if (input.rows == 0 || length == 0) {
    for (size_t r = 0; r < input.rows; ++r) output.flags[r] = kFlagNoValidPixels;
    return;
  }

  Plan plan;
  plan.params = params;
  plan.input = input;
  plan.output = output;
  plan.out_length = length / static_cast<size_t>(params.bin);
  plan.median = median_of;

  // Wavelengths in nm (λ_nm = λ_Å / 10), the unit of the Wien fit's amplitude.
  const size_t tab = padded(length);
  std::vector<float> u(tab, 0.0f), g(tab, 0.0f);
  const double lambda0 = params.grid_start / 10.0, lambda1 = (params.grid_start + params.grid_step * (length - 1)) / 10.0;
  const double x0 = 1.0 / lambda0, x1 = 1.0 / lambda1;
  plan.x_center = 0.5 * (x0 + x1);
  plan.x_scale = std::fabs(x0 - x1) > 0 ? 2.0 / std::fabs(x0 - x1) : 1.0;
  plan.g_center = 5.0 * std::log(0.5 * (lambda0 + lambda1));
  // Only the Wien fit reads the tables: without features, classify's batches of 64 would spend
  // a tenth of their time on these logarithms.
  if (output.features) {
    for (size_t i = 0; i < length; ++i) {
      double lambda = (params.grid_start + params.grid_step * static_cast<double>(i)) / 10.0;
      u[i] = static_cast<float>((1.0 / lambda - plan.x_center) * plan.x_scale);
      g[i] = static_cast<float>(5.0 * std::log(lambda) - plan.g_center);
    }
  }
  plan.u = u.data();
  plan.g = g.data();

  std::vector<float> savgol;
  if (params.smooth_window > 0) {
    const int w = params.smooth_window;
    savgol.resize(static_cast<size_t>(w) * w);
    std::vector<double> c(static_cast<size_t>(w));
    for (int t = 0; t < w; ++t) {
      savgol_coefficients(w, t, c.data());
      for (int k = 0; k < w; ++k) savgol[static_cast<size_t>(t) * w + k] = static_cast<float>(c[k]);
    }
    plan.savgol = savgol.data();
  }

  if (threads <= 0) threads = default_threads();
  const size_t workers = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(threads), input.rows));
  const size_t per = padded(length);
  std::unique_ptr<float[]> scratch_memory(new float[workers * per * 5]());
  RowsFn kernel = rows_kernel();
  parallel_for(input.rows, static_cast<int>(workers), [&](size_t begin, size_t end, int worker) {
    float* base = scratch_memory.get() + static_cast<size_t>(worker) * per * 5;
    Scratch s{base, base + per, base + 2 * per, base + 3 * per, base + 4 * per};
    kernel(plan, s, begin, end);
  });
}

void augment_noise(const NoiseParams& params, float* flux, size_t rows, size_t length, const uint8_t* row_mask,
                   int threads) {
  if (rows == 0 || length == 0) return;
  if (!flux) throw std::invalid_argument("missing flux buffer");
  if (!(params.snr_low > 0) || !(params.snr_high >= params.snr_low))
    throw std::invalid_argument("S/N must be positive and low <= high");
  AugmentFn kernel = augment_kernel();
  parallel_for(rows, threads, [&](size_t begin, size_t end, int) { kernel(params, flux, length, row_mask, begin, end); });
}

}  // namespace astro
