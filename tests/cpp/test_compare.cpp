// Comparing SAEs: matchings, shared rules and multi-seed counts on pairs
// whose answer is known by construction, on both the dense and the streamed
// (sparse + certificate) path.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "saematch/compare/multi_seed.hpp"
#include "saematch/compare/pair_report.hpp"
#include "saematch/lap/solve_dense.hpp"
#include "saematch/similarity/accurate_dot.hpp"
#include "support/planted_saes.hpp"

namespace cmp = saematch::compare;
using namespace saematch_test;

namespace {

cmp::MatchOptions options_for(const char* method) {
    cmp::MatchOptions o;
    if (std::string(method) == "dense") {
        o.method = cmp::MatchMethod::dense;
    } else {
        o.method = cmp::MatchMethod::sparse;
        o.candidates.k = 3;  // small lists force certificate rounds and recomputation
        o.candidates.block_rows = 37;
        o.candidates.block_cols = 53;
    }
    return o;
}

cmp::SaeDirections directions(const PlantedSae& s, const std::string& name) {
    return cmp::sae_directions(s.encoder_view(), s.decoder_view(), name);
}

std::ptrdiff_t count(const std::vector<std::uint8_t>& mask) {
    std::ptrdiff_t c = 0;
    for (auto m : mask) c += m;
    return c;
}

}  // namespace

TEST_CASE("compare_pair finds exactly the planted shared latents under each rule", "[compare]") {
    const char* method = GENERATE("dense", "sparse");
    const std::ptrdiff_t extra_b = GENERATE(0, 15);
    const auto planted = make_planted_pair(20, 64, extra_b, 11 + static_cast<std::uint64_t>(extra_b));
    const auto a = directions(planted.a, "a"), b = directions(planted.b, "b");
    INFO("method " << method << ", extra latents in b " << extra_b);
    const auto r = cmp::compare_pair(a, b, options_for(method));

    CHECK(count(r.shared(cmp::Side::a, cmp::SharedRule::paper, 0.7)) == planted.shared_paper);
    CHECK(count(r.shared(cmp::Side::a, cmp::SharedRule::separate, 0.7)) == planted.shared_separate);
    CHECK(count(r.shared(cmp::Side::a, cmp::SharedRule::decoder, 0.7)) == planted.shared_decoder);
    const auto agree = r.agree(cmp::Side::a);
    for (std::ptrdiff_t i = 0; i < 20; ++i) CHECK(agree[static_cast<std::size_t>(i)]);        // "same"
    for (std::ptrdiff_t i = 20; i < 40; ++i) CHECK_FALSE(agree[static_cast<std::size_t>(i)]);  // "swapped"
    CHECK(r.shared_fraction(cmp::Side::a, cmp::SharedRule::paper, 0.7) == Approx(0.25));
    CHECK(r.encoder.certified_gap == 0.0);
    CHECK(r.decoder.certified_gap == 0.0);
    if (std::string(method) == "sparse") CHECK(r.encoder.used_sparse);
    // Matched cosines are those of the partners.
    for (std::size_t i = 0; i < 20; ++i) CHECK(r.dec_cos(cmp::Side::a)[i] == Approx(1.0f).margin(1e-5));
}

TEST_CASE("compare_pair leaves the larger SAE's extra latents unmatched with cosine 0", "[compare]") {
    const auto planted = make_planted_pair(10, 64, 12, 5);
    const char* method = GENERATE("dense", "sparse");
    SECTION("b larger: 12 of b's latents have no partner") {
        const auto r = cmp::compare_pair(directions(planted.a, "a"), directions(planted.b, "b"), options_for(method));
        std::ptrdiff_t unmatched = 0;
        for (std::size_t j = 0; j < r.encoder.partner_b.size(); ++j)
            if (r.encoder.partner_b[j] < 0) {
                ++unmatched;
                CHECK(r.encoder.cos_b[j] == 0.0f);
            }
        CHECK(unmatched == 12);
        for (auto p : r.encoder.partner_a) CHECK(p >= 0);
    }
    SECTION("a larger: the same from the other side") {
        const auto r = cmp::compare_pair(directions(planted.b, "b"), directions(planted.a, "a"), options_for(method));
        std::ptrdiff_t unmatched = 0;
        for (auto p : r.decoder.partner_a) unmatched += p < 0;
        CHECK(unmatched == 12);
        CHECK(count(r.shared(cmp::Side::b, cmp::SharedRule::paper, 0.7)) == planted.shared_paper);
    }
}

