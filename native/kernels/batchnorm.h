// Batch normalisation in training mode (Ioffe & Szegedy 2015), channels-last: statistics per
// channel over all rows (batch × length), biased variance as in tfjs-layers and Keras.
// One forward and one backward pass replace the dozen element-wise tfjs ops (moments,
// normalisation, and their gradients) that each BatchNorm layer otherwise costs per step.
#pragma once
#include <cstdint>

namespace astro {

// y = gamma * (x - mean) / sqrt(var + epsilon) + beta; also returns mean and var per channel.
// With relu, y = relu_value(...) (train_ops.h): the BatchNorm → ReLU pair in one pass.
// x, y: rows × channels; gamma, beta, mean, var: channels.
void batchnorm_train_forward(const float* x, int64_t rows, int64_t channels, const float* gamma, const float* beta,
                             float epsilon, float* y, float* mean, float* var, bool relu, int threads);

// Gradients of the forward pass (with mean and var depending on x) given dy:
//   xhat = (x - mean) * rstd,  dbeta = sum dy,  dgamma = sum dy * xhat,
//   dx = gamma * rstd / rows * (rows * dy - dbeta - xhat * dgamma).
// relu_y: the fused forward's output, or nullptr for plain BatchNorm; with it, dy is first
// multiplied by relu_step(relu_y), the ReLU's gradient.
void batchnorm_train_backward(const float* x, const float* dy, const float* relu_y, int64_t rows, int64_t channels,
                              const float* gamma, const float* mean, const float* var, float epsilon, float* dx,
                              float* dgamma, float* dbeta, int threads);

}  // namespace astro
