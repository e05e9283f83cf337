#include "kernels/train_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/conv1d_pool.h"

namespace astro {

namespace {

// 64 k values a chunk, as in batchnorm.cpp: a step's activations split into 5–20 chunks.
constexpr int64_t kChunk = int64_t{1} << 16;

template <typename Fn>
void over_chunks(int64_t n, int threads, Fn&& fn) {
  conv1d_pool_run(static_cast<size_t>((n + kChunk - 1) / kChunk), threads, [&](size_t chunk, int) {
    int64_t begin = static_cast<int64_t>(chunk) * kChunk;
    fn(begin, std::min(n, begin + kChunk));
  });
}

}  // namespace

void relu_forward(const float* x, int64_t n, float* y, int threads) {
  over_chunks(n, threads, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = relu_value(x[i]);
  });
}

void relu_backward(const float* x, const float* dy, int64_t n, float* dx, int threads) {
  over_chunks(n, threads, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dx[i] = dy[i] * relu_step(x[i]);
  });
}

void add_same_shape(const float* a, const float* b, int64_t n, float* out, bool relu, int threads) {
  over_chunks(n, threads, [&](int64_t lo, int64_t hi) {
    if (relu)
      for (int64_t i = lo; i < hi; ++i) out[i] = relu_value(a[i] + b[i]);
    else
      for (int64_t i = lo; i < hi; ++i) out[i] = a[i] + b[i];
  });
}

void adam_update(const float* value, const float* m, const float* v, const float* g, int64_t n, const AdamStep& s,
                 float* out_value, float* out_m, float* out_v, int threads) {
  const double b1 = s.beta1, b2 = s.beta2, lr = s.learning_rate, eps = s.epsilon, c1 = s.correction1, c2 = s.correction2;
  over_chunks(n, threads, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const double gi = g[i];
      const double mi = b1 * m[i] + (1 - b1) * gi;
      const double vi = b2 * v[i] + (1 - b2) * gi * gi;
      out_m[i] = static_cast<float>(mi);
      out_v[i] = static_cast<float>(vi);
      out_value[i] = static_cast<float>(value[i] - (lr * (mi / c1)) / (std::sqrt(vi / c2) + eps));
    }
  });
}

void maxpool1d_backward(const float* x, const float* dy, int64_t batch, int64_t in_length, int64_t out_length,
                        int64_t channels, int64_t window, int64_t stride, int64_t pad_left, float* dx, int threads) {
  // One spectrum a chunk: overlapping windows add into the same dx only within a spectrum.
  conv1d_pool_run(static_cast<size_t>(batch), threads, [&](size_t n, int) {
    const float* xs = x + static_cast<int64_t>(n) * in_length * channels;
    float* dxs = dx + static_cast<int64_t>(n) * in_length * channels;
    std::memset(dxs, 0, sizeof(float) * static_cast<size_t>(in_length * channels));
    for (int64_t o = 0; o < out_length; ++o) {
      const int64_t start = o * stride - pad_left;
      const int64_t lo = std::max<int64_t>(start, 0), hi = std::min(start + window, in_length);
      if (hi <= lo) continue;
      const float* g = dy + (static_cast<int64_t>(n) * out_length + o) * channels;
      for (int64_t c = 0; c < channels; ++c) {
        int64_t best = lo;
        float best_value = -std::numeric_limits<float>::infinity();
        for (int64_t i = lo; i < hi; ++i) {
          float v = xs[i * channels + c];
          if (v > best_value) best_value = v, best = i;
        }
        dxs[best * channels + c] += g[c];
      }
    }
  });
}

void maxpool1d_forward(const float* x, int64_t batch, int64_t in_length, int64_t out_length, int64_t channels,
                       int64_t window, int64_t stride, int64_t pad_left, float* y, int threads) {
  conv1d_pool_run(static_cast<size_t>(batch), threads, [&](size_t n, int) {
    const float* xs = x + static_cast<int64_t>(n) * in_length * channels;
    float* ys = y + static_cast<int64_t>(n) * out_length * channels;
    for (int64_t o = 0; o < out_length; ++o) {
      const int64_t start = o * stride - pad_left;
      const int64_t lo = std::max<int64_t>(start, 0), hi = std::min(start + window, in_length);
      float* out = ys + o * channels;
      for (int64_t c = 0; c < channels; ++c) out[c] = -std::numeric_limits<float>::infinity();
      // v > best ? v : best: NaN never wins; the loop over channels vectorises (maxps).
      for (int64_t i = lo; i < hi; ++i) {
        const float* row = xs + i * channels;
        for (int64_t c = 0; c < channels; ++c) out[c] = row[c] > out[c] ? row[c] : out[c];
      }
    }
  });
}

void mean_axis1_forward(const float* x, int64_t batch, int64_t length, int64_t channels, float* y, int threads) {
  conv1d_pool_run(static_cast<size_t>(batch), threads, [&](size_t n, int) {
    const float* xs = x + static_cast<int64_t>(n) * length * channels;
    std::vector<double> sum(static_cast<size_t>(channels), 0.0);
    for (int64_t l = 0; l < length; ++l)
      for (int64_t c = 0; c < channels; ++c) sum[c] += xs[l * channels + c];
    for (int64_t c = 0; c < channels; ++c) y[static_cast<int64_t>(n) * channels + c] = static_cast<float>(sum[c] / length);
  });
}

void mean_axis1_backward(const float* dy, int64_t batch, int64_t length, int64_t channels, float* dx, int threads) {
  // dy / length in float, as tfjs computes it (dy · 1 / length, a float division).
  const float divisor = static_cast<float>(length);
  conv1d_pool_run(static_cast<size_t>(batch), threads, [&](size_t n, int) {
    const float* g = dy + static_cast<int64_t>(n) * channels;
    float* out = dx + static_cast<int64_t>(n) * length * channels;
    for (int64_t l = 0; l < length; ++l)
      for (int64_t c = 0; c < channels; ++c) out[l * channels + c] = g[c] / divisor;
  });
}

}  // namespace astro
