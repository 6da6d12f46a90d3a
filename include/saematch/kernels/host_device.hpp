// SAEMATCH_HD marks a function that runs on both sides: compiled by nvcc it
// is __host__ __device__, so a CUDA kernel and a CPU loop call the same
// body; compiled by a C++ compiler it is an ordinary inline function. The
// per-element bodies in this folder are written once with it: the CPU path
// runs them in OpenMP loops, the CUDA path in kernels (include/saematch/cuda),
// and the CPU tests check both against ATen.
#pragma once

#if defined(__CUDACC__)
#define SAEMATCH_HD __host__ __device__
#else
#define SAEMATCH_HD
#endif

#if defined(__CUDACC__) || defined(__GNUC__) || defined(__clang__)
#define SAEMATCH_RESTRICT __restrict__
#else
#define SAEMATCH_RESTRICT
#endif
