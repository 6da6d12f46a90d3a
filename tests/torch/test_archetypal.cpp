// The Archetypal SAE (sae/archetypal.hpp): its gradient against autograd
// through the dense formula W_dec = W C + Λ, the simplex projection against
// a bisection on its threshold, k-means on planted clusters, and training
// through the multi-seed trainer: constraints kept, the two
// initialisations' points shared or not across seeds, the folder round trip.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <vector>

#include "saematch/io/sae_folder.hpp"
#include "saematch/sae/archetypal.hpp"
#include "saematch/train/checkpoint.hpp"
#include "saematch/train/trainer.hpp"

namespace sae = saematch::sae;
namespace train = saematch::train;
namespace io = saematch::io;

namespace {

sae::SaeConfig config(std::int64_t d = 10, std::int64_t n = 24, std::int64_t k = 4, std::int64_t m = 12) {
    sae::SaeConfig c;
    c.architecture = sae::Architecture::archetypal;
    c.d_in = d;
    c.num_latents = n;
    c.k = k;
    c.archetypal_points = m;
    c.archetypal_delta = 0.3;
    return c;
}

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

// The projection of one row onto the simplex by bisection on θ, where
// Σ max(v − θ, 0) = 1 (decreasing in θ), in explicit loops.
std::vector<double> simplex_by_bisection(const std::vector<double>& v) {
    double lo = *std::min_element(v.begin(), v.end()) - 1.0, hi = *std::max_element(v.begin(), v.end());
    for (int it = 0; it < 200; ++it) {
        const double mid = 0.5 * (lo + hi);
        double sum = 0.0;
        for (double x : v) sum += std::max(x - mid, 0.0);
        (sum > 1.0 ? lo : hi) = mid;
    }
    std::vector<double> w;
    for (double x : v) w.push_back(std::max(x - 0.5 * (lo + hi), 0.0));
    return w;
}

void check_projection(const at::Tensor& v) {
    const auto w = sae::project_rows_to_simplex(v.to(at::kDouble));
    for (std::int64_t r = 0; r < v.size(0); ++r) {
        std::vector<double> row;
        for (std::int64_t j = 0; j < v.size(1); ++j) row.push_back(v[r][j].item<double>());
        const auto ref = simplex_by_bisection(row);
        for (std::int64_t j = 0; j < v.size(1); ++j) {
            INFO("row " << r << ", column " << j);
            CHECK(w[r][j].item<double>() == Approx(ref[static_cast<std::size_t>(j)]).margin(1e-9));
        }
    }
}

// Points, weights on the simplex and a relaxation, all random, in place.
void randomise(sae::ArchetypalSae& s) {
    s.points.normal_();
    s.weights.copy_(sae::project_rows_to_simplex(torch::randn_like(s.weights)));
    s.relaxation.normal_(0, 0.1);
    s.b_dec.normal_(0, 0.2);
    s.b_enc.normal_(0, 0.2);
    s.realise_decoder();
}

// Three planted, well-separated clusters in d = 6.
at::Tensor clusters(at::Tensor& centres) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    centres = 20.0 * at::randn({3, 6}, gen);
    const auto which = at::arange(300) % 3;
    return centres.index_select(0, which) + 0.1 * at::randn({300, 6}, gen);
}

}  // namespace

TEST_CASE("the simplex projection equals a bisection on its threshold", "[archetypal]") {
    torch::manual_seed(2);
    SECTION("random rows, of several scales") {
        check_projection(torch::randn({20, 7}));
        check_projection(10.0 * torch::randn({5, 30}));
        check_projection(1e-3 * torch::randn({5, 4}));
    }
    SECTION("a row already on the simplex stays") {
        const auto on = torch::tensor({{0.2, 0.3, 0.5, 0.0}, {1.0, 0.0, 0.0, 0.0}}, torch::kDouble);
        CHECK(max_abs(sae::project_rows_to_simplex(on) - on) < 1e-15);
        check_projection(on);
    }
    SECTION("all negative, ties, one column") {
        const auto negative = torch::tensor({{-3.0, -1.0, -2.0}, {-5.0, -5.0, -5.0}}, torch::kDouble);
        check_projection(negative);
        // Equal entries split the mass equally.
        CHECK(max_abs(sae::project_rows_to_simplex(negative)[1] - 1.0 / 3.0) < 1e-15);
        check_projection(torch::tensor({{0.7, 0.7, 0.1, 0.7}, {2.0, 2.0, -1.0, -1.0}}, torch::kDouble));
        CHECK(max_abs(sae::project_rows_to_simplex(torch::tensor({{-4.0}, {9.0}})) - 1.0) == 0.0);
    }
    SECTION("float32 rows sum to one and are non-negative") {
        const auto w = sae::project_rows_to_simplex(torch::randn({50, 40}));
        CHECK(w.scalar_type() == torch::kFloat);
        CHECK(w.min().item<float>() >= 0.0f);
        CHECK(max_abs(w.sum(1) - 1.0) < 1e-6);
    }
}

