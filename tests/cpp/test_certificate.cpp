// check_certificate on its own: it accepts what solve_dense returns and
// rejects every kind of tampering with the matching or the duals.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "saematch/lap/certificate.hpp"
#include "saematch/lap/solve_dense.hpp"
#include "support/brute_force.hpp"
#include "support/random_costs.hpp"

namespace lap = saematch::lap;
using saematch_test::CostKind;
using saematch_test::forbidden_value;
using saematch_test::random_costs;
using saematch_test::seed_for;
using saematch_test::view_of;

namespace {

// A random matrix of the given shape together with its optimal assignment.
template <class T>
struct Solved {
    int rows = 0, cols = 0;
    std::vector<T> data;  // row-major; tests may edit it after solving
    lap::Assignment a;

    lap::MatrixView<T> cost() const { return view_of(data, rows, cols); }
};

template <class T>
Solved<T> solve_random(int rows, int cols, bool maximize, CostKind kind = CostKind::uniform, int salt = 0) {
    std::mt19937_64 rng(seed_for({rows, cols, maximize, static_cast<int>(kind), sizeof(T), salt, 101}));
    Solved<T> s;
    s.rows = rows;
    s.cols = cols;
    s.data = random_costs<T>(rng, rows, cols, kind, maximize);
    lap::SolveOptions options;
    options.maximize = maximize;
    s.a = lap::solve_dense(s.cost(), options);
    return s;
}

std::size_t at(std::int64_t k) {
    return static_cast<std::size_t>(k);
}

// The first unmatched line of the larger side.
std::size_t first_unmatched(const std::vector<std::int64_t>& partner) {
    const auto it = std::find(partner.begin(), partner.end(), -1);
    REQUIRE(it != partner.end());
    return static_cast<std::size_t>(it - partner.begin());
}

}  // namespace

TEMPLATE_TEST_CASE("check_certificate accepts solve_dense output on every shape and sense", "[certificate]",
                   float, double) {
    const auto [rows, cols] = GENERATE(
        table<int, int>({{1, 1}, {3, 3}, {4, 7}, {7, 4}, {1, 9}, {9, 1}, {50, 50}, {40, 90}, {90, 40}}));
    const CostKind kind = GENERATE(CostKind::uniform, CostKind::tied_integers, CostKind::forbidden);
    const bool maximize = GENERATE(false, true);
    CAPTURE(rows, cols, saematch_test::kind_name(kind), maximize);
    int verified = 0;
    for (int salt = 0; salt < 5; ++salt) {
        std::mt19937_64 rng(seed_for({rows, cols, maximize, static_cast<int>(kind), sizeof(TestType), salt}));
        std::vector<TestType> data = random_costs<TestType>(rng, rows, cols, kind, maximize);
        const auto cost = view_of(data, rows, cols);
        lap::SolveOptions options;
        options.maximize = maximize;
        lap::Assignment a;
        try {
            a = lap::solve_dense(cost, options);
        } catch (const lap::InfeasibleCostError&) {
            continue;  // dense forbidden patterns can be infeasible
        }
        const lap::CertificateCheck check = lap::check_certificate(cost, a, maximize);
        INFO(check.problem);
        REQUIRE(check.valid);
        REQUIRE(check.problem.empty());
        REQUIRE(check.worst_violation <= 1e-9 * (1.0 + 10.0));
        ++verified;
    }
    if (kind != CostKind::forbidden) CHECK(verified == 5);
}

TEST_CASE("check_certificate rejects a perturbed dual", "[certificate][tamper]") {
    const bool maximize = GENERATE(false, true);
    const auto [rows, cols] = GENERATE(table<int, int>({{6, 6}, {4, 7}, {7, 4}}));
    CAPTURE(maximize, rows, cols);
    Solved<double> s = solve_random<double>(rows, cols, maximize);
    REQUIRE(lap::check_certificate(s.cost(), s.a, maximize).valid);

    const double delta = GENERATE(1e-6, 1e-3, 1.0);
    CAPTURE(delta);
    SECTION("a row dual raised") {
        s.a.row_duals[2] += delta;
    }
    SECTION("a row dual lowered") {
        s.a.row_duals[2] -= delta;
    }
    SECTION("a column dual raised") {
        s.a.col_duals[3] += delta;
    }
    SECTION("a column dual lowered") {
        s.a.col_duals[3] -= delta;
    }
    const lap::CertificateCheck check = lap::check_certificate(s.cost(), s.a, maximize);
    CHECK_FALSE(check.valid);
    CHECK_FALSE(check.problem.empty());
    CHECK(check.worst_violation >= 0.5 * delta);
}

