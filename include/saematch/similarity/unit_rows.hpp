// The first step of every comparison: each encoder row or decoder vector
// scaled to unit length, so that a dot product is a cosine similarity.
//
// Stored in float32 whatever the input type: the similarity GEMMs run in
// float32 (a 147,456 x 4096 SAE is 2.4 GB that way), and a cosine needs no
// more than float precision. Norms are accumulated in float64, over the row
// scaled by its largest magnitude, so neither float nor double inputs can
// overflow or underflow while being normalised.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "saematch/detail/threads.hpp"
#include "saematch/lap/matrix_view.hpp"
#include "saematch/similarity/eigen.hpp"

namespace saematch::similarity {

using RowMajorMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct UnitRows {
    // n x d, each row of norm 1 (to float rounding) or all zero when dead.
    RowMajorMatrixF rows;
    // dead[i] = 1 when row i had norm 0: it stays zero, so its cosine with
    // every vector is exactly 0 (the paper's convention for dead latents).
    std::vector<std::uint8_t> dead;
    std::int64_t dead_count = 0;
};

namespace detail {

// Normalises one row of `in` into `out`; returns false if the row holds a
// non-finite entry (then `out` is left unspecified).
template <class T>
bool normalise_row(lap::MatrixView<T> in, std::ptrdiff_t i, float* out, std::uint8_t& dead) {
    const std::ptrdiff_t d = in.cols;
    double largest = 0.0;
    bool finite = true;
    for (std::ptrdiff_t j = 0; j < d; ++j) {
        const double x = static_cast<double>(in(i, j));
        finite &= std::isfinite(x);
        largest = std::max(largest, std::abs(x));
    }
    if (!finite) return false;
    if (largest == 0.0) {
        std::fill(out, out + d, 0.0f);
        dead = 1;
        return true;
    }
    // Dividing by the largest magnitude keeps every square in [0, 1] (a
    // reciprocal would overflow for subnormal doubles).
    double sum = 0.0;
    for (std::ptrdiff_t j = 0; j < d; ++j) {
        const double x = static_cast<double>(in(i, j)) / largest;
        sum += x * x;
    }
    const double norm = std::sqrt(sum);  // of the scaled row, in [1, sqrt(d)]
    for (std::ptrdiff_t j = 0; j < d; ++j)
        out[j] = static_cast<float>(static_cast<double>(in(i, j)) / largest / norm);
    dead = 0;
    return true;
}

template <class T>
UnitRows unit_rows_of(lap::MatrixView<T> in, std::string_view name) {
    if (in.rows < 0 || in.cols < 0)
        throw std::invalid_argument(std::string(name) + " has a negative shape (" + std::to_string(in.rows) +
                                    " x " + std::to_string(in.cols) + ")");
    if (in.rows > 0 && in.cols > 0 && in.data == nullptr)
        throw std::invalid_argument(std::string(name) + " is a null pointer with a non-empty shape");
    UnitRows out;
    out.rows.resize(in.rows, in.cols);
    out.dead.assign(static_cast<std::size_t>(in.rows), 0);
    std::ptrdiff_t first_bad = in.rows;
    // Rows are independent; the lowest bad row is reported whatever the
    // thread count, so the error message is deterministic.
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(min : first_bad) num_threads(saematch::detail::omp_threads_for(in.rows * in.cols))
#endif
    for (std::ptrdiff_t i = 0; i < in.rows; ++i)
        if (!normalise_row(in, i, out.rows.data() + i * in.cols, out.dead[static_cast<std::size_t>(i)]))
            first_bad = std::min(first_bad, i);
    if (first_bad < in.rows) {
        for (std::ptrdiff_t j = 0; j < in.cols; ++j) {
            const double x = static_cast<double>(in(first_bad, j));
            if (std::isfinite(x)) continue;
            const char* what = std::isnan(x) ? "NaN" : x > 0 ? "+inf" : "-inf";
            throw std::invalid_argument(
                std::string(name) + " row " + std::to_string(first_bad) + ", column " + std::to_string(j) +
                " is " + what + "; cosine similarity needs finite weights (is the checkpoint corrupt?)");
        }
    }
    for (std::uint8_t is_dead : out.dead) out.dead_count += is_dead;
    return out;
}

template <class T>
lap::MatrixView<T> checked_row_major(const T* data, std::ptrdiff_t n, std::ptrdiff_t d,
                                     std::ptrdiff_t row_stride, std::string_view name) {
    if (n > 1 && row_stride < d)
        throw std::invalid_argument(std::string(name) + ": row_stride " + std::to_string(row_stride) +
                                    " is smaller than the row length " + std::to_string(d) +
                                    " (strides count elements, not bytes)");
    return lap::MatrixView<T>{data, n, d, row_stride, 1};
}

}  // namespace detail

// Unit-length copies of the n rows of length d at `data`, `row_stride`
// elements apart. `name` ("encoder", "decoder of B", ...) starts the message
// of the std::invalid_argument thrown for a NaN or infinite entry, which
// names its row and column.
inline UnitRows unit_rows(const float* data, std::ptrdiff_t n, std::ptrdiff_t d, std::ptrdiff_t row_stride,
                          std::string_view name = "matrix") {
    return detail::unit_rows_of(detail::checked_row_major(data, n, d, row_stride, name), name);
}

// Double input is normalised in double and stored in float32.
inline UnitRows unit_rows(const double* data, std::ptrdiff_t n, std::ptrdiff_t d, std::ptrdiff_t row_stride,
                          std::string_view name = "matrix") {
    return detail::unit_rows_of(detail::checked_row_major(data, n, d, row_stride, name), name);
}

// Any strides: a transposed view normalises columns (e.g. SAELens's W_enc,
// stored [d, n], viewed as n x d).
inline UnitRows unit_rows(lap::MatrixView<float> view, std::string_view name = "matrix") {
    return detail::unit_rows_of(view, name);
}

inline UnitRows unit_rows(lap::MatrixView<double> view, std::string_view name = "matrix") {
    return detail::unit_rows_of(view, name);
}

}  // namespace saematch::similarity