TEST_CASE("streamed matching equals the dense matching's total on SAE-like pairs", "[compare]") {
    const std::ptrdiff_t n = GENERATE(150, 700);
    const std::ptrdiff_t extra = GENERATE(0, 40);
    std::mt19937_64 rng(static_cast<std::uint64_t>(n * 100 + extra));
    std::normal_distribution<double> normal;
    const std::ptrdiff_t d = 48;
    // B: noisy copies of half of A plus fresh rows: many near-ties, long augmenting paths.
    PlantedSae a{n, d, {}, {}}, b{n + extra, d, {}, {}};
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        const auto e = random_direction(rng, d);
        a.encoder.insert(a.encoder.end(), e.begin(), e.end());
        a.decoder.insert(a.decoder.end(), e.begin(), e.end());
    }
    for (std::ptrdiff_t j = 0; j < n + extra; ++j)
        for (std::ptrdiff_t k = 0; k < d; ++k) {
            const double base = j < n / 2 ? a.encoder[static_cast<std::size_t>(j * d + k)] : 0.0;
            b.encoder.push_back(static_cast<float>(base + 0.15 * normal(rng)));
        }
    b.decoder = b.encoder;
    const auto da = directions(a, "a"), db = directions(b, "b");
    auto sparse = options_for("sparse");
    sparse.candidates.k = GENERATE(1, 4, 16);
    // Both arithmetics for the screen and the certificate's recomputed rows.
    sparse.candidates.screen =
        GENERATE(saematch::similarity::ScreenPrecision::float32, saematch::similarity::ScreenPrecision::bfloat16);
    if (sparse.candidates.screen == saematch::similarity::ScreenPrecision::bfloat16 &&
        !saematch::similarity::bf16_gemm_available()) {
        WARN("bfloat16 case skipped: this CPU lacks AVX512-BF16");
        return;
    }
    const auto dense_match = cmp::match_latents(da.encoder, db.encoder, options_for("dense"));
    const auto sparse_match = cmp::match_latents(da.encoder, db.encoder, sparse);
    INFO("n " << n << ", extra " << extra << ", k " << sparse.candidates.k << ", screen "
              << static_cast<int>(sparse.candidates.screen));
    CHECK(sparse_match.total_cos == Approx(dense_match.total_cos).epsilon(1e-6));
    CHECK(sparse_match.certified_gap == 0.0);
    CHECK(sparse_match.certificate_rounds >= 1);
    // Exactly optimal for its costs (accurate cosines rounded to float): the
    // dense solver on the full matrix of those costs reaches the same total.
    const std::ptrdiff_t na = da.encoder.rows.rows(), nb = db.encoder.rows.rows();
    std::vector<float> exact(static_cast<std::size_t>(na * nb));
    for (std::ptrdiff_t i = 0; i < na; ++i)
        for (std::ptrdiff_t j = 0; j < nb; ++j)
            exact[static_cast<std::size_t>(i * nb + j)] = static_cast<float>(saematch::similarity::accurate_dot(
                da.encoder.rows.data() + i * d, db.encoder.rows.data() + j * d, d));
    saematch::lap::SolveOptions maximize;
    maximize.maximize = true;
    maximize.method = saematch::lap::SolveMethod::dense;
    const auto reference =
        saematch::lap::solve_dense(saematch::lap::MatrixView<float>::row_major(exact.data(), na, nb), maximize);
    CHECK(sparse_match.total_cos == Approx(reference.objective).epsilon(0).margin(1e-9));
    for (std::size_t i = 0; i < dense_match.max_cos_a.size(); ++i)
        CHECK(sparse_match.max_cos_a[i] == Approx(dense_match.max_cos_a[i]).margin(1e-5));
}

TEST_CASE("dead latents have cosine 0 with everything and are counted", "[compare]") {
    auto planted = make_planted_pair(10, 64, 0, 3);
    for (std::ptrdiff_t k = 0; k < 64; ++k) {  // kill A's latent 0 (a "same" latent) in both matrices
        planted.a.encoder[static_cast<std::size_t>(k)] = 0.0f;
        planted.a.decoder[static_cast<std::size_t>(k)] = 0.0f;
    }
    const auto r = cmp::compare_pair(directions(planted.a, "a"), directions(planted.b, "b"), options_for("dense"));
    CHECK(r.dead_encoder_a == 1);
    CHECK(r.dead_decoder_a == 1);
    CHECK(r.encoder.cos_a[0] == 0.0f);
    CHECK(r.encoder.max_cos_a[0] == 0.0f);
    CHECK(count(r.shared(cmp::Side::a, cmp::SharedRule::paper, 0.7)) == planted.shared_paper - 1);
}