TEST_CASE("check_certificate tolerates perturbations below its tolerance, scaled by the largest cost",
          "[certificate][tolerance]") {
    const bool maximize = GENERATE(false, true);
    CAPTURE(maximize);
    Solved<double> s = solve_random<double>(6, 6, maximize);
    // Entries scaled to about 1e6: the tolerance becomes about 1e-9 * 1e6.
    for (double& c : s.data) c *= 1e5;
    lap::SolveOptions options;
    options.maximize = maximize;
    s.a = lap::solve_dense(s.cost(), options);
    REQUIRE(lap::check_certificate(s.cost(), s.a, maximize).valid);

    lap::Assignment nudged = s.a;
    nudged.col_duals[1] += 1e-7;  // far below 1e-9 * 1e6 = 1e-3
    CHECK(lap::check_certificate(s.cost(), nudged, maximize).valid);
    // A caller can ask for a tighter check.
    CHECK_FALSE(lap::check_certificate(s.cost(), nudged, maximize, 1e-16).valid);

    lap::Assignment shoved = s.a;
    shoved.col_duals[1] += 1e-1;
    CHECK_FALSE(lap::check_certificate(s.cost(), shoved, maximize).valid);
}

TEST_CASE("check_certificate accepts an equivalent square certificate shifted between rows and columns",
          "[certificate]") {
    // Square problems: adding d to every row dual and subtracting it from
    // every column dual changes no reduced cost and no sum.
    const bool maximize = GENERATE(false, true);
    Solved<double> s = solve_random<double>(6, 6, maximize);
    for (double& u : s.a.row_duals) u += 0.5;
    for (double& v : s.a.col_duals) v -= 0.5;
    CHECK(lap::check_certificate(s.cost(), s.a, maximize).valid);
}

TEST_CASE("check_certificate rejects the shifted certificate of a rectangular problem",
          "[certificate][tamper]") {
    // With more columns than rows, unmatched columns must keep dual 0, so the
    // same shift is no longer allowed.
    const bool maximize = GENERATE(false, true);
    Solved<double> s = solve_random<double>(4, 7, maximize);
    for (double& u : s.a.row_duals) u += 0.5;
    for (double& v : s.a.col_duals) v -= 0.5;
    CHECK_FALSE(lap::check_certificate(s.cost(), s.a, maximize).valid);
}

TEST_CASE("check_certificate rejects a matching with two assignments swapped", "[certificate][tamper]") {
    const bool maximize = GENERATE(false, true);
    const auto [rows, cols] = GENERATE(table<int, int>({{5, 5}, {4, 7}, {7, 4}}));
    CAPTURE(maximize, rows, cols);
    Solved<double> s = solve_random<double>(rows, cols, maximize);
    // Two matched rows trade columns; row_of_col stays the exact inverse.
    std::vector<std::size_t> matched_rows;
    for (std::size_t i = 0; i < s.a.col_of_row.size(); ++i)
        if (s.a.col_of_row[i] >= 0) matched_rows.push_back(i);
    REQUIRE(matched_rows.size() >= 2);
    const std::size_t r0 = matched_rows[0], r1 = matched_rows[1];
    const std::int64_t c0 = s.a.col_of_row[r0], c1 = s.a.col_of_row[r1];
    // The uniform random matrix has a unique optimum, so the swap costs more.
    const double before =
        s.cost()(static_cast<std::ptrdiff_t>(r0), c0) + s.cost()(static_cast<std::ptrdiff_t>(r1), c1);
    const double after =
        s.cost()(static_cast<std::ptrdiff_t>(r0), c1) + s.cost()(static_cast<std::ptrdiff_t>(r1), c0);
    REQUIRE(before != after);
    std::swap(s.a.col_of_row[r0], s.a.col_of_row[r1]);
    s.a.row_of_col[at(c0)] = static_cast<std::int64_t>(r1);
    s.a.row_of_col[at(c1)] = static_cast<std::int64_t>(r0);

    SECTION("with the objective left unchanged") {
        const lap::CertificateCheck check = lap::check_certificate(s.cost(), s.a, maximize);
        CHECK_FALSE(check.valid);
        CHECK_THAT(check.problem, Catch::Contains("matching"));
    }
    SECTION("with the objective recomputed for the new matching") {
        s.a.objective += after - before;
        const lap::CertificateCheck check = lap::check_certificate(s.cost(), s.a, maximize);
        CHECK_FALSE(check.valid);
        CHECK_THAT(check.problem, Catch::Contains("reduced cost"));
    }
}

