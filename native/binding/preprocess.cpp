// N-API glue for the preprocessing kernels (native/kernels/preprocess.h): preprocess and
// augmentNoise, each as a Promise-returning call and a Sync variant. src/preprocess/index.ts
// validates every option; here only what memory safety needs is checked.
#include <limits>
#include <string>

#include "binding/common.h"
#include "kernels/preprocess.h"

namespace astro_binding {
namespace {

double ParamNumber(Napi::Env env, const Napi::Object& params, const char* op, const char* name) {
  Napi::Value v = params.Get(name);
  ASTRO_CHECK(v.IsNumber(), env, op, std::string("params.") + name + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

size_t CheckedProduct(Napi::Env env, const char* op, double a, double b) {
  ASTRO_CHECK(a >= 0 && b >= 0 && a == static_cast<double>(static_cast<size_t>(a)) &&
                  b == static_cast<double>(static_cast<size_t>(b)) && (a == 0 || b <= 9.0e15 / a),
              env, op, "rows and length must be non-negative integers whose product fits in memory");
  return static_cast<size_t>(a) * static_cast<size_t>(b);
}

struct PreprocessCall {
  astro::PreprocessParams params;
  astro::PreprocessInput input;
  astro::PreprocessOutput output;
  int threads = 0;
};

// preprocess(flux, badPixels | null, outFlux, outFeatures | null, outFlags, params)
// params: { rows, length, normalisation (0 none, 1 l2, 2 sum, 3 minmax, 4 median), bin,
//           smoothWindow, robust (0/1), gridStart, gridStep, threads }
PreprocessCall ReadPreprocessCall(const Napi::CallbackInfo& info, const char* op) {
  Napi::Env env = info.Env();
  ASTRO_CHECK(info.Length() >= 6 && info[5].IsObject(), env, op, "params must be an object");
  Napi::Object p = info[5].As<Napi::Object>();
  PreprocessCall call;
  double rows = ParamNumber(env, p, op, "rows"), length = ParamNumber(env, p, op, "length");
  size_t cells = CheckedProduct(env, op, rows, length);
  call.input.rows = static_cast<size_t>(rows);
  call.input.length = static_cast<size_t>(length);
  double norm = ParamNumber(env, p, op, "normalisation");
  ASTRO_CHECK(norm >= 0 && norm <= 4 && norm == static_cast<int>(norm), env, op, "unknown normalisation code");
  call.params.normalisation = static_cast<astro::Normalisation>(static_cast<int>(norm));
  double bin = ParamNumber(env, p, op, "bin"), window = ParamNumber(env, p, op, "smoothWindow");
  ASTRO_CHECK(bin >= 1 && bin <= 1e9 && bin == static_cast<int>(bin), env, op, "bin must be a positive integer");
  ASTRO_CHECK(window >= 0 && window <= 1e9 && window == static_cast<int>(window), env, op,
              "smoothWindow must be a non-negative integer");
  call.params.bin = static_cast<int>(bin);
  call.params.smooth_window = static_cast<int>(window);
  ASTRO_CHECK(window == 0 || (static_cast<int>(window) % 2 == 1 && window >= 3 && window <= length), env, op,
              "smoothWindow must be odd, >= 3 and <= length");
  call.params.robust = ParamNumber(env, p, op, "robust") != 0;
  call.params.grid_start = ParamNumber(env, p, op, "gridStart");
  call.params.grid_step = ParamNumber(env, p, op, "gridStep");
  call.threads = static_cast<int>(ParamNumber(env, p, op, "threads"));

  auto flux = Float32Arg(info, 0, op, "flux");
  ASTRO_CHECK(flux.length >= cells, env, op, "flux is shorter than rows × length");
  call.input.flux = flux.data;
  if (!IsNullish(info, 1)) {
    auto bad = Uint8Arg(info, 1, op, "badPixels");
    ASTRO_CHECK(bad.length >= cells, env, op, "badPixels is shorter than rows × length");
    call.input.bad_pixels = bad.data;
  }
  auto out = Float32Arg(info, 2, op, "outFlux");
  const size_t out_cells = call.input.rows * (call.input.length / call.params.bin);
  ASTRO_CHECK(out.length >= out_cells, env, op, "outFlux is shorter than rows × (length / bin)");
  // In place only when the output row is the input row (same buffer, same offset, no binning).
  const bool overlaps = out.data < flux.data + flux.length && flux.data < out.data + out.length;
  ASTRO_CHECK(!overlaps || (out.data == flux.data && call.params.bin == 1), env, op,
              "outFlux may only alias flux exactly, and only without binning");
  call.output.flux = out.data;
  if (!IsNullish(info, 3)) {
    auto features = Float32Arg(info, 3, op, "outFeatures");
    ASTRO_CHECK(features.length >= call.input.rows * astro::kFeatureCount, env, op,
                "outFeatures is shorter than rows × feature count");
    call.output.features = features.data;
  }
  auto flags = Uint8Arg(info, 4, op, "outFlags");
  ASTRO_CHECK(flags.length >= call.input.rows, env, op, "outFlags is shorter than rows");
  call.output.flags = flags.data;
  return call;
}

Napi::Value Preprocess(const Napi::CallbackInfo& info) {
  PreprocessCall call = ReadPreprocessCall(info, "preprocess");
  std::vector<Napi::Value> keep;
  for (size_t i = 0; i < 5; ++i)
    if (!IsNullish(info, i)) keep.push_back(info[i]);
  return PromiseWorker::Run(
      info.Env(), "preprocess", keep,
      [call] { astro::preprocess(call.params, call.input, call.output, call.threads); },
      [](Napi::Env env) { return env.Undefined(); });
}

Napi::Value PreprocessSync(const Napi::CallbackInfo& info) {
  PreprocessCall call = ReadPreprocessCall(info, "preprocessSync");
  try {
    astro::preprocess(call.params, call.input, call.output, call.threads);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("preprocessSync: ") + e.what());
  }
  return info.Env().Undefined();
}

struct NoiseCall {
  astro::NoiseParams params;
  float* flux = nullptr;
  size_t rows = 0, length = 0;
  const uint8_t* row_mask = nullptr;
  int threads = 0;
};

// augmentNoise(flux, rowMask | null, params: { rows, length, snrLow, snrHigh, seed, threads })
NoiseCall ReadNoiseCall(const Napi::CallbackInfo& info, const char* op) {
  Napi::Env env = info.Env();
  ASTRO_CHECK(info.Length() >= 3 && info[2].IsObject(), env, op, "params must be an object");
  Napi::Object p = info[2].As<Napi::Object>();
  NoiseCall call;
  double rows = ParamNumber(env, p, op, "rows"), length = ParamNumber(env, p, op, "length");
  size_t cells = CheckedProduct(env, op, rows, length);
  call.rows = static_cast<size_t>(rows);
  call.length = static_cast<size_t>(length);
  call.params.snr_low = ParamNumber(env, p, op, "snrLow");
  call.params.snr_high = ParamNumber(env, p, op, "snrHigh");
  double seed = ParamNumber(env, p, op, "seed");
  ASTRO_CHECK(seed >= 0 && seed <= 4294967295.0 && seed == static_cast<double>(static_cast<uint32_t>(seed)), env, op,
              "seed must be an integer in [0, 2^32)");
  call.params.seed = static_cast<uint32_t>(seed);
  call.threads = static_cast<int>(ParamNumber(env, p, op, "threads"));
  auto flux = Float32Arg(info, 0, op, "flux");
  ASTRO_CHECK(flux.length >= cells, env, op, "flux is shorter than rows × length");
  call.flux = flux.data;
  if (!IsNullish(info, 1)) {
    auto mask = Uint8Arg(info, 1, op, "rowMask");
    ASTRO_CHECK(mask.length >= call.rows, env, op, "rowMask is shorter than rows");
    call.row_mask = mask.data;
  }
  return call;
}

Napi::Value AugmentNoise(const Napi::CallbackInfo& info) {
  NoiseCall call = ReadNoiseCall(info, "augmentNoise");
  std::vector<Napi::Value> keep{info[0]};
  if (!IsNullish(info, 1)) keep.push_back(info[1]);
  return PromiseWorker::Run(
      info.Env(), "augmentNoise", keep,
      [call] { astro::augment_noise(call.params, call.flux, call.rows, call.length, call.row_mask, call.threads); },
      [](Napi::Env env) { return env.Undefined(); });
}

Napi::Value AugmentNoiseSync(const Napi::CallbackInfo& info) {
  NoiseCall call = ReadNoiseCall(info, "augmentNoiseSync");
  try {
    astro::augment_noise(call.params, call.flux, call.rows, call.length, call.row_mask, call.threads);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("augmentNoiseSync: ") + e.what());
  }
  return info.Env().Undefined();
}

Registrar registrar({
    {"preprocess", Preprocess},
    {"preprocessSync", PreprocessSync},
    {"augmentNoise", AugmentNoise},
    {"augmentNoiseSync", AugmentNoiseSync},
});

}  // namespace
}  // namespace astro_binding
