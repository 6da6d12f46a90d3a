// The Archetypal SAE, relaxed (RA-SAE; Fel et al. 2025, arXiv 2502.12892):
// TopK's encoder and loss (topk.hpp), with every decoder row kept near the
// convex hull of a fixed set of data points:
//
//   W_dec = W C + Λ,   C (m, d) the candidate points, fixed;
//                      W (n, m) row-stochastic: W >= 0, each row sums to 1;
//                      Λ (n, d) the relaxation, ‖Λ_i‖ <= δ per row.
//
// W and Λ are trained (dL/dW = dL/dW_dec Cᵀ, dL/dΛ = dL/dW_dec); after each
// optimiser step W's rows are projected onto the simplex (the exact
// Euclidean projection: W itself is what is trained and saved, where a
// reparametrisation through a ReLU and a row normalisation would keep a
// second matrix), Λ's rows are shrunk to norm δ, and W_dec is recomputed. W_dec is stored as
// the realised W C + Λ, so every reader of W_dec (compare, load, other
// tools) needs nothing else; C, W and Λ are stored beside it, so a resumed
// run continues exactly. Decoder rows are not normalised: their length is
// that of the data points (the paper's dictionary is not unit-norm either).
//
// The points come from the data: from the first trained batch, centred by
// its mean (the decoder adds b_dec, which starts at that mean), which the
// trainer hands to start_from_data. That seam serves arrays, shards,
// iterables and online training alike; it needs a first batch of at least
// m tokens. Two initialisations (SaeConfig::archetypal_init), the ablation
// of Brzozowski & Chung (2026):
//   kmeans  C = k-means centroids of the batch (k-means++ seeding from a
//           fixed generator, then Lloyd), so every seed gets the same C;
//           atom i starts at centroid i mod m.
//   random  C = m distinct tokens of the batch drawn with the SAE's seed;
//           atom i starts at point i mod m.
// Both start W one-hot and Λ = 0; only C differs. (A uniformly random
// convex combination of m points sits near their mean, the origin of the
// centred data, so random W would start every atom near zero.) The encoder
// is TopK's, drawn from the seed (PyTorch's Linear init) in both cases,
// not tied to the decoder: tying it would make every kmeans seed the same
// SAE.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "saematch/sae/architecture.hpp"
#include "saematch/sae/config.hpp"
#include "saematch/sae/topk.hpp"

