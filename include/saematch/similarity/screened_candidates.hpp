// Candidate lists from candidates screened elsewhere (a device,
// similarity/aten/): each line's pool of the other side's rows, already
// reduced to those within the margin of the line's k-th best screened
// value, with every pool member's accurate value (accurate_dot.hpp) already
// computed. The ranking is the streamed pass's own (list_ranking.hpp's
// finish_line): dead rows merged in as exact zeros, ties to the lower
// index, padding, values rounded to float. So a screen that keeps a
// superset of each line's accurate top k gives lists identical to
// top_candidates(), bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "saematch/similarity/candidates.hpp"
#include "saematch/similarity/list_ranking.hpp"
#include "saematch/similarity/parallel.hpp"
#include "saematch/similarity/unit_rows.hpp"

namespace saematch::similarity {

// One direction's pools: line l's members are index[offsets[l] ..
// offsets[l + 1]) (live rows of the other side, any order), their accurate
// values in `accurate` at the same positions. A dead line's pool is ignored.
struct ScreenedPools {
    std::vector<std::int64_t> offsets;  // lines + 1
    std::vector<std::int32_t> index;
    std::vector<double> accurate;
};

namespace detail {

inline void check_pools(const ScreenedPools& p, std::ptrdiff_t lines, std::ptrdiff_t other, const char* what) {
    if (static_cast<std::ptrdiff_t>(p.offsets.size()) != lines + 1 || p.offsets.front() != 0 ||
        p.offsets.back() != static_cast<std::int64_t>(p.index.size()) || p.index.size() != p.accurate.size())
        throw std::invalid_argument(std::string("ScreenedPools for the ") + what + " are inconsistent: " +
                                    std::to_string(p.offsets.size()) + " offsets for " + std::to_string(lines) +
                                    " lines, " + std::to_string(p.index.size()) + " members, " +
                                    std::to_string(p.accurate.size()) + " values");
    for (std::int32_t j : p.index)
        if (j < 0 || j >= other)
            throw std::out_of_range(std::string("ScreenedPools for the ") + what + ": member " + std::to_string(j) +
                                    " is not one of the " + std::to_string(other) + " rows of the other side");
}

inline void rank_pools(const ListSide& side, const ScreenedPools& pools, WorkerTeam& workers,
                       std::vector<ThreadScratch>& scratch, int threads) {
    const std::ptrdiff_t lines = side.self->rows.rows();
    workers.parallel_for(team_for(threads, lines * side.k * 16), lines, 256, [&](std::ptrdiff_t l, int t) {
        auto& own = scratch[static_cast<std::size_t>(t)];
        own.entries.clear();
        const auto first = static_cast<std::size_t>(pools.offsets[static_cast<std::size_t>(l)]);
        const auto last = static_cast<std::size_t>(pools.offsets[static_cast<std::size_t>(l) + 1]);
        for (std::size_t p = first; p < last; ++p) own.entries.push_back({0.0f, pools.index[p]});
        // finish_line asks for the members' values in pool order.
        std::size_t next = first;
        finish_line(side, l, own.entries, own.ranked, [&](std::int32_t j, double& value) {
            if (next >= last || pools.index[next] != j)
                throw std::logic_error("rank_pools: finish_line asked for members out of order");
            value = pools.accurate[next++];
            return true;
        });
    });
}

}  // namespace detail

// The lists top_candidates(a, b, {k}) gives, from pools that hold every
// live pair within the screen's margin of each line's k-th best (see
// candidate_pools.hpp for why that suffices). `recomputed_rows/cols` and
// `bf16_screen` are passed through to the result.
inline CandidateLists lists_from_pools(const UnitRows& a, const UnitRows& b, std::int32_t k,
                                       const ScreenedPools& row_pools, const ScreenedPools& col_pools,
                                       int threads = 0) {
    CandidateOptions o;
    o.k = k;
    detail::check_candidate_inputs(a, b, o);
    const std::ptrdiff_t n = a.rows.rows(), m = b.rows.rows();
    detail::check_pools(row_pools, n, m, "rows");
    detail::check_pools(col_pools, m, n, "columns");
    CandidateLists out;
    const std::int32_t width = detail::list_length(k, n, m);
    detail::ListSide rows = detail::init_candidate_lists(out, a, b, width);
    detail::ListSide cols(b, a, width, out.col_value.data(), out.col_index.data());
    const int team = saematch::detail::worker_threads(threads);
    detail::WorkerTeam workers(team);
    std::vector<detail::ThreadScratch> scratch(static_cast<std::size_t>(team));
    detail::rank_pools(rows, row_pools, workers, scratch, team);
    detail::rank_pools(cols, col_pools, workers, scratch, team);
    return out;
}

}  // namespace saematch::similarity
