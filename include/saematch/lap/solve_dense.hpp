// The entry point for dense assignment problems: validates the matrix,
// orients it so rows <= cols, picks the method, and returns the matching in
// the caller's orientation with its certificate.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "saematch/lap/assignment.hpp"
#include "saematch/lap/candidate_solve.hpp"
#include "saematch/lap/dense_source.hpp"
#include "saematch/lap/errors.hpp"
#include "saematch/lap/detail/dense_jv.hpp"
#include "saematch/lap/matrix_view.hpp"

namespace saematch::lap {

namespace detail {

// Rejects NaN and infinities of the wrong sign, naming the first offender;
// returns the largest finite magnitude.
template <class T>
double validate_costs(MatrixView<T> cost, bool maximize) {
    const T forbidden_sign_inf = maximize ? std::numeric_limits<T>::infinity()
                                          : -std::numeric_limits<T>::infinity();
    double largest = 0.0;
    for (std::ptrdiff_t i = 0; i < cost.rows; ++i) {
        bool bad = false;
        for (std::ptrdiff_t j = 0; j < cost.cols; ++j) {
            const T c = cost(i, j);
            bad |= (c != c) | (c == forbidden_sign_inf);
            const double a = std::abs(static_cast<double>(c));
            largest = std::max(largest, a < kInf ? a : 0.0);
        }
        if (!bad) continue;
        for (std::ptrdiff_t j = 0; j < cost.cols; ++j) {
            const T c = cost(i, j);
            if (c == c && c != forbidden_sign_inf) continue;
            const std::string what = c != c ? "NaN" : (maximize ? "+inf" : "-inf");
            throw InvalidCostError(
                "matrix contains invalid numeric entries: " + what + " at row " +
                std::to_string(i) + ", column " + std::to_string(j) +
                (c != c ? "" : maximize ? " (when maximising, -inf marks a forbidden pair)"
                                        : " (when minimising, +inf marks a forbidden pair)"));
        }
    }
    return largest;
}

// Reduced costs c − v and path lengths are sums of a few costs: with
// magnitudes beyond this they could overflow to inf and make allowed pairs
// look forbidden. Such matrices are solved on a copy scaled by a power of
// two, which is exact (barring subnormal underflow of the tiniest entries).
inline constexpr double kLargestSafeCost = 0x1p960;
inline constexpr int kScaledExponent = 900;

// Builds the caller-facing result from the internal (rows <= cols,
// minimised) solution.
template <class CostAt>
Assignment make_assignment(std::size_t n, std::size_t m, const std::vector<std::int32_t>& col_of_row,
                           std::vector<double> u, std::vector<double> v, CostAt&& cost_at, bool negate,
                           bool transposed, const SolveStats& stats) {
    const double sign = negate ? -1.0 : 1.0;
    for (double& x : u) x = x == 0.0 ? 0.0 : x * sign;  // no -0 in the certificate
    for (double& x : v) x = x == 0.0 ? 0.0 : x * sign;

    std::vector<std::int64_t> small_to_large(n), large_to_small(m, -1);
    double objective = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const std::int32_t j = col_of_row[i];
        small_to_large[i] = j;
        large_to_small[static_cast<std::size_t>(j)] = static_cast<std::int64_t>(i);
        objective += sign * cost_at(static_cast<std::int32_t>(i), j);
    }
    Assignment a;
    a.objective = objective;
    a.stats = stats;
    if (!transposed) {
        a.col_of_row = std::move(small_to_large);
        a.row_of_col = std::move(large_to_small);
        a.row_duals = std::move(u);
        a.col_duals = std::move(v);
    } else {
        a.col_of_row = std::move(large_to_small);
        a.row_of_col = std::move(small_to_large);
        a.row_duals = std::move(v);
        a.col_duals = std::move(u);
    }
    return a;
}

inline bool use_sparse(const SolveOptions& options, std::ptrdiff_t n, std::ptrdiff_t m) {
    switch (options.method) {
        case SolveMethod::dense: return false;
        case SolveMethod::sparse: return true;
        case SolveMethod::automatic: break;
    }
    return n >= 512 && m >= 512;
}

// Solves with rows <= cols; `transposed` says the caller's matrix is the
// transpose of `cost`. Empty when the magnitudes need rescaling first.
template <class T, bool Negate, class Stride>
std::optional<Assignment> solve_oriented(MatrixView<T> cost, Stride stride, const SolveOptions& options,
                                         bool transposed) {
    // Errors name entries as the caller sees them.
    const auto validate = [&] { return validate_costs(transposed ? cost.transposed() : cost, options.maximize); };
    const std::size_t n = static_cast<std::size_t>(cost.rows), m = static_cast<std::size_t>(cost.cols);
    if (use_sparse(options, cost.rows, cost.cols)) {
        if (options.candidates_per_row < 1)
            throw std::invalid_argument("candidates_per_row must be at least 1, got " +
                                        std::to_string(options.candidates_per_row));
        const DenseMatrixSource<T, Negate, Stride> source(cost, stride, options.candidates_per_row,
                                                          openmp_threads(options.threads));
        CandidateGraph candidates = source.initial_candidates();
        if (source.saw_invalid()) validate();  // throws, naming the entry
        if (source.largest_finite() > kLargestSafeCost) return std::nullopt;
        CandidateSolution s = solve_on_candidates(
            source, std::move(candidates), [transposed](std::int32_t i) { return (transposed ? "column " : "row ") + std::to_string(i); });
        SolveStats stats = s.stats;
        stats.used_sparse = true;
        stats.certificate_rounds = s.rounds;
        stats.candidate_pairs = s.edges;
        return make_assignment(
            n, m, s.matching.col_of_row, std::move(s.row_duals), std::move(s.matching.v),
            [&](std::int32_t i, std::int32_t j) { return source.at(i, j); }, Negate, transposed, stats);
    }
    if (validate() > kLargestSafeCost) return std::nullopt;
    JonkerVolgenant<T, Negate, Stride> jv(cost, stride, options, transposed);
    jv.run();
    return make_assignment(
        n, m, jv.col_of_row(), jv.row_duals(), jv.col_duals(),
        [&](std::int32_t i, std::int32_t j) { return jv.cost(i, j); }, Negate, transposed, jv.stats());
}

// Picks the instantiation for the sense and the column stride.
template <class T>
std::optional<Assignment> solve_oriented_any(MatrixView<T> work, const SolveOptions& options, bool transposed) {
    const bool unit = work.rows_contiguous();
    const UnitStride one{};
    if (options.maximize)
        return unit ? solve_oriented<T, true>(work, one, options, transposed)
                    : solve_oriented<T, true>(work, work.col_stride, options, transposed);
    return unit ? solve_oriented<T, false>(work, one, options, transposed)
                : solve_oriented<T, false>(work, work.col_stride, options, transposed);
}

// Solves a copy scaled by 2^e that brings the largest magnitude to
// 2^kScaledExponent, then maps the duals back. The objective is summed from
// the caller's entries.
template <class T>
Assignment solve_rescaled(MatrixView<T> cost, const SolveOptions& options) {
    const double largest = validate_costs(cost, options.maximize);
    int exponent = 0;
    std::frexp(largest, &exponent);
    const int shift = kScaledExponent - exponent;
    std::vector<T> scaled(static_cast<std::size_t>(cost.rows * cost.cols));
    for (std::ptrdiff_t i = 0; i < cost.rows; ++i)
        for (std::ptrdiff_t j = 0; j < cost.cols; ++j)
            scaled[static_cast<std::size_t>(i * cost.cols + j)] = std::ldexp(cost(i, j), shift);
    const auto view = MatrixView<T>::row_major(scaled.data(), cost.rows, cost.cols);
    const bool transposed = cost.rows > cost.cols;
    std::optional<Assignment> a = solve_oriented_any(transposed ? view.transposed() : view, options, transposed);
    if (!a) throw std::logic_error("rescaled costs still too large");
    if (cost.rows == cost.cols) {
        // A square certificate stays valid when c is added to every u and
        // taken from every v. Centring u on zero keeps both near the costs'
        // own range, so they survive the scaling back (costs of +-1e308 can
        // otherwise produce a dual of 2e308 = inf).
        const auto [lo, hi] = std::minmax_element(a->row_duals.begin(), a->row_duals.end());
        const double centre = *lo / 2 + *hi / 2;
        for (double& u : a->row_duals) u -= centre;
        for (double& v : a->col_duals) v += centre;
    }
    for (double& u : a->row_duals) u = std::ldexp(u, -shift);
    for (double& v : a->col_duals) v = std::ldexp(v, -shift);
    double objective = 0.0;
    for (std::ptrdiff_t i = 0; i < cost.rows; ++i)
        if (const auto j = a->col_of_row[static_cast<std::size_t>(i)]; j >= 0) objective += cost(i, j);
    a->objective = objective;
    return std::move(*a);
}

}  // namespace detail

