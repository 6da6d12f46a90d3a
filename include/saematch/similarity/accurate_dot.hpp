// The reference value of one pair's similarity: the dot product of two
// float32 rows accumulated in float64 in a fixed order.
//
// A GEMM's float32 result depends on its kernel, its blocking and the shape
// of the call (which rows share a tile), so two tilings can round the same
// pair differently. Candidate lists are therefore ranked by this value
// instead: each float product is exact in float64, the sum's error is below
// d·2⁻⁵³ (1e-13 at d = 4096), and the fixed order makes it a function of the
// two rows alone, bit for bit, on every thread, tile size and BLAS.
// dot(x, y) == dot(y, x) exactly, so a pair has the same value in A's list
// and in B's.
#pragma once

#include <cstddef>

namespace saematch::similarity {

inline double accurate_dot(const float* x, const float* y, std::ptrdiff_t d) {
    // Sixteen independent partial sums: the loop vectorises (four AVX2
    // registers) without reassociating anything the compiler may not.
    constexpr std::ptrdiff_t kLanes = 16;
    double acc[kLanes] = {};
    std::ptrdiff_t j = 0;
    for (; j + kLanes <= d; j += kLanes)
        for (std::ptrdiff_t l = 0; l < kLanes; ++l)
            acc[l] += static_cast<double>(x[j + l]) * static_cast<double>(y[j + l]);
    for (std::ptrdiff_t l = 0; j + l < d; ++l)
        acc[l] += static_cast<double>(x[j + l]) * static_cast<double>(y[j + l]);
    for (std::ptrdiff_t width = kLanes / 2; width > 0; width /= 2)
        for (std::ptrdiff_t l = 0; l < width; ++l) acc[l] += acc[l + width];
    return acc[0];
}

// Asks the cache for the d floats at `row` ahead of their use. Ranking a
// line's candidates reads one row of the other side per candidate, rows that
// are rarely cached (tiles of the similarity matrix passed through the cache
// in between): fetching the next candidate's row while the current dot
// product runs hides most of that latency.
inline void prefetch_row(const float* row, std::ptrdiff_t d) {
#if defined(__GNUC__) || defined(__clang__)
    constexpr std::ptrdiff_t kFloatsPerLine = 64 / sizeof(float);
    for (std::ptrdiff_t j = 0; j < d; j += kFloatsPerLine) __builtin_prefetch(row + j);
#else
    (void)row;
    (void)d;
#endif
}

}  // namespace saematch::similarity
