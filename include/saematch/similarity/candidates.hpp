// The streamed pass over the similarity matrix S = A · Bᵀ of two sets of
// unit vectors: for every row of A its k most similar rows of B, and for
// every row of B its k most similar rows of A, without ever holding S (81 GiB
// in float32 for two 147,456-latent SAEs).
//
// S is computed in tiles of block_rows x block_cols, one GEMM per tile into
// one reused buffer, and each tile is scanned once (tile_scan.hpp): every
// entry is compared with its row's and its column's admission threshold,
// sixteen at a time with a vector compare, and only the few that pass are
// visited. Rows of a tile are split between threads; each thread keeps its
// own column pools for the current column block, merged when the block is
// done.
//
// Lists are ranked by the accurate value of each pair (accurate_dot.hpp), not
// by the GEMM's float32 rounding of it, and the pools keep a margin for the
// GEMM's error (candidate_pools.hpp). So the lists are the exact top k of
// the accurate similarities, ties broken by the lower index, and identical
// for every block size, thread count and GEMM backend. A line with more
// near-ties than its pool holds is recomputed in full at the end (counted in
// recomputed_rows / recomputed_cols).
//
// Cost beyond the bare GEMMs of the same tiles: the scan and the accurate
// ranking, each a few per cent of the GEMM time at 8192 x 8192 (figures:
// benchmarks/README.md, "Measurements behind the code"). Both grow with
// n + m and the GEMM with n·m, so their share keeps falling with size.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "saematch/similarity/accurate_dot.hpp"
#include "saematch/similarity/bf16_gemm.hpp"
#include "saematch/similarity/candidate_pools.hpp"
#include "saematch/similarity/gemm.hpp"
#include "saematch/similarity/list_ranking.hpp"
#include "saematch/similarity/parallel.hpp"
#include "saematch/similarity/rows.hpp"
#include "saematch/similarity/screened_rows.hpp"
#include "saematch/similarity/tile_buffer.hpp"
#include "saematch/similarity/tile_scan.hpp"
#include "saematch/similarity/unit_rows.hpp"

namespace saematch::similarity {

// The arithmetic of the tiles the streamed pass screens. It changes how many
// pairs get an accurate value, never the lists.
enum class ScreenPrecision {
    automatic,  // bfloat16 where the CPU has AVX512-BF16, else float32
    float32,    // the float32 GEMM (CBLAS, or Eigen)
    bfloat16,   // bf16_gemm.hpp; throws where the CPU lacks AVX512-BF16
};

// The spellings callers use (Python's screen=, the CLI's --screen), in
// ScreenPrecision's order.
inline constexpr std::array<std::string_view, 3> kScreenNames{"auto", "float32", "bfloat16"};

inline ScreenPrecision parse_screen(std::string_view name) {
    for (std::size_t i = 0; i < kScreenNames.size(); ++i)
        if (kScreenNames[i] == name) return static_cast<ScreenPrecision>(i);
    std::string names;
    for (const auto n : kScreenNames) names += (names.empty() ? "'" : ", '") + std::string(n) + "'";
    throw std::invalid_argument("screen must be one of " + names + ", got '" + std::string(name) + "'");
}

struct CandidateOptions {
    // Candidates kept per row of A and per row of B.
    std::int32_t k = 32;
    // Tile shape: memory beyond the inputs and lists is about
    // block_rows x block_cols floats (64 MiB by default). Results never
    // depend on it. The default was the fastest shape tried at 8192 x 8192,
    // d = 768 (benchmarks/README.md): smaller tiles pay more per tile (a
    // thread team started, BLAS panels packed, column pools filled).
    std::ptrdiff_t block_rows = 2048;
    std::ptrdiff_t block_cols = 8192;
    // Threads for the scan and the final ranking: 0 uses OpenMP's default
    // (OMP_NUM_THREADS). The GEMM itself runs on the BLAS library's threads
    // (or Eigen's OpenMP ones). Results are identical for every count.
    int threads = 0;
    // bfloat16 screening is several times faster per tile than a float32
    // GEMM where the CPU has AVX512-BF16, for about twice the accurate dot
    // products (bf16_gemm.hpp; figures: benchmarks/README.md).
    ScreenPrecision screen = ScreenPrecision::automatic;
    // When set, the tiles' products come from this float32 GEMM instead
    // (see GemmFunction in gemm.hpp), and `screen` is ignored.
    GemmFunction gemm;
    // Called on the calling thread after every tile and once at the end,
    // with the fraction of the work done; the last call passes 1.0. It may
    // throw to cancel.
    std::function<void(double fraction_done)> progress;
};

// Whether `screen` means the bfloat16 kernel on this CPU; throws when it was
// asked for by name and the CPU lacks it.
inline bool screens_in_bf16(ScreenPrecision screen) {
    switch (screen) {
        case ScreenPrecision::float32: return false;
        case ScreenPrecision::automatic: return bf16_gemm_available();
        case ScreenPrecision::bfloat16: break;
    }
    if (!bf16_gemm_available())
        throw std::invalid_argument(
            "CandidateOptions::screen = bfloat16, but this CPU lacks AVX512-BF16; use automatic or float32");
    return true;
}

// List entries are "best first": decreasing similarity, ties by increasing
// index. Similarities are the accurate values (float64 sums of the float32
// unit rows, accurate_dot.hpp) rounded to float32. Where a list has fewer
// than k members (k > the other side's size), the rest is padding: index −1,
// value −inf. So for every pair (i, j) not in row i's list, S(i, j) ≤ the
// list's last value (before rounding it to float; −inf when the list holds
// all of B), which is what the assignment certificate needs, and the first
// value is the row's exact maximum.
struct CandidateLists {
    std::int32_t k = 0;
    std::ptrdiff_t rows = 0, cols = 0;    // rows of A, rows of B
    std::vector<float> row_value;         // rows x k: best rows of B for each row of A
    std::vector<std::int32_t> row_index;  // rows x k
    std::vector<float> col_value;         // cols x k: best rows of A for each row of B
    std::vector<std::int32_t> col_index;  // cols x k
    // Lines whose pools overflowed with near-ties and were recomputed whole.
    std::int64_t recomputed_rows = 0, recomputed_cols = 0;
    // Whether the tiles were screened in bfloat16 (else float32).
    bool bf16_screen = false;

