// A stored cost matrix as a PairSource for the certified candidate solver:
// candidates are each row's k cheapest entries, and the certificate is one
// vectorised pass over the matrix. Rows are processed in parallel; each row's
// result depends on that row alone, so thread count never changes the answer.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "saematch/detail/threads.hpp"
#include "saematch/lap/candidate_graph.hpp"
#include "saematch/lap/detail/row_reduction.hpp"
#include "saematch/lap/matrix_view.hpp"

namespace saematch::lap::detail {

template <class T, bool Negate, class Stride>
class DenseMatrixSource {
public:
    DenseMatrixSource(MatrixView<T> cost, Stride stride, std::int32_t candidates_per_row, int threads)
        : cost_(cost), stride_(stride), k_(candidates_per_row), threads_(std::max(1, threads)) {}

    std::int32_t rows() const { return static_cast<std::int32_t>(cost_.rows); }
    std::int32_t cols() const { return static_cast<std::int32_t>(cost_.cols); }

    double at(std::int32_t i, std::int32_t j) const {
        const double c = static_cast<double>(cost_.row(i)[j * stride_]);
        return Negate ? -c : c;
    }

    // Each row's k cheapest allowed entries. A bounded max-heap holds them;
    // blocks of entries that cannot enter it are skipped with one compare
    // per entry, which the compiler vectorises. The same pass looks for NaN
    // and -inf (after negation: wrongly signed infinities) and the largest
    // magnitude, so a stored matrix is read once before solving, not twice.
    //
    // Ties for the last places go to the columns nearest after the row's own
    // index (cyclically), not to the lowest indices: on a matrix of equal
    // entries every row would otherwise list the same k columns, and all
    // but k rows would need their whole row added before they could match.
    CandidateGraph initial_candidates() const {
        const std::int32_t n = rows(), m = cols();
        const std::int32_t k = std::min(k_, m);
        std::vector<std::pair<double, std::int32_t>> slots(static_cast<std::size_t>(n) * k);
        std::vector<std::int32_t> counts(static_cast<std::size_t>(n), 0);
        bool invalid = false;
        double largest = 0.0;
#pragma omp parallel for schedule(static) num_threads(saematch::detail::threads_for(std::int64_t{n} * m, threads_)) \
    reduction(|| : invalid) reduction(max : largest)
        for (std::int32_t i = 0; i < n; ++i) {
            auto* heap = slots.data() + static_cast<std::size_t>(i) * k;
            std::int32_t size = 0;
            double threshold = kInf;
            const T* row = cost_.row(i);
            constexpr std::int32_t kBlock = 16;
            for (std::int32_t j0 = 0; j0 < m; j0 += kBlock) {
                const std::int32_t j1 = std::min(m, j0 + kBlock);
                bool any = false, bad = false;
                for (std::int32_t j = j0; j < j1; ++j) {
                    double c = static_cast<double>(row[j * stride_]);
                    c = Negate ? -c : c;
                    any |= c <= threshold;
                    bad |= (c != c) | (c == -kInf);
                    largest = std::max(largest, c < kInf ? std::abs(c) : 0.0);
                }
                invalid = invalid || bad;
                if (!any || bad) continue;
                for (std::int32_t j = j0; j < j1; ++j) {
                    const double c = at(i, j);
                    if (!(c <= threshold) || c == kInf) continue;  // +inf: a forbidden pair
                    // The heap holds (cost, distance after column i): the
                    // worst entry is the costliest, then the farthest.
                    const std::int32_t after = j >= i ? j - i : j - i + m;
                    if (size == k) {
                        if (!(std::pair{c, after} < heap[0])) continue;
                        std::pop_heap(heap, heap + size);
                        --size;
                    }
                    heap[size++] = {c, after};
                    std::push_heap(heap, heap + size);
                    if (size == k) threshold = heap[0].first;
                }
            }
            counts[static_cast<std::size_t>(i)] = size;
        }
        std::vector<CandidateEdge> edges;
        edges.reserve(slots.size());
        for (std::int32_t i = 0; i < n; ++i)
            for (std::int32_t s = 0; s < counts[static_cast<std::size_t>(i)]; ++s) {
                const auto& [c, after] = slots[static_cast<std::size_t>(i) * k + s];
                const std::int32_t j = after < m - i ? i + after : i + after - m;
                edges.push_back({i, j, c});
            }
        saw_invalid_ = invalid;
        largest_finite_ = largest;
        CandidateGraph g(n, m);
        g.add(std::move(edges));
        return g;
    }

