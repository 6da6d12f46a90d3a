// solve_dense against exhaustive search, across shapes, value kinds, senses
// and cost types, plus its contracts: thread-count independence, strided
// views, errors and numerically awkward inputs.
#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "saematch/lap/certificate.hpp"
#include "saematch/lap/solve_dense.hpp"
#include "support/brute_force.hpp"
#include "support/random_costs.hpp"

namespace lap = saematch::lap;
using saematch_test::brute_force;
using saematch_test::CostKind;
using saematch_test::describe;
using saematch_test::forbidden_value;
using saematch_test::random_costs;
using saematch_test::seed_for;
using saematch_test::view_of;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Matches an exception whose what() contains the given text.
class MessageContains : public Catch::MatcherBase<std::exception> {
public:
    explicit MessageContains(std::string text) : text_(std::move(text)) {}
    bool match(const std::exception& e) const override {
        return std::string(e.what()).find(text_) != std::string::npos;
    }
    std::string describe() const override { return "message contains \"" + text_ + "\""; }

private:
    std::string text_;
};

template <class T>
bool is_forbidden(T c, bool maximize) {
    return c == forbidden_value<T>(maximize);
}

// 1 + the largest finite |entry|: the scale of rounding errors in sums.
template <class T>
double cost_scale(lap::MatrixView<T> cost) {
    double scale = 1.0;
    for (std::ptrdiff_t i = 0; i < cost.rows; ++i)
        for (std::ptrdiff_t j = 0; j < cost.cols; ++j) {
            const double c = static_cast<double>(cost(i, j));
            if (std::isfinite(c)) scale = std::max(scale, 1.0 + std::abs(c));
        }
    return scale;
}

// The returned matching, recomputed from the matrix alone.
struct MatchingSummary {
    bool consistent = true;  // indices in range, row_of_col the inverse of col_of_row
    std::ptrdiff_t matched = 0;
    bool uses_forbidden = false;
    double total = 0.0;  // summed matched entries, row by row
};

template <class T>
MatchingSummary summarise(lap::MatrixView<T> cost, const lap::Assignment& a, bool maximize) {
    MatchingSummary s;
    if (static_cast<std::ptrdiff_t>(a.col_of_row.size()) != cost.rows ||
        static_cast<std::ptrdiff_t>(a.row_of_col.size()) != cost.cols) {
        s.consistent = false;
        return s;
    }
    std::vector<int> uses(static_cast<std::size_t>(cost.cols), 0);
    for (std::ptrdiff_t i = 0; i < cost.rows; ++i) {
        const std::int64_t j = a.col_of_row[static_cast<std::size_t>(i)];
        if (j < 0) continue;
        if (j >= cost.cols || a.row_of_col[static_cast<std::size_t>(j)] != i ||
            ++uses[static_cast<std::size_t>(j)] > 1) {
            s.consistent = false;
            continue;
        }
        ++s.matched;
        const T c = cost(i, static_cast<std::ptrdiff_t>(j));
        s.uses_forbidden |= is_forbidden(c, maximize);
        s.total += static_cast<double>(c);
    }
    for (std::ptrdiff_t j = 0; j < cost.cols; ++j) {
        const std::int64_t i = a.row_of_col[static_cast<std::size_t>(j)];
        if (i >= cost.rows || (i >= 0 && a.col_of_row[static_cast<std::size_t>(i)] != j))
            s.consistent = false;
    }
    return s;
}

// The solver's answer is a complete matching of the smaller side over
// allowed pairs, its matched entries sum to its objective, the objective is
// `expected` (to 1e-9 relative to the largest entry), and check_certificate
// accepts its duals.
template <class T>
void require_optimal(lap::MatrixView<T> cost, const lap::Assignment& a, bool maximize, double expected,
                     bool check_duals = true) {
    const MatchingSummary m = summarise(cost, a, maximize);
    const double tol = 1e-9 * cost_scale(cost) *
                       static_cast<double>(std::max<std::ptrdiff_t>(1, std::min(cost.rows, cost.cols)));
    INFO("objective " << a.objective << ", expected " << expected << ", matched sum " << m.total);
    REQUIRE(m.consistent);
    REQUIRE(m.matched == std::min(cost.rows, cost.cols));
    REQUIRE_FALSE(m.uses_forbidden);
    REQUIRE(std::abs(a.objective - expected) <= tol);
    REQUIRE(std::abs(m.total - a.objective) <= tol);
    if (!check_duals) return;
    const lap::CertificateCheck check = lap::check_certificate(cost, a, maximize);
    INFO("certificate: " << check.problem << " (worst violation " << check.worst_violation << ")");
    REQUIRE(check.valid);
}

template <class T>
void require_matches_brute_force(lap::MatrixView<T> cost, bool maximize, bool check_duals = true) {
    lap::SolveOptions options;
    options.maximize = maximize;
    const saematch_test::BruteForceResult expected = brute_force(cost, maximize);
    if (!expected.feasible) {
        REQUIRE_THROWS_AS(lap::solve_dense(cost, options), lap::InfeasibleCostError);
        return;
    }
    require_optimal(cost, lap::solve_dense(cost, options), maximize, expected.objective, check_duals);
}

template <class T>
std::vector<T> to_vector(std::initializer_list<double> values) {
    std::vector<T> out;
    for (double v : values) out.push_back(static_cast<T>(v));
    return out;
}

std::vector<std::uint64_t> bits_of(const std::vector<double>& xs) {
    std::vector<std::uint64_t> out;
    out.reserve(xs.size());
    for (double x : xs) out.push_back(std::bit_cast<std::uint64_t>(x));
    return out;
}

// The sum of `weights` over the matched pairs of `a`.
std::int64_t matched_weight(const std::vector<int>& weights, std::ptrdiff_t cols, const lap::Assignment& a) {
    std::int64_t total = 0;
    for (std::size_t i = 0; i < a.col_of_row.size(); ++i)
        if (a.col_of_row[i] >= 0)
            total += weights[i * static_cast<std::size_t>(cols) + static_cast<std::size_t>(a.col_of_row[i])];
    return total;
}

}  // namespace

// ---------------------------------------------------------------------------
// Exhaustive comparison

