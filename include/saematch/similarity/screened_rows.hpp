// Whole rows of the similarity matrix, fast and to a known accuracy: what
// the matching certificate (compare/cosine_source.hpp) recomputes for the
// rows its candidate lists cannot settle, often a fifth of them on SAE-like
// pairs. A value settles a pair only with room for error_bound(); the few
// pairs it cannot settle are scored exactly (accurate_dot.hpp) by the
// caller. So the arithmetic is the same choice as the streamed pass's
// screen: bfloat16 (bf16_gemm.hpp) where the CPU has it, several times the
// float32 GEMM's speed, else the float32 GEMM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "saematch/similarity/bf16_gemm.hpp"
#include "saematch/similarity/gemm.hpp"
#include "saematch/similarity/list_ranking.hpp"
#include "saematch/similarity/parallel.hpp"
#include "saematch/similarity/rows.hpp"
#include "saematch/similarity/unit_rows.hpp"

namespace saematch::similarity {

class ScreenedRows {
public:
    // `a` and `b` must outlive this. `threads`: 0 for OpenMP's default.
    // `gemm`, when set, replaces the float32 GEMM; `bf16` wins over both.
    ScreenedRows(const UnitRows& a, const UnitRows& b, bool bf16, int threads, GemmFunction gemm = {})
        : a_(a), b_(b), bf16_(bf16), threads_(saematch::detail::worker_threads(threads)), gemm_(std::move(gemm)) {
        detail::check_same_dim(a, b);
    }

    // |value − accurate cosine| <= this for every value compute() writes.
    double error_bound() {
        if (!bf16_) return gemm_error_bound(a_.rows.cols());
        if (bf16_bound_ < 0.0) {  // one pass over both sides; callers that only compute() never pay it
            const std::ptrdiff_t d = a_.rows.cols();
            bf16_bound_ = bf16_gemm_error_bound(bf16_rounding_error(a_.rows.data(), a_.rows.rows(), d),
                                                bf16_rounding_error(b_.rows.data(), b_.rows.rows(), d), d);
        }
        return bf16_bound_;
    }

    // out (which.size() x b's rows, row-major): row which[r] of A · Bᵀ.
    void compute(std::span<const std::int32_t> which, float* out) {
        if (!bf16_ && !gemm_) return similarity_rows(a_, which, b_, out);
        const std::ptrdiff_t d = a_.rows.cols(), m = b_.rows.rows(), count = static_cast<std::ptrdiff_t>(which.size());
        if (count == 0 || m == 0) return;
        gathered_.resize(static_cast<std::size_t>(count * d));
        for (std::size_t r = 0; r < which.size(); ++r)
            if (which[r] < 0 || which[r] >= a_.rows.rows())
                throw std::out_of_range("ScreenedRows::compute: row " + std::to_string(which[r]) + " is not a row of A");
        detail::gather_rows(a_, which, gathered_.data());
        if (!bf16_) return gemm_(gathered_.data(), d, b_.rows.data(), d, out, m, count, m, d);
        prepare_bf16();
        a_pack_.shape(count, d, Bf16Panels::kRows);
        const std::ptrdiff_t panels = a_pack_.panels();
        team().run(detail::team_for(threads_, count * m), [&](int t, int size) {
            const std::ptrdiff_t first = panels * t / size, last = panels * (t + 1) / size;
            a_pack_.pack(gathered_.data(), d, first, last);
            bf16_gemm_panels(a_pack_, first, last, b_pack_, out, m);
        });
    }

private:
    detail::WorkerTeam& team() {
        if (!team_) team_ = std::make_unique<detail::WorkerTeam>(threads_);
        return *team_;
    }

    // B packed once (2 bytes per entry), on first use.
    void prepare_bf16() {
        if (prepared_) return;
        const std::ptrdiff_t d = a_.rows.cols(), m = b_.rows.rows();
        b_pack_.shape(m, d, Bf16Panels::kCols);
        const std::ptrdiff_t panels = b_pack_.panels();
        team().run(detail::team_for(threads_, m * d),
                   [&](int t, int size) { b_pack_.pack(b_.rows.data(), d, panels * t / size, panels * (t + 1) / size); });
        prepared_ = true;
    }

    const UnitRows& a_;
    const UnitRows& b_;
    const bool bf16_;
    const int threads_;
    bool prepared_ = false;
    double bf16_bound_ = -1.0;  // < 0: not computed yet
    Bf16Panels a_pack_, b_pack_;
    std::vector<float> gathered_;
    GemmFunction gemm_;
    std::unique_ptr<detail::WorkerTeam> team_;
};

}  // namespace saematch::similarity
