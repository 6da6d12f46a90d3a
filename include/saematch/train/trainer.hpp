// Trains N TopK SAEs that differ only in their seed on the same batches in
// the same order: the paper's protocol, as one pass.
//
// The seeds' parameters are stacked ([N, n, d] and so on), so the encoder
// products of all seeds are one GEMM: with z = x − b_dec,
//     W_enc z + b_enc = x W_encᵀ + (b_enc − W_enc b_dec),
// so x · [W_enc¹; …; W_encᴺ]ᵀ plus a per-seed bias gives every seed's
// pre-activations, and the batch is read once. Gradients are the sparse ones
// of topk.hpp; Adam updates the stacked tensors in one go.
//
// Defaults follow sparsify: Adam, learning rate 2e-4 / sqrt(n / 2^14) with a
// linear warm-up, decoder rows renormalised after each step and their
// gradients' parallel component removed before it, b_dec started at the
// first batch's mean; a latent counts as dead after 10M tokens without
// firing. On the CPU two runs with the same seeds give bitwise-equal weights.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "saematch/sae/config.hpp"
#include "saematch/sae/topk.hpp"

namespace saematch::train {

struct TrainOptions {
    std::vector<std::uint64_t> seeds{0};
    std::int64_t batch_size = 4096;  // tokens per step
    // Adam's learning rate; 0 means 2e-4 / sqrt(num_latents / 2^14).
    double lr = 0.0;
    std::int64_t lr_warmup_steps = 1000;  // linear from lr / warmup to lr
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    std::int64_t dead_after_tokens = 10'000'000;
    at::Device device = at::kCPU;
};

// One seed's numbers after a step.
struct StepStats {
    double fvu = 0.0;            // fraction of variance unexplained on the batch
    double l0 = 0.0;             // mean active (non-zero) latents per token
    double dead_fraction = 0.0;  // latents that have not fired for dead_after_tokens
};

inline double default_learning_rate(std::int64_t num_latents) {
    return 2e-4 / std::sqrt(static_cast<double>(num_latents) / 16384.0);
}

class TopKTrainer {
public:
    TopKTrainer(const sae::SaeConfig& config, TrainOptions options)
        : config_(config), options_(std::move(options)) {
        config_.validate();
        if (options_.seeds.empty()) throw std::invalid_argument("TrainOptions::seeds must name at least one seed");
        if (options_.batch_size < 1)
            throw std::invalid_argument("TrainOptions::batch_size must be at least 1, got " +
                                        std::to_string(options_.batch_size));
        if (options_.lr < 0.0) throw std::invalid_argument("TrainOptions::lr must be >= 0 (0: the default)");
        if (options_.lr == 0.0) options_.lr = default_learning_rate(config_.num_latents);
        const std::int64_t seeds = static_cast<std::int64_t>(options_.seeds.size());
        const std::int64_t n = config_.num_latents, d = config_.d_in;
        const auto f32 = at::TensorOptions().dtype(at::kFloat).device(options_.device);
        W_enc_ = at::empty({seeds, n, d}, f32);
        b_enc_ = at::empty({seeds, n}, f32);
        W_dec_ = at::empty({seeds, n, d}, f32);
        b_dec_ = at::empty({seeds, d}, f32);
        for (std::int64_t s = 0; s < seeds; ++s) {
            const auto one = sae::TopKSae::initialised(config_, options_.seeds[static_cast<std::size_t>(s)],
                                                      options_.device);
            W_enc_[s].copy_(one.W_enc);
            b_enc_[s].copy_(one.b_enc);
            W_dec_[s].copy_(one.W_dec);
            b_dec_[s].copy_(one.b_dec);
        }
        for (const at::Tensor* p : {&W_enc_, &b_enc_, &W_dec_, &b_dec_}) {
            first_moment_.push_back(at::zeros_like(*p));
            second_moment_.push_back(at::zeros_like(*p));
        }
        const auto counts = at::TensorOptions().dtype(at::kLong).device(options_.device);
        firing_counts_ = at::zeros({seeds, n}, counts);
        tokens_since_fired_ = at::zeros({seeds, n}, counts);
        history_.resize(static_cast<std::size_t>(seeds));
    }

    std::int64_t seeds() const { return static_cast<std::int64_t>(options_.seeds.size()); }
    std::int64_t steps() const { return step_; }
    std::int64_t tokens() const { return tokens_; }
    const TrainOptions& options() const { return options_; }

    // Seed s's SAE; its tensors are views of the trainer's, so it follows
    // training (clone them to keep a snapshot).
    sae::TopKSae sae(std::int64_t s) const {
        sae::TopKSae out;
        out.config = config_;
        out.W_enc = W_enc_[s];
        out.b_enc = b_enc_[s];
        out.W_dec = W_dec_[s];
        out.b_dec = b_dec_[s];
        return out;
    }

    // How often each latent fired so far, (seeds, n) int64.
    const at::Tensor& firing_counts() const { return firing_counts_; }
    // Per seed, one entry per step.
    const std::vector<std::vector<StepStats>>& history() const { return history_; }

