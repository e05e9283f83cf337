// Interface between the dispatcher (preprocess.cpp, compiled once) and the per-ISA row
// kernels (simd/preprocess.cpp, compiled once per instruction set). Plain data only: the
// ISA files must not instantiate standard-library templates, whose weak symbols the linker
// could otherwise take from the AVX-512 object for every caller.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/preprocess.h"

namespace astro {
namespace preprocess_detail {

// Widest vector any ISA file uses (floats); tables and scratch are padded to it.
constexpr size_t kMaxLanes = 16;

struct Plan {
  PreprocessParams params;
  PreprocessInput input;
  PreprocessOutput output;
  size_t out_length = 0;
  // Fit tables, length padded to kMaxLanes: u_i = (1/λ_i − x_center)·x_scale maps the grid's
  // 1/λ (nm⁻¹) onto [-1, 1]; g_i = 5·ln λ_i − g_center.
  const float* u = nullptr;
  const float* g = nullptr;
  double x_center = 0, x_scale = 1, g_center = 0;
  // Savitzky–Golay: window × window coefficients, row t = evaluate at window position t.
  const float* savgol = nullptr;
  // Median of n floats (reorders them); lives in the once-compiled file.
  double (*median)(float* values, size_t n) = nullptr;
};

// Per-thread scratch, each buffer padded length floats.
struct Scratch {
  float* y = nullptr;       // fit: ln-space ordinate per pixel
  float* w = nullptr;       // fit: weight per pixel, kept for the robust refit (−0 = not used)
  float* series = nullptr;  // masked / smoothed / binned flux before normalisation
  float* series2 = nullptr;
  float* values = nullptr;  // median selection
};

}  // namespace preprocess_detail

#define ASTRO_DECLARE_PREPROCESS_ISA(ns)                                                                     \
  namespace ns {                                                                                             \
  void preprocess_rows(const preprocess_detail::Plan& plan, const preprocess_detail::Scratch& scratch,       \
                       size_t begin, size_t end);                                                            \
  void augment_rows(const NoiseParams& params, float* flux, size_t length, const uint8_t* row_mask,          \
                    size_t begin, size_t end);                                                               \
  float log_approx(float x);                                                                                 \
  float fit_log_approx(float x);                                                                             \
  }

ASTRO_DECLARE_PREPROCESS_ISA(baseline)
#if defined(ASTRO_HAVE_X86_ISAS)
ASTRO_DECLARE_PREPROCESS_ISA(avx2)
ASTRO_DECLARE_PREPROCESS_ISA(avx512)
#endif

}  // namespace astro
