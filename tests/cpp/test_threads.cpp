// The one place that decides how many threads a pass gets (detail/threads.hpp).
#include <catch2/catch.hpp>

#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "saematch/detail/threads.hpp"

using saematch::detail::kParallelGrain;
using saematch::detail::threads_for;

TEST_CASE("threads_for keeps work below a grain per thread on fewer threads", "[threads]") {
    // Small work stays on the calling thread however many are available.
    CHECK(threads_for(0, 16) == 1);
    CHECK(threads_for(1000, 16) == 1);
    CHECK(threads_for(kParallelGrain, 16) == 1);
    // One thread per full grain, up to what is available.
    CHECK(threads_for(2 * kParallelGrain, 16) == 2);
    CHECK(threads_for(5 * kParallelGrain + 7, 16) == 5);
    CHECK(threads_for(100 * kParallelGrain, 16) == 16);
    CHECK(threads_for(100 * kParallelGrain, 1) == 1);
    CHECK(threads_for(100 * kParallelGrain, 0) == 1);
    // A caller's own grain.
    CHECK(threads_for(1000, 8, 100) == 8);
    CHECK(threads_for(300, 8, 100) == 3);
    // The small training step: sparse products of 4096 tokens x k 8
    // x d 32 are about one grain, so they run serially.
    CHECK(threads_for(std::int64_t{4096} * 8 * 32, 2) == 1);
}

TEST_CASE("ParallelGrainOverride lowers the grain for its lifetime only", "[threads]") {
    {
        const saematch::detail::ParallelGrainOverride every_unit(1);
        CHECK(threads_for(1000, 16) == 16);
        CHECK(threads_for(3, 16) == 3);
    }
    CHECK(threads_for(1000, 16) == 1);
}

TEST_CASE("omp_threads_for honours an explicit request as the upper bound", "[threads]") {
    CHECK(saematch::detail::omp_threads_for(100 * kParallelGrain, 3) == (saematch::detail::openmp_threads(3)));
    CHECK(saematch::detail::omp_threads_for(10, 3) == 1);
}

TEST_CASE("OmpThreadCap lowers this thread's OpenMP team size for its scope only", "[threads]") {
#ifndef _OPENMP
    WARN("built without OpenMP: nothing to cap");
#else
    const int before = omp_get_max_threads();
    omp_set_num_threads(4);  // so the cap has something to lower even on a 1-core machine
    {
        const saematch::detail::OmpThreadCap cap(1);
        CHECK(omp_get_max_threads() == 1);
        int team = 0;
#pragma omp parallel
        {
#pragma omp single
            team = omp_get_num_threads();
        }
        CHECK(team == 1);
        {
            const saematch::detail::OmpThreadCap wider(3);  // never raises
            CHECK(omp_get_max_threads() == 1);
        }
        CHECK(omp_get_max_threads() == 1);
    }
    CHECK(omp_get_max_threads() == 4);
    {
        const saematch::detail::OmpThreadCap none(0);  // 0: no cap
        CHECK(omp_get_max_threads() == 4);
    }
    CHECK(omp_get_max_threads() == 4);
    omp_set_num_threads(before);
#endif
}
