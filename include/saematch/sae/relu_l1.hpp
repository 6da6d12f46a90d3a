// The ReLU SAE with an L1 penalty weighted by decoder norms (SAELens's
// "standard" architecture; Anthropic's April 2024 update):
//
//   a    = ReLU(W_enc (x − b_dec) + b_enc)
//   x̂    = Σ_i a_i W_dec[i] + b_dec
//   loss = mean over tokens of ‖x̂ − x‖² + λ Σ_i a_i ‖W_dec[i]‖
//
// Decoder norms are free (the penalty keeps them honest), so there is no
// renormalisation. Every latent can be active, so the backward is dense:
// three GEMMs of the forward's size.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "saematch/sae/architecture.hpp"
#include "saematch/sae/batch_share.hpp"
#include "saematch/sae/config.hpp"

namespace saematch::sae {

struct ReluSae {
    static constexpr Architecture architecture = Architecture::relu;  // its entry in sae/registry.hpp
    static constexpr ShareRule share_rule = ShareRule::weight_by_tokens;  // means over tokens
    SaeConfig config;
    at::Tensor W_enc, b_enc, W_dec, b_dec;  // (n, d), (n), (n, d), (d)

    static std::vector<std::string> parameter_names() { return {"W_enc", "b_enc", "W_dec", "b_dec"}; }

    // Anthropic's April 2024 recipe: decoder rows of norm 0.1 along random
    // directions, W_enc the same rows, biases 0. (Unit rows with every
    // latent active at first reconstruct at FVU ~10 on real activations, and
    // Adam spends the first hundreds of steps shrinking them.)
    static ReluSae initialised(const SaeConfig& config, std::uint64_t seed, at::Device device = at::kCPU) {
        detail::require_architecture(config, Architecture::relu);
        at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
        ReluSae s;
        s.config = config;
        s.W_dec = linear_init(config.num_latents, config.d_in, gen).to(device);
        normalize_rows(s.W_dec);
        s.W_dec.mul_(0.1);
        s.W_enc = s.W_dec.clone();
        s.b_enc = at::zeros({config.num_latents}, s.W_enc.options());
        s.b_dec = at::zeros({config.d_in}, s.W_enc.options());
        return s;
    }

    std::vector<at::Tensor> parameters() const { return {W_enc, b_enc, W_dec, b_dec}; }

    static ReluSae from_parameters(const SaeConfig& config, std::vector<at::Tensor> p) {
        return {config, p.at(0), p.at(1), p.at(2), p.at(3)};
    }

    // Activations, (tokens, n).
    at::Tensor encode(const at::Tensor& x) const {
        check_batch(config, x);
        return at::relu(at::addmm(b_enc, x - b_dec, W_enc.t()));
    }
    at::Tensor decode(const at::Tensor& acts) const { return at::addmm(b_dec, acts, W_dec); }
    at::Tensor forward(const at::Tensor& x) const { return decode(encode(x)); }

    StepResult step_gradients(const at::Tensor& x, const at::Tensor& variance) const {
        check_batch(config, x);
        const double tokens = static_cast<double>(x.size(0)), lambda = config.sparsity_coefficient;
        const auto z = x - b_dec;
        const auto pre = at::addmm(b_enc, z, W_enc.t());
        const auto acts = at::relu(pre);
        const auto error = at::addmm(b_dec, acts, W_dec) - x;
        const auto norms = W_dec.norm(2, 1);  // (n)
        StepResult r;
        const auto squared = error.pow(2).sum();
        r.fvu = squared / variance;
        r.loss = squared / tokens + lambda * (acts * norms).sum() / tokens;

        const auto g = error * (2.0 / tokens);
        auto g_W_dec = at::mm(acts.t(), g) + (lambda / tokens) * acts.sum(0).unsqueeze(1) * W_dec /
                                                  norms.clamp_min(1e-30).unsqueeze(1);
        const auto d_acts = at::mm(g, W_dec.t()) + (lambda / tokens) * norms;
        const auto d_pre = d_acts * (pre > 0).to(d_acts.scalar_type());
        auto g_b_enc = d_pre.sum(0);
        auto g_W_enc = at::mm(d_pre.t(), z);
        auto g_b_dec = g.sum(0) - at::mv(W_enc.t(), g_b_enc);
        r.grads = {g_W_enc, g_b_enc, g_W_dec, g_b_dec};
        detail::dense_firing(acts, r);
        return r;
    }

    void before_update(StepResult&) {}
    void after_update() {}
};

static_assert(TrainableSae<ReluSae>);

}  // namespace saematch::sae
