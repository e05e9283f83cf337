// Pixel fields of a CSV row, compiled once per instruction set (namespace astro::ASTRO_ISA_NS).
//
// The scalar parser walks a row number by number: where a number ends decides where the next
// one starts, so each number waits for the digit scan of the one before (~75 cycles a number).
// Here the commas of a whole 64-byte (AVX-512) or 32-byte (AVX2) block are found with one
// compare, so every field's bounds are known before it is parsed and consecutive fields are
// parsed independently (the CPU overlaps them). A field in the plain form pandas writes
// (optional '-', at most 16 digits with at most one '.') is converted with 16-byte vector ops:
// the digits are moved together and right-aligned with one byte shuffle, then reduced to an
// integer mantissa m by three multiply-adds (pairs, quads, eights); m / 10^frac is the same
// correctly rounded Clinger fast path as the scalar parser (csv.cpp). Anything else (exponents,
// spaces, '+', more digits, a rounding midpoint, values outside float32's normal range) goes to
// the scalar parser field by field, so results are bit-identical to it.
#include "kernels/simd/isa.h"

#include "kernels/csv_isa.h"

namespace astro {
namespace ASTRO_ISA_NS {

#if defined(__AVX2__)
namespace {

using csv_detail::PixelFields;

// Exact powers of ten (as csv.cpp's kPow10, up to the 15 fraction digits a plain field can have),
// and the doubles nearest their reciprocals.
constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                             1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
constexpr double kPow10Inverse[] = {1e-0, 1e-1, 1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,
                                    1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15};
// Low 29 bits of a double's significand: the bits below float32's, 2^28 on a float32 midpoint.
constexpr uint64_t kBelowFloat = (uint64_t{1} << 29) - 1;
constexpr uint64_t kMidpoint = uint64_t{1} << 28;

#if defined(__AVX512BW__) && defined(__AVX512VL__)
constexpr size_t kBlock = 64;
#else
constexpr size_t kBlock = 32;
#endif

// Bit i set when blk[i] is a comma, for the bytes of [blk, e); e ≤ limit. Loads past e but not
// past limit, and only whole blocks unless masked loads suppress the fault.
inline uint64_t comma_bits(const char* blk, const char* e, const char* limit) {
  const size_t avail = static_cast<size_t>(e - blk);
  const uint64_t keep = avail >= kBlock ? ~uint64_t{0} >> (64 - kBlock) : (uint64_t{1} << avail) - 1;
#if defined(__AVX512BW__) && defined(__AVX512VL__)
  const __m512i commas = _mm512_set1_epi8(',');
  __m512i v;
  if (static_cast<size_t>(limit - blk) >= kBlock) {
    v = _mm512_loadu_si512(reinterpret_cast<const void*>(blk));
  } else {
    v = _mm512_maskz_loadu_epi8(static_cast<__mmask64>(keep), blk);
  }
  return static_cast<uint64_t>(_mm512_cmpeq_epi8_mask(v, commas)) & keep;
#else
  if (static_cast<size_t>(limit - blk) >= kBlock) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
    const uint32_t bits = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(','))));
    return bits & keep;
  }
  uint64_t bits = 0;
  for (size_t i = 0; i < avail && i < kBlock; ++i) bits |= static_cast<uint64_t>(blk[i] == ',') << i;
  return bits;
#endif
}