    // Row i's (column j's) list: k entries, best first.
    std::span<const float> row_values(std::ptrdiff_t i) const {
        return {row_value.data() + slot(i), width()};
    }
    std::span<const std::int32_t> row_indices(std::ptrdiff_t i) const {
        return {row_index.data() + slot(i), width()};
    }
    std::span<const float> col_values(std::ptrdiff_t j) const {
        return {col_value.data() + slot(j), width()};
    }
    std::span<const std::int32_t> col_indices(std::ptrdiff_t j) const {
        return {col_index.data() + slot(j), width()};
    }

private:
    std::size_t slot(std::ptrdiff_t line) const { return static_cast<std::size_t>(line) * width(); }
    std::size_t width() const { return static_cast<std::size_t>(k); }
};

namespace detail {

// The list length a pass uses: CandidateOptions::k, but never more than the
// larger side's row count. A longer list could only hold padding, and the
// lists are sized rows x k: k = 10^7 on a 50 x 50 comparison once took 11.7 GB
// and 37 s. Capping at the larger side (not each side's own count) keeps the
// documented padding of the smaller side's lists.
inline std::int32_t list_length(std::int32_t k, std::ptrdiff_t rows, std::ptrdiff_t cols) {
    const std::ptrdiff_t longest = std::max<std::ptrdiff_t>({rows, cols, 1});
    return static_cast<std::int32_t>(std::min<std::ptrdiff_t>(k, longest));
}

inline void check_candidate_inputs(const UnitRows& a, const UnitRows& b, const CandidateOptions& o) {
    check_same_dim(a, b);
    for (const UnitRows* x : {&a, &b})
        if (static_cast<std::ptrdiff_t>(x->dead.size()) != x->rows.rows())
            throw std::invalid_argument("UnitRows::dead has " + std::to_string(x->dead.size()) +
                                        " flags for " + std::to_string(x->rows.rows()) +
                                        " rows; build it with unit_rows()");
    if (a.rows.rows() > std::numeric_limits<std::int32_t>::max() ||
        b.rows.rows() > std::numeric_limits<std::int32_t>::max())
        throw std::invalid_argument("top_candidates: more than 2^31 - 1 rows cannot be indexed by int32");
    if (o.k < 1)
        throw std::invalid_argument("CandidateOptions::k must be at least 1, got " + std::to_string(o.k));
    if (o.block_rows < 1 || o.block_cols < 1)
        throw std::invalid_argument("CandidateOptions::block_rows and block_cols must be at least 1, got " +
                                    std::to_string(o.block_rows) + " and " + std::to_string(o.block_cols));
}

// Sizes `out` for n x m lists of length k, all padding, and returns the
// rows' side for ranking into it.
inline ListSide init_candidate_lists(CandidateLists& out, const UnitRows& a, const UnitRows& b, std::int32_t k) {
    const auto n = a.rows.rows(), m = b.rows.rows();
    out.k = k;
    out.rows = n;
    out.cols = m;
    out.row_value.assign(static_cast<std::size_t>(n * k), -std::numeric_limits<float>::infinity());
    out.row_index.assign(static_cast<std::size_t>(n * k), -1);
    out.col_value.assign(static_cast<std::size_t>(m * k), -std::numeric_limits<float>::infinity());
    out.col_index.assign(static_cast<std::size_t>(m * k), -1);
    return ListSide(a, b, k, out.row_value.data(), out.row_index.data());
}

// The bfloat16 screen's pool capacity for one side, from the widest band of
// entries within the margin of a line's k-th best seen in a sample of
// lines: room for half as many again, or -1 when even the largest sensible
// pools would not do (then screen in float32). Shared by every bfloat16
// screen (this pass, and similarity/aten/).
inline constexpr std::int64_t kMaxBf16Capacity = 1024;  // entries per pool (8 KiB)

inline std::int64_t bf16_capacity_for_band(std::int64_t capacity, std::int64_t band, std::int64_t live) {
    const std::int64_t wanted = std::max<std::int64_t>(capacity, band + band / 2 + 16);
    if (wanted > kMaxBf16Capacity && wanted < live) return -1;
    return std::min(wanted, live);
}

// One call of top_candidates, phase by phase: for each block of columns,
// GEMM and scan its tiles, then merge the threads' column pools; then rank
// the rows' candidates; then the columns', reusing the rows' accurate values
// (most pairs are in both lists: 90% on random 8192 x 8192, d = 768); then
// recompute the lines whose pools overflowed.
class CandidatePass {
public:
    CandidatePass(const UnitRows& a, const UnitRows& b, const CandidateOptions& options, CandidateLists& out)
        : a_(a),
          b_(b),
          options_(options),
          n_(a.rows.rows()),
          m_(b.rows.rows()),
          d_(a.rows.cols()),
          k_(list_length(options.k, a.rows.rows(), b.rows.rows())),
          threads_(saematch::detail::worker_threads(options.threads)),
          bf16_(!options.gemm && screens_in_bf16(options.screen)),
          exact_margin_(2.0 * gemm_error_bound(d_)),
          block_rows_(std::min(options.block_rows, n_)),
          block_cols_(std::min(options.block_cols, m_)),
          rows_(init_lists(out, a, b, k_)),
          cols_(b, a, k_, out.col_value.data(), out.col_index.data()),
          out_(out),
          workers_(threads_),
          col_pools_(static_cast<std::size_t>(threads_)),
          scratch_(static_cast<std::size_t>(threads_)) {
        row_accurate_.resize(static_cast<std::size_t>(n_ * k_));
        rows_.accurate = row_accurate_.data();
        const std::ptrdiff_t row_blocks = block_rows_ > 0 ? (n_ + block_rows_ - 1) / block_rows_ : 0;
        const std::ptrdiff_t col_blocks = block_cols_ > 0 ? (m_ + block_cols_ - 1) / block_cols_ : 0;
        steps_ = static_cast<double>(row_blocks * col_blocks + 1);
    }

