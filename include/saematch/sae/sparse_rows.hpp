// The three sparse products of a TopK SAE, where each token touches only k
// of the n latents:
//
//   gather_weighted_sum:  out[b]            = Σ_j w[b,j] · rows[index[b,j]]
//   scatter_weighted_rows: grad[index[b,j]] += w[b,j] · vectors[b]
//   gathered_dots:        dots[b,j]         = ⟨vectors[b], rows[index[b,j]]⟩
//
// The first is the decode (and the encoder input's gradient), the second the
// decoder's and the encoder's weight gradient, the third the gradient of the
// active latents. Together they replace the dense n-wide backward, which
// costs as much as the forward GEMM, by O(batch · k · d) work.
//
// On the CPU they are plain loops over float32 with OpenMP; the scatter
// visits each latent's contributions in token order whatever the thread
// count, so training is bitwise reproducible. Elsewhere (CUDA) they are ATen
// ops (embedding_bag, index_add_), whose atomic adds do not promise an order.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "saematch/detail/threads.hpp"

namespace saematch::sae {

namespace detail {

inline void check_sparse_args(const at::Tensor& index, const at::Tensor& weight, const char* what) {
    if (index.dim() != 2 || weight.sizes() != index.sizes())
        throw std::invalid_argument(std::string(what) + ": index and weights must both be (batch, k), got " +
                                    std::to_string(index.dim()) + "-D and " + std::to_string(weight.dim()) + "-D");
    if (index.scalar_type() != at::kLong)
        throw std::invalid_argument(std::string(what) + ": index must be int64");
}

inline bool cpu_float(const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat; }

// The CPU loops read rows[index] unchecked, so the indices are checked first.
inline void check_index_range(const std::int64_t* index, std::int64_t count, std::int64_t n, const char* what) {
    for (std::int64_t e = 0; e < count; ++e)
        if (index[e] < 0 || index[e] >= n)
            throw std::out_of_range(std::string(what) + ": index " + std::to_string(index[e]) + " at position " +
                                    std::to_string(e) + " is outside [0, " + std::to_string(n) + ")");
}

}  // namespace detail

// (batch, d): Σ_j weight[b, j] · rows[index[b, j]].
inline at::Tensor gather_weighted_sum(const at::Tensor& rows, const at::Tensor& index, const at::Tensor& weight) {
    detail::check_sparse_args(index, weight, "gather_weighted_sum");
    const std::int64_t batch = index.size(0), k = index.size(1), d = rows.size(1);
    if (!(detail::cpu_float(rows) && detail::cpu_float(weight)))
        return std::get<0>(at::embedding_bag(rows, index, /*offsets=*/{}, false, /*mode: sum*/ 0, false, weight))
            .view({batch, d});
    const auto r = rows.contiguous();
    const auto ix = index.contiguous();
    const auto w = weight.contiguous();
    auto out = at::zeros({batch, d}, rows.options());
    const float* rp = r.data_ptr<float>();
    const std::int64_t* ip = ix.data_ptr<std::int64_t>();
    detail::check_index_range(ip, batch * k, rows.size(0), "gather_weighted_sum");
    const float* wp = w.data_ptr<float>();
    float* op = out.data_ptr<float>();
#pragma omp parallel for schedule(static) num_threads(saematch::detail::omp_threads_for(batch * k * d))
    for (std::int64_t b = 0; b < batch; ++b) {
        float* o = op + b * d;
        for (std::int64_t j = 0; j < k; ++j) {
            const float s = wp[b * k + j];
            if (s == 0.0f) continue;
            const float* row = rp + ip[b * k + j] * d;
            for (std::int64_t c = 0; c < d; ++c) o[c] += s * row[c];
        }
    }
    return out;
}

// (n, d): row i is Σ over the (b, j) with index[b, j] = i of weight[b, j] ·
// vectors[b]; zero for rows no token touched. Written into `out` when it is
// given (a contiguous (n, d) tensor, e.g. the trainer's gradient buffer:
// no fresh 50 MB allocation and its page faults every step), or added to it
// when `accumulate`.
inline at::Tensor scatter_weighted_rows(const at::Tensor& index, const at::Tensor& weight, const at::Tensor& vectors,
                                        std::int64_t n, at::Tensor out = {}, bool accumulate = false) {
    detail::check_sparse_args(index, weight, "scatter_weighted_rows");
    const std::int64_t batch = index.size(0), k = index.size(1), d = vectors.size(1);
    if (out.defined() && (out.sizes() != at::IntArrayRef({n, d}) || !out.is_contiguous()))
        throw std::invalid_argument("scatter_weighted_rows: out must be a contiguous (n, d) tensor");
    if (!(detail::cpu_float(vectors) && detail::cpu_float(weight))) {
        auto flat = index.reshape({batch * k});
        auto contributions = (weight.unsqueeze(2) * vectors.unsqueeze(1)).reshape({batch * k, d});
        if (!out.defined()) return at::zeros({n, d}, vectors.options()).index_add_(0, flat, contributions);
        if (!accumulate) out.zero_();
        return out.index_add_(0, flat, contributions);
    }
    const auto ix = index.contiguous();
    const auto w = weight.contiguous();
    const auto v = vectors.contiguous();
    const std::int64_t* ip = ix.data_ptr<std::int64_t>();
    const float* wp = w.data_ptr<float>();
    const float* vp = v.data_ptr<float>();
    // Counting sort of the batch·k contributions by latent, stable in token
    // order: each latent's row is then summed by one thread in that order.
    std::vector<std::int64_t> start(static_cast<std::size_t>(n) + 1, 0);
    detail::check_index_range(ip, batch * k, n, "scatter_weighted_rows");
    for (std::int64_t e = 0; e < batch * k; ++e) ++start[static_cast<std::size_t>(ip[e]) + 1];
    for (std::int64_t i = 0; i < n; ++i) start[static_cast<std::size_t>(i) + 1] += start[static_cast<std::size_t>(i)];
    std::vector<std::int64_t> order(static_cast<std::size_t>(batch * k));
    {
        std::vector<std::int64_t> next(start.begin(), start.end() - 1);
        for (std::int64_t e = 0; e < batch * k; ++e) order[static_cast<std::size_t>(next[static_cast<std::size_t>(ip[e])]++)] = e;
    }
    if (!out.defined()) {
        out = at::empty({n, d}, vectors.options());
        accumulate = false;
    }
    float* op = out.data_ptr<float>();
#pragma omp parallel for schedule(dynamic, 64) num_threads(saematch::detail::omp_threads_for(batch * k * d + n * d))
    for (std::int64_t i = 0; i < n; ++i) {
        float* o = op + i * d;
        if (!accumulate) std::fill(o, o + d, 0.0f);
        for (std::int64_t p = start[static_cast<std::size_t>(i)]; p < start[static_cast<std::size_t>(i) + 1]; ++p) {
            const std::int64_t e = order[static_cast<std::size_t>(p)];
            const float s = wp[e];
            const float* vec = vp + (e / k) * d;
            for (std::int64_t c = 0; c < d; ++c) o[c] += s * vec[c];
        }
    }
    return out;
}

// (batch, k): ⟨vectors[b], rows[index[b, j]]⟩.
inline at::Tensor gathered_dots(const at::Tensor& rows, const at::Tensor& index, const at::Tensor& vectors) {
    if (index.dim() != 2 || index.scalar_type() != at::kLong)
        throw std::invalid_argument("gathered_dots: index must be (batch, k) int64");
    const std::int64_t batch = index.size(0), k = index.size(1), d = rows.size(1);
    if (!(detail::cpu_float(rows) && detail::cpu_float(vectors)))
        return (rows.index_select(0, index.reshape({batch * k})).view({batch, k, d}) * vectors.unsqueeze(1)).sum(2);
    const auto r = rows.contiguous();
    const auto ix = index.contiguous();
    const auto v = vectors.contiguous();
    auto out = at::empty({batch, k}, vectors.options());
    const float* rp = r.data_ptr<float>();
    const std::int64_t* ip = ix.data_ptr<std::int64_t>();
    detail::check_index_range(ip, batch * k, rows.size(0), "gathered_dots");
    const float* vp = v.data_ptr<float>();
    float* op = out.data_ptr<float>();
#pragma omp parallel for schedule(static) num_threads(saematch::detail::omp_threads_for(batch * k * d))
    for (std::int64_t b = 0; b < batch; ++b)
        for (std::int64_t j = 0; j < k; ++j) {
            const float* row = rp + ip[b * k + j] * d;
            const float* vec = vp + b * d;
            float s = 0.0f;
            for (std::int64_t c = 0; c < d; ++c) s += row[c] * vec[c];
            op[b * k + j] = s;
        }
    return out;
}

}  // namespace saematch::sae
