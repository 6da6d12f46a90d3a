// The streamed pass of candidates.hpp on a device: tiles of S = A · Bᵀ
// computed there and reduced there, so that only each line's few
// candidates cross to the host, never a tile.
//
// The reduction is the CPU pass's (candidate_pools.hpp): a line's pool must
// hold every entry within `margin` (twice the screen's error bound) of its
// k-th best screened value; ranking the pool by accurate value then gives
// the exact top k. Here each line keeps its P best screened values across
// tiles (a running top-P, merged tile by tile, rows along a row block's
// columns and columns along all row blocks); at the end the entries within
// the margin of the k-th are the pool. When even the P-th is within the
// margin, more could be: that line overflowed and is recomputed whole, as
// the CPU pass does. P is the CPU pass's pool capacity (list_ranking.hpp's
// ListSide, and bf16_capacity_for_band for a bfloat16 screen).
//
// The per-column top-P across row tiles is a topk over dim 0 of each tile
// plus a merge: the spot where a custom kernel (one pass over the tile
// feeding both directions' pools, as tile_scan.hpp does on the CPU) would
// save the most.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "saematch/similarity/aten/device_rows.hpp"
#include "saematch/similarity/aten/exact_dots.hpp"
#include "saematch/similarity/candidates.hpp"
#include "saematch/similarity/list_ranking.hpp"
#include "saematch/similarity/screened_candidates.hpp"

namespace saematch::similarity::aten {

struct TileScreenOptions {
    // Tile shape: the device holds about three tiles of block_rows x
    // block_cols floats at once (1.5 GiB at the defaults; results never
    // depend on it). Large tiles keep a GPU's GEMMs efficient.
    std::int64_t block_rows = 8192;
    std::int64_t block_cols = 16384;
    // Pairs per batch of exact dot products (16 float64 lanes each).
    std::int64_t dot_batch = std::int64_t{1} << 20;
    // Called after every tile with the fraction done (screen only).
    std::function<void(double)> progress;
};

namespace detail {

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// A running top-P: value (L x P, best first, −inf padding) and index (the
// other side's row, −1 padding).
struct RunningTop {
    at::Tensor value, index;

    RunningTop(std::int64_t lines, std::int64_t p, const at::TensorOptions& o)
        : value(at::full({lines, p}, kNegInf, o.dtype(at::kFloat))), index(at::full({lines, p}, -1, o.dtype(at::kLong))) {}

    // Merges candidates (v, ix: L x q) into lines [first, first + L).
    void merge(std::int64_t first, const at::Tensor& v, const at::Tensor& ix) {
        const std::int64_t lines = v.size(0), p = value.size(1);
        at::Tensor cv = at::cat({value.narrow(0, first, lines), v}, 1);
        at::Tensor ci = at::cat({index.narrow(0, first, lines), ix}, 1);
        auto [top, pos] = cv.topk(p, 1, /*largest=*/true, /*sorted=*/true);
        value.narrow(0, first, lines).copy_(top);
        index.narrow(0, first, lines).copy_(ci.gather(1, pos));
    }
};

// The screen's capacity per line for `self` against `other`: the CPU pass's.
inline std::int64_t float32_capacity(const UnitRows& self, const UnitRows& other, std::int32_t k) {
    return similarity::detail::ListSide(self, other, k, nullptr, nullptr).capacity;
}

}  // namespace detail

// Both directions' pools of one comparison, as lists_from_pools wants them.
struct DevicePools {
    ScreenedPools rows, cols;
    std::int64_t recomputed_rows = 0, recomputed_cols = 0;
};

class TileScreen {
public:
    // `margin`: twice the screen's error bound. `capacity_rows/cols`: P.
    TileScreen(DeviceRows& a, DeviceRows& b, bool bf16, std::int32_t k, std::int64_t capacity_rows,
               std::int64_t capacity_cols, double margin, double recompute_margin, const TileScreenOptions& options,
               Traffic& traffic)
        : a_(a), b_(b), bf16_(bf16), k_(k), p_rows_(std::max<std::int64_t>(capacity_rows, 1)),
          p_cols_(std::max<std::int64_t>(capacity_cols, 1)), margin_(margin), recompute_margin_(recompute_margin),
          options_(options), traffic_(traffic) {}

