// The device backend of the streamed comparison (similarity/aten/), run on
// torch's CPU device: its twins of host arithmetic are bit for bit the
// host's, and its lists and matchings are the core's.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "saematch/compare/pair_report.hpp"
#include "saematch/similarity/accurate_dot.hpp"
#include "saematch/similarity/aten/device_backend.hpp"
#include "saematch/similarity/aten/exact_dots.hpp"
#include "saematch/similarity/candidate_pools.hpp"
#include "saematch/similarity/candidates.hpp"

namespace sim = saematch::similarity;
namespace dev = saematch::similarity::aten;
namespace cmp = saematch::compare;

namespace {

// Entries of wildly different magnitudes and signs, so that the order of
// the float64 additions changes the result: only the host's order gives
// the host's bits.
std::vector<float> adversarial(std::mt19937_64& rng, std::int64_t count) {
    std::uniform_int_distribution<int> exponent(-30, 30);
    std::normal_distribution<float> normal;
    std::vector<float> x(static_cast<std::size_t>(count));
    for (auto& v : x) v = std::ldexp(normal(rng), exponent(rng));
    return x;
}

sim::UnitRows unit_rows(std::mt19937_64& rng, std::int64_t n, std::int64_t d, std::vector<std::int64_t> dead = {},
                        std::int64_t copies = 0) {
    std::normal_distribution<float> normal;
    std::vector<float> w(static_cast<std::size_t>(n * d));
    for (auto& v : w) v = normal(rng);
    for (std::int64_t i = 1; i <= copies && i < n; ++i)
        std::copy_n(w.begin(), d, w.begin() + i * d);  // exact ties with row 0
    for (std::int64_t i : dead) std::fill_n(w.begin() + i * d, d, 0.0f);
    return sim::unit_rows(w.data(), n, d, d);
}

bool same_lists(const sim::CandidateLists& x, const sim::CandidateLists& y) {
    return x.k == y.k && x.rows == y.rows && x.cols == y.cols && x.row_index == y.row_index &&
           x.row_value == y.row_value && x.col_index == y.col_index && x.col_value == y.col_value;
}

}  // namespace

TEST_CASE("exact_dots equals accurate_dot bit for bit, whatever d", "[device]") {
    const std::int64_t d = GENERATE(1, 7, 16, 17, 100, 768);
    std::mt19937_64 rng(static_cast<std::uint64_t>(d));
    const std::int64_t n = 9, m = 11;
    auto a = adversarial(rng, n * d), b = adversarial(rng, m * d);
    const at::Tensor ta = at::from_blob(a.data(), {n, d}, at::kFloat), tb = at::from_blob(b.data(), {m, d}, at::kFloat);
    std::vector<std::int64_t> is, js;
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < m; ++j) is.push_back(i), js.push_back(j);
    const at::Tensor i = at::tensor(is), j = at::tensor(js);
    const at::Tensor got = dev::exact_dots(dev::lane_major(ta), dev::lane_major(tb), i, j, /*batch=*/17);
    for (std::size_t p = 0; p < is.size(); ++p) {
        const double want = sim::accurate_dot(a.data() + is[p] * d, b.data() + js[p] * d, d);
        INFO("d=" << d << " pair " << is[p] << "," << js[p]);
        REQUIRE(got[static_cast<std::int64_t>(p)].item<double>() == want);
    }
}

TEST_CASE("the device's float_at_most is the host's", "[device]") {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> u(-1.5, 1.5);
    std::vector<double> x{0.0, -0.0, 1.0, -1.0, 0.1, 1e-40, -1e-40, 0x1p-149};
    for (int t = 0; t < 500; ++t) x.push_back(u(rng));
    const at::Tensor got = dev::float_at_most(at::tensor(x, at::kDouble));
    for (std::size_t p = 0; p < x.size(); ++p) {
        INFO("x = " << x[p]);
        REQUIRE(got[static_cast<std::int64_t>(p)].item<float>() == sim::detail::float_at_most(x[p]));
    }
}

TEST_CASE("the device backend's lists are top_candidates', screened in float32 or bfloat16", "[device]") {
    const auto screen = GENERATE(dev::DeviceScreen::float32, dev::DeviceScreen::bfloat16);
    const std::int32_t k = GENERATE(1, 4, 50);
    std::mt19937_64 rng(static_cast<std::uint64_t>(k) * 7 + (screen == dev::DeviceScreen::bfloat16));
    const auto a = unit_rows(rng, 150, 24, {3, 77}, 12), b = unit_rows(rng, 130, 24, {0, 129}, 0);
    dev::DeviceBackendOptions o;
    o.screen = screen;
    o.tiles.block_rows = 37;  // tiles that do not divide the sides: merges across tiles
    o.tiles.block_cols = 29;
    dev::DeviceBackend backend(o);
    sim::CandidateOptions c;
    c.k = k;
    c.screen = sim::ScreenPrecision::float32;
    const auto got = backend.candidates(a, b, c);
    INFO("k=" << k << (screen == dev::DeviceScreen::bfloat16 ? " bfloat16" : " float32"));
    REQUIRE(same_lists(got, sim::top_candidates(a, b, c)));
    REQUIRE(got.bf16_screen == (screen == dev::DeviceScreen::bfloat16));
    // Only the pools crossed: per line at most its capacity (3k here, at
    // least 9) of (int32 index, float64 value) and a count.
    if (screen == dev::DeviceScreen::float32)
        REQUIRE(backend.traffic().to_host <= (150 + 130) * (3 * std::max(k, 3) * 12 + 8));
}

TEST_CASE("compare_pair with the device backend equals the core's, certificate rounds included", "[device]") {
    std::mt19937_64 rng(11);
    cmp::SaeDirections a{unit_rows(rng, 220, 16, {5}), unit_rows(rng, 220, 16)};
    cmp::SaeDirections b{unit_rows(rng, 200, 16), unit_rows(rng, 200, 16, {7, 8})};
    cmp::MatchOptions core;
    core.method = cmp::MatchMethod::sparse;
    core.candidates.k = 1;  // forces certificate rounds
    core.candidates.screen = sim::ScreenPrecision::float32;
    cmp::MatchOptions on_device = core;
    dev::DeviceBackendOptions o;
    o.screen = dev::DeviceScreen::float32;
    o.settle_elements = 40 * 200;  // several batches of recomputed rows
    on_device.backend = std::make_shared<dev::DeviceBackend>(o);
    const auto want = cmp::compare_pair(a, b, core), got = cmp::compare_pair(a, b, on_device);
    for (const auto* m : {&got.encoder, &got.decoder}) REQUIRE(m->certified_gap == 0.0);
    REQUIRE(got.encoder.recomputed_rows > 0);
    REQUIRE(got.encoder.screen == "float32 on cpu");
    REQUIRE(got.encoder.partner_a == want.encoder.partner_a);
    REQUIRE(got.decoder.partner_a == want.decoder.partner_a);
    REQUIRE(got.encoder.cos_a == want.encoder.cos_a);
    REQUIRE(got.decoder.max_cos_b == want.decoder.max_cos_b);
    REQUIRE(got.encoder.total_cos == want.encoder.total_cos);
}
