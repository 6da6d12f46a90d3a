// Per-line bookkeeping for the streamed top-k pass (candidates.hpp): for each
// row (or column) of the similarity matrix, the entries that can still be
// among its k best, by their float32 GEMM values.
//
// GEMM values carry rounding errors of up to E = gemm_error_bound(d), so the
// k best by GEMM value need not be the k best by the accurate value that the
// lists are ranked by. A pool therefore keeps every entry within `margin` =
// 2E of its k-th best GEMM value T: an entry of the accurate top k has GEMM
// value ≥ V − E, where V is the accurate k-th best, and T ≤ V + E (at most
// k − 1 entries exceed V), so it is ≥ T − 2E and is kept. Ranking the kept
// entries by accurate value then yields the exact top k however the matrix
// was tiled and whatever rounding the GEMM did.
//
// Entries are appended unsorted, one cache line touched per offer. When a
// pool is full it is compacted: its k-th best value T is found by selection
// and the entries below T − margin are dropped, which also raises the
// threshold below which offers are ignored. If more than `capacity` entries
// lie within the margin (many near-identical vectors), the pool marks itself
// overflowed and stops accepting: the caller recomputes that line in full.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace saematch::similarity::detail {

// The largest float not above x: thresholds are rounded down so that they
// never reject an entry the margin argument says must be kept.
inline float float_at_most(double x) {
    float f = static_cast<float>(x);
    if (static_cast<double>(f) > x) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
    return f;
}

struct PoolEntry {
    float value;         // the float32 GEMM value
    std::int32_t index;  // the other side's row
};

// Moves the k-th largest value of [first, last) to first[k − 1] (the larger
// ones before it) and returns the threshold it implies: that value − margin,
// rounded down. Needs last − first >= k >= 1.
inline float margin_threshold(PoolEntry* first, PoolEntry* last, std::int32_t k, double margin) {
    std::nth_element(first, first + (k - 1), last,
                     [](const PoolEntry& a, const PoolEntry& b) { return a.value > b.value; });
    return float_at_most(static_cast<double>(first[k - 1].value) - margin);
}

// Keeps the entries of [first, last) within `margin` of their k-th largest
// value (all of them when there are at most k); returns the new end.
inline PoolEntry* keep_within_margin(PoolEntry* first, PoolEntry* last, std::int32_t k, double margin) {
    if (k <= 0) return first;
    if (last - first <= k) return last;
    const float t = margin_threshold(first, last, k, margin);
    return std::partition(first, last, [t](const PoolEntry& e) { return e.value >= t; });
}

class CandidatePools {
public:
    // `k`: the number of best entries each line needs (0 accepts nothing);
    // `capacity` >= k.
    void reset(std::ptrdiff_t lines, std::int32_t k, std::int32_t capacity, double margin) {
        k_ = k;
        capacity_ = std::max(capacity, k);
        margin_ = margin;
        const auto n = static_cast<std::size_t>(lines);
        entries_.resize(n * static_cast<std::size_t>(std::max(capacity_, 1)));
        size_.assign(n, 0);
        overflowed_.assign(n, 0);
        threshold_.assign(n, k > 0 ? -kInfF : kInfF);
    }

    std::ptrdiff_t lines() const { return static_cast<std::ptrdiff_t>(size_.size()); }
    std::int32_t k() const { return k_; }
    double margin() const { return margin_; }

    // Offers below threshold(line) are ignored: they cannot matter to the
    // line. The streamed scan compares whole blocks of a tile against these
    // values at once.
    float threshold(std::ptrdiff_t line) const { return threshold_[static_cast<std::size_t>(line)]; }
    const float* thresholds() const { return threshold_.data(); }

    // Raises a line's threshold to `t`, which must be at most (the k-th best
    // GEMM value the line will have been offered) − margin.
    void raise_threshold(std::ptrdiff_t line, float t) {
        float& current = threshold_[static_cast<std::size_t>(line)];
        current = std::max(current, t);
    }

    // Never accept anything for this line (a dead vector).
    void close(std::ptrdiff_t line) { threshold_[static_cast<std::size_t>(line)] = kInfF; }

    void offer(std::ptrdiff_t line, float value, std::int32_t index) {
        const auto l = static_cast<std::size_t>(line);
        if (!(value >= threshold_[l])) return;
        if (size_[l] == capacity_) {
            compact(l);
            if (!(value >= threshold_[l])) return;
            if (size_[l] == capacity_) {  // every kept entry is within the margin
                overflowed_[l] = 1;
                threshold_[l] = kInfF;
                return;
            }
        }
        entries_[l * static_cast<std::size_t>(capacity_) + static_cast<std::size_t>(size_[l]++)] = {value,
                                                                                                    index};
    }

    // The kept entries, unsorted: every entry offered to the line within the
    // margin of its k-th best, unless overflowed(line); possibly a few more.
    std::span<const PoolEntry> entries(std::ptrdiff_t line) const {
        return {entries_.data() + static_cast<std::size_t>(line) * static_cast<std::size_t>(capacity_),
                static_cast<std::size_t>(size_[static_cast<std::size_t>(line)])};
    }
    bool overflowed(std::ptrdiff_t line) const { return overflowed_[static_cast<std::size_t>(line)] != 0; }

private:
    static constexpr float kInfF = std::numeric_limits<float>::infinity();

    void compact(std::size_t l) {
        PoolEntry* first = entries_.data() + l * static_cast<std::size_t>(capacity_);
        PoolEntry* last = first + size_[l];
        const float t = margin_threshold(first, last, k_, margin_);  // a full pool holds >= k entries
        size_[l] = static_cast<std::int32_t>(
            std::partition(first, last, [t](const PoolEntry& e) { return e.value >= t; }) - first);
        raise_threshold(static_cast<std::ptrdiff_t>(l), t);
    }

    std::int32_t k_ = 0, capacity_ = 0;
    double margin_ = 0.0;
    std::vector<PoolEntry> entries_;
    std::vector<std::int32_t> size_;
    std::vector<std::uint8_t> overflowed_;
    std::vector<float> threshold_;
};

}  // namespace saematch::similarity::detail
