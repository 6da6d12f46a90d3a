// The canonical form of a matching under exchanges of identical latents:
// every matching reachable by such exchanges maps to the same one, and the
// rewrite never changes which classes are paired (so never the total).
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "saematch/compare/canonical_ties.hpp"

namespace cmp = saematch::compare;

namespace {

// Random classes over n items: class_of[i] = lowest member of i's class.
std::vector<std::int32_t> random_classes(std::mt19937_64& rng, std::int32_t n, int groups) {
    std::uniform_int_distribution<int> pick(0, groups - 1);
    std::vector<int> label(static_cast<std::size_t>(n));
    for (int& l : label) l = pick(rng);
    std::vector<std::int32_t> first(static_cast<std::size_t>(groups), -1), class_of(static_cast<std::size_t>(n));
    for (std::int32_t i = 0; i < n; ++i) {
        auto& f = first[static_cast<std::size_t>(label[static_cast<std::size_t>(i)])];
        if (f < 0) f = i;
        class_of[static_cast<std::size_t>(i)] = f;
    }
    return class_of;
}

// A random matching of na rows into nb columns (the smaller side complete).
std::vector<std::int32_t> random_matching(std::mt19937_64& rng, std::int32_t na, std::int32_t nb) {
    std::vector<std::int32_t> cols(static_cast<std::size_t>(nb));
    std::iota(cols.begin(), cols.end(), 0);
    std::shuffle(cols.begin(), cols.end(), rng);
    std::vector<std::int32_t> partner(static_cast<std::size_t>(na), -1);
    std::vector<std::int32_t> rows(static_cast<std::size_t>(na));
    std::iota(rows.begin(), rows.end(), 0);
    std::shuffle(rows.begin(), rows.end(), rng);
    for (std::int32_t t = 0; t < std::min(na, nb); ++t) partner[static_cast<std::size_t>(rows[static_cast<std::size_t>(t)])] = cols[static_cast<std::size_t>(t)];
    return partner;
}

// A random permutation that maps each item to an item of its own class.
std::vector<std::int32_t> within_class_permutation(std::mt19937_64& rng, const std::vector<std::int32_t>& class_of) {
    std::map<std::int32_t, std::vector<std::int32_t>> members;
    for (std::size_t i = 0; i < class_of.size(); ++i) members[class_of[i]].push_back(static_cast<std::int32_t>(i));
    std::vector<std::int32_t> perm(class_of.size());
    for (auto& [c, m] : members) {
        auto shuffled = m;
        std::shuffle(shuffled.begin(), shuffled.end(), rng);
        for (std::size_t t = 0; t < m.size(); ++t) perm[static_cast<std::size_t>(m[t])] = shuffled[t];
    }
    return perm;
}

std::map<std::pair<std::int32_t, std::int32_t>, int> class_pairs(const std::vector<std::int32_t>& partner,
                                                                const std::vector<std::int32_t>& class_a,
                                                                const std::vector<std::int32_t>& class_b) {
    std::map<std::pair<std::int32_t, std::int32_t>, int> count;
    for (std::size_t i = 0; i < partner.size(); ++i)
        ++count[{class_a[i], partner[i] < 0 ? -1 : class_b[static_cast<std::size_t>(partner[i])]}];
    return count;
}

}  // namespace

TEST_CASE("canonical_matching maps every exchange of identical latents to one matching", "[ties]") {
    std::mt19937_64 rng(GENERATE(range(1, 40)));
    std::uniform_int_distribution<std::int32_t> size(1, 30);
    const std::int32_t na = size(rng), nb = size(rng);
    const auto class_a = random_classes(rng, na, std::max(1, na / 3));
    const auto class_b = random_classes(rng, nb, std::max(1, nb / 2));
    const auto partner = random_matching(rng, na, nb);
    const bool with_preference = GENERATE(false, true);
    std::vector<std::int32_t> prefer;
    if (with_preference) prefer = random_matching(rng, na, nb);

    const auto canonical = cmp::canonical_matching(partner, class_a, class_b, prefer);
    REQUIRE(class_pairs(canonical, class_a, class_b) == class_pairs(partner, class_a, class_b));
    std::vector<std::uint8_t> used(static_cast<std::size_t>(nb), 0);
    for (auto j : canonical)
        if (j >= 0) {
            REQUIRE_FALSE(used[static_cast<std::size_t>(j)]);
            used[static_cast<std::size_t>(j)] = 1;
        }
    for (int trial = 0; trial < 5; ++trial) {
        // Exchange rows within A's classes and columns within B's.
        const auto row_perm = within_class_permutation(rng, class_a);
        const auto col_perm = within_class_permutation(rng, class_b);
        std::vector<std::int32_t> exchanged(static_cast<std::size_t>(na), -1);
        for (std::int32_t i = 0; i < na; ++i) {
            const auto j = partner[static_cast<std::size_t>(i)];
            exchanged[static_cast<std::size_t>(row_perm[static_cast<std::size_t>(i)])] =
                j < 0 ? -1 : col_perm[static_cast<std::size_t>(j)];
        }
        CHECK(cmp::canonical_matching(exchanged, class_a, class_b, prefer) == canonical);
    }
    // Within a class, matched partners increase with the index, unless a
    // preference placed them.
    if (!with_preference)
        for (std::int32_t i = 0; i < na; ++i)
            for (std::int32_t k = i + 1; k < na; ++k)
                if (class_a[static_cast<std::size_t>(i)] == class_a[static_cast<std::size_t>(k)] &&
                    canonical[static_cast<std::size_t>(i)] >= 0 && canonical[static_cast<std::size_t>(k)] >= 0 &&
                    class_b[static_cast<std::size_t>(canonical[static_cast<std::size_t>(i)])] ==
                        class_b[static_cast<std::size_t>(canonical[static_cast<std::size_t>(k)])])
                    CHECK(canonical[static_cast<std::size_t>(i)] < canonical[static_cast<std::size_t>(k)]);
}

TEST_CASE("canonical_matching keeps a preferred partner whenever the class counts allow it", "[ties]") {
    // A rows 0..3 identical, B columns 0..3 identical: any preference that is
    // a matching into those columns can be met in full.
    const std::vector<std::int32_t> class_a{0, 0, 0, 0}, class_b{0, 0, 0, 0};
    const std::vector<std::int32_t> partner{0, 1, 2, 3}, prefer{2, 0, 3, 1};
    CHECK(cmp::canonical_matching(partner, class_a, class_b, prefer) == prefer);
    CHECK(cmp::canonical_matching(partner, class_a, class_b) == partner);
}

TEST_CASE("identical_row_classes groups equal rows, +0 and -0 alike, and nothing else", "[ties]") {
    saematch::similarity::RowMajorMatrixF rows(6, 3);
    rows << 1, 0, 0,  //
        0, 1, 0,      //
        1, 0, 0,      //
        0, 1, -0.0f,  //
        0, 1, 1e-30f, //
        1, 0, 0;
    CHECK(cmp::identical_row_classes(rows) == std::vector<std::int32_t>{0, 1, 0, 1, 4, 0});
    CHECK_FALSE(cmp::has_duplicates({0, 1, 2}));
}
