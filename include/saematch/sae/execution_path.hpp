// Which code runs an SAE's hand-written kernels for a given tensor:
//
//   cpu_loops       CPU float32: the per-element bodies of kernels/ in OpenMP
//                   loops, with host-side bookkeeping (a counting sort).
//   device_kernels  CUDA float32 when the CUDA kernels were compiled in: the
//                   same bodies as CUDA kernels, orchestrated with ATen ops
//                   that run on the device (a stable sort, a binary search).
//   aten            everything else (other dtypes, other devices, a build
//                   without CUDA kernels): plain ATen ops, whose CUDA index_add_
//                   uses atomics and so does not promise a summation order.
//
// ExecutionPathOverride forces one route for CPU tensors, so that the CPU
// tests run the very orchestration a CUDA tensor takes (device_kernels) and
// the ATen fallback (aten): the first step of the first CUDA run once
// crashed in a branch no CPU test took.
#pragma once

#include <ATen/ATen.h>

#include <atomic>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>

#include "saematch/kernels/adam.hpp"
#include "saematch/kernels/launch.hpp"
#include "saematch/kernels/sparse_rows.hpp"

namespace saematch::sae {

enum class Route { cpu_loops, device_kernels, aten };

using kernels::kCpuWidth;
using kernels::kDeviceWidth;

// What the override asks of CPU tensors; automatic: cpu_loops.
enum class ExecutionPath { automatic, device_kernels, aten };

inline std::atomic<ExecutionPath>& execution_path_setting() {
    static std::atomic<ExecutionPath> path{ExecutionPath::automatic};
    return path;
}

// Scoped: sets the route for CPU tensors, restores the previous one on exit.
class ExecutionPathOverride {
public:
    explicit ExecutionPathOverride(ExecutionPath path) : previous_(execution_path_setting().exchange(path)) {}
    ~ExecutionPathOverride() { execution_path_setting().store(previous_); }
    ExecutionPathOverride(const ExecutionPathOverride&) = delete;
    ExecutionPathOverride& operator=(const ExecutionPathOverride&) = delete;

private:
    ExecutionPath previous_;
};

// True when a CUDA translation unit registered the training kernels
// (cuda/kernels.cuh); the Python module says so at import.
inline bool cuda_kernels_available() {
    return kernels::cuda_launcher<kernels::AdamUpdate> != nullptr;
}

// The route for work on `t` whose tensors all have t's dtype and device.
inline Route route_for(const at::Tensor& t) {
    const ExecutionPath setting = execution_path_setting().load();
    if (setting == ExecutionPath::aten || t.scalar_type() != at::kFloat) return Route::aten;
    if (t.device().is_cpu()) return setting == ExecutionPath::device_kernels ? Route::device_kernels : Route::cpu_loops;
    if (t.device().is_cuda() && cuda_kernels_available()) return Route::device_kernels;
    return Route::aten;
}

// Runs functor f on the device that holds `where` (see kernels/launch.hpp).
template <class F>
void run_kernel(const at::Tensor& where, const F& f, std::int64_t work_per_unit) {
    if (where.device().is_cpu()) return kernels::host_for_each(f, work_per_unit);
    if (where.device().is_cuda() && kernels::cuda_launcher<F>) return kernels::cuda_launcher<F>(f);
    throw std::logic_error("saematch: no kernel for device " + where.device().str() +
                           " (the route should have been aten)");
}

// Fails unless every tensor is on `first`'s device, naming the culprit: a
// CPU loop reading a CUDA pointer would crash instead of raising.
inline void require_same_device(const char* what, std::initializer_list<std::pair<const char*, const at::Tensor*>> ts) {
    const at::Tensor* first = ts.begin()->second;
    for (const auto& [name, t] : ts)
        if (t->defined() && t->device() != first->device())
            throw std::invalid_argument(std::string(what) + ": " + name + " is on " + t->device().str() + " but " +
                                        ts.begin()->first + " is on " + first->device().str() +
                                        "; move them to one device");
}

}  // namespace saematch::sae