    bool saw_invalid() const { return saw_invalid_; }
    // The largest finite |cost| seen by initial_candidates().
    double largest_finite() const { return largest_finite_; }

    void append_full_rows(const std::vector<std::int32_t>& rows_wanted, std::vector<CandidateEdge>& out) const {
        for (std::int32_t i : rows_wanted)
            for (std::int32_t j = 0; j < cols(); ++j)
                if (const double c = at(i, j); c < kInf) out.push_back({i, j, c});
    }

    // A pair outside the graph violates the certificate when
    // c(i, j) − v[j] < u[i] by more than the rounding of that difference.
    // For each checked row this records floor[i], the smallest c(i, j) − v[j]
    // outside the graph, and appends the violating pairs: at most the
    // max(k, 64) worst per row and round, so tie-heavy matrices cannot flood
    // the graph. Appended in row order.
    void check_rows(const DualMatching& m, const std::vector<double>& u, const CandidateGraph& graph,
                    const std::vector<std::int32_t>& rows_to_check, std::vector<double>& floor,
                    std::vector<CandidateEdge>& out) const {
        const std::int32_t n = static_cast<std::int32_t>(rows_to_check.size()), ncols = cols();
        double vmax = 0.0;
        for (double x : m.v) vmax = std::max(vmax, std::abs(x));
        const double* v = m.v.data();
        std::vector<std::vector<CandidateEdge>> per_row(static_cast<std::size_t>(n));
        const std::size_t cap = static_cast<std::size_t>(std::max(k_, 64));
#pragma omp parallel num_threads(saematch::detail::threads_for(std::int64_t{n} * ncols, threads_))
        {
            // +inf on the row's graph columns hides them from the scan.
            std::vector<double> hide(static_cast<std::size_t>(ncols), 0.0);
#pragma omp for schedule(dynamic, 64)
            for (std::int32_t r = 0; r < n; ++r) {
                const std::int32_t i = rows_to_check[static_cast<std::size_t>(r)];
                for (std::int64_t e = graph.begin(i); e < graph.end(i); ++e) hide[graph.col(e)] = kInf;
                const T* row = cost_.row(i);
                const double* h = hide.data();
                double lowest = kInf;
#pragma omp simd reduction(min : lowest)
                for (std::int32_t j = 0; j < ncols; ++j) {
                    const double c = static_cast<double>(row[j * stride_]);
                    lowest = std::min(lowest, (Negate ? -c : c) - v[j] + h[j]);
                }
                floor[static_cast<std::size_t>(i)] = lowest;
                const double ui = u[static_cast<std::size_t>(i)];
                const double bound = ui - 1e-12 * (1.0 + std::abs(ui) + vmax);
                if (lowest < bound) {
                    auto& found = per_row[static_cast<std::size_t>(r)];
                    for (std::int32_t j = 0; j < ncols; ++j)
                        if (const double c = at(i, j); c - v[j] + h[j] < bound) found.push_back({i, j, c});
                    if (found.size() > cap) {
                        auto by_violation = [v](const CandidateEdge& a, const CandidateEdge& b) {
                            const double ra = a.cost - v[a.col], rb = b.cost - v[b.col];
                            return ra < rb || (ra == rb && a.col < b.col);
                        };
                        std::nth_element(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(cap),
                                         found.end(), by_violation);
                        found.resize(cap);
                    }
                }
                for (std::int64_t e = graph.begin(i); e < graph.end(i); ++e) hide[graph.col(e)] = 0.0;
            }
        }
        for (auto& r : per_row) out.insert(out.end(), r.begin(), r.end());
    }

private:
    MatrixView<T> cost_;
    Stride stride_;
    std::int32_t k_;
    int threads_;
    mutable bool saw_invalid_ = false;
    mutable double largest_finite_ = 0.0;
};

}  // namespace saematch::lap::detail
