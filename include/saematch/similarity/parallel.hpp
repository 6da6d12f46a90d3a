// Fork-join for the streamed similarity pass, on OpenMP (serial without it).
//
// The pass alternates a BLAS call, which runs on the BLAS library's own
// threads, with a scan of its result on these. Measured on our 2-core
// machines at 8192 x 8192, d = 768: plain std::threads started per tile made
// the pass ~20% slower than OpenMP's team (new threads land beside the BLAS
// threads that are still spinning and wait to be migrated), while libgomp's
// own idle spinning after each region costs the next GEMM ~4%
// (OMP_WAIT_POLICY=passive recovers it; a library cannot set that).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "saematch/detail/threads.hpp"

namespace saematch::similarity::detail {

using saematch::detail::resolve_threads;

// Runs body(t, team) on a team of up to `threads` threads, t = 0 .. team − 1
// (the team may be smaller than asked). The first exception thrown is
// rethrown after all have finished: none escapes a parallel region.
template <class Body>
void fork_join(int threads, Body&& body) {
    if (threads <= 1) {
        body(0, 1);
        return;
    }
    std::exception_ptr error;
    std::mutex error_mutex;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num(), team = omp_get_num_threads();
#else
        const int t = 0, team = 1;
#endif
        try {
            body(t, team);
        } catch (...) {
            const std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
        }
    }
    if (error) std::rethrow_exception(error);
}

// Waits until every thread of the fork_join team calling it has arrived.
// Every thread of the team must call it, the same number of times.
inline void team_barrier() {
#ifdef _OPENMP
#pragma omp barrier
#endif
}

// body(i, t) for every i in [0, count), handed out `chunk` at a time to
// whichever thread is free (t: the thread's number, for per-thread
// scratch). For loops whose iterations differ in cost.
template <class Body>
void parallel_for_dynamic(int threads, std::ptrdiff_t count, std::ptrdiff_t chunk, Body&& body) {
    std::atomic<std::ptrdiff_t> next{0};
    fork_join(threads, [&](int t, int) {
        for (std::ptrdiff_t start; (start = next.fetch_add(chunk)) < count;)
            for (std::ptrdiff_t i = start; i < std::min(count, start + chunk); ++i) body(i, t);
    });
}

}  // namespace saematch::similarity::detail
