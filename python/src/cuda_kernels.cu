// The training module's CUDA kernels, compiled by nvcc when CMake finds a
// CUDA compiler and torch's CUDA libraries (python/CMakeLists.txt); the
// module registers them at import (train_module.cpp).
#include "saematch/cuda/training_kernels.cuh"

namespace saematch::python {

void register_cuda_kernels() { saematch::cuda::register_training_kernels(); }

}  // namespace saematch::python
