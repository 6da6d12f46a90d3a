// Augmenting row reduction (Jonker & Volgenant 1987, section 4), shared by
// the dense and the sparse solver: only how a row's two cheapest columns are
// found differs between them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "saematch/lap/assignment.hpp"

namespace saematch::lap::detail {

inline constexpr double kInf = std::numeric_limits<double>::infinity();

// A partial matching with column duals. Invariant kept by every phase: each
// matched row's column minimises c(i, j) − v[j] over the row's allowed pairs.
struct DualMatching {
    std::vector<std::int32_t> col_of_row;  // −1: free row
    std::vector<std::int32_t> row_of_col;  // −1: free column
    std::vector<double> v;

    DualMatching(std::int32_t rows, std::int32_t cols)
        : col_of_row(static_cast<std::size_t>(rows), -1),
          row_of_col(static_cast<std::size_t>(cols), -1),
          v(static_cast<std::size_t>(cols), 0.0) {}
};

// The cheapest and second-cheapest reduced cost c(i, j) − v[j] of a row.
struct TwoSmallest {
    double u1 = kInf, u2 = kInf;
    std::int32_t j1 = -1, j2 = -1;

    void offer(double h, std::int32_t j) {
        if (h < u2) {
            if (h < u1) {
                u2 = u1;
                j2 = j1;
                u1 = h;
                j1 = j;
            } else {
                u2 = h;
                j2 = j;
            }
        }
    }
};

// Two passes over the free rows. A free row takes its cheapest column and
// lowers that column's dual by the gap to its second cheapest, so the row it
// displaced must look elsewhere. In floating point the gap can be too small
// to move the dual at all, which would let two rows trade a column forever:
// such a step counts as a tie, and each pass has a step budget after which
// the remaining rows are left for the shortest-path phase.
//
// two_smallest(i) -> TwoSmallest; on_match(i, j) records a new pair;
// on_dead_row(i) is called (and must throw) for a row with no allowed pair.
template <class TwoSmallestFn, class OnMatch, class OnDeadRow>
void augmenting_row_reduction(DualMatching& m, std::vector<std::int32_t>& free_rows, TwoSmallestFn&& two_smallest,
                              OnMatch&& on_match, OnDeadRow&& on_dead_row, SolveStats& stats) {
    const std::int64_t budget = 4 * static_cast<std::int64_t>(m.col_of_row.size()) + 16;
    for (int pass = 0; pass < 2 && !free_rows.empty(); ++pass) {
        const std::size_t nfree = free_rows.size();
        std::int64_t steps = 0;
        std::size_t k = 0, kept = 0;
        while (k < nfree) {
            const std::int32_t i = free_rows[k++];
            if (++steps > budget) {
                free_rows[kept++] = i;
                continue;
            }
            const TwoSmallest t = two_smallest(i);
            if (t.u1 == kInf) on_dead_row(i);
            std::int32_t j1 = t.j1;
            std::int32_t displaced = m.row_of_col[j1];
            const double lowered = m.v[j1] - (t.u2 - t.u1);
            const bool progress = t.u2 < kInf && lowered < m.v[j1];
            if (progress) {
                m.v[j1] = lowered;
            } else if (displaced >= 0) {
                if (t.j2 < 0 || t.u2 == kInf) {  // nowhere else to go yet
                    free_rows[kept++] = i;
                    continue;
                }
                j1 = t.j2;
                displaced = m.row_of_col[j1];
            }
            m.col_of_row[i] = j1;
            m.row_of_col[j1] = i;
            on_match(i, j1);
            if (displaced >= 0) {
                m.col_of_row[displaced] = -1;
                if (progress)
                    free_rows[--k] = displaced;  // retry at once against the lowered dual
                else
                    free_rows[kept++] = displaced;
            }
        }
        stats.augmenting_row_steps += steps < budget ? steps : budget;
        free_rows.resize(kept);
    }
}

}  // namespace saematch::lap::detail
