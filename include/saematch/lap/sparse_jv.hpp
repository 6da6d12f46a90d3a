// Shortest augmenting paths on a sparse candidate graph, warm-startable.
//
// The same method as the dense solver (Jonker & Volgenant 1987, whose paper
// covers the sparse case too): augmenting row reduction, then one Dijkstra
// search per free row, here with a binary heap over the columns a search
// reaches. A search that cannot reach a free column does not mean the full
// problem is infeasible, only that the graph lacks pairs: it is reported, with
// the rows it reached, so the caller can add pairs and continue.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "saematch/lap/assignment.hpp"
#include "saematch/lap/candidate_graph.hpp"
#include "saematch/lap/detail/row_reduction.hpp"

namespace saematch::lap {

class SparseJonkerVolgenant {
public:
    // A search from `row` that found no free column; `reached_rows` are the
    // rows it scanned (including `row`): adding pairs to them can help.
    struct Stuck {
        std::int32_t row;
        std::vector<std::int32_t> reached_rows;
    };

    // Works on `matching` in place; its matched pairs must be edges of `graph`.
    SparseJonkerVolgenant(const CandidateGraph& graph, detail::DualMatching& matching, SolveStats& stats)
        : g_(graph),
          m_(matching),
          stats_(stats),
          matched_cost_(static_cast<std::size_t>(graph.rows()), 0.0),
          dist_(static_cast<std::size_t>(graph.cols()), detail::kInf),
          pred_(static_cast<std::size_t>(graph.cols()), -1),
          pred_cost_(static_cast<std::size_t>(graph.cols()), 0.0),
          scanned_(static_cast<std::size_t>(graph.cols()), 0) {
        for (std::int32_t i = 0; i < g_.rows(); ++i) {
            const std::int32_t j = m_.col_of_row[static_cast<std::size_t>(i)];
            if (j < 0) continue;
            std::int64_t e = g_.begin(i);
            while (e < g_.end(i) && g_.col(e) != j) ++e;
            if (e == g_.end(i)) throw std::logic_error("a matched pair is missing from the candidate graph");
            matched_cost_[static_cast<std::size_t>(i)] = g_.cost(e);
        }
    }

    // Matches every row in `free_rows` that this graph can match. The rows
    // it cannot are left in `free_rows` and returned, each with the rows its
    // search reached. A failed search changes nothing, so the others go on:
    // reporting every stuck row of a pass at once lets the caller grow the
    // graph once, where stopping at the first made tie-heavy inputs (rows
    // that all list the same few columns) rebuild the graph once per row.
    std::vector<Stuck> match(std::vector<std::int32_t>& free_rows) {
        std::vector<Stuck> stuck;
        std::vector<std::int32_t> searchable;
        for (std::int32_t i : free_rows) {
            if (g_.begin(i) == g_.end(i))
                stuck.push_back(Stuck{i, {i}});
            else
                searchable.push_back(i);
        }
        detail::augmenting_row_reduction(
            m_, searchable, [this](std::int32_t i) { return two_smallest_reduced(i); },
            [this](std::int32_t i, std::int32_t j) { matched_cost_[i] = cost_of(i, j); },
            [](std::int32_t) {}, stats_);
        for (std::int32_t f : searchable)
            if (auto s = augment(f)) stuck.push_back(std::move(*s));
        free_rows.clear();
        for (const Stuck& s : stuck) free_rows.push_back(s.row);
        return stuck;
    }

    double matched_cost(std::int32_t i) const { return matched_cost_[static_cast<std::size_t>(i)]; }

private:
    double cost_of(std::int32_t i, std::int32_t j) const {
        for (std::int64_t e = g_.begin(i); e < g_.end(i); ++e)
            if (g_.col(e) == j) return g_.cost(e);
        throw std::logic_error("pair not in the candidate graph");
    }

    detail::TwoSmallest two_smallest_reduced(std::int32_t i) const {
        detail::TwoSmallest t;
        for (std::int64_t e = g_.begin(i); e < g_.end(i); ++e) t.offer(g_.cost(e) - m_.v[g_.col(e)], g_.col(e));
        return t;
    }

    // Heap entries order by distance, then free columns first (the search can
    // end there), then column index.
    struct Entry {
        double dist;
        bool assigned;
        std::int32_t col;
        bool operator>(const Entry& o) const {
            if (dist != o.dist) return dist > o.dist;
            if (assigned != o.assigned) return assigned;
            return col > o.col;
        }
    };

    void relax(std::int32_t i, double base) {
        for (std::int64_t e = g_.begin(i); e < g_.end(i); ++e) {
            const std::int32_t j = g_.col(e);
            if (scanned_[j]) continue;
            const double d = base + g_.cost(e) - m_.v[j];
            if (d < dist_[j]) {
                if (dist_[j] == detail::kInf) touched_.push_back(j);
                dist_[j] = d;
                pred_[j] = i;
                pred_cost_[j] = g_.cost(e);
                heap_.push_back({d, m_.row_of_col[j] >= 0, j});
                std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
            }
        }
    }

    std::optional<Stuck> augment(std::int32_t f) {
        heap_.clear();
        touched_.clear();
        scanned_list_.clear();
        relax(f, 0.0);
        ++stats_.shortest_path_rows;
        std::int32_t sink = -1;
        while (!heap_.empty()) {
            std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
            const Entry top = heap_.back();
            heap_.pop_back();
            if (scanned_[top.col] || top.dist > dist_[top.col]) continue;  // stale entry
            if (m_.row_of_col[top.col] < 0) {
                sink = top.col;
                break;
            }
            scanned_[top.col] = 1;
            scanned_list_.push_back(top.col);
            const std::int32_t i = m_.row_of_col[top.col];
            relax(i, top.dist - (matched_cost_[i] - m_.v[top.col]));
            ++stats_.shortest_path_rows;
        }

        std::optional<Stuck> stuck;
        if (sink < 0) {
            stuck = Stuck{f, {f}};
            for (std::int32_t j : scanned_list_) stuck->reached_rows.push_back(m_.row_of_col[j]);
        } else {
            const double length = dist_[sink];
            for (std::int32_t j : scanned_list_) m_.v[j] += dist_[j] - length;
            for (std::int32_t j = sink;;) {
                const std::int32_t i = pred_[j];
                const std::int32_t previous = m_.col_of_row[i];
                m_.col_of_row[i] = j;
                m_.row_of_col[j] = i;
                matched_cost_[i] = pred_cost_[j];
                if (i == f) break;
                j = previous;
            }
        }
        for (std::int32_t j : touched_) dist_[j] = detail::kInf;
        for (std::int32_t j : scanned_list_) scanned_[j] = 0;
        return stuck;
    }

    const CandidateGraph& g_;
    detail::DualMatching& m_;
    SolveStats& stats_;
    std::vector<double> matched_cost_;
    std::vector<double> dist_;
    std::vector<std::int32_t> pred_;
    std::vector<double> pred_cost_;
    std::vector<std::uint8_t> scanned_;
    std::vector<std::int32_t> touched_, scanned_list_;
    std::vector<Entry> heap_;
};

}  // namespace saematch::lap
