// A · Bᵀ from bfloat16 copies of A and B, for the streamed pass to screen
// the similarity matrix with, together with a rigorous bound on its error.
//
// The streamed pass (candidates.hpp) only needs every entry to within a
// known error: each line's pool keeps whatever lies within twice that error
// of its k-th best, and the lists are then ranked by the accurate value of
// each kept pair. So the GEMM's precision decides only how many pairs get
// an accurate value, never which pairs are listed. On CPUs with AVX512-BF16
// (Intel Cooper Lake, Sapphire Rapids and later; AMD Zen 4 and later) one
// VDPBF16PS does 32 multiply-adds, twice an AVX-512 FMA and four times the
// AVX2 FMAs that a BLAS without AVX-512 kernels uses. Measured on our 2-core
// AMD EPYC VMs, 2048 x 8192 tiles, d = 768: 1.0 TFLOP/s (0.5 per core, at
// -O2 as at -O3) against 0.25 TFLOP/s for OpenBLAS 0.3.21's float32 GEMM,
// which picks its Haswell kernels on this CPU.
//
// The error bound. With â = bf16(a) rounded to nearest, b̂ likewise,
//     |â·b̂ − a·b| <= ‖â − a‖‖b̂‖ + ‖a‖‖b̂ − b‖              (Cauchy–Schwarz),
// and the products of two bfloat16 numbers are exact in float32, so the
// float32 accumulation adds at most γ_d Σ|â_i b̂_i| <= γ_d ‖â‖‖b̂‖ (Higham,
// eq. 3.5, any summation order) plus one flushed subnormal per addition.
// ‖â − a‖ is measured for every row (about 0.0017 for a unit row of 768
// Gaussian entries, against the worst case 2⁻⁸ = 0.0039), so the bound is
// about 0.0037 at d = 768: 80 times the float32 GEMM's, which costs the
// pools a few dozen more pairs per line.
//
// Layout: A is packed in panels of kRows rows and B in panels of kCols rows,
// both with the d entries of a row taken in pairs (one 32-bit word per pair,
// d padded to even with a zero), so that one VDPBF16PS multiplies a pair of
// one row of A (broadcast) with the same pair of 16 rows of B.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <vector>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define SAEMATCH_HAVE_BF16_KERNEL 1
#include <immintrin.h>
#else
#define SAEMATCH_HAVE_BF16_KERNEL 0
#endif

