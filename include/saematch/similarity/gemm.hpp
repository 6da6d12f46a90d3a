// The one dense product the similarity module needs: C = A · Bᵀ with A and B
// both row-major stacks of vectors (unit rows of two SAEs) and C row-major.
//
// GEMM speed decides a comparison's speed, and Eigen's own kernels ran at a
// fraction of OpenBLAS's speed (benchmarks/README.md, "Measurements behind
// the code"), so the product goes to CBLAS when the build found it (SAEMATCH_USE_CBLAS,
// set by CMake) and to Eigen otherwise. The backend is fixed at compile time.
//
// Threads: CBLAS uses the BLAS library's own pool (OPENBLAS_NUM_THREADS);
// Eigen uses OpenMP when the translation unit is compiled with it.
#pragma once

#include <algorithm>
#include <climits>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>

#include "saematch/similarity/eigen.hpp"

#ifdef SAEMATCH_USE_CBLAS
#include <cblas.h>
#endif

namespace saematch::similarity {

namespace detail {

inline void check_gemm_shape(std::ptrdiff_t lda, std::ptrdiff_t ldb, std::ptrdiff_t ldc, std::ptrdiff_t m,
                             std::ptrdiff_t n, std::ptrdiff_t k) {
    if (m < 0 || n < 0 || k < 0)
        throw std::invalid_argument("gemm_abt: negative shape m=" + std::to_string(m) +
                                    ", n=" + std::to_string(n) + ", k=" + std::to_string(k));
    if (lda < k || ldb < k || ldc < n)
        throw std::invalid_argument(
            "gemm_abt: leading dimensions lda=" + std::to_string(lda) + ", ldb=" + std::to_string(ldb) +
            ", ldc=" + std::to_string(ldc) + " must be at least k=" + std::to_string(k) +
            ", k, n=" + std::to_string(n) + " for row-major A (m x k), B (n x k), C (m x n)");
}

// C = 0, for k = 0 (an empty sum); plain loops, as CBLAS would reject
// lda = 0 and GCC 12 misjudges Eigen's vector stores into small buffers.
inline void zero_rows(float* c, std::ptrdiff_t ldc, std::ptrdiff_t m, std::ptrdiff_t n) {
    for (std::ptrdiff_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
}

// The plain-Eigen product; always compiled, so tests can compare it with
// the CBLAS path.
inline void gemm_abt_eigen(const float* a, std::ptrdiff_t lda, const float* b, std::ptrdiff_t ldb, float* c,
                           std::ptrdiff_t ldc, std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k) {
    check_gemm_shape(lda, ldb, ldc, m, n, k);
    if (m == 0 || n == 0) return;
    if (k == 0) return zero_rows(c, ldc, m, n);
    using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    Eigen::Map<Mat, 0, Stride> cm(c, m, n, Stride(ldc));
    Eigen::Map<const Mat, 0, Stride> am(a, m, k, Stride(lda));
    Eigen::Map<const Mat, 0, Stride> bm(b, n, k, Stride(ldb));
    cm.noalias() = am * bm.transpose();
}

#ifdef SAEMATCH_USE_CBLAS
inline void gemm_abt_cblas(const float* a, std::ptrdiff_t lda, const float* b, std::ptrdiff_t ldb, float* c,
                           std::ptrdiff_t ldc, std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k) {
    check_gemm_shape(lda, ldb, ldc, m, n, k);
    if (m == 0 || n == 0) return;
    if (k == 0) return zero_rows(c, ldc, m, n);
    // CBLAS takes int sizes (LP64); blocks are far below that, but a whole
    // 147K-latent matrix in one call would not be.
    for (std::ptrdiff_t x : {m, n, k, lda, ldb, ldc})
        if (x > INT_MAX)
            throw std::invalid_argument("gemm_abt: size " + std::to_string(x) +
                                        " exceeds the CBLAS int range; multiply in blocks");
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb), 0.0f, c,
                static_cast<int>(ldc));
}
#endif

}  // namespace detail

// Which implementation gemm_abt uses: "cblas" or "eigen".
constexpr const char* gemm_backend() {
#ifdef SAEMATCH_USE_CBLAS
    return "cblas";
#else
    return "eigen";
#endif
}

// C (m x n, row stride ldc) = A (m x k, row stride lda) · B (n x k, row
// stride ldb)ᵀ, all row-major float32. C is overwritten, never read.
inline void gemm_abt(const float* a, std::ptrdiff_t lda, const float* b, std::ptrdiff_t ldb, float* c,
                     std::ptrdiff_t ldc, std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k) {
#ifdef SAEMATCH_USE_CBLAS
    detail::gemm_abt_cblas(a, lda, b, ldb, c, ldc, m, n, k);
#else
    detail::gemm_abt_eigen(a, lda, b, ldb, c, ldc, m, n, k);
#endif
}

// A GEMM from elsewhere with gemm_abt's arguments and meaning, e.g. torch's
// matmul on a GPU (the Python module's device= option). It must do float32
// arithmetic, float32 products summed in float32 in any order (no TF32, no
// bfloat16), so that gemm_error_bound holds for it. Called on the thread
// that started the pass.
using GemmFunction = std::function<void(const float* a, std::ptrdiff_t lda, const float* b, std::ptrdiff_t ldb,
                                        float* c, std::ptrdiff_t ldc, std::ptrdiff_t m, std::ptrdiff_t n,
                                        std::ptrdiff_t k)>;

// A bound on |gemm_abt value − exact dot product| for two rows of norm at
// most 1 + 2⁻²⁴ (unit rows rounded to float), valid for any summation order
// a GEMM kernel may use, with or without FMA (Higham, "Accuracy and
// Stability of Numerical Algorithms", 2nd ed., eq. 3.5: |error| ≤ γ_k Σ|a_i
// b_i| with γ_k = k·u / (1 − k·u), u = 2⁻²⁴); two extra units cover the input
// norms. About 4.6e-5 at k = 768 and 2.4e-4 at k = 4096; the error seen in
// practice is some 100 times smaller.
// `unit_roundoff`: 2⁻²⁴ for float32 rounded to nearest; a device whose
// adders may truncate (GPU tensor cores, libraries that do not promise IEEE
// rounding) takes 2⁻²³, the distance to the next float.
inline double gemm_error_bound(std::ptrdiff_t k, double unit_roundoff = 0x1p-24) {
    const double ku = static_cast<double>(k + 2) * unit_roundoff;
    return ku < 0.5 ? ku / (1.0 - ku) : 2.0;  // 2: no information (|cos| <= 1)
}

}  // namespace saematch::similarity
