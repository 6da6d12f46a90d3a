// The cosine similarities of two SAEs' latents as a PairSource for the
// certified candidate solver, without ever storing the n x m matrix.
//
// The cost of a pair is minus its accurate cosine (accurate_dot.hpp) rounded
// to float: the value the candidate lists hold, a function of the two rows
// alone. Candidates are each latent's k most similar latents on the other
// side, in both directions, from one streamed pass of GEMMs. Proving a
// matching optimal needs every pair outside that graph to have non-negative
// reduced cost. Most rows are proven from the lists alone: with t_i the k-th
// best similarity of row i and t'_j that of column j, a pair in neither list
// has s_ij <= min(t_i, t'_j) (rounding to float is monotone, so this holds
// for the rounded values exactly), so
//     c_ij - v_j >= max(-t_i, -t'_j) - v_j          (costs c = -s, minimised).
// Sorting the columns by t'_j with prefix and suffix minima gives the
// smallest right-hand side of every row in O(log m). Only rows this bound
// cannot prove are recomputed (one GEMM per batch, screened_rows.hpp, or on
// a device: row_settler.hpp); a recomputed value settles a pair when it
// clears the bound by its error bound, and the few pairs it cannot settle
// get their accurate value. So nothing is waved through as
// "rounding": a certified matching is optimal for the costs above, and the
// certified gap is 0.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include "saematch/compare/row_settler.hpp"
#include "saematch/lap/candidate_graph.hpp"
#include "saematch/lap/detail/row_reduction.hpp"
#include "saematch/similarity/accurate_dot.hpp"
#include "saematch/similarity/candidates.hpp"
#include "saematch/similarity/screened_rows.hpp"
#include "saematch/similarity/unit_rows.hpp"

namespace saematch::compare {

class CosineSource {
public:
    // Rows of `a` are the rows of the assignment problem; `lists` must be
    // top_candidates(a, b). The inputs must outlive the source. `bf16`:
    // recompute rows with the bfloat16 kernel, else with `gemm` if set, else
    // the float32 GEMM (see screened_rows.hpp).
    CosineSource(const similarity::UnitRows& a, const similarity::UnitRows& b,
                 const similarity::CandidateLists& lists, bool bf16 = false, int threads = 0,
                 similarity::GemmFunction gemm = {}, std::ptrdiff_t recompute_batch = 512)
        : CosineSource(a, b, lists,
                       std::make_unique<HostRowSettler>(a, b, bf16, threads, std::move(gemm), recompute_batch)) {}

    // The same with recomputed rows settled elsewhere (a device, row_settler.hpp).
    CosineSource(const similarity::UnitRows& a, const similarity::UnitRows& b,
                 const similarity::CandidateLists& lists, std::unique_ptr<RowSettler> settler)
        : a_(a), b_(b), lists_(lists), settler_(std::move(settler)) {}

    std::int32_t rows() const { return static_cast<std::int32_t>(lists_.rows); }
    std::int32_t cols() const { return static_cast<std::int32_t>(lists_.cols); }

    // Rows recomputed so far to check the certificate exactly.
    std::int64_t recomputed_rows() const { return recomputed_; }

    lap::CandidateGraph initial_candidates() const {
        std::vector<lap::CandidateEdge> edges;
        const std::int32_t k = lists_.k;
        edges.reserve(static_cast<std::size_t>((lists_.rows + lists_.cols) * k));
        for (std::int32_t i = 0; i < rows(); ++i)
            for (std::int32_t t = 0; t < k; ++t)
                if (const std::int32_t j = lists_.row_index[static_cast<std::size_t>(i) * k + t]; j >= 0)
                    edges.push_back({i, j, -static_cast<double>(lists_.row_value[static_cast<std::size_t>(i) * k + t])});
        for (std::int32_t j = 0; j < cols(); ++j)
            for (std::int32_t t = 0; t < k; ++t)
                if (const std::int32_t i = lists_.col_index[static_cast<std::size_t>(j) * k + t]; i >= 0)
                    edges.push_back({i, j, -static_cast<double>(lists_.col_value[static_cast<std::size_t>(j) * k + t])});
        lap::CandidateGraph g(rows(), cols());
        g.add(std::move(edges));
        return g;
    }

    // Every pair of the given rows, at its accurate value (rare: rows the
    // sparse solve could not match at all).
    void append_full_rows(const std::vector<std::int32_t>& rows_wanted, std::vector<lap::CandidateEdge>& out) const {
        for (std::int32_t i : rows_wanted)
            for (std::int32_t j = 0; j < cols(); ++j) out.push_back({i, j, cost(i, j)});
    }