    void run() {
        if (bf16_) size_bf16_pools();
        margin_ = bf16_ ? bf16_margin_ : exact_margin_;
        row_pools_.reset(n_, rows_.k_live, rows_.capacity, margin_);
        col_kept_.resize(static_cast<std::size_t>(m_ * std::max(cols_.capacity, 1)));
        col_kept_size_.assign(static_cast<std::size_t>(m_), 0);
        tile_ = allocate_tile(static_cast<std::size_t>(block_rows_ * block_cols_));
        for (std::ptrdiff_t c0 = 0; c0 < m_; c0 += block_cols_) {
            const std::ptrdiff_t width = std::min(block_cols_, m_ - c0);
            start_column_block(c0, width);
            if (bf16_) pack_b_block(c0, width);
            for (std::ptrdiff_t r0 = 0; r0 < n_; r0 += block_rows_) {
                const std::ptrdiff_t height = std::min(block_rows_, n_ - r0);
                if (bf16_)
                    bf16_tile(r0, height, width);
                else
                    float32_tile(r0, height, c0, width);
                scan_tile(r0, height, c0, width);
                report(static_cast<double>(++tiles_done_) / steps_);
            }
            merge_column_block(c0, width);
        }
        const auto buffer = block_rows_ * block_cols_;
        tile_.reset();
        finish_rows();
        // Recomputed lines come from the float32 GEMM, hence its margin.
        recompute_lines(rows_, overflowed_rows_, exact_margin_, buffer, workers_, scratch_);
        finish_columns();
        recompute_lines(cols_, overflowed_cols_, exact_margin_, buffer, workers_, scratch_);
        out_.bf16_screen = bf16_;
        out_.recomputed_rows = static_cast<std::int64_t>(overflowed_rows_.size());
        out_.recomputed_cols = static_cast<std::int64_t>(overflowed_cols_.size());
        report(1.0);
    }

private:
    static ListSide init_lists(CandidateLists& out, const UnitRows& a, const UnitRows& b, std::int32_t k) {
        return init_candidate_lists(out, a, b, k);
    }

