// Kernel tests of native/kernels/preprocess*: run once per ISA (ASTROSPEC_ISA, see
// CMakeLists.txt) under ASan + UBSan. The TS tests compare against the full reference; these
// pin the pieces with closed-form answers and the memory-safety edges (tails, aliasing).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "check.h"
#include "kernels/cpu.h"
#include "kernels/preprocess.h"
#include "kernels/preprocess_isa.h"

namespace {

float active_log(float x) {
#if defined(ASTRO_HAVE_X86_ISAS)
  switch (astro::active_isa()) {
    case astro::Isa::avx512: return astro::avx512::log_approx(x);
    case astro::Isa::avx2: return astro::avx2::log_approx(x);
    default: break;
  }
#endif
  return astro::baseline::log_approx(x);
}

float active_fit_log(float x) {
#if defined(ASTRO_HAVE_X86_ISAS)
  switch (astro::active_isa()) {
    case astro::Isa::avx512: return astro::avx512::fit_log_approx(x);
    case astro::Isa::avx2: return astro::avx2::fit_log_approx(x);
    default: break;
  }
#endif
  return astro::baseline::fit_log_approx(x);
}

struct Result {
  std::vector<float> flux, features;
  std::vector<uint8_t> flags;
};

Result run(const std::vector<float>& flux, size_t rows, size_t length, astro::PreprocessParams params, int threads = 1,
           const uint8_t* bad = nullptr) {
  Result r;
  r.flux.assign(params.bin > 0 ? rows * (length / params.bin) : 0, -1.0f);
  r.features.assign(rows * astro::kFeatureCount, -1.0f);
  r.flags.assign(rows, 255);
  astro::PreprocessInput in;
  in.flux = flux.data();
  in.bad_pixels = bad;
  in.rows = rows;
  in.length = length;
  astro::PreprocessOutput out;
  out.flux = r.flux.data();
  out.features = r.features.data();
  out.flags = r.flags.data();
  astro::preprocess(params, in, out, threads);
  return r;
}

// F = A·λ⁻⁵·exp(−c₂/(λT)), λ in nm on the competition grid.
std::vector<float> wien_row(size_t length, double t, double ln_a) {
  std::vector<float> row(length);
  for (size_t i = 0; i < length; ++i) {
    double lambda = (3800.0 + 2.0 * i) / 10.0;
    row[i] = static_cast<float>(std::exp(ln_a - 5 * std::log(lambda) - astro::kWienC2NmK / (lambda * t)));
  }
  return row;
}

}  // namespace

TEST(log_has_bounded_error_over_the_float_range) {
  // Relative-to-max(1, |ln x|) error of the vector log against std::log, 2^-24 … 2^24 steps.
  double worst = 0;
  for (double e = -125.9; e < 127.9; e += 0.00731) {
    float x = static_cast<float>(std::exp2(e));
    double err = std::fabs(static_cast<double>(active_log(x)) - std::log(static_cast<double>(x)));
    worst = std::fmax(worst, err / std::fmax(1.0, std::fabs(std::log(static_cast<double>(x)))));
  }
  for (float x = 0.5f; x < 2.0f; x += 1.0f / 4096) {
    double err = std::fabs(static_cast<double>(active_log(x)) - std::log(static_cast<double>(x)));
    worst = std::fmax(worst, err);
  }
  CHECK(worst < 3e-7);
  std::printf("     log: worst error %.3g (%s)\n", worst, astro::isa_name(astro::active_isa()));
}

TEST(fit_log_has_bounded_absolute_error) {
  // The Wien fit's log trades relative accuracy near 1 for seven FMAs: absolute error at most
  // 3.5e-7 on the mantissa range [1, 2), plus the float rounding of e·ln 2 elsewhere.
  double worst_mantissa = 0, worst = 0;
  for (float x = 1.0f; x < 2.0f; x = std::nextafter(x, 2.0f)) {
    double err = std::fabs(static_cast<double>(active_fit_log(x)) - std::log(static_cast<double>(x)));
    worst_mantissa = std::fmax(worst_mantissa, err);
  }
  for (double e = -125.9; e < 127.9; e += 0.00731) {
    float x = static_cast<float>(std::exp2(e));
    double ln = std::log(static_cast<double>(x));
    double err = std::fabs(static_cast<double>(active_fit_log(x)) - ln);
    worst = std::fmax(worst, err / std::fmax(1.0, std::fabs(ln)));
  }
  CHECK(worst_mantissa < 3.5e-7);
  CHECK(worst < 3.5e-7);
  std::printf("     fit log: worst absolute error %.3g on [1, 2), %.3g relative to max(1, |ln x|) (%s)\n",
              worst_mantissa, worst, astro::isa_name(astro::active_isa()));
}

