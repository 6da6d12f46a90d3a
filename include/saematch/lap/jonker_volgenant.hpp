// Exact dense linear assignment by shortest augmenting paths.
//
// R. Jonker and A. Volgenant, "A shortest augmenting path algorithm for dense
// and sparse linear assignment problems", Computing 38 (1987) 325-340: column
// reduction, reduction transfer and augmenting row reduction find most of the
// matching cheaply; Dijkstra searches on reduced costs finish it.
//
// Rectangular problems follow D. F. Crouse, "On implementing 2D rectangular
// assignment algorithms", IEEE TAES 52 (2016) 1679-1696: with more columns than
// rows, the column duals start at zero and only matched columns ever move, so
// the duals certify optimality without padding the matrix.
//
// Costs are read through a strided view (no copy). Distances and duals are
// float64 whatever the cost type: the duals are the optimality certificate
// and must not drift with float32 rounding.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "saematch/lap/assignment.hpp"
#include "saematch/lap/errors.hpp"
#include "saematch/lap/matrix_view.hpp"

namespace saematch::lap {

namespace detail {

inline constexpr double kInf = std::numeric_limits<double>::infinity();

using UnitStride = std::integral_constant<std::ptrdiff_t, 1>;

// Rejects NaN and infinities of the wrong sign, naming the first offender.
template <class T>
void validate_costs(MatrixView<T> cost, bool maximize) {
    const T forbidden_sign_inf = maximize ? std::numeric_limits<T>::infinity()
                                          : -std::numeric_limits<T>::infinity();
    for (std::ptrdiff_t i = 0; i < cost.rows; ++i) {
        bool bad = false;
        for (std::ptrdiff_t j = 0; j < cost.cols; ++j) {
            const T c = cost(i, j);
            bad |= (c != c) | (c == forbidden_sign_inf);
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
}

// The best unscanned column of a Dijkstra step. Ties on distance prefer an
// unmatched column (the search can stop there), then the lowest index, so the
// choice never depends on how columns were split between threads.
struct Candidate {
    double dist = kInf;
    std::int32_t col = -1;
    bool free = false;

    bool better_than(const Candidate& o) const {
        if (dist != o.dist) return dist < o.dist;
        if (free != o.free) return free;
        return static_cast<std::uint32_t>(col) < static_cast<std::uint32_t>(o.col);
    }
};

// Solves the internal problem: rows <= cols, minimised (Negate turns a
// maximisation into a minimisation), columns read with stride Stride.
template <class T, bool Negate, class Stride>
class JonkerVolgenant {
public:
    JonkerVolgenant(MatrixView<T> cost, Stride col_stride, const SolveOptions& options,
                    bool transposed)
        : cost_(cost),
          stride_(col_stride),
          n_(static_cast<std::int32_t>(cost.rows)),
          m_(static_cast<std::int32_t>(cost.cols)),
          transposed_(transposed),
          col_of_row_(n_, -1),
          row_of_col_(m_, -1),
          v_(m_, 0.0),
          dist_(m_, kInf),
          pred_(m_, -1),
          state_(m_, kFreeCol) {
        threads_ = resolve_threads(options);
    }

    void run() {
        if (n_ == 0) return;
        if (n_ == m_) {
            reduce_columns();
            transfer_reductions();
        } else {
            // Rectangular: duals stay at zero until a column is matched.
            free_rows_.resize(n_);
            for (std::int32_t i = 0; i < n_; ++i) free_rows_[i] = i;
        }
        augmenting_row_reduction();
        stats_.free_rows_after_init = static_cast<std::int64_t>(free_rows_.size());
        for (std::int32_t f : free_rows_) augment(f);
    }

    const std::vector<std::int32_t>& col_of_row() const { return col_of_row_; }
    const std::vector<double>& col_duals() const { return v_; }
    const SolveStats& stats() const { return stats_; }

    double cost(std::int32_t i, std::int32_t j) const {
        const double c = static_cast<double>(cost_.row(i)[j * stride_]);
        return Negate ? -c : c;
    }

    std::vector<double> row_duals() const {
        std::vector<double> u(n_);
        for (std::int32_t i = 0; i < n_; ++i) u[i] = cost(i, col_of_row_[i]) - v_[col_of_row_[i]];
        return u;
    }

private:
    static constexpr std::uint8_t kFreeCol = 1;  // no row matched to the column
    static constexpr std::uint8_t kScanned = 2;  // finalised in the current search

    static int resolve_threads(const SolveOptions& options) {
        int t = options.threads;
#ifdef _OPENMP
        if (t <= 0) t = omp_get_max_threads();
#else
        t = 1;
#endif
        if (options.parallel_min_cols <= 0 || t < 1) t = 1;
        return t;
    }

    std::string row_name(std::int32_t i) const {
        return (transposed_ ? "column " : "row ") + std::to_string(i);
    }
    std::string col_name(std::int32_t j) const {
        return (transposed_ ? "row " : "column ") + std::to_string(j);
    }

    void match(std::int32_t i, std::int32_t j) {
        col_of_row_[i] = j;
        row_of_col_[j] = i;
        state_[j] &= static_cast<std::uint8_t>(~kFreeCol);
    }

    // Column reduction (square only): v[j] = min over rows, and each column
    // goes to its minimising row if that row has none yet. Scanned row by row
    // so the matrix is read in memory order.
    void reduce_columns() {
        std::vector<std::int32_t> argmin(m_, -1);
        std::fill(v_.begin(), v_.end(), kInf);
        for (std::int32_t i = 0; i < n_; ++i) {
            for (std::int32_t j = 0; j < m_; ++j) {
                const double c = cost(i, j);
                if (c < v_[j]) {
                    v_[j] = c;
                    argmin[j] = i;
                }
            }
        }
        matched_count_.assign(n_, 0);
        for (std::int32_t j = m_ - 1; j >= 0; --j) {
            if (argmin[j] < 0)
                throw InfeasibleCostError("cost matrix is infeasible: " + col_name(j) +
                                          " has no allowed entry");
            const std::int32_t i = argmin[j];
            if (++matched_count_[i] == 1) match(i, j);
        }
    }

    // Reduction transfer: a row that won exactly one column in the column
    // reduction hands its slack to that column, making room for augmenting
    // row reduction. Other rows become free.
    void transfer_reductions() {
        for (std::int32_t i = 0; i < n_; ++i) {
            if (matched_count_[i] == 0) {
                free_rows_.push_back(i);
                continue;
            }
            if (matched_count_[i] > 1) continue;
            const std::int32_t j1 = col_of_row_[i];
            double mu = kInf;
            for (std::int32_t j = 0; j < m_; ++j)
                if (j != j1) mu = std::min(mu, cost(i, j) - v_[j]);
            if (mu < kInf) v_[j1] -= mu - (cost(i, j1) - v_[j1]);
        }
        matched_count_.clear();
        matched_count_.shrink_to_fit();
    }

    struct TwoSmallest {
        double u1 = kInf, u2 = kInf;
        std::int32_t j1 = -1, j2 = -1;
    };

    TwoSmallest two_smallest_reduced(std::int32_t i) const {
        TwoSmallest t;
        const T* row = cost_.row(i);
        for (std::int32_t j = 0; j < m_; ++j) {
            double c = static_cast<double>(row[j * stride_]);
            const double h = (Negate ? -c : c) - v_[j];
            if (h < t.u2) {
                if (h < t.u1) {
                    t.u2 = t.u1;
                    t.j2 = t.j1;
                    t.u1 = h;
                    t.j1 = j;
                } else {
                    t.u2 = h;
                    t.j2 = j;
                }
            }
        }
        return t;
    }

    // Augmenting row reduction, two passes. A free row takes its cheapest
    // column, lowering that column's dual by the gap to its second cheapest so
    // the displaced row must look elsewhere. In floating point the gap can be
    // too small to move the dual at all, which would let two rows trade a
    // column forever: such a step counts as a tie, and each pass has a step
    // budget after which the remaining rows go to the shortest-path phase.
    void augmenting_row_reduction() {
        for (int pass = 0; pass < 2 && !free_rows_.empty(); ++pass) {
            const std::size_t nfree = free_rows_.size();
            const std::int64_t budget = 4 * static_cast<std::int64_t>(n_) + 16;
            std::int64_t steps = 0;
            std::size_t k = 0, kept = 0;
            while (k < nfree) {
                const std::int32_t i = free_rows_[k++];
                if (++steps > budget) {
                    free_rows_[kept++] = i;
                    continue;
                }
                TwoSmallest t = two_smallest_reduced(i);
                if (t.u1 == kInf)
                    throw InfeasibleCostError("cost matrix is infeasible: " + row_name(i) +
                                              " has no allowed entry");
                std::int32_t j1 = t.j1;
                std::int32_t displaced = row_of_col_[j1];
                const double lowered = v_[j1] - (t.u2 - t.u1);
                const bool progress = t.u2 < kInf && lowered < v_[j1];
                if (progress) {
                    v_[j1] = lowered;
                } else if (displaced >= 0) {
                    if (t.j2 < 0 || t.u2 == kInf) {  // nowhere else to go yet
                        free_rows_[kept++] = i;
                        continue;
                    }
                    j1 = t.j2;
                    displaced = row_of_col_[j1];
                }
                match(i, j1);
                if (displaced >= 0) {
                    col_of_row_[displaced] = -1;
                    if (progress)
                        free_rows_[--k] = displaced;  // retry at once against the lowered dual
                    else
                        free_rows_[kept++] = displaced;
                }
            }
            stats_.augmenting_row_steps += std::min(steps, budget);
            free_rows_.resize(kept);
        }
    }

    // One Dijkstra step over columns [lo, hi): relax the unscanned columns
    // through row i, whose path length to a column j is base + c(i, j) − v[j],
    // and return the closest of them.
    template <bool First>
    Candidate scan_row(std::int32_t i, double base, std::int32_t lo, std::int32_t hi) {
        Candidate best;
        const T* row = cost_.row(i);
        const double* v = v_.data();
        double* dist = dist_.data();
        std::int32_t* pred = pred_.data();
        const std::uint8_t* state = state_.data();
        for (std::int32_t j = lo; j < hi; ++j) {
            const std::uint8_t s = state[j];
            if (!First && (s & kScanned)) continue;
            double c = static_cast<double>(row[j * stride_]);
            const double cand = base + (Negate ? -c : c) - v[j];
            double dj = dist[j];
            if (First || cand < dj) {
                dj = cand;
                dist[j] = cand;
                pred[j] = i;
            }
            const bool free = s & kFreeCol;
            if (dj < best.dist || (dj == best.dist && free && !best.free)) best = {dj, j, free};
        }
        return best;
    }

    // The shortest augmenting path from free row f. Scanned columns are
    // recorded in order; the search ends at the first unmatched column.
    // Returns the sink column and leaves dist/pred describing the path.
    std::int32_t shortest_path(std::int32_t f) {
        const bool parallel = threads_ > 1 && m_ >= parallel_min_cols_;
        Candidate sink;
        if (!parallel) {
            Candidate best = scan_row<true>(f, 0.0, 0, m_);
            ++stats_.shortest_path_rows;
            while (best.dist < kInf && !best.free) {
                const std::int32_t i = next_row(best);
                best = scan_row<false>(i, best.dist - (cost(i, best.col) - v_[best.col]), 0, m_);
                ++stats_.shortest_path_rows;
            }
            sink = best;
        } else {
            sink = shortest_path_parallel(f);
        }
        if (sink.dist == kInf)
            throw InfeasibleCostError(
                "cost matrix is infeasible: the allowed entries cannot match every " +
                std::string(transposed_ ? "column" : "row") + " (found while matching " +
                row_name(f) + ")");
        return sink.col;
    }

    // Marks a column scanned and returns the row that continues the path.
    std::int32_t next_row(const Candidate& c) {
        state_[c.col] |= kScanned;
        scanned_.push_back(c.col);
        return row_of_col_[c.col];
    }

    // The same search with the columns split into one static block per
    // thread. Every thread combines all blocks' candidates identically, so
    // each step needs one barrier; slots alternate between two buffers so a
    // fast thread never overwrites what a slow one is still reading.
    Candidate shortest_path_parallel(std::int32_t f) {
        Candidate sink;
#ifdef _OPENMP
        const int nt = threads_;
        std::vector<Candidate> slots(2 * static_cast<std::size_t>(nt));
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num();
            const int team = omp_get_num_threads();
            const std::int32_t lo = static_cast<std::int32_t>(std::int64_t(m_) * t / team);
            const std::int32_t hi = static_cast<std::int32_t>(std::int64_t(m_) * (t + 1) / team);
            Candidate best = scan_row<true>(f, 0.0, lo, hi);
            for (int parity = 0;; parity ^= 1) {
                slots[parity * nt + t] = best;
#pragma omp barrier
                Candidate all;
                for (int s = 0; s < team; ++s)
                    if (slots[parity * nt + s].better_than(all)) all = slots[parity * nt + s];
                if (all.dist == kInf || all.free) {
                    if (t == 0) sink = all;
                    break;
                }
                const std::int32_t i = row_of_col_[all.col];
                if (all.col >= lo && all.col < hi) state_[all.col] |= kScanned;
                if (t == 0) scanned_.push_back(all.col);
                best = scan_row<false>(i, all.dist - (cost(i, all.col) - v_[all.col]), lo, hi);
            }
        }
        stats_.shortest_path_rows += static_cast<std::int64_t>(scanned_.size()) + 1;
#else
        (void)f;
#endif
        return sink;
    }

    // Finds a shortest augmenting path from free row f, updates the duals of
    // the scanned columns so reduced costs stay non-negative, and flips the
    // path.
    void augment(std::int32_t f) {
        scanned_.clear();
        std::int32_t j = shortest_path(f);
        const double length = dist_[j];
        for (std::int32_t s : scanned_) {
            v_[s] += dist_[s] - length;
            state_[s] &= static_cast<std::uint8_t>(~kScanned);
        }
        for (;;) {
            const std::int32_t i = pred_[j];
            const std::int32_t previous = col_of_row_[i];
            match(i, j);
            if (i == f) break;
            j = previous;
        }
    }

    MatrixView<T> cost_;
    Stride stride_;
    std::int32_t n_, m_;
    bool transposed_;
    int threads_ = 1;
    std::ptrdiff_t parallel_min_cols_ = 0;

    std::vector<std::int32_t> col_of_row_, row_of_col_;
    std::vector<double> v_;
    std::vector<double> dist_;
    std::vector<std::int32_t> pred_;
    std::vector<std::uint8_t> state_;
    std::vector<std::int32_t> free_rows_, scanned_, matched_count_;
    SolveStats stats_;

public:
    void set_parallel_min_cols(std::ptrdiff_t c) { parallel_min_cols_ = c; }
};

template <class T, bool Negate, class Stride>
Assignment solve_internal(MatrixView<T> cost, Stride stride, const SolveOptions& options,
                          bool transposed) {
    JonkerVolgenant<T, Negate, Stride> jv(cost, stride, options, transposed);
    jv.set_parallel_min_cols(options.parallel_min_cols);
    jv.run();

    const std::size_t n = static_cast<std::size_t>(cost.rows);
    const std::size_t m = static_cast<std::size_t>(cost.cols);
    const double sign = Negate ? -1.0 : 1.0;
    std::vector<double> u = jv.row_duals();
    std::vector<double> v = jv.col_duals();
    for (double& x : u) x *= sign;
    for (double& x : v) x = x == 0.0 ? 0.0 : x * sign;  // no −0 in the certificate

    Assignment a;
    std::vector<std::int64_t> small_to_large(n), large_to_small(m, -1);
    double objective = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const std::int32_t j = jv.col_of_row()[i];
        small_to_large[i] = j;
        large_to_small[static_cast<std::size_t>(j)] = static_cast<std::int64_t>(i);
        objective += sign * jv.cost(static_cast<std::int32_t>(i), j);
    }
    a.objective = objective;
    a.stats = jv.stats();
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

}  // namespace detail

// The optimal assignment of a dense cost matrix with its dual certificate.
// Entries equal to +inf (minimising) or −inf (maximising) are forbidden
// pairs; NaN and infinities of the other sign raise InvalidCostError; a
// matrix whose forbidden pairs leave no complete matching of the smaller
// side raises InfeasibleCostError.
template <class T>
Assignment solve_dense(MatrixView<T> cost, const SolveOptions& options = {}) {
    static_assert(std::is_floating_point_v<T>, "costs must be float or double");
    if (cost.rows < 0 || cost.cols < 0)
        throw std::invalid_argument("cost matrix has a negative dimension");
    if (std::max(cost.rows, cost.cols) >= std::numeric_limits<std::int32_t>::max())
        throw std::invalid_argument("cost matrix has more than 2^31 - 1 rows or columns");
    detail::validate_costs(cost, options.maximize);

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
    const bool unit = work.rows_contiguous();
    if (options.maximize) {
        return unit ? detail::solve_internal<T, true>(work, detail::UnitStride{}, options, transposed)
                    : detail::solve_internal<T, true>(work, work.col_stride, options, transposed);
    }
    return unit ? detail::solve_internal<T, false>(work, detail::UnitStride{}, options, transposed)
                : detail::solve_internal<T, false>(work, work.col_stride, options, transposed);
}

}  // namespace saematch::lap