    // The bfloat16 screen's margin is some 80 times the float32 one, and how
    // many entries of a line lie within it of the k-th best depends on how
    // crowded the similarities are there: about 70 at k = 32 for random
    // unit vectors at d = 768, but some 150 at d = 4096, where cosines
    // spread five times less. Pools too small for that overflow, and an
    // overflowed line is recomputed whole, which at d = 4096 cost more than
    // the screen saved. So a sample of lines is computed whole first, and
    // the pools are sized from their crowding; where even the largest
    // sensible pools would not do, the pass screens in float32 instead.
    void size_bf16_pools() {
        bf16_margin_ = 2.0 * bf16_gemm_error_bound(rounding_error(a_), rounding_error(b_), d_);
        for (ListSide* side : {&rows_, &cols_}) {
            const std::int64_t live = side->other->rows.rows() - side->other->dead_count;
            const std::int64_t capacity =
                bf16_capacity_for_band(side->capacity, sampled_band(*side, bf16_margin_), live);
            if (capacity < 0) {
                bf16_ = false;
                return;
            }
            side->capacity = static_cast<std::int32_t>(capacity);
        }
    }

    // The largest number of entries within `margin` of the k_live-th best
    // over up to kBandSample live lines of `side`, spread evenly.
    std::int64_t sampled_band(const ListSide& side, double margin) {
        std::vector<std::int32_t> sample;
        const std::int64_t lines = side.self->rows.rows();
        const std::int64_t step = std::max<std::int64_t>(1, lines / kBandSample);
        for (std::int64_t i = 0; i < lines && static_cast<std::int64_t>(sample.size()) < kBandSample; i += step)
            if (!side.self->dead[static_cast<std::size_t>(i)]) sample.push_back(static_cast<std::int32_t>(i));
        const std::int64_t m = side.other->rows.rows();
        if (sample.empty() || side.k_live < 1 || m == 0) return 0;
        std::vector<float> values(sample.size() * static_cast<std::size_t>(m));
        ScreenedRows(*side.self, *side.other, /*bf16=*/true, threads_).compute(sample, values.data());
        std::int64_t widest = 0;
        std::vector<float> live;
        for (std::size_t r = 0; r < sample.size(); ++r) {
            live.clear();
            for (std::int64_t j = 0; j < m; ++j)
                if (!side.other->dead[static_cast<std::size_t>(j)]) live.push_back(values[r * m + static_cast<std::size_t>(j)]);
            const auto kth = live.begin() + (side.k_live - 1);
            std::nth_element(live.begin(), kth, live.end(), std::greater<float>());
            const float t = detail::float_at_most(static_cast<double>(*kth) - margin);
            widest = std::max<std::int64_t>(widest, std::count_if(live.begin(), live.end(), [t](float v) { return v >= t; }));
        }
        return widest;
    }

