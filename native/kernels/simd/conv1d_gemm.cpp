// The GEMM behind the 1D convolutions (see kernels/conv1d.h), compiled once per instruction
// set. GCC vector extensions keep it one source for every ISA: the vector is as wide as the
// ISA's registers, and a block of kRows x kVecs accumulators stays in registers while the
// depth loop streams one row of B and kRows broadcasts of A per step.
#include "kernels/simd/isa.h"

#include <cstring>

#include "kernels/conv1d.h"

namespace astro {
namespace ASTRO_ISA_NS {
namespace {

// kAccumulators of the ISA's vector registers hold C; the rest hold a row of B and a broadcast.
#if defined(__AVX512F__)
constexpr int kLanes = 16;
constexpr int kAccumulators = 24;  // of 32 zmm
constexpr int kVecs = 4;
#elif defined(__AVX2__)
constexpr int kLanes = 8;
constexpr int kAccumulators = 12;  // of 16 ymm
constexpr int kVecs = 2;
#else
constexpr int kLanes = 4;
constexpr int kAccumulators = 12;  // of 16 xmm (SSE2)
constexpr int kVecs = 2;
#endif

typedef float vec __attribute__((vector_size(kLanes * sizeof(float))));

inline vec load(const float* p) {
  vec v;
  std::memcpy(&v, p, sizeof(vec));
  return v;
}
inline void store(float* p, vec v) { std::memcpy(p, &v, sizeof(vec)); }

// One value of A in every lane, broadcast straight from memory: a load-port µop (or folded into
// the FMA as {1to16}). Written as `vec{} + a`, GCC loads the scalar into a register and
// broadcasts it on the shuffle port, which AVX-512 FMAs also need: the narrow layers (one vector
// of columns, so one FMA per broadcast) ran at half speed.
inline vec broadcast(const float* a) {
#if defined(__AVX512F__)
  __m512 v = _mm512_set1_ps(*a);
#elif defined(__AVX2__)
  __m256 v = _mm256_broadcast_ss(a);
#elif defined(__SSE2__)
  __m128 v = _mm_set1_ps(*a);
#else
  vec v = vec{} + *a;  // other architectures: the portable form
#endif
  vec out;
  std::memcpy(&out, &v, sizeof(vec));
  return out;
}

// One register block: P rows of C times V vectors of columns starting at column j; Acc adds
// the block to C, otherwise it overwrites C (no pass to clear C first, no read of it).
template <int P, int V, bool Acc>
inline void block(int64_t depth, const float* a, ptrdiff_t a_row, ptrdiff_t a_depth, const float* b,
                  ptrdiff_t ldb, float* c, ptrdiff_t ldc) {
  vec acc[P][V];
  for (int p = 0; p < P; ++p)
    for (int v = 0; v < V; ++v) acc[p][v] = vec{};
  for (int64_t r = 0; r < depth; ++r) {
    const float* br = b + r * ldb;
    vec bv[V];
    for (int v = 0; v < V; ++v) bv[v] = load(br + v * kLanes);
    const float* ar = a + r * a_depth;
    for (int p = 0; p < P; ++p) {
      vec av = broadcast(ar + p * a_row);
      for (int v = 0; v < V; ++v) acc[p][v] += av * bv[v];
    }
  }
  for (int p = 0; p < P; ++p)
    for (int v = 0; v < V; ++v) {
      float* cp = c + p * ldc + v * kLanes;
      store(cp, Acc ? load(cp) + acc[p][v] : acc[p][v]);
    }
}

// Columns that don't fill a vector: plain scalar loops (only very narrow layers reach here,
// e.g. the input gradient of a 1-channel stem, which training never asks for).
template <bool Acc>
inline void scalar_columns(int64_t rows, int64_t cols, int64_t depth, const float* a, ptrdiff_t a_row,
                           ptrdiff_t a_depth, const float* b, ptrdiff_t ldb, float* c, ptrdiff_t ldc) {
  for (int64_t p = 0; p < rows; ++p)
    for (int64_t j = 0; j < cols; ++j) {
      float sum = 0.f;
      for (int64_t r = 0; r < depth; ++r) sum += a[p * a_row + r * a_depth] * b[r * ldb + j];
      c[p * ldc + j] = Acc ? c[p * ldc + j] + sum : sum;
    }
}

template <int V, bool Acc>
inline void column_panel(int64_t rows, int64_t depth, const float* a, ptrdiff_t a_row, ptrdiff_t a_depth,
                         const float* b, ptrdiff_t ldb, float* c, ptrdiff_t ldc) {
  constexpr int kRows = kAccumulators / V > 12 ? 12 : kAccumulators / V;
  int64_t p = 0;
  for (; p + kRows <= rows; p += kRows)
    block<kRows, V, Acc>(depth, a + p * a_row, a_row, a_depth, b, ldb, c + p * ldc, ldc);
  for (; p + 4 <= rows; p += 4) block<4, V, Acc>(depth, a + p * a_row, a_row, a_depth, b, ldb, c + p * ldc, ldc);
  for (; p + 2 <= rows; p += 2) block<2, V, Acc>(depth, a + p * a_row, a_row, a_depth, b, ldb, c + p * ldc, ldc);
  for (; p < rows; ++p) block<1, V, Acc>(depth, a + p * a_row, a_row, a_depth, b, ldb, c + p * ldc, ldc);
}


template <bool Acc>
void gemm_mode(int64_t rows, int64_t cols, int64_t depth, const float* a, ptrdiff_t a_row, ptrdiff_t a_depth,
               const float* b, ptrdiff_t ldb, float* c, ptrdiff_t ldc) {
  int64_t j = 0;
  for (; j + kVecs * kLanes <= cols; j += kVecs * kLanes)
    column_panel<kVecs, Acc>(rows, depth, a, a_row, a_depth, b + j, ldb, c + j, ldc);
  if (kVecs > 2)
    for (; j + 2 * kLanes <= cols; j += 2 * kLanes) column_panel<2, Acc>(rows, depth, a, a_row, a_depth, b + j, ldb, c + j, ldc);
  for (; j + kLanes <= cols; j += kLanes) column_panel<1, Acc>(rows, depth, a, a_row, a_depth, b + j, ldb, c + j, ldc);
  if (j < cols) scalar_columns<Acc>(rows, cols - j, depth, a, a_row, a_depth, b + j, ldb, c + j, ldc);
}

}  // namespace

void gemm(int64_t rows, int64_t cols, int64_t depth, const float* a, ptrdiff_t a_row, ptrdiff_t a_depth,
          const float* b, ptrdiff_t ldb, float* c, ptrdiff_t ldc, bool accumulate) {
  if (rows <= 0 || cols <= 0) return;
  if (depth <= 0) {
    // An empty sum: nothing to add, or a block of zeros to write.
    if (!accumulate)
      for (int64_t p = 0; p < rows; ++p) std::memset(c + p * ldc, 0, sizeof(float) * static_cast<size_t>(cols));
    return;
  }
  if (accumulate)
    gemm_mode<true>(rows, cols, depth, a, a_row, a_depth, b, ldb, c, ldc);
  else
    gemm_mode<false>(rows, cols, depth, a, a_row, a_depth, b, ldb, c, ldc);
}

}  // namespace ASTRO_ISA_NS
}  // namespace astro
