// Instruction-set selection. Kernels are compiled once per ISA (native/kernels/simd/) and
// the best one the CPU supports is used, unless ASTROSPEC_ISA (baseline|avx2|avx512) or
// set_isa() forces a path, which is how the tests cover every variant.
#pragma once
#include <string>

namespace astro {

enum class Isa { baseline = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
bool parse_isa(const std::string& name, Isa* out);

// Best ISA this CPU supports (and this build compiled).
Isa detect_isa();
// The ISA kernels dispatch to: ASTROSPEC_ISA if set and supported, else detect_isa().
Isa active_isa();
// Force a path; returns false (and changes nothing) if the CPU can't run it.
bool set_isa(Isa isa);
bool isa_supported(Isa isa);

}  // namespace astro