// The optimal assignment of a dense cost matrix with its dual certificate.
// Entries equal to +inf (minimising) or -inf (maximising) are forbidden
// pairs; NaN and infinities of the other sign raise InvalidCostError; a
// matrix whose forbidden pairs leave no complete matching of the smaller
// side raises InfeasibleCostError.
template <class T>
Assignment solve_dense(MatrixView<T> cost, const SolveOptions& options = {}) {
    static_assert(std::is_floating_point_v<T>, "costs must be float or double");
    if (cost.rows < 0 || cost.cols < 0) throw std::invalid_argument("cost matrix has a negative dimension");
    if (std::max(cost.rows, cost.cols) >= std::numeric_limits<std::int32_t>::max())
        throw std::invalid_argument("cost matrix has more than 2^31 - 2 rows or columns");
    const bool transposed = cost.rows > cost.cols;
    const MatrixView<T> work = transposed ? cost.transposed() : cost;
    if (work.empty()) {
        Assignment a;
        a.col_of_row.assign(static_cast<std::size_t>(cost.rows), -1);
        a.row_of_col.assign(static_cast<std::size_t>(cost.cols), -1);
        a.row_duals.assign(static_cast<std::size_t>(cost.rows), 0.0);
        a.col_duals.assign(static_cast<std::size_t>(cost.cols), 0.0);
        return a;
    }
    std::optional<Assignment> a = detail::solve_oriented_any(work, options, transposed);
    return a ? std::move(*a) : detail::solve_rescaled(cost, options);
}

}  // namespace saematch::lap
