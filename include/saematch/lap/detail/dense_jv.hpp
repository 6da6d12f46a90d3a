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
// This file holds the algorithm; lap/solve_dense.hpp is the entry point.
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

#include "saematch/detail/threads.hpp"
#include "saematch/lap/assignment.hpp"
#include "saematch/lap/detail/row_reduction.hpp"
#include "saematch/lap/errors.hpp"
#include "saematch/lap/matrix_view.hpp"

namespace saematch::lap::detail {

using UnitStride = std::integral_constant<std::ptrdiff_t, 1>;

using saematch::detail::openmp_threads;

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
          dm_(n_, m_),
          dist_(m_, kInf),
          pred_(m_, -1),
          state_(m_, kFreeCol) {
        threads_ = openmp_threads(options.threads);
        parallel_min_cols_ = options.parallel_min_cols;
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

    const std::vector<std::int32_t>& col_of_row() const { return dm_.col_of_row; }
    const std::vector<double>& col_duals() const { return dm_.v; }
    const SolveStats& stats() const { return stats_; }

    double cost(std::int32_t i, std::int32_t j) const {
        const double c = static_cast<double>(cost_.row(i)[j * stride_]);
        return Negate ? -c : c;
    }

    std::vector<double> row_duals() const {
        std::vector<double> u(n_);
        for (std::int32_t i = 0; i < n_; ++i) u[i] = cost(i, dm_.col_of_row[i]) - dm_.v[dm_.col_of_row[i]];
        return u;
    }

private:
    static constexpr std::uint8_t kFreeCol = 1;  // no row matched to the column
    static constexpr std::uint8_t kScanned = 2;  // finalised in the current search

    std::string row_name(std::int32_t i) const {
        return (transposed_ ? "column " : "row ") + std::to_string(i);
    }
    std::string col_name(std::int32_t j) const {
        return (transposed_ ? "row " : "column ") + std::to_string(j);
    }

    void match(std::int32_t i, std::int32_t j) {
        dm_.col_of_row[i] = j;
        dm_.row_of_col[j] = i;
        state_[j] &= static_cast<std::uint8_t>(~kFreeCol);
    }

    // Column reduction (square only): v[j] = min over rows, and each column
    // goes to its minimising row if that row has none yet. Scanned row by row
    // so the matrix is read in memory order.
    void reduce_columns() {
        std::vector<std::int32_t> argmin(m_, -1);
        std::fill(dm_.v.begin(), dm_.v.end(), kInf);
        for (std::int32_t i = 0; i < n_; ++i) {
            for (std::int32_t j = 0; j < m_; ++j) {
                const double c = cost(i, j);
                if (c < dm_.v[j]) {
                    dm_.v[j] = c;
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
            const std::int32_t j1 = dm_.col_of_row[i];
            double mu = kInf;
            for (std::int32_t j = 0; j < m_; ++j)
                if (j != j1) mu = std::min(mu, cost(i, j) - dm_.v[j]);
            if (mu < kInf) dm_.v[j1] -= mu - (cost(i, j1) - dm_.v[j1]);
        }
        matched_count_.clear();
        matched_count_.shrink_to_fit();
    }

    TwoSmallest two_smallest_reduced(std::int32_t i) const {
        TwoSmallest t;
        const T* row = cost_.row(i);
        const double* v = dm_.v.data();
        for (std::int32_t j = 0; j < m_; ++j) {
            const double c = static_cast<double>(row[j * stride_]);
            t.offer((Negate ? -c : c) - v[j], j);
        }
        return t;
    }

    void augmenting_row_reduction() {
        detail::augmenting_row_reduction(
            dm_, free_rows_, [this](std::int32_t i) { return two_smallest_reduced(i); },
            [this](std::int32_t, std::int32_t j) { state_[j] &= static_cast<std::uint8_t>(~kFreeCol); },
            [this](std::int32_t i) {
                throw InfeasibleCostError("cost matrix is infeasible: " + row_name(i) + " has no allowed entry");
            },
            stats_);
    }

    // One Dijkstra step over columns [lo, hi): relax the unscanned columns
    // through row i, whose path length to a column j is base + c(i, j) − v[j],
    // and return the closest of them.
    template <bool First>
    Candidate scan_row(std::int32_t i, double base, std::int32_t lo, std::int32_t hi) {
        Candidate best;
        const T* row = cost_.row(i);
        const double* v = dm_.v.data();
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
                best = scan_row<false>(i, best.dist - (cost(i, best.col) - dm_.v[best.col]), 0, m_);
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
        return dm_.row_of_col[c.col];
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
                const std::int32_t i = dm_.row_of_col[all.col];
                if (all.col >= lo && all.col < hi) state_[all.col] |= kScanned;
                if (t == 0) scanned_.push_back(all.col);
                best = scan_row<false>(i, all.dist - (cost(i, all.col) - dm_.v[all.col]), lo, hi);
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
            dm_.v[s] += dist_[s] - length;
            state_[s] &= static_cast<std::uint8_t>(~kScanned);
        }
        for (;;) {
            const std::int32_t i = pred_[j];
            const std::int32_t previous = dm_.col_of_row[i];
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

    DualMatching dm_;
    std::vector<double> dist_;
    std::vector<std::int32_t> pred_;
    std::vector<std::uint8_t> state_;
    std::vector<std::int32_t> free_rows_, scanned_, matched_count_;
    SolveStats stats_;

};

}  // namespace saematch::lap::detail
