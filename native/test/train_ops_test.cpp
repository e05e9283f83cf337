// The memory-bound training passes against plain loops, on one thread and on the pool (several
// 64 k-value chunks), with NaN, ±0 and ±∞ inputs.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "check.h"
#include "kernels/train_ops.h"

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

std::vector<float> normal(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b)); }

// 200 003 values: four chunks, the last one short.
constexpr int64_t kN = 200003;

}  // namespace

TEST(relu_forward_and_backward_match_plain_loops) {
  std::vector<float> x = normal(kN, 1), dy = normal(kN, 2);
  const float specials[] = {kNaN, 0.f, -0.f, kInf, -kInf, 1e-40f, -1e-40f};
  for (size_t i = 0; i < sizeof specials / sizeof *specials; ++i) x[i * 9973] = specials[i];
  dy[5] = kNaN;
  for (int threads : {1, 2}) {
    std::vector<float> y(kN), dx(kN);
    astro::relu_forward(x.data(), kN, y.data(), threads);
    astro::relu_backward(x.data(), dy.data(), kN, dx.data(), threads);
    for (int64_t i = 0; i < kN; ++i) {
      float want_y = std::isnan(x[i]) ? x[i] : (x[i] > 0.f ? x[i] : 0.f);
      float step = std::isnan(x[i]) ? kNaN : (x[i] > 0.f ? 1.f : 0.f);
      CHECK(same_bits(y[i], want_y));
      CHECK(same_bits(dx[i], dy[i] * step));
    }
    CHECK(same_bits(y[2 * 9973], 0.f));   // relu(−0) = +0
    CHECK(std::isnan(dx[0]));             // NaN input: NaN gradient
  }
}

TEST(add_matches_plain_loop) {
  std::vector<float> a = normal(kN, 3), b = normal(kN, 4), out(kN);
  a[7] = kInf, b[7] = -kInf;
  astro::add_same_shape(a.data(), b.data(), kN, out.data(), false, 2);
  for (int64_t i = 0; i < kN; ++i) CHECK(same_bits(out[i], a[i] + b[i]));
  a[8] = kNaN;
  astro::add_same_shape(a.data(), b.data(), kN, out.data(), true, 2);
  for (int64_t i = 0; i < kN; ++i) CHECK(same_bits(out[i], astro::relu_value(a[i] + b[i])));
  CHECK(std::isnan(out[7]) && std::isnan(out[8]));  // ∞ − ∞ and NaN stay NaN through the ReLU
}

TEST(adam_update_matches_double_reference) {
  std::vector<float> value = normal(kN, 5), m = normal(kN, 6), v = normal(kN, 7), g = normal(kN, 8);
  for (auto& x : v) x = x * x;  // second moments are non-negative
  const astro::AdamStep s{1e-3, 0.9, 0.999, 1e-7, 1 - std::pow(0.9, 3), 1 - std::pow(0.999, 3)};
  for (int threads : {1, 2}) {
    std::vector<float> ov(kN), om(kN), ovv(kN);
    astro::adam_update(value.data(), m.data(), v.data(), g.data(), kN, s, ov.data(), om.data(), ovv.data(), threads);
    for (int64_t i = 0; i < kN; i += 17) {
      double mi = s.beta1 * m[i] + (1 - s.beta1) * g[i];
      double vi = s.beta2 * v[i] + (1 - s.beta2) * double(g[i]) * g[i];
      double want = value[i] - (s.learning_rate * (mi / s.correction1)) / (std::sqrt(vi / s.correction2) + s.epsilon);
      CHECK(om[i] == static_cast<float>(mi));
      CHECK(ovv[i] == static_cast<float>(vi));
      CHECK(ov[i] == static_cast<float>(want));
    }
  }
}

// Max-pool geometries: odd and even lengths, padding or none, windows 2 and 3, 16 channels.
struct PoolCase {
  int64_t batch, in_length, channels, window, stride, pad_left;
  int64_t out_length() const { return (in_length + pad_left - window) / stride + 1; }
};
const PoolCase kPoolCases[] = {{3, 31, 5, 3, 2, 1}, {2, 32, 16, 3, 2, 0}, {4, 17, 3, 2, 2, 0}, {33, 100, 16, 3, 2, 1}};