    // The rounding error of one side's bfloat16 copy, rows split between
    // the threads.
    Bf16RoundingError rounding_error(const UnitRows& x) {
        const std::ptrdiff_t rows = x.rows.rows();
        std::vector<Bf16RoundingError> part(static_cast<std::size_t>(workers_.size()));
        workers_.run(team_for(threads_, rows * d_), [&](int t, int size) {
            const std::ptrdiff_t first = rows * t / size, last = rows * (t + 1) / size;
            part[static_cast<std::size_t>(t)] = bf16_rounding_error(x.rows.data() + first * d_, last - first, d_);
        });
        Bf16RoundingError out;
        for (const auto& p : part) {
            out.max_error = std::max(out.max_error, p.max_error);
            out.max_norm = std::max(out.max_norm, p.max_norm);
        }
        return out;
    }

    void pack_b_block(std::ptrdiff_t c0, std::ptrdiff_t width) {
        b_pack_.shape(width, d_, Bf16Panels::kCols);
        const std::ptrdiff_t panels = b_pack_.panels();
        workers_.run(team_for(threads_, width * d_), [&](int t, int size) {
            b_pack_.pack(b_.rows.data() + c0 * d_, d_, panels * t / size, panels * (t + 1) / size);
        });
    }

    void float32_tile(std::ptrdiff_t r0, std::ptrdiff_t height, std::ptrdiff_t c0, std::ptrdiff_t width) {
        const float* a = a_.rows.data() + r0 * d_;
        const float* b = b_.rows.data() + c0 * d_;
        if (options_.gemm)
            options_.gemm(a, d_, b, d_, tile_.get(), width, height, width, d_);
        else
            gemm_abt(a, d_, b, d_, tile_.get(), width, height, width, d_);
    }

    // Each thread packs its share of the tile's row panels and multiplies
    // them with the packed column block: no thread waits for another.
    void bf16_tile(std::ptrdiff_t r0, std::ptrdiff_t height, std::ptrdiff_t width) {
        a_pack_.shape(height, d_, Bf16Panels::kRows);
        const std::ptrdiff_t panels = a_pack_.panels();
        workers_.run(team_for(threads_, height * width), [&](int t, int size) {
            const std::ptrdiff_t first = panels * t / size, last = panels * (t + 1) / size;
            a_pack_.pack(a_.rows.data() + r0 * d_, d_, first, last);
            bf16_gemm_panels(a_pack_, first, last, b_pack_, tile_.get(), width);
        });
    }

    void report(double fraction) const {
        if (options_.progress) options_.progress(fraction);
    }

    // Fresh column pools for columns c0 .. c0 + width; dead columns closed.
    void start_column_block(std::ptrdiff_t c0, std::ptrdiff_t width) {
        col_bias_.assign(static_cast<std::size_t>(width), 0.0f);
        for (auto& pools : col_pools_) pools.reset(width, cols_.k_live, cols_.capacity, margin_);
        for (std::ptrdiff_t j = 0; j < width; ++j) {
            if (!b_.dead[static_cast<std::size_t>(c0 + j)]) continue;
            col_bias_[static_cast<std::size_t>(j)] = -std::numeric_limits<float>::infinity();
            for (auto& pools : col_pools_) pools.close(j);
        }
    }

