// Trains N SAEs of one architecture that differ only in their seed on the
// same batches in the same order: the paper's protocol, as one pass.
//
// The seeds' parameters are stacked ([N, n, d] and so on) and each seed's
// SAE is made of views of its slices, so the optimiser updates all seeds in
// one go.
// For TopK and BatchTopK the encoder products of all seeds are one GEMM:
// with z = x − b_dec,
//     W_enc z + b_enc = x W_encᵀ + (b_enc − W_enc b_dec),
// so x · [W_enc¹; …; W_encᴺ]ᵀ plus a per-seed bias gives every seed's
// pre-activations, and the batch is read once.
//
// Defaults: Adam (sparsify's default is Signum; both are here), learning
// rate 2e-4 / sqrt(n / 2^14) with a linear warm-up, b_dec started at the
// first batch's mean (sparsify); a latent counts as dead after 10M tokens
// without firing. On the CPU two runs with the same
// seeds give bitwise-equal weights.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>  // at::get_num_threads

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "saematch/detail/threads.hpp"
#include "saematch/sae/architecture.hpp"
#include "saematch/sae/batch_share.hpp"
#include "saematch/sae/config.hpp"
#include "saematch/sae/topk.hpp"
#include "saematch/train/defaults.hpp"
#include "saematch/train/optimizer.hpp"

namespace saematch::train {

// The share of a run of known length that the learning-rate warm-up may take.
inline constexpr double kWarmupFraction = 0.1;

struct TrainOptions {
    std::vector<std::uint64_t> seeds{0};
    std::int64_t batch_size = defaults::batch_size;  // tokens per step
    // The learning rate; 0 means 2e-4 / sqrt(num_latents / 2^14).
    double lr = 0.0;
    // Linear from lr / warmup to lr over this many steps, but at most
    // kWarmupFraction of planned_steps when the run's length is known: a
    // 1000-step warm-up is longer than many whole small runs (200K tokens at
    // batch 256 is 781 steps), which then never reach their learning rate.
    std::int64_t lr_warmup_steps = defaults::lr_warmup_steps;
    // The run's length in steps, when the caller knows it (0: unknown, no cap).
    std::int64_t planned_steps = 0;
    OptimizerKind optimizer = OptimizerKind::adam;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    // TopK and BatchTopK: the shared encoder GEMM in bfloat16 (float32
    // results), as sparsify's autocast does on GPUs; gradients stay float32.
    // Meant for CUDA, where it is several times faster; allowed on the CPU.
    bool bf16_encoder = false;
    std::int64_t dead_after_tokens = defaults::dead_after_tokens;
    at::Device device = at::kCPU;
};

// Everything a checkpoint holds beyond the options: with it, a resumed run
// continues bitwise as the uninterrupted one would (on the CPU).
struct TrainerState {
    std::vector<at::Tensor> parameters;        // stacked over seeds, in parameter order
    std::vector<at::Tensor> first, second;     // the optimiser's moments, same order
    at::Tensor firing_counts, tokens_since_fired;
    std::int64_t step = 0, tokens = 0, data_row = 0;
    // Steps the optimiser took: fewer than `step` when constant batches were skipped.
    std::int64_t optimizer_steps = 0;
};

// One seed's numbers after a step.
struct StepStats {
    double fvu = 0.0;            // fraction of variance unexplained on the batch
    double l0 = 0.0;             // mean active (non-zero) latents per token
    double dead_fraction = 0.0;  // latents that have not fired for dead_after_tokens
    // The batch was constant (zero variance: nothing to explain) and was not
    // trained on; fvu and l0 are NaN, and the optimiser did not step.
    bool skipped = false;
};

// The warm-up in steps that `options` asks for: lr_warmup_steps, capped at
// kWarmupFraction of planned_steps (at least one step) when that is known.
inline std::int64_t effective_warmup_steps(const TrainOptions& options) {
    if (options.planned_steps <= 0 || options.lr_warmup_steps <= 0) return options.lr_warmup_steps;
    const auto cap = std::max<std::int64_t>(
        1, static_cast<std::int64_t>(kWarmupFraction * static_cast<double>(options.planned_steps)));
    return std::min(options.lr_warmup_steps, cap);
}

inline double default_learning_rate(std::int64_t num_latents) {
    return 2e-4 / std::sqrt(static_cast<double>(num_latents) / 16384.0);
}

// An architecture whose pre-activations are ReLU(W_enc (x − b_dec) + b_enc)
// with W_enc, b_enc and b_dec its parameters 0, 1 and 3, and which can take
// them from the trainer's one GEMM for all seeds.
// It also writes its gradients into the buffers it is given.
template <class S>
concept SharedEncoderGemm = requires(const S& s, const at::Tensor& x, std::vector<at::Tensor> out) {
    { s.gradients_from_pre(x, x, x, out) } -> std::same_as<sae::StepResult>;
};

// An architecture that takes part of its initialisation from the first
// trained batch z (centred by its mean) beyond b_dec: shared_start once for
// all seeds, then start_from_data per seed, on the trainer's views
// (ArchetypalSae: its candidate points).
template <class S>
concept StartsFromData = requires(S s, const sae::SaeConfig& c, const at::Tensor& z, std::uint64_t seed) {
    { S::shared_start(c, z) } -> std::same_as<at::Tensor>;
    s.start_from_data(z, z, seed);
};

template <sae::TrainableSae Sae>
class Trainer {
public:
    Trainer(const sae::SaeConfig& config, TrainOptions options)
        : config_(config), options_(std::move(options)), optimizer_(init_parameters(), optimizer_options()) {}