TEMPLATE_TEST_CASE("solve_dense matches brute force on every shape up to 8x8", "[dense][brute-force]", float,
                   double) {
    const int rows = GENERATE(range(1, 9));
    const int cols = GENERATE(range(1, 9));
    const CostKind kind =
        GENERATE(CostKind::uniform, CostKind::tied_integers, CostKind::constant, CostKind::forbidden);
    const bool maximize = GENERATE(false, true);
    CAPTURE(rows, cols, saematch_test::kind_name(kind), maximize);

    // Many trials for small shapes, fewer as the permutations multiply
    // (8x8 has 40320 of them).
    const std::int64_t trials =
        std::clamp<std::int64_t>(300000 / saematch_test::injective_maps(rows, cols), 6, 150);
    std::mt19937_64 rng(seed_for({rows, cols, static_cast<int>(kind), maximize, sizeof(TestType)}));
    lap::SolveOptions options;
    options.maximize = maximize;
    std::int64_t solved = 0;
    for (std::int64_t t = 0; t < trials; ++t) {
        const std::vector<TestType> data = random_costs<TestType>(rng, rows, cols, kind, maximize);
        const auto cost = view_of(data, rows, cols);
        const saematch_test::BruteForceResult expected = brute_force(cost, maximize);
        if (!expected.feasible) {
            INFO("trial " << t << ": " << describe(cost));
            REQUIRE(kind == CostKind::forbidden);
            REQUIRE_THROWS_AS(lap::solve_dense(cost, options), lap::InfeasibleCostError);
            continue;
        }
        const lap::Assignment a = lap::solve_dense(cost, options);
        const MatchingSummary m = summarise(cost, a, maximize);
        const double tol = 1e-9 * cost_scale(cost) * std::min(rows, cols);
        const bool ok = m.consistent && m.matched == std::min(rows, cols) && !m.uses_forbidden &&
                        std::abs(a.objective - expected.objective) <= tol &&
                        std::abs(m.total - a.objective) <= tol &&
                        lap::check_certificate(cost, a, maximize).valid;
        // Formatting every matrix would dominate the run time: the failing
        // one is printed, with the individual conditions.
        if (!ok) {
            INFO("trial " << t << ": " << describe(cost));
            require_optimal(cost, a, maximize, expected.objective);
        }
        CHECK(ok);
        ++solved;
    }
    if (kind != CostKind::forbidden) CHECK(solved == trials);
}

TEMPLATE_TEST_CASE(
    "solve_dense throws InfeasibleCostError exactly when brute force finds no complete matching",
    "[dense][brute-force][infeasible]", float, double) {
    const bool maximize = GENERATE(false, true);
    std::mt19937_64 rng(seed_for({17, maximize, sizeof(TestType)}));
    lap::SolveOptions options;
    options.maximize = maximize;
    std::int64_t feasible = 0, infeasible = 0;
    for (int rows = 1; rows <= 6; ++rows) {
        for (int cols = 1; cols <= 6; ++cols) {
            for (int t = 0; t < 40; ++t) {
                // Dense forbidden patterns: about half of these have no
                // complete matching, often without an all-forbidden line.
                const double share = std::uniform_real_distribution<double>(0.3, 0.8)(rng);
                std::bernoulli_distribution forbid(share);
                std::vector<TestType> data(static_cast<std::size_t>(rows * cols));
                for (TestType& c : data)
                    c = forbid(rng) ? forbidden_value<TestType>(maximize)
                                    : static_cast<TestType>(std::uniform_int_distribution<int>(-3, 3)(rng));
                const auto cost = view_of(data, rows, cols);
                const saematch_test::BruteForceResult expected = brute_force(cost, maximize);
                if (expected.feasible) {
                    const lap::Assignment a = lap::solve_dense(cost, options);
                    const bool ok = std::abs(a.objective - expected.objective) <= 1e-9 &&
                                    lap::check_certificate(cost, a, maximize).valid;
                    if (!ok) {
                        INFO(describe(cost));
                        require_optimal(cost, a, maximize, expected.objective);
                    }
                    CHECK(ok);
                    ++feasible;
                } else {
                    bool threw_infeasible = false;
                    std::string message;
                    try {
                        (void)lap::solve_dense(cost, options);
                    } catch (const lap::InfeasibleCostError& e) {
                        threw_infeasible = true;
                        message = e.what();
                    }
                    if (!threw_infeasible || message.find("infeasible") == std::string::npos) {
                        INFO(describe(cost) << "message: " << message);
                        REQUIRE(threw_infeasible);
                        REQUIRE_THAT(message, Catch::Contains("infeasible"));
                    }
                    ++infeasible;
                }
            }
        }
    }
    // Both outcomes were exercised many times.
    CHECK(feasible >= 300);
    CHECK(infeasible >= 300);
}

// ---------------------------------------------------------------------------
// Threads

