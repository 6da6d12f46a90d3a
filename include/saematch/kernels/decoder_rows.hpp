// Per-row bodies of the decoder's bookkeeping around an optimiser step
// (sparsify's rules, sae/architecture.hpp): remove from each row's gradient
// its component along the row before the step, rescale each row to unit
// norm after it. One unit is one row; every seed's stacked rows go in one
// launch. Dot products are kernels/lane_dot.hpp's, so every route gives
// the same bits.
#pragma once

#include <cmath>
#include <cstdint>

#include "saematch/kernels/host_device.hpp"
#include "saematch/kernels/lane_dot.hpp"

namespace saematch::kernels {

// grad[r] −= ⟨grad[r], rows[r]⟩ · rows[r] (rows of unit norm).
struct RemoveParallelComponent {
    const float* rows;  // (count, d)
    float* grad;        // (count, d)
    std::int64_t count, d;

    SAEMATCH_HD std::int64_t units() const { return count; }

    SAEMATCH_HD void operator()(std::int64_t r) const {
        const float* SAEMATCH_RESTRICT w = rows + r * d;
        float* SAEMATCH_RESTRICT g = grad + r * d;
        const float along = lane_dot(g, w, d);
        for (std::int64_t c = 0; c < d; ++c) g[c] -= along * w[c];
    }
};

// rows[r] /= max(‖rows[r]‖, 1e-30): zero rows stay zero.
struct NormalizeRows {
    float* rows;  // (count, d)
    std::int64_t count, d;

    SAEMATCH_HD std::int64_t units() const { return count; }

    SAEMATCH_HD void operator()(std::int64_t r) const {
        float* SAEMATCH_RESTRICT w = rows + r * d;
        const float norm = sqrtf(lane_dot(w, w, d));
        const float scale = 1.0f / (norm > 1e-30f ? norm : 1e-30f);
        for (std::int64_t c = 0; c < d; ++c) w[c] *= scale;
    }
};

}  // namespace saematch::kernels
