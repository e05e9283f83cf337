#include "binding/common.h"

#include <exception>

namespace astro_binding {

namespace {
std::vector<Export>& Registry() {
  static std::vector<Export> registry;
  return registry;
}

template <typename T, napi_typedarray_type kType>
ArrayView<T> TypedArg(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name,
                      const char* type_name) {
  Napi::Env env = info.Env();
  ASTRO_CHECK(index < info.Length() && info[index].IsTypedArray(), env, op,
              std::string(name) + " must be a " + type_name);
  auto array = info[index].As<Napi::TypedArray>();
  ASTRO_CHECK(array.TypedArrayType() == kType, env, op, std::string(name) + " must be a " + type_name);
  auto typed = info[index].As<Napi::TypedArrayOf<T>>();
  return ArrayView<T>{typed.Data(), typed.ElementLength()};
}
}  // namespace

Registrar::Registrar(std::initializer_list<Export> exports) {
  Registry().insert(Registry().end(), exports.begin(), exports.end());
}

void InitAll(Napi::Env env, Napi::Object exports) {
  for (const Export& e : Registry()) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
}

ArrayView<float> Float32Arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  return TypedArg<float, napi_float32_array>(info, i, op, name, "Float32Array");
}
ArrayView<double> Float64Arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  return TypedArg<double, napi_float64_array>(info, i, op, name, "Float64Array");
}
ArrayView<int32_t> Int32Arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  return TypedArg<int32_t, napi_int32_array>(info, i, op, name, "Int32Array");
}
ArrayView<uint8_t> Uint8Arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  return TypedArg<uint8_t, napi_uint8_array>(info, i, op, name, "Uint8Array");
}
ArrayView<int8_t> Int8Arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  return TypedArg<int8_t, napi_int8_array>(info, i, op, name, "Int8Array");
}

double NumberArg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  Napi::Env env = info.Env();
  ASTRO_CHECK(i < info.Length() && info[i].IsNumber(), env, op, std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

bool IsNullish(const Napi::CallbackInfo& info, size_t i) {
  return i >= info.Length() || info[i].IsUndefined() || info[i].IsNull();
}

PromiseWorker::PromiseWorker(Napi::Env env, std::string op, std::function<void()> execute,
                             std::function<Napi::Value(Napi::Env)> resolve)
    : Napi::AsyncWorker(env, op.c_str()),
      op_(std::move(op)),
      execute_(std::move(execute)),
      resolve_(std::move(resolve)),
      deferred_(Napi::Promise::Deferred::New(env)) {}

PromiseWorker::~PromiseWorker() = default;

void PromiseWorker::Keep(Napi::Value value) { kept_.push_back(Napi::Persistent(value)); }

void PromiseWorker::Execute() {
  try {
    execute_();
  } catch (const std::exception& e) {
    SetError(op_ + ": " + e.what());
  } catch (...) {
    SetError(op_ + ": unknown native error");
  }
}

void PromiseWorker::OnOK() {
  // Settling can itself throw when the environment is shutting down (process exit or a worker
  // thread terminating while this work was queued); nothing is waiting then, so it is dropped
  // rather than escaping into N-API, which would abort the process.
  try {
    deferred_.Resolve(resolve_(Env()));
  } catch (const Napi::Error& e) {
    SettleRejected(e.Value());
  } catch (const std::exception& e) {
    SettleRejected(Napi::Error::New(Env(), op_ + ": " + e.what()).Value());
  }
}

void PromiseWorker::OnError(const Napi::Error& error) { SettleRejected(error.Value()); }

void PromiseWorker::SettleRejected(Napi::Value reason) {
  try {
    deferred_.Reject(reason);
  } catch (...) {
  }
}

Napi::Promise PromiseWorker::Run(Napi::Env env, std::string op, std::vector<Napi::Value> keep,
                                 std::function<void()> execute,
                                 std::function<Napi::Value(Napi::Env)> resolve) {
  auto* worker = new PromiseWorker(env, std::move(op), std::move(execute), std::move(resolve));
  for (auto& v : keep) worker->Keep(v);
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // deleted by N-API after OnOK/OnError
  return promise;
}

}  // namespace astro_binding