TEST_CASE("check_certificate rejects a nonzero dual on an unmatched line of the larger side",
          "[certificate][tamper]") {
    const bool maximize = GENERATE(false, true);
    // The tampered dual keeps the allowed sign (<= 0 minimising, >= 0
    // maximising) and only loosens reduced costs: only the zero condition
    // catches it.
    const double tamper = maximize ? 0.25 : -0.25;
    SECTION("an unmatched column of a wide matrix") {
        Solved<double> s = solve_random<double>(3, 6, maximize);
        s.a.col_duals[first_unmatched(s.a.row_of_col)] = tamper;
        const lap::CertificateCheck check = lap::check_certificate(s.cost(), s.a, maximize);
        CHECK_FALSE(check.valid);
        CHECK_THAT(check.problem, Catch::Contains("unmatched"));
    }
    SECTION("an unmatched row of a tall matrix") {
        Solved<double> s = solve_random<double>(6, 3, maximize);
        s.a.row_duals[first_unmatched(s.a.col_of_row)] = tamper;
        const lap::CertificateCheck check = lap::check_certificate(s.cost(), s.a, maximize);
        CHECK_FALSE(check.valid);
        CHECK_THAT(check.problem, Catch::Contains("unmatched"));
    }
}

TEST_CASE("check_certificate rejects larger-side duals of the wrong sign", "[certificate][tamper]") {
    SECTION("a hand-made certificate that is consistent except for the sign") {
        // 1 x 2, minimising: row 0 takes column 0 (cost 0). With u = -1,
        // v = (1, 0) every reduced cost is >= 0, it is 0 on the matching,
        // the unmatched column's dual is 0 and u + v sums to the objective,
        // but v[0] = 1 > 0 breaks the bound that makes it a certificate.
        const std::vector<double> data{0.0, 5.0};
        const auto cost = view_of(data, 1, 2);
        lap::Assignment a;
        a.col_of_row = {0};
        a.row_of_col = {0, -1};
        a.objective = 0.0;
        a.row_duals = {-1.0};
        a.col_duals = {1.0, 0.0};
        const lap::CertificateCheck check = lap::check_certificate(cost, a, false);
        CHECK_FALSE(check.valid);
        CHECK_THAT(check.problem, Catch::Contains("wrong sign"));
        // The same numbers with the correct sign convention pass.
        a.row_duals = {0.0};
        a.col_duals = {0.0, 0.0};
        CHECK(lap::check_certificate(cost, a, false).valid);
    }
    SECTION("the maximising mirror image") {
        const std::vector<double> data{0.0, -5.0};
        const auto cost = view_of(data, 2, 1);  // tall this time
        lap::Assignment a;
        a.col_of_row = {0, -1};
        a.row_of_col = {0};
        a.objective = 0.0;
        a.row_duals = {-1.0, 0.0};
        a.col_duals = {1.0};
        const lap::CertificateCheck check = lap::check_certificate(cost, a, true);
        CHECK_FALSE(check.valid);
        CHECK_THAT(check.problem, Catch::Contains("wrong sign"));
    }
    SECTION("solver output with a matched column's dual moved to the wrong sign") {
        const bool maximize = GENERATE(false, true);
        Solved<double> s = solve_random<double>(3, 6, maximize);
        const std::size_t i = 0;
        const std::size_t j = at(s.a.col_of_row[i]);
        // Keep the matched reduced cost at zero while flipping v[j]'s sign.
        const double wrong = maximize ? -1.0 : 1.0;
        s.a.row_duals[i] += s.a.col_duals[j] - wrong;
        s.a.col_duals[j] = wrong;
        CHECK_FALSE(lap::check_certificate(s.cost(), s.a, maximize).valid);
    }
}

TEST_CASE("check_certificate rejects a certificate checked in the wrong sense", "[certificate][tamper]") {
    const bool maximize = GENERATE(false, true);
    const auto [rows, cols] = GENERATE(table<int, int>({{5, 5}, {4, 7}}));
    const Solved<double> s = solve_random<double>(rows, cols, maximize);
    REQUIRE(lap::check_certificate(s.cost(), s.a, maximize).valid);
    CHECK_FALSE(lap::check_certificate(s.cost(), s.a, !maximize).valid);
}

