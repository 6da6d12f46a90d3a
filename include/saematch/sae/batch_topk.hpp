// The BatchTopK SAE (Bussmann et al. 2024): TopK over the whole batch
// instead of per token, so the k · tokens largest ReLU'd pre-activations of
// the batch are kept and a token may use more or fewer than k latents. Same
// parameters, decoder rules and sparse gradient as TopK (topk.hpp).
//
// A batch is not available at inference, so the SAE also keeps a threshold:
// an exponential moving average of each training batch's smallest selected
// activation. encode() uses it (pre > threshold); the training step uses
// the batch selection.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "saematch/sae/architecture.hpp"
#include "saematch/sae/topk.hpp"

namespace saematch::sae {

// Codes from a (tokens, n) mask of selected entries of `acts`: each token's
// selected latents in increasing order, padded with (index 0, value 0) to
// the widest token.
inline TopKCodes codes_from_mask(const at::Tensor& acts, const at::Tensor& selected) {
    const std::int64_t tokens = acts.size(0);
    const auto where = at::nonzero(selected);  // (count, 2), row-major order: by token, then latent
    const auto token = where.select(1, 0), latent = where.select(1, 1);
    const auto per_token = at::zeros({tokens}, token.options()).index_add_(0, token, at::ones_like(token));
    const std::int64_t width = std::max<std::int64_t>(1, tokens ? per_token.max().item<std::int64_t>() : 1);
    const auto first = at::cumsum(per_token, 0) - per_token;  // each token's first entry in `where`
    const auto slot = at::arange(where.size(0), token.options()) - first.index_select(0, token);
    TopKCodes c{at::zeros({tokens, width}, acts.options()), at::zeros({tokens, width}, token.options())};
    c.values.index_put_({token, slot}, acts.index({token, latent}));
    c.indices.index_put_({token, slot}, latent);
    return c;
}

struct BatchTopKSae {
    static constexpr Architecture architecture = Architecture::batchtopk;  // its entry in sae/registry.hpp
    SaeConfig config;
    at::Tensor W_enc, b_enc, W_dec, b_dec;
    at::Tensor threshold;  // (1): the inference threshold; not trained by gradient; < 0 until the first batch

    static std::vector<std::string> parameter_names() {
        return {"encoder.weight", "encoder.bias", "W_dec", "b_dec", "threshold"};
    }

    static BatchTopKSae initialised(const SaeConfig& config, std::uint64_t seed, at::Device device = at::kCPU) {
        detail::require_architecture(config, Architecture::batchtopk);
        const auto t = TopKSae::initialised(config, seed, device);
        return {config, t.W_enc, t.b_enc, t.W_dec, t.b_dec, at::full({1}, -1.0, t.W_enc.options())};
    }

    std::vector<at::Tensor> parameters() const { return {W_enc, b_enc, W_dec, b_dec, threshold}; }

    static BatchTopKSae from_parameters(const SaeConfig& config, std::vector<at::Tensor> p) {
        return {config, p.at(0), p.at(1), p.at(2), p.at(3), p.at(4)};
    }

    at::Tensor pre_activations(const at::Tensor& x) const {
        check_batch(config, x);
        return at::relu(at::addmm(b_enc, x - b_dec, W_enc.t()));
    }

    // The batch selection: the k · tokens largest entries of `pre` (positive ones only).
    TopKCodes select_batch(const at::Tensor& pre) const {
        const std::int64_t keep = std::min<std::int64_t>(config.k * pre.size(0), pre.numel());
        const auto flat = pre.reshape({-1});
        const auto top = std::get<1>(at::topk(flat, keep, 0, /*largest=*/true, /*sorted=*/false));
        auto mask = at::zeros_like(flat, at::kBool).index_fill_(0, top, true).view_as(pre);
        return codes_from_mask(pre, mask & (pre > 0));
    }

    // Inference: every latent above the threshold (none before training).
    TopKCodes encode(const at::Tensor& x) const {
        const auto pre = pre_activations(x);
        return codes_from_mask(pre, pre > threshold.clamp_min(0.0));
    }
    at::Tensor decode(const TopKCodes& codes) const {
        check_index_range(codes.indices, config.num_latents, "decode");
        return gather_weighted_sum(W_dec, codes.indices, codes.values) + b_dec;
    }
    at::Tensor forward(const at::Tensor& x) const { return decode(encode(x)); }

    StepResult gradients_from_pre(const at::Tensor& x, const at::Tensor& pre, const at::Tensor& variance,
                                  std::vector<at::Tensor> out = {}) const {
        const auto codes = select_batch(pre);
        if (out.size() > 4) out.resize(4);  // the threshold has no gradient buffer
        StepResult r = sparse_topk_gradients(W_enc, W_dec, b_dec, x, codes, variance, std::move(out));
        r.grads.push_back(at::Tensor());  // the threshold is not trained by gradient
        // The smallest selected positive value (0 when none is): computed in
        // place of a masked_select, whose size the host would have to wait for.
        const auto smallest = at::where(codes.values > 0, codes.values, std::numeric_limits<float>::infinity()).min();
        r.statistic = at::where(at::isinf(smallest), at::zeros_like(smallest), smallest);
        return r;
    }
    StepResult step_gradients(const at::Tensor& x, const at::Tensor& variance) const {
        return gradients_from_pre(x, pre_activations(x), variance);
    }

    void before_update(StepResult& r) {
        remove_parallel_component(W_dec, r.grads[2]);
        const double momentum = config.batchtopk_threshold_momentum;
        // Started at the first batch's statistic (the threshold is < 0 before).
        threshold.copy_(at::where(threshold < 0.0, r.statistic, threshold * (1.0 - momentum) + r.statistic * momentum));
    }
    void after_update() { normalize_rows(W_dec); }
};

static_assert(TrainableSae<BatchTopKSae>);

}  // namespace saematch::sae
