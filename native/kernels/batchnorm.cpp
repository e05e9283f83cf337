#include "kernels/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/conv1d_pool.h"
#include "kernels/train_ops.h"

namespace astro {

namespace {

// Rows per chunk of work: ~64 k values (256 kB), so a layer of a training step splits into 5–20
// chunks that the persistent pool (conv1d_pool.h) spreads over the cores. At batch 32 these
// layers hold 0.3–0.7 M values: too few to pay for starting threads on every call, so they
// used to run on one thread.
constexpr int64_t kChunkElements = int64_t{1} << 16;

int64_t chunk_rows(int64_t channels) { return std::max<int64_t>(1, kChunkElements / channels); }

// fn(begin, end, acc) adds `sums` per-channel sums of rows [begin, end) into acc (float within
// 64-row blocks, which keeps the inner loop vectorised; double across blocks). Each chunk has its
// own row of partial sums and the rows are added in chunk order, so the totals are the same
// whichever threads ran the chunks.
template <typename Fn>
void per_channel_sums(int64_t rows, int64_t channels, int threads, int sums, std::vector<double>& total, Fn&& fn) {
  const int64_t step = chunk_rows(channels);
  const size_t chunks = static_cast<size_t>((rows + step - 1) / step);
  std::vector<double> partial(chunks * sums * channels, 0.0);
  conv1d_pool_run(chunks, threads, [&](size_t chunk, int) {
    int64_t begin = static_cast<int64_t>(chunk) * step;
    fn(begin, std::min(rows, begin + step), partial.data() + chunk * sums * channels);
  });
  total.assign(sums * channels, 0.0);
  for (size_t p = 0; p < chunks; ++p)
    for (int64_t i = 0; i < sums * channels; ++i) total[i] += partial[p * sums * channels + i];
}

// fn(begin, end) over the same row chunks, on the pool.
template <typename Fn>
void per_row_chunk(int64_t rows, int64_t channels, int threads, Fn&& fn) {
  const int64_t step = chunk_rows(channels);
  conv1d_pool_run(static_cast<size_t>((rows + step - 1) / step), threads, [&](size_t chunk, int) {
    int64_t begin = static_cast<int64_t>(chunk) * step;
    fn(begin, std::min(rows, begin + step));
  });
}

}  // namespace

void batchnorm_train_forward(const float* x, int64_t rows, int64_t channels, const float* gamma, const float* beta,
                             float epsilon, float* y, float* mean, float* var, bool relu, int threads) {
  const int64_t C = channels;
  // One pass for both moments, about a shift K = the first row: Σ(x−K) and Σ(x−K)². With K a
  // sample of each channel, |mean − K| is a few σ at most, so var = E[(x−K)²] − E[x−K]² loses
  // no more than a digit to cancellation (E[x²] − E[x]² about zero would lose them all when
  // |mean| ≫ σ). The pass over x it saves is a quarter of the forward's memory traffic.
  const float* shift_k = x;
  std::vector<double> sums;
  per_channel_sums(rows, C, threads, 2, sums, [&](int64_t b, int64_t e, double* acc) {
    // float accumulation within a row block keeps the inner loop vectorised; blocks are short.
    std::vector<float> s1(C), s2(C);
    for (int64_t r = b; r < e;) {
      int64_t stop = std::min(e, r + 64);
      std::fill(s1.begin(), s1.end(), 0.f);
      std::fill(s2.begin(), s2.end(), 0.f);
      for (; r < stop; ++r)
        for (int64_t c = 0; c < C; ++c) {
          float d = x[r * C + c] - shift_k[c];
          s1[c] += d;
          s2[c] += d * d;
        }
      for (int64_t c = 0; c < C; ++c) {
        acc[c] += s1[c];
        acc[C + c] += s2[c];
      }
    }
  });
  const double n = static_cast<double>(rows);
  std::vector<float> m(C);
  std::vector<double> variance(C);
  for (int64_t c = 0; c < C; ++c) {
    double d = sums[c] / n;
    m[c] = static_cast<float>(shift_k[c] + d);
    variance[c] = std::max(0.0, sums[C + c] / n - d * d);
  }
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = m[c];
    var[c] = static_cast<float>(variance[c]);
    float rstd = 1.f / std::sqrt(var[c] + epsilon);
    scale[c] = gamma[c] * rstd;
    shift[c] = beta[c] - m[c] * scale[c];
  }
  per_row_chunk(rows, C, threads, [&](int64_t b, int64_t e) {
    if (relu)
      for (int64_t r = b; r < e; ++r)
        for (int64_t c = 0; c < C; ++c) y[r * C + c] = relu_value(x[r * C + c] * scale[c] + shift[c]);
    else
      for (int64_t r = b; r < e; ++r)
        for (int64_t c = 0; c < C; ++c) y[r * C + c] = x[r * C + c] * scale[c] + shift[c];
  });
}