    // Offers the tile's entries to the pools. Contiguous shares of its rows
    // go to the threads; a thread's column pools see only its own rows,
    // which is why they are merged at the end of the block. Pools that start
    // empty (a block's first tile) get their first thresholds from the tile
    // (tile_scan.hpp); the column bounds use all of its rows, split by
    // columns between the threads.
    void scan_tile(std::ptrdiff_t r0, std::ptrdiff_t height, std::ptrdiff_t c0, std::ptrdiff_t width) {
        if (r0 == 0) {
            tile_live_rows_.clear();
            for (std::ptrdiff_t r = 0; r < height; ++r)
                if (!a_.dead[static_cast<std::size_t>(r0 + r)]) tile_live_rows_.push_back(r);
            col_start_.resize(static_cast<std::size_t>(width));
        }
        const int team = std::min(team_for(threads_, height * width), workers_.size());
        TeamBarrier start_bounds_ready(team);  // the block's first tile: bounds before pools
        workers_.run(team, [&](int t, int size) {
            auto& pools = col_pools_[static_cast<std::size_t>(t)];
            auto& own = scratch_[static_cast<std::size_t>(t)];
            if (r0 == 0) {
                column_start_thresholds(tile_.get(), width, width * t / size, width * (t + 1) / size,
                                        tile_live_rows_, cols_.k_live, margin_, own.chunks,
                                        col_start_.data());
                start_bounds_ready.arrive_and_wait();
                for (std::ptrdiff_t j = 0; j < width; ++j)
                    pools.raise_threshold(j, col_start_[static_cast<std::size_t>(j)]);
            }
            own.live_rows.clear();
            for (std::ptrdiff_t r = height * t / size; r < height * (t + 1) / size; ++r)
                if (!a_.dead[static_cast<std::size_t>(r0 + r)]) own.live_rows.push_back(r);
            for (std::ptrdiff_t r : own.live_rows) {
                const float* s = tile_.get() + r * width;
                if (row_pools_.threshold(r0 + r) == -std::numeric_limits<float>::infinity())
                    start_row(row_pools_, r0 + r, s, width, col_bias_.data(), own.chunks);
                scan_tile_row(s, width, r0 + r, c0, row_pools_, pools, b_.dead.data());
            }
        });
        share_column_thresholds(width);
    }

    // A threshold that one thread's pool reached bounds the union too, so
    // every thread's pool for the column may use the highest.
    void share_column_thresholds(std::ptrdiff_t width) {
        if (col_pools_.size() < 2) return;
        for (std::ptrdiff_t j = 0; j < width; ++j) {
            float highest = -std::numeric_limits<float>::infinity();
            for (const auto& pools : col_pools_) highest = std::max(highest, pools.threshold(j));
            for (auto& pools : col_pools_) pools.raise_threshold(j, highest);
        }
    }

    // The union of the threads' pools holds each column's top entries
    // within the margin (each pool holds those of its own rows); the ones
    // within the margin of the union's k-th best are kept for ranking.
    void merge_column_block(std::ptrdiff_t c0, std::ptrdiff_t width) {
        const auto capacity = static_cast<std::size_t>(std::max(cols_.capacity, 1));
        workers_.parallel_for(
            team_for(threads_, width * k_ * threads_), width, 256, [&](std::ptrdiff_t j, int t) {
                auto& own = scratch_[static_cast<std::size_t>(t)];
                own.entries.clear();
                bool overflow = false;
                for (const auto& pools : col_pools_) {
                    overflow |= pools.overflowed(j);
                    own.entries.insert(own.entries.end(), pools.entries(j).begin(), pools.entries(j).end());
                }
                PoolEntry* first = own.entries.data();
                PoolEntry* kept =
                    keep_within_margin(first, first + own.entries.size(), cols_.k_live, margin_);
                const auto count = static_cast<std::size_t>(kept - first);
                if (overflow || count > capacity) {  // more near-ties than a pool holds
                    own.overflowed.push_back(static_cast<std::int32_t>(c0 + j));
                    return;
                }
                const auto column = static_cast<std::size_t>(c0 + j);
                std::copy(first, kept, col_kept_.begin() + static_cast<std::ptrdiff_t>(column * capacity));
                col_kept_size_[column] = static_cast<std::int32_t>(count);
            });
        collect_overflows(overflowed_cols_);
    }

    void finish_rows() {
        workers_.parallel_for(team_for(threads_, n_ * k_ * d_), n_, 256, [&](std::ptrdiff_t i, int t) {
            auto& own = scratch_[static_cast<std::size_t>(t)];
            if (row_pools_.overflowed(i)) {
                own.overflowed.push_back(static_cast<std::int32_t>(i));
                return;
            }
            own.entries.assign(row_pools_.entries(i).begin(), row_pools_.entries(i).end());
            PoolEntry* first = own.entries.data();
            PoolEntry* kept = keep_within_margin(first, first + own.entries.size(), rows_.k_live, margin_);
            finish_line(rows_, i, {first, kept}, own.ranked);
        });
        collect_overflows(overflowed_rows_);
    }

