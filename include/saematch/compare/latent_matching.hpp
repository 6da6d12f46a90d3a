// The optimal one-to-one matching of two sets of latent directions (encoder
// rows, or decoder vectors) by summed cosine similarity, with each latent's
// best cosine on the other side (for mean max cosine), and a certified bound
// on how far the matching could be from the optimum.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "saematch/compare/canonical_ties.hpp"
#include "saematch/compare/cosine_source.hpp"
#include "saematch/compare/screen_backend.hpp"
#include "saematch/lap/candidate_solve.hpp"
#include "saematch/lap/solve_dense.hpp"
#include "saematch/similarity/candidates.hpp"
#include "saematch/similarity/exact_cosines.hpp"
#include "saematch/similarity/accurate_dot.hpp"
#include "saematch/similarity/gemm.hpp"
#include "saematch/similarity/unit_rows.hpp"

namespace saematch::compare {

enum class MatchMethod {
    automatic,  // dense while the cosine matrix has at most dense_max_pairs entries
    dense,      // store the full cosine matrix and solve it
    sparse,     // stream it: candidates, sparse solve, certificate
};

// "auto", "dense" or "sparse" (the Python and CLI spelling).
inline MatchMethod parse_match_method(const std::string& name) {
    if (name == "auto") return MatchMethod::automatic;
    if (name == "dense") return MatchMethod::dense;
    if (name == "sparse") return MatchMethod::sparse;
    throw std::invalid_argument("method must be 'auto', 'dense' or 'sparse', got '" + name + "'");
}

struct MatchOptions {
    MatchMethod method = MatchMethod::automatic;
    // Both methods score pairs exactly (accurate cosines rounded to float);
    // the dense one through a float64 GEMM, which made it slower than the
    // streamed path from a few hundred latents on (benchmarks/README.md), so
    // it only serves tiny pairs, where it skips the certificate's bookkeeping.
    std::int64_t dense_max_pairs = std::int64_t{512} * 512;
    // Candidates per latent (both directions) for the sparse path, and how
    // the cosine matrix is streamed.
    similarity::CandidateOptions candidates{};
    int threads = 0;  // OpenMP threads; 0: all
    // Where the sparse method's screen and certificate rows run; null: on
    // this CPU. The dense method never uses it (it serves tiny pairs).
    std::shared_ptr<ScreenBackend> backend;
};

struct LatentMatching {
    // Per latent of A: its partner in B (-1 when B has fewer latents and this
    // one is left over) and their cosine (0 when unmatched); likewise for B.
    std::vector<std::int32_t> partner_a, partner_b;
    std::vector<float> cos_a, cos_b;
    // Per latent: the largest cosine with any latent of the other side.
    std::vector<float> max_cos_a, max_cos_b;
    double total_cos = 0.0;       // sum over matched pairs
    double certified_gap = 0.0;   // optimum - total_cos <= this (0: proven optimal)
    bool used_sparse = false;
    // The sparse path's screening arithmetic: "bfloat16", "float32", or
    // "caller" (CandidateOptions::gemm, e.g. a GPU); "" for the dense path.
    std::string screen;
    std::int64_t certificate_rounds = 0, candidate_pairs = 0, recomputed_rows = 0;
};

namespace detail {

// Fills partners and cosines from the A-side partner list.
inline void set_partners(LatentMatching& out, std::vector<std::int32_t> partner_a, std::ptrdiff_t nb,
                         const std::function<float(std::int32_t, std::int32_t)>& cosine) {
    const std::size_t na = partner_a.size();
    out.partner_a = std::move(partner_a);
    out.cos_a.assign(na, 0.0f);
    out.partner_b.assign(static_cast<std::size_t>(nb), -1);
    out.cos_b.assign(static_cast<std::size_t>(nb), 0.0f);
    out.total_cos = 0.0;
    for (std::size_t i = 0; i < na; ++i) {
        const std::int32_t j = out.partner_a[i];
        if (j < 0) continue;
        const float c = cosine(static_cast<std::int32_t>(i), j);
        out.cos_a[i] = c;
        out.partner_b[static_cast<std::size_t>(j)] = static_cast<std::int32_t>(i);
        out.cos_b[static_cast<std::size_t>(j)] = c;
        out.total_cos += c;
    }
}

// Every pair's value is its accurate cosine rounded to float, the value the
// streamed path's lists and certificate use, so both methods optimise and
// report the same numbers (a float32 GEMM would score a vector against
// itself 1.0000001 and shift near-ties).
inline LatentMatching match_dense(const similarity::UnitRows& a, const similarity::UnitRows& b, int threads) {
    const std::ptrdiff_t na = a.rows.rows(), nb = b.rows.rows();
    const std::vector<float> s = similarity::exact_cosine_matrix(a, b, threads);
    lap::SolveOptions options;
    options.maximize = true;
    options.threads = threads;
    const auto view = lap::MatrixView<float>::row_major(s.data(), na, nb);
    const lap::Assignment assignment = lap::solve_dense(view, options);

    LatentMatching out;
    std::vector<std::int32_t> partner(static_cast<std::size_t>(na));
    for (std::ptrdiff_t i = 0; i < na; ++i)
        partner[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(assignment.col_of_row[static_cast<std::size_t>(i)]);
    out.partner_a = std::move(partner);
    out.max_cos_a.assign(static_cast<std::size_t>(na), -1.0f);
    out.max_cos_b.assign(static_cast<std::size_t>(nb), -1.0f);
    for (std::ptrdiff_t i = 0; i < na; ++i)
        for (std::ptrdiff_t j = 0; j < nb; ++j) {
            const float c = view(i, j);
            out.max_cos_a[static_cast<std::size_t>(i)] = std::max(out.max_cos_a[static_cast<std::size_t>(i)], c);
            out.max_cos_b[static_cast<std::size_t>(j)] = std::max(out.max_cos_b[static_cast<std::size_t>(j)], c);
        }
    return out;
}

// Rows of the assignment are `rows` (the side with fewer latents).
inline LatentMatching match_sparse(const similarity::UnitRows& rows, const similarity::UnitRows& cols,
                                   const MatchOptions& options) {
    ScreenBackend* backend = options.backend.get();
    const similarity::CandidateLists lists = backend ? backend->candidates(rows, cols, options.candidates)
                                                     : similarity::top_candidates(rows, cols, options.candidates);
    // The certificate recomputes rows in the arithmetic the screen settled on
    // (it steps back to float32 where similarities are too crowded).
    const CosineSource source =
        backend ? CosineSource(rows, cols, lists, backend->settler(rows, cols, lists))
                : CosineSource(rows, cols, lists, lists.bf16_screen, options.threads, options.candidates.gemm);
    lap::CandidateSolution s = lap::solve_on_candidates(source, source.initial_candidates(), [](std::int32_t i) {
        return "latent " + std::to_string(i);
    });

    LatentMatching out;
    out.used_sparse = true;
    out.screen = backend                   ? backend->screen_name(lists)
                 : options.candidates.gemm ? "caller"
                 : lists.bf16_screen       ? "bfloat16"
                                           : "float32";
    out.certificate_rounds = s.rounds;
    out.recomputed_rows = source.recomputed_rows();
    out.partner_a = s.matching.col_of_row;
    out.candidate_pairs = s.edges;
    out.certified_gap = s.certified_gap;
    out.max_cos_a.resize(static_cast<std::size_t>(lists.rows));
    out.max_cos_b.resize(static_cast<std::size_t>(lists.cols));
    for (std::ptrdiff_t i = 0; i < lists.rows; ++i) out.max_cos_a[static_cast<std::size_t>(i)] = lists.row_value[static_cast<std::size_t>(i) * lists.k];
    for (std::ptrdiff_t j = 0; j < lists.cols; ++j) out.max_cos_b[static_cast<std::size_t>(j)] = lists.col_value[static_cast<std::size_t>(j) * lists.k];
    return out;
}

inline LatentMatching swap_sides(LatentMatching m) {
    std::swap(m.partner_a, m.partner_b);
    std::swap(m.max_cos_a, m.max_cos_b);
    if (m.partner_a.empty()) {  // the solver filled only its own rows' partners
        m.partner_a.assign(m.max_cos_a.size(), -1);
        for (std::size_t j = 0; j < m.partner_b.size(); ++j)
            if (m.partner_b[j] >= 0) m.partner_a[static_cast<std::size_t>(m.partner_b[j])] = static_cast<std::int32_t>(j);
    }
    return m;
}

// The rows of `rows` listed in `keep`, as their own UnitRows.
inline similarity::UnitRows select_rows(const similarity::UnitRows& rows, const std::vector<std::int32_t>& keep) {
    similarity::UnitRows out;
    out.rows.resize(static_cast<std::ptrdiff_t>(keep.size()), rows.rows.cols());
    for (std::size_t r = 0; r < keep.size(); ++r) out.rows.row(static_cast<std::ptrdiff_t>(r)) = rows.rows.row(keep[r]);
    out.dead.assign(keep.size(), 0);
    return out;
}

inline std::vector<std::int32_t> live_rows(const similarity::UnitRows& rows) {
    std::vector<std::int32_t> live;
    live.reserve(rows.dead.size() - static_cast<std::size_t>(rows.dead_count));
    for (std::size_t i = 0; i < rows.dead.size(); ++i)
        if (!rows.dead[i]) live.push_back(static_cast<std::int32_t>(i));
    return live;
}

// The optimal matching of two sets of live (non-zero) unit rows, in
// canonical form, with each pair's accurate cosine.
inline LatentMatching match_live(const similarity::UnitRows& a, const similarity::UnitRows& b,
                                 const MatchOptions& options, std::span<const std::int32_t> prefer) {
    const std::ptrdiff_t na = a.rows.rows(), nb = b.rows.rows();
    const bool dense = options.method == MatchMethod::dense ||
                       (options.method == MatchMethod::automatic && na * nb <= options.dense_max_pairs);
    // The solver wants rows <= cols.
    LatentMatching out = dense      ? match_dense(a, b, options.threads)
                         : na <= nb ? match_sparse(a, b, options)
                                    : swap_sides(match_sparse(b, a, options));
    const auto partner = canonical_matching(out.partner_a, identical_row_classes(a.rows),
                                            identical_row_classes(b.rows), prefer);
    const std::ptrdiff_t d = a.rows.cols();
    set_partners(out, partner, nb, [&](std::int32_t i, std::int32_t j) {
        return static_cast<float>(similarity::accurate_dot(a.rows.data() + static_cast<std::ptrdiff_t>(i) * d,
                                                           b.rows.data() + static_cast<std::ptrdiff_t>(j) * d, d));
    });
    return out;
}

// Puts a matching of the live rows back in the caller's indexing: dead rows
// are unmatched, with cosine 0 and best cosine 0.
inline LatentMatching expand(const LatentMatching& live, const std::vector<std::int32_t>& live_a,
                             const std::vector<std::int32_t>& live_b, std::size_t na, std::size_t nb) {
    LatentMatching out = live;
    out.partner_a.assign(na, -1);
    out.partner_b.assign(nb, -1);
    out.cos_a.assign(na, 0.0f);
    out.cos_b.assign(nb, 0.0f);
    out.max_cos_a.assign(na, 0.0f);
    out.max_cos_b.assign(nb, 0.0f);
    for (std::size_t r = 0; r < live_a.size(); ++r) {
        const auto i = static_cast<std::size_t>(live_a[r]);
        const std::int32_t p = live.partner_a[r];
        out.partner_a[i] = p < 0 ? -1 : live_b[static_cast<std::size_t>(p)];
        out.cos_a[i] = live.cos_a[r];
        out.max_cos_a[i] = live.max_cos_a[r];
    }
    for (std::size_t r = 0; r < live_b.size(); ++r) {
        const auto j = static_cast<std::size_t>(live_b[r]);
        const std::int32_t p = live.partner_b[r];
        out.partner_b[j] = p < 0 ? -1 : live_a[static_cast<std::size_t>(p)];
        out.cos_b[j] = live.cos_b[r];
        out.max_cos_b[j] = live.max_cos_b[r];
    }
    return out;
}

}  // namespace detail

// Matches the latents of `a` to those of `b` (unit rows, same width).
//
// Dead latents (zero rows) have no direction, so they take no part: they
// stay unmatched (partner −1, cosine 0, best cosine 0) and the live latents
// are matched among themselves. Among optimal matchings the canonical one
// is returned (canonical_ties.hpp); `prefer[i]`, when given, is the partner
// that latent i of A keeps where exact duplicates leave the choice open
// (the decoder matching passes the encoder's, so duplicates agree).
inline LatentMatching match_latents(const similarity::UnitRows& a, const similarity::UnitRows& b,
                                    const MatchOptions& options = {}, std::span<const std::int32_t> prefer = {}) {
    if (a.rows.cols() != b.rows.cols())
        throw std::invalid_argument("cannot compare latents of width " + std::to_string(a.rows.cols()) + " and " +
                                    std::to_string(b.rows.cols()));
    const std::ptrdiff_t na = a.rows.rows(), nb = b.rows.rows();
    if (na == 0 || nb == 0) throw std::invalid_argument("cannot compare an SAE with no latents");
    if (!prefer.empty() && static_cast<std::ptrdiff_t>(prefer.size()) != na)
        throw std::invalid_argument("prefer has " + std::to_string(prefer.size()) + " entries for " +
                                    std::to_string(na) + " latents");
    if (a.dead_count == 0 && b.dead_count == 0) return detail::match_live(a, b, options, prefer);

    const std::vector<std::int32_t> live_a = detail::live_rows(a), live_b = detail::live_rows(b);
    if (live_a.empty() || live_b.empty()) {
        LatentMatching none;
        none.partner_a.assign(static_cast<std::size_t>(na), -1);
        none.partner_b.assign(static_cast<std::size_t>(nb), -1);
        none.cos_a.assign(static_cast<std::size_t>(na), 0.0f);
        none.cos_b.assign(static_cast<std::size_t>(nb), 0.0f);
        none.max_cos_a.assign(static_cast<std::size_t>(na), 0.0f);
        none.max_cos_b.assign(static_cast<std::size_t>(nb), 0.0f);
        return none;
    }
    std::vector<std::int32_t> live_prefer;
    if (!prefer.empty()) {
        std::vector<std::int32_t> compact_b(static_cast<std::size_t>(nb), -1);
        for (std::size_t r = 0; r < live_b.size(); ++r) compact_b[static_cast<std::size_t>(live_b[r])] = static_cast<std::int32_t>(r);
        for (std::int32_t i : live_a) {
            const std::int32_t p = prefer[static_cast<std::size_t>(i)];
            live_prefer.push_back(p >= 0 && p < nb ? compact_b[static_cast<std::size_t>(p)] : -1);
        }
    }
    const similarity::UnitRows la = detail::select_rows(a, live_a), lb = detail::select_rows(b, live_b);
    if (options.backend) {
        options.backend->subset_of(la, a, live_a);
        options.backend->subset_of(lb, b, live_b);
    }
    return detail::expand(detail::match_live(la, lb, options, live_prefer), live_a, live_b,
                          static_cast<std::size_t>(na), static_cast<std::size_t>(nb));
}

}  // namespace saematch::compare
