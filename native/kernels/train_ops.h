// The memory-bound passes of a training step (ReLU and its gradient, the residual add, the 1D
// max-pool gradient, the Adam update) on the persistent pool (conv1d_pool.h). tfjs's WASM
// backend runs these on one thread, its ReLU gradient is three ops (step, cast, multiply) with a
// full-size temporary each, and tfjs's Adam is fourteen ops per variable.
#pragma once
#include <cstdint>

namespace astro {

// ReLU as tfjs's CPU backend computes it, one value: max(0, v) with −0 → +0 and NaN → NaN.
inline float relu_value(float v) { return v > 0.f ? v : (v != v ? v : 0.f); }

// tfjs's ReLU gradient factor step(v): 1 above zero, 0 at or below, NaN for NaN. The same
// for the ReLU's input or its output, which is how fused kernels (batchnorm.h) use it.
inline float relu_step(float v) {
  float s = v > 0.f ? 1.f : 0.f;
  return v != v ? v : s;
}

// y = max(0, x): −0 gives +0 and NaN stays NaN, as tfjs's CPU backend. n values.
void relu_forward(const float* x, int64_t n, float* y, int threads);

// dx = dy · step(x), with step(x) = 1 for x > 0, 0 for x <= 0 and NaN for NaN (tfjs's Relu
// gradient, value for value).
void relu_backward(const float* x, const float* dy, int64_t n, float* dx, int threads);

// out = a + b, n values; with relu, out = relu_value(a + b) (a residual sum and its ReLU).
void add_same_shape(const float* a, const float* b, int64_t n, float* out, bool relu, int threads);

// Gradient of a max pool over [batch, in_length, channels] → [batch, out_length, channels], window
// `window`, stride `stride`, `pad_left` implicit -∞ values before the first input: each output's
// dy goes to the first largest input of its window (padding never wins; NaN never wins).
void maxpool1d_backward(const float* x, const float* dy, int64_t batch, int64_t in_length, int64_t out_length,
                        int64_t channels, int64_t window, int64_t stride, int64_t pad_left, float* dx, int threads);

// Max pool over [batch, in_length, channels] → [batch, out_length, channels], the same geometry:
// y = the largest input of each window; padding and NaN never win (tfjs's CPU backend), so a
// window with neither a number nor ±∞ in x gives −∞.
void maxpool1d_forward(const float* x, int64_t batch, int64_t in_length, int64_t out_length, int64_t channels,
                       int64_t window, int64_t stride, int64_t pad_left, float* y, int threads);

// Mean over the middle axis of [batch, length, channels] → [batch, channels] (global average
// pooling), summed in double; and its gradient, dx[n, l, c] = dy[n, c] / length.
void mean_axis1_forward(const float* x, int64_t batch, int64_t length, int64_t channels, float* y, int threads);
void mean_axis1_backward(const float* dy, int64_t batch, int64_t length, int64_t channels, float* dx, int threads);

struct AdamStep {
  double learning_rate, beta1, beta2, epsilon;
  // 1 − β1ᵗ and 1 − β2ᵗ of this step (tfjs's bias correction).
  double correction1, correction2;
};

// Adam (Kingma & Ba 2015) with tfjs's bias correction and ε placement, over n parameters:
//   m' = β1·m + (1−β1)·g,  v' = β2·v + (1−β2)·g²,  θ' = θ − lr·(m'/c1) / (√(v'/c2) + ε).
// Arithmetic in double per value, like the TypeScript reference (src/train/adam.ts), so the two
// agree to float rounding.
void adam_update(const float* value, const float* m, const float* v, const float* g, int64_t n, const AdamStep& step,
                 float* out_value, float* out_m, float* out_v, int threads);

}  // namespace astro