    Trainer(const Trainer&) = delete;  // seeds' SAEs are views of its tensors
    Trainer& operator=(const Trainer&) = delete;
    Trainer(Trainer&&) = default;

    std::int64_t seeds() const { return static_cast<std::int64_t>(options_.seeds.size()); }
    std::int64_t steps() const { return step_; }
    std::int64_t tokens() const { return tokens_; }
    const TrainOptions& options() const { return options_; }
    const sae::SaeConfig& config() const { return config_; }

    // Seed s's SAE; its tensors are views of the trainer's, so it follows
    // training (clone them to keep a snapshot).
    Sae sae(std::int64_t s) const {
        std::vector<at::Tensor> views;
        for (const auto& p : stacked_) views.push_back(p[s]);
        return Sae::from_parameters(config_, std::move(views));
    }

    // How often each latent fired so far, (seeds, n) int64.
    const at::Tensor& firing_counts() const { return firing_counts_; }

    // For checkpoints (train/checkpoint.hpp). restore() copies into the
    // trainer's own tensors, so seeds' SAE views stay valid.
    TrainerState state() const {
        return {stacked_, optimizer_.first_moments(), optimizer_.second_moments(), firing_counts_, tokens_since_fired_,
                step_, tokens_, data_row_, optimizer_.steps()};
    }
    // Where in the data the next batch starts, for callers that feed step()
    // themselves (the Python loop) and want checkpoints to record it.
    void set_data_row(std::int64_t row) {
        if (row < 0) throw std::invalid_argument("data row must be >= 0");
        data_row_ = row;
    }

    // Data-parallel training (sae/batch_share.hpp): from now on each step's
    // batch is this process's share of the batch's rows, and `ranks` sums
    // and gathers across the processes, which hold equal trainers and call
    // step() together. Every batch-wide quantity is reduced before it is
    // used (the batch's mean and variance, so the first-batch b_dec, the
    // constant-batch skip and the finiteness checks, which all processes
    // then take together; the gradients; the firing counts behind dead
    // latents and AuxK; BatchTopK's selection; the reported statistics), so
    // the weights are those of one process stepping on the whole batch, up
    // to the order of float additions. An architecture without a
    // ShareRule is refused. nullptr: back to single-process steps.
    void set_ranks(std::shared_ptr<sae::Ranks> ranks) {
        if constexpr (!sae::DataParallelSae<Sae>) {
            if (ranks)
                throw std::invalid_argument(
                    std::string("the ") + sae::architecture_name(config_.architecture) +
                    " architecture cannot train data-parallel: its step has batch-wide quantities that are not "
                    "reduced across processes (it declares no ShareRule); train it in one process, or with "
                    "--distribute-seeds / --distribute-hookpoints");
        }
        ranks_ = std::move(ranks);
    }

