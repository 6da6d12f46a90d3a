// The inner loop of the streamed top-k pass: the rows of a similarity tile
// offered to their rows' pools and to their columns' pools.
//
// Almost every entry is below both thresholds, so the loop's cost is the
// test that says so plus the few offers that pass it. Sixteen entries at a
// time are compared with the row's threshold and their columns' thresholds,
// giving a bit mask of the entries that need attention; only those are
// visited.
//
// Offers are the expensive part (a pool's slots are a cache miss away), and
// a pool that starts empty accepts everything until it holds k entries, then
// some k·ln(N/k) more as its threshold climbs. Before a line's first tile
// its threshold is therefore raised with a bound computed from the tile
// itself: split the line's entries into C ≥ k chunks; the k largest chunk
// maxima are k distinct entries, so the line's k-th best is at least the
// k-th largest chunk maximum. An entry more than the margin below that bound
// cannot matter, so it is not offered. With both, a line receives about
// twice k offers at 8192 x 8192 instead of k·(1 + ln(N/k)), and the scan
// costs a small fraction of the GEMM's time, several times less than when
// every entry of a block that held one candidate was visited (figures:
// benchmarks/README.md, "Measurements behind the code").
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "saematch/similarity/candidate_pools.hpp"

namespace saematch::similarity::detail {

inline constexpr std::ptrdiff_t kMaskWidth = 16;

// Bit l set when s[l] >= row_threshold or s[l] >= col_threshold[l], for up
// to 16 entries. The portable version: the fallback where no vector
// instruction set is known, and the tests' reference.
inline std::uint32_t hit_mask_portable(const float* s, std::ptrdiff_t count, float row_threshold,
                                       const float* col_threshold) {
    std::uint32_t mask = 0;
    for (std::ptrdiff_t l = 0; l < count; ++l)
        mask |= static_cast<std::uint32_t>((s[l] >= row_threshold) | (s[l] >= col_threshold[l])) << l;
    return mask;
}

// The same for exactly 16 entries, with the widest compare available.
inline std::uint32_t hit_mask16(const float* s, float row_threshold, const float* col_threshold) {
#if defined(__AVX512F__)
    const __m512 x = _mm512_loadu_ps(s);
    const __mmask16 row_hit = _mm512_cmp_ps_mask(x, _mm512_set1_ps(row_threshold), _CMP_GE_OQ);
    const __mmask16 col_hit = _mm512_cmp_ps_mask(x, _mm512_loadu_ps(col_threshold), _CMP_GE_OQ);
    return static_cast<std::uint32_t>(row_hit | col_hit);
#elif defined(__AVX2__)
    const __m256 t = _mm256_set1_ps(row_threshold);
    const __m256 lo = _mm256_loadu_ps(s), hi = _mm256_loadu_ps(s + 8);
    const __m256 lo_hit = _mm256_or_ps(_mm256_cmp_ps(lo, t, _CMP_GE_OQ),
                                       _mm256_cmp_ps(lo, _mm256_loadu_ps(col_threshold), _CMP_GE_OQ));
    const __m256 hi_hit = _mm256_or_ps(_mm256_cmp_ps(hi, t, _CMP_GE_OQ),
                                       _mm256_cmp_ps(hi, _mm256_loadu_ps(col_threshold + 8), _CMP_GE_OQ));
    return static_cast<std::uint32_t>(_mm256_movemask_ps(lo_hit)) |
           (static_cast<std::uint32_t>(_mm256_movemask_ps(hi_hit)) << 8);
#else
    return hit_mask_portable(s, kMaskWidth, row_threshold, col_threshold);
#endif
}

// Chunks per line for the starting bounds: more chunks give a bound closer
// to the true k-th best (fewer of the top entries share a chunk).
inline std::ptrdiff_t bound_chunks(std::int32_t k, std::ptrdiff_t entries) {
    return std::min<std::ptrdiff_t>(entries, std::ptrdiff_t{4} * k);
}

// The threshold implied by `maxima` (one per chunk; −inf for a chunk with
// nothing live), or −inf when there are fewer than k of them.
inline float threshold_from_maxima(float* maxima, std::ptrdiff_t chunks, std::int32_t k, double margin) {
    if (k <= 0 || chunks < k) return -std::numeric_limits<float>::infinity();
    std::nth_element(maxima, maxima + (k - 1), maxima + chunks, std::greater<float>());
    const float kth = maxima[k - 1];
    return kth == -std::numeric_limits<float>::infinity() ? kth
                                                          : float_at_most(static_cast<double>(kth) - margin);
}

// Raises row i's threshold with the bound from its tile row s[0, width).
// `col_bias` is 0 for live columns and −inf for dead ones, which never enter
// a row's pool.
inline void start_row(CandidatePools& row_pools, std::ptrdiff_t i, const float* s, std::ptrdiff_t width,
                      const float* col_bias, std::vector<float>& scratch) {
    const std::int32_t k = row_pools.k();
    const std::ptrdiff_t chunks = bound_chunks(k, width);
    if (k <= 0 || chunks < k) return;
    scratch.resize(static_cast<std::size_t>(chunks));
    for (std::ptrdiff_t c = 0; c < chunks; ++c) {
        float best = -std::numeric_limits<float>::infinity();
#ifdef _OPENMP
#pragma omp simd reduction(max : best)
#endif
        for (std::ptrdiff_t j = width * c / chunks; j < width * (c + 1) / chunks; ++j)
            best = std::max(best, s[j] + col_bias[j]);
        scratch[static_cast<std::size_t>(c)] = best;
    }
    row_pools.raise_threshold(i, threshold_from_maxima(scratch.data(), chunks, k, row_pools.margin()));
}

// Starting thresholds of columns j0 .. j1 − 1 of a tile `width` wide, from
// its rows `rows` (the live ones), written to out[j0 .. j1 − 1]. Valid for
// any pool that will be offered all of those rows' entries, or for any
// thread's share of them when the shares are merged (the union's k-th best
// is at least the bound).
inline void column_start_thresholds(const float* tile, std::ptrdiff_t width, std::ptrdiff_t j0,
                                    std::ptrdiff_t j1, const std::vector<std::ptrdiff_t>& rows,
                                    std::int32_t k, double margin, std::vector<float>& scratch, float* out) {
    const auto count = static_cast<std::ptrdiff_t>(rows.size());
    const std::ptrdiff_t chunks = bound_chunks(k, count), span = j1 - j0;
    if (k <= 0 || chunks < k || span <= 0) {
        std::fill(out + j0, out + j1, -std::numeric_limits<float>::infinity());
        return;
    }
    // scratch[c * span + j]: column j0 + j's largest entry among chunk c's rows.
    scratch.assign(static_cast<std::size_t>(chunks * span), -std::numeric_limits<float>::infinity());
    for (std::ptrdiff_t c = 0; c < chunks; ++c) {
        float* best = scratch.data() + c * span;
        for (std::ptrdiff_t r = count * c / chunks; r < count * (c + 1) / chunks; ++r) {
            const float* s = tile + rows[static_cast<std::size_t>(r)] * width + j0;
#ifdef _OPENMP
#pragma omp simd
#endif
            for (std::ptrdiff_t j = 0; j < span; ++j) best[j] = std::max(best[j], s[j]);
        }
    }
    std::vector<float> column(static_cast<std::size_t>(chunks));
    for (std::ptrdiff_t j = 0; j < span; ++j) {
        for (std::ptrdiff_t c = 0; c < chunks; ++c)
            column[static_cast<std::size_t>(c)] = scratch[static_cast<std::size_t>(c * span + j)];
        out[j0 + j] = threshold_from_maxima(column.data(), chunks, k, margin);
    }
}

// Offers entries s[0, width) of row i (columns col0 + j) to row i's pool
// and, for column j, to col_pools line j. Columns flagged in col_dead stay
// out of the row's pool (their exact zeros are merged in at the end).
inline void scan_tile_row(const float* s, std::ptrdiff_t width, std::ptrdiff_t i, std::ptrdiff_t col0,
                          CandidatePools& row_pools, CandidatePools& col_pools,
                          const std::uint8_t* col_dead) {
    const float* col_threshold = col_pools.thresholds();
    float row_threshold = row_pools.threshold(i);
    const auto visit = [&](std::ptrdiff_t j) {
        const float x = s[j];
        // Re-tested: offers earlier in the block may have raised a threshold.
        if (x >= row_threshold && !col_dead[col0 + j]) {
            row_pools.offer(i, x, static_cast<std::int32_t>(col0 + j));
            row_threshold = row_pools.threshold(i);
        }
        if (x >= col_threshold[j]) col_pools.offer(j, x, static_cast<std::int32_t>(i));
    };
    std::ptrdiff_t j0 = 0;
    for (; j0 + kMaskWidth <= width; j0 += kMaskWidth)
        for (std::uint32_t mask = hit_mask16(s + j0, row_threshold, col_threshold + j0); mask != 0;
             mask &= mask - 1)
            visit(j0 + std::countr_zero(mask));
    for (std::uint32_t mask = hit_mask_portable(s + j0, width - j0, row_threshold, col_threshold + j0);
         mask != 0; mask &= mask - 1)
        visit(j0 + std::countr_zero(mask));
}

}  // namespace saematch::similarity::detail
