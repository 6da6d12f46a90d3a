// Multi-seed statistics: the closed form for "only in the base SAE" against
// the paper's experiment run literally (every combination of k SAEs, every
// base inside it), the Fig. 2 histogram, and the power-law-with-offset fit.
#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "saematch/compare/multi_seed_stats.hpp"
#include "support/random_costs.hpp"

namespace compare = saematch::compare;
using Catch::Matchers::Contains;
using saematch_test::seed_for;

namespace {

using ShareCounts = std::vector<std::vector<std::int32_t>>;

// shared[b][i]: bit o set when latent i of SAE b is shared in SAE o.
struct SharedStructure {
    int n_saes = 0;
    std::vector<std::vector<std::uint32_t>> shared;

    ShareCounts counts() const {
        ShareCounts out(shared.size());
        for (std::size_t b = 0; b < shared.size(); ++b)
            for (const std::uint32_t mask : shared[b]) out[b].push_back(std::popcount(mask));
        return out;
    }
};

// N SAEs with random latent counts. Each pair (b, o) gets a random one-to-one
// pairing of latents, and each paired couple is shared with probability p —
// in both directions, as a matching's shared mask is.
SharedStructure random_structure(std::mt19937_64& rng, int n_saes, int max_latents, double p) {
    SharedStructure s;
    s.n_saes = n_saes;
    std::uniform_int_distribution<int> size(1, max_latents);
    for (int b = 0; b < n_saes; ++b) s.shared.emplace_back(static_cast<std::size_t>(size(rng)), 0u);
    std::bernoulli_distribution coin(p);
    for (int b = 0; b < n_saes; ++b) {
        for (int o = b + 1; o < n_saes; ++o) {
            auto& lb = s.shared[static_cast<std::size_t>(b)];
            auto& lo = s.shared[static_cast<std::size_t>(o)];
            std::vector<std::size_t> ib(lb.size()), io(lo.size());
            std::iota(ib.begin(), ib.end(), std::size_t{0});
            std::iota(io.begin(), io.end(), std::size_t{0});
            std::shuffle(ib.begin(), ib.end(), rng);
            std::shuffle(io.begin(), io.end(), rng);
            for (std::size_t q = 0; q < std::min(ib.size(), io.size()); ++q) {
                if (!coin(rng)) continue;
                lb[ib[q]] |= 1u << o;
                lo[io[q]] |= 1u << b;
            }
        }
    }
    return s;
}

// The paper's experiment, literally: for every combination of k SAEs and every
// base in it, the fraction of base latents shared with none of the other
// k − 1; the uniform average of those k·C(N, k) fractions, for k = 2..N.
std::vector<double> brute_force_only_in_base(const SharedStructure& s) {
    const int n = s.n_saes;
    std::vector<double> out;
    for (int k = 2; k <= n; ++k) {
        double sum = 0.0;
        long terms = 0;
        for (std::uint32_t combo = 0; combo < (1u << n); ++combo) {
            if (std::popcount(combo) != k) continue;
            for (int b = 0; b < n; ++b) {
                if (!(combo >> b & 1u)) continue;
                const std::uint32_t others = combo & ~(1u << b);
                const auto& latents = s.shared[static_cast<std::size_t>(b)];
                const auto only = std::count_if(latents.begin(), latents.end(),
                                                [&](std::uint32_t mask) { return (mask & others) == 0; });
                sum += static_cast<double>(only) / static_cast<double>(latents.size());
                ++terms;
            }
        }
        out.push_back(sum / static_cast<double>(terms));
    }
    return out;
}

double power_law(double a, double b, double c, double k) {
    return a * std::pow(k, -b) + c;
}

double sse_of(double a, double b, double c, const std::vector<double>& k, const std::vector<double>& y) {
    double s = 0.0;
    for (std::size_t i = 0; i < k.size(); ++i) {
        const double r = y[i] - power_law(a, b, c, k[i]);
        s += r * r;
    }
    return s;
}

std::vector<double> range_k(int first, int last) {
    std::vector<double> k;
    for (int v = first; v <= last; ++v) k.push_back(v);
    return k;
}

}  // namespace

