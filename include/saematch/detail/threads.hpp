// How many OpenMP threads a call gets; shared by every parallel pass.
#pragma once

#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace saematch::detail {

// The team size for `requested` threads: 0 means OpenMP's default (which
// honours OMP_NUM_THREADS); always 1 without OpenMP.
inline int resolve_threads(int requested) {
#ifdef _OPENMP
    return requested > 0 ? requested : std::max(1, omp_get_max_threads());
#else
    (void)requested;
    return 1;
#endif
}

}  // namespace saematch::detail