    void restore(const TrainerState& s, std::vector<std::vector<StepStats>> history) {
        if (s.parameters.size() != stacked_.size())
            throw std::invalid_argument("checkpoint holds " + std::to_string(s.parameters.size()) +
                                        " parameters, this trainer has " + std::to_string(stacked_.size()));
        for (std::size_t i = 0; i < stacked_.size(); ++i) {
            if (s.parameters[i].sizes() != stacked_[i].sizes())
                throw std::invalid_argument("checkpoint parameter " + std::to_string(i) +
                                            " has another shape than this trainer's (different config or seeds?)");
            stacked_[i].copy_(s.parameters[i]);
        }
        optimizer_.restore(s.first, s.second, s.optimizer_steps);
        firing_counts_.copy_(s.firing_counts);
        tokens_since_fired_.copy_(s.tokens_since_fired);
        step_ = s.step;
        tokens_ = s.tokens;
        data_row_ = s.data_row;
        history_ = std::move(history);
        const auto dead = (tokens_since_fired_ >= options_.dead_after_tokens).sum(1).cpu();
        for (std::int64_t i = 0; i < seeds(); ++i) dead_counts_[static_cast<std::size_t>(i)] = dead[i].item<std::int64_t>();
    }
    // Per seed, one entry per step.
    const std::vector<std::vector<StepStats>>& history() const { return history_; }

