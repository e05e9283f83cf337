#include <cmath>
#include <limits>
#include <vector>

#include "check.h"
#include "kernels/finite.h"

namespace {
int64_t reference(const std::vector<float>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return static_cast<int64_t>(i);
  return -1;
}
}  // namespace

TEST(first_non_finite_finds_nan_and_inf_at_every_position) {
  const float bad[] = {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                       std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{1023}, size_t{1024}, size_t{1025}, size_t{5000}}) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = (i % 3 == 0 ? -1.0f : 1.0f) * static_cast<float>(i) * 1e30f;  // finite, large and of both signs
    CHECK(astro::first_non_finite_f32(v.data(), n) == reference(v));
    for (size_t at : {size_t{0}, n / 2, n - 1}) {
      if (n == 0) break;
      for (float b : bad) {
        std::vector<float> w = v;
        w[at] = b;
        if (at + 1 < n) w[n - 1] = b;  // a later one must not win
        CHECK(astro::first_non_finite_f32(w.data(), n) == static_cast<int64_t>(at));
      }
    }
  }
}

TEST(first_non_finite_accepts_extremes_and_unaligned_starts) {
  std::vector<float> v = {0.0f, -0.0f, std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max(),
                          -std::numeric_limits<float>::max(), std::numeric_limits<float>::min()};
  CHECK(astro::first_non_finite_f32(v.data(), v.size()) == -1);
  std::vector<float> w(3000, 1.0f);
  w[2001] = std::numeric_limits<float>::infinity();
  for (size_t offset = 0; offset < 8; ++offset) CHECK(astro::first_non_finite_f32(w.data() + offset, w.size() - offset) == static_cast<int64_t>(2001 - offset));
}

ASTRO_TEST_MAIN()
