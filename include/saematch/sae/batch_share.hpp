// Data-parallel training: each of `world` processes holds a share of every
// batch's rows (process r the r-th contiguous share, so rank order is batch
// order) and an identical trainer. A step then equals one process's step on
// the whole batch when every batch-wide quantity (the batch's mean and
// variance, the gradient, the firing counts, BatchTopK's selection) is
// summed or gathered across the processes before it is used. `Ranks` is
// that exchange; the trainer (train/trainer.hpp) and the architectures with
// a batch-wide selection call it, and a caller implements it over its
// communication library (saematch.distributed: torch.distributed).
#pragma once

#include <ATen/ATen.h>

#include <concepts>
#include <cstdint>
#include <vector>

namespace saematch::sae {

class Ranks {
public:
    virtual ~Ranks() = default;
    virtual std::int64_t rank() const = 0;
    virtual std::int64_t world() const = 0;
    // Element-wise sums over the processes, in place; every process passes
    // tensors of the same shapes and types in the same order, and every
    // process gets the same bits back.
    virtual void sum(std::vector<at::Tensor>& tensors) = 0;
    // (world, t's shape): every process's `t` (the same shape everywhere), in rank order.
    virtual at::Tensor gather(const at::Tensor& t) = 0;
};

// A step's view of the batch: its share of the rows and the processes
// holding the others (none: the whole batch is here).
struct BatchShare {
    Ranks* ranks = nullptr;
    std::int64_t batch_tokens = 0;  // rows of the whole batch
};

// How the loss and gradient of an architecture's step on a share of the
// batch relate to the whole batch's; an architecture declares it as
// `static constexpr ShareRule share_rule`, and one without it cannot be
// trained data-parallel (the trainer refuses).
enum class ShareRule {
    // Sums over tokens divided by the whole batch's total variance (the
    // trainer passes that): the shares' terms add up.
    add,
    // Means over the share's tokens: the shares' terms add up once each is
    // weighted by its share of the batch's tokens.
    weight_by_tokens,
};

template <class S>
concept DataParallelSae = requires {
    { S::share_rule } -> std::convertible_to<ShareRule>;
};

}  // namespace saematch::sae