    // One optimiser step of every seed on the batch x (tokens, d); returns
    // the seeds' stats for it.
    //
    // On a device the step waits for the device once: every check and
    // statistic (the batch's finiteness and variance, each seed's FVU, loss,
    // L0 and dead count) is gathered into one small tensor and read back
    // before the optimiser step, so that a bad batch or a non-finite loss
    // still leaves the weights as they were. The optimiser step and the
    // decoder renormalisation are then queued behind it without waiting.
    std::vector<StepStats> step(const at::Tensor& batch) {
        const saematch::detail::OmpThreadCap cap(step_threads(batch.dim() > 0 ? batch.size(0) : 0));
        check_batch_shape(batch);
        const at::Tensor x = upload(batch);
        const std::int64_t seeds = this->seeds(), n = config_.num_latents, d = config_.d_in;
        const bool first = optimizer_.steps() == 0;
        const BatchWide whole = batch_wide(x, first);
        const at::Tensor& variance = whole.variance;
        const std::int64_t tokens = whole.tokens;  // the whole batch's, across processes
        // b_dec starts at the first trained batch's mean, and an architecture
        // that takes more from the data (StartsFromData) takes it now; all of
        // it is undone below if the batch is not trained on.
        // Only what the start changes is copied: a copy of every parameter of
        // a large SAE would double its memory for this one step.
        std::vector<std::pair<std::size_t, at::Tensor>> before;
        if (first) {
            for (std::size_t p = 0; p < stacked_.size(); ++p)
                if (p == b_dec_ || StartsFromData<Sae>) before.emplace_back(p, stacked_[p].clone());
        }
        const auto undo_first = [&] {
            for (const auto& [p, t] : before) stacked_[p].copy_(t);
        };
        if (first) {
            stacked_[b_dec_].copy_(whole.mean.expand({seeds, d}));
            if constexpr (StartsFromData<Sae>) {
                try {
                    const auto z = x - whole.mean;
                    const auto shared = Sae::shared_start(config_, z);
                    for (std::int64_t s = 0; s < seeds; ++s)
                        sae(s).start_from_data(z, shared, options_.seeds[static_cast<std::size_t>(s)]);
                } catch (...) {
                    undo_first();
                    throw;
                }
            }
        }

        at::Tensor pre_all;  // (seeds, tokens, n): each seed's block contiguous, as topk wants it
        if constexpr (SharedEncoderGemm<Sae>) pre_all = shared_pre_activations(x);
        const auto dead_before = tokens_since_fired_ >= options_.dead_after_tokens;  // for AuxK
        std::vector<sae::StepResult> results;
        for (std::int64_t s = 0; s < seeds; ++s) {
            const Sae one = sae(s);
            std::vector<at::Tensor> slots;
            for (const auto& g : grad_buffers_) slots.push_back(g[s]);
            const sae::DeadLatents dead{dead_before[s], dead_counts_[static_cast<std::size_t>(s)]};
            const sae::BatchShare share{ranks_.get(), tokens};
            if constexpr (requires { one.gradients_from_pre(x, x, x, slots, share); })
                results.push_back(one.gradients_from_pre(x, pre_all[s], variance, slots, share));
            else if constexpr (requires { one.gradients_from_pre(x, x, x, slots, dead); })
                results.push_back(one.gradients_from_pre(x, pre_all[s], variance, slots, dead));
            else if constexpr (SharedEncoderGemm<Sae>)
                results.push_back(one.gradients_from_pre(x, pre_all[s], variance, slots));
            else
                results.push_back(one.step_gradients(x, variance));
        }
        if constexpr (sae::DataParallelSae<Sae>)
            if (ranks_) add_up_shares(results, x.size(0), tokens);
        std::vector<at::Tensor> fired;
        for (const auto& r : results) fired.push_back(r.fired);
        const auto fired_all = at::stack(fired);  // (seeds, n)
        const auto since_fired = at::where(fired_all > 0, at::zeros_like(tokens_since_fired_), tokens_since_fired_ + tokens);
        const auto dead_after = since_fired >= options_.dead_after_tokens;

        const StepReadout read = read_back(whole.sum, variance, results, dead_after);
        if (!std::isfinite(read.batch_sum) || !std::isfinite(read.variance)) {
            if (first) undo_first();
            if (!std::isfinite(read.batch_sum)) throw_non_finite_batch(x);
            throw_variance_overflow(x);
        }
        if (read.variance == 0.0) {
            if (first) undo_first();
            return skip_constant_batch(tokens);
        }
        std::vector<StepStats> stats(static_cast<std::size_t>(seeds));
        for (std::int64_t s = 0; s < seeds; ++s) {
            const auto i = static_cast<std::size_t>(s);
            if (!std::isfinite(read.loss[i])) {
                if (first) undo_first();
                throw std::runtime_error("seed " + std::to_string(options_.seeds[i]) +
                                         ": the loss is not finite at step " + std::to_string(step_) +
                                         " (learning rate too high?); the weights are those before this step");
            }
            stats[i] = {read.fvu[i], read.l0[i], static_cast<double>(read.dead[i]) / static_cast<double>(n), false};
        }

        std::vector<at::Tensor> grads(stacked_.size());  // undefined: a buffer without gradient
        for (std::int64_t s = 0; s < seeds; ++s) {
            Sae one = sae(s);
            auto& r = results[static_cast<std::size_t>(s)];
            one.before_update(r);
            for (std::size_t p = 0; p < r.grads.size(); ++p) {
                if (!r.grads[p].defined()) continue;
                const auto slot = grad_buffers_[p][s];
                if (!r.grads[p].is_same(slot)) slot.copy_(r.grads[p]);
                grads[p] = grad_buffers_[p];
            }
        }
        firing_counts_.add_(fired_all);
        tokens_since_fired_.copy_(since_fired);
        dead_counts_ = read.dead;
        optimizer_.step(stacked_, grads, learning_rate());
        for (std::int64_t s = 0; s < seeds; ++s) sae(s).after_update();
        for (std::int64_t s = 0; s < seeds; ++s) history_[static_cast<std::size_t>(s)].push_back(stats[static_cast<std::size_t>(s)]);
        ++step_;
        tokens_ += tokens;
        return stats;
    }

    // The rows [start, start + count) of the next batch.
    struct DataSlice {
        std::int64_t start = 0, count = 0;
    };

    // The walk over a (rows, d) data set that train() and the Python loop
    // both take: the next batch_size rows from the data position (where the
    // previous batch, or the checkpoint, left off) until the trainer has used
    // `goal` tokens in all; at the end of the data it starts over, same
    // order, and a last batch shorter than 2 rows (no variance) is skipped.
    // Moves the data position past the slice it returns (so a checkpoint
    // after the step records where the next one starts); nullopt when the
    // goal is reached or no batch of 2 rows fits before it (then the
    // position does not move).
    std::optional<DataSlice> next_slice(std::int64_t rows, std::int64_t goal) {
        if (rows < 2) throw std::invalid_argument("training data needs at least 2 tokens, got " + std::to_string(rows));
        std::int64_t row = data_row_ < rows ? data_row_ : 0;  // a shorter data set than the checkpoint's: from the start
        while (tokens_ < goal) {
            const std::int64_t take = std::min({options_.batch_size, goal - tokens_, rows - row});
            if (take >= 2) {
                data_row_ = (row + take) % rows;
                return DataSlice{row, take};
            }
            if (row == 0) break;  // fewer than 2 tokens left to the goal
            row = 0;              // too short for a variance: start the next pass
        }
        return std::nullopt;  // the position stays where the last batch left it, as a checkpoint has it
    }