namespace saematch::similarity {

// Whether this CPU (and OS) can run the bfloat16 kernel.
inline bool bf16_gemm_available() {
#if SAEMATCH_HAVE_BF16_KERNEL
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

namespace detail {

// float -> bfloat16, rounded to nearest even. Subnormals become signed zero,
// as VDPBF16PS would read them; inputs here are finite (unit rows).
inline std::uint16_t to_bf16(float x) {
    std::uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    if ((bits & 0x7f800000u) == 0) return static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<std::uint16_t>(bits >> 16);
}

inline float from_bf16(std::uint16_t h) {
    const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
    float x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
}

struct FreeAligned {
    void operator()(std::uint32_t* p) const { std::free(p); }
};

// A 64-byte aligned buffer of 32-bit words, grown on demand, never shrunk.
class PanelBuffer {
public:
    std::uint32_t* reserve(std::size_t words) {
        if (words > capacity_) {
            const std::size_t bytes = (std::max<std::size_t>(words, 16) * 4 + 63) / 64 * 64;
            void* p = std::aligned_alloc(64, bytes);
            if (!p) throw std::bad_alloc();
            data_.reset(static_cast<std::uint32_t*>(p));
            capacity_ = bytes / 4;
        }
        return data_.get();
    }

private:
    std::unique_ptr<std::uint32_t[], FreeAligned> data_;
    std::size_t capacity_ = 0;
};

}  // namespace detail

// The largest ‖bf16(x) − x‖ and ‖x‖ over the rows of a row-major rows x d
// float matrix, in float64: the inputs of bf16_gemm_error_bound.
struct Bf16RoundingError {
    double max_error = 0.0;  // max over rows of ‖bf16(x) − x‖
    double max_norm = 0.0;   // max over rows of ‖x‖
};

inline Bf16RoundingError bf16_rounding_error(const float* x, std::ptrdiff_t rows, std::ptrdiff_t d) {
    Bf16RoundingError out;
    for (std::ptrdiff_t i = 0; i < rows; ++i) {
        double err = 0.0, norm = 0.0;
        for (std::ptrdiff_t c = 0; c < d; ++c) {
            const float v = x[i * d + c];
            const double diff = static_cast<double>(detail::from_bf16(detail::to_bf16(v))) - v;
            err += diff * diff;
            norm += static_cast<double>(v) * v;
        }
        out.max_error = std::max(out.max_error, std::sqrt(err));
        out.max_norm = std::max(out.max_norm, std::sqrt(norm));
    }
    return out;
}

// A bound on |bf16 GEMM value − exact dot product| for any row of A and any
// row of B, given each side's rounding error (see the top of this file).
// `unit_roundoff` of the float32 accumulation: see gemm_error_bound.
inline double bf16_gemm_error_bound(const Bf16RoundingError& a, const Bf16RoundingError& b, std::ptrdiff_t d,
                                    double unit_roundoff = 0x1p-24) {
    const double na = a.max_norm + a.max_error, nb = b.max_norm + b.max_error;
    const double du = static_cast<double>(d) * unit_roundoff;
    const double gamma = du < 0.5 ? du / (1.0 - du) : 2.0;
    const double bound = a.max_error * nb + a.max_norm * b.max_error + gamma * na * nb +
                         static_cast<double>(d + 1) * 0x1p-125;
    return bound * (1.0 + 0x1p-40);  // the float64 arithmetic above, rounded up generously
}

// The packed bfloat16 copy of a block of rows: panels of `panel` rows, each
// panel pair-major ([pair][row] words), short panels padded with zero rows.
class Bf16Panels {
public:
    static constexpr std::ptrdiff_t kRows = 6;   // A: rows per micro-tile
    static constexpr std::ptrdiff_t kCols = 64;  // B: rows per micro-tile (4 x 16 lanes)

    std::ptrdiff_t panel_rows() const { return panel_; }
    std::ptrdiff_t rows() const { return rows_; }
    std::ptrdiff_t pairs() const { return pairs_; }
    std::ptrdiff_t panels() const { return (rows_ + panel_ - 1) / panel_; }
    const std::uint32_t* panel(std::ptrdiff_t p) const { return data_ + p * panel_ * pairs_; }

    // Sizes the buffer for rows x d in panels of `panel` rows.
    void shape(std::ptrdiff_t rows, std::ptrdiff_t d, std::ptrdiff_t panel) {
        rows_ = rows;
        pairs_ = (d + 1) / 2;
        panel_ = panel;
        data_ = buffer_.reserve(static_cast<std::size_t>(panels() * panel_ * pairs_));
    }

    // Packs panels [first, last) from x (row-major, rows() x d). Distinct
    // ranges may be packed by different threads at once.
    void pack(const float* x, std::ptrdiff_t d, std::ptrdiff_t first, std::ptrdiff_t last) {
        for (std::ptrdiff_t p = first; p < last; ++p) {
            std::uint32_t* out = data_ + p * panel_ * pairs_;
            for (std::ptrdiff_t r = 0; r < panel_; ++r) {
                const std::ptrdiff_t row = p * panel_ + r;
                if (row >= rows_) {
                    for (std::ptrdiff_t q = 0; q < pairs_; ++q) out[q * panel_ + r] = 0;
                    continue;
                }
                const float* src = x + row * d;
                for (std::ptrdiff_t q = 0; q < pairs_; ++q) {
                    const std::uint32_t lo = detail::to_bf16(src[2 * q]);
                    const std::uint32_t hi = 2 * q + 1 < d ? detail::to_bf16(src[2 * q + 1]) : 0u;
                    out[q * panel_ + r] = lo | (hi << 16);
                }
            }
        }
    }

private:
    detail::PanelBuffer buffer_;
    std::uint32_t* data_ = nullptr;
    std::ptrdiff_t rows_ = 0, pairs_ = 0, panel_ = 1;
};

namespace detail {

#if SAEMATCH_HAVE_BF16_KERNEL
// One kRows x kCols micro-tile of C over all pairs. The unroll pragmas keep
// the 24 accumulators in registers at -O2 as well (without them GCC 12
// spills them and the kernel loses most of its speed).
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline void bf16_micro_tile(
    const std::uint32_t* __restrict a, const std::uint32_t* __restrict b, std::ptrdiff_t pairs, float* c,
    std::ptrdiff_t ldc, std::ptrdiff_t rows, std::ptrdiff_t cols) {
    constexpr int kR = static_cast<int>(Bf16Panels::kRows), kQ = static_cast<int>(Bf16Panels::kCols / 16);
    __m512 acc[kR][kQ];
#pragma GCC unroll 8
    for (int r = 0; r < kR; ++r)
#pragma GCC unroll 4
        for (int q = 0; q < kQ; ++q) acc[r][q] = _mm512_setzero_ps();
    for (std::ptrdiff_t p = 0; p < pairs; ++p) {
        __m512bh bq[kQ];
#pragma GCC unroll 4
        for (int q = 0; q < kQ; ++q) bq[q] = (__m512bh)_mm512_load_si512(b + p * Bf16Panels::kCols + 16 * q);
#pragma GCC unroll 8
        for (int r = 0; r < kR; ++r) {
            const __m512bh ar = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[p * kR + r]));
#pragma GCC unroll 4
            for (int q = 0; q < kQ; ++q) acc[r][q] = _mm512_dpbf16_ps(acc[r][q], ar, bq[q]);
        }
    }
    if (rows == kR && cols == Bf16Panels::kCols) {
#pragma GCC unroll 8
        for (int r = 0; r < kR; ++r)
#pragma GCC unroll 4
            for (int q = 0; q < kQ; ++q) _mm512_storeu_ps(c + r * ldc + 16 * q, acc[r][q]);
        return;
    }
    for (int r = 0; r < rows; ++r)
        for (int q = 0; q < kQ; ++q) {
            const std::ptrdiff_t left = cols - 16 * q;
            if (left <= 0) break;
            const __mmask16 mask = left >= 16 ? static_cast<__mmask16>(0xffff)
                                              : static_cast<__mmask16>((1u << left) - 1u);
            _mm512_mask_storeu_ps(c + r * ldc + 16 * q, mask, acc[r][q]);
        }
}
#endif

}  // namespace detail

