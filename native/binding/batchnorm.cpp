// Training-mode batch normalisation (kernels/batchnorm.h). Outputs go into caller-provided
// Float32Arrays, so tfjs's WASM backend can pass views of its heap. Sync variants are what tfjs
// kernels call; the Promise variants are for callers that own their arrays.
#include "binding/common.h"
#include "kernels/batchnorm.h"

namespace astro_binding {
namespace {

struct BnDims {
  int64_t rows = 0, channels = 0;
  float epsilon = 0;
  bool relu = false;
};

BnDims ParseDims(const Napi::CallbackInfo& info, size_t index, const char* op) {
  Napi::Env env = info.Env();
  ASTRO_CHECK(index < info.Length() && info[index].IsObject(), env, op, "dims must be an object");
  Napi::Object o = info[index].As<Napi::Object>();
  auto num = [&](const char* key) {
    Napi::Value v = o.Get(key);
    ASTRO_CHECK(v.IsNumber(), env, op, std::string("dims.") + key + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  };
  double rows = num("rows"), channels = num("channels"), epsilon = num("epsilon");
  ASTRO_CHECK(rows >= 1 && rows < 9e15 && rows == static_cast<double>(static_cast<int64_t>(rows)), env, op, "dims.rows must be a positive integer");
  ASTRO_CHECK(channels >= 1 && channels < 9e15 && channels == static_cast<double>(static_cast<int64_t>(channels)), env, op,
              "dims.channels must be a positive integer");
  ASTRO_CHECK(epsilon > 0, env, op, "dims.epsilon must be positive");
  Napi::Value relu = o.Get("relu");
  ASTRO_CHECK(relu.IsUndefined() || relu.IsBoolean(), env, op, "dims.relu must be a boolean");
  return {static_cast<int64_t>(rows), static_cast<int64_t>(channels), static_cast<float>(epsilon),
          relu.IsBoolean() && relu.As<Napi::Boolean>().Value()};
}

struct ForwardCall {
  BnDims d;
  const float *x, *gamma, *beta;
  float *y, *mean, *var;
};

ForwardCall ParseForward(const Napi::CallbackInfo& info, const char* op) {
  ForwardCall c{};
  c.d = ParseDims(info, 6, op);
  size_t n = static_cast<size_t>(c.d.rows * c.d.channels), k = static_cast<size_t>(c.d.channels);
  auto x = Float32Arg(info, 0, op, "x"), gamma = Float32Arg(info, 1, op, "gamma"), beta = Float32Arg(info, 2, op, "beta");
  auto y = Float32Arg(info, 3, op, "y"), mean = Float32Arg(info, 4, op, "mean"), var = Float32Arg(info, 5, op, "variance");
  Napi::Env env = info.Env();
  ASTRO_CHECK(x.length >= n && y.length >= n, env, op, "x and y must hold rows × channels values");
  ASTRO_CHECK(gamma.length >= k && beta.length >= k && mean.length >= k && var.length >= k, env, op,
              "gamma, beta, mean and variance must hold one value per channel");
  c.x = x.data, c.gamma = gamma.data, c.beta = beta.data, c.y = y.data, c.mean = mean.data, c.var = var.data;
  return c;
}

void RunForward(const ForwardCall& c) {
  astro::batchnorm_train_forward(c.x, c.d.rows, c.d.channels, c.gamma, c.beta, c.d.epsilon, c.y, c.mean, c.var, c.d.relu, 0);
}

struct BackwardCall {
  BnDims d;
  const float *x, *dy, *gamma, *mean, *var;
  const float* relu_y;  // the fused BatchNorm → ReLU's output, or nullptr
  float *dx, *dgamma, *dbeta;
};

BackwardCall ParseBackward(const Napi::CallbackInfo& info, const char* op) {
  BackwardCall c{};
  c.d = ParseDims(info, 8, op);
  size_t n = static_cast<size_t>(c.d.rows * c.d.channels), k = static_cast<size_t>(c.d.channels);
  auto x = Float32Arg(info, 0, op, "x"), dy = Float32Arg(info, 1, op, "dy"), gamma = Float32Arg(info, 2, op, "gamma");
  auto mean = Float32Arg(info, 3, op, "mean"), var = Float32Arg(info, 4, op, "variance");
  auto dx = Float32Arg(info, 5, op, "dx"), dgamma = Float32Arg(info, 6, op, "dgamma"), dbeta = Float32Arg(info, 7, op, "dbeta");
  Napi::Env env = info.Env();
  ASTRO_CHECK(x.length >= n && dy.length >= n && dx.length >= n, env, op, "x, dy and dx must hold rows × channels values");
  ASTRO_CHECK(gamma.length >= k && mean.length >= k && var.length >= k && dgamma.length >= k && dbeta.length >= k, env, op,
              "gamma, mean, variance, dgamma and dbeta must hold one value per channel");
  c.x = x.data, c.dy = dy.data, c.gamma = gamma.data, c.mean = mean.data, c.var = var.data;
  c.dx = dx.data, c.dgamma = dgamma.data, c.dbeta = dbeta.data;
  c.relu_y = nullptr;
  if (info.Length() > 9 && !info[9].IsNull() && !info[9].IsUndefined()) {
    auto relu_y = Float32Arg(info, 9, op, "reluY");
    ASTRO_CHECK(relu_y.length >= n, env, op, "reluY must hold rows × channels values");
    c.relu_y = relu_y.data;
  }
  return c;
}

void RunBackward(const BackwardCall& c) {
  astro::batchnorm_train_backward(c.x, c.dy, c.relu_y, c.d.rows, c.d.channels, c.gamma, c.mean, c.var, c.d.epsilon, c.dx,
                                  c.dgamma, c.dbeta, 0);
}

std::vector<Napi::Value> Args(const Napi::CallbackInfo& info, size_t count) {
  std::vector<Napi::Value> keep;
  for (size_t i = 0; i < count && i < info.Length(); ++i) keep.push_back(info[i]);
  return keep;
}

Napi::Value ForwardSync(const Napi::CallbackInfo& info) {
  RunForward(ParseForward(info, "batchnormTrainForwardSync"));
  return info.Env().Undefined();
}
Napi::Value BackwardSync(const Napi::CallbackInfo& info) {
  RunBackward(ParseBackward(info, "batchnormTrainBackwardSync"));
  return info.Env().Undefined();
}
Napi::Value Forward(const Napi::CallbackInfo& info) {
  ForwardCall c = ParseForward(info, "batchnormTrainForward");
  return PromiseWorker::Run(info.Env(), "batchnormTrainForward", Args(info, 6), [c] { RunForward(c); },
                            [](Napi::Env env) { return env.Undefined(); });
}
Napi::Value Backward(const Napi::CallbackInfo& info) {
  BackwardCall c = ParseBackward(info, "batchnormTrainBackward");
  return PromiseWorker::Run(info.Env(), "batchnormTrainBackward", Args(info, 10), [c] { RunBackward(c); },
                            [](Napi::Env env) { return env.Undefined(); });
}

Registrar registrar({
    {"batchnormTrainForwardSync", ForwardSync},
    {"batchnormTrainBackwardSync", BackwardSync},
    {"batchnormTrainForward", Forward},
    {"batchnormTrainBackward", Backward},
});

}  // namespace
}  // namespace astro_binding
