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
#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "saematch/sae/architecture.hpp"
#include "saematch/sae/batch_share.hpp"
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

// (n) int64: on how many tokens each latent was active. Integer adds, so
// the result does not depend on their order; no data-dependent shapes, so
// nothing waits for the device.
inline at::Tensor firing(const TopKCodes& codes, std::int64_t n) {
    return at::zeros({n}, codes.indices.options())
        .index_add_(0, codes.indices.reshape({-1}), (codes.values > 0).to(at::kLong).reshape({-1}));
}

// (scalar) mean active latents per token, on the codes' device.
inline at::Tensor mean_l0(const TopKCodes& codes) {
    return (codes.values > 0).sum().to(at::kDouble) / static_cast<double>(std::max<std::int64_t>(1, codes.values.size(0)));
}

// The latents counted dead before a step (AuxK's candidates): an (n) bool
// mask and its count, which the trainer already read back with the last
// step's statistics, so that sizing the AuxK selection waits for nothing.
struct DeadLatents {
    at::Tensor mask;
    std::int64_t count = 0;
};

// Gradient buffers for the TopK-style parameters {W_enc, b_enc, W_dec,
// b_dec}, summed over the loss terms of one step.
struct TopKGradients {
    at::Tensor W_enc, b_enc, W_dec, b_dec;
    bool started = false;  // false: the first term overwrites (the buffers hold last step's values)
};

// Adds the gradient of scale · ‖decode(codes) − target‖² / variance, where
// decode = Σ values · W_dec[indices] (+ b_dec when with_bias), to g, and
// returns the term's value ‖…‖² / variance. Encoder input is x − b_dec;
// only the latents in `codes` get encoder and decoder gradient.
inline at::Tensor add_sparse_reconstruction(const at::Tensor& W_enc, const at::Tensor& W_dec, const at::Tensor& b_dec,
                                            const at::Tensor& z, const TopKCodes& codes, const at::Tensor& target,
                                            bool with_bias, double scale, const at::Tensor& variance,
                                            TopKGradients& g) {
    const auto& [values, indices] = codes;
    const std::int64_t n = W_enc.size(0);
    // One grouping by latent serves all three scatters over these codes.
    const auto buckets = bucket_by_latent(indices, n, route_for(W_dec));
    auto error = gather_weighted_sum(W_dec, indices, values) - target;
    if (with_bias) error += b_dec;
    const auto value = error.pow(2).sum() / variance;
    const auto grad_out = error * (2.0 * scale / variance);  // d term / d decode, (tokens, d)
    const bool add = g.started;
    g.W_dec = scatter_weighted_rows(buckets, indices, values, grad_out, g.W_dec, add);
    // Through the ReLU: selected values are >= 0, and zero ones pass nothing.
    const auto grad_pre = gathered_dots(W_dec, indices, grad_out) * (values > 0).to(values.scalar_type());
    if (!g.b_enc.defined()) g.b_enc = at::zeros({n}, z.options());
    segment_sum(buckets, indices, grad_pre, g.b_enc, add);
    g.W_enc = scatter_weighted_rows(buckets, indices, grad_pre, z, g.W_enc, add);
    auto g_b_dec = -gather_weighted_sum(W_enc, indices, grad_pre).sum(0);
    if (with_bias) g_b_dec += grad_out.sum(0);
    if (!g.b_dec.defined()) g.b_dec = at::zeros_like(b_dec);
    if (add)
        g.b_dec.add_(g_b_dec);
    else
        g.b_dec.copy_(g_b_dec);
    g.started = true;
    return value;
}