// C rows [a_first_panel·kRows, a_last_panel·kRows) (clipped to a.rows())
// x all b.rows() columns = Â · B̂ᵀ, C row-major with stride ldc, its row 0
// being A's panel 0. `a` in panels of kRows, `b` in panels of kCols. Needs
// bf16_gemm_available(). Each output is one float32 accumulation over d in
// pair order, so the result does not depend on how the panels are split
// between calls or threads.
inline void bf16_gemm_panels(const Bf16Panels& a, std::ptrdiff_t a_first_panel, std::ptrdiff_t a_last_panel,
                             const Bf16Panels& b, float* c, std::ptrdiff_t ldc) {
#if SAEMATCH_HAVE_BF16_KERNEL
    if (a.panel_rows() != Bf16Panels::kRows || b.panel_rows() != Bf16Panels::kCols || a.pairs() != b.pairs())
        throw std::invalid_argument("bf16_gemm_panels: operands packed with the wrong panel shapes");
    // B's panel (kCols x d, 96 KiB at d = 768) stays in L2 while A's panels
    // stream past it.
    for (std::ptrdiff_t pb = 0; pb < b.panels(); ++pb) {
        const std::ptrdiff_t col0 = pb * Bf16Panels::kCols;
        const std::ptrdiff_t cols = std::min(Bf16Panels::kCols, b.rows() - col0);
        for (std::ptrdiff_t pa = a_first_panel; pa < a_last_panel; ++pa) {
            const std::ptrdiff_t row0 = pa * Bf16Panels::kRows;
            const std::ptrdiff_t rows = std::min(Bf16Panels::kRows, a.rows() - row0);
            if (rows <= 0) break;
            detail::bf16_micro_tile(a.panel(pa), b.panel(pb), a.pairs(), c + row0 * ldc + col0, ldc, rows, cols);
        }
    }
#else
    (void)a, (void)a_first_panel, (void)a_last_panel, (void)b, (void)c, (void)ldc;
    throw std::runtime_error("bf16_gemm_panels: this build has no bfloat16 kernel");
#endif
}

}  // namespace saematch::similarity