// ---------------------------------------------------------------------------
// Only in base: closed form against enumeration

TEST_CASE("only_in_base_fraction equals the paper's enumeration over every combination and base",
          "[multi_seed]") {
    const int n_saes = GENERATE(range(2, 8));
    const double p = GENERATE(0.0, 0.15, 0.5, 0.85, 1.0);
    for (int trial = 0; trial < 25; ++trial) {
        std::mt19937_64 rng(seed_for({n_saes, static_cast<int>(p * 100), trial, 401}));
        const auto s = random_structure(rng, n_saes, 1 + trial % 12, p);
        const auto expected = brute_force_only_in_base(s);
        const auto got = compare::only_in_base_fraction(s.counts());
        INFO("N = " << n_saes << ", p = " << p << ", trial " << trial);
        REQUIRE(got.size() == static_cast<std::size_t>(n_saes - 1));
        for (std::size_t j = 0; j < got.size(); ++j) {
            INFO("k = " << j + 2);
            REQUIRE(std::abs(got[j] - expected[j]) <= 1e-12);
        }
    }
}

TEST_CASE("only_in_base_fraction weighs each base equally, not each latent", "[multi_seed]") {
    // N = 2. Base 0: one latent, not shared (fraction 1). Base 1: three
    // latents, all shared (fraction 0). The paper averages the two bases'
    // proportions: 0.5. Pooling the four latents would give 0.25.
    const ShareCounts counts{{0}, {1, 1, 1}};
    const auto f = compare::only_in_base_fraction(counts);
    REQUIRE(f.size() == 1);
    REQUIRE(f[0] == Approx(0.5).margin(1e-15));
}

TEST_CASE("only_in_base_fraction on edge cases", "[multi_seed]") {
    SECTION("N = 2: the fraction of latents not shared, averaged over the two bases") {
        const ShareCounts counts{{0, 1, 1, 0}, {1, 1, 0}};
        const auto f = compare::only_in_base_fraction(counts);
        REQUIRE(f.size() == 1);
        REQUIRE(f[0] == Approx((0.5 + 1.0 / 3.0) / 2.0).margin(1e-15));
    }
    SECTION("every latent shared with every other SAE: nothing is only in the base") {
        const int n = GENERATE(2, 3, 9, 20);
        const ShareCounts counts(static_cast<std::size_t>(n), std::vector<std::int32_t>(5, n - 1));
        for (const double v : compare::only_in_base_fraction(counts)) REQUIRE(v == 0.0);
    }
    SECTION("nothing shared: everything is only in the base, for every k") {
        const int n = GENERATE(2, 3, 9, 20);
        const ShareCounts counts(static_cast<std::size_t>(n), std::vector<std::int32_t>(7, 0));
        const auto f = compare::only_in_base_fraction(counts);
        REQUIRE(f.size() == static_cast<std::size_t>(n - 1));
        for (const double v : f) REQUIRE(v == 1.0);
    }
    SECTION("k = 2 is 1 − mean m/(N − 1); k = N is the fraction with m = 0") {
        std::mt19937_64 rng(seed_for({402}));
        const int n = 9;
        std::uniform_int_distribution<std::int32_t> m(0, n - 1);
        ShareCounts counts(n);
        for (auto& c : counts)
            for (int i = 0; i < 50; ++i) c.push_back(m(rng));
        double k2 = 0.0, kn = 0.0;
        for (const auto& c : counts) {
            double sum_m = 0.0, zeros = 0.0;
            for (const auto v : c) {
                sum_m += v;
                zeros += v == 0;
            }
            k2 += 1.0 - sum_m / static_cast<double>(c.size()) / (n - 1);
            kn += zeros / static_cast<double>(c.size());
        }
        const auto f = compare::only_in_base_fraction(counts);
        REQUIRE(f.front() == Approx(k2 / n).margin(1e-14));
        REQUIRE(f.back() == Approx(kn / n).margin(1e-14));
    }
}

