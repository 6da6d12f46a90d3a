// One side's unit rows on a torch device (a GPU, or the CPU in tests),
// uploaded once, with the derived copies the device screen needs made on
// first use: the bfloat16-rounded rows for a tensor-core screen and the
// lane-major float64 rows for exact dot products (exact_dots.hpp).
//
// This folder (similarity/aten/) is the optional GPU similarity backend of
// DESIGN.md §2: the only part of similarity/ that includes ATen. Nothing
// outside it does, so matching without torch costs nothing.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "saematch/similarity/bf16_gemm.hpp"
#include "saematch/similarity/unit_rows.hpp"

namespace saematch::similarity::aten {

// Bytes moved between host and device, counted where they move, so a test
// can check that the n x m matrices never cross.
struct Traffic {
    std::int64_t to_device = 0;
    std::int64_t to_host = 0;
    std::int64_t row_uploads = 0;  // sets of unit rows sent (DeviceRows made)
};

inline at::Tensor to_host(const at::Tensor& t, Traffic& traffic) {
    traffic.to_host += static_cast<std::int64_t>(t.numel() * t.element_size());
    return t.to(at::kCPU).contiguous();
}

inline at::Tensor to_device(const at::Tensor& host, const c10::Device& device, Traffic& traffic) {
    traffic.to_device += static_cast<std::int64_t>(host.numel() * host.element_size());
    return host.to(device);
}

// Float32 products in float32 arithmetic for the lifetime of this object:
// the error bounds assume it, and torch may otherwise be set (by the user,
// process-wide) to TF32 on CUDA or bfloat16 in oneDNN. Restores the
// setting after, through the same API family it was read with (torch
// refuses a mix of its legacy and new precision APIs).
class Float32Products {
public:
    Float32Products() {
        auto& ctx = at::globalContext();
        try {
            legacy_ = ctx.float32MatmulPrecision();
            ctx.setFloat32MatmulPrecision("highest");
            used_legacy_ = true;
        } catch (const std::exception&) {
            cuda_ = ctx.float32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL);
            mkldnn_ = ctx.float32Precision(at::Float32Backend::MKLDNN, at::Float32Op::MATMUL);
            ctx.setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL, at::Float32Precision::IEEE);
            ctx.setFloat32Precision(at::Float32Backend::MKLDNN, at::Float32Op::MATMUL, at::Float32Precision::IEEE);
        }
    }
    ~Float32Products() {
        auto& ctx = at::globalContext();
        try {
            if (used_legacy_) {
                ctx.setFloat32MatmulPrecision(legacy_ == at::Float32MatmulPrecision::HIGHEST ? "highest"
                                              : legacy_ == at::Float32MatmulPrecision::HIGH  ? "high"
                                                                                             : "medium");
            } else {
                ctx.setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL, cuda_);
                ctx.setFloat32Precision(at::Float32Backend::MKLDNN, at::Float32Op::MATMUL, mkldnn_);
            }
        } catch (const std::exception&) {  // never throw from a destructor; the setting was ours to restore
        }
    }
    Float32Products(const Float32Products&) = delete;
    Float32Products& operator=(const Float32Products&) = delete;

private:
    bool used_legacy_ = false;
    at::Float32MatmulPrecision legacy_ = at::Float32MatmulPrecision::HIGHEST;
    at::Float32Precision cuda_ = at::Float32Precision::IEEE, mkldnn_ = at::Float32Precision::IEEE;
};

// The unit roundoff the device's float32 accumulation is trusted to: 2⁻²³
// (faithful, not necessarily round-to-nearest) for float32 GEMMs, whose
// kernels may not promise IEEE rounding; a little more margin, never a
// wrong bound.
inline constexpr double kDeviceUnitRoundoff = 0x1p-23;
// Tensor cores (the bfloat16 screen) add a block of exact products to the
// accumulator in one step, aligning every term to the largest and
// truncating, then truncate the sum (Fasi, Higham, Mikaitis, Pranesh,
// "Numerical behavior of NVIDIA tensor cores", PeerJ CS 2021). A term then
// loses less than 2⁻²³ times the largest term of its block, at most
// ‖â‖‖b̂‖ for our rows, and each block's sum less than 2⁻²³ times the sum
// of magnitudes: in all under d · 2⁻²² · ‖â‖‖b̂‖, which is the γ term of
// bf16_gemm_error_bound with this unit. (Not Higham's relative model, which
// truncating alignment does not obey term by term.)
inline constexpr double kTensorCoreUnitRoundoff = 0x1p-22;

