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

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "saematch/sae/architecture.hpp"
#include "saematch/sae/batch_share.hpp"
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
    // The loss is over the whole batch's variance; the selection gathers across processes.
    static constexpr ShareRule share_rule = ShareRule::add;
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

    // The batch selection: the k · tokens largest entries of the whole
    // batch's `pre` (positive ones only); of the entries equal to the
    // smallest one kept, those earliest in the batch (by token, then latent).
    // `share`: `pre` is this process's rows of a batch split across
    // processes (sae/batch_share.hpp); every process then gets its part of
    // the one selection of the whole batch. `smallest` is the smallest
    // selected value (0 when none is positive), for the threshold.
    struct BatchSelection {
        TopKCodes codes;
        at::Tensor smallest;  // (scalar)
    };
    BatchSelection selection(const at::Tensor& pre, const BatchShare& share = {}) const {
        const std::int64_t tokens = share.ranks ? share.batch_tokens : pre.size(0);
        const std::int64_t keep = std::min<std::int64_t>(config.k, pre.size(1)) * tokens;
        const auto flat = pre.reshape({-1});
        // The whole batch's `keep` largest: each process's own `keep` largest
        // hold them (padded with -1, below every ReLU'd value, to one size).
        auto top = std::get<0>(at::topk(flat, std::min(keep, flat.numel()), 0, /*largest=*/true, /*sorted=*/false));
        if (share.ranks) {
            top = at::constant_pad_nd(top, {0, keep - top.numel()}, -1.0);
            top = std::get<0>(at::topk(share.ranks->gather(top).reshape({-1}), keep, 0, true, false));
        }
        const auto last = top.min();  // the keep-th largest
        // Every positive value lies among `top` when fewer than `keep` are.
        const auto smallest = at::where(top > 0, top, std::numeric_limits<float>::infinity()).min();
        const auto above = pre > last, at_last = pre == last;
        auto counts = at::stack({above.sum(), at_last.sum()});
        counts = share.ranks ? share.ranks->gather(counts) : counts.unsqueeze(0);  // (world, 2)
        // Of the entries equal to `last`, the whole batch still wants `keep`
        // less those above it; earlier ranks' ties come first. One formula on
        // the device for one process and many, without a read-back of its own.
        const std::int64_t rank = share.ranks ? share.ranks->rank() : 0;
        const auto take = (keep - counts.select(1, 0).sum() - counts.select(1, 1).narrow(0, 0, rank).sum()).clamp_min(0);
        const auto ties = at_last & (at::cumsum(at_last.reshape({-1}), 0) <= take).view_as(at_last);
        // Fewer than `keep` positive values: all of them.
        const auto selected = at::where(last > 0, above | ties, pre > 0);
        return {codes_from_mask(pre, selected), at::where(at::isinf(smallest), at::zeros_like(smallest), smallest)};
    }
    TopKCodes select_batch(const at::Tensor& pre, const BatchShare& share = {}) const {
        return selection(pre, share).codes;
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

    // `share`: this process's rows of a batch split across processes (sae/batch_share.hpp).
    StepResult gradients_from_pre(const at::Tensor& x, const at::Tensor& pre, const at::Tensor& variance,
                                  std::vector<at::Tensor> out = {}, const BatchShare& share = {}) const {
        auto [codes, smallest] = selection(pre, share);
        if (out.size() > 4) out.resize(4);  // the threshold has no gradient buffer
        StepResult r = sparse_topk_gradients(W_enc, W_dec, b_dec, x, codes, variance, std::move(out));
        r.grads.push_back(at::Tensor());  // the threshold is not trained by gradient
        r.statistic = smallest;
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