TEST_CASE("row norms are clipped to delta, directions kept, short rows untouched", "[archetypal]") {
    auto t = torch::tensor({{3.0, 4.0}, {0.3, 0.4}, {0.0, 0.0}}, torch::kFloat);
    sae::clip_row_norms(t, 1.0);
    CHECK(max_abs(t[0] - torch::tensor({0.6, 0.8})) < 1e-7);
    CHECK(max_abs(t[1] - torch::tensor({0.3, 0.4})) == 0.0);
    CHECK(max_abs(t[2]) == 0.0);
    sae::clip_row_norms(t, 0.0);
    CHECK(max_abs(t) == 0.0);
}

TEST_CASE("k-means finds planted clusters, the same every time", "[archetypal]") {
    at::Tensor centres;
    const auto z = clusters(centres);
    const auto found = sae::kmeans_centroids(z, 3);
    CHECK(torch::equal(found, sae::kmeans_centroids(z, 3)));
    // Each planted centre has a found centroid within the noise of a mean of 100 points.
    const auto distance = torch::cdist(centres, found);
    CHECK(std::get<0>(distance.min(1)).max().item<double>() < 0.1);
    CHECK(torch::equal(std::get<0>(std::get<1>(distance.min(1)).sort()), torch::arange(3)));
    CHECK_THROWS_WITH(sae::kmeans_centroids(z, 301), Catch::Contains("at least m = 301 rows"));
    // Fewer distinct rows than centroids (a constant batch, duplicates): every centroid is one of them.
    const auto twice = torch::cat({torch::ones({6, 4}), -torch::ones({6, 4})});
    const auto c = sae::kmeans_centroids(twice, 5);
    CHECK(torch::equal(c.abs(), torch::ones({5, 4})));
    CHECK(torch::equal(sae::kmeans_centroids(torch::full({8, 3}, 2.0), 4), torch::full({4, 3}, 2.0)));
}

TEST_CASE("the archetypal gradient equals autograd through W_dec = W C + Λ", "[archetypal]") {
    torch::manual_seed(4);
    for (bool auxk : {false, true}) {
        auto c = config();
        if (auxk) {
            c.auxk_alpha = 0.5;
            c.multi_topk = true;
        }
        auto s = sae::ArchetypalSae::initialised(c, 3);
        randomise(s);
        const auto x = torch::randn({17, 10});
        const auto variance = sae::total_variance(x);
        const auto r = s.step_gradients(x, variance);

        std::vector<torch::Tensor> p;
        for (const auto& t : s.parameters()) p.push_back(t.detach().clone().requires_grad_(true));
        const auto D = torch::addmm(p[5], p[4], p[6]);  // Λ + W C
        const auto pre = torch::relu(torch::addmm(p[1], x - p[3], p[0].t()));
        const auto recon_with = [&](std::int64_t keep) {
            const auto idx = std::get<1>(pre.detach().topk(keep, 1));
            const auto acts = torch::zeros_like(pre).scatter(1, idx, pre.gather(1, idx));
            return torch::addmm(p[3], acts, D);
        };
        auto loss = (recon_with(4) - x).pow(2).sum() / variance;
        if (auxk) loss = loss + (recon_with(16) - x).pow(2).sum() / variance / 8.0;  // no latent is dead yet: no AuxK term
        loss.backward();
        CHECK(r.loss.item<double>() == Approx(loss.item<double>()).epsilon(1e-5));
        CHECK_FALSE(r.grads[2].defined());  // W_dec is realised, not trained
        CHECK_FALSE(r.grads[6].defined());  // the points are fixed
        for (std::size_t i : {0u, 1u, 3u, 4u, 5u}) {
            INFO("parameter " << sae::ArchetypalSae::parameter_names()[i] << ", multi-TopK " << auxk);
            REQUIRE(r.grads[i].defined());
            CHECK(max_abs(r.grads[i] - p[i].grad()) <= 2e-4 * max_abs(p[i].grad()));
        }
    }
}

