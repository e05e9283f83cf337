#include "kernels/finite.h"

#include <cstring>

namespace astro {

namespace {
// Values per block: one test per block instead of a branch per value.
constexpr size_t kBlock = 1024;
// A float is NaN or ±Inf exactly when its exponent bits are all ones.
constexpr uint32_t kExponent = 0x7f800000u;
}  // namespace

int64_t first_non_finite_f32(const float* values, size_t n) {
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t end = start + kBlock < n ? start + kBlock : n;
    // (bits & exponent) + 2^23 carries into the sign bit only for an all-ones exponent; the OR
    // of those is branch-free integer work, which the compiler vectorises at any ISA level.
    uint32_t any = 0;
    for (size_t i = start; i < end; ++i) {
      uint32_t bits;
      std::memcpy(&bits, values + i, sizeof bits);
      any |= (bits & kExponent) + 0x00800000u;
    }
    if ((any & 0x80000000u) == 0) continue;
    for (size_t i = start; i < end; ++i) {
      uint32_t bits;
      std::memcpy(&bits, values + i, sizeof bits);
      if ((bits & kExponent) == kExponent) return static_cast<int64_t>(i);
    }
  }
  return -1;
}

}  // namespace astro
