// The per-element bodies of the three sparse products of a TopK SAE
// (sae/sparse_rows.hpp says what they compute and why). Each functor is one
// unit of parallel work, called as f(unit) for unit in [0, f.units()), by a
// CPU loop or a CUDA thread alike (kernels/launch.hpp). Plain pointers, no
// torch: nvcc and a C++ compiler both compile this header.
//
// A unit covers Width adjacent columns of one output row, accumulated in
// registers: on the CPU a Width of 16 floats is one cache line per source
// row and vectorises; on the GPU a Width of 4 is one 16-byte load per
// thread and neighbouring threads read neighbouring columns. A last chunk
// narrower than Width (d not a multiple of it) is bounded by d. The order of
// every sum is fixed by the data (j order, token order, lane order), never by
// the schedule or the Width, so every route gives the same bits.
#pragma once

#include <cstdint>

#include "saematch/kernels/host_device.hpp"
#include "saematch/kernels/lane_dot.hpp"

namespace saematch::kernels {

// The Widths the routes use (sae/execution_path.hpp). The device_kernels
// route uses kDeviceWidth on CPU tensors too, so the CPU tests run the
// instantiation a GPU runs; neither changes any sum's order.
inline constexpr int kCpuWidth = 16;
inline constexpr int kDeviceWidth = 4;

// Chunks of Width columns in a row of d.
SAEMATCH_HD inline std::int64_t column_chunks(std::int64_t d, int width) { return (d + width - 1) / width; }

// out[b, c] = Σ_j weight[b, j] · rows[index[b, j], c], j in order; a zero
// weight contributes nothing (BatchTopK's padding points at row 0).
template <int Width>
struct GatherWeightedSum {
    const float* rows;           // (n, d)
    const std::int64_t* index;   // (batch, k)
    const float* weight;         // (batch, k)
    float* out;                  // (batch, d)
    std::int64_t batch, k, d;

    SAEMATCH_HD std::int64_t units() const { return batch * column_chunks(d, Width); }

    SAEMATCH_HD void operator()(std::int64_t unit) const {
        const std::int64_t chunks = column_chunks(d, Width);
        const std::int64_t b = unit / chunks, c0 = (unit - b * chunks) * Width;
        const int width = static_cast<int>(d - c0 < Width ? d - c0 : Width);
        float acc[Width] = {};
        for (std::int64_t j = 0; j < k; ++j) {
            const float w = weight[b * k + j];
            if (w == 0.0f) continue;
            const float* SAEMATCH_RESTRICT row = rows + index[b * k + j] * d + c0;
            if (width == Width)
                for (int l = 0; l < Width; ++l) acc[l] += w * row[l];
            else
                for (int l = 0; l < width; ++l) acc[l] += w * row[l];
        }
        float* SAEMATCH_RESTRICT o = out + b * d + c0;
        for (int l = 0; l < width; ++l) o[l] = acc[l];
    }

    // Token b's whole row, for the CPU: each source row is streamed once
    // while the output row stays in L1 (chunk by chunk, the k rows' next
    // lines come from k interleaved streams, which the prefetcher follows
    // badly). Per element it adds the same terms in the same
    // order from the same zero, so the bits equal operator()'s.
    SAEMATCH_HD void token(std::int64_t b) const {
        float* SAEMATCH_RESTRICT o = out + b * d;
        for (std::int64_t c = 0; c < d; ++c) o[c] = 0.0f;
        for (std::int64_t j = 0; j < k; ++j) {
            const float w = weight[b * k + j];
            if (w == 0.0f) continue;
            const float* SAEMATCH_RESTRICT row = rows + index[b * k + j] * d;
            for (std::int64_t c = 0; c < d; ++c) o[c] += w * row[c];
        }
    }
};

// Runs a functor's token(b) as the unit of work.
template <class F>
struct ByToken {
    F f;

    SAEMATCH_HD std::int64_t units() const { return f.batch; }
    SAEMATCH_HD void operator()(std::int64_t b) const { f.token(b); }
};

// The contributions to each latent, grouped: entries order[start[i]] ..
// order[start[i + 1] − 1] are the flat (b · k + j) positions whose index is
// i, in increasing position (token) order. Built once per set of codes and
// shared by every scatter over them.
struct LatentSegments {
    const std::int64_t* start;  // (n + 1)
    const std::int64_t* order;  // (batch · k)
};

// out[i, c] (+)= Σ over latent i's entries e, in token order, of
// weight[e] · vectors[e / k, c]. One unit per (latent, chunk): a latent's
// row is written by one thread, with no atomics, so the result does not
// depend on the schedule.
template <int Width>
struct SegmentWeightedSum {
    LatentSegments segments;
    const float* weight;   // (batch · k)
    const float* vectors;  // (batch, d)
    float* out;            // (n, d)
    std::int64_t n, k, d;
    bool accumulate;       // add to out instead of overwriting it

    SAEMATCH_HD std::int64_t units() const { return n * column_chunks(d, Width); }

    SAEMATCH_HD void operator()(std::int64_t unit) const {
        const std::int64_t chunks = column_chunks(d, Width);
        const std::int64_t i = unit / chunks, c0 = (unit - i * chunks) * Width;
        const int width = static_cast<int>(d - c0 < Width ? d - c0 : Width);
        float* SAEMATCH_RESTRICT o = out + i * d + c0;
        float acc[Width] = {};
        if (accumulate)
            for (int l = 0; l < width; ++l) acc[l] = o[l];
        for (std::int64_t p = segments.start[i]; p < segments.start[i + 1]; ++p) {
            const std::int64_t e = segments.order[p];
            const float w = weight[e];
            const float* SAEMATCH_RESTRICT v = vectors + (e / k) * d + c0;
            if (width == Width)
                for (int l = 0; l < Width; ++l) acc[l] += w * v[l];
            else
                for (int l = 0; l < width; ++l) acc[l] += w * v[l];
        }
        for (int l = 0; l < width; ++l) o[l] = acc[l];
    }
};

// out[i] (+)= Σ over latent i's entries e, in token order, of values[e]:
// the encoder bias's gradient, with the segments of the weight gradients.
struct SegmentSum {
    LatentSegments segments;
    const float* values;  // (batch · k)
    float* out;           // (n)
    std::int64_t n;
    bool accumulate;

    SAEMATCH_HD std::int64_t units() const { return n; }

    SAEMATCH_HD void operator()(std::int64_t i) const {
        float s = accumulate ? out[i] : 0.0f;
        for (std::int64_t p = segments.start[i]; p < segments.start[i + 1]; ++p) s += values[segments.order[p]];
        out[i] = s;
    }
};

// out[b, j] = ⟨vectors[b], rows[index[b, j]]⟩ (lane_dot: the same bits on
// every route).
struct GatheredDots {
    const float* rows;          // (n, d)
    const std::int64_t* index;  // (batch, k)
    const float* vectors;       // (batch, d)
    float* out;                 // (batch, k)
    std::int64_t batch, k, d;

    SAEMATCH_HD std::int64_t units() const { return batch * k; }

    SAEMATCH_HD void operator()(std::int64_t e) const {
        out[e] = lane_dot(rows + index[e] * d, vectors + (e / k) * d, d);
    }
};

}  // namespace saematch::kernels
