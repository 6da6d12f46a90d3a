// Eigen's core, included the way this module needs it.
//
// GCC 12 reports false "uninitialized" / "maybe-uninitialized" warnings
// inside Eigen's AVX-512 GEMM kernels (from avx512fintrin.h: the
// _mm512_undefined_ps idiom) whenever the Eigen product is compiled with
// -march=native on an AVX-512 CPU, which breaks -Werror builds. The
// warnings' location is Eigen's code, so they are silenced around its first
// inclusion only; nothing else in the translation unit is affected.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop
#else
#include <Eigen/Core>
#endif
