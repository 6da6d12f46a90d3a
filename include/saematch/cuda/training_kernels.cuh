// The trainer's CUDA kernels: every per-element body the device_kernels
// route runs (sae/execution_path.hpp), instantiated for the GPU and
// registered as that route's launchers. Include this header in exactly one
// .cu file of a binary (the Python module's is python/src/cuda_kernels.cu)
// and call register_training_kernels() once, before training on CUDA
// tensors; without it CUDA tensors take the ATen route.
#pragma once

#include "saematch/cuda/launch.cuh"
#include "saematch/kernels/adam.hpp"
#include "saematch/kernels/decoder_rows.hpp"
#include "saematch/kernels/launch.hpp"
#include "saematch/kernels/sparse_rows.hpp"

namespace saematch::cuda {

template <class F>
void register_launcher() {
    kernels::cuda_launcher<F> = &launch<F>;
}

inline void register_training_kernels() {
    register_launcher<kernels::GatherWeightedSum<kernels::kDeviceWidth>>();
    register_launcher<kernels::SegmentWeightedSum<kernels::kDeviceWidth>>();
    register_launcher<kernels::SegmentSum>();
    register_launcher<kernels::GatheredDots>();
    register_launcher<kernels::NormalizeRows>();
    register_launcher<kernels::RemoveParallelComponent>();
    // Last: sae::cuda_kernels_available() tests this one.
    register_launcher<kernels::AdamUpdate>();
}

}  // namespace saematch::cuda
