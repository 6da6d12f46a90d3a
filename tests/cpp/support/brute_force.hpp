// Exhaustive linear assignment for tiny matrices: the reference the solver is
// compared against. It shares nothing with the solver but MatrixView's
// element access: every injective map of the smaller side into the larger
// side is enumerated, forbidden pairs are skipped, and the best total wins.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "saematch/lap/matrix_view.hpp"

namespace saematch_test {

struct BruteForceResult {
    bool feasible = false;                // some complete matching of the smaller side exists
    double objective = 0.0;               // best total (sum in double of the matched entries)
    std::int64_t complete_matchings = 0;  // how many complete matchings avoid forbidden pairs
};

namespace brute_force_detail {

template <class T>
class Enumerator {
public:
    Enumerator(saematch::lap::MatrixView<T> cost, bool maximize)
        : cost_(cost),
          maximize_(maximize),
          rows_small_(cost.rows <= cost.cols),
          small_(rows_small_ ? cost.rows : cost.cols),
          large_(rows_small_ ? cost.cols : cost.rows),
          used_(static_cast<std::size_t>(large_), false) {}

    BruteForceResult run() {
        visit(0, 0.0);
        return result_;
    }

private:
    // The entry pairing small-side index s with large-side index l.
    double entry(std::ptrdiff_t s, std::ptrdiff_t l) const {
        return static_cast<double>(rows_small_ ? cost_(s, l) : cost_(l, s));
    }

    bool forbidden(double c) const {
        return c == (maximize_ ? -std::numeric_limits<double>::infinity()
                               : std::numeric_limits<double>::infinity());
    }

    void visit(std::ptrdiff_t s, double total) {
        if (s == small_) {
            ++result_.complete_matchings;
            const bool better = maximize_ ? total > result_.objective : total < result_.objective;
            if (!result_.feasible || better) result_.objective = total;
            result_.feasible = true;
            return;
        }
        for (std::ptrdiff_t l = 0; l < large_; ++l) {
            if (used_[static_cast<std::size_t>(l)]) continue;
            const double c = entry(s, l);
            if (forbidden(c)) continue;
            used_[static_cast<std::size_t>(l)] = true;
            visit(s + 1, total + c);
            used_[static_cast<std::size_t>(l)] = false;
        }
    }

    saematch::lap::MatrixView<T> cost_;
    bool maximize_;
    bool rows_small_;
    std::ptrdiff_t small_, large_;
    std::vector<bool> used_;
    BruteForceResult result_;
};

}  // namespace brute_force_detail

// The best objective over all complete matchings of the smaller side, or
// feasible == false when the forbidden entries (+inf when minimising, -inf
// when maximising) rule every one out. An empty side has one (empty) matching
// with objective 0. Float costs are promoted to double before summing.
template <class T>
BruteForceResult brute_force(saematch::lap::MatrixView<T> cost, bool maximize) {
    return brute_force_detail::Enumerator<T>(cost, maximize).run();
}

// The number of injective maps of the smaller side into the larger side:
// the work brute_force does on a matrix of this shape.
inline std::int64_t injective_maps(std::int64_t rows, std::int64_t cols) {
    const std::int64_t small = rows < cols ? rows : cols, large = rows < cols ? cols : rows;
    std::int64_t count = 1;
    for (std::int64_t k = 0; k < small; ++k) count *= large - k;
    return count;
}

}  // namespace saematch_test