namespace {

enum class ThreadCase { uniform, tied, line_distance, forbidden_line, forbidden_tied, infeasible };

template <class T>
std::vector<T> thread_case_costs(ThreadCase which, int rows, int cols, bool maximize) {
    std::mt19937_64 rng(seed_for({rows, cols, static_cast<int>(which), maximize, sizeof(T), 5}));
    switch (which) {
        case ThreadCase::uniform:
            return random_costs<T>(rng, rows, cols, CostKind::uniform, maximize);
        case ThreadCase::tied:
            return random_costs<T>(rng, rows, cols, CostKind::tied_integers, maximize);
        case ThreadCase::line_distance:
            return saematch_test::line_distance_costs<T>(rng, rows, cols);
        case ThreadCase::forbidden_line:
        case ThreadCase::forbidden_tied: {
            // A third of the pairs forbidden (still feasible at the large
            // sizes).
            auto data = which == ThreadCase::forbidden_line
                            ? saematch_test::line_distance_costs<T>(rng, rows, cols)
                            : random_costs<T>(rng, rows, cols, CostKind::tied_integers, maximize);
            std::bernoulli_distribution forbid(1.0 / 3.0);
            for (T& c : data)
                if (forbid(rng)) c = forbidden_value<T>(maximize);
            return data;
        }
        case ThreadCase::infeasible: {
            // Rows 0 and 1 may only use column 0: found late, by a search.
            auto data = random_costs<T>(rng, rows, cols, CostKind::uniform, maximize);
            for (int i = 0; i < std::min(2, rows); ++i)
                for (int j = 1; j < cols; ++j)
                    data[static_cast<std::size_t>(i * cols + j)] = forbidden_value<T>(maximize);
            return data;
        }
    }
    return {};
}

// Solves serially and with `threads` threads on the OpenMP path and
// requires identical results, bit for bit (or InfeasibleCostError from both).
template <class T>
void require_thread_independent(ThreadCase which, int rows, int cols, bool maximize, int threads,
                                bool large) {
    const std::vector<T> data = thread_case_costs<T>(which, rows, cols, maximize);
    const auto cost = view_of(data, rows, cols);
    lap::SolveOptions options;
    options.maximize = maximize;
    options.parallel_min_cols = 1;  // every scan takes the OpenMP path when threads > 1
    options.threads = 1;
    // The large matrices are feasible by construction, except
    // ThreadCase::infeasible; small ones are checked by brute force.
    const bool feasible = large ? which != ThreadCase::infeasible : brute_force(cost, maximize).feasible;
    if (!feasible) {
        REQUIRE_THROWS_AS(lap::solve_dense(cost, options), lap::InfeasibleCostError);
        options.threads = threads;
        REQUIRE_THROWS_AS(lap::solve_dense(cost, options), lap::InfeasibleCostError);
        return;
    }
    const lap::Assignment serial = lap::solve_dense(cost, options);
    {
        const lap::CertificateCheck check = lap::check_certificate(cost, serial, maximize);
        INFO(check.problem);
        REQUIRE(check.valid);
    }
    // Apart from the uniform cases (which the cheap initial phases finish
    // alone), the shortest-path phase, the part that runs on threads, has
    // work to do.
    if (large && which != ThreadCase::uniform) REQUIRE(serial.stats.shortest_path_rows > 0);

    options.threads = threads;
    const lap::Assignment parallel = lap::solve_dense(cost, options);
    REQUIRE(parallel.col_of_row == serial.col_of_row);
    REQUIRE(parallel.row_of_col == serial.row_of_col);
    REQUIRE(bits_of(parallel.row_duals) == bits_of(serial.row_duals));
    REQUIRE(bits_of(parallel.col_duals) == bits_of(serial.col_duals));
    REQUIRE(std::bit_cast<std::uint64_t>(parallel.objective) ==
            std::bit_cast<std::uint64_t>(serial.objective));
    REQUIRE(parallel.stats.shortest_path_rows == serial.stats.shortest_path_rows);
}

}  // namespace

// float and double share one test case: two OpenMP solvers side by side
// under `ctest -j2` would oversubscribe the cores and make every barrier slow.
TEST_CASE("solve_dense gives the same matching and bitwise-identical duals for every thread count",
          "[dense][threads]") {
#ifndef _OPENMP
    WARN("built without OpenMP: every thread count runs serially");
#endif
    // Few Dijkstra steps in all (each one is a barrier), but every kind of
    // step: long augmenting paths, ties between thread blocks, forbidden
    // pairs, infeasibility, rectangular both ways.
    const auto [rows, cols, which, maximize] = GENERATE(table<int, int, ThreadCase, bool>({
        {300, 300, ThreadCase::uniform, false},
        {300, 300, ThreadCase::uniform, true},
        {257, 400, ThreadCase::uniform, false},
        {257, 400, ThreadCase::uniform, true},
        {300, 300, ThreadCase::tied, false},
        {257, 400, ThreadCase::tied, true},
        {257, 400, ThreadCase::line_distance, false},
        {400, 257, ThreadCase::line_distance, false},
        {257, 400, ThreadCase::forbidden_line, false},
        {400, 257, ThreadCase::forbidden_line, false},
        {300, 300, ThreadCase::forbidden_tied, true},
        {300, 300, ThreadCase::infeasible, false},
    }));
    CAPTURE(rows, cols, static_cast<int>(which), maximize);
    SECTION("double, 2 threads") {
        require_thread_independent<double>(which, rows, cols, maximize, 2, true);
    }
    SECTION("float, 2 threads") {
        require_thread_independent<float>(which, rows, cols, maximize, 2, true);
    }
    SECTION("tiny matrices of the same kind, 3 threads: some threads get no columns") {
        for (int n = 1; n <= 4; ++n) {
            CAPTURE(n);
            require_thread_independent<double>(which, n, n + 1, maximize, 3, false);
            require_thread_independent<double>(which, n + 1, n, maximize, 3, false);
        }
    }
}

// ---------------------------------------------------------------------------
// Strided views

namespace {

// Solves `view` (strided, read in place) and `copy` (the same matrix stored
// contiguously) and requires the same answer.
template <class T>
void require_same_as_copy(lap::MatrixView<T> view, const std::vector<T>& copy, bool maximize) {
    REQUIRE(static_cast<std::ptrdiff_t>(copy.size()) == view.rows * view.cols);
    const auto contiguous = view_of(copy, view.rows, view.cols);
    for (std::ptrdiff_t i = 0; i < view.rows; ++i)
        for (std::ptrdiff_t j = 0; j < view.cols; ++j) REQUIRE(view(i, j) == contiguous(i, j));

    lap::SolveOptions options;
    options.maximize = maximize;
    const lap::Assignment strided = lap::solve_dense(view, options);
    const lap::Assignment reference = lap::solve_dense(contiguous, options);
    REQUIRE(strided.objective == reference.objective);
    REQUIRE(strided.col_of_row == reference.col_of_row);
    REQUIRE(strided.row_of_col == reference.row_of_col);
    const lap::CertificateCheck check = lap::check_certificate(view, strided, maximize);
    INFO(check.problem);
    REQUIRE(check.valid);
    if (view.rows <= 8 && view.cols <= 8)
        require_optimal(view, strided, maximize, brute_force(view, maximize).objective);
}

}  // namespace

