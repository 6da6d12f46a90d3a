// The sparse candidate path: solve on each row's best entries, then prove
// the result optimal for the full matrix. With one to three candidates per
// row almost every case needs the repair paths (stuck searches that get
// whole rows, certificate violations that add pairs, warm and cold restarts),
// so small matrices exercise all of them against brute force.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "saematch/detail/threads.hpp"
#include "saematch/lap/candidate_graph.hpp"
#include "saematch/lap/certificate.hpp"
#include "saematch/lap/solve_dense.hpp"
#include "saematch/lap/sparse_jv.hpp"
#include "support/brute_force.hpp"
#include "support/random_costs.hpp"

namespace lap = saematch::lap;
using namespace saematch_test;

namespace {

lap::SolveOptions sparse_options(bool maximize, int candidates) {
    lap::SolveOptions o;
    o.maximize = maximize;
    o.method = lap::SolveMethod::sparse;
    o.candidates_per_row = candidates;
    return o;
}

lap::SolveOptions dense_options(bool maximize) {
    lap::SolveOptions o;
    o.maximize = maximize;
    o.method = lap::SolveMethod::dense;
    return o;
}

}  // namespace

TEST_CASE("sparse method matches brute force on every shape up to 7x7, with 1 to 3 candidates per row") {
    const auto rows = GENERATE(range(1, 8));
    const auto cols = GENERATE(range(1, 8));
    const auto kind = GENERATE(CostKind::uniform, CostKind::tied_integers, CostKind::constant, CostKind::forbidden);
    const bool maximize = GENERATE(false, true);
    const int trials = rows * cols > 25 ? 12 : 30;
    for (int t = 0; t < trials; ++t) {
        std::mt19937_64 rng(seed_for({rows, cols, static_cast<int>(kind), maximize, t}));
        const auto data = random_costs<double>(rng, rows, cols, kind, maximize);
        const auto view = view_of(data, rows, cols);
        const int candidates = 1 + t % 3;
        const auto expected = brute_force(view, maximize);
        INFO(describe(view) << "candidates per row " << candidates << (maximize ? ", maximise" : ", minimise"));
        if (!expected.feasible) {
            REQUIRE_THROWS_AS(lap::solve_dense(view, sparse_options(maximize, candidates)), lap::InfeasibleCostError);
            continue;
        }
        const auto a = lap::solve_dense(view, sparse_options(maximize, candidates));
        REQUIRE(a.stats.used_sparse);
        REQUIRE(a.objective == Approx(expected.objective).margin(1e-9));
        const auto check = lap::check_certificate(view, a, maximize);
        INFO(check.problem);
        REQUIRE(check.valid);
    }
}

TEST_CASE("sparse and dense methods reach the same objective on medium random matrices") {
    const auto kind = GENERATE(CostKind::uniform, CostKind::tied_integers, CostKind::forbidden);
    const bool maximize = GENERATE(false, true);
    const auto shape = GENERATE(std::pair{60, 60}, std::pair{45, 80}, std::pair{80, 45}, std::pair{120, 120});
    for (int t = 0; t < 6; ++t) {
        std::mt19937_64 rng(seed_for({shape.first, shape.second, static_cast<int>(kind), maximize, t}));
        auto data = random_costs<double>(rng, shape.first, shape.second, kind, maximize);
        if (kind == CostKind::forbidden)  // keep it feasible: allow a random complete matching
            for (int i = 0; i < std::min(shape.first, shape.second); ++i)
                data[static_cast<std::size_t>(i * shape.second + (i * 7) % shape.second)] = static_cast<double>(i % 3);
        const auto view = view_of(data, shape.first, shape.second);
        const int candidates = 1 + t % 4;
        const auto dense = lap::solve_dense(view, dense_options(maximize));
        const auto sparse = lap::solve_dense(view, sparse_options(maximize, candidates));
        INFO("shape " << shape.first << "x" << shape.second << ", candidates " << candidates);
        REQUIRE(sparse.objective == Approx(dense.objective).epsilon(1e-12).margin(1e-9));
        REQUIRE(lap::check_certificate(view, sparse, maximize).valid);
    }
}