    // Steps through `data` (tokens, d) along next_slice, until the trainer
    // has used `tokens` tokens in all (0: one more pass).
    // progress(trainer, stats) is called after every step and may throw to
    // stop (the trainer stays consistent). A step that throws leaves the data
    // position at its batch.
    void train(const at::Tensor& data, std::int64_t tokens = 0,
               const std::function<void(const Trainer&, const std::vector<StepStats>&)>& progress = {}) {
        if (data.dim() != 2 || data.size(1) != config_.d_in)
            throw std::invalid_argument("training data must be (tokens, " + std::to_string(config_.d_in) +
                                        "), got " + std::to_string(data.dim()) + "-D with last size " +
                                        std::to_string(data.dim() ? data.size(-1) : 0));
        const std::int64_t rows = data.size(0);
        const std::int64_t goal = tokens > 0 ? tokens : tokens_ + rows;
        while (true) {
            const std::int64_t row_before = data_row_;
            const auto slice = next_slice(rows, goal);
            if (!slice) break;
            std::vector<StepStats> stats;
            try {
                stats = step(data.narrow(0, slice->start, slice->count));
            } catch (...) {
                data_row_ = row_before;
                throw;
            }
            if (progress) progress(*this, stats);
        }
    }

private:
    // A step is some fifty torch ops (each a parallel region of its own when
    // its tensors pass ATen's grain) around the encoder GEMM. On a busy
    // machine each region can wait a time slice for a descheduled thread, so
    // a step whose GEMM is small runs every op on this thread; larger steps
    // get one thread per kStepGrain multiply-adds of their GEMM.
    static constexpr std::int64_t kStepGrain = std::int64_t{1} << 30;

    int step_threads(std::int64_t tokens) const {
        if (!options_.device.is_cpu()) return 0;  // no cap: the work is on the device
        const int available = at::get_num_threads();  // also runs ATen's per-thread set-up first
        return saematch::detail::threads_for(tokens * seeds() * config_.num_latents * config_.d_in, available,
                                             kStepGrain);
    }

    OptimizerOptions optimizer_options() const {
        return {options_.optimizer, options_.beta1, options_.beta2, options_.eps};
    }

    // Validates, initialises every seed's SAE and stacks their parameters;
    // returns the stacked tensors for the optimiser.
    const std::vector<at::Tensor>& init_parameters() {
        config_.validate();
        if (options_.seeds.empty()) throw std::invalid_argument("TrainOptions::seeds must name at least one seed");
        // Two equal seeds would train the same SAE twice and write one seed_<s>/ over the other.
        for (std::size_t i = 0; i < options_.seeds.size(); ++i)
            for (std::size_t j = 0; j < i; ++j)
                if (options_.seeds[i] == options_.seeds[j])
                    throw std::invalid_argument("TrainOptions::seeds must differ, got seed " +
                                                std::to_string(options_.seeds[i]) + " twice");
        if (options_.batch_size < 2)
            throw std::invalid_argument("TrainOptions::batch_size must be at least 2, got " +
                                        std::to_string(options_.batch_size));
        if (!(options_.lr >= 0.0)) throw std::invalid_argument("TrainOptions::lr must be >= 0 (0: the default)");
        if (options_.lr_warmup_steps < 0 || options_.planned_steps < 0)
            throw std::invalid_argument("TrainOptions::lr_warmup_steps and planned_steps must be >= 0");
        if (options_.lr == 0.0) options_.lr = default_learning_rate(config_.num_latents);
        const std::int64_t seeds = this->seeds();
        const auto names = Sae::parameter_names();
        b_dec_ = static_cast<std::size_t>(std::find(names.begin(), names.end(), "b_dec") - names.begin());
        if (b_dec_ == names.size()) throw std::logic_error("an SAE architecture without a b_dec parameter");
        for (std::int64_t s = 0; s < seeds; ++s) {
            const auto params =
                Sae::initialised(config_, options_.seeds[static_cast<std::size_t>(s)], options_.device).parameters();
            if (s == 0)
                for (const auto& p : params) {
                    std::vector<std::int64_t> shape{seeds};
                    shape.insert(shape.end(), p.sizes().begin(), p.sizes().end());
                    stacked_.push_back(at::empty(shape, p.options()));
                }
            for (std::size_t p = 0; p < params.size(); ++p) stacked_[p][s].copy_(params[p]);
        }
        for (const auto& p : stacked_) grad_buffers_.push_back(at::zeros_like(p));
        const auto counts = at::TensorOptions().dtype(at::kLong).device(options_.device);
        firing_counts_ = at::zeros({seeds, config_.num_latents}, counts);
        tokens_since_fired_ = at::zeros({seeds, config_.num_latents}, counts);
        history_.resize(static_cast<std::size_t>(seeds));
        dead_counts_.assign(static_cast<std::size_t>(seeds), 0);
        return stacked_;
    }