TEMPLATE_TEST_CASE("solve_dense reads strided views in place and agrees with a contiguous copy",
                   "[dense][views]", float, double) {
    using T = TestType;
    const auto [rows, cols] =
        GENERATE(table<int, int>({{5, 5}, {4, 7}, {7, 4}, {1, 6}, {6, 1}, {40, 55}, {55, 40}}));
    const bool maximize = GENERATE(false, true);
    CAPTURE(rows, cols, maximize);
    std::mt19937_64 rng(seed_for({rows, cols, maximize, sizeof(T), 11}));
    const std::vector<T> stored = random_costs<T>(rng, rows, cols, CostKind::uniform, maximize);
    const auto at = [&](std::ptrdiff_t i, std::ptrdiff_t j) {
        return stored[static_cast<std::size_t>(i * cols + j)];
    };

    SECTION("a transposed view of a row-major matrix") {
        const auto view = view_of(stored, rows, cols).transposed();
        REQUIRE(view.rows == cols);
        REQUIRE(view.cols == rows);
        std::vector<T> copy;
        for (int j = 0; j < cols; ++j)
            for (int i = 0; i < rows; ++i) copy.push_back(at(i, j));
        require_same_as_copy(view, copy, maximize);
    }
    SECTION("every second column of rows padded with NaN") {
        // The NaN padding would be rejected if the solver ever read it.
        const std::ptrdiff_t row_stride = 2 * cols + 3;
        std::vector<T> buffer(static_cast<std::size_t>(rows * row_stride), static_cast<T>(kNaN));
        for (int i = 0; i < rows; ++i)
            for (int j = 0; j < cols; ++j)
                buffer[static_cast<std::size_t>(i * row_stride + 2 * j)] = at(i, j);
        const lap::MatrixView<T> view{buffer.data(), rows, cols, row_stride, 2};
        require_same_as_copy(view, stored, maximize);
        SECTION("and its transpose") {
            std::vector<T> copy;
            for (int j = 0; j < cols; ++j)
                for (int i = 0; i < rows; ++i) copy.push_back(at(i, j));
            require_same_as_copy(view.transposed(), copy, maximize);
        }
    }
    SECTION("rows padded with NaN, columns contiguous") {
        const std::ptrdiff_t row_stride = cols + 5;
        std::vector<T> buffer(static_cast<std::size_t>(rows * row_stride), static_cast<T>(kNaN));
        for (int i = 0; i < rows; ++i)
            for (int j = 0; j < cols; ++j) buffer[static_cast<std::size_t>(i * row_stride + j)] = at(i, j);
        const lap::MatrixView<T> view{buffer.data(), rows, cols, row_stride, 1};
        require_same_as_copy(view, stored, maximize);
    }
    SECTION("negative strides: both axes reversed") {
        const lap::MatrixView<T> view{stored.data() + (rows * cols - 1), rows, cols, -cols, -1};
        std::vector<T> copy;
        for (int i = rows - 1; i >= 0; --i)
            for (int j = cols - 1; j >= 0; --j) copy.push_back(at(i, j));
        require_same_as_copy(view, copy, maximize);
    }
    SECTION("negative row stride: rows reversed, columns contiguous") {
        const lap::MatrixView<T> view{stored.data() + (rows - 1) * cols, rows, cols, -cols, 1};
        std::vector<T> copy;
        for (int i = rows - 1; i >= 0; --i)
            for (int j = 0; j < cols; ++j) copy.push_back(at(i, j));
        require_same_as_copy(view, copy, maximize);
    }
}

// ---------------------------------------------------------------------------
// Shapes

TEMPLATE_TEST_CASE("solve_dense returns an empty matching with objective 0 for empty shapes", "[dense][edge]",
                   float, double) {
    const auto [rows, cols] = GENERATE(table<int, int>({{0, 0}, {0, 5}, {5, 0}}));
    const bool maximize = GENERATE(false, true);
    CAPTURE(rows, cols, maximize);
    const std::vector<TestType> data(1, static_cast<TestType>(kNaN));  // never read
    const lap::MatrixView<TestType> cost{data.data(), rows, cols, cols, 1};
    lap::SolveOptions options;
    options.maximize = maximize;
    const lap::Assignment a = lap::solve_dense(cost, options);
    CHECK(a.objective == 0.0);
    CHECK(a.col_of_row == std::vector<std::int64_t>(static_cast<std::size_t>(rows), -1));
    CHECK(a.row_of_col == std::vector<std::int64_t>(static_cast<std::size_t>(cols), -1));
    CHECK(a.row_duals == std::vector<double>(static_cast<std::size_t>(rows), 0.0));
    CHECK(a.col_duals == std::vector<double>(static_cast<std::size_t>(cols), 0.0));
    CHECK(lap::check_certificate(cost, a, maximize).valid);
}

TEMPLATE_TEST_CASE("solve_dense picks the best entry of a single row or column", "[dense][edge]", float,
                   double) {
    using T = TestType;
    const int n = GENERATE(1, 2, 3, 9, 64, 301);
    const bool column = GENERATE(false, true);
    const bool maximize = GENERATE(false, true);
    CAPTURE(n, column, maximize);
    std::mt19937_64 rng(seed_for({n, column, maximize, sizeof(T), 23}));
    std::vector<T> data = random_costs<T>(rng, 1, n, CostKind::uniform, maximize);
    // Forbid the best entry to make sure it is skipped (when there are others).
    const auto best_of = [&] {
        std::size_t best = 0;
        for (std::size_t k = 1; k < data.size(); ++k)
            if (maximize ? data[k] > data[best] : data[k] < data[best]) best = k;
        return best;
    };
    SECTION("all entries allowed") {}
    SECTION("the best entry forbidden") {
        if (n > 1) data[best_of()] = forbidden_value<T>(maximize);
    }
    const std::size_t best = best_of();
    const auto cost = column ? lap::MatrixView<T>::row_major(data.data(), n, 1)
                             : lap::MatrixView<T>::row_major(data.data(), 1, n);
    lap::SolveOptions options;
    options.maximize = maximize;
    const lap::Assignment a = lap::solve_dense(cost, options);
    if (column) {
        REQUIRE(a.row_of_col == std::vector<std::int64_t>{static_cast<std::int64_t>(best)});
        REQUIRE(a.col_of_row[best] == 0);
        REQUIRE(std::count(a.col_of_row.begin(), a.col_of_row.end(), -1) == n - 1);
    } else {
        REQUIRE(a.col_of_row == std::vector<std::int64_t>{static_cast<std::int64_t>(best)});
        REQUIRE(a.row_of_col[best] == 0);
        REQUIRE(std::count(a.row_of_col.begin(), a.row_of_col.end(), -1) == n - 1);
    }
    REQUIRE(a.objective == static_cast<double>(data[best]));
    require_optimal(cost, a, maximize, brute_force(cost, maximize).objective);
}

