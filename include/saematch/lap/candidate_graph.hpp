// The allowed pairs of a sparse assignment problem, stored row by row. The
// large-scale path solves on a graph of each row's best candidates and adds
// pairs only when the dual certificate shows they are needed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace saematch::lap {

struct CandidateEdge {
    std::int32_t row;
    std::int32_t col;
    double cost;  // always to be minimised
};

class CandidateGraph {
public:
    CandidateGraph(std::int32_t rows, std::int32_t cols)
        : rows_(rows), cols_(cols), row_start_(static_cast<std::size_t>(rows) + 1, 0) {}

    std::int32_t rows() const { return rows_; }
    std::int32_t cols() const { return cols_; }
    std::size_t edges() const { return col_.size(); }

    std::int64_t begin(std::int32_t i) const { return row_start_[static_cast<std::size_t>(i)]; }
    std::int64_t end(std::int32_t i) const { return row_start_[static_cast<std::size_t>(i) + 1]; }
    std::int32_t col(std::int64_t e) const { return col_[static_cast<std::size_t>(e)]; }
    double cost(std::int64_t e) const { return cost_[static_cast<std::size_t>(e)]; }

    // Merges new pairs in; a pair already present keeps its cost. The
    // CSR arrays are rebuilt, so add in batches, not one pair at a time.
    void add(std::vector<CandidateEdge> extra) {
        if (extra.empty()) return;
        for (const auto& e : extra)
            if (e.row < 0 || e.row >= rows_ || e.col < 0 || e.col >= cols_)
                throw std::out_of_range("candidate pair (" + std::to_string(e.row) + ", " +
                                        std::to_string(e.col) + ") is outside the " + std::to_string(rows_) +
                                        " x " + std::to_string(cols_) + " problem");
        for (std::int32_t i = 0; i < rows_; ++i)
            for (std::int64_t e = begin(i); e < end(i); ++e) extra.push_back({i, col(e), cost(e)});
        // Existing pairs go first and the sort is stable, so of two equal
        // pairs the one already in the graph survives.
        std::rotate(extra.begin(), extra.end() - static_cast<std::ptrdiff_t>(col_.size()), extra.end());
        std::stable_sort(extra.begin(), extra.end(), [](const CandidateEdge& a, const CandidateEdge& b) {
            return a.row != b.row ? a.row < b.row : a.col < b.col;
        });
        col_.clear();
        cost_.clear();
        std::fill(row_start_.begin(), row_start_.end(), 0);
        for (std::size_t k = 0; k < extra.size(); ++k) {
            if (k > 0 && extra[k].row == extra[k - 1].row && extra[k].col == extra[k - 1].col) continue;
            col_.push_back(extra[k].col);
            cost_.push_back(extra[k].cost);
            ++row_start_[static_cast<std::size_t>(extra[k].row) + 1];
        }
        for (std::size_t i = 0; i < static_cast<std::size_t>(rows_); ++i) row_start_[i + 1] += row_start_[i];
    }

private:
    std::int32_t rows_, cols_;
    std::vector<std::int64_t> row_start_;
    std::vector<std::int32_t> col_;
    std::vector<double> cost_;
};

}  // namespace saematch::lap