    void check_batch_shape(const at::Tensor& x) const {
        if (x.dim() != 2 || x.size(1) != config_.d_in)
            throw std::invalid_argument("a batch must be (tokens, " + std::to_string(config_.d_in) + "), got " +
                                        std::to_string(x.dim()) + "-D with last size " +
                                        std::to_string(x.dim() ? x.size(-1) : 0));
        // A process's share of a batch may be shorter (batch_wide() checks the whole).
        if (x.size(0) < 2 && !ranks_) throw std::invalid_argument("a batch needs at least 2 tokens for its variance");
    }

    // What the step needs of the whole batch: the sum of its values (for
    // the finiteness check), its mean (on the first step, for b_dec), its
    // total variance (the FVU's denominator) and its tokens. Across
    // processes the mean is the summed rows over the summed count (in
    // double) and the variance the summed squared deviations from it.
    struct BatchWide {
        at::Tensor sum, mean, variance;
        std::int64_t tokens = 0;
    };
    BatchWide batch_wide(const at::Tensor& x, bool first) const {
        if (!ranks_) return {x.sum(), first ? x.mean(0) : at::Tensor(), sae::total_variance(x), x.size(0)};
        std::vector<at::Tensor> sums{
            at::cat({x.sum(0, /*keepdim=*/false, at::kDouble), at::full({1}, static_cast<double>(x.size(0)),
                                                                         x.options().dtype(at::kDouble))})};
        ranks_->sum(sums);
        const auto tokens = static_cast<std::int64_t>(sums[0][config_.d_in].item<double>());
        if (tokens < 2) throw std::invalid_argument("a batch needs at least 2 tokens for its variance");
        const auto row_sum = sums[0].narrow(0, 0, config_.d_in);
        const auto mean = (row_sum / static_cast<double>(tokens)).to(at::kFloat);
        std::vector<at::Tensor> deviations{(x - mean).pow(2).sum().reshape({1})};
        ranks_->sum(deviations);
        return {row_sum.sum(), mean, deviations[0].reshape({}), tokens};
    }