namespace saematch::sae {

// The Euclidean projection of each row of v (rows, m) onto the probability
// simplex {w >= 0, Σw = 1}: w = max(v − θ, 0), θ from the sorted row
// (Held, Wolfe & Crowder 1974): with u sorted descending and ρ the largest
// j such that u_j − (Σ_{i<=j} u_i − 1) / j > 0 (that holds on a prefix of
// j, and always at j = 1), θ = (Σ_{i<=ρ} u_i − 1) / ρ. In float64, so the
// float32 result sums to 1 within float32 rounding.
inline at::Tensor project_rows_to_simplex(const at::Tensor& v) {
    if (v.dim() != 2 || v.size(1) < 1)
        throw std::invalid_argument("project_rows_to_simplex needs a (rows, m >= 1) matrix");
    const auto v64 = v.to(at::kDouble);
    const auto u = std::get<0>(at::sort(v64, /*dim=*/1, /*descending=*/true));
    const auto excess = at::cumsum(u, 1) - 1.0;
    const auto j = at::arange(1, v.size(1) + 1, v64.options());
    const auto rho = ((u - excess / j) > 0).sum(1, /*keepdim=*/true).clamp_min(1);
    const auto theta = excess.gather(1, rho - 1) / rho.to(at::kDouble);
    return (v64 - theta).clamp_min(0.0).to(v.scalar_type());
}

// Scales in place each row of t whose norm exceeds max_norm down to it.
inline void clip_row_norms(at::Tensor& t, double max_norm) {
    const auto norms = t.norm(2, /*dim=*/1, /*keepdim=*/true);
    t.mul_((max_norm / norms.clamp_min(1e-30)).clamp_max(1.0));
}

// The fixed generator seed of k-means: the centroids depend on the data only.
inline constexpr std::uint64_t kKMeansSeed = 0;
inline constexpr std::int64_t kKMeansIterations = 25;

// k-means on the rows of z (tokens, d): m centroids seeded by k-means++
// (Arthur & Vassilvitskii 2007: each next start drawn with probability
// proportional to its squared distance from the starts so far) from a
// generator seeded with kKMeansSeed, then at most `iterations` Lloyd rounds
// (fewer when the assignment stops changing); a centroid that loses all its
// rows stays where it was. In float64, sums in row order; returns (m, d)
// float32 on z's device. Same z, same centroids.
inline at::Tensor kmeans_centroids(const at::Tensor& z, std::int64_t m,
                                   std::int64_t iterations = kKMeansIterations) {
    if (z.dim() != 2 || m < 1 || z.size(0) < m)
        throw std::invalid_argument("k-means needs at least m = " + std::to_string(m) + " rows, got " +
                                    std::to_string(z.dim() == 2 ? z.size(0) : 0));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(kKMeansSeed);
    const auto z64 = z.to(at::kDouble);
    const auto sq_norms = z64.pow(2).sum(1);
    const auto distance_to = [&](std::int64_t row) {  // ‖z − z_row‖², clamped: rounding can make it negative
        return (sq_norms - 2.0 * at::mv(z64, z64[row]) + sq_norms[row]).clamp_min(0.0);
    };
    std::vector<std::int64_t> starts{at::randint(z.size(0), {1}, gen, at::TensorOptions().dtype(at::kLong)).item<std::int64_t>()};
    auto nearest = distance_to(starts[0]);
    while (static_cast<std::int64_t>(starts.size()) < m) {
        auto weights = nearest.cpu();
        if (!(weights.sum().item<double>() > 0.0)) weights = at::ones_like(weights);  // every row is a start already
        starts.push_back(at::multinomial(weights, 1, false, gen).item<std::int64_t>());
        nearest = at::minimum(nearest, distance_to(starts.back()));
    }
    auto centroids = z64.index_select(0, at::tensor(starts, at::TensorOptions().dtype(at::kLong)).to(z.device()));
    at::Tensor labels;
    for (std::int64_t it = 0; it < iterations; ++it) {
        // argmin_c ‖z − c‖² = argmin_c (‖c‖² − 2 z·c); ties go to the lower index.
        const auto score = centroids.pow(2).sum(1).unsqueeze(0) - 2.0 * at::mm(z64, centroids.t());
        auto next = score.argmin(1);
        if (labels.defined() && at::equal(next, labels)) break;
        labels = std::move(next);
        const auto sums = at::zeros_like(centroids).index_add_(0, labels, z64);
        const auto counts = at::bincount(labels, {}, m).to(at::kDouble).unsqueeze(1);
        centroids = at::where(counts > 0, sums / counts.clamp_min(1.0), centroids);
    }
    return centroids.to(at::kFloat);
}

struct ArchetypalSae {
    static constexpr Architecture architecture = Architecture::archetypal;  // its entry in sae/registry.hpp
    SaeConfig config;
    at::Tensor W_enc;       // (n, d)
    at::Tensor b_enc;       // (n)
    at::Tensor W_dec;       // (n, d): W C + Λ, recomputed after every step; not trained directly
    at::Tensor b_dec;       // (d)
    at::Tensor weights;     // W (n, m), row-stochastic
    at::Tensor relaxation;  // Λ (n, d), rows of norm <= δ
    at::Tensor points;      // C (m, d), fixed once the first batch has set it

    static std::vector<std::string> parameter_names() {
        return {"encoder.weight", "encoder.bias",          "W_dec",           "b_dec",
                "archetypal.weights", "archetypal.relaxation", "archetypal.points"};
    }

    // Before any data: TopK's encoder from the seed, W one-hot (atom i on
    // point i mod m), Λ = 0, and C = 0 (so W_dec = 0) until start_from_data.
    static ArchetypalSae initialised(const SaeConfig& config, std::uint64_t seed, at::Device device = at::kCPU) {
        detail::require_architecture(config, Architecture::archetypal);
        at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
        const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
        const std::int64_t n = config.num_latents, d = config.d_in, m = config.archetypal_points;
        ArchetypalSae s;
        s.config = config;
        s.W_enc = linear_init(n, d, gen).to(device);
        s.b_enc = at::zeros({n}, f32);
        s.W_dec = at::zeros({n, d}, f32);
        s.b_dec = at::zeros({d}, f32);
        s.weights = at::one_hot(at::arange(n, at::TensorOptions().dtype(at::kLong)) % m, m).to(f32);
        s.relaxation = at::zeros({n, d}, f32);
        s.points = at::zeros({m, d}, f32);
        return s;
    }