// The field [s, f) in the plain form, converted: 1 with *out set, 0 when the scalar parser must
// decide (another form, or a value the fast path can't round exactly).
inline int plain_number(const char* s, const char* f, const char* limit, float* out) {
  const bool negative = s < f && *s == '-';
  const char* d0 = s + (negative ? 1 : 0);
  const size_t len = static_cast<size_t>(f - d0);
  if (len - 1 >= 16) return 0;  // empty, or more than 16 characters
  const uint32_t in_field = (uint32_t{1} << len) - 1;
  __m128i raw;
  if (limit - d0 >= 16) {
    raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d0));
  } else {
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    raw = _mm_maskz_loadu_epi8(static_cast<__mmask16>(in_field), d0);
#else
    return 0;
#endif
  }
  const __m128i x = _mm_sub_epi8(raw, _mm_set1_epi8('0'));  // digits become 0–9
  const uint32_t digit = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(9)), x))) & in_field;
  const uint32_t dot = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(raw, _mm_set1_epi8('.')))) & in_field;
  if ((digit | dot) != in_field || (dot & (dot - 1)) != 0 || digit == 0) return 0;
  const int digits = __builtin_popcount(digit);
  const int point = dot ? __builtin_ctz(dot) : static_cast<int>(len);  // = integer digits
  const int frac = digits - point;
  // Lane j of the result takes digit i = j − (16 − digits) (zero when i < 0), which sits at byte
  // i, or i + 1 past the point.
  const __m128i i = _mm_sub_epi8(_mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                 _mm_set1_epi8(static_cast<char>(16 - digits)));
  const __m128i lead = _mm_cmpgt_epi8(_mm_setzero_si128(), i);                      // i < 0 → 0xFF: zero lane
  const __m128i past = _mm_cmpgt_epi8(i, _mm_set1_epi8(static_cast<char>(point - 1)));  // i ≥ point → −1
  const __m128i index = _mm_or_si128(_mm_sub_epi8(i, past), lead);
  const __m128i d = _mm_shuffle_epi8(x, index);
  const __m128i pairs = _mm_maddubs_epi16(d, _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1));
  const __m128i quads = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
  const __m128i eights = _mm_madd_epi16(_mm_packus_epi32(quads, quads), _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1));
  const uint64_t both = static_cast<uint64_t>(_mm_cvtsi128_si64(eights));
  const uint64_t m = (both & 0xFFFFFFFFu) * 100000000u + (both >> 32);
  if (m == 0) {
    *out = negative ? -0.0f : 0.0f;
    return 1;
  }
  if (m >= (uint64_t{1} << 53)) return 0;
  // m · RN(10^−frac) is within 2 ulps (of a double) of m / 10^frac, 3 cycles a multiply instead
  // of a division (the divider was most of this function's time). Rounded to float32 it gives
  // what the exact quotient gives unless a float32 rounding midpoint lies within those 2 ulps:
  // then (once in ~10^8 numbers) the correctly rounded division decides, as in the scalar fast
  // path (csv.cpp, parse_number): m and 10^frac are exact doubles, so the quotient is correctly
  // rounded, and its float32 rounding is exact unless it lies on a midpoint itself.
  double q = static_cast<double>(m) * kPow10Inverse[frac];
  uint64_t bits;
  __builtin_memcpy(&bits, &q, sizeof bits);
  if (((bits & kBelowFloat) - (kMidpoint - 4)) <= 8) {
    q = static_cast<double>(m) / kPow10[frac];
    __builtin_memcpy(&bits, &q, sizeof bits);
    if ((bits & kBelowFloat) == kMidpoint) return 0;
  }
  if (!(q >= static_cast<double>(__FLT_MIN__) && q < static_cast<double>(__FLT_MAX__))) return 0;
  const float v = static_cast<float>(q);
  *out = negative ? -v : v;
  return 1;
}

inline bool pixel_field(const PixelFields& f, const char* s, const char* end, float* out) {
  if (plain_number(s, end, f.limit, out)) return true;
  return f.scalar(s, f.e, f.limit, end, out);
}

}  // namespace

bool csv_pixels_available() { return true; }

const char* csv_parse_pixels(const PixelFields& f) {
  const char* field = f.p;
  size_t i = 0;
  float* flux = f.flux;
  for (const char* blk = f.p; blk < f.e; blk += kBlock) {
    for (uint64_t bits = comma_bits(blk, f.e, f.limit); bits != 0; bits &= bits - 1) {
      const char* comma = blk + __builtin_ctzll(bits);
      if (!pixel_field(f, field, comma, flux + i)) return nullptr;
      if (++i == f.pixels) return comma;
      field = comma + 1;
    }
  }
  // No comma left on the line: the rest is the last field.
  if (i + 1 != f.pixels) return nullptr;
  if (!pixel_field(f, field, f.e, flux + i)) return nullptr;
  return f.e;
}

#else  // no SIMD kernel: the scalar row parser is this build's path

bool csv_pixels_available() { return false; }

const char* csv_parse_pixels(const csv_detail::PixelFields&) { return nullptr; }

#endif

}  // namespace ASTRO_ISA_NS
}  // namespace astro