    // Data-parallel: turns this process's results into the whole batch's
    // (gradients, losses, FVUs, firing counts and L0 summed over the
    // processes, after weighting by the share of tokens where the
    // architecture's loss is a mean over them), each gradient summed in its
    // stacked buffer so that one exchange serves all seeds.
    void add_up_shares(std::vector<sae::StepResult>& results, std::int64_t share_tokens, std::int64_t tokens) {
        const double weight = Sae::share_rule == sae::ShareRule::weight_by_tokens
                                  ? static_cast<double>(share_tokens) / static_cast<double>(tokens)
                                  : 1.0;
        std::vector<at::Tensor> sums;
        for (std::size_t p = 0; p < grad_buffers_.size(); ++p) {
            if (!results.front().grads[p].defined()) continue;  // a buffer without gradient
            for (std::size_t s = 0; s < results.size(); ++s) {
                auto& g = results[s].grads[p];
                auto slot = grad_buffers_[p][static_cast<std::int64_t>(s)];
                if (weight == 0.0) {
                    slot.zero_();  // an empty share adds nothing (its mean over no tokens is NaN)
                } else {
                    if (!g.is_same(slot)) slot.copy_(g);
                    if (weight != 1.0) slot.mul_(weight);
                }
                g = slot;
            }
            sums.push_back(grad_buffers_[p]);
        }
        std::vector<at::Tensor> numbers, fired;
        for (const auto& r : results) {
            numbers.push_back(r.fvu.to(at::kDouble).reshape({1}));
            numbers.push_back(weight == 0.0 ? at::zeros({1}, r.loss.options().dtype(at::kDouble))
                                            : r.loss.to(at::kDouble).reshape({1}) * weight);
            fired.push_back(r.fired);
        }
        sums.push_back(at::cat(numbers));
        sums.push_back(at::stack(fired));
        ranks_->sum(sums);
        const auto& summed = sums[sums.size() - 2];
        const auto& counts = sums.back();
        for (std::size_t s = 0; s < results.size(); ++s) {
            const auto i = static_cast<std::int64_t>(s);
            results[s].fvu = summed[2 * i];
            results[s].loss = summed[2 * i + 1];
            results[s].fired = counts[i];
            // L0: active latents per token, the counts' total over the whole batch's tokens.
            results[s].l0 = counts[i].sum().to(at::kDouble) / static_cast<double>(tokens);
        }
    }

    // The batch as contiguous float32 on the training device. A CPU batch
    // for a CUDA trainer goes through a page-locked staging buffer, so the
    // copy is queued instead of waited for; the buffer is free again by the
    // next step, whose read-back follows this copy on the stream.
    at::Tensor upload(const at::Tensor& batch) {
        if (!(options_.device.is_cuda() && batch.device().is_cpu()))
            return batch.to(options_.device, at::kFloat).contiguous();
        if (!staging_.defined() || staging_.size(0) < batch.size(0))
            staging_ = at::empty({std::max(batch.size(0), options_.batch_size), config_.d_in},
                                 at::TensorOptions().dtype(at::kFloat).pinned_memory(true));
        auto host = staging_.narrow(0, 0, batch.size(0));
        host.copy_(batch);
        return host.to(options_.device, /*non_blocking=*/true);
    }

    // Every seed's ReLU'd pre-activations from one batched GEMM, (seeds,
    // tokens, n), into a buffer kept between steps (a fresh 1 GiB for 4 seeds
    // costs page faults). With z = x − b_dec, W_enc z + b_enc = x W_encᵀ +
    // (b_enc − W_enc b_dec): the batch is read once, each seed's block is
    // contiguous (topk on a strided slice would copy it every step).
    at::Tensor shared_pre_activations(const at::Tensor& x) {
        const std::int64_t seeds = this->seeds(), n = config_.num_latents, d = config_.d_in, tokens = x.size(0);
        const auto& W_enc = stacked_[0];  // (seeds, n, d)
        const auto bias = (stacked_[1] - at::bmm(W_enc, stacked_[b_dec_].unsqueeze(2)).squeeze(2)).unsqueeze(1);
        if (!pre_buffer_.defined() || pre_buffer_.size(1) < tokens)
            pre_buffer_ = at::empty({seeds, std::max(tokens, options_.batch_size), n}, x.options());
        auto pre = pre_buffer_.narrow(1, 0, tokens);
        if (options_.bf16_encoder)
            pre.copy_(at::bmm(x.to(at::kBFloat16).expand({seeds, tokens, d}), W_enc.to(at::kBFloat16).transpose(1, 2)))
                .add_(bias);
        else
            at::baddbmm_out(pre, bias, x.expand({seeds, tokens, d}), W_enc.transpose(1, 2));
        return pre.relu_();
    }

    // What step() reads back from the device, once.
    struct StepReadout {
        double batch_sum = 0.0, variance = 0.0;
        std::vector<double> fvu, loss, l0;
        std::vector<std::int64_t> dead;  // per seed, after this step
    };

