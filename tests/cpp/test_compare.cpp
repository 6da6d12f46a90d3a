// Comparing SAEs: matchings, shared rules and multi-seed counts on pairs
// whose answer is known by construction, on both the dense and the streamed
// (sparse + certificate) path.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
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

TEST_CASE("a caller's GEMM serves the tiles and the certificate's rows; values stay exact", "[compare]") {
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
        // The dense path scores every pair exactly and needs no GEMM.
        CHECK((std::string(method) == "sparse") == (calls > 0));
        CHECK(got.partner_a == want.partner_a);
        CHECK(got.cos_a == want.cos_a);
        CHECK(got.max_cos_a == want.max_cos_a);
        if (std::string(method) == "sparse") CHECK(got.recomputed_rows > 0);  // the certificate used it too
    }
}

namespace {

// n random unit directions of width d, each repeated `copies[i]` times
// (copies of one direction are identical rows), in a shuffled order.
PlantedSae with_duplicates(std::mt19937_64& rng, const std::vector<int>& copies, std::ptrdiff_t d,
                           const std::vector<std::vector<float>>& directions_to_use) {
    PlantedSae s;
    s.d = d;
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < copies.size(); ++i)
        for (int c = 0; c < copies[i]; ++c) order.push_back(i);
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i : order) {
        s.encoder.insert(s.encoder.end(), directions_to_use[i].begin(), directions_to_use[i].end());
        s.decoder.insert(s.decoder.end(), directions_to_use[i].begin(), directions_to_use[i].end());
    }
    s.latents = static_cast<std::ptrdiff_t>(order.size());
    return s;
}

}  // namespace

TEST_CASE("exact duplicate latents get one canonical matching from every method, screen and thread count",
          "[compare][ties]") {
    // B's directions are noisy copies of A's; both SAEs carry groups of exact
    // duplicates, so many matchings are optimal.
    std::mt19937_64 rng(GENERATE(1u, 2u, 3u));
    std::normal_distribution<double> normal;
    const std::ptrdiff_t d = 24, kinds = 40;
    std::vector<std::vector<float>> base, noisy;
    for (std::ptrdiff_t i = 0; i < kinds; ++i) {
        base.push_back(random_direction(rng, d));
        std::vector<float> v = base.back();
        for (float& x : v) x += static_cast<float>(0.05 * normal(rng));
        noisy.push_back(v);
    }
    std::vector<int> copies_a(kinds), copies_b(kinds);
    std::uniform_int_distribution<int> copies(1, 4);
    for (std::ptrdiff_t i = 0; i < kinds; ++i) copies_a[i] = copies(rng), copies_b[i] = copies(rng);
    const PlantedSae pa = with_duplicates(rng, copies_a, d, base), pb = with_duplicates(rng, copies_b, d, noisy);
    const auto a = directions(pa, "a"), b = directions(pb, "b");

    const auto reference = cmp::compare_pair(a, b, options_for("dense"));
    // Canonical: within a group of identical A latents, matched partners
    // increase with the latent's index.
    for (std::ptrdiff_t i = 0; i < pa.latents; ++i)
        for (std::ptrdiff_t j = i + 1; j < pa.latents; ++j) {
            if (!std::equal(pa.encoder.begin() + i * d, pa.encoder.begin() + (i + 1) * d, pa.encoder.begin() + j * d))
                continue;
            const auto pi = reference.encoder.partner_a[static_cast<std::size_t>(i)];
            const auto pj = reference.encoder.partner_a[static_cast<std::size_t>(j)];
            if (pi < 0 || pj < 0 ||
                !std::equal(pb.encoder.begin() + pi * d, pb.encoder.begin() + (pi + 1) * d, pb.encoder.begin() + pj * d))
                continue;  // partners of different kinds: their order is the kinds' order
            CHECK(pi < pj);
        }
    // Encoder and decoder rows are the same directions here, so every latent
    // keeps the same partner in both matchings.
    CHECK(reference.encoder.partner_a == reference.decoder.partner_a);

    for (const std::int32_t k : {2, 5, 32}) {
        for (const int threads : {1, 2}) {
            auto o = options_for("sparse");
            o.candidates.k = k;
            o.threads = o.candidates.threads = threads;
            o.candidates.screen = saematch::similarity::ScreenPrecision::float32;
            const auto got = cmp::compare_pair(a, b, o);
            INFO("k " << k << ", threads " << threads);
            CHECK(got.encoder.partner_a == reference.encoder.partner_a);
            CHECK(got.decoder.partner_a == reference.decoder.partner_a);
            CHECK(got.encoder.cos_a == reference.encoder.cos_a);
            CHECK(got.shared(cmp::Side::a, cmp::SharedRule::paper, 0.7) ==
                  reference.shared(cmp::Side::a, cmp::SharedRule::paper, 0.7));
            CHECK(got.encoder.certified_gap == 0.0);
        }
    }
}

