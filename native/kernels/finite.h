// Finiteness scan of float32 data: the check every reader makes before a value reaches
// preprocessing (NaN and ±Inf flux are rejected with the row and column that hold them).
#pragma once
#include <cstddef>
#include <cstdint>

namespace astro {

// Index of the first NaN or ±Inf in values[0, n), or −1.
int64_t first_non_finite_f32(const float* values, size_t n);

}  // namespace astro
