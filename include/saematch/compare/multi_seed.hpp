// Comparing N SAEs trained with different seeds: every pair matched once,
// then, per base SAE and latent, in how many of the other N - 1 SAEs the
// latent is shared (the input to the paper's Fig. 2 colouring and Fig. A1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "saematch/compare/pair_report.hpp"

namespace saematch::compare {

struct MultiSeedReport {
    std::int32_t saes = 0;
    // pairs[p] compares SAE pair_ids[p].first (side A) with .second (side B),
    // first < second, in lexicographic order.
    std::vector<std::pair<std::int32_t, std::int32_t>> pair_ids;
    std::vector<PairReport> pairs;

    // share_counts[b][i]: how many of the other SAEs latent i of SAE b is
    // shared with, under `rule` at threshold t.
    std::vector<std::vector<std::int32_t>> share_counts(const SharedRule& rule, double t) const {
        std::vector<std::vector<std::int32_t>> counts(static_cast<std::size_t>(saes));
        for (std::size_t p = 0; p < pairs.size(); ++p) {
            const auto [x, y] = pair_ids[p];
            auto& cx = counts[static_cast<std::size_t>(x)];
            auto& cy = counts[static_cast<std::size_t>(y)];
            const auto sx = pairs[p].shared(Side::a, rule, t);
            const auto sy = pairs[p].shared(Side::b, rule, t);
            cx.resize(sx.size(), 0);
            cy.resize(sy.size(), 0);
            for (std::size_t i = 0; i < sx.size(); ++i) cx[i] += sx[i];
            for (std::size_t i = 0; i < sy.size(); ++i) cy[i] += sy[i];
        }
        return counts;
    }
};

// `on_pair(done, total)` reports progress after each pair. Takes pointers
// so callers holding SAEs elsewhere (the Python module) need not copy them.
inline MultiSeedReport compare_many(const std::vector<const SaeDirections*>& saes, const MatchOptions& options = {},
                                    const std::function<void(std::size_t, std::size_t)>& on_pair = {}) {
    if (saes.size() < 2) throw std::invalid_argument("compare_many needs at least 2 SAEs, got " + std::to_string(saes.size()));
    for (std::size_t s = 1; s < saes.size(); ++s)
        if (saes[s]->width() != saes[0]->width())
            throw std::invalid_argument("saes[" + std::to_string(s) + "] has input width " +
                                        std::to_string(saes[s]->width()) + " but saes[0] has " +
                                        std::to_string(saes[0]->width()));
    MultiSeedReport r;
    r.saes = static_cast<std::int32_t>(saes.size());
    const std::size_t total = saes.size() * (saes.size() - 1) / 2;
    for (std::size_t x = 0; x < saes.size(); ++x)
        for (std::size_t y = x + 1; y < saes.size(); ++y) {
            r.pair_ids.emplace_back(static_cast<std::int32_t>(x), static_cast<std::int32_t>(y));
            r.pairs.push_back(compare_pair(*saes[x], *saes[y], options));
            if (on_pair) on_pair(r.pairs.size(), total);
        }
    return r;
}

inline MultiSeedReport compare_many(const std::vector<SaeDirections>& saes, const MatchOptions& options = {},
                                    const std::function<void(std::size_t, std::size_t)>& on_pair = {}) {
    std::vector<const SaeDirections*> pointers;
    for (const auto& s : saes) pointers.push_back(&s);
    return compare_many(pointers, options, on_pair);
}

}  // namespace saematch::compare
