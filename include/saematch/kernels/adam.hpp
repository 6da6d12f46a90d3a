// The per-element body of the fused Adam step (train/optimizer.hpp): one
// pass over parameter, gradient and both moments instead of the eight
// passes and the temporary that separate tensor ops make. Bias correction
// is folded into step and inv_correction2 by the caller, in double, once
// per step.
#pragma once

#include <cmath>
#include <cstdint>

#include "saematch/kernels/host_device.hpp"

namespace saematch::kernels {

struct AdamUpdate {
    float* param;
    const float* grad;
    float* first;   // m
    float* second;  // v
    std::int64_t count;
    float beta1, beta2;
    float step;             // lr / (1 − beta1^t)
    float inv_correction2;  // 1 / (1 − beta2^t)
    float eps;

    SAEMATCH_HD std::int64_t units() const { return count; }

    SAEMATCH_HD void operator()(std::int64_t i) const {
        const float g = grad[i];
        const float m = beta1 * first[i] + (1.0f - beta1) * g;
        const float v = beta2 * second[i] + (1.0f - beta2) * g * g;
        first[i] = m;
        second[i] = v;
        param[i] -= step * m / (sqrtf(v * inv_correction2) + eps);
    }
};

}  // namespace saematch::kernels
