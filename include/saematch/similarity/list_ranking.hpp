// Turning one line's candidates into its list: each candidate's accurate
// similarity (accurate_dot.hpp), the other side's dead vectors merged in as
// exact zeros, the k best kept in order (ties to the lower index), padding
// where the other side is smaller than k. Also the fallback for lines whose
// pools overflowed: the whole line recomputed and ranked the same way.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "saematch/similarity/accurate_dot.hpp"
#include "saematch/similarity/candidate_pools.hpp"
#include "saematch/similarity/parallel.hpp"
#include "saematch/similarity/rows.hpp"
#include "saematch/similarity/unit_rows.hpp"

namespace saematch::similarity::detail {

// Small tiles and merges run on fewer threads (the grain of
// detail/threads.hpp). Results do not depend on it.
inline int team_for(int threads, std::ptrdiff_t work) { return saematch::detail::threads_for(work, threads); }

using Ranked = std::pair<double, std::int32_t>;  // accurate value, index

// Buffers of one thread of the pass, kept from tile to tile. Aligned so
// that two threads' vector headers (rewritten on every push_back) never
// share a cache line.
struct alignas(64) ThreadScratch {
    std::vector<std::ptrdiff_t> live_rows;
    std::vector<float> chunks;
    std::vector<PoolEntry> entries;
    std::vector<Ranked> ranked;
    std::vector<std::int32_t> overflowed;
};

// One direction of the comparison: lists for the rows of `self` against the
// rows of `other`.
struct ListSide {
    const UnitRows* self = nullptr;
    const UnitRows* other = nullptr;
    std::int32_t k = 0;       // list stride
    std::int32_t k_eff = 0;   // min(k, other's rows): real entries per list
    std::int32_t k_live = 0;  // min(k_eff, other's live rows): what the pools must find
    std::int32_t capacity = 0;
    std::vector<std::int32_t> other_dead;  // the other side's first k_eff dead rows
    float* value = nullptr;
    std::int32_t* index = nullptr;
    double* accurate = nullptr;  // optional: the listed values before rounding to float

    ListSide(const UnitRows& s, const UnitRows& o, std::int32_t k_, float* v, std::int32_t* ix)
        : self(&s), other(&o), k(k_), value(v), index(ix) {
        const std::int64_t m = o.rows.rows(), live = m - o.dead_count;
        k_eff = static_cast<std::int32_t>(std::min<std::int64_t>(k, m));
        k_live = static_cast<std::int32_t>(std::min<std::int64_t>(k_eff, live));
        // Room for as many near-ties as there are list entries (at least 8)
        // before a line must be recomputed.
        capacity = static_cast<std::int32_t>(std::min<std::int64_t>(k_live + std::max(k_live, 8), live));
        for (std::int32_t j = 0; j < m && static_cast<std::int32_t>(other_dead.size()) < k_eff; ++j)
            if (o.dead[static_cast<std::size_t>(j)]) other_dead.push_back(j);
    }
};

// Never knows a value in advance: every candidate is scored.
struct ScoreAll {
    bool operator()(std::int32_t, double&) const { return false; }
};

// Writes line `line`'s list: its live candidates ranked by accurate value,
// merged with the other side's dead rows (exactly 0, the lowest indices
// first, so the first k_eff of them are all that can matter).
// known(j, value) may supply a candidate's accurate value without the dot
// product (from the other direction's list).
template <class Known = ScoreAll>
void finish_line(const ListSide& s, std::ptrdiff_t line, std::span<const PoolEntry> live,
                 std::vector<Ranked>& ranked, Known&& known = {}) {
    float* value = s.value + line * s.k;
    std::int32_t* index = s.index + line * s.k;
    double* accurate = s.accurate ? s.accurate + line * s.k : nullptr;
    if (s.self->dead[static_cast<std::size_t>(line)]) {  // 0 with everything: the lowest indices win
        for (std::int32_t p = 0; p < s.k_eff; ++p) {
            value[p] = 0.0f;
            index[p] = p;
            if (accurate) accurate[p] = 0.0;
        }
        return;
    }
    ranked.clear();
    std::size_t unknown = 0;  // the unscored candidates go first
    for (const PoolEntry& e : live) {
        double v = 0.0;
        if (known(e.index, v)) {
            ranked.push_back({v, e.index});
        } else {
            ranked.insert(ranked.begin() + static_cast<std::ptrdiff_t>(unknown), {0.0, e.index});
            ++unknown;
        }
    }
    // One row of the other side per dot product, rarely cached: fetching
    // the next while the current one runs hides most of the latency.
    const std::ptrdiff_t d = s.self->rows.cols();
    const float* x = s.self->rows.data() + line * d;
    const float* y = s.other->rows.data();
    for (std::size_t t = 0; t < unknown; ++t) {
        if (t + 1 < unknown) prefetch_row(y + ranked[t + 1].second * d, d);
        ranked[t].first = accurate_dot(x, y + ranked[t].second * d, d);
    }
    for (std::int32_t j : s.other_dead) ranked.push_back({0.0, j});
    const auto better = [](const Ranked& p, const Ranked& q) {
        return p.first > q.first || (p.first == q.first && p.second < q.second);
    };
    const auto take = std::min<std::ptrdiff_t>(s.k_eff, static_cast<std::ptrdiff_t>(ranked.size()));
    std::partial_sort(ranked.begin(), ranked.begin() + take, ranked.end(), better);
    for (std::ptrdiff_t p = 0; p < take; ++p) {
        const auto& [v, j] = ranked[static_cast<std::size_t>(p)];
        value[p] = static_cast<float>(v);
        index[p] = j;
        if (accurate) accurate[p] = v;
    }
}

// Lines whose pools overflowed: their full rows of S, `buffer_floats` at a
// time, then the same margin rule over the whole line.
inline void recompute_lines(const ListSide& s, std::span<const std::int32_t> lines, double margin,
                            std::ptrdiff_t buffer_floats, WorkerTeam& workers,
                            std::vector<ThreadScratch>& scratch) {
    const std::ptrdiff_t m = s.other->rows.rows();
    const auto total = static_cast<std::ptrdiff_t>(lines.size());
    if (total == 0) return;
    const std::ptrdiff_t batch =
        std::clamp<std::ptrdiff_t>(buffer_floats / std::max<std::ptrdiff_t>(m, 1), 1, total);
    std::vector<float> sims(static_cast<std::size_t>(batch * m));
    for (std::ptrdiff_t start = 0; start < total; start += batch) {
        const std::ptrdiff_t count = std::min(batch, total - start);
        const auto chunk = lines.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(count));
        similarity_rows(*s.self, chunk, *s.other, sims.data());
        workers.parallel_for(team_for(workers.size(), count * m), count, 1, [&](std::ptrdiff_t r, int t) {
            auto& own = scratch[static_cast<std::size_t>(t)];
            const float* row = sims.data() + r * m;
            own.entries.clear();
            for (std::ptrdiff_t j = 0; j < m; ++j)
                if (!s.other->dead[static_cast<std::size_t>(j)])
                    own.entries.push_back({row[j], static_cast<std::int32_t>(j)});
            PoolEntry* kept = keep_within_margin(own.entries.data(), own.entries.data() + own.entries.size(),
                                                 s.k_live, margin);
            finish_line(s, chunk[static_cast<std::size_t>(r)], {own.entries.data(), kept}, own.ranked);
        });
    }
}

}  // namespace saematch::similarity::detail
