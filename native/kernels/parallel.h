// Data-parallel loops over spectra. Work is split into contiguous ranges, one per thread;
// the calling thread takes the first range, so threads=1 runs inline with no thread start.
#pragma once
#include <algorithm>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace astro {

// Thread count used when a call passes threads <= 0. Defaults to the core count.
int default_threads();
void set_default_threads(int threads);

// Calls fn(begin, end, worker_index) over [0, n) split into at most `threads` ranges.
// The first exception thrown by any range is rethrown on the caller after all finish.
template <typename Fn>
void parallel_for(size_t n, int threads, Fn&& fn) {
  if (threads <= 0) threads = default_threads();
  size_t parts = std::min<size_t>(static_cast<size_t>(threads), n);
  if (parts <= 1) {
    if (n > 0) fn(size_t{0}, n, 0);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](size_t part) {
    size_t begin = n * part / parts, end = n * (part + 1) / parts;
    try {
      fn(begin, end, static_cast<int>(part));
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(parts - 1);
  for (size_t p = 1; p < parts; ++p) pool.emplace_back(run, p);
  run(0);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace astro
