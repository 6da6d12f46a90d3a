// The bfloat16 screening GEMM: its rounding against a bit-level reference,
// its values within the stated error bound of accurate dot products on
// awkward shapes (odd d, partial panels, tiny entries), and its result
// independent of how the row panels are split.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "saematch/similarity/accurate_dot.hpp"
#include "saematch/similarity/bf16_gemm.hpp"
#include "saematch/similarity/unit_rows.hpp"
#include "support/similarity_reference.hpp"

namespace sim = saematch::similarity;
using namespace saematch_test;

namespace {

float bits_to_float(std::uint32_t bits) {
    float x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
}

// The nearest bfloat16 by search: of the two bfloat16 values around x
// (truncation and the next one up in magnitude), the closer; on a tie, the
// one with an even last bit.
float nearest_bf16(float x) {
    std::uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    const float down = bits_to_float(bits & 0xffff0000u);
    const float up = bits_to_float((bits & 0xffff0000u) + 0x10000u);
    const double dd = std::fabs(static_cast<double>(x) - down), du = std::fabs(static_cast<double>(up) - x);
    if (dd < du) return down;
    if (du < dd) return up;
    return ((bits >> 16) & 1u) ? up : down;
}

bool bf16_missing() {
    if (sim::bf16_gemm_available()) return false;
    WARN("skipped: this CPU lacks AVX512-BF16");
    return true;
}

}  // namespace

TEST_CASE("to_bf16 rounds to nearest even and flushes subnormals to signed zero", "[bf16]") {
    std::mt19937_64 rng(17);
    std::uniform_int_distribution<std::uint32_t> any_bits(0, 0x7effffffu);  // positive, far from overflow
    for (int t = 0; t < 200000; ++t) {
        std::uint32_t bits = any_bits(rng);
        if (t % 7 == 0) bits = (bits & 0xffff0000u) | 0x8000u;  // exact ties
        if (t % 2 == 1) bits |= 0x80000000u;                    // negative
        const float x = bits_to_float(bits);
        const float got = sim::detail::from_bf16(sim::detail::to_bf16(x));
        const bool subnormal = (bits & 0x7f800000u) == 0;
        const float want = subnormal ? std::copysign(0.0f, x) : nearest_bf16(x);
        INFO("input bits 0x" << std::hex << bits);
        REQUIRE(std::memcmp(&got, &want, sizeof got) == 0);
    }
}

TEST_CASE("bf16_gemm_panels stays within bf16_gemm_error_bound of accurate dot products", "[bf16]") {
    if (bf16_missing()) return;
    const auto shape = GENERATE(std::tuple{1, 1, 1}, std::tuple{7, 65, 5}, std::tuple{13, 130, 768},
                                std::tuple{64, 200, 97}, std::tuple{6, 64, 2});
    const auto [n, m, d] = shape;
    std::mt19937_64 rng(static_cast<std::uint64_t>(n * 1000 + m * 10 + d));
    auto wa = random_weights(rng, {n, d, 0.1, 0, 0, {}});
    auto wb = random_weights(rng, {m, d, 0.1, 0, 0, {}});
    wa[0] = 1e-30f;  // tiny and subnormal entries after normalising
    wb[static_cast<std::size_t>(d) - 1] = 1e-39f;
    const auto a = sim::unit_rows(wa.data(), n, d, d, "a");
    const auto b = sim::unit_rows(wb.data(), m, d, d, "b");
    sim::Bf16Panels pa, pb;
    pa.shape(n, d, sim::Bf16Panels::kRows);
    pa.pack(a.rows.data(), d, 0, pa.panels());
    pb.shape(m, d, sim::Bf16Panels::kCols);
    pb.pack(b.rows.data(), d, 0, pb.panels());
    const std::ptrdiff_t ldc = m + 3;  // a padded stride: the kernel must not write past m
    std::vector<float> c(static_cast<std::size_t>(n * ldc), std::numeric_limits<float>::quiet_NaN());
    // Two calls over disjoint panel ranges, as two threads would make.
    const std::ptrdiff_t half = pa.panels() / 2;
    sim::bf16_gemm_panels(pa, 0, half, pb, c.data(), ldc);
    sim::bf16_gemm_panels(pa, half, pa.panels(), pb, c.data(), ldc);

    const double bound = sim::bf16_gemm_error_bound(sim::bf16_rounding_error(a.rows.data(), n, d),
                                                    sim::bf16_rounding_error(b.rows.data(), m, d), d);
    INFO(n << " x " << m << ", d = " << d << ", bound " << bound);
    CHECK(bound < (d == 1 ? 0.01 : 0.0085));  // at most 2^-7 + accumulation, about 0.004 for Gaussian rows
    double worst = 0.0;
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        for (std::ptrdiff_t j = 0; j < m; ++j) {
            const double exact = sim::accurate_dot(a.rows.data() + i * d, b.rows.data() + j * d, d);
            const double err = std::fabs(static_cast<double>(c[static_cast<std::size_t>(i * ldc + j)]) - exact);
            worst = std::max(worst, err);
            REQUIRE(err <= bound);
        }
        for (std::ptrdiff_t j = m; j < ldc; ++j) REQUIRE(std::isnan(c[static_cast<std::size_t>(i * ldc + j)]));
    }
    // Not vacuous: bfloat16 really rounds (except for d = 1, where it is exact up to sign).
    if (d > 2) CHECK(worst > 1e-5);
}

TEST_CASE("the bfloat16 error bound covers worst-case rows, not just typical ones", "[bf16]") {
    if (bf16_missing()) return;
    // Every entry rounded down by almost half an ulp, in both operands: the
    // error nearly reaches the bound. (Not unit rows: a constant unit row of
    // 256 entries is exactly 1/16 and would not round at all.)
    const int d = 256;
    std::vector<float> w(static_cast<std::size_t>(d), 1.0f + 0x1.fep-9f);  // just below the midpoint 1 + 2^-8
    sim::Bf16Panels pa, pb;
    pa.shape(1, d, sim::Bf16Panels::kRows);
    pa.pack(w.data(), d, 0, 1);
    pb.shape(1, d, sim::Bf16Panels::kCols);
    pb.pack(w.data(), d, 0, 1);
    float c = 0.0f;
    sim::bf16_gemm_panels(pa, 0, 1, pb, &c, 1);
    const auto e = sim::bf16_rounding_error(w.data(), 1, d);
    const double bound = sim::bf16_gemm_error_bound(e, e, d);
    const double exact = sim::accurate_dot(w.data(), w.data(), d);
    INFO("error " << std::fabs(c - exact) << ", bound " << bound);
    CHECK(std::fabs(c - exact) <= bound);
    CHECK(std::fabs(c - exact) > 0.9 * bound);
}

TEST_CASE("bf16_gemm_panels rejects operands packed with the wrong panels", "[bf16]") {
    if (bf16_missing()) return;
    std::vector<float> x(12, 0.5f);
    sim::Bf16Panels p;
    p.shape(3, 4, sim::Bf16Panels::kRows);
    p.pack(x.data(), 4, 0, p.panels());
    float c[9];
    CHECK_THROWS_AS(sim::bf16_gemm_panels(p, 0, 1, p, c, 3), std::invalid_argument);
}
