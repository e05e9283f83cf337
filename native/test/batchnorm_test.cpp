// Training-mode BatchNorm against a double-precision reference, and its backward pass against
// finite differences of the forward pass.
#include <cmath>
#include <random>
#include <vector>

#include "check.h"
#include "kernels/batchnorm.h"
#include "kernels/train_ops.h"

namespace {

struct Data {
  int64_t rows, channels;
  std::vector<float> x, gamma, beta, dy;
};

Data make(int64_t rows, int64_t channels, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  Data d{rows, channels, {}, {}, {}, {}};
  for (int64_t i = 0; i < rows * channels; ++i) d.x.push_back(3.f * normal(rng) + 2.f);
  for (int64_t c = 0; c < channels; ++c) {
    d.gamma.push_back(1.f + 0.3f * normal(rng));
    d.beta.push_back(normal(rng));
  }
  for (int64_t i = 0; i < rows * channels; ++i) d.dy.push_back(normal(rng));
  return d;
}

// sum(dy · y(x)) in double, the scalar whose gradient the backward pass returns.
double objective(const Data& d, const std::vector<double>& x, float eps) {
  double total = 0;
  for (int64_t c = 0; c < d.channels; ++c) {
    double mean = 0, var = 0;
    for (int64_t r = 0; r < d.rows; ++r) mean += x[r * d.channels + c];
    mean /= d.rows;
    for (int64_t r = 0; r < d.rows; ++r) var += (x[r * d.channels + c] - mean) * (x[r * d.channels + c] - mean);
    var /= d.rows;
    for (int64_t r = 0; r < d.rows; ++r)
      total += d.dy[r * d.channels + c] * (d.gamma[c] * (x[r * d.channels + c] - mean) / std::sqrt(var + eps) + d.beta[c]);
  }
  return total;
}

void check_case(int64_t rows, int64_t channels, int threads, unsigned seed) {
  const float eps = 1e-3f;
  Data d = make(rows, channels, seed);
  std::vector<float> y(rows * channels, NAN), mean(channels, NAN), var(channels, NAN);
  astro::batchnorm_train_forward(d.x.data(), rows, channels, d.gamma.data(), d.beta.data(), eps, y.data(), mean.data(), var.data(), false, threads);
  for (int64_t c = 0; c < channels; ++c) {
    double m = 0, v = 0;
    for (int64_t r = 0; r < rows; ++r) m += d.x[r * channels + c];
    m /= rows;
    for (int64_t r = 0; r < rows; ++r) v += (d.x[r * channels + c] - m) * (d.x[r * channels + c] - m);
    v /= rows;
    CHECK_NEAR(mean[c], m, 1e-5 * (1 + std::fabs(m)));
    CHECK_NEAR(var[c], v, 1e-5 * (1 + v));
    for (int64_t r = 0; r < rows; ++r) {
      double want = d.gamma[c] * (d.x[r * channels + c] - m) / std::sqrt(v + eps) + d.beta[c];
      CHECK_NEAR(y[r * channels + c], want, 1e-4 * (1 + std::fabs(want)));
    }
  }
  std::vector<float> dx(rows * channels, NAN), dgamma(channels, NAN), dbeta(channels, NAN);
  astro::batchnorm_train_backward(d.x.data(), d.dy.data(), nullptr, rows, channels, d.gamma.data(), mean.data(), var.data(), eps, dx.data(),
                                  dgamma.data(), dbeta.data(), threads);
  std::vector<double> xd(d.x.begin(), d.x.end());
  // Central differences on a few entries of x (the objective is smooth; h relative to x's scale).
  for (int64_t i : {int64_t{0}, rows * channels / 2, rows * channels - 1}) {
    const double h = 1e-3;
    double keep = xd[i];
    xd[i] = keep + h;
    double up = objective(d, xd, eps);
    xd[i] = keep - h;
    double down = objective(d, xd, eps);
    xd[i] = keep;
    CHECK_NEAR(dx[i], (up - down) / (2 * h), 2e-3);
  }
  for (int64_t c = 0; c < channels; ++c) {
    double sdy = 0, sdyxhat = 0;
    for (int64_t r = 0; r < rows; ++r) {
      sdy += d.dy[r * channels + c];
      sdyxhat += d.dy[r * channels + c] * (d.x[r * channels + c] - mean[c]) / std::sqrt(var[c] + eps);
    }
    CHECK_NEAR(dbeta[c], sdy, 1e-4 * (1 + std::fabs(sdy)));
    CHECK_NEAR(dgamma[c], sdyxhat, 1e-4 * (1 + std::fabs(sdyxhat)));
  }
}

}  // namespace

