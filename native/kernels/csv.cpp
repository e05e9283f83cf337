#include "kernels/csv.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <system_error>
#include <algorithm>
#include <atomic>
#include <vector>

#include "kernels/cpu.h"
#include "kernels/csv_isa.h"
#include "kernels/parallel.h"

namespace astro {
namespace {

// Exact powers of ten as doubles: 10^22 is the largest that a double represents exactly.
constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

constexpr uint64_t kPow10Int[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

inline bool is_digit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr bool kSwar = true;
#else
constexpr bool kSwar = false;
#endif

// SWAR ("SIMD within a register"): how many of the 8 bytes at p are leading decimal digits
// (0–8), and their value. One load and a few multiplies instead of a loop with a data-dependent
// exit per digit: fluxes as pandas writes them have 1–4 integer and 4–8 fraction digits, so the
// loop's exit branch mispredicts on nearly every number. Little-endian only (byte 0 = first char).
inline int swar_digits(const char* p, uint64_t* value) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  const uint64_t y = x ^ 0x3030303030303030ULL;  // digit bytes become 0–9, every other byte ≥ 10
  // Per byte, no carries between bytes: high bit set where y ≥ 10 ((y & 0x7F) + 0x76 ≥ 0x80, or y ≥ 0x80).
  const uint64_t non_digit = (((y & 0x7F7F7F7F7F7F7F7FULL) + 0x7676767676767676ULL) | y) & 0x8080808080808080ULL;
  const int n = non_digit ? __builtin_ctzll(non_digit) >> 3 : 8;
  if (n == 0) {
    *value = 0;
    return 0;
  }
  // Keep the n digit bytes, moved up so the low bytes are leading zeros of an 8-digit number.
  uint64_t v = y << (8 * (8 - n));
  // Pairs, then quads, then all eight: d0..d7 → one integer (the usual 3-multiply reduction).
  v = v * 10 + (v >> 8);
  v = (((v & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
       (((v >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >> 32;
  *value = static_cast<uint32_t>(v);
  return n;
}
inline bool is_space(char c) { return c == ' ' || c == '\t'; }

enum class NumberStatus { ok, malformed, non_finite };

// Slow path: std::from_chars (libstdc++'s is fast_float-based and correctly rounded) on the
// unsigned part [s, q) already validated by the scanner. Values that underflow float32 become
// ±0 as they do when pandas reads float64 and casts to float32; overflow is non-finite.
NumberStatus parse_exact(const char* s, const char* q, bool negative, bool exponent_positive, float* out) {
  float v = 0.0f;
  auto r = std::from_chars(s, q, v);
  if (r.ec == std::errc::result_out_of_range) {
    double d = 0.0;
    auto rd = std::from_chars(s, q, d);
    if (rd.ec == std::errc()) {
      v = static_cast<float>(d);
    } else {
      v = exponent_positive ? std::numeric_limits<float>::infinity() : 0.0f;
    }
  } else if (r.ec != std::errc() || r.ptr != q) {
    return NumberStatus::malformed;
  }
  if (!std::isfinite(v)) return NumberStatus::non_finite;
  *out = negative ? -v : v;
  return NumberStatus::ok;
}

// Parses a decimal number starting at p (line end e). On success *end is just past the number
// and any spaces after it. `limit` is the end of readable memory (≥ e): when at least 24 bytes
// remain and e is a line terminator (not a digit), the digits are scanned 8 bytes at a time,
// giving exactly what the byte loop gives; csv_parse_float passes limit = e (byte loop only). Most fluxes as pandas writes them (≤ 9 significant digits, small
// exponents) take the fast path: the integer mantissa m and 10^k are exact doubles, so m·10^k
// or m/10^k is one correctly rounded double operation; rounding that double to float32 equals
// rounding the exact decimal unless the double landed exactly on a float32 rounding midpoint,
// which is checked (Clinger 1990, "How to read floating point numbers accurately").
inline NumberStatus parse_number(const char* p, const char* e, const char* limit, float* out, const char** end) {
  while (p < e && is_space(*p)) ++p;
  bool negative = false;
  if (p < e && (*p == '-' || *p == '+')) {
    negative = *p == '-';
    ++p;
  }
  const char* s = p;
  // Up to 19 digits fit a uint64 exactly. Leading zeros are counted too (keeping the loop
  // branch-free); only numbers with more than 19 digits in all take the slow path.
  uint64_t m = 0;
  const char* q = p;
  size_t int_digits = 0;
  size_t frac_len = 0;
  bool scanned = false;
  if (kSwar && limit - p >= 24) {
    uint64_t int_part = 0, frac_part = 0;
    const int ni = swar_digits(p, &int_part);
    if (ni < 8) {
      int nf = 0;
      const bool point = p[ni] == '.';
      if (point) nf = swar_digits(p + ni + 1, &frac_part);
      if (nf < 8) {  // 8 digits may continue: the byte loop takes those
        m = int_part * kPow10Int[nf] + frac_part;
        int_digits = static_cast<size_t>(ni);
        frac_len = static_cast<size_t>(nf);
        q = p + ni + (point ? 1 + nf : 0);
        scanned = true;
      }
    }
  }
  if (!scanned) {
    while (q < e && is_digit(*q)) m = m * 10 + static_cast<uint64_t>(*q++ - '0');
    int_digits = static_cast<size_t>(q - s);
    if (q < e && *q == '.') {
      ++q;
      const char* f = q;
      while (q < e && is_digit(*q)) m = m * 10 + static_cast<uint64_t>(*q++ - '0');
      frac_len = static_cast<size_t>(q - f);
    }
  }
  const bool truncated = int_digits + frac_len > 19;
  if (int_digits + frac_len == 0) {
    // nan / inf / infinity are numbers to from_chars but not acceptable fluxes.
    if (q < e && (*q == 'n' || *q == 'N' || *q == 'i' || *q == 'I')) {
      float v;
      auto r = std::from_chars(q, e, v);
      if (r.ec == std::errc() && !std::isfinite(v)) {
        // Spaces may follow, as after a number; anything else makes the field not a number.
        const char* t = r.ptr;
        while (t < e && is_space(*t)) ++t;
        *end = t;
        return NumberStatus::non_finite;
      }
    }
    return NumberStatus::malformed;
  }
  long exponent = 0;
  if (q < e && (*q == 'e' || *q == 'E')) {
    ++q;
    bool exp_negative = false;
    if (q < e && (*q == '-' || *q == '+')) {
      exp_negative = *q == '-';
      ++q;
    }
    if (q >= e || !is_digit(*q)) return NumberStatus::malformed;
    while (q < e && is_digit(*q)) {
      if (exponent < 100000) exponent = exponent * 10 + (*q - '0');
      ++q;
    }
    if (exp_negative) exponent = -exponent;
  }
  const char* number_end = q;
  while (q < e && is_space(*q)) ++q;
  *end = q;

  if (m == 0 && !truncated) {
    *out = negative ? -0.0f : 0.0f;
    return NumberStatus::ok;
  }
  const long k = exponent - static_cast<long>(frac_len);
  const bool exponent_positive = exponent + static_cast<long>(int_digits) > 0;
  if (!truncated && m < (uint64_t{1} << 53) && k >= -22 && k <= 22) {
    double d = k < 0 ? static_cast<double>(m) / kPow10[-k] : static_cast<double>(m) * kPow10[k];
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    const uint64_t low = bits & ((uint64_t{1} << 29) - 1);
    if (d >= static_cast<double>(std::numeric_limits<float>::min()) &&
        d < static_cast<double>(std::numeric_limits<float>::max()) && low != (uint64_t{1} << 28)) {
      float v = static_cast<float>(d);
      *out = negative ? -v : v;
      return NumberStatus::ok;
    }
  }
  return parse_exact(s, number_end, negative, exponent_positive, out);
}

struct RowError {
  CsvError kind = CsvError::none;
  size_t row = 0, field = 0, offset = 0;
};

// Text field at p: quoted ("" escapes a quote) or up to the next comma. Sets *q past it.
inline CsvError text_field(const char* p, const char* e, const char** q) {
  if (p < e && *p == '"') {
    const char* c = p + 1;
    for (;;) {
      const void* hit = std::memchr(c, '"', static_cast<size_t>(e - c));
      if (!hit) return CsvError::unterminated_quote;
      c = static_cast<const char*>(hit);
      if (c + 1 < e && c[1] == '"') {
        c += 2;
        continue;
      }
      *q = c + 1;
      if (*q < e && **q != ',') return CsvError::unterminated_quote;
      return CsvError::none;
    }
  }
  const void* comma = std::memchr(p, ',', static_cast<size_t>(e - p));
  *q = comma ? static_cast<const char*>(comma) : e;
  return CsvError::none;
}

bool scalar_pixel(const char* p, const char* e, const char* limit, const char* field_end, float* out) {
  const char* q = p;
  float v = 0.0f;
  if (parse_number(p, e, limit, &v, &q) != NumberStatus::ok || q != field_end) return false;
  *out = v;
  return true;
}

using PixelsFn = const char* (*)(const csv_detail::PixelFields&);

// The pixel-field kernel of the active ISA, or nullptr for the scalar loop (the reference).
PixelsFn pixels_kernel() {
#if defined(ASTRO_HAVE_X86_ISAS)
  switch (active_isa()) {
    case Isa::avx512: return avx512::csv_pixels_available() ? avx512::csv_parse_pixels : nullptr;
    case Isa::avx2: return avx2::csv_pixels_available() ? avx2::csv_parse_pixels : nullptr;
    default: break;
  }
#endif
  return baseline::csv_pixels_available() ? baseline::csv_parse_pixels : nullptr;
}

// Parses one row [b, e) (line terminator excluded). Returns the error, if any. With a pixel
// kernel, the pixel fields go to it first; a row it declines is parsed here from the same
// point, so errors (and values) are the scalar parser's.
RowError parse_row(const char* base, const char* limit, const char* b, const char* e, const CsvLayout& layout,
                   float* flux, int32_t* spans, PixelsFn pixels) {
  RowError err;
  auto fail = [&](CsvError kind, size_t field, const char* at) {
    err.kind = kind;
    err.field = field;
    err.offset = static_cast<size_t>(at - base);
    return err;
  };
  if (b == e) return fail(CsvError::empty_line, 0, b);
  const size_t total = layout.text_fields() + layout.pixels;
  const char* p = b;
  size_t field = 0;
  // After field `field` ends at p: step over the comma, or check the line ends with the last field.
  auto next = [&](const char* at) -> bool {
    if (field + 1 == total) {
      if (at != e) {
        fail(CsvError::too_many_fields, total, at);
        return false;
      }
      return true;
    }
    if (at == e) {
      fail(CsvError::too_few_fields, field + 1, at);
      return false;
    }
    p = at + 1;  // *at == ',' is guaranteed by the field parsers
    ++field;
    return true;
  };
  int32_t* span = spans;
  if (layout.has_id) {
    const char* q;
    CsvError k = text_field(p, e, &q);
    if (k != CsvError::none) return fail(k, field, p);
    *span++ = static_cast<int32_t>(p - base);
    *span++ = static_cast<int32_t>(q - base);
    if (!next(q)) return err;
  }
  bool pixels_done = false;
  if (pixels) {
    csv_detail::PixelFields f;
    f.p = p;
    f.e = e;
    f.limit = limit;
    f.pixels = layout.pixels;
    f.flux = flux;
    f.scalar = scalar_pixel;
    if (const char* q = pixels(f)) {
      field += layout.pixels - 1;  // at the last pixel field, as after the scalar loop's last step
      if (!next(q)) return err;
      pixels_done = true;
    }
  }
  for (size_t i = 0; !pixels_done && i < layout.pixels; ++i) {
    const char* q = p;
    float v = 0.0f;
    NumberStatus status = parse_number(p, e, limit, &v, &q);
    // The field must be a number up to its comma before its value is judged: "1e39" and "nan"
    // are non-finite, "1e39x" and "nanx" are not numbers.
    if (status == NumberStatus::malformed || (q < e && *q != ',')) return fail(CsvError::not_a_number, field, p);
    if (status == NumberStatus::non_finite) return fail(CsvError::non_finite, field, p);
    flux[i] = v;
    if (!next(q)) return err;
  }
  for (size_t t = 0; t < layout.trailing; ++t) {
    const char* q;
    CsvError k = text_field(p, e, &q);
    if (k != CsvError::none) return fail(k, field, p);
    *span++ = static_cast<int32_t>(p - base);
    *span++ = static_cast<int32_t>(q - base);
    if (!next(q)) return err;
  }
  return err;
}

}  // namespace

bool csv_parse_float(const char* p, const char* end, float* out, bool* non_finite) {
  const char* q = p;
  NumberStatus status = parse_number(p, end, end, out, &q);
  *non_finite = status == NumberStatus::non_finite;
  if (status == NumberStatus::non_finite) return q == end;
  return status == NumberStatus::ok && q == end;
}

namespace {

// Bytes per piece of line cutting; pieces are taken by whichever thread is free.
constexpr size_t kCutPiece = size_t{1} << 20;
// Rows per claim while parsing: small enough that a thread slowed by other work on the machine
// leaves little for the others to wait for, large enough that claims cost nothing.
constexpr size_t kRowsPerClaim = 4;

// Offsets of the '\n' of each complete line of data[0, size), at most max_rows of them. Pieces of
// the text are cut on every thread when there is enough of it; only the bytes the rows are likely
// to need are cut that way (the first line's length × max_rows, with a margin), the rest serially.
std::vector<size_t> line_ends(const char* data, size_t size, size_t max_rows, int threads) {
  std::vector<size_t> ends;
  if (max_rows == 0 || size == 0) return ends;
  auto serial = [&](size_t from) {
    while (ends.size() < max_rows && from < size) {
      const void* nl = std::memchr(data + from, '\n', size - from);
      if (!nl) break;
      const size_t at = static_cast<size_t>(static_cast<const char*>(nl) - data);
      ends.push_back(at);
      from = at + 1;
    }
  };
  if (threads <= 1 || size < 2 * kCutPiece) {
    serial(0);
    return ends;
  }
  const void* first = std::memchr(data, '\n', size);
  if (!first) return ends;
  const size_t line = static_cast<size_t>(static_cast<const char*>(first) - data) + 1;
  size_t span = size;
  if (max_rows < size / line) span = std::min(size, max_rows * line + max_rows * line / 4 + kCutPiece);
  const size_t pieces = (span + kCutPiece - 1) / kCutPiece;
  std::vector<std::vector<size_t>> found(pieces);
  std::atomic<size_t> next_piece{0};
  parallel_for(static_cast<size_t>(threads), threads, [&](size_t, size_t, int) {
    for (size_t k; (k = next_piece.fetch_add(1, std::memory_order_relaxed)) < pieces;) {
      const char* p = data + k * kCutPiece;
      const char* end = data + std::min(span, (k + 1) * kCutPiece);
      std::vector<size_t>& out = found[k];
      while (p < end) {
        const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
        if (!nl) break;
        p = static_cast<const char*>(nl);
        out.push_back(static_cast<size_t>(p - data));
        ++p;
      }
    }
  });
  for (const std::vector<size_t>& piece : found) {
    const size_t take = std::min(piece.size(), max_rows - ends.size());
    ends.insert(ends.end(), piece.begin(), piece.begin() + static_cast<std::ptrdiff_t>(take));
    if (ends.size() == max_rows) return ends;
  }
  serial(span);
  return ends;
}

}  // namespace

CsvParseResult csv_parse_rows(const char* data, size_t size, const CsvLayout& layout, size_t max_rows,
                              float* flux, int32_t* spans, int threads) {
  CsvParseResult result;
  // Spans are int32 offsets; TS reads far smaller chunks.
  if (size >= (size_t{1} << 31)) throw std::length_error("csv chunk larger than 2 GiB");
  int use_threads = threads <= 0 ? default_threads() : threads;
  // Cut lines first (memchr is memory-bound), then parse rows independently in parallel.
  const std::vector<size_t> ends = line_ends(data, size, max_rows, use_threads);
  const size_t rows = ends.size();
  const size_t at = rows > 0 ? ends[rows - 1] + 1 : 0;
  auto row_start = [&](size_t r) { return r == 0 ? size_t{0} : ends[r - 1] + 1; };
  const size_t span_stride = 2 * layout.text_fields();
  const PixelsFn pixels = pixels_kernel();

  // Threads only pay off once there is enough text to amortise starting them.
  if (at < (size_t{1} << 20)) use_threads = 1;
  const size_t workers = static_cast<size_t>(use_threads > 0 ? use_threads : 1);
  std::vector<RowError> errors(workers);
  // Rows are claimed a few at a time, in order; once a row fails, rows after it are skipped
  // (the first bad row is the one reported, and every row before it is parsed).
  std::atomic<size_t> next_row{0};
  std::atomic<size_t> first_bad{rows};
  parallel_for(workers, use_threads, [&](size_t, size_t, int worker) {
    for (;;) {
      const size_t begin = next_row.fetch_add(kRowsPerClaim, std::memory_order_relaxed);
      if (begin >= rows || begin > first_bad.load(std::memory_order_relaxed)) return;
      const size_t end = std::min(rows, begin + kRowsPerClaim);
      for (size_t r = begin; r < end; ++r) {
        const char* b = data + row_start(r);
        const char* e = data + ends[r];  // at the '\n'
        if (e > b && e[-1] == '\r') --e;
        RowError err = parse_row(data, data + size, b, e, layout, flux + r * layout.pixels, spans + r * span_stride, pixels);
        if (err.kind != CsvError::none) {
          err.row = r;
          RowError& mine = errors[static_cast<size_t>(worker)];
          if (mine.kind == CsvError::none || r < mine.row) mine = err;
          size_t seen = first_bad.load(std::memory_order_relaxed);
          while (r < seen && !first_bad.compare_exchange_weak(seen, r, std::memory_order_relaxed)) {
          }
          break;
        }
      }
    }
  });
  result.rows = rows;
  result.consumed = at;
  for (const RowError& err : errors) {
    if (err.kind != CsvError::none && (result.error == CsvError::none || err.row < result.error_row)) {
      result.error = err.kind;
      result.error_row = err.row;
      result.error_field = err.field;
      result.error_offset = err.offset;
    }
  }
  if (result.error != CsvError::none) {
    result.rows = result.error_row;
    result.consumed = row_start(result.error_row);
  }
  return result;
}

size_t csv_format_bound(size_t rows, size_t cols) {
  // Shortest float32 text is at most 15 characters ("-1.17549435e-38"), plus a comma.
  return rows * cols * 16 + 16;
}

CsvFormatResult csv_format_rows(const float* values, size_t rows, size_t cols, char* out, int32_t* row_ends,
                                bool allow_non_finite, int threads) {
  CsvFormatResult result;
  const size_t n = rows * cols;
  if (!allow_non_finite) {
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(values[i])) {
        result.first_non_finite = static_cast<int64_t>(i);
        return result;
      }
    }
  }
  int use_threads = threads <= 0 ? default_threads() : threads;
  if (n < 65536) use_threads = 1;
  const size_t parts = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(use_threads), rows));
  std::vector<std::vector<char>> pieces(parts);
  // Pass 1: each thread formats a contiguous block of rows into its own buffer.
  parallel_for(rows, static_cast<int>(parts), [&](size_t begin, size_t end, int worker) {
    std::vector<char>& buf = pieces[static_cast<size_t>(worker)];
    buf.resize(csv_format_bound(end - begin, cols));
    char* p = buf.data();
    char* limit = buf.data() + buf.size();
    for (size_t r = begin; r < end; ++r) {
      const float* row = values + r * cols;
      for (size_t c = 0; c < cols; ++c) {
        if (c > 0) *p++ = ',';
        float v = row[c];
        if (std::isnan(v)) continue;
        if (std::isinf(v)) {
          const char* text = v > 0 ? "inf" : "-inf";
          size_t len = v > 0 ? 3 : 4;
          std::memcpy(p, text, len);
          p += len;
          continue;
        }
        p = std::to_chars(p, limit, v).ptr;
      }
      row_ends[r] = static_cast<int32_t>(p - buf.data());
    }
    buf.resize(static_cast<size_t>(p - buf.data()));
  });
  // Pass 2: concatenate in row order and make row ends absolute.
  std::vector<size_t> offsets(parts + 1, 0);
  for (size_t t = 0; t < parts; ++t) offsets[t + 1] = offsets[t] + pieces[t].size();
  parallel_for(rows, static_cast<int>(parts), [&](size_t begin, size_t end, int worker) {
    const size_t t = static_cast<size_t>(worker);
    if (!pieces[t].empty()) std::memcpy(out + offsets[t], pieces[t].data(), pieces[t].size());
    for (size_t r = begin; r < end; ++r) row_ends[r] += static_cast<int32_t>(offsets[t]);
  });
  result.bytes = offsets[parts];
  return result;
}

}  // namespace astro