    // After the rows' lists are final: a pair (i, j) in row i's list has its
    // accurate value there, bit for bit what the column would compute.
    void finish_columns() {
        const auto capacity = static_cast<std::size_t>(std::max(cols_.capacity, 1));
        const auto width = static_cast<std::size_t>(rows_.k_eff);
        std::vector<std::uint8_t> overflowed(static_cast<std::size_t>(m_), 0);
        for (std::int32_t j : overflowed_cols_) overflowed[static_cast<std::size_t>(j)] = 1;
        workers_.parallel_for(team_for(threads_, m_ * k_ * d_), m_, 256, [&](std::ptrdiff_t j, int t) {
            if (overflowed[static_cast<std::size_t>(j)]) return;
            auto& own = scratch_[static_cast<std::size_t>(t)];
            const auto column = static_cast<std::size_t>(j);
            const std::span<const PoolEntry> kept(col_kept_.data() + column * capacity,
                                                  static_cast<std::size_t>(col_kept_size_[column]));
            finish_line(cols_, j, kept, own.ranked, [&](std::int32_t i, double& value) {
                const auto first = static_cast<std::size_t>(i) * static_cast<std::size_t>(k_);
                const std::int32_t* listed = out_.row_index.data() + first;
                const std::int32_t* hit = std::find(listed, listed + width, static_cast<std::int32_t>(j));
                if (hit == listed + width) return false;
                value = row_accurate_[first + static_cast<std::size_t>(hit - listed)];
                return true;
            });
        });
    }

    void collect_overflows(std::vector<std::int32_t>& into) {
        for (auto& own : scratch_) {
            into.insert(into.end(), own.overflowed.begin(), own.overflowed.end());
            own.overflowed.clear();
        }
        // Sorted, so the recomputation batches are the same whatever the
        // thread count.
        std::sort(into.begin(), into.end());
    }

    const UnitRows& a_;
    const UnitRows& b_;
    const CandidateOptions& options_;
    const std::ptrdiff_t n_, m_, d_;
    const std::int32_t k_;
    const int threads_;
    static constexpr std::int64_t kBandSample = 64;
    bool bf16_;                  // screen tiles with bf16_gemm.hpp
    double bf16_margin_ = 0.0;   // twice the bfloat16 screen's error bound
    const double exact_margin_;  // twice the float32 GEMM's error bound
    double margin_ = 0.0;        // twice the screening GEMM's error bound
    const std::ptrdiff_t block_rows_, block_cols_;
    ListSide rows_, cols_;
    CandidateLists& out_;
    double steps_ = 1.0;
    std::int64_t tiles_done_ = 0;

    WorkerTeam workers_;  // asleep while the GEMMs run
    TileBuffer tile_;
    Bf16Panels a_pack_, b_pack_;  // the bfloat16 screen's operands
    CandidatePools row_pools_;
    std::vector<CandidatePools> col_pools_;       // per thread, for the current column block
    std::vector<ThreadScratch> scratch_;          // per thread
    std::vector<float> col_bias_;                 // 0 for a live column of the block, −inf for a dead one
    std::vector<std::ptrdiff_t> tile_live_rows_;  // a block's first tile: its live rows
    std::vector<float> col_start_;                // and its columns' starting thresholds
    std::vector<PoolEntry> col_kept_;             // per column: its candidates after the merge
    std::vector<std::int32_t> col_kept_size_;
    std::vector<double> row_accurate_;  // the rows' listed values before rounding
    std::vector<std::int32_t> overflowed_rows_, overflowed_cols_;
};

}  // namespace detail

// For every row of A its k best rows of B and for every row of B its k best
// rows of A (see CandidateLists). Memory beyond the inputs and the lists:
// one tile, and about (rows + cols + threads x block_cols) x 2k x 8 + rows x
// k x 8 bytes of candidate pools (about 100 MB at 147,456 x 147,456, k = 16).
inline CandidateLists top_candidates(const UnitRows& a, const UnitRows& b,
                                     const CandidateOptions& options = {}) {
    detail::check_candidate_inputs(a, b, options);
    CandidateLists out;
    detail::CandidatePass(a, b, options, out).run();
    return out;
}

}  // namespace saematch::similarity