TEMPLATE_TEST_CASE("solve_dense finds the diagonal of identity-like matrices", "[dense][edge]", float,
                   double) {
    using T = TestType;
    const int n = GENERATE(1, 2, 7, 64, 150);
    const bool maximize = GENERATE(false, true);
    CAPTURE(n, maximize);
    SECTION("0 on the diagonal, 1 elsewhere (1 and 0 when maximising)") {
        std::vector<T> data(static_cast<std::size_t>(n * n));
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j)
                data[static_cast<std::size_t>(i * n + j)] = (i == j) == maximize ? T(1) : T(0);
        lap::SolveOptions options;
        options.maximize = maximize;
        const auto cost = view_of(data, n, n);
        const lap::Assignment a = lap::solve_dense(cost, options);
        std::vector<std::int64_t> identity(static_cast<std::size_t>(n));
        std::iota(identity.begin(), identity.end(), 0);
        REQUIRE(a.col_of_row == identity);
        REQUIRE(a.row_of_col == identity);
        require_optimal(cost, a, maximize, maximize ? n : 0.0);
    }
    SECTION("a permuted diagonal of small values among large ones, square and with extra columns") {
        const int extra = GENERATE(0, 3);
        const int cols = n + extra;
        std::mt19937_64 rng(seed_for({n, maximize, extra, sizeof(T), 29}));
        std::vector<int> perm(static_cast<std::size_t>(cols));
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
        // Diagonal entries in [0, 1), the rest in [n, 2n]: any other matching
        // costs at least 2n > n. Maximising, the signs flip.
        std::uniform_real_distribution<double> small(0.0, 1.0), large(n, 2.0 * n);
        const double sign = maximize ? -1.0 : 1.0;
        std::vector<T> data(static_cast<std::size_t>(n * cols));
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < cols; ++j)
                data[static_cast<std::size_t>(i * cols + j)] =
                    static_cast<T>(sign * (perm[static_cast<std::size_t>(i)] == j ? small(rng) : large(rng)));
        lap::SolveOptions options;
        options.maximize = maximize;
        for (const bool transpose : {false, true}) {
            CAPTURE(transpose);
            const auto cost = transpose ? view_of(data, n, cols).transposed() : view_of(data, n, cols);
            const lap::Assignment a = lap::solve_dense(cost, options);
            double expected = 0.0;
            for (int i = 0; i < n; ++i) {
                const auto p = static_cast<std::int64_t>(perm[static_cast<std::size_t>(i)]);
                if (transpose) {
                    REQUIRE(a.row_of_col[static_cast<std::size_t>(i)] == p);
                    expected += static_cast<double>(cost(p, i));
                } else {
                    REQUIRE(a.col_of_row[static_cast<std::size_t>(i)] == p);
                    expected += static_cast<double>(cost(i, p));
                }
            }
            require_optimal(cost, a, maximize, expected);
        }
    }
}

