// Statistics over N SAEs trained with different seeds, from the share counts
// of their pairwise comparisons (Paulo & Belrose, "Sparse Autoencoders Trained
// on the Same Data Learn Different Features", Section 4 and Figures 2, A1).
//
// The input is, for every base SAE b and every latent i of b, the number m of
// the other N − 1 SAEs in which latent i is shared (by whichever shared rule
// the caller chose). Everything here follows from those counts alone: the
// paper's average over all k-combinations of SAEs has a closed form, so no
// combination is ever enumerated. Standard library only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace saematch::compare {

namespace detail {

// Rejects what has no meaning: fewer than 2 SAEs, or a count that is not the
// number of some subset of the other N − 1 SAEs.
inline void check_share_counts(const std::vector<std::vector<std::int32_t>>& share_counts,
                               const char* caller) {
    const std::size_t n_saes = share_counts.size();
    if (n_saes < 2)
        throw std::invalid_argument(std::string(caller) + ": share_counts holds " + std::to_string(n_saes) +
                                    " SAE(s); pass one vector of counts per SAE, for at least 2 SAEs");
    const auto max_count = static_cast<std::int64_t>(n_saes) - 1;
    for (std::size_t b = 0; b < n_saes; ++b) {
        const auto& counts = share_counts[b];
        for (std::size_t i = 0; i < counts.size(); ++i) {
            if (counts[i] < 0 || counts[i] > max_count)
                throw std::invalid_argument(
                    std::string(caller) + ": share_counts[" + std::to_string(b) + "][" + std::to_string(i) +
                    "] = " + std::to_string(counts[i]) + " is outside 0.." + std::to_string(max_count) +
                    " (with " + std::to_string(n_saes) + " SAEs a latent is shared with at most " +
                    std::to_string(max_count) + " others)");
        }
    }
}

}  // namespace detail

// Per base SAE, how many of its latents are shared with exactly 0, 1, ...,
// N − 1 of the other SAEs: out[b][m] (the paper's Figure 2 colouring, there
// for base "Seed 1"). Each out[b] has N entries and sums to the latent count
// of SAE b. SAEs may have different latent counts, including none.
inline std::vector<std::vector<std::int64_t>> shared_with_exactly(
    const std::vector<std::vector<std::int32_t>>& share_counts) {
    detail::check_share_counts(share_counts, "shared_with_exactly");
    const std::size_t n_saes = share_counts.size();
    std::vector<std::vector<std::int64_t>> out(n_saes, std::vector<std::int64_t>(n_saes, 0));
    for (std::size_t b = 0; b < n_saes; ++b)
        for (const std::int32_t m : share_counts[b]) ++out[b][static_cast<std::size_t>(m)];
    return out;
}

// The fraction of latents found only in the base SAE, for k = 2..N SAEs
// (Figure A1): out[k − 2].
//
// The paper's experiment: for every combination of k of the N SAEs and every
// choice of base b inside it, take the fraction of b's latents that are
// shared with none of the other k − 1; average those k·C(N, k) fractions
// uniformly. Every base lies in the same number, C(N − 1, k − 1), of
// combinations, so that average is the mean over bases of each base's own
// average — each SAE weighs the same whatever its latent count, as in the
// paper (it averages per-base proportions, not pooled latents). By linearity,
// a base's average over its combinations is the mean over its latents of the
// chance that a random (k − 1)-subset of the N − 1 others misses all m SAEs
// that share the latent:
//
//     C(N − 1 − m, k − 1) / C(N − 1, k − 1)
//       = prod_{t=0}^{k−2} (N − 1 − m − t) / (N − 1 − t),
//
// evaluated as that product of factors in [0, 1], so nothing overflows for
// any N (binomials themselves pass 2^64 at N = 68). It is 0 when m > N − k.
//
// Throws std::invalid_argument for fewer than 2 SAEs, a count outside
// 0..N − 1 (naming base and latent), or a base with no latents (its fraction
// is 0/0).
inline std::vector<double> only_in_base_fraction(const std::vector<std::vector<std::int32_t>>& share_counts) {
    const auto histogram = shared_with_exactly(share_counts);  // validates
    const std::size_t n_saes = share_counts.size();
    const std::size_t others = n_saes - 1;
    for (std::size_t b = 0; b < n_saes; ++b)
        if (share_counts[b].empty())
            throw std::invalid_argument("only_in_base_fraction: SAE " + std::to_string(b) +
                                        " has no latents, so the fraction of its latents found only in it is "
                                        "undefined; leave it out");

    // miss[m]: probability that a random (k − 1)-subset of the others avoids
    // m given SAEs, updated one factor per step from k − 1 = 0 (all ones).
    std::vector<double> miss(n_saes, 1.0);
    std::vector<double> out;
    out.reserve(others);
    for (std::size_t j = 1; j <= others; ++j) {  // j = k − 1 others drawn
        const std::size_t t = j - 1;
        for (std::size_t m = 0; m <= others; ++m)
            miss[m] = m + t >= others
                          ? 0.0
                          : miss[m] * static_cast<double>(others - m - t) / static_cast<double>(others - t);
        double mean_over_bases = 0.0;
        for (std::size_t b = 0; b < n_saes; ++b) {
            double sum = 0.0;
            for (std::size_t m = 0; m <= others; ++m) sum += static_cast<double>(histogram[b][m]) * miss[m];
            mean_over_bases += sum / static_cast<double>(share_counts[b].size());
        }
        out.push_back(mean_over_bases / static_cast<double>(n_saes));
    }
    return out;
}

