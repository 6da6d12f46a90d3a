// The TopK sparse autoencoder with sparsify's semantics (Gao et al. 2024, as
// implemented in EleutherAI's sparsify):
//
//   encode:  pre = ReLU(W_enc (x − b_dec) + b_enc);  keep the k largest
//   decode:  x̂  = Σ_active a_i · W_dec[i] + b_dec    (a sparse gather)
//   loss:    FVU = Σ‖x̂ − x‖² / Σ‖x − mean(x)‖²      (over the batch)
//
// Decoder rows are kept at unit norm. Weights are float32 tensors on any
// device; rows are latents, so W_enc and W_dec are both (n, d) as in
// sparsify's checkpoints (encoder.weight and W_dec).
//
// Its gradient is written out by hand (topk_gradients) rather than taken
// from autograd: only the k active latents of each token get encoder and
// decoder gradient (sparse_rows.hpp), and on the CPU the result is bitwise
// reproducible.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "saematch/sae/config.hpp"
#include "saematch/sae/sparse_rows.hpp"

namespace saematch::sae {

// The k active latents of each token: values (ReLU'd pre-activations, >= 0)
// and latent indices, both (batch, k), in no particular order.
struct TopKCodes {
    at::Tensor values;
    at::Tensor indices;
};

struct TopKSae {
    SaeConfig config;
    at::Tensor W_enc;  // (n, d)
    at::Tensor b_enc;  // (n)
    at::Tensor W_dec;  // (n, d), unit rows
    at::Tensor b_dec;  // (d)

    // sparsify's initialisation, from a CPU generator seeded with `seed`
    // (so a seed gives the same SAE on every device): W_enc uniform in
    // ±1/sqrt(d) (PyTorch's Linear default), b_enc = 0, W_dec = W_enc with
    // unit rows, b_dec = 0 (the trainer sets it to the first batch's mean).
    static TopKSae initialised(const SaeConfig& config, std::uint64_t seed, at::Device device = at::kCPU) {
        config.validate();
        if (config.architecture != Architecture::topk)
            throw std::invalid_argument("TopKSae needs architecture topk, got " +
                                        std::string(architecture_name(config.architecture)));
        const auto cpu = at::TensorOptions().dtype(at::kFloat);
        at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
        const double bound = 1.0 / std::sqrt(static_cast<double>(config.d_in));
        TopKSae s;
        s.config = config;
        s.W_enc = at::empty({config.num_latents, config.d_in}, cpu).uniform_(-bound, bound, gen).to(device);
        s.b_enc = at::zeros({config.num_latents}, cpu).to(device);
        s.W_dec = s.W_enc.clone();
        s.normalize_decoder();
        s.b_dec = at::zeros({config.d_in}, cpu).to(device);
        return s;
    }

    // Pre-activations after ReLU, (batch, n): the dense part of the forward.
    at::Tensor pre_activations(const at::Tensor& x) const {
        check_input(x);
        return at::relu(at::addmm(b_enc, x - b_dec, W_enc.t()));
    }

    TopKCodes select(const at::Tensor& pre) const {
        auto [values, indices] = at::topk(pre, config.k, /*dim=*/1, /*largest=*/true, /*sorted=*/false);
        return {values, indices};
    }

    TopKCodes encode(const at::Tensor& x) const { return select(pre_activations(x)); }

    at::Tensor decode(const TopKCodes& codes) const {
        return gather_weighted_sum(W_dec, codes.indices, codes.values) + b_dec;
    }

    at::Tensor forward(const at::Tensor& x) const { return decode(encode(x)); }

    // Scales every decoder row to unit norm (zero rows stay zero).
    void normalize_decoder() {
        const auto norms = W_dec.norm(2, /*dim=*/1, /*keepdim=*/true).clamp_min(1e-30);
        W_dec.div_(norms);
    }

    void check_input(const at::Tensor& x) const {
        if (x.dim() != 2 || x.size(1) != config.d_in)
            throw std::invalid_argument("TopK SAE with d_in = " + std::to_string(config.d_in) +
                                        " needs input of shape (batch, " + std::to_string(config.d_in) + "), got " +
                                        std::to_string(x.dim()) + "-D with last size " +
                                        std::to_string(x.dim() ? x.size(-1) : 0));
        if (x.scalar_type() != at::kFloat)
            throw std::invalid_argument("TopK SAE input must be float32");
    }
};

// The FVU's denominator: the batch's total variance Σ‖x − mean(x)‖².
inline at::Tensor total_variance(const at::Tensor& x) { return (x - x.mean(0)).pow(2).sum(); }

struct TopKGradients {
    at::Tensor W_enc, b_enc, W_dec, b_dec;
    at::Tensor fvu;  // the loss (scalar)
    TopKCodes codes;
};

// The FVU of batch x and its gradient with respect to every parameter, given
// the batch's pre-activations (from pre_activations, or a slice of the
// trainer's one GEMM for all seeds) and total variance. Only the active
// latents' rows get gradient.
inline TopKGradients topk_gradients(const TopKSae& s, const at::Tensor& x, const at::Tensor& pre,
                                    const at::Tensor& variance) {
    TopKGradients g;
    g.codes = s.select(pre);
    const auto& [values, indices] = g.codes;
    const std::int64_t n = s.config.num_latents;
    const auto error = gather_weighted_sum(s.W_dec, indices, values) + s.b_dec - x;
    g.fvu = error.pow(2).sum() / variance;
    const auto grad_out = error * (2.0 / variance);  // d FVU / d x̂, (batch, d)

    g.W_dec = scatter_weighted_rows(indices, values, grad_out, n);
    g.b_dec = grad_out.sum(0);
    // Through the ReLU: the selected values are >= 0, and zero ones pass no gradient.
    const auto grad_pre = gathered_dots(s.W_dec, indices, grad_out) * (values > 0).to(values.scalar_type());
    g.b_enc = at::zeros({n}, pre.options()).index_add_(0, indices.reshape({-1}), grad_pre.reshape({-1}));
    // W_enc's input is x − b_dec: Σ grad_pre ⊗ x, minus b_enc's gradient ⊗ b_dec.
    g.W_enc = scatter_weighted_rows(indices, grad_pre, x, n) - at::outer(g.b_enc, s.b_dec);
    g.b_dec -= gather_weighted_sum(s.W_enc, indices, grad_pre).sum(0);
    return g;
}

// Removes from each decoder row's gradient its component along the row, so
// that a step keeps the (unit) row length to first order; sparsify does this
// before every optimiser step.
inline void remove_parallel_component(const at::Tensor& W_dec, at::Tensor& grad) {
    const auto along = (grad * W_dec).sum(1, /*keepdim=*/true);
    grad.sub_(along * W_dec);
}

}  // namespace saematch::sae