TEST_CASE("compare rejects SAEs that cannot be compared, naming the argument", "[compare]") {
    const auto p = make_planted_pair(4, 64, 0, 1);
    const auto q = make_planted_pair(4, 32, 0, 2);
    REQUIRE_THROWS_WITH(cmp::compare_pair(directions(p.a, "a"), directions(q.b, "b"), {}),
                        Catch::Contains("different input widths") && Catch::Contains("64") && Catch::Contains("32"));
    auto broken = p.a;
    broken.decoder[70] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(directions(broken, "a"), Catch::Contains("a decoder") && Catch::Contains("row 1") &&
                                                     Catch::Contains("NaN"));
    const std::vector<float> none;
    REQUIRE_THROWS_WITH(cmp::sae_directions(saematch::lap::MatrixView<float>::row_major(none.data(), 0, 64),
                                            saematch::lap::MatrixView<float>::row_major(none.data(), 0, 64), "empty"),
                        Catch::Contains("empty") && Catch::Contains("at least one latent"));
    REQUIRE_THROWS_WITH(cmp::sae_directions(p.a.encoder_view(), q.a.decoder_view(), "mixed"),
                        Catch::Contains("mixed") && Catch::Contains("decoder is"));
}

TEST_CASE("compare_many counts, per base latent, the SAEs it is shared with", "[compare]") {
    // Three SAEs: B and C are shuffled copies of A's "same" latents (plus the
    // other planted kinds), so each "same" latent is shared with both others.
    const auto ab = make_planted_pair(8, 64, 0, 21);
    const auto ac = make_planted_pair(8, 64, 0, 21);  // same seed: identical A, same B up to order
    std::vector<cmp::SaeDirections> saes;
    saes.push_back(directions(ab.a, "saes[0]"));
    saes.push_back(directions(ab.b, "saes[1]"));
    saes.push_back(directions(ac.b, "saes[2]"));
    std::size_t calls = 0;
    const auto many = cmp::compare_many(saes, options_for("sparse"), [&](std::size_t done, std::size_t total) {
        ++calls;
        CHECK(total == 3);
        CHECK(done == calls);
    });
    REQUIRE(many.pairs.size() == 3);
    REQUIRE(calls == 3);
    const auto counts = many.share_counts(cmp::SharedRule::paper, 0.7);
    for (std::size_t i = 0; i < 8; ++i) CHECK(counts[0][i] == 2);    // "same": shared with both
    for (std::size_t i = 8; i < 32; ++i) CHECK(counts[0][i] == 0);   // the rest of A: with neither
    // B and C are identical SAEs up to latent order: each latent is shared
    // with the other, and with A when it holds one of A's "same" latents.
    std::int64_t with_both = 0;
    for (auto c : counts[1]) with_both += c == 2;
    CHECK(with_both == 8);
    REQUIRE_THROWS_AS(cmp::compare_many(std::vector<cmp::SaeDirections>{}), std::invalid_argument);
}

TEST_CASE("a caller's GEMM serves the tiles, the certificate's rows and the dense path alike", "[compare]") {
    const auto planted = make_planted_pair(30, 32, 7, 23);
    const auto a = directions(planted.a, "a"), b = directions(planted.b, "b");
    for (const char* method : {"dense", "sparse"}) {
        auto with_gemm = options_for(method);
        std::int64_t calls = 0;
        with_gemm.candidates.gemm = [&calls](const float* x, std::ptrdiff_t ldx, const float* y, std::ptrdiff_t ldy,
                                             float* c, std::ptrdiff_t ldc, std::ptrdiff_t rows, std::ptrdiff_t cols,
                                             std::ptrdiff_t k) {
            ++calls;
            saematch::similarity::detail::gemm_abt_eigen(x, ldx, y, ldy, c, ldc, rows, cols, k);
        };
        auto plain = options_for(method);
        plain.candidates.screen = saematch::similarity::ScreenPrecision::float32;
        const auto got = cmp::match_latents(a.encoder, b.encoder, with_gemm);
        const auto want = cmp::match_latents(a.encoder, b.encoder, plain);
        INFO(method);
        CHECK(calls > 0);
        CHECK(got.partner_a == want.partner_a);
        if (std::string(method) == "sparse") {
            // Exact values whatever the GEMM; the dense path keeps the GEMM's
            // own rounding, which differs between Eigen and CBLAS.
            CHECK(got.cos_a == want.cos_a);
            CHECK(got.max_cos_a == want.max_cos_a);
            CHECK(got.recomputed_rows > 0);  // the certificate used it too
        }
    }
}
