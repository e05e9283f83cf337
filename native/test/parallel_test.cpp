#include <atomic>
#include <stdexcept>
#include <vector>

#include "check.h"
#include "kernels/cpu.h"
#include "kernels/parallel.h"

TEST(parallel_for_covers_every_index_once) {
  for (int threads : {1, 2, 3, 8}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}}) {
      std::vector<std::atomic<int>> hits(n);
      astro::parallel_for(n, threads, [&](size_t b, size_t e, int) {
        for (size_t i = b; i < e; ++i) hits[i]++;
      });
      for (size_t i = 0; i < n; ++i) CHECK(hits[i].load() == 1);
    }
  }
}

TEST(parallel_for_rethrows_worker_errors) {
  bool thrown = false;
  try {
    astro::parallel_for(100, 4, [&](size_t b, size_t, int) {
      if (b > 0) throw std::runtime_error("boom");
    });
  } catch (const std::runtime_error&) {
    thrown = true;
  }
  CHECK(thrown);
}

TEST(forced_isa_is_honoured_when_supported) {
  // ASTROSPEC_ISA is set by ctest per run; the active ISA must be it when the CPU has it.
  const char* env = std::getenv("ASTROSPEC_ISA");
  astro::Isa wanted;
  if (env && astro::parse_isa(env, &wanted) && astro::isa_supported(wanted)) CHECK(astro::active_isa() == wanted);
  CHECK(astro::isa_supported(astro::Isa::baseline));
}

ASTRO_TEST_MAIN()