TEST(wien_fit_recovers_temperature_and_amplitude) {
  for (double t : {3000.0, 5800.0, 15000.0}) {
    auto row = wien_row(2600, t, 25.0);
    astro::PreprocessParams p;
    Result r = run(row, 1, 2600, p);
    CHECK(r.flags[0] == 0);
    CHECK_NEAR(r.features[astro::kFeatureWienTemperature] / t, 1.0, 1e-4);
    CHECK_NEAR(r.features[astro::kFeatureWienLogAmplitude], 25.0, 1e-3);
    CHECK(r.features[astro::kFeatureWienR2] > 0.9999f);
    CHECK(r.features[astro::kFeatureWienRms] < 1e-4f);
    CHECK(r.features[astro::kFeatureWienPixels] == 2600.0f);
  }
}

TEST(l2_rows_have_unit_norm_for_every_tail_length) {
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> dist(0.1f, 10.0f);
  for (size_t length = 1; length <= 70; ++length) {
    const size_t rows = 3;
    std::vector<float> flux(rows * length);
    for (auto& v : flux) v = dist(gen);
    flux[length / 2] = std::numeric_limits<float>::quiet_NaN();  // masked in row 0
    astro::PreprocessParams p;
    Result r = run(flux, rows, length, p, 2);
    for (size_t row = length == 1 ? 1 : 0; row < rows; ++row) {  // length 1: row 0 is all NaN
      double ss = 0;
      for (size_t i = 0; i < length; ++i) ss += double(r.flux[row * length + i]) * r.flux[row * length + i];
      CHECK_NEAR(ss, 1.0, 1e-5);
    }
    CHECK(r.flux[length / 2] == 0.0f);
    // mean of row 1 from the definition
    double sum = 0;
    for (size_t i = 0; i < length; ++i) sum += flux[length + i];
    CHECK_NEAR(r.features[astro::kFeatureCount + astro::kFeatureMean], sum / length, 1e-5 * sum / length);
  }
}

TEST(masked_rows_are_flagged_not_thrown) {
  const size_t length = 37;
  std::vector<float> flux(3 * length, 0.0f);
  for (size_t i = 0; i < length; ++i) flux[length + i] = std::numeric_limits<float>::quiet_NaN();
  for (size_t i = 0; i < length; ++i) flux[2 * length + i] = -1.0f - float(i);
  astro::PreprocessParams p;
  Result r = run(flux, 3, length, p);
  CHECK(r.flags[0] == astro::kFlagNoValidPixels);
  CHECK(r.flags[1] == astro::kFlagNoValidPixels);
  CHECK(r.flags[2] == astro::kFlagNoWienFit);
  CHECK(std::isnan(r.features[astro::kFeatureMean]));
  CHECK(r.features[astro::kFeatureWienPixels] == 0.0f);
  CHECK(std::isnan(r.features[2 * astro::kFeatureCount + astro::kFeatureWienTemperature]));
  CHECK_NEAR(r.features[2 * astro::kFeatureCount + astro::kFeatureMean], -19.0, 1e-5);
  for (size_t i = 0; i < 2 * length; ++i) CHECK(r.flux[i] == 0.0f);
}

TEST(bad_pixel_mask_excludes_pixels) {
  const size_t length = 50;
  std::vector<float> flux(length, 2.0f);
  flux[10] = 1000.0f;
  std::vector<uint8_t> bad(length, 0);
  bad[10] = 1;
  astro::PreprocessParams p;
  p.normalisation = astro::Normalisation::median;
  Result r = run(flux, 1, length, p, 1, bad.data());
  CHECK(r.flux[10] == 0.0f);
  CHECK(r.flux[0] == 1.0f);
  CHECK_NEAR(r.features[astro::kFeatureMean], 2.0, 1e-6);
  CHECK_NEAR(r.features[astro::kFeatureStd], 0.0, 1e-6);
}

