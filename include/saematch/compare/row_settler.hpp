// The certificate's first look at a recomputed row (cosine_source.hpp): of
// the pairs (i, j) outside the candidate graph, which are settled by a fast
// screened value of s_ij alone, and which need their accurate value.
//
// With s the screened cosine, e its error bound plus the float rounding of
// the accurate value (the caller's `slack`), and v the column duals, the
// value x = −s − slack − v_j is a lower bound on the pair's reduced cost
// c_ij − v_j (c = −accurate cosine). A pair with x >= u_i cannot violate
// the row's dual and is settled: only the smallest such x matters (it is
// the row's floor, unless an unsettled pair goes lower). The others are
// unsettled: the caller scores them exactly. So the split decides only how
// many pairs are scored, never the certificate.
//
// The settling is the part that reads all m values of a row, which is why
// it is an interface: the CPU one (here) computes rows with ScreenedRows on
// the host; the device one (similarity/aten/) computes and reduces them on
// the device, so that only each row's floor and its few unsettled columns
// reach the host.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "saematch/lap/candidate_graph.hpp"
#include "saematch/similarity/gemm.hpp"
#include "saematch/similarity/screened_rows.hpp"
#include "saematch/similarity/unit_rows.hpp"

namespace saematch::compare {

// settle()'s answer for a batch of rows: row r's settled minimum and its
// unsettled columns, ascending, at columns[offsets[r] .. offsets[r + 1]).
struct SettledRows {
    std::vector<double> lowest;  // +inf when no pair of the row settled
    std::vector<std::int64_t> offsets;
    std::vector<std::int32_t> columns;

    void reset(std::size_t rows) {
        lowest.assign(rows, std::numeric_limits<double>::infinity());
        offsets.assign(rows + 1, 0);
        columns.clear();
    }
};

class RowSettler {
public:
    virtual ~RowSettler() = default;
    // |screened value − accurate cosine| <= this, for every value settle() reads.
    virtual double error_bound() = 0;
    // How many rows one settle() call should take.
    virtual std::ptrdiff_t batch_rows() const = 0;
    // For rows `which` of A with duals u[r] (same length), column duals v
    // and `slack`: every column j outside graph row which[r] is settled
    // (x = −s − slack − v_j >= u[r]; lowest[r] = min of those x) or listed
    // in out's columns for row r. Columns in the graph are skipped.
    virtual void settle(std::span<const std::int32_t> which, std::span<const double> u, const std::vector<double>& v,
                        double slack, const lap::CandidateGraph& graph, SettledRows& out) = 0;
};

// Rows recomputed on the host (ScreenedRows: bfloat16 or float32, or a
// caller's GEMM), `batch` at a time.
class HostRowSettler final : public RowSettler {
public:
    HostRowSettler(const similarity::UnitRows& a, const similarity::UnitRows& b, bool bf16, int threads,
                   similarity::GemmFunction gemm, std::ptrdiff_t batch)
        : b_rows_(b.rows.rows()), batch_(std::max<std::ptrdiff_t>(1, batch)),
          screened_(a, b, bf16, threads, std::move(gemm)) {}

    double error_bound() override { return screened_.error_bound(); }
    std::ptrdiff_t batch_rows() const override { return batch_; }

    void settle(std::span<const std::int32_t> which, std::span<const double> u, const std::vector<double>& v,
                double slack, const lap::CandidateGraph& graph, SettledRows& out) override {
        const auto m = static_cast<std::size_t>(b_rows_);
        out.reset(which.size());
        buffer_.resize(which.size() * m);
        screened_.compute(which, buffer_.data());
        hide_.assign(m, 0);
        for (std::size_t r = 0; r < which.size(); ++r) {
            const std::int32_t i = which[r];
            const float* s = buffer_.data() + r * m;
            for (std::int64_t e = graph.begin(i); e < graph.end(i); ++e) hide_[static_cast<std::size_t>(graph.col(e))] = 1;
            double lowest = std::numeric_limits<double>::infinity();
            for (std::size_t j = 0; j < m; ++j) {
                if (hide_[j]) continue;
                const double settled = -static_cast<double>(s[j]) - slack - v[j];
                if (settled >= u[r])
                    lowest = std::min(lowest, settled);
                else
                    out.columns.push_back(static_cast<std::int32_t>(j));
            }
            out.lowest[r] = lowest;
            out.offsets[r + 1] = static_cast<std::int64_t>(out.columns.size());
            for (std::int64_t e = graph.begin(i); e < graph.end(i); ++e) hide_[static_cast<std::size_t>(graph.col(e))] = 0;
        }
    }

private:
    std::ptrdiff_t b_rows_, batch_;
    similarity::ScreenedRows screened_;
    std::vector<float> buffer_;
    std::vector<std::uint8_t> hide_;
};

}  // namespace saematch::compare
