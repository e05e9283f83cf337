// A plain reference for the CSV row parser (native/kernels/csv.cpp), written from its documented
// grammar (csv.h, docs/formats.md "CSV") the slow, obvious way: split fields by scanning, read
// every number with the standard library's correctly rounded std::from_chars. The fuzz harnesses
// compare the kernel against it: same accept/reject decision, same error (kind, row, field, byte),
// same values bit for bit, same text spans.
#pragma once
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include "kernels/csv.h"

namespace csv_reference {

enum class Number { ok, malformed, non_finite };

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_space(char c) { return c == ' ' || c == '\t'; }

// One numeric field [p, e) (no commas in it). Grammar: spaces, [+-], digits [. digits] or
// . digits, [eE [+-] digits], spaces. Values round once from the decimal to float32; beyond
// float32's range, tiny values are ±0 (pandas' float64 → float32 cast) and large ones non-finite.
// Text that std::from_chars reads as inf or nan (after the sign, with only spaces after) is non-finite.
inline Number number(const char* p, const char* e, float* out) {
  while (p < e && is_space(*p)) ++p;
  bool negative = false;
  if (p < e && (*p == '+' || *p == '-')) negative = *p++ == '-';
  const char* s = p;
  size_t digits = 0;
  while (p < e && is_digit(*p)) ++p, ++digits;
  if (p < e && *p == '.') {
    ++p;
    while (p < e && is_digit(*p)) ++p, ++digits;
  }
  if (digits == 0) {
    float v;
    auto r = std::from_chars(p, e, v);
    if (!(p < e && (*p == 'n' || *p == 'N' || *p == 'i' || *p == 'I') && r.ec == std::errc() && !std::isfinite(v))) return Number::malformed;
    const char* t = r.ptr;
    while (t < e && is_space(*t)) ++t;
    return t == e ? Number::non_finite : Number::malformed;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < e && (*p == '+' || *p == '-')) ++p;
    if (p >= e || !is_digit(*p)) return Number::malformed;
    while (p < e && is_digit(*p)) ++p;
  }
  const char* end = p;
  while (p < e && is_space(*p)) ++p;
  if (p != e) return Number::malformed;
  float v = 0.0f;
  auto r = std::from_chars(s, end, v);
  if (r.ec == std::errc::result_out_of_range) {
    std::string text(s, end);
    errno = 0;
    double d = std::strtod(text.c_str(), nullptr);
    // strtod returns ±HUGE_VAL on overflow and a tiny value or 0 on underflow.
    v = std::fabs(d) > 1 ? INFINITY : static_cast<float>(d);
  } else if (r.ec != std::errc() || r.ptr != end) {
    return Number::malformed;
  }
  if (!std::isfinite(v)) return Number::non_finite;
  *out = negative ? -v : v;
  return Number::ok;
}

struct Result {
  size_t rows = 0, consumed = 0;
  astro::CsvError error = astro::CsvError::none;
  size_t error_row = 0, error_field = 0, error_offset = 0;
  std::vector<float> flux;      // rows × pixels
  std::vector<int32_t> spans;   // rows × 2·text fields
};

// Text field at p: quoted ("" escapes a quote; the closing quote is followed by ',' or the line
// end) or up to the next comma. Returns false for a bad quoted field.
inline bool text_field(const char* p, const char* e, const char** q) {
  if (p < e && *p == '"') {
    for (const char* c = p + 1; c < e; ++c) {
      if (*c != '"') continue;
      if (c + 1 < e && c[1] == '"') {
        ++c;
        continue;
      }
      *q = c + 1;
      return *q == e || **q == ',';
    }
    return false;
  }
  const char* c = p;
  while (c < e && *c != ',') ++c;
  *q = c;
  return true;
}

inline Result parse(const char* data, size_t size, const astro::CsvLayout& layout, size_t max_rows) {
  Result out;
  const size_t total = layout.text_fields() + layout.pixels;
  size_t at = 0;
  while (out.rows < max_rows) {
    size_t nl = at;
    while (nl < size && data[nl] != '\n') ++nl;
    if (nl >= size) break;  // no line end: not a row yet
    const char* b = data + at;
    const char* e = data + nl;
    if (e > b && e[-1] == '\r') --e;
    std::vector<float> flux;
    std::vector<int32_t> spans;
    astro::CsvError kind = astro::CsvError::none;
    size_t field = 0;
    const char* where = b;
    if (b == e) {
      kind = astro::CsvError::empty_line;
    } else {
      const char* p = b;
      for (field = 0; field < total; ++field) {
        const bool text = (layout.has_id && field == 0) || field >= (layout.has_id ? 1 : 0) + layout.pixels;
        const char* q = nullptr;
        if (text) {
          if (!text_field(p, e, &q)) {
            kind = astro::CsvError::unterminated_quote;
            where = p;
            break;
          }
          spans.push_back(static_cast<int32_t>(p - data));
          spans.push_back(static_cast<int32_t>(q - data));
        } else {
          q = p;
          while (q < e && *q != ',') ++q;
          float v = 0.0f;
          Number n = number(p, q, &v);
          if (n != Number::ok) {
            kind = n == Number::non_finite ? astro::CsvError::non_finite : astro::CsvError::not_a_number;
            where = p;
            break;
          }
          flux.push_back(v);
        }
        if (field + 1 == total) {
          if (q != e) {
            kind = astro::CsvError::too_many_fields;
            field = total;
            where = q;
          }
          break;
        }
        if (q == e) {
          kind = astro::CsvError::too_few_fields;
          field = field + 1;
          where = q;
          break;
        }
        p = q + 1;
      }
    }
    if (kind != astro::CsvError::none) {
      out.error = kind;
      out.error_row = out.rows;
      out.error_field = kind == astro::CsvError::empty_line ? 0 : field;
      out.error_offset = static_cast<size_t>(where - data);
      out.consumed = at;
      return out;
    }
    out.flux.insert(out.flux.end(), flux.begin(), flux.end());
    out.spans.insert(out.spans.end(), spans.begin(), spans.end());
    ++out.rows;
    at = nl + 1;
    out.consumed = at;
  }
  return out;
}

}  // namespace csv_reference
