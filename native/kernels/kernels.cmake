# Builds the pure C++ kernels as one static library, astrospec_kernels.
#
# native/kernels/*.cpp            compiled once, for baseline x86-64 (or the host arch).
# native/kernels/simd/*.cpp       compiled once per instruction set, with ASTRO_ISA_NS set to
#                                 the namespace the file must put its kernels in
#                                 (astro::baseline, astro::avx2, astro::avx512);
#                                 native/kernels/cpu.h picks one at run time.
file(GLOB ASTRO_KERNEL_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cpp)
file(GLOB ASTRO_SIMD_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/simd/*.cpp)

add_library(astrospec_kernels STATIC ${ASTRO_KERNEL_SOURCES})
target_include_directories(astrospec_kernels PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
set_target_properties(astrospec_kernels PROPERTIES POSITION_INDEPENDENT_CODE ON)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set(ASTRO_ISAS baseline avx2 avx512)
  set(ASTRO_FLAGS_baseline "")
  set(ASTRO_FLAGS_avx2 -mavx2 -mfma -mbmi2)
  set(ASTRO_FLAGS_avx512 -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma -mbmi2 -mprefer-vector-width=512)
  target_compile_definitions(astrospec_kernels PUBLIC ASTRO_HAVE_X86_ISAS=1)
else()
  set(ASTRO_ISAS baseline)
  set(ASTRO_FLAGS_baseline "")
endif()

foreach(isa ${ASTRO_ISAS})
  if(ASTRO_SIMD_SOURCES)
    add_library(astrospec_kernels_${isa} OBJECT ${ASTRO_SIMD_SOURCES})
    target_include_directories(astrospec_kernels_${isa} PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
    target_compile_options(astrospec_kernels_${isa} PRIVATE ${ASTRO_FLAGS_${isa}})
    target_compile_definitions(astrospec_kernels_${isa} PRIVATE ASTRO_ISA_NS=${isa})
    set_target_properties(astrospec_kernels_${isa} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    target_sources(astrospec_kernels PRIVATE $<TARGET_OBJECTS:astrospec_kernels_${isa}>)
  endif()
endforeach()
