// compare::ScreenBackend on a torch device: the streamed method's screen
// (tile_screen.hpp) and the certificate's recomputed rows (row_settler.hpp)
// run there; the host ranks each line's few candidates (screened_candidates.hpp),
// solves and certifies, exactly as without a device. Each side's unit rows
// are uploaded once per comparison, or once for many (keep()).
//
// Usage: MatchOptions o; o.backend = std::make_shared<DeviceBackend>(opts);
// then compare_pair / compare_many as usual.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <span>
#include <vector>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "saematch/compare/screen_backend.hpp"
#include "saematch/similarity/aten/device_rows.hpp"
#include "saematch/similarity/aten/row_settler.hpp"
#include "saematch/similarity/aten/tile_screen.hpp"
#include "saematch/similarity/candidates.hpp"
#include "saematch/similarity/gemm.hpp"
#include "saematch/similarity/screened_candidates.hpp"

namespace saematch::similarity::aten {

enum class DeviceScreen {
    automatic,  // bfloat16 on CUDA (tensor cores), float32 elsewhere (no faster there)
    float32,    // float32 products, float32 accumulation (TF32 ruled out)
    bfloat16,   // bfloat16 operands, float32 products and accumulation
};

struct DeviceBackendOptions {
    c10::Device device{c10::kCPU};
    DeviceScreen screen = DeviceScreen::automatic;
    TileScreenOptions tiles{};
    // Values of S per batch of the certificate's recomputed rows: 2^27 is
    // 0.5 GiB of float32 (and 1 GiB while reduced in float64).
    std::int64_t settle_elements = std::int64_t{1} << 27;
    // Host threads for ranking the candidates; 0: OpenMP's default.
    int threads = 0;
};

class DeviceBackend final : public compare::ScreenBackend {
public:
    explicit DeviceBackend(DeviceBackendOptions options) : options_(std::move(options)) {}

    // Keeps `rows` on the device from its first use on, for every matching
    // that uses it (the SAEs of compare_many, each sent once; none sent for
    // dense matchings, which stay on the host). `rows` must outlive the backend.
    void keep(const UnitRows& rows) { kept_.try_emplace(&rows); }

    const Traffic& traffic() const { return traffic_; }
    const DeviceBackendOptions& options() const { return options_; }

    CandidateLists candidates(const UnitRows& rows, const UnitRows& cols, const CandidateOptions& options) override {
        similarity::detail::check_candidate_inputs(rows, cols, options);
        auto a = device_rows(rows), b = device_rows(cols);
        recent_ = {{&rows, a}, {&cols, b}};
        const std::int32_t k = similarity::detail::list_length(options.k, rows.rows.rows(), cols.rows.rows());
        const std::int64_t d = rows.rows.cols();
        const double f32_margin = 2.0 * gemm_error_bound(d, kDeviceUnitRoundoff);
        std::int64_t cap_rows = detail::float32_capacity(rows, cols, k), cap_cols = detail::float32_capacity(cols, rows, k);
        bool bf16 = wants_bf16();
        double margin = f32_margin;
        if (bf16) {
            margin = 2.0 * bf16_bound(*a, *b);
            const std::int64_t r = similarity::detail::bf16_capacity_for_band(cap_rows, sampled_band(*a, *b, k, margin), b->live());
            const std::int64_t c = similarity::detail::bf16_capacity_for_band(cap_cols, sampled_band(*b, *a, k, margin), a->live());
            bf16 = r >= 0 && c >= 0;  // too crowded for a bfloat16 screen: float32, as on the CPU
            if (bf16) cap_rows = r, cap_cols = c;
            else margin = f32_margin;
        }
        TileScreenOptions tiles = options_.tiles;
        tiles.progress = options.progress;
        const DevicePools pools = TileScreen(*a, *b, bf16, k, cap_rows, cap_cols, margin, f32_margin, tiles, traffic_).run();
        CandidateLists lists = lists_from_pools(rows, cols, options.k, pools.rows, pools.cols, options_.threads);
        lists.bf16_screen = bf16;
        lists.recomputed_rows = pools.recomputed_rows;
        lists.recomputed_cols = pools.recomputed_cols;
        if (options.progress) options.progress(1.0);
        return lists;
    }

    std::unique_ptr<compare::RowSettler> settler(const UnitRows& rows, const UnitRows& cols,
                                                 const CandidateLists& lists) override {
        auto a = find(rows), b = find(cols);
        const double bound = lists.bf16_screen ? bf16_bound(*a, *b) : gemm_error_bound(rows.rows.cols(), kDeviceUnitRoundoff);
        return std::make_unique<DeviceRowSettler>(std::move(a), std::move(b), lists.bf16_screen, bound,
                                                  options_.settle_elements, traffic_);
    }

