// Machine facts and global settings: instruction set and thread count.
#include "binding/common.h"
#include "kernels/cpu.h"
#include "kernels/parallel.h"

namespace astro_binding {
namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  out.Set("isa", astro::isa_name(astro::active_isa()));
  out.Set("detectedIsa", astro::isa_name(astro::detect_isa()));
  auto supported = Napi::Array::New(env);
  uint32_t k = 0;
  for (auto isa : {astro::Isa::baseline, astro::Isa::avx2, astro::Isa::avx512})
    if (astro::isa_supported(isa)) supported.Set(k++, astro::isa_name(isa));
  out.Set("supportedIsas", supported);
  out.Set("threads", astro::default_threads());
  out.Set("hardwareThreads", static_cast<double>(std::thread::hardware_concurrency()));
  out.Set("compiler", __VERSION__);
  return out;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  double n = NumberArg(info, 0, "setThreads", "threads");
  astro::set_default_threads(static_cast<int>(n));
  return Napi::Number::New(info.Env(), astro::default_threads());
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ASTRO_CHECK(info.Length() > 0 && info[0].IsString(), env, "setIsa", "isa must be a string");
  astro::Isa isa;
  ASTRO_CHECK(astro::parse_isa(info[0].As<Napi::String>(), &isa), env, "setIsa",
              "unknown instruction set (baseline, avx2, avx512)");
  return Napi::Boolean::New(env, astro::set_isa(isa));
}

Registrar registrar({
    {"info", Info},
    {"setThreads", SetThreads},
    {"setIsa", SetIsa},
});

}  // namespace
}  // namespace astro_binding
