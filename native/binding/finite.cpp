// Finiteness scan of a Float32Array, read in place (native/kernels/finite.h).
#include <cmath>

#include "binding/common.h"
#include "kernels/finite.h"

namespace astro_binding {
namespace {

// firstNonFiniteSync(values, from, to): index of the first NaN/±Inf in values[from, to), or −1.
Napi::Value FirstNonFiniteSync(const Napi::CallbackInfo& info) {
  const char* op = "firstNonFiniteSync";
  Napi::Env env = info.Env();
  auto values = Float32Arg(info, 0, op, "values");
  double from = NumberArg(info, 1, op, "from"), to = NumberArg(info, 2, op, "to");
  ASTRO_CHECK(from >= 0 && to >= from && to <= static_cast<double>(values.length) && std::floor(from) == from && std::floor(to) == to,
              env, op, "from and to must be integers with 0 <= from <= to <= values.length");
  const size_t begin = static_cast<size_t>(from);
  int64_t at = astro::first_non_finite_f32(values.data + begin, static_cast<size_t>(to) - begin);
  return Napi::Number::New(env, at < 0 ? -1.0 : static_cast<double>(begin + static_cast<size_t>(at)));
}

Registrar registrar({
    {"firstNonFiniteSync", FirstNonFiniteSync},
});

}  // namespace
}  // namespace astro_binding