// The FVU of batch x reconstructed from `codes` by decoder (W_dec, b_dec),
// and its gradient for every TopK-style parameter: grads = {W_enc, b_enc,
// W_dec, b_dec}. `out`, when given, holds four tensors of the parameters'
// shapes that the gradients are written into.
inline StepResult sparse_topk_gradients(const at::Tensor& W_enc, const at::Tensor& W_dec, const at::Tensor& b_dec,
                                        const at::Tensor& x, const TopKCodes& codes, const at::Tensor& variance,
                                        std::vector<at::Tensor> out = {}) {
    out.resize(4);
    TopKGradients g{out[0], out[1], out[2], out[3]};
    StepResult r;
    r.fvu = add_sparse_reconstruction(W_enc, W_dec, b_dec, x - b_dec, codes, x, true, 1.0, variance, g);
    r.loss = r.fvu;
    r.grads = {g.W_enc, g.b_enc, g.W_dec, g.b_dec};
    r.fired = firing(codes, W_enc.size(0));
    r.l0 = mean_l0(codes);
    return r;
}

struct TopKSae {
    static constexpr Architecture architecture = Architecture::topk;  // its entry in sae/registry.hpp
    // Every loss term is over the whole batch's variance (AuxK's too); its selections are per token.
    static constexpr ShareRule share_rule = ShareRule::add;
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

    // Codes from a caller are checked (on a device that reads two numbers
    // back); the training step's own come from topk and are not.
    at::Tensor decode(const TopKCodes& codes) const {
        check_index_range(codes.indices, config.num_latents, "decode");
        return gather_weighted_sum(W_dec, codes.indices, codes.values) + b_dec;
    }

    at::Tensor forward(const at::Tensor& x) const { return decode(encode(x)); }

    // The trainer computes every seed's pre-activations in one GEMM and
    // hands each seed its slice.
    // `out`: optional gradient buffers (see sparse_topk_gradients); `dead`:
    // the latents counted dead so far, for the AuxK loss.
    StepResult gradients_from_pre(const at::Tensor& x, const at::Tensor& pre, const at::Tensor& variance,
                                  std::vector<at::Tensor> out = {}, const DeadLatents& dead = {}) const {
        const auto codes = select(pre);
        if (config.auxk_alpha == 0.0 && !config.multi_topk)
            return sparse_topk_gradients(W_enc, W_dec, b_dec, x, codes, variance, std::move(out));
        out.resize(4);
        TopKGradients g{out[0], out[1], out[2], out[3]};
        const auto z = x - b_dec;
        StepResult r;
        r.fvu = add_sparse_reconstruction(W_enc, W_dec, b_dec, z, codes, x, true, 1.0, variance, g);
        r.loss = r.fvu.clone();
        if (config.multi_topk) {
            auto [values, indices] = at::topk(pre, std::min(4 * config.k, config.num_latents), 1, true, false);
            r.loss += add_sparse_reconstruction(W_enc, W_dec, b_dec, z, {values, indices}, x, true, 1.0 / 8.0,
                                                variance, g) /
                      8.0;
        }
        if (config.auxk_alpha > 0.0 && dead.count > 0) {
            // sparsify's heuristic (Gao et al., appendix B.1): the top d/2 dead
            // latents predict the residual, the loss scaled down when fewer are
            // dead. Only the dead columns are searched: the count is known on
            // the host, so nonzero_static needs no read-back, and the copy is
            // (tokens, dead), not another (tokens, n).
            const std::int64_t half = std::max<std::int64_t>(1, config.d_in / 2);
            const double scale = std::min(static_cast<double>(dead.count) / static_cast<double>(half), 1.0);
            const auto dead_latents = at::nonzero_static(dead.mask, dead.count, -1).reshape({-1});
            auto [values, slots] =
                at::topk(pre.index_select(1, dead_latents), std::min(half, dead.count), 1, true, false);
            const auto indices = dead_latents.index_select(0, slots.reshape({-1})).view_as(slots);
            const auto residual = (x - b_dec - gather_weighted_sum(W_dec, codes.indices, codes.values)).detach();
            const double weight = config.auxk_alpha * scale;
            r.loss += weight * add_sparse_reconstruction(W_enc, W_dec, b_dec, z, {values, indices}, residual, false,
                                                         weight, variance, g);
        }
        r.grads = {g.W_enc, g.b_enc, g.W_dec, g.b_dec};
        r.fired = firing(codes, config.num_latents);
        r.l0 = mean_l0(codes);
        return r;
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
