// The three sparse products of a TopK SAE, where each token touches only k
// of the n latents:
//
//   gather_weighted_sum:   out[b]            = Σ_j w[b,j] · rows[index[b,j]]
//   scatter_weighted_rows: grad[index[b,j]] += w[b,j] · vectors[b]
//   gathered_dots:         dots[b,j]         = ⟨vectors[b], rows[index[b,j]]⟩
//
// The first is the decode (and the encoder input's gradient), the second the
// decoder's and the encoder's weight gradient, the third the gradient of the
// active latents. Together they replace the dense n-wide backward, which
// costs as much as the forward GEMM, by O(batch · k · d) work.
//
// The scatter is a segment reduction, not atomics: the batch·k
// contributions are grouped by latent once per set of codes (LatentBuckets:
// a counting sort on the CPU, a stable sort on a device), then each latent's
// row is summed by one thread in token order. Training is therefore bitwise
// reproducible run to run on the CPU and on CUDA. Which code runs is
// execution_path.hpp's decision; the bodies are kernels/sparse_rows.hpp's.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "saematch/kernels/sparse_rows.hpp"
#include "saematch/sae/execution_path.hpp"

namespace saematch::sae {

namespace detail {

inline void check_sparse_args(const at::Tensor& index, const at::Tensor& weight, const char* what) {
    if (index.dim() != 2 || weight.sizes() != index.sizes())
        throw std::invalid_argument(std::string(what) + ": index and weights must both be (batch, k), got " +
                                    std::to_string(index.dim()) + "-D and " + std::to_string(weight.dim()) + "-D");
    if (index.scalar_type() != at::kLong)
        throw std::invalid_argument(std::string(what) + ": index must be int64");
}

inline void check_rows(const at::Tensor& rows, const char* what, const char* name) {
    if (rows.dim() != 2)
        throw std::invalid_argument(std::string(what) + ": " + name + " must be 2-D, got " +
                                    std::to_string(rows.dim()) + "-D");
}

inline float* floats(const at::Tensor& t) { return t.data_ptr<float>(); }
inline const std::int64_t* longs(const at::Tensor& t) { return t.data_ptr<std::int64_t>(); }

}  // namespace detail

// Fails with std::out_of_range unless every index is in [0, n). On a device
// this reads two numbers back (a synchronisation), so the trainer, whose
// indices come from topk, skips it; the CPU loops always check (host data).
inline void check_index_range(const at::Tensor& index, std::int64_t n, const char* what) {
    if (index.numel() == 0) return;
    const auto flat = index.reshape({-1}).contiguous();
    std::int64_t bad = 0, position = -1;
    if (flat.device().is_cpu()) {
        const std::int64_t* p = detail::longs(flat);
        for (std::int64_t e = 0; e < flat.numel() && position < 0; ++e)
            if (p[e] < 0 || p[e] >= n) bad = p[e], position = e;
    } else {
        const auto [lo, at_lo] = at::min(flat, 0);
        const auto [hi, at_hi] = at::max(flat, 0);
        const auto host = at::stack({lo, at_lo, hi, at_hi}).cpu();
        const std::int64_t* h = detail::longs(host);
        if (h[0] < 0)
            bad = h[0], position = h[1];
        else if (h[2] >= n)
            bad = h[2], position = h[3];
    }
    if (position >= 0)
        throw std::out_of_range(std::string(what) + ": index " + std::to_string(bad) + " at position " +
                                std::to_string(position) + " is outside [0, " + std::to_string(n) + ")");
}

// The (batch, k) positions of each latent, grouped by latent in token order
// (kernels::LatentSegments): start (n + 1) and order (batch · k), int64, on
// the index's device. Undefined tensors on the aten route, which does not
// use them.
struct LatentBuckets {
    at::Tensor start, order;
    std::int64_t n = 0, k = 0;
    Route route = Route::aten;