// ---------------------------------------------------------------------------
// y ≈ a·k^(−b) + c: the power law with an offset that the paper fits to the
// only-in-base fractions (an offset fits "significantly better": some latents
// never find a counterpart however many seeds are trained).

struct PowerLawFit {
    double a = 0.0, b = 0.0, c = 0.0;
    double rmse = 0.0;  // root mean squared residual of the fit
    // The exponent was pinned down: the best b lies strictly inside
    // [b_min, b_max] and the data are not constant. False means b sits on a
    // bound of its range (widen it, or the data are not of this shape) or
    // y is constant (then a = 0, c = mean(y) and b is arbitrary).
    bool converged = false;
};

struct PowerLawFitOptions {
    // The exponent is searched in [b_min, b_max] (b_min > 0: at b = 0 the
    // power term is a constant that c already covers).
    double b_min = 1e-3;
    double b_max = 10.0;
    // Points of the log-spaced scan over b that brackets the best b before
    // the golden-section refinement; the sum of squares in b can have more
    // than one local minimum, so a scan comes first.
    int scan_points = 256;
    // The refinement stops when the bracket is this narrow relative to b.
    double b_tolerance = 1e-12;
};

namespace detail {

struct LinearPart {
    double a = 0.0, c = 0.0, sse = 0.0;
};

// For a fixed b the model is linear in (a, c): least squares on x = k^(−b),
// centred so that x ≈ 1 at small b causes no cancellation.
inline LinearPart fit_linear_part(const std::vector<double>& k, const std::vector<double>& y, double b) {
    const auto n = static_cast<double>(k.size());
    double x_mean = 0.0, y_mean = 0.0;
    std::vector<double> x(k.size());
    for (std::size_t i = 0; i < k.size(); ++i) {
        x[i] = std::pow(k[i], -b);
        x_mean += x[i];
        y_mean += y[i];
    }
    x_mean /= n;
    y_mean /= n;
    double sxx = 0.0, sxy = 0.0;
    for (std::size_t i = 0; i < k.size(); ++i) {
        sxx += (x[i] - x_mean) * (x[i] - x_mean);
        sxy += (x[i] - x_mean) * (y[i] - y_mean);
    }
    LinearPart out;
    out.a = sxx > 0.0 ? sxy / sxx : 0.0;
    out.c = y_mean - out.a * x_mean;
    // Residuals summed directly: accurate when the fit is (nearly) exact.
    for (std::size_t i = 0; i < k.size(); ++i) {
        const double r = y[i] - (out.a * x[i] + out.c);
        out.sse += r * r;
    }
    return out;
}

}  // namespace detail