TEST(maxpool1d_backward_matches_plain_loop) {
  for (const PoolCase& c : kPoolCases) {
    const int64_t out_length = c.out_length();
    std::vector<float> x = normal(c.batch * c.in_length * c.channels, 9);
    // Ties (the first largest wins) and a NaN (never wins).
    x[1 * c.channels] = x[0];
    x[2 * c.channels] = kNaN;
    std::vector<float> dy = normal(c.batch * out_length * c.channels, 10);
    std::vector<float> want(x.size(), 0.f);
    for (int64_t n = 0; n < c.batch; ++n)
      for (int64_t o = 0; o < out_length; ++o)
        for (int64_t ch = 0; ch < c.channels; ++ch) {
          int64_t lo = std::max<int64_t>(0, o * c.stride - c.pad_left), hi = std::min(o * c.stride - c.pad_left + c.window, c.in_length);
          int64_t best = lo;
          float best_value = -kInf;
          for (int64_t i = lo; i < hi; ++i) {
            float v = x[(n * c.in_length + i) * c.channels + ch];
            if (v > best_value) best_value = v, best = i;
          }
          if (hi > lo) want[(n * c.in_length + best) * c.channels + ch] += dy[(n * out_length + o) * c.channels + ch];
        }
    for (int threads : {1, 2}) {
      std::vector<float> dx(x.size(), kNaN);
      astro::maxpool1d_backward(x.data(), dy.data(), c.batch, c.in_length, out_length, c.channels, c.window, c.stride, c.pad_left,
                                dx.data(), threads);
      for (size_t i = 0; i < dx.size(); ++i) CHECK(same_bits(dx[i], want[i]));
    }
  }
}

TEST(maxpool1d_forward_matches_plain_loop) {
  for (const PoolCase& c : kPoolCases) {
    const int64_t out_length = c.out_length();
    std::vector<float> x = normal(c.batch * c.in_length * c.channels, 11);
    // NaN never wins; channel 1's first window holds only NaN (and padding), which gives −∞.
    x[2 * c.channels] = kNaN;
    x[1] = kNaN;
    x[c.channels + 1] = kNaN;
    x[2 * c.channels + 1] = kNaN;
    x[3 * c.channels + 2] = kInf;
    std::vector<float> want(c.batch * out_length * c.channels);
    for (int64_t n = 0; n < c.batch; ++n)
      for (int64_t o = 0; o < out_length; ++o)
        for (int64_t ch = 0; ch < c.channels; ++ch) {
          int64_t lo = std::max<int64_t>(0, o * c.stride - c.pad_left), hi = std::min(o * c.stride - c.pad_left + c.window, c.in_length);
          float best = -kInf;
          for (int64_t i = lo; i < hi; ++i) {
            float v = x[(n * c.in_length + i) * c.channels + ch];
            if (v > best) best = v;
          }
          want[(n * out_length + o) * c.channels + ch] = best;
        }
    for (int threads : {1, 2}) {
      std::vector<float> y(want.size(), kNaN);
      astro::maxpool1d_forward(x.data(), c.batch, c.in_length, out_length, c.channels, c.window, c.stride, c.pad_left, y.data(), threads);
      for (size_t i = 0; i < y.size(); ++i) CHECK(same_bits(y[i], want[i]));
    }
  }
}

TEST(mean_axis1_and_its_gradient_match_plain_loops) {
  for (int64_t length : {1, 7, 82})
    for (int64_t channels : {1, 5, 128}) {
      const int64_t batch = 3;
      std::vector<float> x = normal(batch * length * channels, 12), dy = normal(batch * channels, 13);
      std::vector<float> want(batch * channels), want_dx(x.size());
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t c = 0; c < channels; ++c) {
          double sum = 0;
          for (int64_t l = 0; l < length; ++l) sum += x[(n * length + l) * channels + c];
          want[n * channels + c] = static_cast<float>(sum / length);
          for (int64_t l = 0; l < length; ++l) want_dx[(n * length + l) * channels + c] = dy[n * channels + c] / static_cast<float>(length);
        }
      for (int threads : {1, 2}) {
        std::vector<float> y(want.size(), kNaN), dx(x.size(), kNaN);
        astro::mean_axis1_forward(x.data(), batch, length, channels, y.data(), threads);
        astro::mean_axis1_backward(dy.data(), batch, length, channels, dx.data(), threads);
        for (size_t i = 0; i < y.size(); ++i) CHECK(same_bits(y[i], want[i]));
        for (size_t i = 0; i < dx.size(); ++i) CHECK(same_bits(dx[i], want_dx[i]));
      }
    }
}

ASTRO_TEST_MAIN()