    kernels::LatentSegments segments() const { return {detail::longs(start), detail::longs(order)}; }
};

inline LatentBuckets bucket_by_latent(const at::Tensor& index, std::int64_t n, Route route) {
    LatentBuckets b;
    b.n = n;
    b.k = index.size(1);
    b.route = route;
    if (route == Route::aten) return b;
    const auto flat = index.reshape({-1}).contiguous();
    if (route == Route::device_kernels) {
        // A stable sort keeps each latent's positions in increasing (token)
        // order, and a binary search of the sorted indices finds where each
        // latent's run starts. Both are ATen ops, so this runs wherever the
        // index is; neither waits for the host (bincount would: it reads the
        // largest index back to size its output).
        auto [sorted, order] = at::sort(flat, /*stable=*/true, /*dim=*/0, /*descending=*/false);
        b.order = order;
        b.start = at::searchsorted(sorted, at::arange(n + 1, flat.options()));
        return b;
    }
    // CPU: a counting sort, stable in token order.
    const std::int64_t count = flat.numel();
    const std::int64_t* ip = detail::longs(flat);
    b.start = at::zeros({n + 1}, flat.options());
    b.order = at::empty({count}, flat.options());
    std::int64_t* start = b.start.data_ptr<std::int64_t>();
    std::int64_t* order = b.order.data_ptr<std::int64_t>();
    for (std::int64_t e = 0; e < count; ++e) ++start[ip[e] + 1];
    for (std::int64_t i = 0; i < n; ++i) start[i + 1] += start[i];
    std::vector<std::int64_t> next(start, start + n);
    for (std::int64_t e = 0; e < count; ++e) order[next[static_cast<std::size_t>(ip[e])]++] = e;
    return b;
}

// (batch, d): Σ_j weight[b, j] · rows[index[b, j]].
inline at::Tensor gather_weighted_sum(const at::Tensor& rows, const at::Tensor& index, const at::Tensor& weight) {
    const char* what = "gather_weighted_sum";
    detail::check_sparse_args(index, weight, what);
    detail::check_rows(rows, what, "rows");
    require_same_device(what, {{"rows", &rows}, {"index", &index}, {"weights", &weight}});
    const std::int64_t batch = index.size(0), k = index.size(1), d = rows.size(1);
    const Route route = weight.scalar_type() == rows.scalar_type() ? route_for(rows) : Route::aten;
    if (rows.device().is_cpu()) check_index_range(index, rows.size(0), what);
    if (batch == 0 || k == 0) return at::zeros({batch, d}, rows.options());
    if (route == Route::aten) {
        // One bag of k per token: 1-D indices with offsets 0, k, 2k, ...
        const auto offsets = at::arange(0, batch * k, k, index.options());
        return std::get<0>(at::embedding_bag(rows, index.reshape({-1}), offsets, false, /*mode: sum*/ 0, false,
                                             weight.reshape({-1})));
    }
    const auto r = rows.contiguous(), ix = index.contiguous(), w = weight.contiguous();
    auto out = at::empty({batch, d}, rows.options());
    if (route == Route::cpu_loops)
        run_kernel(r,
                   kernels::ByToken<kernels::GatherWeightedSum<kCpuWidth>>{{detail::floats(r), detail::longs(ix),
                                                                            detail::floats(w), detail::floats(out),
                                                                            batch, k, d}},
                   k * d);
    else
        run_kernel(r, kernels::GatherWeightedSum<kDeviceWidth>{detail::floats(r), detail::longs(ix),
                                                                 detail::floats(w), detail::floats(out), batch, k, d},
                   k * kDeviceWidth);
    return out;
}

// (n, d): row i is Σ over the (b, j) with index[b, j] = i of weight[b, j] ·
// vectors[b]; zero for rows no token touched. Written into `out` when it is
// given (a contiguous (n, d) tensor, e.g. the trainer's gradient buffer: no
// fresh allocation every step), or added to it when `accumulate`.
inline at::Tensor scatter_weighted_rows(const LatentBuckets& buckets, const at::Tensor& index,
                                        const at::Tensor& weight, const at::Tensor& vectors, at::Tensor out = {},
                                        bool accumulate = false) {
    const char* what = "scatter_weighted_rows";
    detail::check_sparse_args(index, weight, what);
    detail::check_rows(vectors, what, "vectors");
    require_same_device(what, {{"vectors", &vectors}, {"index", &index}, {"weights", &weight}, {"out", &out}});
    const std::int64_t batch = index.size(0), k = index.size(1), d = vectors.size(1), n = buckets.n;
    if (vectors.size(0) != batch)
        throw std::invalid_argument(std::string(what) + ": vectors has " + std::to_string(vectors.size(0)) +
                                    " rows for a batch of " + std::to_string(batch));
    if (out.defined() && (out.sizes() != at::IntArrayRef({n, d}) || !out.is_contiguous()))
        throw std::invalid_argument(std::string(what) + ": out must be a contiguous (n, d) tensor");
    if (!out.defined()) {
        out = at::empty({n, d}, vectors.options());
        accumulate = false;
    }
    Route route = buckets.route;
    if (weight.scalar_type() != at::kFloat || vectors.scalar_type() != at::kFloat) route = Route::aten;
    if (route == Route::aten) {
        auto contributions = (weight.unsqueeze(2) * vectors.unsqueeze(1)).reshape({batch * k, d});
        if (!accumulate) out.zero_();
        return out.index_add_(0, index.reshape({-1}), contributions);
    }
    const auto w = weight.contiguous(), v = vectors.contiguous();
    const std::int64_t work = (batch * k * d) / std::max<std::int64_t>(n, 1) + d;  // per latent, on average
    if (route == Route::cpu_loops)
        run_kernel(v, kernels::SegmentWeightedSum<kCpuWidth>{buckets.segments(), detail::floats(w), detail::floats(v),
                                                               detail::floats(out), n, k, d, accumulate},
                   work * kCpuWidth / std::max<std::int64_t>(d, 1) + kCpuWidth);
    else
        run_kernel(v, kernels::SegmentWeightedSum<kDeviceWidth>{buckets.segments(), detail::floats(w),
                                                                  detail::floats(v), detail::floats(out), n, k, d,
                                                                  accumulate},
                   work * kDeviceWidth / std::max<std::int64_t>(d, 1) + kDeviceWidth);
    return out;
}

// The same, grouping the index itself (for one scatter over these codes).
inline at::Tensor scatter_weighted_rows(const at::Tensor& index, const at::Tensor& weight, const at::Tensor& vectors,
                                        std::int64_t n, at::Tensor out = {}, bool accumulate = false) {
    detail::check_sparse_args(index, weight, "scatter_weighted_rows");
    require_same_device("scatter_weighted_rows", {{"vectors", &vectors}, {"index", &index}});
    if (index.device().is_cpu()) check_index_range(index, n, "scatter_weighted_rows");
    return scatter_weighted_rows(bucket_by_latent(index, n, route_for(vectors)), index, weight, vectors,
                                 std::move(out), accumulate);
}

// (n): out[i] (+)= Σ over the (b, j) with index[b, j] = i of values[b, j],
// in token order (the encoder bias's gradient).
inline at::Tensor segment_sum(const LatentBuckets& buckets, const at::Tensor& index, const at::Tensor& values,
                              at::Tensor out, bool accumulate) {
    Route route = buckets.route;
    if (values.scalar_type() != at::kFloat) route = Route::aten;
    if (route == Route::aten) {
        if (!accumulate) out.zero_();
        return out.index_add_(0, index.reshape({-1}), values.reshape({-1}));
    }
    const auto v = values.contiguous();
    const std::int64_t per_latent = index.numel() / std::max<std::int64_t>(buckets.n, 1) + 1;
    run_kernel(v, kernels::SegmentSum{buckets.segments(), detail::floats(v), detail::floats(out), buckets.n, accumulate},
               per_latent);
    return out;
}

// (batch, k): ⟨vectors[b], rows[index[b, j]]⟩.
inline at::Tensor gathered_dots(const at::Tensor& rows, const at::Tensor& index, const at::Tensor& vectors) {
    const char* what = "gathered_dots";
    if (index.dim() != 2 || index.scalar_type() != at::kLong)
        throw std::invalid_argument(std::string(what) + ": index must be (batch, k) int64");
    detail::check_rows(rows, what, "rows");
    detail::check_rows(vectors, what, "vectors");
    require_same_device(what, {{"rows", &rows}, {"index", &index}, {"vectors", &vectors}});
    const std::int64_t batch = index.size(0), k = index.size(1), d = rows.size(1);
    if (rows.device().is_cpu()) check_index_range(index, rows.size(0), what);
    if (batch == 0 || k == 0) return at::zeros({batch, k}, vectors.options());
    const Route route = vectors.scalar_type() == rows.scalar_type() ? route_for(rows) : Route::aten;
    if (route == Route::aten)
        return (rows.index_select(0, index.reshape({batch * k})).view({batch, k, d}) * vectors.unsqueeze(1)).sum(2);
    const auto r = rows.contiguous(), ix = index.contiguous(), v = vectors.contiguous();
    auto out = at::empty({batch, k}, vectors.options());
    run_kernel(r, kernels::GatheredDots{detail::floats(r), detail::longs(ix), detail::floats(v), detail::floats(out), batch, k, d},
               d);
    return out;
}

}  // namespace saematch::sae
