// What every SAE architecture gives the trainer: its parameters in a fixed
// order, its loss and hand-written gradient on a batch, and the bookkeeping
// around an optimiser step. The trainer (train/trainer.hpp) is written
// against this concept only; topk.hpp, batch_topk.hpp, relu_l1.hpp,
// gated.hpp, jumprelu.hpp and archetypal.hpp meet it.
//
// Gradients are written out by hand, not taken from autograd: the sparse
// ones of TopK and BatchTopK touch only active latents, and on the CPU every
// architecture's step is then bitwise reproducible. Each is tested against
// autograd through a plain dense formulation of the same loss.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "saematch/kernels/decoder_rows.hpp"
#include "saematch/sae/config.hpp"
#include "saematch/sae/execution_path.hpp"

namespace saematch::sae {

// One batch's result for one SAE.
struct StepResult {
    // One per parameter, in parameter order; undefined for a buffer that is
    // not trained by gradient (BatchTopK's threshold).
    std::vector<at::Tensor> grads;
    at::Tensor loss;                // what the gradient is of (scalar)
    at::Tensor fvu;                 // fraction of variance unexplained (scalar)
    at::Tensor fired;               // (n) int64: tokens of the batch each latent was active on
    at::Tensor l0;                  // (scalar, double) mean active latents per token
    at::Tensor statistic;           // for before_update (BatchTopK: the smallest selected value)
};

template <class S>
concept TrainableSae = requires(S s, const S& cs, const SaeConfig& c, std::uint64_t seed, at::Device device,
                                std::vector<at::Tensor> tensors, const at::Tensor& x, StepResult& r) {
    // Names of the parameters (as in sparsify's or SAELens's files), in order.
    { S::parameter_names() } -> std::same_as<std::vector<std::string>>;
    { S::initialised(c, seed, device) } -> std::same_as<S>;
    // The parameters, in order; a trainer stacks them over seeds and builds
    // each seed's SAE from views of its slices.
    { cs.parameters() } -> std::same_as<std::vector<at::Tensor>>;
    { S::from_parameters(c, tensors) } -> std::same_as<S>;
    // Loss and gradients on batch x (tokens, d); total_variance(x) given.
    { cs.step_gradients(x, x) } -> std::same_as<StepResult>;
    // Just before / after the optimiser step (decoder norms and the like).
    s.before_update(r);
    s.after_update();
    { cs.forward(x) } -> std::same_as<at::Tensor>;
};

namespace detail {

// Every SAE type's check of the config it is built from: valid, and of its
// own architecture.
inline void require_architecture(const SaeConfig& c, Architecture a) {
    c.validate();
    if (c.architecture != a)
        throw std::invalid_argument(std::string("this SAE type needs architecture ") + architecture_name(a) +
                                    ", got " + architecture_name(c.architecture));
}

// Firing counts, (n) int64, and the mean L0 of a (tokens, n) activation
// matrix: how every architecture with dense activations fills its StepResult.
inline void dense_firing(const at::Tensor& acts, StepResult& r) {
    const auto active = acts > 0;
    r.fired = active.sum(0).to(at::kLong);
    r.l0 = active.sum().to(at::kDouble) / static_cast<double>(std::max<std::int64_t>(1, acts.size(0)));
}

}  // namespace detail

// The FVU's denominator: the batch's total variance Σ‖x − mean(x)‖².
inline at::Tensor total_variance(const at::Tensor& x) { return (x - x.mean(0)).pow(2).sum(); }

// Scales rows of w to unit norm in place (zero rows stay zero).
inline void normalize_rows(at::Tensor& w) {
    const Route route = w.is_contiguous() && w.dim() == 2 ? route_for(w) : Route::aten;
    if (route == Route::aten) {
        w.div_(w.norm(2, /*dim=*/1, /*keepdim=*/true).clamp_min(1e-30));
        return;
    }
    run_kernel(w, kernels::NormalizeRows{w.data_ptr<float>(), w.size(0), w.size(1)}, 2 * w.size(1));
}

// Removes from each decoder row's gradient its component along the row, so
// that a step keeps the (unit) row length to first order; sparsify does this
// before every optimiser step.
inline void remove_parallel_component(const at::Tensor& W_dec, at::Tensor& grad) {
    const bool kernel_shapes = W_dec.dim() == 2 && grad.sizes() == W_dec.sizes() && W_dec.is_contiguous() &&
                               grad.is_contiguous() && grad.scalar_type() == W_dec.scalar_type();
    const Route route = kernel_shapes ? route_for(W_dec) : Route::aten;
    if (route == Route::aten) {
        const auto along = (grad * W_dec).sum(1, /*keepdim=*/true);
        grad.sub_(along * W_dec);
        return;
    }
    run_kernel(W_dec,
               kernels::RemoveParallelComponent{W_dec.data_ptr<float>(), grad.data_ptr<float>(), W_dec.size(0), W_dec.size(1)},
               2 * W_dec.size(1));
}

inline void check_batch(const SaeConfig& c, const at::Tensor& x) {
    if (x.dim() != 2 || x.size(1) != c.d_in)
        throw std::invalid_argument(std::string(architecture_name(c.architecture)) + " SAE with d_in = " +
                                    std::to_string(c.d_in) + " needs input of shape (tokens, " +
                                    std::to_string(c.d_in) + "), got " + std::to_string(x.dim()) +
                                    "-D with last size " + std::to_string(x.dim() ? x.size(-1) : 0));
    if (x.scalar_type() != at::kFloat) throw std::invalid_argument("SAE input must be float32");
}

// PyTorch's nn.Linear default for a (n, d) weight: uniform in ±1/sqrt(d),
// drawn on the CPU from `seed` so that a seed means the same SAE on every
// device.
inline at::Tensor linear_init(std::int64_t n, std::int64_t d, at::Generator& gen) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(d));
    return at::empty({n, d}, at::TensorOptions().dtype(at::kFloat)).uniform_(-bound, bound, gen);
}

}  // namespace saematch::sae