namespace {

template <bool Relu>
void backward(const float* x, const float* dy, const float* relu_y, int64_t rows, int64_t channels, const float* gamma,
              const float* mean, const float* var, float epsilon, float* dx, float* dgamma, float* dbeta, int threads) {
  const int64_t C = channels;
  // The gradient reaching the normalisation: dy, or dy through the fused ReLU.
  auto grad = [&](int64_t i) { return Relu ? dy[i] * relu_step(relu_y[i]) : dy[i]; };
  std::vector<float> rstd(C);
  for (int64_t c = 0; c < C; ++c) rstd[c] = 1.f / std::sqrt(var[c] + epsilon);
  // sums[0..C) = Σ dy, sums[C..2C) = Σ dy · (x − mean)
  std::vector<double> sums;
  per_channel_sums(rows, C, threads, 2, sums, [&](int64_t b, int64_t e, double* acc) {
    std::vector<float> s_dy(C), s_dyx(C);
    for (int64_t r = b; r < e;) {
      int64_t stop = std::min(e, r + 64);
      std::fill(s_dy.begin(), s_dy.end(), 0.f);
      std::fill(s_dyx.begin(), s_dyx.end(), 0.f);
      for (; r < stop; ++r)
        for (int64_t c = 0; c < C; ++c) {
          float g = grad(r * C + c);
          s_dy[c] += g;
          s_dyx[c] += g * (x[r * C + c] - mean[c]);
        }
      for (int64_t c = 0; c < C; ++c) {
        acc[c] += s_dy[c];
        acc[C + c] += s_dyx[c];
      }
    }
  });
  const double n = static_cast<double>(rows);
  std::vector<float> a(C), bx(C), k(C);
  for (int64_t c = 0; c < C; ++c) {
    dbeta[c] = static_cast<float>(sums[c]);
    dgamma[c] = static_cast<float>(sums[C + c] * rstd[c]);
    // dx = gamma·rstd·(dy − mean(dy) − xhat·mean(dy·xhat)), written as dy·k + x·a + bx.
    double g_rstd = double(gamma[c]) * rstd[c];
    double mean_dy = sums[c] / n;
    double mean_dy_xhat = sums[C + c] * rstd[c] / n;
    k[c] = static_cast<float>(g_rstd);
    a[c] = static_cast<float>(-g_rstd * mean_dy_xhat * rstd[c]);
    bx[c] = static_cast<float>(-g_rstd * mean_dy + g_rstd * mean_dy_xhat * rstd[c] * mean[c]);
  }
  per_row_chunk(rows, C, threads, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      for (int64_t c = 0; c < C; ++c) dx[r * C + c] = grad(r * C + c) * k[c] + x[r * C + c] * a[c] + bx[c];
  });
}

}  // namespace

void batchnorm_train_backward(const float* x, const float* dy, const float* relu_y, int64_t rows, int64_t channels,
                              const float* gamma, const float* mean, const float* var, float epsilon, float* dx,
                              float* dgamma, float* dbeta, int threads) {
  if (relu_y)
    backward<true>(x, dy, relu_y, rows, channels, gamma, mean, var, epsilon, dx, dgamma, dbeta, threads);
  else
    backward<false>(x, dy, nullptr, rows, channels, gamma, mean, var, epsilon, dx, dgamma, dbeta, threads);
}

}  // namespace astro
