// accurate_dot (accurate_dot.hpp) on a device, bit for bit: the lists rank
// pairs by that float64 value, so a device that ranks candidates must
// compute the very same number, not just a close one.
//
// accurate_dot keeps sixteen partial sums: lane l adds the products of the
// entries e ≡ l (mod 16) in increasing e, then lanes are folded pairwise
// (8, 4, 2, 1). Each product of two floats is exact in float64, so only the
// order of the additions matters, and it is fixed here the same way: the
// rows are stored lane-major in float64 ((d/16) x n x 16, zero-padded to a
// multiple of 16: adding +0.0 to a partial sum that started at +0.0 leaves
// it unchanged), one elementwise multiply-add per block of sixteen entries,
// then the same folds. ATen's reductions (sum, matmul) would reassociate.
//
// Composed from ATen, it launches about 3·d/16 kernels per batch of pairs
// and reads each pair's rows from global memory twice over; one kernel with
// a thread per pair and the lanes in registers would do it in one pass.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>

namespace saematch::similarity::aten {

inline constexpr std::int64_t kLanes = 16;

// rows (n x d, float32) as (ceil(d/16), n, 16) float64, zero-padded.
inline at::Tensor lane_major(const at::Tensor& rows) {
    const std::int64_t n = rows.size(0), d = rows.size(1);
    const std::int64_t padded = (d + kLanes - 1) / kLanes * kLanes;
    at::Tensor x = rows.to(at::kDouble);
    if (padded != d) x = at::constant_pad_nd(x, {0, padded - d}, 0.0);
    return x.view({n, padded / kLanes, kLanes}).transpose(0, 1).contiguous();
}

// accurate_dot(a[i[p]], b[j[p]]) for every p (i, j: int64 on the lanes'
// device), `batch` pairs at a time.
inline at::Tensor exact_dots(const at::Tensor& a_lanes, const at::Tensor& b_lanes, const at::Tensor& i,
                             const at::Tensor& j, std::int64_t batch = std::int64_t{1} << 20) {
    const std::int64_t pairs = i.numel(), blocks = a_lanes.size(0);
    at::Tensor out = at::empty({pairs}, a_lanes.options());
    for (std::int64_t start = 0; start < pairs; start += batch) {
        const std::int64_t count = std::min(batch, pairs - start);
        const at::Tensor ii = i.narrow(0, start, count), jj = j.narrow(0, start, count);
        at::Tensor acc = at::zeros({count, kLanes}, a_lanes.options());
        for (std::int64_t c = 0; c < blocks; ++c)
            acc.addcmul_(a_lanes[c].index_select(0, ii), b_lanes[c].index_select(0, jj));
        for (std::int64_t width = kLanes / 2; width > 0; width /= 2)
            acc = acc.narrow(1, 0, width) + acc.narrow(1, width, width);
        out.narrow(0, start, count).copy_(acc.select(1, 0));
    }
    return out;
}

}  // namespace saematch::similarity::aten
