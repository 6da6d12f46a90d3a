// How many threads a parallel pass gets: from the caller's request, the
// machine, and the size of the work. Shared by every parallel pass.
//
// Small work runs on the calling thread. A team costs little on an idle
// machine, but on a busy one (a notebook beside other jobs) a region ends
// only when its slowest thread does, and a thread the scheduler has put
// aside finishes a time slice (milliseconds) later, while its team mates
// spin on cores the others need: tiny regions then cost milliseconds each,
// and a small training run was many times slower beside one other 2-thread
// process (bench_busy.py; benchmarks/README.md). Like ATen's parallel_for, each thread must therefore get at least
// a grain of work; the grain here is sized so that one thread's share
// (about a quarter of a millisecond) outweighs what a late team mate costs.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace saematch::detail {

// Work units per thread below which a pass keeps to fewer threads. A unit is
// one multiply-add or a comparably cheap step on one element (a compare, a
// scaled add), so callers count their loops' inner iterations.
inline constexpr std::int64_t kParallelGrain = std::int64_t{1} << 20;

// The two thread counts a request can mean, both decided here: an OpenMP
// region's team (0: OpenMP's default, which honours OMP_NUM_THREADS; always 1
// without OpenMP), and a team of std::threads (similarity/parallel.hpp),
// which needs no OpenMP (0: OpenMP's default where it exists, else one per
// hardware thread).
inline int openmp_threads(int requested) {
#ifdef _OPENMP
    return requested > 0 ? requested : std::max(1, omp_get_max_threads());
#else
    (void)requested;
    return 1;
#endif
}

inline int worker_threads(int requested) {
    if (requested > 0) return requested;
#ifdef _OPENMP
    return std::max(1, omp_get_max_threads());
#else
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
#endif
}

// The grain in force: kParallelGrain, unless a ParallelGrainOverride is alive.
inline std::atomic<std::int64_t>& parallel_grain() {
    static std::atomic<std::int64_t> grain{kParallelGrain};
    return grain;
}

// Sets the grain for its lifetime, process-wide: tests use a grain of 1 so
// that small inputs take the parallel paths whose results they compare.
class ParallelGrainOverride {
public:
    explicit ParallelGrainOverride(std::int64_t grain) : previous_(parallel_grain().exchange(grain)) {}
    ~ParallelGrainOverride() { parallel_grain().store(previous_); }
    ParallelGrainOverride(const ParallelGrainOverride&) = delete;
    ParallelGrainOverride& operator=(const ParallelGrainOverride&) = delete;

private:
    std::int64_t previous_;
};

// How many of `available` threads `work` units deserve: one per `grain`
// units (0: the grain in force), at least one. The answer only decides how
// the work is split: every caller gives the same result for every thread
// count.
inline int threads_for(std::int64_t work, int available, std::int64_t grain = 0) {
    if (grain <= 0) grain = parallel_grain().load(std::memory_order_relaxed);
    if (available <= 1 || work <= grain) return 1;
    return static_cast<int>(std::min<std::int64_t>(available, work / std::max<std::int64_t>(grain, 1)));
}

// The OpenMP team for `work` units when the caller asked for `requested`
// threads (0: OpenMP's default).
inline int omp_threads_for(std::int64_t work, int requested = 0, std::int64_t grain = 0) {
    return threads_for(work, openmp_threads(requested), grain);
}

// Caps the OpenMP team size of regions that this thread starts without a
// num_threads clause (ATen's and MKL's included: they read
// omp_get_max_threads) until the end of the scope. It only lowers the cap,
// touches no other thread, and restores the previous value on exit.
class OmpThreadCap {
public:
    explicit OmpThreadCap(int threads) {
#ifdef _OPENMP
        previous_ = omp_get_max_threads();
        if (threads >= 1 && threads < previous_) omp_set_num_threads(threads);
        else previous_ = 0;  // nothing to restore
#else
        (void)threads;
#endif
    }
    ~OmpThreadCap() {
#ifdef _OPENMP
        if (previous_ > 0) omp_set_num_threads(previous_);
#endif
    }
    OmpThreadCap(const OmpThreadCap&) = delete;
    OmpThreadCap& operator=(const OmpThreadCap&) = delete;

private:
    int previous_ = 0;
};

}  // namespace saematch::detail