TEST_CASE("solve_dense solves a constant 200x200 matrix quickly and correctly", "[dense][edge][ties]") {
    const bool maximize = GENERATE(false, true);
    const int n = 200;
    const std::vector<double> data(static_cast<std::size_t>(n * n), 3.5);
    const auto cost = view_of(data, n, n);
    lap::SolveOptions options;
    options.maximize = maximize;
    const auto start = std::chrono::steady_clock::now();
    const lap::Assignment a = lap::solve_dense(cost, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    require_optimal(cost, a, maximize, 3.5 * n);
    REQUIRE(a.objective == 3.5 * n);
    // Every tie is optimal: each shortest-path search should stop at its
    // first free column instead of exploring the ties.
    CHECK(a.stats.shortest_path_rows <= n);
    CHECK(seconds < 2.0);
}

// ---------------------------------------------------------------------------
// Forbidden pairs and infeasibility

TEMPLATE_TEST_CASE("solve_dense rejects an all-forbidden line of the smaller side as infeasible",
                   "[dense][infeasible]", float, double) {
    using T = TestType;
    const bool maximize = GENERATE(false, true);
    const T no = forbidden_value<T>(maximize);
    lap::SolveOptions options;
    options.maximize = maximize;
    SECTION("square, a forbidden row") {
        const auto data = std::vector<T>{1, 2, 3, 4, no, no, no, no, 5, 6, 7, 8, 9, 1, 2, 3};
        REQUIRE_THROWS_MATCHES(lap::solve_dense(view_of(data, 4, 4), options), lap::InfeasibleCostError,
                               MessageContains("infeasible"));
        CHECK_THROWS_MATCHES(lap::solve_dense(view_of(data, 4, 4), options), lap::InfeasibleCostError,
                             MessageContains("row 1"));
    }
    SECTION("square, a forbidden column") {
        const auto data = std::vector<T>{1, no, 3, 4, 5, no, 7, 8, 9, no, 2, 3, 4, no, 6, 7};
        REQUIRE_THROWS_MATCHES(lap::solve_dense(view_of(data, 4, 4), options), lap::InfeasibleCostError,
                               MessageContains("infeasible"));
        CHECK_THROWS_MATCHES(lap::solve_dense(view_of(data, 4, 4), options), lap::InfeasibleCostError,
                             MessageContains("column 1"));
    }
    SECTION("wide, a forbidden row") {
        const auto data = std::vector<T>{1, 2, 3, 4, 5, no, no, no, no, no, 6, 7, 8, 9, 1};
        REQUIRE_THROWS_MATCHES(lap::solve_dense(view_of(data, 3, 5), options), lap::InfeasibleCostError,
                               MessageContains("infeasible"));
        CHECK_THROWS_MATCHES(lap::solve_dense(view_of(data, 3, 5), options), lap::InfeasibleCostError,
                             MessageContains("row 1"));
    }
    SECTION("tall, a forbidden column") {
        const auto data = std::vector<T>{1, no, 3, 4, no, 6, 7, no, 9, 1, no, 2, 3, no, 4};
        REQUIRE_THROWS_MATCHES(lap::solve_dense(view_of(data, 5, 3), options), lap::InfeasibleCostError,
                               MessageContains("infeasible"));
        // Solved transposed internally; the message names the caller's line.
        CHECK_THROWS_MATCHES(lap::solve_dense(view_of(data, 5, 3), options), lap::InfeasibleCostError,
                             MessageContains("column 1"));
    }
}

TEMPLATE_TEST_CASE("solve_dense leaves an all-forbidden line of the larger side unmatched",
                   "[dense][forbidden]", float, double) {
    using T = TestType;
    const bool maximize = GENERATE(false, true);
    const T no = forbidden_value<T>(maximize);
    lap::SolveOptions options;
    options.maximize = maximize;
    SECTION("wide, a forbidden column") {
        const auto data = std::vector<T>{1, no, 3, 4, 5, 6, no, 8, 9, 1, 2, no, 4, 5, 6};
        const auto cost = view_of(data, 3, 5);
        const lap::Assignment a = lap::solve_dense(cost, options);
        REQUIRE(a.row_of_col[1] == -1);
        require_optimal(cost, a, maximize, brute_force(cost, maximize).objective);
    }
    SECTION("tall, a forbidden row") {
        const auto data = std::vector<T>{1, 2, 3, no, no, no, 4, 5, 6, 7, 8, 9, 1, 2, 3};
        const auto cost = view_of(data, 5, 3);
        const lap::Assignment a = lap::solve_dense(cost, options);
        REQUIRE(a.col_of_row[1] == -1);
        require_optimal(cost, a, maximize, brute_force(cost, maximize).objective);
    }
}

TEMPLATE_TEST_CASE("solve_dense rejects forbidden patterns that leave no complete matching",
                   "[dense][infeasible]", float, double) {
    using T = TestType;
    const bool maximize = GENERATE(false, true);
    const T no = forbidden_value<T>(maximize);
    lap::SolveOptions options;
    options.maximize = maximize;
    // Every row and column has an allowed entry, yet two rows compete for
    // one column (Hall's condition fails).
    SECTION("3x3: rows 0 and 1 can only use column 0") {
        const auto data = std::vector<T>{1, no, no, 2, no, no, 3, 4, 5};
        const auto cost = view_of(data, 3, 3);
        REQUIRE_FALSE(brute_force(cost, maximize).feasible);
        REQUIRE_THROWS_MATCHES(lap::solve_dense(cost, options), lap::InfeasibleCostError,
                               MessageContains("infeasible"));
        REQUIRE_THROWS_MATCHES(lap::solve_dense(cost.transposed(), options), lap::InfeasibleCostError,
                               MessageContains("infeasible"));
    }
    SECTION("4x6: rows 0-2 share columns 0 and 1") {
        std::vector<T> data(24, T(1));
        for (int i = 0; i < 3; ++i)
            for (int j = 2; j < 6; ++j) data[static_cast<std::size_t>(i * 6 + j)] = no;
        const auto cost = view_of(data, 4, 6);
        REQUIRE_FALSE(brute_force(cost, maximize).feasible);
        REQUIRE_THROWS_MATCHES(lap::solve_dense(cost, options), lap::InfeasibleCostError,
                               MessageContains("infeasible"));
        REQUIRE_THROWS_MATCHES(lap::solve_dense(cost.transposed(), options), lap::InfeasibleCostError,
                               MessageContains("infeasible"));
    }
}

TEMPLATE_TEST_CASE("solve_dense accepts forbidden-sign infinities and avoids them", "[dense][forbidden]",
                   float, double) {
    using T = TestType;
    const bool maximize = GENERATE(false, true);
    const T no = forbidden_value<T>(maximize);  // +inf when minimising, -inf when maximising
    lap::SolveOptions options;
    options.maximize = maximize;
    // The unconstrained optimum would use (0, 0) whichever the sense.
    const T good = maximize ? T(100) : T(-100);
    const auto data = std::vector<T>{good, no, 2, 3, no, 5, 6, 7, 8};
    const auto cost = view_of(data, 3, 3);
    const lap::Assignment a = lap::solve_dense(cost, options);
    REQUIRE(a.col_of_row[0] == 0);
    REQUIRE(a.col_of_row[1] != 1);
    require_optimal(cost, a, maximize, brute_force(cost, maximize).objective);
    SECTION("forbidding the best pair moves the matching") {
        auto blocked = data;
        blocked[0] = no;
        const auto blocked_cost = view_of(blocked, 3, 3);
        const lap::Assignment b = lap::solve_dense(blocked_cost, options);
        REQUIRE(b.col_of_row[0] != 0);
        require_optimal(blocked_cost, b, maximize, brute_force(blocked_cost, maximize).objective);
    }
}

// ---------------------------------------------------------------------------
// Invalid entries

TEMPLATE_TEST_CASE("solve_dense rejects NaN with InvalidCostError naming its row and column",
                   "[dense][invalid]", float, double) {
    using T = TestType;
    const bool maximize = GENERATE(false, true);
    lap::SolveOptions options;
    options.maximize = maximize;
    SECTION("wide") {
        auto data = to_vector<T>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
        data[1 * 4 + 2] = static_cast<T>(kNaN);
        REQUIRE_THROWS_MATCHES(lap::solve_dense(view_of(data, 3, 4), options), lap::InvalidCostError,
                               MessageContains("invalid numeric entries"));
        REQUIRE_THROWS_MATCHES(lap::solve_dense(view_of(data, 3, 4), options), lap::InvalidCostError,
                               MessageContains("row 1, column 2"));
    }
    SECTION("tall (solved transposed internally): positions refer to the caller's matrix") {
        auto data = to_vector<T>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
        data[4 * 3 + 1] = static_cast<T>(kNaN);
        REQUIRE_THROWS_MATCHES(lap::solve_dense(view_of(data, 5, 3), options), lap::InvalidCostError,
                               MessageContains("row 4, column 1"));
    }
    SECTION("NaN beside a forbidden entry") {
        auto data = to_vector<T>({1, 2, 3, 4});
        data[0] = forbidden_value<T>(maximize);
        data[3] = static_cast<T>(kNaN);
        REQUIRE_THROWS_MATCHES(lap::solve_dense(view_of(data, 2, 2), options), lap::InvalidCostError,
                               MessageContains("NaN at row 1, column 1"));
    }
    SECTION("InvalidCostError is a std::invalid_argument") {
        auto data = to_vector<T>({kNaN});
        REQUIRE_THROWS_AS(lap::solve_dense(view_of(data, 1, 1), options), std::invalid_argument);
    }
}

TEMPLATE_TEST_CASE("solve_dense rejects infinities of the wrong sign with InvalidCostError",
                   "[dense][invalid]", float, double) {
    using T = TestType;
    const T inf = std::numeric_limits<T>::infinity();
    auto data = to_vector<T>({1, 2, 3, 4, 5, 6});
    lap::SolveOptions options;
    SECTION("-inf when minimising") {
        data[0 * 3 + 1] = -inf;
        REQUIRE_THROWS_MATCHES(lap::solve_dense(view_of(data, 2, 3), options), lap::InvalidCostError,
                               MessageContains("invalid numeric entries: -inf at row 0, column 1"));
    }
    SECTION("+inf when maximising") {
        options.maximize = true;
        data[1 * 3 + 2] = inf;
        REQUIRE_THROWS_MATCHES(lap::solve_dense(view_of(data, 2, 3), options), lap::InvalidCostError,
                               MessageContains("invalid numeric entries: +inf at row 1, column 2"));
    }
    SECTION("the wrong-sign infinity is rejected even in an otherwise infeasible matrix") {
        data = {inf, inf, inf, -inf, 1, 2};
        REQUIRE_THROWS_AS(lap::solve_dense(view_of(data, 2, 3), options), lap::InvalidCostError);
    }
}

// ---------------------------------------------------------------------------
// Awkward magnitudes

TEMPLATE_TEST_CASE("solve_dense optimises differences of one machine epsilon exactly", "[dense][precision]",
                   float, double) {
    using T = TestType;
    const T eps = std::numeric_limits<T>::epsilon();
    const bool maximize = GENERATE(false, true);
    CAPTURE(maximize);

    SECTION("random 1 + k*eps against brute force over the integers k") {
        // Sums of such entries round, so compare the matched k instead.
        std::mt19937_64 rng(seed_for({maximize, sizeof(T), 31}));
        std::uniform_int_distribution<int> digit(0, 3);
        for (int rows = 1; rows <= 6; ++rows) {
            for (int cols = 1; cols <= 6; ++cols) {
                for (int t = 0; t < 30; ++t) {
                    std::vector<int> k(static_cast<std::size_t>(rows * cols));
                    std::vector<T> data(k.size());
                    std::vector<double> k_as_double(k.size());
                    for (std::size_t e = 0; e < k.size(); ++e) {
                        k[e] = digit(rng);
                        data[e] = T(1) + static_cast<T>(k[e]) * eps;
                        k_as_double[e] = k[e];
                    }
                    const auto cost = view_of(data, rows, cols);
                    lap::SolveOptions options;
                    options.maximize = maximize;
                    const lap::Assignment a = lap::solve_dense(cost, options);
                    const double best_k = brute_force(view_of(k_as_double, rows, cols), maximize).objective;
                    const auto got_k = static_cast<double>(matched_weight(k, cols, a));
                    if (got_k != best_k) {
                        INFO(describe(view_of(k_as_double, rows, cols)) << "as 1 + k*eps, trial " << t);
                        REQUIRE(got_k == best_k);
                    }
                    REQUIRE(summarise(cost, a, maximize).matched == std::min(rows, cols));
                }
            }
        }
    }
    SECTION("a unique optimal permutation one epsilon below every alternative") {
        const int n = GENERATE(2, 5, 40);
        std::mt19937_64 rng(seed_for({n, maximize, sizeof(T), 37}));
        std::vector<int> perm(static_cast<std::size_t>(n));
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
        // Minimising: 1 on the permutation, 1 + eps elsewhere. Maximising:
        // 1 on the permutation, 1 - eps/2 (the next float below 1) elsewhere.
        const T other = maximize ? T(1) - eps / 2 : T(1) + eps;
        std::vector<T> data(static_cast<std::size_t>(n * n), other);
        for (int i = 0; i < n; ++i)
            data[static_cast<std::size_t>(i * n + perm[static_cast<std::size_t>(i)])] = T(1);
        lap::SolveOptions options;
        options.maximize = maximize;
        const auto cost = view_of(data, n, n);
        const lap::Assignment a = lap::solve_dense(cost, options);
        for (int i = 0; i < n; ++i)
            REQUIRE(a.col_of_row[static_cast<std::size_t>(i)] == perm[static_cast<std::size_t>(i)]);
        REQUIRE(a.objective == n);
        REQUIRE(lap::check_certificate(cost, a, maximize).valid);
    }
}

TEST_CASE("solve_dense handles huge magnitudes: 1e300-scale and 1e15-offset costs", "[dense][precision]") {
    const bool maximize = GENERATE(false, true);
    CAPTURE(maximize);
    std::mt19937_64 rng(seed_for({maximize, 41}));
    SECTION("uniform reals in [-1e300, 1e300] against brute force") {
        std::uniform_real_distribution<double> value(-1.0, 1.0);
        for (int rows = 1; rows <= 6; ++rows)
            for (int cols = 1; cols <= 6; ++cols)
                for (int t = 0; t < 10; ++t) {
                    std::vector<double> data(static_cast<std::size_t>(rows * cols));
                    for (double& c : data) c = 1e300 * value(rng);
                    const auto cost = view_of(data, rows, cols);
                    INFO(describe(cost));
                    require_matches_brute_force(cost, maximize);
                }
    }
    SECTION("exact multiples of 2^990 (about 1e298): the exact optimum") {
        std::uniform_int_distribution<int> digit(0, 20);
        for (int rows = 1; rows <= 6; ++rows)
            for (int cols = 1; cols <= 6; ++cols)
                for (int t = 0; t < 10; ++t) {
                    std::vector<double> data(static_cast<std::size_t>(rows * cols));
                    for (double& c : data) c = std::ldexp(static_cast<double>(digit(rng) - 10), 990);
                    const auto cost = view_of(data, rows, cols);
                    lap::SolveOptions options;
                    options.maximize = maximize;
                    const lap::Assignment a = lap::solve_dense(cost, options);
                    INFO(describe(cost));
                    REQUIRE(a.objective == brute_force(cost, maximize).objective);
                    REQUIRE(lap::check_certificate(cost, a, maximize).valid);
                }
    }
    SECTION("1e15 + small integers: exact in double, so the optimum is exact") {
        std::uniform_int_distribution<int> digit(0, 20);
        for (int rows = 1; rows <= 7; ++rows)
            for (int cols = 1; cols <= 7; ++cols)
                for (int t = 0; t < 10; ++t) {
                    std::vector<double> data(static_cast<std::size_t>(rows * cols));
                    for (double& c : data) c = 1e15 + digit(rng);
                    const auto cost = view_of(data, rows, cols);
                    lap::SolveOptions options;
                    options.maximize = maximize;
                    const lap::Assignment a = lap::solve_dense(cost, options);
                    INFO(describe(cost));
                    REQUIRE(a.objective == brute_force(cost, maximize).objective);
                    REQUIRE(lap::check_certificate(cost, a, maximize).valid);
                }
    }
}

// Reduced costs c - v are formed in double: when finite entries span more
// than the double range (here 1e308 - (-1e308) = +inf) an allowed pair can
// look forbidden. The solver as first committed rejected this feasible
// matrix with InfeasibleCostError ("row 1 has no allowed entry"). The
// entries, the objective and every matching's total are all finite.
TEST_CASE(
    "solve_dense does not mistake finite costs for forbidden ones when their spread exceeds the double range",
    "[dense][precision]") {
    const bool maximize = GENERATE(false, true);
    CAPTURE(maximize);
    const double big = maximize ? -1e308 : 1e308;
    // Every perfect matching costs -big + big = 0.
    const std::vector<double> data{-big, -big, big, big};
    const auto cost = view_of(data, 2, 2);
    REQUIRE(brute_force(cost, maximize).feasible);
    REQUIRE(brute_force(cost, maximize).objective == 0.0);
    lap::SolveOptions options;
    options.maximize = maximize;
    lap::Assignment a;
    REQUIRE_NOTHROW(a = lap::solve_dense(cost, options));
    require_optimal(cost, a, maximize, 0.0, /*check_duals=*/false);  // duals: see the test below
}

TEST_CASE("solve_dense matches brute force when finite costs span nearly the whole double range",
          "[dense][precision]") {
    // Two lines of the smaller side, one with entries in [-M, 0] and one in
    // [0, M], M = 1.7e308 (close to DBL_MAX): every total stays finite while
    // differences between entries of one column overflow. With forbidden
    // pairs too, sometimes. Only the matching and objective are checked:
    // check_certificate's own arithmetic (c - u - v) can overflow at these
    // magnitudes (see the finite-certificate test case for the duals).
    const bool maximize = GENERATE(false, true);
    const bool transpose = GENERATE(false, true);
    CAPTURE(maximize, transpose);
    constexpr double M = 1.7e308;
    std::mt19937_64 rng(seed_for({maximize, transpose, 47}));
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::bernoulli_distribution forbid(0.2);
    for (int k = 2; k <= 8; ++k) {
        for (int t = 0; t < 20; ++t) {
            std::vector<double> data(static_cast<std::size_t>(2 * k));
            for (int j = 0; j < k; ++j) {
                data[static_cast<std::size_t>(j)] = -M * unit(rng);
                data[static_cast<std::size_t>(k + j)] = M * unit(rng);
            }
            if (t % 2)
                for (double& c : data)
                    if (forbid(rng)) c = forbidden_value<double>(maximize);
            const auto stored = view_of(data, 2, k);
            const auto cost = transpose ? stored.transposed() : stored;
            INFO(describe(cost));
            require_matches_brute_force(cost, maximize, /*check_duals=*/false);
        }
    }
}

// Regression: on the matrix above the duals used to overflow (minimising,
// u = {0, +inf}, v = {-1e308, -1e308}), which check_certificate rejects. A
// finite certificate exists, u = {-1e308, 1e308}, v = {0, 0}; the rescaled
// path now centres square certificates so they survive scaling back.
TEST_CASE("solve_dense returns a finite dual certificate when costs span more than the double range",
          "[dense][precision]") {
    const bool maximize = GENERATE(false, true);
    const double big = GENERATE(1e308, 9e307);
    CAPTURE(maximize, big);
    const double b = maximize ? -big : big;
    const std::vector<double> data{-b, -b, b, b};
    const auto cost = view_of(data, 2, 2);

    lap::SolveOptions options;
    options.maximize = maximize;
    const lap::Assignment a = lap::solve_dense(cost, options);
    REQUIRE(a.objective == 0.0);
    REQUIRE(summarise(cost, a, maximize).matched == 2);

    // A finite certificate exists, and check_certificate can verify it.
    lap::Assignment by_hand = a;
    by_hand.row_duals = {-b, b};
    by_hand.col_duals = {0.0, 0.0};
    REQUIRE(lap::check_certificate(cost, by_hand, maximize).valid);

    INFO("u = {" << a.row_duals[0] << ", " << a.row_duals[1] << "}, v = {" << a.col_duals[0] << ", "
                 << a.col_duals[1] << "}");
    for (double d : a.row_duals) CHECK(std::isfinite(d));
    for (double d : a.col_duals) CHECK(std::isfinite(d));
    const lap::CertificateCheck check = lap::check_certificate(cost, a, maximize);
    INFO(check.problem);
    CHECK(check.valid);
}

TEMPLATE_TEST_CASE("solve_dense handles tiny magnitudes near the smallest normal numbers",
                   "[dense][precision]", float, double) {
    using T = TestType;
    // 2^-1000 ≈ 9e-302 for double, 2^-100 ≈ 8e-31 for float: small integer
    // multiples of it are exact, as are their sums and differences.
    const int exponent = std::is_same_v<T, double> ? -1000 : -100;
    const bool maximize = GENERATE(false, true);
    CAPTURE(maximize);
    std::mt19937_64 rng(seed_for({maximize, sizeof(T), 43}));
    std::uniform_int_distribution<int> digit(0, 20);
    std::uniform_real_distribution<double> real(-1.0, 1.0);
    lap::SolveOptions options;
    options.maximize = maximize;
    for (int rows = 1; rows <= 6; ++rows)
        for (int cols = 1; cols <= 6; ++cols)
            for (int t = 0; t < 10; ++t) {
                std::vector<T> exact(static_cast<std::size_t>(rows * cols)), reals(exact.size());
                for (T& c : exact)
                    c = static_cast<T>(std::ldexp(static_cast<double>(digit(rng) - 10), exponent));
                for (T& c : reals) c = static_cast<T>(std::ldexp(real(rng), exponent));
                const auto exact_cost = view_of(exact, rows, cols);
                const auto real_cost = view_of(reals, rows, cols);
                INFO(describe(exact_cost) << describe(real_cost));
                const lap::Assignment a = lap::solve_dense(exact_cost, options);
                REQUIRE(a.objective == brute_force(exact_cost, maximize).objective);
                REQUIRE(summarise(exact_cost, a, maximize).matched == std::min(rows, cols));
                // The certificate's tolerance is absolute at this scale, so
                // compare with brute force relative to the entries instead.
                const lap::Assignment b = lap::solve_dense(real_cost, options);
                const double expected = brute_force(real_cost, maximize).objective;
                REQUIRE(std::abs(b.objective - expected) <= 1e-9 * std::ldexp(1.0, exponent));
                REQUIRE(summarise(real_cost, b, maximize).matched == std::min(rows, cols));
            }
}
