// Interface between the CSV row parser (csv.cpp, compiled once) and the per-ISA pixel-field
// kernels (simd/csv.cpp, compiled once per instruction set). Plain data only, as in
// preprocess_isa.h: the ISA files instantiate no standard-library templates.
#pragma once
#include <cstddef>

namespace astro {
namespace csv_detail {

// The scalar reference for one pixel field: parses the number at p (line end e, memory readable
// up to limit) exactly as the scalar row parser does; true when it is a finite number whose text
// (spaces included) ends exactly at field_end, the field's ',' or e.
typedef bool (*ScalarPixel)(const char* p, const char* e, const char* limit, const char* field_end, float* out);

struct PixelFields {
  const char* p = nullptr;      // first byte of the first pixel field
  const char* e = nullptr;      // line end (the '\n' or "\r\n", excluded)
  const char* limit = nullptr;  // end of readable memory, ≥ e
  size_t pixels = 0;
  float* flux = nullptr;
  ScalarPixel scalar = nullptr;
};

}  // namespace csv_detail

// Parses the `pixels` comma-separated numeric fields from f.p: returns where the last one ends
// (its ',' or f.e), or nullptr when the row isn't exactly that (fewer fields, a field that isn't
// a finite number); the caller then parses the row with the scalar code, which names the error.
// The baseline build has no kernel of its own (csv_pixels_available() is false): the scalar
// row parser is both its path and the reference the others are tested against.
#define ASTRO_DECLARE_CSV_ISA(ns)                                        \
  namespace ns {                                                         \
  bool csv_pixels_available();                                           \
  const char* csv_parse_pixels(const csv_detail::PixelFields& f);        \
  }

ASTRO_DECLARE_CSV_ISA(baseline)
#if defined(ASTRO_HAVE_X86_ISAS)
ASTRO_DECLARE_CSV_ISA(avx2)
ASTRO_DECLARE_CSV_ISA(avx512)
#endif

}  // namespace astro