TEST(batchnorm_matches_reference_small) { check_case(7, 3, 1, 1); }
TEST(batchnorm_matches_reference_channels_off_vector_width) { check_case(130, 19, 2, 2); }
// Many 64 k-value chunks, on two threads.
TEST(batchnorm_matches_reference_threaded) { check_case(1 << 15, 33, 2, 3); }

// A mean far above the spread (1000 ± 0.01): the one-pass moments about the first row must keep
// the variance to float precision, where E[x²] − E[x]² would give noise or a negative number.
TEST(batchnorm_variance_survives_large_mean) {
  const int64_t rows = 20000, channels = 5;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(rows * channels), gamma(channels, 1.f), beta(channels, 0.f), y(x.size()), mean(channels), var(channels);
  for (auto& v : x) v = 1000.f + 0.01f * normal(rng);
  astro::batchnorm_train_forward(x.data(), rows, channels, gamma.data(), beta.data(), 1e-3f, y.data(), mean.data(), var.data(), false, 2);
  for (int64_t c = 0; c < channels; ++c) {
    double m = 0, v = 0;
    for (int64_t r = 0; r < rows; ++r) m += x[r * channels + c];
    m /= rows;
    for (int64_t r = 0; r < rows; ++r) v += (x[r * channels + c] - m) * (x[r * channels + c] - m);
    v /= rows;
    CHECK_NEAR(mean[c], m, 1e-4);
    CHECK_NEAR(var[c], v, 1e-3 * v);
  }
}

// The folded ReLU: forward is relu_value of the plain forward, and backward with relu_y is the
// plain backward of dy · relu_step(y), bit for bit.
TEST(batchnorm_relu_is_relu_of_batchnorm) {
  const int64_t rows = 5000, channels = 24;
  const float eps = 1e-3f;
  Data d = make(rows, channels, 4);
  const size_t n = static_cast<size_t>(rows * channels);
  std::vector<float> y(n), yr(n), mean(channels), var(channels), mean_r(channels), var_r(channels);
  astro::batchnorm_train_forward(d.x.data(), rows, channels, d.gamma.data(), d.beta.data(), eps, y.data(), mean.data(), var.data(), false, 2);
  astro::batchnorm_train_forward(d.x.data(), rows, channels, d.gamma.data(), d.beta.data(), eps, yr.data(), mean_r.data(), var_r.data(), true, 2);
  int zeros = 0;
  for (size_t i = 0; i < n; ++i) {
    CHECK(yr[i] == astro::relu_value(y[i]));
    zeros += yr[i] == 0.f;
  }
  CHECK(zeros > static_cast<int>(n / 10));  // the ReLU cut something
  std::vector<float> masked(n);
  for (size_t i = 0; i < n; ++i) masked[i] = d.dy[i] * astro::relu_step(yr[i]);
  std::vector<float> dx(n), dg(channels), db(channels), dx_r(n), dg_r(channels), db_r(channels);
  astro::batchnorm_train_backward(d.x.data(), masked.data(), nullptr, rows, channels, d.gamma.data(), mean.data(), var.data(), eps, dx.data(), dg.data(), db.data(), 2);
  astro::batchnorm_train_backward(d.x.data(), d.dy.data(), yr.data(), rows, channels, d.gamma.data(), mean.data(), var.data(), eps, dx_r.data(), dg_r.data(), db_r.data(), 2);
  for (size_t i = 0; i < n; ++i) CHECK(dx_r[i] == dx[i]);
  for (int64_t c = 0; c < channels; ++c) CHECK(dg_r[c] == dg[c] && db_r[c] == db[c]);
}

ASTRO_TEST_MAIN()
