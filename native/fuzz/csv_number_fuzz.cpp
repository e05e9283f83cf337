// libFuzzer harness for the CSV number parser and formatter (native/kernels/csv.cpp):
//  - astro::csv_parse_float on the input text against the reference (csv_reference.h:
//    std::from_chars, correctly rounded to float32);
//  - the input's bytes as float32 values, written by csv_format_rows and read back with
//    csv_parse_float: every finite value must come back bit for bit (-0 included), NaN as an
//    empty field and ±Inf as inf/-inf when allowed, and nothing written past the bound.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "csv_reference.h"
#include "kernels/csv.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "csv number harness: %s\n", what);
  std::abort();
}

uint32_t bits(float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  return b;
}

void parse_text(const uint8_t* input, size_t size) {
  char* text = static_cast<char*>(std::malloc(size > 0 ? size : 1));
  if (size > 0) std::memcpy(text, input, size);
  float got = 0.0f, want = 0.0f;
  bool non_finite = false;
  const bool ok = astro::csv_parse_float(text, text + size, &got, &non_finite);
  // A comma or line break can't be inside one field; the reference reads one field.
  bool field = true;
  for (size_t i = 0; i < size; ++i) field &= text[i] != ',' && text[i] != '\n';
  if (field) {
    const csv_reference::Number n = csv_reference::number(text, text + size, &want);
    // csv.h: false for malformed text; true for a number, with *non_finite set for nan, inf and
    // values beyond float32's range.
    if (ok != (n != csv_reference::Number::malformed)) fail("accepts what the reference refuses, or the reverse");
    if (ok && non_finite != (n == csv_reference::Number::non_finite)) fail("non-finite flag differs from the reference");
    if (n == csv_reference::Number::ok && bits(got) != bits(want)) fail("value differs from the correctly rounded reference");
  }
  std::free(text);
}

void round_trip(const uint8_t* input, size_t size) {
  const size_t count = size / 4;
  if (count == 0) return;
  std::vector<float> values(count);
  std::memcpy(values.data(), input, count * 4);
  const size_t cols = 1 + input[0] % 7;
  const size_t rows = count / cols;
  if (rows == 0) return;
  const bool allow_non_finite = input[size - 1] & 1;
  const size_t bound = astro::csv_format_bound(rows, cols);
  char* out = static_cast<char*>(std::malloc(bound));
  std::vector<int32_t> row_ends(rows);
  const astro::CsvFormatResult r = astro::csv_format_rows(values.data(), rows, cols, out, row_ends.data(), allow_non_finite, 1);
  int64_t first_bad = -1;
  for (size_t i = 0; i < rows * cols && first_bad < 0; ++i) if (!std::isfinite(values[i])) first_bad = static_cast<int64_t>(i);
  if (!allow_non_finite) {
    if (r.first_non_finite != first_bad) fail("first non-finite value misreported");
    if (first_bad >= 0) {
      if (r.bytes != 0) fail("wrote text although a value is non-finite");
      std::free(out);
      return;
    }
  }
  if (r.bytes > bound) fail("wrote past csv_format_bound");
  size_t start = 0;
  for (size_t row = 0; row < rows; ++row) {
    const size_t end = static_cast<size_t>(row_ends[row]);
    if (end < start || end > r.bytes) fail("row end out of order");
    const char* p = out + start;
    for (size_t c = 0; c < cols; ++c) {
      const char* q = p;
      while (q < out + end && *q != ',') ++q;
      const float v = values[row * cols + c];
      float back = 0.0f;
      bool non_finite = false;
      const bool ok = astro::csv_parse_float(p, q, &back, &non_finite);
      if (std::isnan(v)) {
        if (q != p) fail("NaN not written as an empty field");
      } else if (std::isinf(v)) {
        if (!non_finite) fail("infinity not written as inf");
      } else if (!ok || bits(back) != bits(v)) {
        fail("a finite value doesn't read back bit for bit");
      }
      p = q + 1;
    }
    start = end;
  }
  std::free(out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* input, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the property, so one corpus serves both.
  if (input[0] & 1) parse_text(input + 1, size - 1);
  else round_trip(input + 1, size - 1);
  return 0;
}
