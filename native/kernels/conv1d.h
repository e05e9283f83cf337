// 1D convolution for training the ResNet: forward, input gradient and filter gradient, in
// tfjs's channels-last layout. They run in place on tfjs's WASM-backend heap (the missing
// Conv2DBackpropFilter kernel, tfjs issue 8474) and on plain typed arrays.
//
//   x  [batch, in_length,  in_channels]
//   w  [kernel, in_channels, out_channels]        (tfjs conv1d filter layout)
//   y  [batch, out_length, out_channels]
//   y[n, o, c] = sum_k sum_i x[n, o*stride + k - pad_left, i] * w[k, i, c]   (zero outside x)
//
// Each is one GEMM over an implicit im2col: for output positions whose window lies inside x
// the window x[o*stride - pad_left .. + kernel) is kernel*in_channels contiguous floats, so no
// patch matrix is built. Only the few boundary positions take a per-tap path.
#pragma once
#include <cstddef>
#include <cstdint>

namespace astro {

struct Conv1dShape {
  int64_t batch = 0;
  int64_t in_length = 0;
  int64_t in_channels = 0;
  int64_t out_length = 0;
  int64_t out_channels = 0;
  int64_t kernel = 0;
  int64_t stride = 1;
  int64_t pad_left = 0;

  size_t x_size() const { return static_cast<size_t>(batch * in_length * in_channels); }
  size_t w_size() const { return static_cast<size_t>(kernel * in_channels * out_channels); }
  size_t y_size() const { return static_cast<size_t>(batch * out_length * out_channels); }
};

// True when every dimension is positive and the geometry is one a conv can have
// (0 <= pad_left < kernel + stride, out_length consistent with some right padding).
bool conv1d_shape_valid(const Conv1dShape& s);

// y = conv(x, w). threads <= 0: default_threads().
void conv1d_forward(const Conv1dShape& s, const float* x, const float* w, float* y, int threads);
// dx = d(loss)/dx given dy (the transposed convolution).
void conv1d_backprop_input(const Conv1dShape& s, const float* dy, const float* w, float* dx, int threads);
// dw = d(loss)/dw given x and dy, summed over the batch.
void conv1d_backprop_filter(const Conv1dShape& s, const float* x, const float* dy, float* dw, int threads);

// Plain loops, the reference the tests compare against.
void conv1d_forward_reference(const Conv1dShape& s, const float* x, const float* w, float* y);
void conv1d_backprop_input_reference(const Conv1dShape& s, const float* dy, const float* w, float* dx);
void conv1d_backprop_filter_reference(const Conv1dShape& s, const float* x, const float* dy, float* dw);

// The one primitive, compiled per instruction set (native/kernels/simd/conv1d_gemm.cpp):
//   C[p*ldc + j] (+)= sum_{r<depth} A[p*a_row + r*a_depth] * B[r*ldb + j]   for p < rows, j < cols
// adding to C with accumulate, overwriting it otherwise (depth 0 then writes zeros).
// A is read through two strides so the same routine serves the im2col view (x rows), its
// transpose (filter gradient) and dy windows (input gradient).
#define ASTRO_DECLARE_GEMM(ns)                                                                                  \
  namespace ns {                                                                                                \
  void gemm(int64_t rows, int64_t cols, int64_t depth, const float* a, ptrdiff_t a_row, ptrdiff_t a_depth,      \
            const float* b, ptrdiff_t ldb, float* c, ptrdiff_t ldc, bool accumulate);                          \
  }
ASTRO_DECLARE_GEMM(baseline)
ASTRO_DECLARE_GEMM(avx2)
ASTRO_DECLARE_GEMM(avx512)
#undef ASTRO_DECLARE_GEMM

}  // namespace astro
