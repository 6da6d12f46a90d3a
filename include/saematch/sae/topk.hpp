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
// Its gradient is written out by hand (sparse_topk_gradients) rather than
// taken from autograd: only the active latents of each token get encoder
// and decoder gradient (sparse_rows.hpp), and on the CPU the result is
// bitwise reproducible. BatchTopK (batch_topk.hpp) shares it.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "saematch/sae/architecture.hpp"
#include "saematch/sae/config.hpp"
#include "saematch/sae/sparse_rows.hpp"

namespace saematch::sae {

// The active latents of each token: values (ReLU'd pre-activations, >= 0)
// and latent indices, both (tokens, width), in no particular order. TopK has
// width k; BatchTopK pads each token's list with (index 0, value 0).
struct TopKCodes {
    at::Tensor values;
    at::Tensor indices;
};

// (n) int64: on how many tokens each latent was active.
inline at::Tensor firing(const TopKCodes& codes, std::int64_t n) {
    const auto active = codes.values > 0;
    const auto fired = codes.indices.masked_select(active);
    return at::zeros({n}, codes.indices.options()).index_add_(0, fired, at::ones_like(fired));
}

// The FVU of batch x reconstructed from `codes` by decoder (W_dec, b_dec),
// and its gradient for every TopK-style parameter: grads = {W_enc, b_enc,
// W_dec, b_dec}, the encoder input being x − b_dec. Only active latents'
// rows get gradient. `out`, when given, holds four tensors of the
// parameters' shapes that the gradients are written into.
inline StepResult sparse_topk_gradients(const at::Tensor& W_enc, const at::Tensor& W_dec, const at::Tensor& b_dec,
                                        const at::Tensor& x, const TopKCodes& codes, const at::Tensor& variance,
                                        std::vector<at::Tensor> out = {}) {
    const auto& [values, indices] = codes;
    const std::int64_t n = W_enc.size(0);
    if (out.empty()) out.resize(4);
    const auto error = gather_weighted_sum(W_dec, indices, values) + b_dec - x;
    StepResult r;
    r.fvu = error.pow(2).sum() / variance;
    r.loss = r.fvu;
    const auto grad_out = error * (2.0 / variance);  // d FVU / d x̂, (tokens, d)

    auto g_W_dec = scatter_weighted_rows(indices, values, grad_out, n, out[2]);
    auto g_b_dec = grad_out.sum(0);
    // Through the ReLU: selected values are >= 0, and zero ones pass nothing.
    const auto active = (values > 0).to(values.scalar_type());
    const auto grad_pre = gathered_dots(W_dec, indices, grad_out) * active;
    auto g_b_enc = out[1].defined() ? out[1].zero_() : at::zeros({n}, x.options());
    g_b_enc.index_add_(0, indices.reshape({-1}), grad_pre.reshape({-1}));
    auto g_W_enc = scatter_weighted_rows(indices, grad_pre, x - b_dec, n, out[0]);  // W_enc's input is x − b_dec
    g_b_dec -= gather_weighted_sum(W_enc, indices, grad_pre).sum(0);
    if (out[3].defined()) g_b_dec = out[3].copy_(g_b_dec);
    r.grads = {g_W_enc, g_b_enc, g_W_dec, g_b_dec};
    r.fired = firing(codes, n);
    r.l0 = active.sum().item<double>() / static_cast<double>(x.size(0));
    return r;
}

struct TopKSae {
    SaeConfig config;
    at::Tensor W_enc;  // (n, d)
    at::Tensor b_enc;  // (n)
    at::Tensor W_dec;  // (n, d), unit rows
    at::Tensor b_dec;  // (d)

    // sparsify's checkpoint names.
    static std::vector<std::string> parameter_names() { return {"encoder.weight", "encoder.bias", "W_dec", "b_dec"}; }

    // sparsify's initialisation, from a CPU generator seeded with `seed`:
    // W_enc as PyTorch's Linear, b_enc = 0, W_dec = W_enc with unit rows,
    // b_dec = 0 (the trainer sets it to the first batch's mean).
    static TopKSae initialised(const SaeConfig& config, std::uint64_t seed, at::Device device = at::kCPU) {
        config.validate();
        if (config.architecture != Architecture::topk && config.architecture != Architecture::batchtopk)
            throw std::invalid_argument("TopKSae needs architecture topk, got " +
                                        std::string(architecture_name(config.architecture)));
        at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
        const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
        TopKSae s;
        s.config = config;
        s.W_enc = linear_init(config.num_latents, config.d_in, gen).to(device);
        s.b_enc = at::zeros({config.num_latents}, f32);
        s.W_dec = s.W_enc.clone();
        s.normalize_decoder();
        s.b_dec = at::zeros({config.d_in}, f32);
        return s;
    }

    std::vector<at::Tensor> parameters() const { return {W_enc, b_enc, W_dec, b_dec}; }

    static TopKSae from_parameters(const SaeConfig& config, std::vector<at::Tensor> p) {
        TopKSae s;
        s.config = config;
        s.W_enc = p.at(0);
        s.b_enc = p.at(1);
        s.W_dec = p.at(2);
        s.b_dec = p.at(3);
        return s;
    }

    // Pre-activations after ReLU, (tokens, n): the dense part of the forward.
    at::Tensor pre_activations(const at::Tensor& x) const {
        check_batch(config, x);
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

    // The trainer computes every seed's pre-activations in one GEMM and
    // hands each seed its slice.
    // `out`: optional gradient buffers (see sparse_topk_gradients).
    StepResult gradients_from_pre(const at::Tensor& x, const at::Tensor& pre, const at::Tensor& variance,
                                  std::vector<at::Tensor> out = {}) const {
        return sparse_topk_gradients(W_enc, W_dec, b_dec, x, select(pre), variance, std::move(out));
    }

    StepResult step_gradients(const at::Tensor& x, const at::Tensor& variance) const {
        return gradients_from_pre(x, pre_activations(x), variance);
    }

    void before_update(StepResult& r) { remove_parallel_component(W_dec, r.grads[2]); }
    void after_update() { normalize_decoder(); }
    void normalize_decoder() { normalize_rows(W_dec); }
};

static_assert(TrainableSae<TopKSae>);

}  // namespace saematch::sae
