// Running a per-element body (a functor with units() and operator()(unit),
// this folder's headers) over all its units: on the CPU in an OpenMP loop,
// on a CUDA device through a launcher that a CUDA translation unit
// registers (include/saematch/cuda/kernels.cuh). Torch-free: the caller
// (sae/execution_path.hpp) decides which side a tensor's data lives on.
#pragma once

#include <cstdint>

#include "saematch/detail/threads.hpp"

namespace saematch::kernels {

// CPU: f(u) for every unit, split over threads by the work it is worth
// (`work_per_unit` multiply-adds), so small launches stay on one thread.
template <class F>
void host_for_each(const F& f, std::int64_t work_per_unit) {
    const std::int64_t units = f.units();
#if defined(_OPENMP)  // not under nvcc, which compiles this header for cuda_launcher only
#pragma omp parallel for schedule(static) num_threads(saematch::detail::omp_threads_for(units * work_per_unit))
#endif
    for (std::int64_t u = 0; u < units; ++u) f(u);
}

// The CUDA launcher of functor type F on the current stream, or null when
// no CUDA translation unit registered one (a CPU-only build). One per
// binary: an inline variable, merged across the translation units of a
// shared library.
template <class F>
inline void (*cuda_launcher)(const F&) = nullptr;

}  // namespace saematch::kernels