TEST(binning_and_smoothing_lengths_and_values) {
  const size_t length = 103;
  std::vector<float> flux(length);
  for (size_t i = 0; i < length; ++i) flux[i] = 1.0f + 0.01f * i + 0.0005f * i * i;  // a quadratic
  astro::PreprocessParams p;
  p.normalisation = astro::Normalisation::none;
  p.smooth_window = 7;
  Result smooth = run(flux, 1, length, p);
  for (size_t i = 0; i < length; ++i) CHECK_NEAR(smooth.flux[i], flux[i], 1e-4 * flux[i]);  // SG keeps quadratics
  p.smooth_window = 0;
  p.bin = 5;
  Result binned = run(flux, 1, length, p);
  CHECK(binned.flux.size() == length / 5);
  for (size_t j = 0; j < length / 5; ++j) {
    double mean = 0;
    for (size_t k = 0; k < 5; ++k) mean += flux[j * 5 + k] / 5.0;
    CHECK_NEAR(binned.flux[j], mean, 1e-5 * mean);
  }
}

TEST(threads_and_in_place_give_identical_results) {
  std::mt19937 gen(2);
  std::uniform_real_distribution<float> dist(0.5f, 2.0f);
  const size_t rows = 23, length = 301;
  std::vector<float> flux(rows * length);
  for (size_t r = 0; r < rows; ++r) {
    auto row = wien_row(length, 4000 + 500.0 * r, 30.0);
    for (size_t i = 0; i < length; ++i) flux[r * length + i] = row[i] * dist(gen);
  }
  astro::PreprocessParams p;
  p.robust = true;
  Result one = run(flux, rows, length, p, 1), three = run(flux, rows, length, p, 3);
  CHECK(std::memcmp(one.flux.data(), three.flux.data(), one.flux.size() * 4) == 0);
  CHECK(std::memcmp(one.features.data(), three.features.data(), one.features.size() * 4) == 0);
  std::vector<float> in_place = flux;
  std::vector<float> features(rows * astro::kFeatureCount);
  std::vector<uint8_t> flags(rows);
  astro::PreprocessInput in{in_place.data(), nullptr, rows, length};
  astro::PreprocessOutput out{in_place.data(), features.data(), flags.data()};
  astro::preprocess(p, in, out, 2);
  CHECK(std::memcmp(one.flux.data(), in_place.data(), one.flux.size() * 4) == 0);
  CHECK(std::memcmp(one.features.data(), features.data(), features.size() * 4) == 0);
}

TEST(invalid_parameters_throw) {
  std::vector<float> flux(10, 1.0f);
  astro::PreprocessParams p;
  p.bin = 0;
  bool thrown = false;
  try {
    run(flux, 1, 10, p);
  } catch (const std::invalid_argument&) {
    thrown = true;
  }
  CHECK(thrown);
  p.bin = 1;
  p.smooth_window = 4;
  thrown = false;
  try {
    run(flux, 1, 10, p);
  } catch (const std::invalid_argument&) {
    thrown = true;
  }
  CHECK(thrown);
}

TEST(savgol_coefficients_sum_to_one_and_are_symmetric) {
  for (int w : {3, 5, 7, 9, 21}) {
    std::vector<double> c(w);
    astro::savgol_coefficients(w, w / 2, c.data());
    double sum = 0;
    for (int k = 0; k < w; ++k) sum += c[k];
    CHECK_NEAR(sum, 1.0, 1e-12);
    for (int k = 0; k < w; ++k) CHECK_NEAR(c[k], c[w - 1 - k], 1e-12);
  }
}

TEST(noise_is_deterministic_masked_and_at_the_requested_level) {
  const size_t rows = 4, length = 4001;
  std::vector<float> flux(rows * length, 5.0f);
  flux[7] = 0.0f;
  flux[8] = std::numeric_limits<float>::quiet_NaN();
  std::vector<uint8_t> mask{1, 1, 0, 1};
  astro::NoiseParams p;
  p.snr_low = p.snr_high = 20.0;
  p.seed = 77;
  std::vector<float> a = flux, b = flux;
  astro::augment_noise(p, a.data(), rows, length, mask.data(), 1);
  astro::augment_noise(p, b.data(), rows, length, mask.data(), 3);
  CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
  CHECK(a[7] == 0.0f);
  CHECK(std::isnan(a[8]));
  for (size_t i = 0; i < length; ++i) CHECK(a[2 * length + i] == 5.0f);
  double ss = 0;
  for (size_t i = 0; i < length; ++i) ss += (a[length + i] - 5.0) * (a[length + i] - 5.0);
  CHECK_NEAR(std::sqrt(ss / length), 5.0 / 20.0, 0.25 * 0.04);  // σ = 0.25 within 4%
}

ASTRO_TEST_MAIN()
