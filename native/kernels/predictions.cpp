// See predictions.h. Double arithmetic in the TypeScript twins' order, so the numbers agree.
#include "kernels/predictions.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace astro {
namespace {

// Bins either side of the peak the estimate averages over (PEAK_HALF_WIDTH in redshift.ts).
constexpr size_t kPeakHalfWidth = 3;

constexpr uint64_t kPowersOfTen[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

size_t put(char* out, const char* text) {
  const size_t n = std::strlen(text);
  std::memcpy(out, text, n);
  return n;
}

// n in decimal; returns the digits written.
size_t put_uint(char* out, uint64_t n) {
  char digits[20];
  size_t k = 0;
  do {
    digits[k++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n > 0);
  for (size_t i = 0; i < k; ++i) out[i] = digits[k - 1 - i];
  return k;
}

// A CSV cell: quoted, with quotes doubled, when it holds a comma, a quote or a line end.
size_t put_cell(char* out, const char* text, size_t n) {
  bool quote = false;
  for (size_t i = 0; i < n && !quote; ++i) quote = text[i] == ',' || text[i] == '"' || text[i] == '\n' || text[i] == '\r';
  if (!quote) {
    std::memcpy(out, text, n);
    return n;
  }
  size_t at = 0;
  out[at++] = '"';
  for (size_t i = 0; i < n; ++i) {
    if (text[i] == '"') out[at++] = '"';
    out[at++] = text[i];
  }
  out[at++] = '"';
  return at;
}

// Bytes put_cell may write for n bytes of text.
size_t cell_bound(size_t n) { return 2 * n + 2; }

// argmax3 of src/io/batch.ts: the first of the largest (NaN compares false, as there).
int argmax3(const float* p) {
  const float a = p[0], b = p[1], c = p[2];
  return a >= b ? (a >= c ? 0 : 2) : b >= c ? 1 : 2;
}

constexpr const char* kClassNames[] = {"star", "galaxy", "qso"};

}  // namespace

void decode_redshift(const float* probabilities, size_t rows, size_t bins, double z_min, double z_max,
                     const uint8_t* decode, float* z, float* z_err) {
  const double w = (std::log1p(z_max) - std::log1p(z_min)) / static_cast<double>(bins);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (size_t r = 0; r < rows; ++r) {
    z[r] = static_cast<float>(nan);
    z_err[r] = static_cast<float>(nan);
    if ((decode && !decode[r]) || bins == 0) continue;
    const float* p = probabilities + r * bins;
    size_t peak = 0;
    for (size_t k = 1; k < bins; ++k)
      if (p[k] > p[peak]) peak = k;
    double mass = 0, moment = 0;
    const size_t last = peak + kPeakHalfWidth < bins - 1 ? peak + kPeakHalfWidth : bins - 1;
    for (size_t k = peak > kPeakHalfWidth ? peak - kPeakHalfWidth : 0; k <= last; ++k) {
      mass += static_cast<double>(p[k]);
      moment += static_cast<double>(p[k]) * (static_cast<double>(k) + 0.5);
    }
    if (!(mass > 0)) continue;
    const double position = moment / mass;  // in bins
    double spread = 0, total = 0;
    for (size_t k = 0; k < bins; ++k) {
      const double d = static_cast<double>(k) + 0.5 - position;
      spread += static_cast<double>(p[k]) * (d * d);
      total += static_cast<double>(p[k]);
    }
    const double u = std::log1p(z_min) + position * w;
    z[r] = static_cast<float>(std::expm1(u));
    z_err[r] = static_cast<float>(std::exp(u) * w * std::sqrt(spread / total + 1.0 / 12));
  }
}

void check_outputs(const BatchOutputs& outputs, uint8_t* status, float* p, float* z, float* z_err, uint8_t* decode) {
  for (size_t i = 0; i < outputs.rows; ++i) {
    if (status[i] != kRowOk) continue;
    bool finite = true;
    for (int k = 0; k < 3; ++k) {
      const float v = outputs.probabilities[3 * i + static_cast<size_t>(k)];
      p[3 * i + static_cast<size_t>(outputs.columns[k])] = v;
      finite = finite && std::isfinite(v);
    }
    if (!finite) status[i] = kRowNonFiniteOutput;
  }
  if (outputs.ood_score) {
    // A score that is not finite (features overflowed) is as unlike the validation set as it gets.
    for (size_t i = 0; i < outputs.rows; ++i)
      if (status[i] == kRowOk && !(static_cast<double>(outputs.ood_score[i]) <= outputs.ood_threshold)) status[i] = kRowOod;
  }
  if (outputs.z_bins) {
    // The head learnt galaxies and QSOs only: a star's redshift output means nothing.
    constexpr int kStar = 0;
    for (size_t i = 0; i < outputs.rows; ++i)
      decode[i] = (status[i] == kRowOk || status[i] == kRowOod) && argmax3(p + 3 * i) != kStar ? 1 : 0;
    decode_redshift(outputs.z_bins, outputs.rows, outputs.bins, outputs.z_min, outputs.z_max, decode, z, z_err);
  }
}

size_t format_fixed(double x, int digits, char* out) {
  if (std::isnan(x)) return put(out, "NaN");
  if (std::isinf(x)) return put(out, x > 0 ? "Infinity" : "-Infinity");
  const double magnitude = std::fabs(x);
  if (magnitude >= 1e21) {
    // toFixed gives ToString(x) here: the shortest digits that read back as x, exponent form.
    auto result = std::to_chars(out, out + kFixedMaxChars, x, std::chars_format::scientific);
    return static_cast<size_t>(result.ptr - out);
  }
  size_t at = 0;
  // The sign of negatives that round to zero is kept ("-0.000000"), not that of −0.
  if (x < 0) out[at++] = '-';
  const uint64_t scale = kPowersOfTen[digits];
  uint64_t whole, fraction;
  if (magnitude < 16777216.0) {
    // A float32 below 2^24 times 10^digits (≤ 1.7e15) is exact in double: round half up of
    // the exact product is toFixed's integer (the nearer one, the larger on a tie).
    const double scaled = magnitude * static_cast<double>(scale);
    double n = std::floor(scaled);
    if (scaled - n >= 0.5) n += 1;
    const uint64_t units = static_cast<uint64_t>(n);
    whole = units / scale;
    fraction = units % scale;
    at += put_uint(out + at, whole);
  } else {
    // A float32 from 2^24 on is an integer, here below 1e21 (beyond uint64): printf's %.0f
    // writes an integer-valued double exactly.
    at += static_cast<size_t>(std::snprintf(out + at, kFixedMaxChars - at, "%.0f", magnitude));
    fraction = 0;
  }
  out[at++] = '.';
  for (int k = digits - 1; k >= 0; --k) {
    out[at + static_cast<size_t>(k)] = static_cast<char>('0' + fraction % 10);
    fraction /= 10;
  }
  return at + static_cast<size_t>(digits);
}

size_t prediction_lines_bound(const PredictionLines& lines) {
  // Per row, besides id and status: row (≤ 20), class name (6), three probabilities, ood score,
  // z and z_err (kFixedMaxChars each), commas and the line end (< 16).
  size_t bound = lines.rows * (20 + 6 + 6 * kFixedMaxChars + 16);
  bound += cell_bound(lines.id_offsets[lines.rows] - lines.id_offsets[0]) + 2 * lines.rows;
  bound += cell_bound(lines.status_offsets[lines.rows] - lines.status_offsets[0]) + 2 * lines.rows;
  return bound;
}

size_t write_prediction_lines(const PredictionLines& lines, char* out) {
  size_t at = 0;
  for (size_t r = 0; r < lines.rows; ++r) {
    const char* status = lines.status_bytes + lines.status_offsets[r];
    const size_t status_length = lines.status_offsets[r + 1] - lines.status_offsets[r];
    // hasPrediction: 'ok' and 'ood' rows have a class and probabilities.
    const bool predicted = (status_length == 2 && std::memcmp(status, "ok", 2) == 0) ||
                           (status_length == 3 && std::memcmp(status, "ood", 3) == 0);
    at += put_uint(out + at, static_cast<uint64_t>(lines.first_row) + r);
    out[at++] = ',';
    at += put_cell(out + at, lines.id_bytes + lines.id_offsets[r], lines.id_offsets[r + 1] - lines.id_offsets[r]);
    out[at++] = ',';
    if (predicted) {
      const float* p = lines.probabilities + 3 * r;
      at += put(out + at, kClassNames[argmax3(p)]);
      for (int k = 0; k < 3; ++k) {
        out[at++] = ',';
        at += format_fixed(p[k], 6, out + at);
      }
      out[at++] = ',';
      std::memcpy(out + at, status, status_length);
      at += status_length;
    } else {
      at += put(out + at, ",,,,");
      at += put_cell(out + at, status, status_length);
    }
    if (lines.ood_score) {
      out[at++] = ',';
      const float score = lines.ood_score[r];
      if (predicted) at += std::isfinite(score) ? format_fixed(score, 4, out + at) : put(out + at, "inf");
    }
    if (lines.z) {
      out[at++] = ',';
      const float z = lines.z[r], z_err = lines.z_err[r];
      if (predicted && std::isfinite(z)) {
        at += format_fixed(z, 5, out + at);
        out[at++] = ',';
        if (std::isfinite(z_err)) at += format_fixed(z_err, 5, out + at);
      } else {
        out[at++] = ',';
      }
    }
    out[at++] = '\n';
  }
  return at;
}

}  // namespace astro