TEST_CASE("only_in_base_fraction stays exact and finite for many SAEs", "[multi_seed]") {
    // N = 64: every binomial C(63, j) fits in 64 bits, so the exact ratio is
    // available to compare with. N = 200: binomials overflow any integer type,
    // the product form does not.
    std::mt19937_64 rng(seed_for({403}));
    SECTION("N = 64 against exact integer binomials") {
        const int n = 64, others = n - 1;
        std::vector<std::vector<std::uint64_t>> binom(others + 1, std::vector<std::uint64_t>(others + 1, 0));
        for (int r = 0; r <= others; ++r) {
            binom[r][0] = 1;
            for (int c = 1; c <= r; ++c)
                binom[r][c] = binom[r - 1][c - 1] + (c <= r - 1 ? binom[r - 1][c] : 0);
        }
        std::uniform_int_distribution<std::int32_t> m(0, others);
        ShareCounts counts(n);
        for (auto& c : counts) {
            const int latents = 1 + static_cast<int>(rng() % 30);
            for (int i = 0; i < latents; ++i) c.push_back(rng() % 3 == 0 ? m(rng) : m(rng) / 8);
        }
        const auto f = compare::only_in_base_fraction(counts);
        REQUIRE(f.size() == static_cast<std::size_t>(others));
        for (int j = 1; j <= others; ++j) {
            long double expected = 0.0L;
            for (const auto& c : counts) {
                long double sum = 0.0L;
                for (const auto v : c)
                    sum += static_cast<long double>(binom[others - v][j]) /
                           static_cast<long double>(binom[others][j]);
                expected += sum / static_cast<long double>(c.size());
            }
            expected /= n;
            INFO("k = " << j + 1);
            REQUIRE(f[static_cast<std::size_t>(j - 1)] ==
                    Approx(static_cast<double>(expected)).epsilon(1e-13).margin(1e-300));
        }
    }
    SECTION("N = 200: finite, in [0, 1], non-increasing in k") {
        const int n = 200;
        std::uniform_int_distribution<std::int32_t> m(0, n - 1);
        ShareCounts counts(n);
        for (auto& c : counts)
            for (int i = 0; i < 10; ++i) c.push_back(m(rng) / 4);
        const auto f = compare::only_in_base_fraction(counts);
        REQUIRE(f.size() == static_cast<std::size_t>(n - 1));
        for (std::size_t j = 0; j < f.size(); ++j) {
            REQUIRE(std::isfinite(f[j]));
            REQUIRE(f[j] >= 0.0);
            REQUIRE(f[j] <= 1.0);
            if (j > 0) REQUIRE(f[j] <= f[j - 1]);
        }
    }
}

// ---------------------------------------------------------------------------
// Shared with exactly m others

TEST_CASE("shared_with_exactly counts each base's latents by share count", "[multi_seed]") {
    SECTION("a small hand-made case") {
        const ShareCounts counts{{0, 2, 2, 1}, {}, {2}};
        const auto h = compare::shared_with_exactly(counts);
        REQUIRE(h == std::vector<std::vector<std::int64_t>>{{1, 1, 2}, {0, 0, 0}, {0, 0, 1}});
    }
    SECTION("random structures: rows sum to the latent counts and match a direct count") {
        const int n_saes = GENERATE(range(2, 8));
        for (int trial = 0; trial < 10; ++trial) {
            std::mt19937_64 rng(seed_for({n_saes, trial, 404}));
            const auto s = random_structure(rng, n_saes, 20, 0.4);
            const auto counts = s.counts();
            const auto h = compare::shared_with_exactly(counts);
            REQUIRE(h.size() == static_cast<std::size_t>(n_saes));
            for (std::size_t b = 0; b < h.size(); ++b) {
                REQUIRE(h[b].size() == static_cast<std::size_t>(n_saes));
                REQUIRE(std::accumulate(h[b].begin(), h[b].end(), std::int64_t{0}) ==
                        static_cast<std::int64_t>(counts[b].size()));
                for (int m = 0; m < n_saes; ++m)
                    REQUIRE(h[b][static_cast<std::size_t>(m)] ==
                            std::count(counts[b].begin(), counts[b].end(), m));
            }
        }
    }
}

