// 1D convolution kernels for training (kernels/conv1d.h). Every function writes into a
// caller-provided Float32Array, so tfjs's WASM backend can hand in views of its own heap and
// get the result in place. The Sync variants are what tfjs kernels call (kernels are
// synchronous); the Promise variants are for callers that own their arrays.
#include "binding/common.h"
#include "kernels/conv1d.h"

namespace astro_binding {
namespace {

enum class ConvOp { forward, backprop_input, backprop_filter };

const char* OpName(ConvOp op, bool sync) {
  switch (op) {
    case ConvOp::forward: return sync ? "conv1dForwardSync" : "conv1dForward";
    case ConvOp::backprop_input: return sync ? "conv1dBackpropInputSync" : "conv1dBackpropInput";
    default: return sync ? "conv1dBackpropFilterSync" : "conv1dBackpropFilter";
  }
}

int64_t ShapeField(Napi::Env env, const Napi::Object& o, const char* key, const char* op) {
  Napi::Value v = o.Get(key);
  ASTRO_CHECK(v.IsNumber(), env, op, std::string("shape.") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  ASTRO_CHECK(d >= 0 && d < 9.0e15 && d == static_cast<double>(static_cast<int64_t>(d)), env, op,
              std::string("shape.") + key + " must be a non-negative integer");
  return static_cast<int64_t>(d);
}

struct ConvCall {
  astro::Conv1dShape shape;
  const float* a = nullptr;  // x (forward, filter) or dy (input)
  const float* b = nullptr;  // w (forward, input) or dy (filter)
  float* out = nullptr;
};

// Arguments: (a, b, out, shape) with the roles of ConvCall; checks sizes against the shape.
ConvCall ParseCall(const Napi::CallbackInfo& info, ConvOp op, const char* name) {
  Napi::Env env = info.Env();
  ASTRO_CHECK(info.Length() >= 4 && info[3].IsObject(), env, name, "shape must be an object");
  Napi::Object o = info[3].As<Napi::Object>();
  ConvCall call;
  astro::Conv1dShape& s = call.shape;
  s.batch = ShapeField(env, o, "batch", name);
  s.in_length = ShapeField(env, o, "inLength", name);
  s.in_channels = ShapeField(env, o, "inChannels", name);
  s.out_length = ShapeField(env, o, "outLength", name);
  s.out_channels = ShapeField(env, o, "outChannels", name);
  s.kernel = ShapeField(env, o, "kernel", name);
  s.stride = ShapeField(env, o, "stride", name);
  s.pad_left = ShapeField(env, o, "padLeft", name);
  ASTRO_CHECK(astro::conv1d_shape_valid(s), env, name, "inconsistent convolution shape");
  auto a = Float32Arg(info, 0, name, op == ConvOp::backprop_input ? "dy" : "x");
  auto b = Float32Arg(info, 1, name, op == ConvOp::backprop_filter ? "dy" : "w");
  auto out = Float32Arg(info, 2, name, op == ConvOp::forward ? "y" : op == ConvOp::backprop_input ? "dx" : "dw");
  size_t need_a = op == ConvOp::backprop_input ? s.y_size() : s.x_size();
  size_t need_b = op == ConvOp::backprop_filter ? s.y_size() : s.w_size();
  size_t need_out = op == ConvOp::forward ? s.y_size() : op == ConvOp::backprop_input ? s.x_size() : s.w_size();
  ASTRO_CHECK(a.length >= need_a, env, name, "first input is shorter than the shape needs");
  ASTRO_CHECK(b.length >= need_b, env, name, "second input is shorter than the shape needs");
  ASTRO_CHECK(out.length >= need_out, env, name, "output is shorter than the shape needs");
  call.a = a.data;
  call.b = b.data;
  call.out = out.data;
  return call;
}

void RunCall(ConvOp op, const ConvCall& c) {
  switch (op) {
    case ConvOp::forward: astro::conv1d_forward(c.shape, c.a, c.b, c.out, 0); break;
    case ConvOp::backprop_input: astro::conv1d_backprop_input(c.shape, c.a, c.b, c.out, 0); break;
    case ConvOp::backprop_filter: astro::conv1d_backprop_filter(c.shape, c.a, c.b, c.out, 0); break;
  }
}

template <ConvOp kOp>
Napi::Value Sync(const Napi::CallbackInfo& info) {
  const char* name = OpName(kOp, true);
  ConvCall call = ParseCall(info, kOp, name);
  try {
    RunCall(kOp, call);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(name) + ": " + e.what());
  }
  return info.Env().Undefined();
}

template <ConvOp kOp>
Napi::Value Async(const Napi::CallbackInfo& info) {
  const char* name = OpName(kOp, false);
  ConvCall call = ParseCall(info, kOp, name);
  return PromiseWorker::Run(
      info.Env(), name, {info[0], info[1], info[2]}, [call] { RunCall(kOp, call); },
      [](Napi::Env env) { return env.Undefined(); });
}

Registrar registrar({
    {"conv1dForwardSync", Sync<ConvOp::forward>},
    {"conv1dBackpropInputSync", Sync<ConvOp::backprop_input>},
    {"conv1dBackpropFilterSync", Sync<ConvOp::backprop_filter>},
    {"conv1dForward", Async<ConvOp::forward>},
    {"conv1dBackpropInput", Async<ConvOp::backprop_input>},
    {"conv1dBackpropFilter", Async<ConvOp::backprop_filter>},
});

}  // namespace
}  // namespace astro_binding