    // One optimiser step of every seed on the batch x (batch, d); returns the
    // seeds' stats for it.
    std::vector<StepStats> step(const at::Tensor& batch) {
        const at::Tensor x = batch.to(options_.device, at::kFloat).contiguous();
        if (x.dim() != 2 || x.size(1) != config_.d_in)
            throw std::invalid_argument("a batch must be (tokens, " + std::to_string(config_.d_in) + "), got " +
                                        std::to_string(x.dim()) + "-D with last size " +
                                        std::to_string(x.dim() ? x.size(-1) : 0));
        if (x.size(0) < 2) throw std::invalid_argument("a batch needs at least 2 tokens for its variance");
        if (!at::isfinite(x).all().item<bool>()) {
            const auto bad = at::nonzero(~at::isfinite(x))[0];
            throw std::invalid_argument("batch has a non-finite value at token " +
                                        std::to_string(bad[0].item<std::int64_t>()) + ", dimension " +
                                        std::to_string(bad[1].item<std::int64_t>()));
        }
        const std::int64_t seeds = this->seeds(), n = config_.num_latents, d = config_.d_in, tokens = x.size(0);
        if (step_ == 0) b_dec_.copy_(x.mean(0).expand({seeds, d}));

        // Every seed's pre-activations from one GEMM.
        const auto bias = b_enc_ - at::bmm(W_enc_, b_dec_.unsqueeze(2)).squeeze(2);  // (seeds, n)
        auto pre = at::addmm(bias.reshape({1, seeds * n}), x, W_enc_.reshape({seeds * n, d}).t());
        pre.relu_();
        const auto variance = sae::total_variance(x);

        std::vector<at::Tensor> grads{at::empty_like(W_enc_), at::empty_like(b_enc_), at::empty_like(W_dec_),
                                      at::empty_like(b_dec_)};
        std::vector<StepStats> stats(static_cast<std::size_t>(seeds));
        tokens_since_fired_.add_(tokens);
        for (std::int64_t s = 0; s < seeds; ++s) {
            auto g = sae::topk_gradients(sae(s), x, pre.narrow(1, s * n, n), variance);
            sae::remove_parallel_component(W_dec_[s], g.W_dec);
            grads[0][s].copy_(g.W_enc);
            grads[1][s].copy_(g.b_enc);
            grads[2][s].copy_(g.W_dec);
            grads[3][s].copy_(g.b_dec);
            const auto active = g.codes.values > 0;
            const auto fired = g.codes.indices.masked_select(active);
            firing_counts_[s].index_add_(0, fired, at::ones_like(fired));
            tokens_since_fired_[s].index_fill_(0, fired, 0);
            auto& st = stats[static_cast<std::size_t>(s)];
            st.fvu = g.fvu.item<double>();
            st.l0 = active.sum().item<double>() / static_cast<double>(tokens);
        }
        adam_step(grads);
        for (std::int64_t s = 0; s < seeds; ++s) sae(s).normalize_decoder();
        const auto dead = (tokens_since_fired_ >= options_.dead_after_tokens).to(at::kDouble).mean(1);
        for (std::int64_t s = 0; s < seeds; ++s) {
            stats[static_cast<std::size_t>(s)].dead_fraction = dead[s].item<double>();
            history_[static_cast<std::size_t>(s)].push_back(stats[static_cast<std::size_t>(s)]);
        }
        ++step_;
        tokens_ += tokens;
        return stats;
    }

    // Steps through `data` (tokens, d) in order, batch_size rows at a time,
    // until `tokens` tokens were used (0: one pass; more than the data: it
    // starts over, same order). A last batch shorter than 2 rows is skipped.
    // progress(trainer, stats) is called after every step.
    void train(const at::Tensor& data, std::int64_t tokens = 0,
               const std::function<void(const TopKTrainer&, const std::vector<StepStats>&)>& progress = {}) {
        if (data.dim() != 2 || data.size(1) != config_.d_in)
            throw std::invalid_argument("training data must be (tokens, " + std::to_string(config_.d_in) +
                                        "), got " + std::to_string(data.dim()) + "-D with last size " +
                                        std::to_string(data.dim() ? data.size(-1) : 0));
        const std::int64_t rows = data.size(0);
        if (rows < 2) throw std::invalid_argument("training data needs at least 2 tokens");
        const std::int64_t goal = tokens > 0 ? tokens : rows;
        std::int64_t used = 0, at_row = 0;
        while (used < goal) {
            std::int64_t take = std::min({options_.batch_size, goal - used, rows - at_row});
            if (take < 2) {  // too short for a variance: start the next pass
                if (at_row == 0) break;
                at_row = 0;
                continue;
            }
            const auto stats = step(data.narrow(0, at_row, take));
            used += take;
            at_row = (at_row + take) % rows;
            if (progress) progress(*this, stats);
        }
    }

private:
    double learning_rate() const {
        if (options_.lr_warmup_steps <= 0) return options_.lr;
        const double ramp = static_cast<double>(step_ + 1) / static_cast<double>(options_.lr_warmup_steps);
        return options_.lr * std::min(1.0, ramp);
    }

    void adam_step(const std::vector<at::Tensor>& grads) {
        const double t = static_cast<double>(step_ + 1);
        const double correction1 = 1.0 - std::pow(options_.beta1, t);
        const double correction2 = 1.0 - std::pow(options_.beta2, t);
        const double lr = learning_rate();
        at::Tensor* params[] = {&W_enc_, &b_enc_, &W_dec_, &b_dec_};
        for (std::size_t p = 0; p < grads.size(); ++p) {
            auto& m = first_moment_[p];
            auto& v = second_moment_[p];
            m.mul_(options_.beta1).add_(grads[p], 1.0 - options_.beta1);
            v.mul_(options_.beta2).addcmul_(grads[p], grads[p], 1.0 - options_.beta2);
            const auto denominator = (v / correction2).sqrt_().add_(options_.eps);
            params[p]->addcdiv_(m, denominator, -lr / correction1);
        }
    }

    sae::SaeConfig config_;
    TrainOptions options_;
    at::Tensor W_enc_, b_enc_, W_dec_, b_dec_;  // stacked over seeds
    std::vector<at::Tensor> first_moment_, second_moment_;
    at::Tensor firing_counts_, tokens_since_fired_;
    std::vector<std::vector<StepStats>> history_;
    std::int64_t step_ = 0, tokens_ = 0;
};

}  // namespace saematch::train
