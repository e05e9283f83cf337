#include "kernels/conv1d_pool.h"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/parallel.h"

namespace astro {

namespace {

// One call's work. Workers hold it by shared_ptr, so a worker that wakes after the call returned
// still sees a valid (exhausted) counter; it never calls fn then, whose captures are gone.
struct Job {
  std::function<void(size_t, int)> fn;
  size_t chunks = 0;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::mutex error_mutex;
  std::exception_ptr error;

  // Claims and runs chunks until none are left.
  void work(int worker) {
    for (size_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
      try {
        fn(c, worker);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
      done.fetch_add(1, std::memory_order_release);
    }
  }
};

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  void run(size_t chunks, int threads, const std::function<void(size_t, int)>& fn) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (threads <= 1 || chunks <= 1 || !busy.owns_lock()) {
      for (size_t c = 0; c < chunks; ++c) fn(c, 0);
      return;
    }
    auto job = std::make_shared<Job>();
    job->fn = fn;
    job->chunks = chunks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (static_cast<int>(threads_.size()) < threads - 1) {
        int index = static_cast<int>(threads_.size()) + 1;
        threads_.emplace_back([this, index] { loop(index); });
      }
      job_ = job;
      active_workers_ = threads - 1;
      ++generation_;
    }
    wake_.notify_all();
    job->work(0);
    // Only chunks a worker has claimed can still be running; they are short.
    while (job->done.load(std::memory_order_acquire) < chunks) std::this_thread::yield();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_.reset();
    }
    if (job->error) std::rethrow_exception(job->error);
  }

 private:
  void loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || (job_ && generation_ != seen); });
        if (stop_) return;
        seen = generation_;
        // Workers beyond this call's thread count sit it out.
        if (index > active_workers_) continue;
        job = job_;
      }
      job->work(index);
    }
  }

  std::mutex busy_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::thread> threads_;
  std::shared_ptr<Job> job_;
  uint64_t generation_ = 0;
  int active_workers_ = 0;
  bool stop_ = false;
};

Pool& pool() {
  static Pool instance;
  return instance;
}

}  // namespace

void conv1d_pool_run(size_t chunks, int threads, const std::function<void(size_t chunk, int worker)>& fn) {
  if (threads <= 0) threads = default_threads();
  pool().run(chunks, threads, fn);
}

}  // namespace astro