// Least-squares fit of y ≈ a·k^(−b) + c. For each b the best (a, c) is a
// linear least-squares solution, so only b is searched: a log-spaced scan of
// [b_min, b_max], then golden-section search around the best scan point.
// Needs at least 3 distinct k values (three parameters), all k > 0 and
// finite, all y finite; throws std::invalid_argument otherwise.
inline PowerLawFit fit_power_law_with_offset(const std::vector<double>& k, const std::vector<double>& y,
                                             const PowerLawFitOptions& options = {}) {
    if (k.size() != y.size())
        throw std::invalid_argument("fit_power_law_with_offset: k has " + std::to_string(k.size()) +
                                    " values but y has " + std::to_string(y.size()) + "; pass one y per k");
    for (std::size_t i = 0; i < k.size(); ++i) {
        if (!std::isfinite(k[i]) || k[i] <= 0.0)
            throw std::invalid_argument("fit_power_law_with_offset: k[" + std::to_string(i) +
                                        "] = " + std::to_string(k[i]) + "; every k must be finite and > 0");
        if (!std::isfinite(y[i]))
            throw std::invalid_argument("fit_power_law_with_offset: y[" + std::to_string(i) +
                                        "] is not finite");
    }
    std::vector<double> distinct = k;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    if (distinct.size() < 3)
        throw std::invalid_argument("fit_power_law_with_offset: got " + std::to_string(distinct.size()) +
                                    " distinct k value(s); a, b and c need at least 3");
    if (!(options.b_min > 0.0) || !(options.b_max > options.b_min) || !std::isfinite(options.b_max))
        throw std::invalid_argument("fit_power_law_with_offset: need 0 < b_min < b_max, got b_min = " +
                                    std::to_string(options.b_min) +
                                    ", b_max = " + std::to_string(options.b_max));
    if (options.scan_points < 3)
        throw std::invalid_argument("fit_power_law_with_offset: scan_points must be at least 3, got " +
                                    std::to_string(options.scan_points));

    // Search in log b: the exponent's plausible values span decades.
    const double lo = std::log(options.b_min), hi = std::log(options.b_max);
    auto sse_at = [&](double log_b) { return detail::fit_linear_part(k, y, std::exp(log_b)).sse; };
    const int points = options.scan_points;
    const double step = (hi - lo) / (points - 1);
    int best = 0;
    double best_sse = std::numeric_limits<double>::infinity();
    for (int p = 0; p < points; ++p) {
        const double s = sse_at(lo + p * step);
        if (s < best_sse) {
            best_sse = s;
            best = p;
        }
    }

    // Golden-section search on the bracket around the best scan point.
    double left = lo + std::max(best - 1, 0) * step;
    double right = lo + std::min(best + 1, points - 1) * step;
    const double inv_phi = (std::sqrt(5.0) - 1.0) / 2.0;
    double x1 = right - inv_phi * (right - left), x2 = left + inv_phi * (right - left);
    double f1 = sse_at(x1), f2 = sse_at(x2);
    // log b changes by at most b_tolerance (relative in b) once the bracket is
    // this narrow; 200 steps shrink any bracket below double precision.
    for (int iter = 0; iter < 200 && right - left > options.b_tolerance; ++iter) {
        if (f1 <= f2) {
            right = x2;
            x2 = x1;
            f2 = f1;
            x1 = right - inv_phi * (right - left);
            f1 = sse_at(x1);
        } else {
            left = x1;
            x1 = x2;
            f1 = f2;
            x2 = left + inv_phi * (right - left);
            f2 = sse_at(x2);
        }
    }
    double log_b = f1 <= f2 ? x1 : x2;
    // The scan point itself may still be best (a minimum on a range bound).
    if (std::min(f1, f2) > best_sse) log_b = lo + best * step;

    const double b = std::exp(log_b);
    const auto linear = detail::fit_linear_part(k, y, b);
    PowerLawFit out;
    out.a = linear.a;
    out.b = b;
    out.c = linear.c;
    out.rmse = std::sqrt(linear.sse / static_cast<double>(k.size()));

    const auto [y_min, y_max] = std::minmax_element(y.begin(), y.end());
    const bool flat = *y_min == *y_max;
    const double edge = 4.0 * options.b_tolerance + 1e-9;  // in log b
    const bool on_bound = log_b - lo < edge || hi - log_b < edge;
    out.converged = !flat && !on_bound;
    return out;
}

}  // namespace saematch::compare
