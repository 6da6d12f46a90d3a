// Candidate lists ranked from pools screened elsewhere (a device): given
// pools that hold every live pair, or only each line's margin band, the
// lists are top_candidates()'s bit for bit; inconsistent pools are refused.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include "saematch/similarity/accurate_dot.hpp"
#include "saematch/similarity/candidates.hpp"
#include "saematch/similarity/screened_candidates.hpp"
#include "saematch/similarity/unit_rows.hpp"
#include "support/random_costs.hpp"
#include "support/similarity_reference.hpp"

namespace sim = saematch::similarity;
using namespace saematch_test;

namespace {

sim::UnitRows unit_of(const std::vector<float>& w, int rows, int dim) {
    return sim::unit_rows(w.data(), rows, dim, dim);
}

// Every live pair of each line, in a scrambled order, with accurate values.
sim::ScreenedPools all_live_pairs(const sim::UnitRows& self, const sim::UnitRows& other, std::mt19937_64& rng) {
    sim::ScreenedPools p;
    p.offsets.push_back(0);
    const auto d = self.rows.cols();
    for (std::ptrdiff_t i = 0; i < self.rows.rows(); ++i) {
        std::vector<std::int32_t> members;
        for (std::ptrdiff_t j = 0; j < other.rows.rows(); ++j)
            if (!other.dead[static_cast<std::size_t>(j)]) members.push_back(static_cast<std::int32_t>(j));
        std::shuffle(members.begin(), members.end(), rng);
        for (std::int32_t j : members) {
            p.index.push_back(j);
            p.accurate.push_back(sim::accurate_dot(self.rows.data() + i * d, other.rows.data() + j * d, d));
        }
        p.offsets.push_back(static_cast<std::int64_t>(p.index.size()));
    }
    return p;
}

bool same_lists(const sim::CandidateLists& x, const sim::CandidateLists& y) {
    return x.k == y.k && x.rows == y.rows && x.cols == y.cols && x.row_index == y.row_index &&
           x.row_value == y.row_value && x.col_index == y.col_index && x.col_value == y.col_value;
}

}  // namespace

TEST_CASE("lists ranked from screened pools equal top_candidates, dead rows and duplicates included",
          "[similarity]") {
    const auto shape = GENERATE(std::tuple{60, 45, 12, 5}, std::tuple{45, 60, 7, 1}, std::tuple{20, 3, 5, 8},
                                std::tuple{1, 30, 4, 2});
    const auto [n, m, d, k] = shape;
    std::mt19937_64 rng(seed_for({71, n, m, d, k}));
    const WeightSpec spec_a{n, d, 0.15, 4, 3, random_vector(rng, d)};  // exact and near duplicates: ties
    const auto wa = random_weights(rng, spec_a);
    const auto wb = random_weights(rng, {m, d, 0.15, 0, 0, {}});
    const int na = static_cast<int>(wa.size()) / d;
    const auto a = unit_of(wa, na, d), b = unit_of(wb, m, d);
    sim::CandidateOptions o;
    o.k = k;
    o.screen = sim::ScreenPrecision::float32;
    const auto expected = sim::top_candidates(a, b, o);
    const auto got = sim::lists_from_pools(a, b, k, all_live_pairs(a, b, rng), all_live_pairs(b, a, rng));
    INFO("n=" << na << " m=" << m << " d=" << d << " k=" << k);
    REQUIRE(same_lists(got, expected));
}

TEST_CASE("inconsistent screened pools are refused, naming the side", "[similarity]") {
    std::mt19937_64 rng(seed_for({72}));
    const auto a = unit_of(random_weights(rng, {6, 4, 0.0, 0, 0, {}}), 6, 4);
    const auto b = unit_of(random_weights(rng, {5, 4, 0.0, 0, 0, {}}), 5, 4);
    auto rows = all_live_pairs(a, b, rng), cols = all_live_pairs(b, a, rng);
    auto short_rows = rows;
    short_rows.offsets.pop_back();
    REQUIRE_THROWS_WITH(sim::lists_from_pools(a, b, 2, short_rows, cols), Catch::Contains("for the rows are inconsistent"));
    auto bad_member = cols;
    bad_member.index[3] = 6;
    REQUIRE_THROWS_WITH(sim::lists_from_pools(a, b, 2, rows, bad_member),
                        Catch::Contains("columns: member 6 is not one of the 6 rows"));
}
