// The blocked 1D convolutions against plain loops, over the geometries the ResNet uses and
// awkward ones (odd lengths, 'valid' and 'same' padding, channel counts off the vector width).
#include <atomic>
#include <cmath>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.h"
#include "kernels/conv1d.h"
#include "kernels/conv1d_pool.h"

namespace {

// tfjs 'same' padding: out = ceil(in / stride), pad_left = floor(total / 2).
astro::Conv1dShape same_shape(int64_t batch, int64_t length, int64_t cin, int64_t cout, int64_t kernel, int64_t stride) {
  astro::Conv1dShape s;
  s.batch = batch;
  s.in_length = length;
  s.in_channels = cin;
  s.out_channels = cout;
  s.kernel = kernel;
  s.stride = stride;
  s.out_length = (length + stride - 1) / stride;
  int64_t total = std::max<int64_t>((s.out_length - 1) * stride + kernel - length, 0);
  s.pad_left = total / 2;
  return s;
}

astro::Conv1dShape valid_shape(int64_t batch, int64_t length, int64_t cin, int64_t cout, int64_t kernel, int64_t stride) {
  astro::Conv1dShape s = same_shape(batch, length, cin, cout, kernel, stride);
  s.out_length = (length - kernel) / stride + 1;
  s.pad_left = 0;
  return s;
}

std::vector<float> random_vector(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return INFINITY;
    worst = std::max(worst, std::fabs(double(a[i]) - b[i]) / (1.0 + std::fabs(double(b[i]))));
  }
  return worst;
}

void check_all_ops(const astro::Conv1dShape& s, std::mt19937& rng, int threads) {
  CHECK(astro::conv1d_shape_valid(s));
  auto x = random_vector(s.x_size(), rng);
  auto w = random_vector(s.w_size(), rng);
  auto dy = random_vector(s.y_size(), rng);
  // Outputs start as NaN so a position the kernel forgets to write fails the comparison.
  std::vector<float> y(s.y_size(), NAN), y_ref(s.y_size());
  astro::conv1d_forward(s, x.data(), w.data(), y.data(), threads);
  astro::conv1d_forward_reference(s, x.data(), w.data(), y_ref.data());
  CHECK(max_abs_diff(y, y_ref) < 1e-4);

  std::vector<float> dx(s.x_size(), NAN), dx_ref(s.x_size());
  astro::conv1d_backprop_input(s, dy.data(), w.data(), dx.data(), threads);
  astro::conv1d_backprop_input_reference(s, dy.data(), w.data(), dx_ref.data());
  CHECK(max_abs_diff(dx, dx_ref) < 1e-4);

  std::vector<float> dw(s.w_size(), NAN), dw_ref(s.w_size());
  astro::conv1d_backprop_filter(s, x.data(), dy.data(), dw.data(), threads);
  astro::conv1d_backprop_filter_reference(s, x.data(), dy.data(), dw_ref.data());
  CHECK(max_abs_diff(dw, dw_ref) < 1e-4);
}

}  // namespace

TEST(conv1d_matches_reference_on_resnet_geometries) {
  std::mt19937 rng(11);
  // stem, stage convs, stride-2 convs and 1x1 projections, at small lengths.
  check_all_ops(same_shape(3, 101, 1, 16, 7, 2), rng, 2);
  check_all_ops(same_shape(2, 51, 16, 16, 3, 1), rng, 2);
  check_all_ops(same_shape(2, 51, 16, 32, 3, 2), rng, 1);
  check_all_ops(same_shape(2, 51, 16, 32, 1, 2), rng, 2);
  check_all_ops(same_shape(2, 13, 64, 128, 3, 2), rng, 2);
  check_all_ops(same_shape(1, 7, 128, 128, 3, 1), rng, 3);
}

TEST(conv1d_matches_reference_on_awkward_geometries) {
  std::mt19937 rng(12);
  for (int64_t kernel : {1, 2, 3, 5, 7})
    for (int64_t stride : {1, 2, 3})
      for (int64_t length : {1, 2, 5, 8, 17})
        for (int64_t cin : {1, 3})
          for (int64_t cout : {1, 5, 19, 70}) {
            check_all_ops(same_shape(2, length, cin, cout, kernel, stride), rng, 2);
            if (length >= kernel) check_all_ops(valid_shape(3, length, cin, cout, kernel, stride), rng, 2);
          }
}

TEST(conv1d_matches_reference_when_some_rows_have_no_taps) {
  std::mt19937 rng(13);
  // Outputs that stop before x does (input rows no window reaches: their gradient is zero), and
  // windows that lie wholly in the left padding (outputs that are zero).
  for (int64_t stride : {1, 2})
    for (int64_t cout : {16, 5}) {
      astro::Conv1dShape s = same_shape(2, 23, 16, cout, 3, stride);
      s.out_length = 4;
      check_all_ops(s, rng, 2);
      s.pad_left = 2 + stride;  // < kernel + stride: o = 0 sees only padding
      s.out_length = 6;
      check_all_ops(s, rng, 2);
    }
}

TEST(conv1d_shape_validation_rejects_nonsense) {
  astro::Conv1dShape s = same_shape(1, 10, 2, 2, 3, 1);
  CHECK(astro::conv1d_shape_valid(s));
  astro::Conv1dShape bad = s;
  bad.stride = 0;
  CHECK(!astro::conv1d_shape_valid(bad));
  bad = s;
  bad.out_length = 40;  // windows would start past the end of x
  CHECK(!astro::conv1d_shape_valid(bad));
  bad = s;
  bad.pad_left = 9;
  CHECK(!astro::conv1d_shape_valid(bad));
}

TEST(conv1d_pool_runs_every_chunk_once_even_with_concurrent_callers) {
  auto run_many = [] {
    for (int round = 0; round < 50; ++round)
      for (int threads : {1, 2, 4}) {
        size_t n = static_cast<size_t>(round % 7) * 13;
        std::vector<std::atomic<int>> hits(n);
        std::atomic<int> bad_worker{0};
        astro::conv1d_pool_run(n, threads, [&](size_t c, int worker) {
          hits[c]++;
          if (worker < 0 || worker >= threads) bad_worker++;
        });
        for (size_t i = 0; i < n; ++i) CHECK(hits[i].load() == 1);
        CHECK(bad_worker.load() == 0);
      }
  };
  std::thread a(run_many), b(run_many);
  run_many();
  a.join();
  b.join();
}

TEST(conv1d_pool_rethrows_errors) {
  bool thrown = false;
  try {
    astro::conv1d_pool_run(20, 2, [](size_t c, int) {
      if (c == 13) throw std::runtime_error("boom");
    });
  } catch (const std::runtime_error&) {
    thrown = true;
  }
  CHECK(thrown);
}

ASTRO_TEST_MAIN()