    void check_rows(const lap::detail::DualMatching& m, const std::vector<double>& u, const lap::CandidateGraph& graph,
                    const std::vector<std::int32_t>& rows_to_check, std::vector<double>& floor,
                    std::vector<lap::CandidateEdge>& out) const {
        const ListBound bound = list_bound(m.v);
        std::vector<std::int32_t> unproven;
        for (std::int32_t i : rows_to_check) {
            const double b = bound(row_threshold(i));
            floor[static_cast<std::size_t>(i)] = b;
            if (b < u[static_cast<std::size_t>(i)]) unproven.push_back(i);
        }
        if (unproven.empty()) return;

        // |recomputed value - cost| <= its error bound plus the rounding of
        // the accurate value to float (at most 2^-25 for |s| <= 1).
        const double slack = settler_->error_bound() + 0x1p-24;
        const double* v = m.v.data();
        const auto batch = static_cast<std::size_t>(settler_->batch_rows());
        std::vector<double> u_batch;
        SettledRows settled;
        for (std::size_t start = 0; start < unproven.size(); start += batch) {
            const std::size_t count = std::min(unproven.size() - start, batch);
            const std::span<const std::int32_t> which(unproven.data() + start, count);
            u_batch.clear();
            for (std::int32_t i : which) u_batch.push_back(u[static_cast<std::size_t>(i)]);
            settler_->settle(which, u_batch, m.v, slack, graph, settled);
            recomputed_ += static_cast<std::int64_t>(count);
            for (std::size_t r = 0; r < count; ++r) {
                // Pairs the screened value cannot settle get their accurate value.
                const std::int32_t i = which[r];
                const double ui = u_batch[r];
                double lowest = settled.lowest[r];
                const std::size_t first = out.size();
                for (std::int64_t p = settled.offsets[r]; p < settled.offsets[r + 1]; ++p) {
                    const std::int32_t j = settled.columns[static_cast<std::size_t>(p)];
                    const double c = cost(i, j);
                    lowest = std::min(lowest, c - v[j]);
                    if (c - v[j] < ui) out.push_back({i, j, c});
                }
                floor[static_cast<std::size_t>(i)] = lowest;
                cap_row(out, first, v);
            }
        }
    }

private:
    // Minus the pair's accurate cosine rounded to float: the lists' value.
    double cost(std::int32_t i, std::int32_t j) const {
        const std::ptrdiff_t d = a_.rows.cols();
        return -static_cast<double>(static_cast<float>(
            similarity::accurate_dot(a_.rows.data() + i * d, b_.rows.data() + static_cast<std::ptrdiff_t>(j) * d, d)));
    }

    // The k-th best similarity of a row or column, or -inf when its list
    // holds the whole other side (no pair outside it).
    double row_threshold(std::int32_t i) const { return threshold(lists_.row_value, lists_.row_index, i); }

    double threshold(const std::vector<float>& value, const std::vector<std::int32_t>& index, std::int32_t line) const {
        const std::size_t last = static_cast<std::size_t>(line) * lists_.k + lists_.k - 1;
        if (index[last] < 0) return -lap::detail::kInf;
        return static_cast<double>(value[last]);
    }

    // min over j of max(-t_i, -t'_j) - v_j as a function of t_i.
    struct ListBound {
        std::vector<double> sorted_t;      // t'_j ascending
        std::vector<double> prefix_min;    // min over the first p columns of -t'_j - v_j
        std::vector<double> suffix_min_v;  // min over columns p.. of -v_j
        double operator()(double t_row) const {
            if (t_row == -lap::detail::kInf) return lap::detail::kInf;
            // Columns with t'_j < t_row contribute -t'_j - v_j, the others -t_row - v_j.
            const std::size_t p = static_cast<std::size_t>(
                std::lower_bound(sorted_t.begin(), sorted_t.end(), t_row) - sorted_t.begin());
            const double low = prefix_min[p];
            const double high = -t_row + suffix_min_v[p];
            return std::min(low, high);
        }
    };

    ListBound list_bound(const std::vector<double>& v) const {
        const std::int32_t m = cols();
        std::vector<double> t(static_cast<std::size_t>(m));
        for (std::int32_t j = 0; j < m; ++j) t[static_cast<std::size_t>(j)] = threshold(lists_.col_value, lists_.col_index, j);
        std::vector<std::int32_t> order(static_cast<std::size_t>(m));
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](std::int32_t x, std::int32_t y) {
            return t[static_cast<std::size_t>(x)] < t[static_cast<std::size_t>(y)];
        });
        ListBound b;
        b.sorted_t.resize(static_cast<std::size_t>(m));
        b.prefix_min.assign(static_cast<std::size_t>(m) + 1, lap::detail::kInf);
        b.suffix_min_v.assign(static_cast<std::size_t>(m) + 1, lap::detail::kInf);
        for (std::size_t p = 0; p < order.size(); ++p) {
            const auto j = static_cast<std::size_t>(order[p]);
            b.sorted_t[p] = t[j];
            // A column whose list holds every row (t'_j = -inf) has no pair
            // outside the graph: it bounds nothing.
            const double term = t[j] == -lap::detail::kInf ? lap::detail::kInf : -t[j] - v[j];
            b.prefix_min[p + 1] = std::min(b.prefix_min[p], term);
        }
        for (std::size_t p = order.size(); p-- > 0;)
            b.suffix_min_v[p] = std::min(b.suffix_min_v[p + 1], -v[static_cast<std::size_t>(order[p])]);
        return b;
    }

    // Keeps the most violating pairs of one row (those appended from
    // `first`), so a row cannot flood the graph in one round.
    void cap_row(std::vector<lap::CandidateEdge>& out, std::size_t first, const double* v) const {
        const std::size_t cap = static_cast<std::size_t>(std::max(lists_.k, 64));
        if (out.size() - first <= cap) return;
        std::nth_element(out.begin() + static_cast<std::ptrdiff_t>(first),
                         out.begin() + static_cast<std::ptrdiff_t>(first + cap), out.end(),
                         [v](const lap::CandidateEdge& x, const lap::CandidateEdge& y) {
                             const double rx = x.cost - v[x.col], ry = y.cost - v[y.col];
                             return rx < ry || (rx == ry && x.col < y.col);
                         });
        out.resize(first + cap);
        std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                  [](const lap::CandidateEdge& x, const lap::CandidateEdge& y) { return x.col < y.col; });
    }

    const similarity::UnitRows& a_;
    const similarity::UnitRows& b_;
    const similarity::CandidateLists& lists_;
    std::unique_ptr<RowSettler> settler_;  // used from const members: it only caches
    mutable std::int64_t recomputed_ = 0;
};

}  // namespace saematch::compare
