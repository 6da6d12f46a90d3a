// Where the streamed method's n x m work runs: the candidate lists' screen
// and the certificate's recomputed rows. By default both run on the host
// (top_candidates, HostRowSettler); a backend moves them elsewhere (a GPU:
// similarity/aten/device_backend.hpp) while the sparse solve, the
// certificate's bookkeeping and every exact value stay here. A backend must
// give the lists top_candidates gives, bit for bit, and settlers that keep
// the RowSettler contract, so the matching never depends on it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "saematch/compare/row_settler.hpp"
#include "saematch/similarity/candidates.hpp"
#include "saematch/similarity/unit_rows.hpp"

namespace saematch::compare {

class ScreenBackend {
public:
    virtual ~ScreenBackend() = default;
    // What top_candidates(rows, cols, options) returns (options.k and
    // options.progress are honoured; the tiling and screen options are the
    // backend's own).
    virtual similarity::CandidateLists candidates(const similarity::UnitRows& rows, const similarity::UnitRows& cols,
                                                  const similarity::CandidateOptions& options) = 0;
    // The certificate's settling of recomputed rows of rows x cols, in the
    // arithmetic `lists` was screened with.
    virtual std::unique_ptr<RowSettler> settler(const similarity::UnitRows& rows, const similarity::UnitRows& cols,
                                                const similarity::CandidateLists& lists) = 0;
    // LatentMatching::screen for lists screened here, e.g. "float32 on cuda:0".
    virtual std::string screen_name(const similarity::CandidateLists& lists) const = 0;
    // `subset` holds rows `rows` of `parent` (the live latents that
    // match_latents matches when some are dead) and is about to be matched:
    // a backend that already holds `parent` may make it from that copy
    // rather than receive it again. `subset` lives until that matching ends.
    virtual void subset_of(const similarity::UnitRows& subset, const similarity::UnitRows& parent,
                           std::span<const std::int32_t> rows) {
        (void)subset, (void)parent, (void)rows;
    }
};

}  // namespace saematch::compare