    // `batch_sum`: the sum of the batch's values, which says whether all of
    // them are finite (a NaN or inf makes the sum so; a finite sum can only
    // be wrong the other way, by overflow).
    StepReadout read_back(const at::Tensor& batch_sum, const at::Tensor& variance,
                          const std::vector<sae::StepResult>& results, const at::Tensor& dead_after) const {
        const auto f64 = [](const at::Tensor& t) { return t.to(at::kDouble).reshape({-1}); };
        std::vector<at::Tensor> parts{f64(batch_sum), f64(variance)};
        for (const auto& r : results) parts.insert(parts.end(), {f64(r.fvu), f64(r.loss), f64(r.l0)});
        parts.push_back(f64(dead_after.sum(1)));
        const auto host = at::cat(parts).cpu();
        const double* h = host.data_ptr<double>();
        StepReadout out;
        out.batch_sum = h[0];
        out.variance = h[1];
        const std::size_t seeds = results.size();
        for (std::size_t s = 0; s < seeds; ++s) {
            out.fvu.push_back(h[2 + 3 * s]);
            out.loss.push_back(h[3 + 3 * s]);
            out.l0.push_back(h[4 + 3 * s]);
            out.dead.push_back(static_cast<std::int64_t>(h[2 + 3 * seeds + s]));
        }
        return out;
    }

    [[noreturn]] void throw_non_finite_batch(const at::Tensor& x) const {
        const auto bad = at::nonzero(~at::isfinite(x));
        if (bad.size(0) == 0 && ranks_)
            throw std::invalid_argument("another process's share of the batch has a non-finite value (that "
                                        "process's error names it); this process's share is finite");
        if (bad.size(0) == 0) throw_variance_overflow(x);  // the sum overflowed, every value is finite
        throw std::invalid_argument(std::string(ranks_ ? "this process's share of the " : "") +
                                    "batch has a non-finite value at token " +
                                    std::to_string(bad[0][0].item<std::int64_t>()) + ", dimension " +
                                    std::to_string(bad[0][1].item<std::int64_t>()));
    }

    // The variance, the FVU's denominator, overflows float32 for values of
    // about 1e19 and up, which would otherwise surface as a non-finite loss.
    [[noreturn]] void throw_variance_overflow(const at::Tensor& x) const {
        throw std::invalid_argument(
            "the batch's values are too large for float32 arithmetic (largest magnitude " +
            std::to_string(x.abs().max().item<double>()) +
            "; their squared deviations overflow): scale the data, e.g. divide it by its typical norm");
    }

    double learning_rate() const {
        const std::int64_t warmup = effective_warmup_steps(options_);
        if (warmup <= 0) return options_.lr;
        const double ramp = static_cast<double>(optimizer_.steps() + 1) / static_cast<double>(warmup);
        return options_.lr * std::min(1.0, ramp);
    }

    // A constant batch: consumed (tokens, data position and step count move
    // on, so a resumed run replays the same batches) but not trained on.
    std::vector<StepStats> skip_constant_batch(std::int64_t tokens) {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        std::vector<StepStats> stats(static_cast<std::size_t>(seeds()));
        for (std::int64_t s = 0; s < seeds(); ++s) {
            auto& st = stats[static_cast<std::size_t>(s)];
            const double dead = static_cast<double>(dead_counts_[static_cast<std::size_t>(s)]);
            st = {nan, nan, dead / static_cast<double>(config_.num_latents), true};
            history_[static_cast<std::size_t>(s)].push_back(st);
        }
        ++step_;
        tokens_ += tokens;
        return stats;
    }

    // Everything init_parameters() sets is declared before adam_, whose
    // initialiser calls it.
    sae::SaeConfig config_;
    TrainOptions options_;
    std::vector<at::Tensor> stacked_;  // each parameter, stacked over seeds
    std::vector<at::Tensor> grad_buffers_;  // their gradients, same shapes, reused every step
    at::Tensor pre_buffer_;                 // the shared encoder GEMM's output
    at::Tensor staging_;                    // page-locked host copy of a CPU batch for a CUDA trainer
    std::vector<std::int64_t> dead_counts_;  // per seed, dead latents after the last step (read back with it)
    std::size_t b_dec_ = 0;            // which one is b_dec
    at::Tensor firing_counts_, tokens_since_fired_;
    std::vector<std::vector<StepStats>> history_;
    Optimizer optimizer_;
    std::int64_t step_ = 0, tokens_ = 0, data_row_ = 0;
    std::shared_ptr<sae::Ranks> ranks_;  // data-parallel: the other processes (none: one process)
};

using TopKTrainer = Trainer<sae::TopKSae>;

}  // namespace saematch::train