TEST_CASE("sparse method on SAE-like cosine matrices equals the dense method and certifies") {
    // Half of B are noisy copies of A's rows, half fresh: the structure the
    // sparse path is built for. float32 like real similarity matrices.
    const int n = GENERATE(300, 700);
    const int d = 32;
    std::mt19937_64 rng(seed_for({n, d}));
    std::normal_distribution<double> normal;
    std::vector<double> a(static_cast<std::size_t>(n * d)), b(a.size());
    for (double& x : a) x = normal(rng);
    for (int i = 0; i < n; ++i)
        for (int k = 0; k < d; ++k)
            b[static_cast<std::size_t>(((i * 31) % n) * d + k)] =
                i < n / 2 ? a[static_cast<std::size_t>(i * d + k)] + 0.4 * normal(rng) : normal(rng);
    auto normalise = [&](std::vector<double>& m) {
        for (int i = 0; i < n; ++i) {
            double s = 0;
            for (int k = 0; k < d; ++k) s += m[static_cast<std::size_t>(i * d + k)] * m[static_cast<std::size_t>(i * d + k)];
            for (int k = 0; k < d; ++k) m[static_cast<std::size_t>(i * d + k)] /= std::sqrt(s);
        }
    };
    normalise(a);
    normalise(b);
    std::vector<float> cosine(static_cast<std::size_t>(n * n));
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
            double s = 0;
            for (int k = 0; k < d; ++k) s += a[static_cast<std::size_t>(i * d + k)] * b[static_cast<std::size_t>(j * d + k)];
            cosine[static_cast<std::size_t>(i * n + j)] = static_cast<float>(s);
        }
    const auto view = lap::MatrixView<float>::row_major(cosine.data(), n, n);
    const auto dense = lap::solve_dense(view, dense_options(true));
    const auto sparse = lap::solve_dense(view, sparse_options(true, 8));
    REQUIRE(sparse.objective == Approx(dense.objective).epsilon(1e-12));
    REQUIRE(lap::check_certificate(view, sparse, true).valid);
    REQUIRE(sparse.stats.certificate_rounds >= 1);
}

TEST_CASE("sparse method gives identical results with 1 and 2 threads") {
    const saematch::detail::ParallelGrainOverride parallel(1);  // this small problem on both threads
    std::mt19937_64 rng(7);
    const auto data = random_costs<double>(rng, 400, 520, CostKind::tied_integers, false);
    const auto view = view_of(data, 400, 520);
    auto one = sparse_options(false, 4), two = sparse_options(false, 4);
    one.threads = 1;
    two.threads = 2;
    const auto a = lap::solve_dense(view, one), b = lap::solve_dense(view, two);
    REQUIRE(a.col_of_row == b.col_of_row);
    REQUIRE(a.row_duals == b.row_duals);
    REQUIRE(a.col_duals == b.col_duals);
}

TEST_CASE("sparse method reports invalid entries and infeasibility like the dense method") {
    std::vector<double> data(600 * 600, 1.0);
    const auto view = view_of(data, 600, 600);
    SECTION("NaN is named with its position") {
        data[123 * 600 + 45] = std::nan("");
        REQUIRE_THROWS_WITH(lap::solve_dense(view, sparse_options(false, 4)),
                            Catch::Contains("invalid numeric entries") && Catch::Contains("row 123, column 45"));
    }
    SECTION("+inf is invalid when maximising") {
        data[5] = std::numeric_limits<double>::infinity();
        REQUIRE_THROWS_AS(lap::solve_dense(view, sparse_options(true, 4)), lap::InvalidCostError);
    }
    SECTION("two rows that may only use the same column are infeasible") {
        for (int j = 1; j < 600; ++j) data[static_cast<std::size_t>(j)] = data[static_cast<std::size_t>(600 + j)] =
            std::numeric_limits<double>::infinity();
        REQUIRE_THROWS_WITH(lap::solve_dense(view, sparse_options(false, 4)), Catch::Contains("infeasible"));
    }
}