TEST_CASE("archetypal training keeps W on the simplex, Λ within δ and W_dec = W C + Λ", "[archetypal][train]") {
    torch::manual_seed(6);
    const auto data = torch::randn({2000, 10}).mm(torch::randn({10, 10})) + 3.0;
    for (const char* init : {"kmeans", "random"}) {
        INFO("init " << init);
        auto c = config();
        c.archetypal_init = init;
        train::TrainOptions o;
        o.seeds = {1, 2, 3};
        o.batch_size = 100;
        o.lr = 1e-2;
        o.lr_warmup_steps = 5;
        train::Trainer<sae::ArchetypalSae> t(c, o);
        const auto first = data.narrow(0, 0, 100);
        t.train(data, 6000);
        const double fvu_start = t.history()[0].front().fvu, fvu_end = t.history()[0].back().fvu;
        CHECK(fvu_end < 0.8 * fvu_start);
        for (std::int64_t s = 0; s < 3; ++s) {
            const auto a = t.sae(s);
            CHECK(a.weights.min().item<float>() >= 0.0f);
            CHECK(max_abs(a.weights.sum(1) - 1.0) < 1e-5);
            CHECK(a.relaxation.norm(2, 1).max().item<double>() <= c.archetypal_delta * (1 + 1e-5));
            // The relaxation is used: some rows are at their bound.
            CHECK(a.relaxation.norm(2, 1).max().item<double>() > 0.5 * c.archetypal_delta);
            CHECK(max_abs(a.W_dec - torch::addmm(a.relaxation, a.weights, a.points)) < 1e-5);
            // The points never move, and are the first batch's rows / centroids (centred by its mean).
            const auto z = first - first.mean(0);
            if (std::string(init) == "random") {
                // Each point is one row of z (largest coordinate difference to its nearest row).
                const auto gap = (a.points.unsqueeze(1) - z.unsqueeze(0)).abs().amax(2);
                CHECK(std::get<0>(gap.min(1)).max().item<double>() == 0.0);
            } else {
                CHECK(torch::equal(a.points, sae::kmeans_centroids(z, c.archetypal_points)));
            }
        }
        // kmeans: every seed has the same points (and so started at the same
        // decoder); random: each its own. The encoders differ either way.
        const bool same_points = torch::equal(t.sae(0).points, t.sae(1).points);
        CHECK(same_points == (std::string(init) == "kmeans"));
        CHECK_FALSE(torch::equal(t.sae(0).W_enc, t.sae(1).W_enc));
    }
}

TEST_CASE("a kmeans start is the same decoder for every seed; a random start is not", "[archetypal][train]") {
    torch::manual_seed(7);
    const auto batch = torch::randn({64, 10});
    for (const char* init : {"kmeans", "random"}) {
        auto c = config();
        c.archetypal_init = init;
        train::TrainOptions o;
        o.seeds = {5, 9};
        o.batch_size = 64;
        o.lr = 0.0;
        train::Trainer<sae::ArchetypalSae> t(c, o);
        // The step's update moves W and Λ; the start is what the points give.
        const auto z = batch - batch.mean(0);
        const auto shared = sae::ArchetypalSae::shared_start(c, z);
        auto a = sae::ArchetypalSae::initialised(c, 5), b = sae::ArchetypalSae::initialised(c, 9);
        a.start_from_data(z, shared, 5);
        b.start_from_data(z, shared, 9);
        // Atom i starts at point i mod m.
        CHECK(torch::equal(a.W_dec, a.points.index_select(0, torch::arange(24) % 12)));
        CHECK(torch::equal(a.W_dec, b.W_dec) == (std::string(init) == "kmeans"));
        t.step(batch);
        CHECK(torch::equal(t.sae(0).points, a.points));
        CHECK(torch::equal(t.sae(1).points, b.points));
    }
}

