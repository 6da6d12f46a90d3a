// Full rows of the similarity matrix on demand: the certificate of a large
// matching (compare/) recomputes the few rows its candidate-list bounds
// cannot settle. The selected rows of A are gathered into one buffer so the
// whole request is a single GEMM.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "saematch/similarity/gemm.hpp"
#include "saematch/similarity/unit_rows.hpp"

namespace saematch::similarity {

namespace detail {

inline void check_same_dim(const UnitRows& a, const UnitRows& b) {
    if (a.rows.cols() != b.rows.cols())
        throw std::invalid_argument("the two sets of vectors have different dimensions (" +
                                    std::to_string(a.rows.cols()) + " and " + std::to_string(b.rows.cols()) +
                                    "): SAEs compared must read the same activations");
}

// Copies rows `which` of `x` into `out` (which.size() x d, row-major).
inline void gather_rows(const UnitRows& x, std::span<const std::int32_t> which, float* out) {
    const std::ptrdiff_t d = x.rows.cols();
    for (std::size_t r = 0; r < which.size(); ++r) {
        const float* src = x.rows.data() + static_cast<std::ptrdiff_t>(which[r]) * d;
        std::copy(src, src + d, out + static_cast<std::ptrdiff_t>(r) * d);
    }
}

}  // namespace detail

// out (which_rows.size() x b.rows.rows(), row-major) = the float32 GEMM
// cosines of the selected rows of `a` with every row of `b`. Each value is
// within gemm_error_bound(d) of the accurate value the candidate lists hold.
// For whole columns, swap the arguments.
inline void similarity_rows(const UnitRows& a, std::span<const std::int32_t> which_rows, const UnitRows& b,
                            float* out) {
    detail::check_same_dim(a, b);
    for (std::size_t r = 0; r < which_rows.size(); ++r)
        if (which_rows[r] < 0 || which_rows[r] >= a.rows.rows())
            throw std::out_of_range("similarity_rows: which_rows[" + std::to_string(r) +
                                    "] = " + std::to_string(which_rows[r]) + " is not a row of the " +
                                    std::to_string(a.rows.rows()) + "-row matrix");
    const std::ptrdiff_t d = a.rows.cols(), m = b.rows.rows(),
                         count = static_cast<std::ptrdiff_t>(which_rows.size());
    if (count == 0 || m == 0) return;
    std::vector<float> gathered(static_cast<std::size_t>(count * d));
    detail::gather_rows(a, which_rows, gathered.data());
    gemm_abt(gathered.data(), d, b.rows.data(), d, out, m, count, m, d);
}

// The same, returned as a matrix.
inline RowMajorMatrixF similarity_rows(const UnitRows& a, std::span<const std::int32_t> which_rows,
                                       const UnitRows& b) {
    RowMajorMatrixF out(static_cast<Eigen::Index>(which_rows.size()), b.rows.rows());
    similarity_rows(a, which_rows, b, out.data());
    return out;
}

}  // namespace saematch::similarity