TEST_CASE("candidate graph merges new pairs and keeps existing costs") {
    lap::CandidateGraph g(3, 4);
    g.add({{0, 2, 1.0}, {2, 0, 5.0}, {0, 1, 2.0}});
    REQUIRE(g.edges() == 3);
    g.add({{0, 2, 9.0}, {1, 3, 4.0}});
    REQUIRE(g.edges() == 4);
    REQUIRE(g.end(0) - g.begin(0) == 2);
    REQUIRE(g.col(g.begin(0)) == 1);
    REQUIRE(g.cost(g.begin(0) + 1) == 1.0);  // (0, 2) kept its first cost
    REQUIRE(g.end(1) - g.begin(1) == 1);
    REQUIRE_THROWS_AS(g.add({{3, 0, 1.0}}), std::out_of_range);
}

TEST_CASE("sparse solver reports a search that cannot reach a free column, with the rows it reached") {
    // Rows 0 and 1 both list only column 0.
    lap::CandidateGraph g(2, 2);
    g.add({{0, 0, 1.0}, {1, 0, 2.0}});
    lap::detail::DualMatching matching(2, 2);
    lap::SolveStats stats;
    lap::SparseJonkerVolgenant jv(g, matching, stats);
    std::vector<std::int32_t> free_rows{0, 1};
    const auto stuck = jv.match(free_rows);
    REQUIRE(stuck.size() == 1);
    REQUIRE(stuck.front().reached_rows.size() == 2);
    REQUIRE(free_rows.size() == 1);
    REQUIRE(matching.col_of_row[static_cast<std::size_t>(matching.row_of_col[0])] == 0);
}

TEST_CASE("tie-heavy matrices (constant, duplicate rows) need no whole rows on the sparse path", "[sparse][ties]") {
    // Every row of a constant matrix lists k columns; were they the same k
    // for every row, all but k rows would need their whole row added (one
    // graph rebuild each: minutes at n = 1500). Rotated ties give every row
    // its own columns, so the first graph already holds a perfect matching.
    const std::int32_t n = GENERATE(7, 300, 1000);
    const double value = GENERATE(0.0, 1.0, -3.5);
    std::vector<double> c(static_cast<std::size_t>(n) * static_cast<std::size_t>(n), value);
    const auto view = lap::MatrixView<double>::row_major(c.data(), n, n);
    const auto a = lap::solve_dense(view, sparse_options(false, 16));
    CHECK(a.objective == value * n);
    CHECK(a.stats.candidate_pairs <= static_cast<std::int64_t>(n) * 16);
    CHECK(a.stats.certificate_rounds == 1);
    CHECK(lap::check_certificate(view, a, false).valid);
}

TEST_CASE("blocks of identical rows are solved in a few graph rounds, to the dense optimum", "[sparse][ties]") {
    // 600 x 600: 200 copies of one row plus random rows. The copies share
    // their candidates, so most of them get stuck together; reporting all
    // stuck rows of a pass at once grows the graph once, not 180 times.
    std::mt19937_64 rng(GENERATE(1u, 2u));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const std::int32_t n = 600;
    std::vector<double> c(static_cast<std::size_t>(n) * n);
    for (double& x : c) x = u(rng);
    for (std::int32_t i = 1; i < 200; ++i)
        std::copy(c.begin(), c.begin() + n, c.begin() + static_cast<std::ptrdiff_t>(i) * n);
    const auto view = lap::MatrixView<double>::row_major(c.data(), n, n);
    const auto sparse = lap::solve_dense(view, sparse_options(false, 8));
    const auto dense = lap::solve_dense(view, dense_options(false));
    CHECK(sparse.objective == Approx(dense.objective).epsilon(1e-12));
    CHECK(lap::check_certificate(view, sparse, false).valid);
    CHECK(sparse.stats.certificate_rounds <= 4);
}
