// Launching a per-element body of include/saematch/kernels/ on the GPU: one
// grid-stride kernel template for every functor, on PyTorch's current
// stream (so it is ordered with the ATen ops around it and never waits for
// the host). Compiled by nvcc only.
#pragma once

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace saematch::cuda {

template <class F>
__global__ void for_each_unit(F f, std::int64_t units) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t u = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; u < units; u += stride)
        f(u);
}

inline constexpr int kThreadsPerBlock = 256;
// Enough blocks to fill any current GPU several times over; the grid-stride
// loop covers the rest.
inline constexpr std::int64_t kMaxBlocks = std::int64_t{1} << 16;

template <class F>
void launch(const F& f) {
    const std::int64_t units = f.units();
    if (units <= 0) return;
    const auto blocks = static_cast<unsigned>(std::min(kMaxBlocks, (units + kThreadsPerBlock - 1) / kThreadsPerBlock));
    for_each_unit<<<blocks, kThreadsPerBlock, 0, c10::cuda::getCurrentCUDAStream()>>>(f, units);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace saematch::cuda
