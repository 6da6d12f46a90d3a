// The JumpReLU SAE (Rajamanoharan et al. 2024, as in SAELens): a learned
// threshold θ_i = exp(log_threshold_i) per latent,
//
//   pre  = W_enc (x − b_dec) + b_enc
//   f_i  = pre_i · H(pre_i − θ_i)                 (H: the step function)
//   x̂    = Σ_i f_i W_dec[i] + b_dec
//   loss = mean over tokens of ‖x̂ − x‖² + λ Σ_i H(pre_i − θ_i)   (an L0)
//
// H has no useful derivative, so θ learns through the straight-through
// estimator with a rectangle window of width ε (the bandwidth):
//   ∂f_i/∂θ_i ≈ −(θ_i/ε) K((pre_i − θ_i)/ε),  ∂H/∂θ_i ≈ −(1/ε) K(…),
// K(u) = 1 for |u| < 1/2. No gradient reaches pre through H.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "saematch/sae/architecture.hpp"
#include "saematch/sae/batch_share.hpp"

namespace saematch::sae {

struct JumpReluSae {
    static constexpr Architecture architecture = Architecture::jumprelu;  // its entry in sae/registry.hpp
    static constexpr ShareRule share_rule = ShareRule::weight_by_tokens;  // means over tokens
    SaeConfig config;
    at::Tensor W_enc, b_enc, W_dec, b_dec, log_threshold;  // ..., (n)

    static std::vector<std::string> parameter_names() {
        return {"W_enc", "b_enc", "W_dec", "b_dec", "log_threshold"};
    }

    static JumpReluSae initialised(const SaeConfig& config, std::uint64_t seed, at::Device device = at::kCPU) {
        detail::require_architecture(config, Architecture::jumprelu);
        at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
        JumpReluSae s;
        s.config = config;
        s.W_enc = linear_init(config.num_latents, config.d_in, gen).to(device);
        s.b_enc = at::zeros({config.num_latents}, s.W_enc.options());
        s.W_dec = s.W_enc.clone();
        normalize_rows(s.W_dec);
        s.b_dec = at::zeros({config.d_in}, s.W_enc.options());
        s.log_threshold = at::full({config.num_latents}, std::log(config.jumprelu_init_threshold), s.W_enc.options());
        return s;
    }

    std::vector<at::Tensor> parameters() const { return {W_enc, b_enc, W_dec, b_dec, log_threshold}; }

    static JumpReluSae from_parameters(const SaeConfig& config, std::vector<at::Tensor> p) {
        return {config, p.at(0), p.at(1), p.at(2), p.at(3), p.at(4)};
    }

    at::Tensor threshold() const { return log_threshold.exp(); }

    at::Tensor encode(const at::Tensor& x) const {
        check_batch(config, x);
        const auto pre = at::addmm(b_enc, x - b_dec, W_enc.t());
        return pre * (pre > threshold()).to(pre.scalar_type());
    }
    at::Tensor decode(const at::Tensor& acts) const { return at::addmm(b_dec, acts, W_dec); }
    at::Tensor forward(const at::Tensor& x) const { return decode(encode(x)); }

    StepResult step_gradients(const at::Tensor& x, const at::Tensor& variance) const {
        check_batch(config, x);
        const double tokens = static_cast<double>(x.size(0)), lambda = config.sparsity_coefficient;
        const double eps = config.jumprelu_bandwidth;
        const auto z = x - b_dec;
        const auto pre = at::addmm(b_enc, z, W_enc.t());
        const auto theta = threshold();
        const auto on = (pre > theta).to(pre.scalar_type());
        const auto acts = pre * on;
        const auto error = at::addmm(b_dec, acts, W_dec) - x;
        StepResult r;
        const auto squared = error.pow(2).sum();
        r.fvu = squared / variance;
        r.loss = squared / tokens + lambda * on.sum() / tokens;

        const auto g = error * (2.0 / tokens);
        auto g_W_dec = at::mm(acts.t(), g);
        const auto d_acts = at::mm(g, W_dec.t());
        const auto d_pre = d_acts * on;
        const auto window = ((pre - theta).abs() < 0.5 * eps).to(pre.scalar_type());  // K((pre − θ)/ε)
        const auto d_theta = -(theta / eps) * (d_acts * window).sum(0) - (lambda / (tokens * eps)) * window.sum(0);
        auto g_log_threshold = d_theta * theta;
        auto g_b_enc = d_pre.sum(0);
        auto g_W_enc = at::mm(d_pre.t(), z);
        auto g_b_dec = g.sum(0) - at::mv(W_enc.t(), g_b_enc);
        r.grads = {g_W_enc, g_b_enc, g_W_dec, g_b_dec, g_log_threshold};
        detail::dense_firing(acts, r);
        return r;
    }

    void before_update(StepResult&) {}
    void after_update() {}
};

static_assert(TrainableSae<JumpReluSae>);

}  // namespace saematch::sae
