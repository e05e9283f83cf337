// Shared N-API glue: module registration, argument checks and Promise-returning workers.
// Bindings only check what memory safety needs (types, lengths); TS validates the rest.
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace astro_binding {

// Each binding file registers its exports with a file-level `Registrar` listing them, so adding
// a family of functions touches no central list.
using Callback = Napi::Value (*)(const Napi::CallbackInfo&);
struct Export {
  const char* name;  // the JS name, also the function's `name`
  Callback fn;
};
struct Registrar {
  Registrar(std::initializer_list<Export> exports);
};
void InitAll(Napi::Env env, Napi::Object exports);

// Throws a JS TypeError "<op>: <message>" unless cond holds.
#define ASTRO_CHECK(cond, env, op, message)                                  \
  do {                                                                       \
    if (!(cond)) throw Napi::TypeError::New((env), std::string(op) + ": " + (message)); \
  } while (0)

template <typename T>
struct ArrayView {
  T* data = nullptr;
  size_t length = 0;
};

// Typed-array arguments, read in place. Throws if the argument has another type.
ArrayView<float> Float32Arg(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
ArrayView<double> Float64Arg(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
ArrayView<int32_t> Int32Arg(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
ArrayView<uint8_t> Uint8Arg(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
ArrayView<int8_t> Int8Arg(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
double NumberArg(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
bool IsNullish(const Napi::CallbackInfo& info, size_t index);

// Async work behind a Promise. `execute` runs on a libuv worker thread and must not touch
// any N-API value: capture plain pointers/structs. `resolve` builds the result on the JS
// thread. Inputs passed to Keep() stay referenced (not collected) until the work is done.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::string op, std::function<void()> execute,
                std::function<Napi::Value(Napi::Env)> resolve);
  ~PromiseWorker() override;
  void Keep(Napi::Value value);
  Napi::Promise Promise() { return deferred_.Promise(); }

  // Queues the work and returns its Promise.
  static Napi::Promise Run(Napi::Env env, std::string op, std::vector<Napi::Value> keep,
                           std::function<void()> execute,
                           std::function<Napi::Value(Napi::Env)> resolve);

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  void SettleRejected(Napi::Value reason);

  std::string op_;
  std::function<void()> execute_;
  std::function<Napi::Value(Napi::Env)> resolve_;
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::Reference<Napi::Value>> kept_;
};

}  // namespace astro_binding
