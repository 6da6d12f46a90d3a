// The scratch buffer one tile of the similarity matrix is written into.
//
// A default tile is 64 MiB. Backed by 4 KiB pages it costs 16,384 page
// faults the first time the GEMM writes it, and TLB misses on every write
// after that; on Linux, where transparent huge pages are usually available
// on request ("madvise" mode), it is allocated 2 MiB-aligned and asked for
// huge pages, which made the whole pass measurably faster (benchmarks/
// README.md, "Measurements behind the code"). Elsewhere it is a plain
// allocation. Either way the
// memory is not zero-filled: every tile is written before it is read.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace saematch::similarity::detail {

struct FreeTile {
    void operator()(float* p) const { std::free(p); }
};

using TileBuffer = std::unique_ptr<float[], FreeTile>;

inline TileBuffer allocate_tile(std::size_t floats) {
    constexpr std::size_t kHugePage = std::size_t{2} << 20;
    const std::size_t bytes = std::max<std::size_t>(floats, 1) * sizeof(float);
#if defined(__linux__)
    if (bytes >= kHugePage) {
        const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
        if (void* p = std::aligned_alloc(kHugePage, rounded)) {
            madvise(p, rounded, MADV_HUGEPAGE);  // a hint: failure leaves normal pages
            return TileBuffer(static_cast<float*>(p));
        }
        throw std::bad_alloc();
    }
#endif
    if (void* p = std::malloc(bytes)) return TileBuffer(static_cast<float*>(p));
    throw std::bad_alloc();
}

}  // namespace saematch::similarity::detail
