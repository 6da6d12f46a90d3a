// Which of several equally good matchings a comparison returns.
//
// Latents whose unit vectors are identical (exact duplicates, which real
// SAEs do carry) have identical cosines with everything, so exchanging their
// partners leaves the total unchanged: the optimum is not unique, and which
// optimum a solver lands on depends on its method, its candidate graph, even
// its thread count. Every comparison therefore rewrites its optimal matching
// into one canonical representative, a function of the duplicate structure
// alone:
//
//   1. Group identical rows of A into classes, and identical rows of B.
//      Two matchings that differ only by exchanges inside classes pair the
//      same number of A-rows of class R with B-rows of class C; those counts
//      are all that is kept.
//   2. Within a class R of A, rows in increasing index take the B classes in
//      order of their lowest member (unmatched rows last).
//   3. Within a class C of B, the A rows sent to it, in increasing index,
//      take C's rows in increasing index (unmatched B rows are C's highest).
//
// A preferred partner per A row (the encoder matching, when the decoder
// matching is rewritten) goes first in both steps wherever the counts allow
// it, so duplicates keep the same partner in both matchings instead of
// disagreeing for no reason. The paper's rule needs agreement, so without
// this an exact duplicate pair could count as shared in one method and not
// in the other.
//
// Ties between latents that are not identical (distinct directions that
// happen to give two matchings the same float total) are not rewritten:
// they need coincidences of float sums, which planted or crafted data can
// produce but trained weights do not.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include "saematch/similarity/unit_rows.hpp"

namespace saematch::compare {

// class_of[i] = the lowest index of a row equal to row i (so class_of[i] == i
// for the first of each group). Rows compare by value: +0 equals -0.
inline std::vector<std::int32_t> identical_row_classes(const similarity::RowMajorMatrixF& rows) {
    const std::ptrdiff_t n = rows.rows(), d = rows.cols();
    std::vector<std::uint64_t> hash(static_cast<std::size_t>(n));
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        std::uint64_t h = 1469598103934665603ull;  // FNV-1a over the values' bits
        const float* r = rows.data() + i * d;
        for (std::ptrdiff_t j = 0; j < d; ++j) {
            const float x = r[j] == 0.0f ? 0.0f : r[j];
            std::uint32_t bits;
            std::memcpy(&bits, &x, sizeof bits);
            h = (h ^ bits) * 1099511628211ull;
        }
        hash[static_cast<std::size_t>(i)] = h;
    }
    std::vector<std::int32_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::int32_t x, std::int32_t y) {
        return hash[static_cast<std::size_t>(x)] != hash[static_cast<std::size_t>(y)]
                   ? hash[static_cast<std::size_t>(x)] < hash[static_cast<std::size_t>(y)]
                   : x < y;
    });
    std::vector<std::int32_t> class_of(static_cast<std::size_t>(n));
    std::iota(class_of.begin(), class_of.end(), 0);
    const auto equal = [&](std::int32_t x, std::int32_t y) {
        const float* p = rows.data() + static_cast<std::ptrdiff_t>(x) * d;
        const float* q = rows.data() + static_cast<std::ptrdiff_t>(y) * d;
        for (std::ptrdiff_t j = 0; j < d; ++j)
            if (p[j] != q[j]) return false;
        return true;
    };
    // Within a run of equal hashes (increasing index), each row joins the
    // first earlier row it equals; hash collisions of unequal rows are
    // resolved by the comparison.
    for (std::size_t s = 0; s < order.size();) {
        std::size_t e = s + 1;
        while (e < order.size() && hash[static_cast<std::size_t>(order[e])] == hash[static_cast<std::size_t>(order[s])]) ++e;
        for (std::size_t x = s + 1; x < e; ++x)
            for (std::size_t y = s; y < x; ++y)
                if (class_of[static_cast<std::size_t>(order[y])] == order[y] && equal(order[y], order[x])) {
                    class_of[static_cast<std::size_t>(order[x])] = order[y];
                    break;
                }
        s = e;
    }
    return class_of;
}

inline bool has_duplicates(const std::vector<std::int32_t>& class_of) {
    for (std::size_t i = 0; i < class_of.size(); ++i)
        if (class_of[i] != static_cast<std::int32_t>(i)) return true;
    return false;
}