    std::vector<at::Tensor> parameters() const { return {W_enc, b_enc, W_dec, b_dec, weights, relaxation, points}; }

    static ArchetypalSae from_parameters(const SaeConfig& config, std::vector<at::Tensor> p) {
        return {config, p.at(0), p.at(1), p.at(2), p.at(3), p.at(4), p.at(5), p.at(6)};
    }

    // What every seed shares, computed once by the trainer from the first
    // batch z (centred): the k-means centroids, or nothing (random init).
    static at::Tensor shared_start(const SaeConfig& config, const at::Tensor& z) {
        check_first_batch(config, z);
        if (config.archetypal_init != "kmeans") return {};
        return kmeans_centroids(z, config.archetypal_points);
    }

    // Sets C from the first batch z (centred) and W_dec = W C + Λ, in place
    // (the trainer's views); `shared` is shared_start's result.
    void start_from_data(const at::Tensor& z, const at::Tensor& shared, std::uint64_t seed) {
        check_first_batch(config, z);
        if (shared.defined()) {
            points.copy_(shared);
        } else {
            // Another stream than the encoder's draw from the same seed.
            at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ 0x9E3779B97F4A7C15ULL);
            const auto rows = at::randperm(z.size(0), gen, at::TensorOptions().dtype(at::kLong))
                                  .narrow(0, 0, config.archetypal_points);
            points.copy_(z.index_select(0, rows.to(z.device())));
        }
        realise_decoder();
    }

    TopKSae topk() const { return {config, W_enc, b_enc, W_dec, b_dec}; }

    TopKCodes encode(const at::Tensor& x) const { return topk().encode(x); }
    at::Tensor decode(const TopKCodes& codes) const { return topk().decode(codes); }
    at::Tensor forward(const at::Tensor& x) const { return decode(encode(x)); }

    // TopK's loss and gradient, the decoder's carried to W and Λ:
    // grads = {W_enc, b_enc, -, b_dec, W, Λ, -} (W_dec and C are not trained).
    StepResult gradients_from_pre(const at::Tensor& x, const at::Tensor& pre, const at::Tensor& variance,
                                  std::vector<at::Tensor> out = {}, const DeadLatents& dead = {}) const {
        out.resize(7);
        auto r = topk().gradients_from_pre(x, pre, variance, {out[0], out[1], out[2], out[3]}, dead);
        const auto grad_dec = r.grads[2];
        at::Tensor grad_w = out[4].defined() ? out[4] : at::empty_like(weights);
        at::mm_out(grad_w, grad_dec, points.t());
        r.grads = {r.grads[0], r.grads[1], at::Tensor(), r.grads[3], grad_w, grad_dec, at::Tensor()};
        return r;
    }

    StepResult step_gradients(const at::Tensor& x, const at::Tensor& variance) const {
        return gradients_from_pre(x, topk().pre_activations(x), variance);
    }

    void before_update(StepResult&) {}

    // Back onto the constraint set, then the decoder they define.
    void after_update() {
        weights.copy_(project_rows_to_simplex(weights));
        clip_row_norms(relaxation, config.archetypal_delta);
        realise_decoder();
    }

    void realise_decoder() { W_dec.copy_(at::addmm(relaxation, weights, points)); }

private:
    static void check_first_batch(const SaeConfig& config, const at::Tensor& z) {
        if (z.size(0) < config.archetypal_points)
            throw std::invalid_argument(
                "an archetypal SAE takes its archetypal_points = " + std::to_string(config.archetypal_points) +
                " candidate points from the first batch, which has only " + std::to_string(z.size(0)) +
                " tokens: raise batch_size or lower archetypal_points");
    }
};

static_assert(TrainableSae<ArchetypalSae>);

}  // namespace saematch::sae
