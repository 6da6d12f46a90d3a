// The trainer's optimisers, on a list of tensors, in place: Adam (Kingma &
// Ba, with bias correction; SAELens's, and sparsify's when asked for) and
// Signum (Bernstein et al. 2018: a step of lr against the sign of the
// gradient's moving average; sparsify's default is a schedule-free variant
// of it). Tensors whose gradient is undefined are buffers and are left
// alone. Every element's arithmetic is fixed, so a CPU step is bitwise
// reproducible.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "saematch/kernels/adam.hpp"
#include "saematch/sae/execution_path.hpp"

namespace saematch::train {

enum class OptimizerKind { adam, signum };

struct OptimizerOptions {
    OptimizerKind kind = OptimizerKind::adam;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // signum uses beta1 only
};

class Optimizer {
public:
    Optimizer(const std::vector<at::Tensor>& params, OptimizerOptions options) : options_(options) {
        for (const auto& p : params) {
            first_.push_back(at::zeros_like(p));
            second_.push_back(at::zeros_like(p));
        }
    }

    // One step of size lr. Adam: params[i] -= lr · m̂ / (sqrt(v̂) + eps);
    // Signum: params[i] -= lr · sign(m).
    void step(std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads, double lr) {
        if (params.size() != first_.size() || grads.size() != first_.size())
            throw std::invalid_argument("Optimizer::step: parameter and gradient lists do not match the optimiser's");
        ++steps_;
        const double t = static_cast<double>(steps_);
        const double correction1 = 1.0 - std::pow(options_.beta1, t);
        const double correction2 = 1.0 - std::pow(options_.beta2, t);
        for (std::size_t i = 0; i < params.size(); ++i) {
            if (!grads[i].defined()) continue;
            auto& m = first_[i];
            auto& v = second_[i];
            if (options_.kind == OptimizerKind::signum) {
                m.mul_(options_.beta1).add_(grads[i], 1.0 - options_.beta1);
                params[i].sub_(m.sign(), lr);
                continue;
            }
            if (fusable(params[i], grads[i], m, v) && sae::route_for(params[i]) != sae::Route::aten) {
                fused_step(params[i], grads[i], m, v, lr, correction1, correction2);
                continue;
            }
            m.mul_(options_.beta1).add_(grads[i], 1.0 - options_.beta1);
            v.mul_(options_.beta2).addcmul_(grads[i], grads[i], 1.0 - options_.beta2);
            const auto denominator = (v / correction2).sqrt_().add_(options_.eps);
            params[i].addcdiv_(m, denominator, -lr / correction1);
        }
    }

    std::int64_t steps() const { return steps_; }
    // The moment estimates, for checkpoints.
    const std::vector<at::Tensor>& first_moments() const { return first_; }
    const std::vector<at::Tensor>& second_moments() const { return second_; }

    // Resumes from a checkpoint's moments (copied into place) and step count.
    void restore(const std::vector<at::Tensor>& first, const std::vector<at::Tensor>& second, std::int64_t steps) {
        if (first.size() != first_.size() || second.size() != second_.size())
            throw std::invalid_argument(
                "Optimizer::restore: the checkpoint has moments for a different parameter list");
        for (std::size_t i = 0; i < first_.size(); ++i) {
            first_[i].copy_(first[i]);
            second_[i].copy_(second[i]);
        }
        steps_ = steps;
    }

private:
    static bool fusable(const at::Tensor& p, const at::Tensor& g, const at::Tensor& m, const at::Tensor& v) {
        for (const at::Tensor* t : {&p, &g, &m, &v})
            if (t->device() != p.device() || t->scalar_type() != at::kFloat || !t->is_contiguous()) return false;
        return true;
    }

    // The same update in one pass over the four arrays instead of eight
    // passes of separate ops (unfused, the optimiser was a visible share of
    // a TopK step on the CPU, and on a GPU it moves several times the
    // memory: benchmarks/README.md, "Measurements behind the code"). Each
    // element's arithmetic is fixed (kernels/adam.hpp), so it is reproducible.
    void fused_step(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, double lr, double correction1,
                    double correction2) const {
        const kernels::AdamUpdate update{p.data_ptr<float>(),
                                         g.data_ptr<float>(),
                                         m.data_ptr<float>(),
                                         v.data_ptr<float>(),
                                         p.numel(),
                                         static_cast<float>(options_.beta1),
                                         static_cast<float>(options_.beta2),
                                         static_cast<float>(lr / correction1),
                                         static_cast<float>(1.0 / correction2),
                                         static_cast<float>(options_.eps)};
        // About eight work units an element: two moments, a root, a division.
        sae::run_kernel(p, update, 8);
    }

    OptimizerOptions options_;
    std::vector<at::Tensor> first_, second_;
    std::int64_t steps_ = 0;
};

}  // namespace saematch::train