TEST_CASE("check_certificate rejects malformed or non-optimal matchings", "[certificate][tamper]") {
    const bool maximize = GENERATE(false, true);
    CAPTURE(maximize);
    Solved<double> s = solve_random<double>(5, 5, maximize);
    REQUIRE(lap::check_certificate(s.cost(), s.a, maximize).valid);

    SECTION("result arrays of the wrong length") {
        s.a.col_duals.pop_back();
        const lap::CertificateCheck check = lap::check_certificate(s.cost(), s.a, maximize);
        CHECK_FALSE(check.valid);
        CHECK_THAT(check.problem, Catch::Contains("shape"));
    }
    SECTION("row_of_col not the inverse of col_of_row") {
        std::swap(s.a.row_of_col[0], s.a.row_of_col[1]);
        const lap::CertificateCheck check = lap::check_certificate(s.cost(), s.a, maximize);
        CHECK_FALSE(check.valid);
        CHECK_THAT(check.problem, Catch::Contains("inverse"));
    }
    SECTION("a row left unmatched") {
        s.a.row_of_col[at(s.a.col_of_row[2])] = -1;
        s.a.col_of_row[2] = -1;
        const lap::CertificateCheck check = lap::check_certificate(s.cost(), s.a, maximize);
        CHECK_FALSE(check.valid);
        CHECK_THAT(check.problem, Catch::Contains("not completely matched"));
    }
    SECTION("a column index out of range") {
        s.a.col_of_row[1] = 5;
        CHECK_FALSE(lap::check_certificate(s.cost(), s.a, maximize).valid);
    }
    SECTION("a matched pair that is forbidden") {
        s.data[static_cast<std::size_t>(3 * 5 + s.a.col_of_row[3])] = forbidden_value<double>(maximize);
        const lap::CertificateCheck check = lap::check_certificate(s.cost(), s.a, maximize);
        CHECK_FALSE(check.valid);
        CHECK_THAT(check.problem, Catch::Contains("forbidden"));
    }
    SECTION("an objective that is not the matched sum") {
        s.a.objective += 1.0;
        const lap::CertificateCheck check = lap::check_certificate(s.cost(), s.a, maximize);
        CHECK_FALSE(check.valid);
        CHECK_THAT(check.problem, Catch::Contains("objective"));
    }
    SECTION("the matching made worse by one entry, duals unchanged") {
        // Improve the cost of an unmatched pair beyond what the duals allow:
        // the certificate no longer proves this matching optimal.
        const std::size_t i = 0;
        const std::size_t j = at((s.a.col_of_row[i] + 1) % 5);
        const double better = maximize ? 1e3 : -1e3;
        s.data[i * 5 + j] = better;
        const lap::CertificateCheck check = lap::check_certificate(s.cost(), s.a, maximize);
        CHECK_FALSE(check.valid);
        CHECK_THAT(check.problem, Catch::Contains("negative reduced cost"));
    }
}

TEMPLATE_TEST_CASE(
    "check_certificate accepts solve_dense output on random tiny matrices checked by brute force",
    "[certificate][brute-force]", float, double) {
    // The certificate and the exhaustive search agree: whenever the
    // certificate passes, the objective is the brute-force optimum.
    const bool maximize = GENERATE(false, true);
    std::mt19937_64 rng(seed_for({maximize, sizeof(TestType), 103}));
    int checked = 0;
    for (int rows = 1; rows <= 5; ++rows)
        for (int cols = 1; cols <= 5; ++cols)
            for (int t = 0; t < 20; ++t) {
                const std::vector<TestType> data = random_costs<TestType>(
                    rng, rows, cols, t % 2 ? CostKind::tied_integers : CostKind::forbidden, maximize);
                const auto cost = view_of(data, rows, cols);
                const auto expected = saematch_test::brute_force(cost, maximize);
                if (!expected.feasible) continue;
                lap::SolveOptions options;
                options.maximize = maximize;
                const lap::Assignment a = lap::solve_dense(cost, options);
                const lap::CertificateCheck check = lap::check_certificate(cost, a, maximize);
                if (!check.valid ||
                    std::abs(a.objective - expected.objective) > 1e-9 * 11.0 * std::min(rows, cols)) {
                    INFO(saematch_test::describe(cost) << check.problem);
                    REQUIRE(check.valid);
                    REQUIRE(a.objective == Approx(expected.objective));
                }
                ++checked;
            }
    CHECK(checked >= 300);
}
