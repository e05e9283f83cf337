// The start of every native/kernels/simd/*.cpp. kernels.cmake compiles each of those files once per
// instruction set (baseline, AVX2, AVX-512), with ASTRO_ISA_NS naming the namespace its kernels go in
// (astro::baseline, astro::avx2, astro::avx512); native/kernels/cpu.h picks one at run time.
#pragma once
#include <cstddef>
#include <cstdint>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#ifndef ASTRO_ISA_NS
#error "ASTRO_ISA_NS must name the instruction-set namespace (see kernels.cmake)"
#endif
