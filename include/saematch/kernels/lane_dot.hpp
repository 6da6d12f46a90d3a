// A dot product in a fixed number of lanes: lane l sums the products of the
// columns ≡ l (mod kDotLanes), then the lanes are added in order. The lanes
// let a CPU vectorise a float sum it may not reorder, and fixing their count
// (rather than tying it to a vector width) makes the sum's order the same on
// every route and device, so the CPU loops and the device kernels give
// bitwise-equal dots.
#pragma once

#include <cstdint>

#include "saematch/kernels/host_device.hpp"

namespace saematch::kernels {

inline constexpr int kDotLanes = 16;

SAEMATCH_HD inline float lane_dot(const float* SAEMATCH_RESTRICT a, const float* SAEMATCH_RESTRICT b, std::int64_t d) {
    float lane[kDotLanes] = {};
    std::int64_t c = 0;
    for (; c + kDotLanes <= d; c += kDotLanes)
        for (int l = 0; l < kDotLanes; ++l) lane[l] += a[c + l] * b[c + l];
    for (int l = 0; c + l < d; ++l) lane[l] += a[c + l] * b[c + l];
    float s = 0.0f;
    for (int l = 0; l < kDotLanes; ++l) s += lane[l];
    return s;
}

}  // namespace saematch::kernels