    // Live rows of a kept SAE: gathered on the device, not sent again.
    void subset_of(const UnitRows& subset, const UnitRows& parent, std::span<const std::int32_t> rows) override {
        const auto hit = kept_.find(&parent);
        if (hit == kept_.end()) return;
        auto made = std::make_shared<DeviceRows>(subset, *device_rows(parent), std::vector<std::int32_t>(rows.begin(), rows.end()),
                                                 traffic_);
        derived_.push_back({{&subset, subset.rows.data(), subset.rows.rows()}, std::move(made)});
        if (derived_.size() > 2) derived_.erase(derived_.begin());  // one matching's two sides
    }

    std::string screen_name(const CandidateLists& lists) const override {
        return std::string(lists.bf16_screen ? "bfloat16" : "float32") + " on " + options_.device.str();
    }

private:
    bool wants_bf16() const {
        switch (options_.screen) {
            case DeviceScreen::float32: return false;
            case DeviceScreen::bfloat16: return true;
            case DeviceScreen::automatic: break;
        }
        return options_.device.is_cuda();
    }

    static double bf16_bound(DeviceRows& a, DeviceRows& b) {
        return bf16_gemm_error_bound(a.bf16_error(), b.bf16_error(), a.dim(), kTensorCoreUnitRoundoff);
    }

    // Kept rows, or a fresh upload (rows made for one matching, e.g. the
    // live rows of an SAE with dead latents).
    std::shared_ptr<DeviceRows> device_rows(const UnitRows& rows) {
        if (auto hit = kept_.find(&rows); hit != kept_.end()) {
            if (!hit->second) hit->second = std::make_shared<DeviceRows>(rows, options_.device, traffic_);
            return hit->second;
        }
        // A subset announced by subset_of: the same object, the same buffer.
        for (auto& [key, device] : derived_)
            if (key.rows == &rows && key.data == rows.rows.data() && key.count == rows.rows.rows()) return device;
        return std::make_shared<DeviceRows>(rows, options_.device, traffic_);
    }

    // The rows of the latest candidates() call: the certificate that follows
    // it uses the same ones.
    std::shared_ptr<DeviceRows> find(const UnitRows& rows) {
        for (auto& [host, device] : recent_)
            if (host == &rows) return device;
        throw std::logic_error("DeviceBackend::settler: these rows were not screened by this backend");
    }

    // The widest band of entries within `margin` of the k-th best, over up
    // to 64 live lines of `self` spread evenly (the CPU pass's sample).
    std::int64_t sampled_band(DeviceRows& self, DeviceRows& other, std::int32_t k, double margin) {
        const std::int64_t k_live = std::min<std::int64_t>(std::min<std::int64_t>(k, other.rows()), other.live());
        const std::int64_t lines = self.rows(), step = std::max<std::int64_t>(1, lines / 64);
        std::vector<std::int64_t> sample;
        for (std::int64_t i = 0; i < lines && sample.size() < 64; i += step)
            if (!self.host().dead[static_cast<std::size_t>(i)]) sample.push_back(i);
        if (sample.empty() || k_live < 1 || other.rows() == 0) return 0;
        const at::Tensor ids_host = at::from_blob(sample.data(), {static_cast<std::int64_t>(sample.size())}, at::kLong);
        at::Tensor s;
        {
            Float32Products exact;
            s = screen_products(self.screen(true).index_select(0, to_device(ids_host, self.device(), traffic_)), other.screen(true));
        }
        if (other.live() < other.rows()) s.masked_fill_(other.dead().unsqueeze(0), detail::kNegInf);
        const at::Tensor kth = std::get<0>(s.topk(k_live, 1)).select(1, k_live - 1);
        const at::Tensor t = float_at_most(kth.to(at::kDouble) - margin).unsqueeze(1);
        return to_host(s.ge(t).sum(1).max(), traffic_).item<std::int64_t>();
    }

    DeviceBackendOptions options_;
    Traffic traffic_;
    std::map<const UnitRows*, std::shared_ptr<DeviceRows>> kept_;  // null until first used
    std::vector<std::pair<const UnitRows*, std::shared_ptr<DeviceRows>>> recent_;
    struct SubsetKey {
        const UnitRows* rows;
        const float* data;
        std::ptrdiff_t count;
    };
    std::vector<std::pair<SubsetKey, std::shared_ptr<DeviceRows>>> derived_;  // the latest subset_of() calls
};

}  // namespace saematch::similarity::aten
