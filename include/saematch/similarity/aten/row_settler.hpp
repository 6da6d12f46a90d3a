// The certificate's recomputed rows (compare/row_settler.hpp) on a device:
// a batch of rows of S computed there, each value turned into its lower
// bound x = −s − slack − v_j on the reduced cost (the same float64
// operations, in the same order, as the host settler), and reduced there
// to what the host needs: each row's smallest settled x and its unsettled
// columns. A fifth of the rows of a large matching may be recomputed; this
// way none of their m values crosses to the host.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "saematch/compare/row_settler.hpp"
#include "saematch/similarity/aten/device_rows.hpp"

namespace saematch::similarity::aten {

class DeviceRowSettler final : public compare::RowSettler {
public:
    // `a`, `b` must outlive the settler. `bound`: the screen's error bound.
    // `batch_elements`: about how many values of S one batch holds (each
    // also held as float64 while it is reduced).
    DeviceRowSettler(std::shared_ptr<DeviceRows> a, std::shared_ptr<DeviceRows> b, bool bf16, double bound,
                     std::int64_t batch_elements, Traffic& traffic)
        : a_(std::move(a)), b_(std::move(b)), bf16_(bf16), bound_(bound),
          batch_(std::max<std::int64_t>(1, batch_elements / std::max<std::int64_t>(1, b_->rows()))), traffic_(traffic) {}

    double error_bound() override { return bound_; }
    std::ptrdiff_t batch_rows() const override { return static_cast<std::ptrdiff_t>(batch_); }

    void settle(std::span<const std::int32_t> which, std::span<const double> u, const std::vector<double>& v,
                double slack, const lap::CandidateGraph& graph, compare::SettledRows& out) override {
        const auto count = static_cast<std::int64_t>(which.size());
        const std::int64_t m = b_->rows();
        out.reset(which.size());
        if (count == 0) return;
        const c10::Device device = a_->device();
        const auto host_long = at::TensorOptions().dtype(at::kLong);
        at::Tensor ids = at::empty({count}, host_long);
        std::copy(which.begin(), which.end(), ids.data_ptr<std::int64_t>());
        // The graph's pairs of these rows are skipped: marked +inf below.
        std::vector<std::int64_t> hidden;
        for (std::int64_t r = 0; r < count; ++r) {
            const std::int32_t i = which[static_cast<std::size_t>(r)];
            for (std::int64_t e = graph.begin(i); e < graph.end(i); ++e) hidden.push_back(r * m + graph.col(e));
        }
        const at::Tensor u_host = at::from_blob(const_cast<double*>(u.data()), {count}, at::kDouble);
        const at::Tensor v_host = at::from_blob(const_cast<double*>(v.data()), {m}, at::kDouble);
        const at::Tensor hidden_host = at::from_blob(hidden.data(), {static_cast<std::int64_t>(hidden.size())}, host_long);

        at::Tensor s;
        {
            Float32Products exact;
            s = screen_products(a_->screen(bf16_).index_select(0, to_device(ids, device, traffic_)), b_->screen(bf16_));
        }
        at::Tensor x = s.to(at::kDouble).neg_().sub_(slack).sub_(to_device(v_host, device, traffic_).unsqueeze(0));
        x.view({-1}).index_fill_(0, to_device(hidden_host, device, traffic_), std::numeric_limits<double>::infinity());
        const at::Tensor settled = x.ge(to_device(u_host, device, traffic_).unsqueeze(1));
        const at::Tensor lowest = to_host(x.masked_fill(settled.logical_not(), std::numeric_limits<double>::infinity()).amin(1), traffic_);
        const at::Tensor unsettled = to_host(settled.logical_not().nonzero(), traffic_);  // row-major: by row, columns ascending

        std::copy(lowest.data_ptr<double>(), lowest.data_ptr<double>() + count, out.lowest.begin());
        const std::int64_t* pair = unsettled.data_ptr<std::int64_t>();
        const std::int64_t pairs = unsettled.size(0);
        out.columns.resize(static_cast<std::size_t>(pairs));
        for (std::int64_t p = 0; p < pairs; ++p) {
            ++out.offsets[static_cast<std::size_t>(pair[2 * p]) + 1];
            out.columns[static_cast<std::size_t>(p)] = static_cast<std::int32_t>(pair[2 * p + 1]);
        }
        for (std::size_t r = 0; r < which.size(); ++r) out.offsets[r + 1] += out.offsets[r];
    }

private:
    std::shared_ptr<DeviceRows> a_, b_;
    const bool bf16_;
    const double bound_;
    const std::int64_t batch_;
    Traffic& traffic_;
};

}  // namespace saematch::similarity::aten