// The canonical form (above) of `partner_a`, an optimal matching of A's rows
// to B's (−1: unmatched). `class_a`/`class_b` come from
// identical_row_classes; `prefer[i]`, when given, is a B row that A row i
// should keep if the counts allow (−1: none).
inline std::vector<std::int32_t> canonical_matching(const std::vector<std::int32_t>& partner_a,
                                                    const std::vector<std::int32_t>& class_a,
                                                    const std::vector<std::int32_t>& class_b,
                                                    std::span<const std::int32_t> prefer = {}) {
    if (!has_duplicates(class_a) && !has_duplicates(class_b)) return partner_a;
    const std::size_t na = class_a.size(), nb = class_b.size();
    constexpr std::int32_t kNone = -1;  // the "class" of an unmatched A row
    const auto wanted = [&](std::size_t i) { return prefer.empty() ? kNone : prefer[i]; };

    // Members of each class, increasing.
    std::vector<std::vector<std::int32_t>> rows_of(na), cols_of(nb);
    for (std::size_t i = 0; i < na; ++i) rows_of[static_cast<std::size_t>(class_a[i])].push_back(static_cast<std::int32_t>(i));
    for (std::size_t j = 0; j < nb; ++j) cols_of[static_cast<std::size_t>(class_b[j])].push_back(static_cast<std::int32_t>(j));

    // Step 2: the B class each A row goes to. A class's slots are the B
    // classes of its current partners, in order (unmatched last); rows whose
    // preferred partner lies in a class with a slot left take it first.
    std::vector<std::int32_t> goes_to(na, kNone);
    std::vector<std::pair<std::int32_t, std::int32_t>> slots;  // (B class, rows of this class it takes)
    for (std::size_t r = 0; r < na; ++r) {
        const auto& members = rows_of[r];
        if (members.empty()) continue;
        slots.clear();
        for (std::int32_t i : members) {
            const std::int32_t j = partner_a[static_cast<std::size_t>(i)];
            // Unmatched sorts last: its key is past every B class.
            slots.push_back({j < 0 ? static_cast<std::int32_t>(nb) : class_b[static_cast<std::size_t>(j)], 1});
        }
        std::sort(slots.begin(), slots.end());
        std::size_t unique = 0;
        for (std::size_t s = 0; s < slots.size(); ++s) {
            if (unique > 0 && slots[unique - 1].first == slots[s].first)
                ++slots[unique - 1].second;
            else
                slots[unique++] = slots[s];
        }
        slots.resize(unique);
        const auto slot_of = [&](std::int32_t c) {
            const auto it = std::lower_bound(slots.begin(), slots.end(), std::pair{c, std::int32_t{0}});
            return it != slots.end() && it->first == c ? it : slots.end();
        };
        std::vector<std::uint8_t> placed(members.size(), 0);
        for (std::size_t m = 0; m < members.size(); ++m) {
            const std::int32_t p = wanted(static_cast<std::size_t>(members[m]));
            if (p < 0) continue;
            const auto it = slot_of(class_b[static_cast<std::size_t>(p)]);
            if (it == slots.end() || it->second == 0) continue;
            --it->second;
            placed[m] = 1;
            goes_to[static_cast<std::size_t>(members[m])] = it->first;
        }
        std::size_t s = 0;
        for (std::size_t m = 0; m < members.size(); ++m) {
            if (placed[m]) continue;
            while (slots[s].second == 0) ++s;
            --slots[s].second;
            goes_to[static_cast<std::size_t>(members[m])] =
                slots[s].first == static_cast<std::int32_t>(nb) ? kNone : slots[s].first;
        }
    }

    // Step 3: within each B class, its matched rows are the preferred ones
    // first, then the lowest; A rows (increasing) take them in order, a row
    // whose preferred partner is among them taking that one.
    std::vector<std::vector<std::int32_t>> incoming(nb);
    for (std::size_t i = 0; i < na; ++i)
        if (goes_to[i] != kNone) incoming[static_cast<std::size_t>(goes_to[i])].push_back(static_cast<std::int32_t>(i));
    std::vector<std::int32_t> out(na, -1);
    std::vector<std::uint8_t> taken(nb, 0);
    for (std::size_t c = 0; c < nb; ++c) {
        const auto& rows = incoming[c];
        if (rows.empty()) continue;
        std::size_t budget = rows.size();
        for (std::int32_t i : rows) {
            const std::int32_t p = wanted(static_cast<std::size_t>(i));
            if (p >= 0 && class_b[static_cast<std::size_t>(p)] == static_cast<std::int32_t>(c) &&
                !taken[static_cast<std::size_t>(p)]) {
                out[static_cast<std::size_t>(i)] = p;
                taken[static_cast<std::size_t>(p)] = 1;
                --budget;
            }
        }
        std::vector<std::int32_t> free_cols;
        for (std::int32_t j : cols_of[c])
            if (free_cols.size() < budget && !taken[static_cast<std::size_t>(j)]) free_cols.push_back(j);
        std::size_t next = 0;
        for (std::int32_t i : rows) {
            if (out[static_cast<std::size_t>(i)] >= 0) continue;
            const std::int32_t j = free_cols[next++];
            out[static_cast<std::size_t>(i)] = j;
            taken[static_cast<std::size_t>(j)] = 1;
        }
    }
    return out;
}

}  // namespace saematch::compare
