#include "kernels/cpu.h"

#include <atomic>
#include <cstdlib>

namespace astro {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "baseline";
  }
}

bool parse_isa(const std::string& name, Isa* out) {
  if (name == "baseline" || name == "scalar") { *out = Isa::baseline; return true; }
  if (name == "avx2") { *out = Isa::avx2; return true; }
  if (name == "avx512") { *out = Isa::avx512; return true; }
  return false;
}

bool isa_supported(Isa isa) {
#if defined(ASTRO_HAVE_X86_ISAS) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  switch (isa) {
    case Isa::baseline: return true;
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("fma");
  }
  return false;
#else
  return isa == Isa::baseline;
#endif
}

Isa detect_isa() {
  static const Isa best = [] {
    if (isa_supported(Isa::avx512)) return Isa::avx512;
    if (isa_supported(Isa::avx2)) return Isa::avx2;
    return Isa::baseline;
  }();
  return best;
}

namespace {
std::atomic<int> g_isa{-1};
}

Isa active_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v >= 0) return static_cast<Isa>(v);
  Isa isa = detect_isa();
  if (const char* env = std::getenv("ASTROSPEC_ISA")) {
    Isa forced;
    if (parse_isa(env, &forced) && isa_supported(forced)) isa = forced;
  }
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
  return isa;
}

bool set_isa(Isa isa) {
  if (!isa_supported(isa)) return false;
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

}  // namespace astro
