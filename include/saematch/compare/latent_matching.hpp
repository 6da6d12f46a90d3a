// The optimal one-to-one matching of two sets of latent directions (encoder
// rows, or decoder vectors) by summed cosine similarity, with each latent's
// best cosine on the other side (for mean max cosine), and a certified bound
// on how far the matching could be from the optimum.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "saematch/compare/cosine_source.hpp"
#include "saematch/lap/candidate_solve.hpp"
#include "saematch/lap/solve_dense.hpp"
#include "saematch/similarity/candidates.hpp"
#include "saematch/similarity/gemm.hpp"
#include "saematch/similarity/unit_rows.hpp"

namespace saematch::compare {

enum class MatchMethod {
    automatic,  // dense while the cosine matrix has at most dense_max_pairs entries
    dense,      // store the full cosine matrix and solve it
    sparse,     // stream it: candidates, sparse solve, certificate
};

struct MatchOptions {
    MatchMethod method = MatchMethod::automatic;
    // 4096 x 4096 float32 = 64 MiB: beyond it the streamed path wins on
    // memory and, on SAE-like similarities, on time.
    std::int64_t dense_max_pairs = std::int64_t{4096} * 4096;
    // Candidates per latent (both directions) for the sparse path, and how
    // the cosine matrix is streamed; its `gemm`, when set, also computes the
    // dense path's matrix.
    similarity::CandidateOptions candidates{};
    int threads = 0;  // OpenMP threads; 0: all
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

inline LatentMatching match_dense(const similarity::UnitRows& a, const similarity::UnitRows& b, int threads,
                                  const similarity::GemmFunction& gemm) {
    const std::ptrdiff_t na = a.rows.rows(), nb = b.rows.rows(), d = a.rows.cols();
    std::vector<float> s(static_cast<std::size_t>(na * nb));
    (gemm ? gemm : similarity::GemmFunction(similarity::gemm_abt))(a.rows.data(), d, b.rows.data(), d, s.data(), nb,
                                                                     na, nb, d);
    lap::SolveOptions options;
    options.maximize = true;
    options.threads = threads;
    const auto view = lap::MatrixView<float>::row_major(s.data(), na, nb);
    const lap::Assignment assignment = lap::solve_dense(view, options);

    LatentMatching out;
    std::vector<std::int32_t> partner(static_cast<std::size_t>(na));
    for (std::ptrdiff_t i = 0; i < na; ++i)
        partner[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(assignment.col_of_row[static_cast<std::size_t>(i)]);
    set_partners(out, std::move(partner), nb, [&](std::int32_t i, std::int32_t j) { return view(i, j); });
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
    const similarity::CandidateLists lists = similarity::top_candidates(rows, cols, options.candidates);
    // The certificate recomputes rows in the arithmetic the screen settled on
    // (it steps back to float32 where similarities are too crowded).
    const CosineSource source(rows, cols, lists, lists.bf16_screen, options.threads, options.candidates.gemm);
    lap::CandidateSolution s = lap::solve_on_candidates(source, source.initial_candidates(), [](std::int32_t i) {
        return "latent " + std::to_string(i);
    });

    LatentMatching out;
    out.used_sparse = true;
    out.screen = options.candidates.gemm ? "caller" : lists.bf16_screen ? "bfloat16" : "float32";
    out.certificate_rounds = s.rounds;
    out.recomputed_rows = source.recomputed_rows();
    // Matched cosines are the candidate graph's values; u = c(i, x_i) - v.
    std::vector<std::int32_t> partner = s.matching.col_of_row;
    std::vector<float> matched(partner.size());
    for (std::size_t i = 0; i < partner.size(); ++i)
        matched[i] = static_cast<float>(-(s.row_duals[i] + s.matching.v[static_cast<std::size_t>(partner[i])]));
    set_partners(out, std::move(partner), cols.rows.rows(), [&](std::int32_t i, std::int32_t) { return matched[static_cast<std::size_t>(i)]; });
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
    std::swap(m.cos_a, m.cos_b);
    std::swap(m.max_cos_a, m.max_cos_b);
    return m;
}

}  // namespace detail

// Matches the latents of `a` to those of `b` (unit rows, same width).
inline LatentMatching match_latents(const similarity::UnitRows& a, const similarity::UnitRows& b,
                                    const MatchOptions& options = {}) {
    if (a.rows.cols() != b.rows.cols())
        throw std::invalid_argument("cannot compare latents of width " + std::to_string(a.rows.cols()) + " and " +
                                    std::to_string(b.rows.cols()));
    const std::ptrdiff_t na = a.rows.rows(), nb = b.rows.rows();
    if (na == 0 || nb == 0) throw std::invalid_argument("cannot compare an SAE with no latents");
    const bool dense = options.method == MatchMethod::dense ||
                       (options.method == MatchMethod::automatic && na * nb <= options.dense_max_pairs);
    if (dense) return detail::match_dense(a, b, options.threads, options.candidates.gemm);
    // The solver wants rows <= cols.
    return na <= nb ? detail::match_sparse(a, b, options) : detail::swap_sides(detail::match_sparse(b, a, options));
}

}  // namespace saematch::compare