TEST_CASE("a latent compared with an identical one scores the same exact cosine on both paths", "[compare][ties]") {
    const auto planted = make_planted_pair(12, 40, 0, 5);
    const auto a = directions(planted.a, "a");
    const auto dense = cmp::match_latents(a.encoder, a.encoder, options_for("dense"));
    const auto sparse = cmp::match_latents(a.encoder, a.encoder, options_for("sparse"));
    CHECK(dense.cos_a == sparse.cos_a);
    CHECK(dense.total_cos == sparse.total_cos);
    for (std::size_t i = 0; i < dense.partner_a.size(); ++i) {
        CHECK(dense.partner_a[i] == static_cast<std::int32_t>(i));
        CHECK(dense.cos_a[i] <= 1.0f);  // a float32 GEMM gives 1.0000001 for some vectors
    }
}

TEST_CASE("every rule counts a cosine equal to the threshold as shared", "[compare][rules]") {
    cmp::PairReport r;
    r.encoder.partner_a = r.decoder.partner_a = {0, 1};
    r.encoder.partner_b = r.decoder.partner_b = {0, 1};
    r.encoder.cos_a = r.decoder.cos_a = {0.5f, 0.25f};
    r.encoder.cos_b = r.decoder.cos_b = r.encoder.cos_a;
    for (const auto rule : {cmp::SharedRule::paper, cmp::SharedRule::separate, cmp::SharedRule::decoder}) {
        INFO(cmp::rule_name(rule));
        CHECK(r.shared(cmp::Side::a, rule, 0.5) == std::vector<std::uint8_t>{1, 0});
        CHECK(r.shared(cmp::Side::a, rule, 0.25) == std::vector<std::uint8_t>{1, 1});
        CHECK(r.shared(cmp::Side::a, rule, 0.5000001) == std::vector<std::uint8_t>{0, 0});
    }
}

TEST_CASE("dead latents take no part in the matching: the live ones are matched among themselves",
          "[compare][dead]") {
    const char* method = GENERATE("dense", "sparse");
    std::mt19937_64 rng(17);
    const std::ptrdiff_t d = 16, n = 60;
    auto planted = make_planted_pair(15, d, 0, 9);
    // Kill a quarter of each side's latents (both matrices), at random places.
    std::vector<std::ptrdiff_t> dead_a, dead_b;
    std::vector<std::ptrdiff_t> idx(static_cast<std::size_t>(n));
    std::iota(idx.begin(), idx.end(), 0);
    std::shuffle(idx.begin(), idx.end(), rng);
    dead_a.assign(idx.begin(), idx.begin() + 15);
    std::shuffle(idx.begin(), idx.end(), rng);
    dead_b.assign(idx.begin(), idx.begin() + 12);
    for (auto i : dead_a)
        for (std::ptrdiff_t k = 0; k < d; ++k) planted.a.encoder[static_cast<std::size_t>(i * d + k)] = planted.a.decoder[static_cast<std::size_t>(i * d + k)] = 0.0f;
    for (auto j : dead_b)
        for (std::ptrdiff_t k = 0; k < d; ++k) planted.b.encoder[static_cast<std::size_t>(j * d + k)] = planted.b.decoder[static_cast<std::size_t>(j * d + k)] = 0.0f;
    const auto a = directions(planted.a, "a"), b = directions(planted.b, "b");
    const auto r = cmp::compare_pair(a, b, options_for(method));
    CHECK(r.dead_encoder_a == 15);
    CHECK(r.dead_decoder_b == 12);

    // Reference: the live latents alone, solved by the dense LAP on exact cosines.
    std::vector<std::ptrdiff_t> live_a, live_b;
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        if (std::find(dead_a.begin(), dead_a.end(), i) == dead_a.end()) live_a.push_back(i);
        if (std::find(dead_b.begin(), dead_b.end(), i) == dead_b.end()) live_b.push_back(i);
    }
    std::vector<double> s(live_a.size() * live_b.size());
    for (std::size_t x = 0; x < live_a.size(); ++x)
        for (std::size_t y = 0; y < live_b.size(); ++y)
            s[x * live_b.size() + y] = static_cast<float>(saematch::similarity::accurate_dot(
                a.encoder.rows.data() + live_a[x] * d, b.encoder.rows.data() + live_b[y] * d, d));
    saematch::lap::SolveOptions maximize;
    maximize.maximize = true;
    const auto ref = saematch::lap::solve_dense(saematch::lap::MatrixView<double>::row_major(
                                                    s.data(), static_cast<std::ptrdiff_t>(live_a.size()),
                                                    static_cast<std::ptrdiff_t>(live_b.size())),
                                                maximize);
    CHECK(r.encoder.total_cos == Approx(ref.objective).margin(1e-9));
    std::int64_t matched = 0;
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        const auto p = r.encoder.partner_a[static_cast<std::size_t>(i)];
        const bool dead = std::find(dead_a.begin(), dead_a.end(), i) != dead_a.end();
        if (dead) {
            CHECK(p == -1);
            CHECK(r.encoder.cos_a[static_cast<std::size_t>(i)] == 0.0f);
            CHECK(r.encoder.max_cos_a[static_cast<std::size_t>(i)] == 0.0f);
            continue;
        }
        if (p < 0) continue;
        ++matched;
        CHECK(std::find(dead_b.begin(), dead_b.end(), p) == dead_b.end());  // never a dead partner
    }
    CHECK(matched == static_cast<std::int64_t>(std::min(live_a.size(), live_b.size())));
    for (auto j : dead_b) CHECK(r.encoder.partner_b[static_cast<std::size_t>(j)] == -1);
}