    DevicePools run() {
        const std::int64_t n = a_.rows(), m = b_.rows();
        const auto o = a_.unit().options();
        detail::RunningTop rows(n, p_rows_, o), cols(m, p_cols_, o);
        const std::int64_t br = std::max<std::int64_t>(1, options_.block_rows), bc = std::max<std::int64_t>(1, options_.block_cols);
        const double tiles = static_cast<double>(((n + br - 1) / br) * ((m + bc - 1) / bc)) + 1.0;
        std::int64_t done = 0;
        const at::Tensor& x = a_.screen(bf16_);
        const at::Tensor& y = b_.screen(bf16_);
        const bool dead_cols = b_.live() < m, dead_rows = a_.live() < n;
        {
            Float32Products exact;
            for (std::int64_t r0 = 0; r0 < n; r0 += br) {
                const std::int64_t h = std::min(br, n - r0);
                for (std::int64_t c0 = 0; c0 < m; c0 += bc) {
                    const std::int64_t w = std::min(bc, m - c0);
                    const at::Tensor tile = screen_products(x.narrow(0, r0, h), y.narrow(0, c0, w));
                    // Dead vectors never enter the other side's pools.
                    const at::Tensor for_rows = dead_cols ? tile.masked_fill(b_.dead().narrow(0, c0, w).unsqueeze(0), detail::kNegInf) : tile;
                    auto [rv, ri] = for_rows.topk(std::min(p_rows_, w), 1);
                    rows.merge(r0, rv, ri.add_(c0));
                    const at::Tensor for_cols = dead_rows ? tile.masked_fill(a_.dead().narrow(0, r0, h).unsqueeze(1), detail::kNegInf) : tile;
                    auto [cv, ci] = for_cols.topk(std::min(p_cols_, h), 0);
                    cols.merge(c0, cv.t(), ci.add_(r0).t());
                    if (options_.progress) options_.progress(static_cast<double>(++done) / tiles);
                }
            }
        }
        DevicePools out;
        const at::Tensor a_lanes = lane_major(a_.unit()), b_lanes = lane_major(b_.unit());
        out.recomputed_rows = finish(rows, a_, b_, a_lanes, b_lanes, out.rows);
        out.recomputed_cols = finish(cols, b_, a_, b_lanes, a_lanes, out.cols);
        return out;
    }

private:
    // Turns a direction's running top-P into its pools: the entries within
    // the margin of each live line's k-th, overflowed lines recomputed, the
    // members' accurate values computed here. Returns the lines recomputed.
    std::int64_t finish(const detail::RunningTop& top, DeviceRows& self, DeviceRows& other, const at::Tensor& self_lanes,
                        const at::Tensor& other_lanes, ScreenedPools& out) {
        const std::int64_t lines = self.rows(), p = top.value.size(1);
        const std::int64_t k_live = std::min<std::int64_t>(std::min<std::int64_t>(k_, other.rows()), other.live());
        const auto long_options = self.unit().options().dtype(at::kLong);
        at::Tensor line = at::empty({0}, long_options), member = at::empty({0}, long_options);
        std::int64_t recomputed = 0;
        if (k_live > 0 && lines > 0) {
            const at::Tensor threshold = float_at_most(top.value.select(1, k_live - 1).to(at::kDouble) - margin_).unsqueeze(1);
            const at::Tensor live = self.dead().logical_not();
            at::Tensor keep = top.value.ge(threshold).logical_and_(live.unsqueeze(1));
            // The P-th screened value within the margin: entries beyond P may be too.
            const at::Tensor overflow = p < other.live() ? top.value.select(1, p - 1).ge(threshold.squeeze(1)).logical_and_(live)
                                                         : at::zeros({lines}, live.options());
            const at::Tensor overflowed = to_host(overflow.nonzero().squeeze(1), traffic_);
            recomputed = overflowed.numel();
            if (recomputed > 0) keep.index_fill_(0, overflowed.to(self.device()), false);
            if (bf16_) narrow_in_float32(top, self, other, k_live, keep);
            const at::Tensor pos = keep.nonzero();  // row-major: grouped by line
            line = pos.select(1, 0);
            member = top.index.reshape({-1}).index_select(0, pos.select(1, 0) * p + pos.select(1, 1));
            if (recomputed > 0) {
                auto [extra_line, extra_member] = recompute(self, other, overflowed, k_live);
                line = at::cat({line, extra_line});
                member = at::cat({member, extra_member});
                const at::Tensor order = std::get<1>(line.sort(/*stable=*/true, 0, false));
                line = line.index_select(0, order);
                member = member.index_select(0, order);
            }
        }
        const at::Tensor accurate = exact_dots(self_lanes, other_lanes, line, member, options_.dot_batch);
        const at::Tensor counts = to_host(at::bincount(line, {}, lines), traffic_);
        const at::Tensor members = to_host(member.to(at::kInt), traffic_);
        const at::Tensor values = to_host(accurate, traffic_);
        out.offsets.assign(static_cast<std::size_t>(lines) + 1, 0);
        const std::int64_t* c = counts.data_ptr<std::int64_t>();
        for (std::int64_t l = 0; l < lines; ++l) out.offsets[static_cast<std::size_t>(l) + 1] = out.offsets[static_cast<std::size_t>(l)] + c[l];
        out.index.assign(members.data_ptr<std::int32_t>(), members.data_ptr<std::int32_t>() + members.numel());
        out.accurate.assign(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
        return recomputed;
    }

    // A bfloat16 pool is wide (its margin is some 80 times float32's, about
    // 250 entries a line at d = 4096), and every member would cost an exact
    // dot product. So the pool is narrowed first by its members' float32
    // values, the same margin rule one level down: the pool holds the exact
    // top k, so its k-th best float32 value is at most the exact k-th + E,
    // and every exact top-k member has a float32 value >= the exact k-th − E.
    void narrow_in_float32(const detail::RunningTop& top, DeviceRows& self, DeviceRows& other, std::int64_t k_live,
                           at::Tensor& keep) {
        const std::int64_t lines = top.index.size(0), p = top.index.size(1), d = self.dim();
        const std::int64_t chunk = std::max<std::int64_t>(1, (std::int64_t{1} << 28) / std::max<std::int64_t>(1, p * d));
        Float32Products exact;
        for (std::int64_t l0 = 0; l0 < lines; l0 += chunk) {
            const std::int64_t count = std::min(chunk, lines - l0);
            const at::Tensor members = top.index.narrow(0, l0, count).clamp_min(0).reshape({-1});
            const at::Tensor y = other.unit().index_select(0, members).view({count, p, d});
            const at::Tensor x = self.unit().narrow(0, l0, count).unsqueeze(2);
            at::Tensor f = at::bmm(y, x).squeeze(2);  // count x p, float32
            at::Tensor kept = keep.narrow(0, l0, count);
            f.masked_fill_(kept.logical_not(), detail::kNegInf);
            const at::Tensor kth = std::get<0>(f.topk(std::min(k_live, p), 1)).select(1, std::min(k_live, p) - 1);
            const at::Tensor threshold = float_at_most(kth.to(at::kDouble) - recompute_margin_).unsqueeze(1);
            // Lines with fewer than k_live members (dead lines, none kept) keep what they have.
            kept.logical_and_(f.ge(threshold).logical_or_(kth.eq(detail::kNegInf).unsqueeze(1)));
        }
    }

    // Whole lines of S in float32 (like the CPU pass's recomputation), a
    // batch at a time: every live entry within the float32 margin of the
    // line's k-th best. Returns (line, member) pairs.
    std::pair<at::Tensor, at::Tensor> recompute(DeviceRows& self, DeviceRows& other, const at::Tensor& which_host,
                                                std::int64_t k_live) {
        const std::int64_t m = other.rows(), total = which_host.numel();
        const std::int64_t batch = std::clamp<std::int64_t>(options_.block_rows * options_.block_cols / std::max<std::int64_t>(m, 1), 1, total);
        const at::Tensor which = which_host.to(self.device());
        std::vector<at::Tensor> lines, members;
        Float32Products exact;
        for (std::int64_t start = 0; start < total; start += batch) {
            const at::Tensor ids = which.narrow(0, start, std::min(batch, total - start));
            at::Tensor s = screen_products(self.unit().index_select(0, ids), other.unit());
            if (other.live() < m) s.masked_fill_(other.dead().unsqueeze(0), detail::kNegInf);
            const at::Tensor kth = std::get<0>(s.topk(k_live, 1)).select(1, k_live - 1);
            const at::Tensor threshold = float_at_most(kth.to(at::kDouble) - recompute_margin_).unsqueeze(1);
            const at::Tensor pos = s.ge(threshold).nonzero();
            lines.push_back(ids.index_select(0, pos.select(1, 0)));
            members.push_back(pos.select(1, 1));
        }
        return {at::cat(lines), at::cat(members)};
    }

    DeviceRows& a_;
    DeviceRows& b_;
    const bool bf16_;
    const std::int32_t k_;
    const std::int64_t p_rows_, p_cols_;
    const double margin_, recompute_margin_;
    const TileScreenOptions& options_;
    Traffic& traffic_;
};

}  // namespace saematch::similarity::aten