TEST_CASE("share-count functions reject input that has no meaning, naming it", "[multi_seed]") {
    SECTION("no SAEs, or one") {
        REQUIRE_THROWS_WITH(compare::only_in_base_fraction({}), Contains("at least 2 SAEs"));
        REQUIRE_THROWS_AS(compare::only_in_base_fraction({{0, 0}}), std::invalid_argument);
        REQUIRE_THROWS_AS(compare::shared_with_exactly({}), std::invalid_argument);
    }
    SECTION("a count above N − 1 names base and latent") {
        const ShareCounts counts{{0, 1}, {0, 1, 2}};
        REQUIRE_THROWS_WITH(compare::only_in_base_fraction(counts),
                            Contains("share_counts[1][2] = 2") && Contains("outside 0..1"));
        REQUIRE_THROWS_WITH(compare::shared_with_exactly(counts), Contains("share_counts[1][2]"));
    }
    SECTION("a negative count") {
        const ShareCounts counts{{0, 1}, {0}, {-1}};
        REQUIRE_THROWS_WITH(compare::only_in_base_fraction(counts), Contains("share_counts[2][0] = -1"));
    }
    SECTION("a base without latents has no only-in-base fraction") {
        const ShareCounts counts{{0, 1}, {}, {2}};
        REQUIRE_THROWS_WITH(compare::only_in_base_fraction(counts), Contains("SAE 1 has no latents"));
        REQUIRE_NOTHROW(compare::shared_with_exactly(counts));
    }
}

// ---------------------------------------------------------------------------
// Power law with offset

TEST_CASE("fit_power_law_with_offset recovers a, b, c from exact data", "[multi_seed]") {
    struct Truth {
        double a, b, c;
    };
    const auto truth = GENERATE(Truth{0.45, 0.7, 0.33}, Truth{1.0, 2.0, 0.0}, Truth{0.2, 0.05, 0.5},
                                Truth{-0.3, 1.3, 0.9}, Truth{5.0, 4.0, -1.0});
    const auto k = GENERATE(range_k(2, 9), range_k(2, 40), std::vector<double>{1.0, 1.5, 3.0, 7.0});
    std::vector<double> y;
    for (const double v : k) y.push_back(power_law(truth.a, truth.b, truth.c, v));
    const auto fit = compare::fit_power_law_with_offset(k, y);
    INFO("a = " << truth.a << ", b = " << truth.b << ", c = " << truth.c << ", " << k.size() << " points");
    REQUIRE(fit.converged);
    REQUIRE(fit.b == Approx(truth.b).epsilon(1e-6));
    REQUIRE(fit.a == Approx(truth.a).epsilon(1e-5).margin(1e-6));
    REQUIRE(fit.c == Approx(truth.c).margin(1e-6));
    REQUIRE(fit.rmse < 1e-9);
}

TEST_CASE("fit_power_law_with_offset on noisy data is the least-squares optimum", "[multi_seed]") {
    const int trial = GENERATE(range(0, 10));
    std::mt19937_64 rng(seed_for({trial, 405}));
    std::normal_distribution<double> noise(0.0, 2e-3);
    const double a = 0.6, b = 0.8, c = 0.3;
    const auto k = range_k(2, 60);
    std::vector<double> y;
    for (const double v : k) y.push_back(power_law(a, b, c, v) + noise(rng));
    const auto fit = compare::fit_power_law_with_offset(k, y);
    REQUIRE(fit.converged);
    // Close to the truth ...
    REQUIRE(fit.b == Approx(b).margin(0.1));
    REQUIRE(fit.a == Approx(a).margin(0.05));
    REQUIRE(fit.c == Approx(c).margin(0.02));
    // ... and at least as good as the truth and as a fine scan over b.
    const double fit_sse = fit.rmse * fit.rmse * static_cast<double>(k.size());
    REQUIRE(fit_sse == Approx(sse_of(fit.a, fit.b, fit.c, k, y)).epsilon(1e-9));
    REQUIRE(fit_sse <= sse_of(a, b, c, k, y) * (1 + 1e-12));
    double scan_best = std::numeric_limits<double>::infinity();
    for (int p = 0; p <= 4000; ++p) {
        const double bb = 0.2 + p * (2.0 - 0.2) / 4000;
        // Linear least squares for (a, c) at this b, written out plainly.
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        const auto n = static_cast<double>(k.size());
        for (std::size_t i = 0; i < k.size(); ++i) {
            const double x = std::pow(k[i], -bb);
            sx += x;
            sy += y[i];
            sxx += x * x;
            sxy += x * y[i];
        }
        const double aa = (n * sxy - sx * sy) / (n * sxx - sx * sx);
        const double cc = (sy - aa * sx) / n;
        scan_best = std::min(scan_best, sse_of(aa, bb, cc, k, y));
    }
    REQUIRE(fit_sse <= scan_best * (1 + 1e-9));
}

