// Every pair's accurate cosine (accurate_dot.hpp) rounded to float, for a
// whole matrix, at the speed of a float64 GEMM.
//
// The streamed path scores pairs by their accurate value rounded to float;
// the dense path must score them identically or the two would optimise
// different numbers. One accurate dot product per pair costs some twenty
// times a GEMM, so the matrix comes from a float64 GEMM instead, which
// differs from the accurate sum by at most 2·γ(d + 2)·(1 + 2⁻²³) (both are
// float64 sums of the same exact products, in different orders; Higham eq.
// 3.5). Rounding to float is monotone, so wherever the GEMM value ± that
// bound rounds to one float, the accurate value rounds to it too; the few
// entries next to a rounding boundary get their accurate dot product.
#pragma once

#include <algorithm>
#include <climits>
#include <cstddef>
#include <vector>

#include "saematch/detail/threads.hpp"
#include "saematch/similarity/accurate_dot.hpp"
#include "saematch/similarity/eigen.hpp"
#include "saematch/similarity/unit_rows.hpp"

#ifdef SAEMATCH_USE_CBLAS
#include <cblas.h>
#endif

namespace saematch::similarity {

namespace detail {

using RowMajorMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// C = A · Bᵀ in float64 (A m x k, B n x k, C m x n, all contiguous row-major).
inline void gemm_abt_f64(const RowMajorMatrixD& a, const RowMajorMatrixD& b, RowMajorMatrixD& c) {
    c.resize(a.rows(), b.rows());
    if (a.rows() == 0 || b.rows() == 0) return;
#ifdef SAEMATCH_USE_CBLAS
    if (a.rows() <= INT_MAX && b.rows() <= INT_MAX && a.cols() <= INT_MAX && a.cols() > 0) {
        const int m = static_cast<int>(a.rows()), n = static_cast<int>(b.rows()), k = static_cast<int>(a.cols());
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0, a.data(), k, b.data(), k, 0.0, c.data(), n);
        return;
    }
#endif
    c.noalias() = a * b.transpose();
}

// |float64 GEMM value − accurate_dot| for two rows of norm ≤ 1 + 2⁻²⁴.
inline double f64_dot_gap(std::ptrdiff_t d) {
    const double ku = static_cast<double>(d + 2) * 0x1p-53;
    return 2.0 * ku / (1.0 - ku) * (1.0 + 0x1p-23);
}

}  // namespace detail

// out[i * b.rows() + j] = float(accurate_dot(a row i, b row j)).
inline std::vector<float> exact_cosine_matrix(const UnitRows& a, const UnitRows& b, int threads = 0) {
    const std::ptrdiff_t na = a.rows.rows(), nb = b.rows.rows(), d = a.rows.cols();
    std::vector<float> out(static_cast<std::size_t>(na * nb));
    if (na == 0 || nb == 0) return out;
    const detail::RowMajorMatrixD bd = b.rows.cast<double>();
    const double gap = detail::f64_dot_gap(d);
    // Row blocks keep the float64 product small (block x nb doubles).
    const std::ptrdiff_t block = std::max<std::ptrdiff_t>(1, (std::ptrdiff_t{1} << 22) / std::max<std::ptrdiff_t>(1, nb));
    detail::RowMajorMatrixD ad, cd;
    for (std::ptrdiff_t r0 = 0; r0 < na; r0 += block) {
        const std::ptrdiff_t rows = std::min(block, na - r0);
        ad = a.rows.middleRows(r0, rows).cast<double>();
        detail::gemm_abt_f64(ad, bd, cd);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(saematch::detail::omp_threads_for(rows * nb * 4, threads))
#endif
        for (std::ptrdiff_t r = 0; r < rows; ++r) {
            const std::ptrdiff_t i = r0 + r;
            for (std::ptrdiff_t j = 0; j < nb; ++j) {
                const double x = cd(r, j);
                float f = static_cast<float>(x);
                if (static_cast<float>(x - gap) != f || static_cast<float>(x + gap) != f)
                    f = static_cast<float>(accurate_dot(a.rows.data() + i * d, b.rows.data() + j * d, d));
                out[static_cast<std::size_t>(i * nb + j)] = f;
            }
        }
    }
    return out;
}

}  // namespace saematch::similarity
