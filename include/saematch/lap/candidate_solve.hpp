// Exact assignment without looking at every pair more than a few times:
// solve on a sparse graph of candidate pairs, then prove the result optimal
// for the full problem with the dual certificate, adding the pairs that
// violate it and re-solving until none do.
//
// Any dual-feasible (u, v) bounds every matching's total, so once no pair
// outside the graph has negative reduced cost the sparse optimum is the full
// optimum. The source of pair costs decides how violations are found: a
// stored matrix scans its rows; the similarity pipeline (compare/) bounds
// most rows from its candidate lists without recomputing them.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "saematch/lap/assignment.hpp"
#include "saematch/lap/candidate_graph.hpp"
#include "saematch/lap/detail/row_reduction.hpp"
#include "saematch/lap/errors.hpp"
#include "saematch/lap/sparse_jv.hpp"

namespace saematch::lap {

// What the certified solver needs from the full problem (costs minimised,
// rows <= cols).
template <class S>
concept PairSource = requires(const S& s, const detail::DualMatching& m, const std::vector<double>& u,
                              const CandidateGraph& g, const std::vector<std::int32_t>& rows,
                              std::vector<double>& floor, std::vector<CandidateEdge>& out) {
    { s.rows() } -> std::convertible_to<std::int32_t>;
    { s.cols() } -> std::convertible_to<std::int32_t>;
    { s.initial_candidates() } -> std::same_as<CandidateGraph>;
    // Every allowed pair of the given rows.
    s.append_full_rows(rows, out);
    // For the complete matching m and each given row i: sets floor[i] to a
    // lower bound on c(i, j) − v[j] over the pairs outside the graph g, and
    // appends (in row order) pairs outside g with c(i, j) − u[i] − v[j] < 0.
    // Appending none certifies those rows. A source that lets violations
    // below some tolerance stand must still set floors that bound its
    // costs; the gap below then says what the tolerance cost.
    s.check_rows(m, u, g, rows, floor, out);
};

struct CandidateSolution {
    explicit CandidateSolution(detail::DualMatching m) : matching(std::move(m)) {}

