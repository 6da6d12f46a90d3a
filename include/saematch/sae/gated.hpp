// The gated SAE (Rajamanoharan et al. 2024, as in SAELens): one encoder
// matrix shared by a gate path, which decides which latents fire, and a
// magnitude path, which decides how strongly, rescaled per latent by
// exp(r_mag):
//
//   u      = W_enc (x − b_dec)
//   π_gate = u + b_gate,          π_mag = exp(r_mag) ⊙ u + b_mag
//   f      = [π_gate > 0] ⊙ ReLU(π_mag)
//   x̂      = Σ_i f_i W_dec[i] + b_dec
//   loss   = mean over tokens of ‖x̂ − x‖²
//            + λ Σ_i ReLU(π_gate)_i ‖W_dec[i]‖              (sparsity, on the gate)
//            + ‖ReLU(π_gate) · sg(W_dec) + sg(b_dec) − x‖²   (auxiliary; sg: no gradient)
//
// The step function passes no gradient: the gate learns from the sparsity
// and auxiliary terms only.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "saematch/sae/architecture.hpp"
#include "saematch/sae/batch_share.hpp"

namespace saematch::sae {

struct GatedSae {
    static constexpr Architecture architecture = Architecture::gated;  // its entry in sae/registry.hpp
    static constexpr ShareRule share_rule = ShareRule::weight_by_tokens;  // means over tokens
    SaeConfig config;
    at::Tensor W_enc, b_gate, r_mag, b_mag, W_dec, b_dec;  // (n, d), (n), (n), (n), (n, d), (d)

    static std::vector<std::string> parameter_names() { return {"W_enc", "b_gate", "r_mag", "b_mag", "W_dec", "b_dec"}; }

    static GatedSae initialised(const SaeConfig& config, std::uint64_t seed, at::Device device = at::kCPU) {
        detail::require_architecture(config, Architecture::gated);
        at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
        GatedSae s;
        s.config = config;
        s.W_enc = linear_init(config.num_latents, config.d_in, gen).to(device);
        const auto zeros = [&] { return at::zeros({config.num_latents}, s.W_enc.options()); };
        s.b_gate = zeros();
        s.r_mag = zeros();
        s.b_mag = zeros();
        s.W_dec = s.W_enc.clone();
        normalize_rows(s.W_dec);
        s.b_dec = at::zeros({config.d_in}, s.W_enc.options());
        return s;
    }

    std::vector<at::Tensor> parameters() const { return {W_enc, b_gate, r_mag, b_mag, W_dec, b_dec}; }

    static GatedSae from_parameters(const SaeConfig& config, std::vector<at::Tensor> p) {
        return {config, p.at(0), p.at(1), p.at(2), p.at(3), p.at(4), p.at(5)};
    }

    at::Tensor encode(const at::Tensor& x) const {
        check_batch(config, x);
        const auto u = at::mm(x - b_dec, W_enc.t());
        return ((u + b_gate) > 0).to(u.scalar_type()) * at::relu(u * r_mag.exp() + b_mag);
    }
    at::Tensor decode(const at::Tensor& acts) const { return at::addmm(b_dec, acts, W_dec); }
    at::Tensor forward(const at::Tensor& x) const { return decode(encode(x)); }

    StepResult step_gradients(const at::Tensor& x, const at::Tensor& variance) const {
        check_batch(config, x);
        const double tokens = static_cast<double>(x.size(0)), lambda = config.sparsity_coefficient;
        const auto z = x - b_dec;
        const auto u = at::mm(z, W_enc.t());
        const auto pi_gate = u + b_gate;
        const auto gate = (pi_gate > 0).to(u.scalar_type());
        const auto scale = r_mag.exp();
        const auto pi_mag = u * scale + b_mag;
        const auto acts = gate * at::relu(pi_mag);
        const auto gate_acts = at::relu(pi_gate);
        const auto norms = W_dec.norm(2, 1);
        const auto error = at::addmm(b_dec, acts, W_dec) - x;
        const auto aux_error = at::addmm(b_dec, gate_acts, W_dec) - x;
        StepResult r;
        const auto squared = error.pow(2).sum();
        r.fvu = squared / variance;
        r.loss = (squared + lambda * (gate_acts * norms).sum() + aux_error.pow(2).sum()) / tokens;

        const auto g = error * (2.0 / tokens);
        const auto g_aux = aux_error * (2.0 / tokens);  // reaches only the gate path
        auto g_W_dec = at::mm(acts.t(), g) + (lambda / tokens) * gate_acts.sum(0).unsqueeze(1) * W_dec /
                                                 norms.clamp_min(1e-30).unsqueeze(1);
        const auto d_pi_mag = at::mm(g, W_dec.t()) * gate * (pi_mag > 0).to(u.scalar_type());
        auto g_b_mag = d_pi_mag.sum(0);
        auto g_r_mag = (d_pi_mag * u).sum(0) * scale;
        const auto d_pi_gate =
            (at::mm(g_aux, W_dec.t()) + (lambda / tokens) * norms) * (pi_gate > 0).to(u.scalar_type());
        auto g_b_gate = d_pi_gate.sum(0);
        const auto d_u = d_pi_mag * scale + d_pi_gate;
        auto g_W_enc = at::mm(d_u.t(), z);
        auto g_b_dec = g.sum(0) - at::mv(W_enc.t(), d_u.sum(0));
        r.grads = {g_W_enc, g_b_gate, g_r_mag, g_b_mag, g_W_dec, g_b_dec};
        detail::dense_firing(acts, r);
        return r;
    }

    void before_update(StepResult&) {}
    void after_update() {}
};

static_assert(TrainableSae<GatedSae>);

}  // namespace saematch::sae