TEST_CASE("an SAE whose latents are all dead matches nothing", "[compare][dead]") {
    auto planted = make_planted_pair(3, 8, 0, 4);
    std::fill(planted.a.encoder.begin(), planted.a.encoder.end(), 0.0f);
    std::fill(planted.a.decoder.begin(), planted.a.decoder.end(), 0.0f);
    const auto r = cmp::compare_pair(directions(planted.a, "a"), directions(planted.b, "b"), {});
    for (auto p : r.encoder.partner_a) CHECK(p == -1);
    for (auto p : r.decoder.partner_b) CHECK(p == -1);
    CHECK(r.encoder.total_cos == 0.0);
    CHECK(r.shared_fraction(cmp::Side::b, cmp::SharedRule::decoder, 0.0) == 0.0);
}

// Issue 14's check that a rule has one owner: a fourth rule written here, in
// the test alone, works everywhere the library takes a rule (pair masks,
// fractions, multi-seed counts), checked against explicit loops over the
// encoder matching.
namespace {
constexpr cmp::SharedRule kEncoderOnly{"encoder", "encoder cosine >= t alone (test-only)",
                                       [](const cmp::LatentMatch& m, double t) { return m.encoder_at_least(t); }};
}  // namespace

TEST_CASE("a rule defined outside the library works wherever a rule is taken", "[compare][rules]") {
    // Encoders and decoders swapped, so the planted "decoder only" latents
    // are shared in the encoder alone: this rule then differs from each
    // built-in one (checked at the end), and the test could not pass by
    // accident.
    const auto flipped = [](const PlantedSae& s) { return PlantedSae{s.latents, s.d, s.decoder, s.encoder}; };
    const auto ab = make_planted_pair(8, 64, 0, 21);
    const auto ac = make_planted_pair(8, 64, 5, 21);  // same A; B with 5 extra latents
    std::vector<cmp::SaeDirections> saes;
    saes.push_back(directions(flipped(ab.a), "saes[0]"));
    saes.push_back(directions(flipped(ab.b), "saes[1]"));
    saes.push_back(directions(flipped(ac.b), "saes[2]"));
    const auto many = cmp::compare_many(saes, options_for("sparse"));
    const double t = 0.7;
    std::vector<std::vector<std::int32_t>> expected(saes.size());
    for (std::size_t s = 0; s < saes.size(); ++s) expected[s].assign(static_cast<std::size_t>(saes[s].latents()), 0);
    for (std::size_t p = 0; p < many.pairs.size(); ++p) {
        const auto& pair = many.pairs[p];
        for (const auto side : {cmp::Side::a, cmp::Side::b}) {
            const auto owner = static_cast<std::size_t>(side == cmp::Side::a ? many.pair_ids[p].first
                                                                             : many.pair_ids[p].second);
            const auto mask = pair.shared(side, kEncoderOnly, t);
            std::ptrdiff_t hits = 0;
            for (std::size_t i = 0; i < mask.size(); ++i) {
                const bool by_hand = pair.enc_partner(side)[i] >= 0 && pair.enc_cos(side)[i] >= t;
                CHECK(mask[i] == by_hand);
                expected[owner][i] += by_hand;
                hits += by_hand;
            }
            CHECK(pair.shared_fraction(side, kEncoderOnly, t) ==
                  Approx(static_cast<double>(hits) / static_cast<double>(mask.size())));
        }
    }
    CHECK(many.share_counts(kEncoderOnly, t) == expected);
    CHECK(std::count(expected[0].begin(), expected[0].end(), 2) == 3 * 8);  // same, swapped, decoder kinds
    for (const auto& builtin : cmp::kSharedRules) CHECK(many.share_counts(builtin, t) != expected);
}

TEST_CASE("rules are found by name; an unknown name lists the known ones", "[compare][rules]") {
    for (const auto& rule : cmp::kSharedRules) CHECK(cmp::parse_rule(rule.name) == rule);
    try {
        cmp::parse_rule("both");
        FAIL("an unknown rule was accepted");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()) == "rule must be one of 'paper', 'separate', 'decoder', got 'both'");
    }
}
