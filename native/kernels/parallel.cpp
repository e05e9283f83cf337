#include "kernels/parallel.h"

#include <atomic>

namespace astro {

namespace {
std::atomic<int> g_threads{0};
}

int default_threads() {
  int t = g_threads.load(std::memory_order_relaxed);
  if (t > 0) return t;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

void set_default_threads(int threads) { g_threads.store(threads > 0 ? threads : 0); }

}  // namespace astro
