// A small persistent thread pool for the training kernels, which are called hundreds of times
// per optimisation step on ~1 ms of work each.
//
// parallel_for (kernels/parallel.h) starts and joins threads per call and splits the work in
// fixed halves: on a machine shared with other jobs the caller then waits for a thread the
// scheduler has not run yet, and a step slows several-fold. Here work is claimed chunk by chunk
// from an atomic counter, the caller works too, and it waits only for chunks already claimed, never
// for a worker that has not woken up: a late worker finds the counter exhausted and goes back to
// sleep.
#pragma once
#include <cstddef>
#include <functional>

namespace astro {

// Calls fn(chunk, worker) for every chunk in [0, chunks), on the calling thread (worker 0) and up
// to threads-1 pooled threads (workers 1..threads-1). threads <= 0: default_threads(). Concurrent
// calls from different threads are allowed; a call that finds the pool busy runs inline. The first
// exception thrown by fn is rethrown after all claimed chunks finish.
void conv1d_pool_run(size_t chunks, int threads, const std::function<void(size_t chunk, int worker)>& fn);

}  // namespace astro
