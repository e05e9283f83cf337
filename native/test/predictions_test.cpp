// Kernels of native/kernels/predictions.h on known answers; test/prediction-lines.test.ts checks
// them against the TypeScript writer and decoder on random rows.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "check.h"
#include "kernels/predictions.h"

namespace {
std::string fixed(double x, int digits) {
  char out[astro::kFixedMaxChars];
  return std::string(out, astro::format_fixed(x, digits, out));
}
}  // namespace

TEST(format_fixed_matches_javascript_to_fixed) {
  CHECK(fixed(0.0078125, 6) == "0.007813");  // a tie: the larger
  CHECK(fixed(-0.015625, 6) == "-0.015625");
  CHECK(fixed(-1e-9, 6) == "-0.000000");     // the sign of a negative that rounds to zero
  CHECK(fixed(-0.0, 6) == "0.000000");       // not that of −0
  CHECK(fixed(1, 8) == "1.00000000");
  CHECK(fixed(16777215.5, 4) == "16777215.5000");
  CHECK(fixed(16777216, 4) == "16777216.0000");
  CHECK(fixed(1e20, 1) == "100000000000000000000.0");
  CHECK(fixed(1e21, 6) == "1e+21");
  CHECK(fixed(-3.4028234663852886e38, 6) == "-3.4028234663852886e+38");
  CHECK(fixed(std::numeric_limits<double>::quiet_NaN(), 6) == "NaN");
  CHECK(fixed(-std::numeric_limits<double>::infinity(), 6) == "-Infinity");
}

TEST(prediction_lines_quote_cells_and_leave_unpredicted_rows_empty) {
  const char ids[] = "a,b\"c";
  const uint32_t id_offsets[] = {0, 3, 5};
  const char statuses[] = "okno_valid_pixels";
  const uint32_t status_offsets[] = {0, 2, 17};
  const float p[] = {0.25f, 0.5f, 0.25f, 1, 0, 0};
  const float z[] = {1.5f, 2}, z_err[] = {std::numeric_limits<float>::quiet_NaN(), 0.1f};
  astro::PredictionLines lines;
  lines.first_row = 41;
  lines.rows = 2;
  lines.id_bytes = ids;
  lines.id_offsets = id_offsets;
  lines.status_bytes = statuses;
  lines.status_offsets = status_offsets;
  lines.probabilities = p;
  lines.z = z;
  lines.z_err = z_err;
  std::vector<char> out(astro::prediction_lines_bound(lines));
  const size_t n = astro::write_prediction_lines(lines, out.data());
  CHECK(n <= out.size());
  CHECK(std::string(out.data(), n) == "41,\"a,b\",galaxy,0.250000,0.500000,0.250000,ok,1.50000,\n42,\"\"\"c\",,,,,no_valid_pixels,,\n");
}

TEST(decode_redshift_skips_rows_and_finds_the_peak) {
  const size_t bins = 20;
  std::vector<float> p(2 * bins, 0.0f);
  p[bins + 10] = 1;  // row 1: all mass in bin 10
  const uint8_t decode[] = {1, 1};
  float z[2], z_err[2];
  astro::decode_redshift(p.data(), 2, bins, 0, 1, decode, z, z_err);
  CHECK(std::isnan(z[0]) && std::isnan(z_err[0]));  // no mass
  const double w = std::log1p(1.0) / bins;
  CHECK(std::fabs(z[1] - std::expm1(10.5 * w)) < 1e-6);
  CHECK(std::fabs(z_err[1] - std::exp(10.5 * w) * w * std::sqrt(1.0 / 12)) < 1e-6);
  const uint8_t skip[] = {0, 0};
  astro::decode_redshift(p.data(), 2, bins, 0, 1, skip, z, z_err);
  CHECK(std::isnan(z[1]));
}

ASTRO_TEST_MAIN()
