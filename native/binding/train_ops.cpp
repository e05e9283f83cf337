// ReLU and max-pool gradient passes for training (kernels/train_ops.h), writing into
// caller-provided Float32Arrays (views of tfjs's WASM heap). Synchronous only: tfjs kernels are.
#include <cmath>

#include "binding/common.h"
#include "kernels/train_ops.h"

namespace astro_binding {
namespace {

Napi::Value ReluForwardSync(const Napi::CallbackInfo& info) {
  const char* op = "reluForwardSync";
  auto x = Float32Arg(info, 0, op, "x"), y = Float32Arg(info, 1, op, "y");
  ASTRO_CHECK(y.length >= x.length, info.Env(), op, "y is shorter than x");
  astro::relu_forward(x.data, static_cast<int64_t>(x.length), y.data, 0);
  return info.Env().Undefined();
}

Napi::Value ReluBackwardSync(const Napi::CallbackInfo& info) {
  const char* op = "reluBackwardSync";
  auto x = Float32Arg(info, 0, op, "x"), dy = Float32Arg(info, 1, op, "dy"), dx = Float32Arg(info, 2, op, "dx");
  ASTRO_CHECK(dy.length >= x.length && dx.length >= x.length, info.Env(), op, "dy and dx must hold as many values as x");
  astro::relu_backward(x.data, dy.data, static_cast<int64_t>(x.length), dx.data, 0);
  return info.Env().Undefined();
}

Napi::Value AddSync(const Napi::CallbackInfo& info) {
  const char* op = "addSync";
  auto a = Float32Arg(info, 0, op, "a"), b = Float32Arg(info, 1, op, "b"), out = Float32Arg(info, 2, op, "out");
  ASTRO_CHECK(b.length == a.length && out.length >= a.length, info.Env(), op, "a, b and out must hold the same number of values");
  ASTRO_CHECK(info.Length() < 4 || info[3].IsUndefined() || info[3].IsBoolean(), info.Env(), op, "relu must be a boolean");
  const bool relu = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  astro::add_same_shape(a.data, b.data, static_cast<int64_t>(a.length), out.data, relu, 0);
  return info.Env().Undefined();
}

// (value, m, v, gradient, outValue, outM, outV, {learningRate, beta1, beta2, epsilon, correction1, correction2})
Napi::Value AdamUpdateSync(const Napi::CallbackInfo& info) {
  const char* op = "adamUpdateSync";
  Napi::Env env = info.Env();
  ASTRO_CHECK(info.Length() >= 8 && info[7].IsObject(), env, op, "step must be an object");
  Napi::Object o = info[7].As<Napi::Object>();
  auto num = [&](const char* key) {
    Napi::Value v = o.Get(key);
    ASTRO_CHECK(v.IsNumber(), env, op, std::string("step.") + key + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  };
  astro::AdamStep step{num("learningRate"), num("beta1"), num("beta2"), num("epsilon"), num("correction1"), num("correction2")};
  auto value = Float32Arg(info, 0, op, "value"), m = Float32Arg(info, 1, op, "m"), v = Float32Arg(info, 2, op, "v");
  auto g = Float32Arg(info, 3, op, "gradient"), out_value = Float32Arg(info, 4, op, "outValue");
  auto out_m = Float32Arg(info, 5, op, "outM"), out_v = Float32Arg(info, 6, op, "outV");
  const size_t n = value.length;
  ASTRO_CHECK(m.length == n && v.length == n && g.length == n && out_value.length >= n && out_m.length >= n && out_v.length >= n,
              env, op, "value, m, v, gradient and the outputs must hold the same number of values");
  astro::adam_update(value.data, m.data, v.data, g.data, static_cast<int64_t>(n), step, out_value.data, out_m.data, out_v.data, 0);
  return env.Undefined();
}

// o[key] as an integer ≥ min, or an error naming `object.key`.
int64_t IntegerField(Napi::Env env, const Napi::Object& o, const char* op, const char* object, const char* key, int64_t min) {
  const std::string name = std::string(object) + "." + key;
  Napi::Value v = o.Get(key);
  ASTRO_CHECK(v.IsNumber(), env, op, name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  ASTRO_CHECK(d >= static_cast<double>(min) && d < 9.0e15 && d == std::floor(d), env, op, name + " must be an integer ≥ " + std::to_string(min));
  return static_cast<int64_t>(d);
}

// info[index] as an object, or an error naming it.
Napi::Object ObjectArg(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  ASTRO_CHECK(info.Length() > index && info[index].IsObject(), info.Env(), op, std::string(name) + " must be an object");
  return info[index].As<Napi::Object>();
}

// Fails, with `message`, unless `array` holds at least `values` floats.
void RequireValues(Napi::Env env, const char* op, const ArrayView<float>& array, double values, const char* message) {
  ASTRO_CHECK(static_cast<double>(array.length) >= values, env, op, message);
}

struct PoolShape {
  int64_t batch, in_length, out_length, channels, window, stride, pad_left;
};

// {batch, inLength, outLength, channels, window, stride, padLeft} at info[index]
PoolShape ParsePoolShape(const Napi::CallbackInfo& info, size_t index, const char* op) {
  Napi::Object o = ObjectArg(info, index, op, "shape");
  auto field = [&](const char* key, int64_t min) { return IntegerField(info.Env(), o, op, "shape", key, min); };
  return {field("batch", 0), field("inLength", 0), field("outLength", 0), field("channels", 1),
          field("window", 1), field("stride", 1), field("padLeft", 0)};
}

// (x, dy, dx, shape)
Napi::Value MaxPool1dBackwardSync(const Napi::CallbackInfo& info) {
  const char* op = "maxPool1dBackwardSync";
  Napi::Env env = info.Env();
  const PoolShape s = ParsePoolShape(info, 3, op);
  auto x = Float32Arg(info, 0, op, "x"), dy = Float32Arg(info, 1, op, "dy"), dx = Float32Arg(info, 2, op, "dx");
  const double in_size = static_cast<double>(s.batch) * s.in_length * s.channels, out_size = static_cast<double>(s.batch) * s.out_length * s.channels;
  RequireValues(env, op, x, in_size, "x and dx must hold batch × inLength × channels values");
  RequireValues(env, op, dx, in_size, "x and dx must hold batch × inLength × channels values");
  RequireValues(env, op, dy, out_size, "dy must hold batch × outLength × channels values");
  astro::maxpool1d_backward(x.data, dy.data, s.batch, s.in_length, s.out_length, s.channels, s.window, s.stride, s.pad_left, dx.data, 0);
  return env.Undefined();
}

// (x, y, shape)
Napi::Value MaxPool1dForwardSync(const Napi::CallbackInfo& info) {
  const char* op = "maxPool1dForwardSync";
  Napi::Env env = info.Env();
  const PoolShape s = ParsePoolShape(info, 2, op);
  auto x = Float32Arg(info, 0, op, "x"), y = Float32Arg(info, 1, op, "y");
  RequireValues(env, op, x, static_cast<double>(s.batch) * s.in_length * s.channels, "x must hold batch × inLength × channels values");
  RequireValues(env, op, y, static_cast<double>(s.batch) * s.out_length * s.channels, "y must hold batch × outLength × channels values");
  astro::maxpool1d_forward(x.data, s.batch, s.in_length, s.out_length, s.channels, s.window, s.stride, s.pad_left, y.data, 0);
  return env.Undefined();
}

struct MeanDims {
  int64_t batch, length, channels;
};

// {batch, length, channels} at info[index]; each ≥ 1.
MeanDims ParseMeanDims(const Napi::CallbackInfo& info, size_t index, const char* op) {
  Napi::Object o = ObjectArg(info, index, op, "dims");
  auto field = [&](const char* key) { return IntegerField(info.Env(), o, op, "dims", key, 1); };
  return {field("batch"), field("length"), field("channels")};
}

// (x [batch, length, channels], y [batch, channels], dims)
Napi::Value MeanAxis1Sync(const Napi::CallbackInfo& info) {
  const char* op = "meanAxis1Sync";
  Napi::Env env = info.Env();
  const MeanDims d = ParseMeanDims(info, 2, op);
  auto x = Float32Arg(info, 0, op, "x"), y = Float32Arg(info, 1, op, "y");
  RequireValues(env, op, x, static_cast<double>(d.batch) * d.length * d.channels, "x must hold batch × length × channels values");
  RequireValues(env, op, y, static_cast<double>(d.batch) * d.channels, "y must hold batch × channels values");
  astro::mean_axis1_forward(x.data, d.batch, d.length, d.channels, y.data, 0);
  return env.Undefined();
}

// (dy [batch, channels], dx [batch, length, channels], dims)
Napi::Value MeanAxis1GradSync(const Napi::CallbackInfo& info) {
  const char* op = "meanAxis1GradSync";
  Napi::Env env = info.Env();
  const MeanDims d = ParseMeanDims(info, 2, op);
  auto dy = Float32Arg(info, 0, op, "dy"), dx = Float32Arg(info, 1, op, "dx");
  RequireValues(env, op, dy, static_cast<double>(d.batch) * d.channels, "dy must hold batch × channels values");
  RequireValues(env, op, dx, static_cast<double>(d.batch) * d.length * d.channels, "dx must hold batch × length × channels values");
  astro::mean_axis1_backward(dy.data, d.batch, d.length, d.channels, dx.data, 0);
  return env.Undefined();
}

Registrar registrar({
    {"reluForwardSync", ReluForwardSync},
    {"reluBackwardSync", ReluBackwardSync},
    {"addSync", AddSync},
    {"adamUpdateSync", AdamUpdateSync},
    {"maxPool1dBackwardSync", MaxPool1dBackwardSync},
    {"maxPool1dForwardSync", MaxPool1dForwardSync},
    {"meanAxis1Sync", MeanAxis1Sync},
    {"meanAxis1GradSync", MeanAxis1GradSync},
});

}  // namespace
}  // namespace astro_binding