TEST_CASE("fit_power_law_with_offset reports when b is not pinned down", "[multi_seed]") {
    SECTION("constant data: a = 0, c = the value, exact, not converged") {
        const auto fit = compare::fit_power_law_with_offset(range_k(2, 9), std::vector<double>(8, 0.35));
        REQUIRE_FALSE(fit.converged);
        REQUIRE(fit.a == Approx(0.0).margin(1e-12));
        REQUIRE(fit.c == Approx(0.35).margin(1e-12));
        REQUIRE(fit.rmse < 1e-12);
    }
    SECTION("a true exponent outside [b_min, b_max] ends on the bound") {
        const auto k = range_k(2, 9);
        std::vector<double> y;
        for (const double v : k) y.push_back(power_law(1.0, 3.0, 0.2, v));
        compare::PowerLawFitOptions options;
        options.b_max = 1.0;
        const auto fit = compare::fit_power_law_with_offset(k, y, options);
        REQUIRE_FALSE(fit.converged);
        REQUIRE(fit.b == Approx(1.0).epsilon(1e-6));
        REQUIRE(fit.rmse > 1e-4);
        // The default range finds it.
        REQUIRE(compare::fit_power_law_with_offset(k, y).converged);
    }
}

TEST_CASE("fit_power_law_with_offset rejects input it cannot fit, naming it", "[multi_seed]") {
    const std::vector<double> k{2, 3, 4}, y{0.5, 0.4, 0.35};
    REQUIRE_THROWS_WITH(compare::fit_power_law_with_offset({2, 3, 4}, {0.5, 0.4}),
                        Contains("k has 3 values but y has 2"));
    REQUIRE_THROWS_WITH(compare::fit_power_law_with_offset({2, 3}, {0.5, 0.4}), Contains("at least 3"));
    REQUIRE_THROWS_WITH(compare::fit_power_law_with_offset({2, 3, 3, 2}, {0.5, 0.4, 0.41, 0.5}),
                        Contains("2 distinct k value(s)"));
    REQUIRE_THROWS_WITH(compare::fit_power_law_with_offset({2, 0, 4}, y), Contains("k[1]"));
    REQUIRE_THROWS_WITH(compare::fit_power_law_with_offset({2, -1, 4}, y), Contains("k[1]"));
    REQUIRE_THROWS_WITH(compare::fit_power_law_with_offset(k, {0.5, std::nan(""), 0.3}), Contains("y[1]"));
    compare::PowerLawFitOptions bad;
    bad.b_min = 0.0;
    REQUIRE_THROWS_WITH(compare::fit_power_law_with_offset(k, y, bad), Contains("b_min"));
    bad = {};
    bad.b_max = 1e-4;
    REQUIRE_THROWS_AS(compare::fit_power_law_with_offset(k, y, bad), std::invalid_argument);
    bad = {};
    bad.scan_points = 2;
    REQUIRE_THROWS_WITH(compare::fit_power_law_with_offset(k, y, bad), Contains("scan_points"));
}