class DeviceRows {
public:
    DeviceRows(const UnitRows& host, const c10::Device& device, Traffic& traffic) : host_(&host), device_(device) {
        const auto n = host.rows.rows(), d = host.rows.cols();
        const at::Tensor rows = at::from_blob(const_cast<float*>(host.rows.data()), {n, d}, at::kFloat);
        rows_ = to_device(rows, device, traffic).contiguous();
        ++traffic.row_uploads;
        at::Tensor dead = at::empty({n}, at::kBool);
        bool* flag = dead.data_ptr<bool>();
        for (std::int64_t i = 0; i < n; ++i) flag[i] = host.dead[static_cast<std::size_t>(i)] != 0;
        dead_ = to_device(dead, device, traffic);
    }

    // Rows `rows` of `parent`, already on the device: `host` is their host
    // copy (all live, as match_latents' subsets are).
    DeviceRows(const UnitRows& host, const DeviceRows& parent, const std::vector<std::int32_t>& rows, Traffic& traffic)
        : host_(&host), device_(parent.device_) {
        const at::Tensor ids = at::tensor(std::vector<std::int64_t>(rows.begin(), rows.end()), at::kLong);
        const at::Tensor on_device = to_device(ids, device_, traffic);
        rows_ = parent.rows_.index_select(0, on_device);
        dead_ = parent.dead_.index_select(0, on_device);
    }

    const UnitRows& host() const { return *host_; }
    const c10::Device& device() const { return device_; }
    std::int64_t rows() const { return rows_.size(0); }
    std::int64_t dim() const { return rows_.size(1); }
    std::int64_t live() const { return rows() - host_->dead_count; }
    const at::Tensor& unit() const { return rows_; }
    const at::Tensor& dead() const { return dead_; }

    // The rows the screen multiplies: float32, or bfloat16 (kept as
    // bfloat16 on CUDA for its tensor cores, as float32 holding the same
    // values elsewhere, where no bfloat16 matmul promises float32 output).
    const at::Tensor& screen(bool bf16) {
        if (!bf16) return rows_;
        if (!bf16_.defined()) {
            bf16_ = rows_.to(at::kBFloat16);
            if (!device_.is_cuda()) bf16_ = bf16_.to(at::kFloat);
        }
        return bf16_;
    }

    // ‖bf16(x) − x‖ and ‖x‖ over the rows, measured on the host copy (its
    // rounding flushes subnormals, which bounds torch's rounding too).
    const Bf16RoundingError& bf16_error() {
        if (error_.max_norm == 0.0 && error_.max_error == 0.0 && host_->rows.size() > 0)
            error_ = bf16_rounding_error(host_->rows.data(), host_->rows.rows(), host_->rows.cols());
        return error_;
    }

private:
    const UnitRows* host_;
    c10::Device device_;
    at::Tensor rows_, dead_, bf16_;
    Bf16RoundingError error_;
};

// x · yᵀ of two screen operands in float32: a float32 GEMM, or bfloat16
// operands with float32 products and accumulation (CUDA), or float32
// holding bfloat16 values (elsewhere: the same products, exact in float32).
inline at::Tensor screen_products(const at::Tensor& x, const at::Tensor& y) {
    if (x.scalar_type() == at::kBFloat16) return at::mm(x, y.t(), at::kFloat);
    return at::mm(x, y.t());
}

// float_at_most (candidate_pools.hpp) on a device: the largest float not
// above each double of `x`.
inline at::Tensor float_at_most(const at::Tensor& x) {
    const at::Tensor f = x.to(at::kFloat);
    const at::Tensor below = at::nextafter(f, at::full_like(f, -std::numeric_limits<float>::infinity()));
    return at::where(f.to(at::kDouble) > x, below, f);
}

}  // namespace saematch::similarity::aten