TEST_CASE("a first batch shorter than archetypal_points is refused, naming both, weights untouched", "[archetypal]") {
    auto c = config();
    c.archetypal_points = 50;
    train::TrainOptions o;
    o.batch_size = 40;
    train::Trainer<sae::ArchetypalSae> t(c, o);
    const auto before = t.sae(0).W_enc.clone();
    const auto b_dec = t.sae(0).b_dec.clone();
    CHECK_THROWS_WITH(t.step(torch::randn({40, 10})),
                      Catch::Contains("archetypal_points = 50") && Catch::Contains("only 40 tokens") &&
                          Catch::Contains("raise batch_size or lower archetypal_points"));
    CHECK(torch::equal(t.sae(0).W_enc, before));
    CHECK(torch::equal(t.sae(0).b_dec, b_dec));
    CHECK(t.steps() == 0);
    t.step(torch::randn({60, 10}));  // a long enough batch starts it
    CHECK(t.steps() == 1);
}

TEST_CASE("a bad archetypal config names the field", "[archetypal]") {
    auto c = config();
    c.archetypal_points = 0;
    CHECK_THROWS_WITH(c.validate(), Catch::Contains("archetypal_points must be a positive integer, got 0"));
    c = config();
    c.archetypal_delta = -0.1;
    CHECK_THROWS_WITH(c.validate(), Catch::Contains("archetypal_delta must be a finite number >= 0, got -0.1"));
    c.archetypal_delta = std::nan("");
    CHECK_THROWS_WITH(c.validate(), Catch::Contains("archetypal_delta"));
    c = config();
    c.archetypal_init = "furthest";
    CHECK_THROWS_WITH(c.validate(), Catch::Contains("archetypal_init must be \"kmeans\" or \"random\", got \"furthest\""));
}

TEST_CASE("an archetypal SAE's folder holds W_dec and its parts, and the config round-trips", "[archetypal][checkpoint]") {
    auto c = config();
    c.archetypal_init = "random";
    c.archetypal_delta = 0.25;
    auto s = sae::ArchetypalSae::initialised(c, 1);
    torch::manual_seed(8);
    randomise(s);
    const auto dir = std::filesystem::temp_directory_path() / "saematch_archetypal_folder";
    std::filesystem::remove_all(dir);
    io::write_sae_folder(dir, train::to_folder(s, s.config, {}));
    CHECK(std::filesystem::exists(dir / "sae.safetensors"));
    const auto folder = io::read_sae_folder(dir);
    CHECK(folder.config.archetypal_init == "random");
    CHECK(folder.config.archetypal_delta == 0.25);
    CHECK(folder.config.archetypal_points == 12);
    const auto& w_dec = folder.parameter("W_dec");
    const auto realised = s.W_dec.contiguous();
    CHECK(std::equal(w_dec.values.begin(), w_dec.values.end(), realised.data_ptr<float>()));
    CHECK(folder.parameter("archetypal.points").shape == std::vector<std::int64_t>{12, 10});
    CHECK(folder.parameter("archetypal.weights").shape == std::vector<std::int64_t>{24, 12});
    CHECK_THROWS_WITH(io::write_sae_folder(dir, train::to_folder(s, s.config, {}), io::Layout::saelens),
                      Catch::Contains("archetypal SAE is written in sparsify's layout only"));

    // A cfg.json from before the archetypal fields reads with their defaults
    // (here: then the points' shape no longer agrees, and the tensor is named).
    nlohmann::json cfg;
    std::ifstream(dir / "cfg.json") >> cfg;
    for (const char* key : {"archetypal_points", "archetypal_delta", "archetypal_init"}) cfg["saematch"].erase(key);
    std::ofstream(dir / "cfg.json") << cfg.dump();
    CHECK_THROWS_WITH(io::read_sae_folder(dir), Catch::Contains("does not have the shape cfg.json gives") &&
                                                    Catch::Contains("archetypal_points") && Catch::Contains("256"));
    cfg["saematch"]["archetypal_points"] = 12;
    std::ofstream(dir / "cfg.json") << cfg.dump();
    const auto old = io::read_sae_folder(dir);
    CHECK(old.config.archetypal_init == "kmeans");
    CHECK(old.config.archetypal_delta == 1.0);
}