    detail::DualMatching matching;
    std::vector<double> row_duals;  // u, in the source's minimised costs
    std::int64_t rounds = 0;        // certificate checks made
    std::int64_t edges = 0;         // candidate pairs in the final graph
    // An upper bound on (this matching's cost) - (the optimum): the sum over
    // rows of how far u exceeds the row's floor. Zero unless the source let
    // violations within some tolerance stand (the sources in this library
    // do not).
    double certified_gap = 0.0;
    SolveStats stats;
};

namespace detail {

inline std::vector<double> row_duals_of(const CandidateGraph& g, const DualMatching& m) {
    std::vector<double> u(m.col_of_row.size());
    for (std::int32_t i = 0; i < g.rows(); ++i) {
        const std::int32_t j = m.col_of_row[static_cast<std::size_t>(i)];
        for (std::int64_t e = g.begin(i); e < g.end(i); ++e)
            if (g.col(e) == j) u[static_cast<std::size_t>(i)] = g.cost(e) - m.v[static_cast<std::size_t>(j)];
    }
    return u;
}

}  // namespace detail

// Starts from `graph`, usually source.initial_candidates().
// `describe_row(i)` names row i in error messages ("row 3", "column 3").
template <PairSource S, class DescribeRow>
CandidateSolution solve_on_candidates(const S& source, CandidateGraph graph, DescribeRow&& describe_row) {
    const std::int32_t n = source.rows(), m = source.cols();
    CandidateSolution out{detail::DualMatching(n, m)};
    std::vector<std::int32_t> free_rows;
    std::vector<std::uint8_t> full(static_cast<std::size_t>(n), 0);
    std::vector<double> floor(static_cast<std::size_t>(n));
    std::vector<CandidateEdge> extra;

    const auto restart = [&] {
        out.matching = detail::DualMatching(n, m);
        std::fill(floor.begin(), floor.end(), -detail::kInf);  // check every row
        free_rows.resize(static_cast<std::size_t>(n));
        for (std::int32_t i = 0; i < n; ++i) free_rows[static_cast<std::size_t>(i)] = i;
    };
    // New pairs in a matched row can undercut its pair, so such rows give up
    // their pairs. On a square problem only they restart (warm): every other
    // row keeps a tight pair and unchanged reduced costs. With more columns
    // than rows a column freed with a lowered dual would break the
    // certificate's "unmatched duals are zero" rule, so everything restarts
    // from zero duals on the larger graph.
    const auto add_pairs = [&](const std::vector<std::int32_t>& rows) {
        graph.add(std::move(extra));
        extra = {};
        bool matched_row_grew = false;
        for (std::int32_t i : rows) matched_row_grew |= out.matching.col_of_row[static_cast<std::size_t>(i)] >= 0;
        if (!matched_row_grew) return;
        if (n != m) return restart();
        for (std::int32_t i : rows) {
            auto& j = out.matching.col_of_row[static_cast<std::size_t>(i)];
            if (j < 0) continue;
            out.matching.row_of_col[static_cast<std::size_t>(j)] = -1;
            j = -1;
            free_rows.push_back(i);
        }
    };

    restart();
    for (;;) {
        // Match every free row. A search that gets stuck first gets its own
        // row whole (which reaches every free column it is allowed), then,
        // if forbidden pairs still block it, every row it reached.
        for (;;) {
            SparseJonkerVolgenant jv(graph, out.matching, out.stats);
            const auto stuck = jv.match(free_rows);
            if (stuck.empty()) break;
            std::vector<std::int32_t> grow;
            for (const auto& s : stuck) {
                if (!full[static_cast<std::size_t>(s.row)]) {
                    grow.push_back(s.row);
                    full[static_cast<std::size_t>(s.row)] = 1;
                    continue;
                }
                for (std::int32_t i : s.reached_rows)
                    if (!full[static_cast<std::size_t>(i)]) {
                        grow.push_back(i);
                        full[static_cast<std::size_t>(i)] = 1;
                    }
            }
            if (grow.empty())
                throw InfeasibleCostError("cost matrix is infeasible: the allowed entries cannot match every " +
                                          describe_row(stuck.front().row) + " together with the others");
            std::sort(grow.begin(), grow.end());
            extra.clear();
            source.append_full_rows(grow, extra);
            add_pairs(grow);
        }
        // Which rows can violate the certificate? All, the first time. After
        // a warm restart only rows whose u rose above their floor: the duals
        // v only ever fall (row reduction lowers them, Dijkstra subtracts
        // non-negative amounts), so c(i, j) − v[j] outside the graph can only
        // have grown since the floor was taken.
        out.row_duals = detail::row_duals_of(graph, out.matching);
        std::vector<std::int32_t> check;
        for (std::int32_t i = 0; i < n; ++i)
            if (out.row_duals[static_cast<std::size_t>(i)] > floor[static_cast<std::size_t>(i)]) check.push_back(i);
        ++out.rounds;
        extra.clear();
        source.check_rows(out.matching, out.row_duals, graph, check, floor, extra);
        if (extra.empty()) break;
        std::vector<std::int32_t> violating;
        for (const auto& e : extra)
            if (violating.empty() || violating.back() != e.row) violating.push_back(e.row);
        add_pairs(violating);
    }
    out.edges = static_cast<std::int64_t>(graph.edges());
    // Every floor is still a lower bound on its row's reduced costs outside
    // the graph (v only fell since it was taken), so lowering each u to its
    // floor gives a feasible dual whose total bounds the optimum.
    for (std::int32_t i = 0; i < n; ++i)
        out.certified_gap += std::max(0.0, out.row_duals[static_cast<std::size_t>(i)] - floor[static_cast<std::size_t>(i)]);
    return out;
}

}  // namespace saematch::lap
