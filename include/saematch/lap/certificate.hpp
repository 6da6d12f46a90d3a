// Checks an assignment against its dual certificate, independently of the
// solver that produced it. Tests use it on every solve; the large-scale
// sparse path (compare/) uses the same conditions to prove a matching optimal
// without looking at every pair twice.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "saematch/lap/assignment.hpp"
#include "saematch/lap/matrix_view.hpp"

namespace saematch::lap {

struct CertificateCheck {
    bool valid = false;
    // Largest violation found, in cost units (0 when valid).
    double worst_violation = 0.0;
    // The first violated condition, in words; empty when valid.
    std::string problem;
};

// Verifies, up to `tolerance` × (1 + max |finite cost|): the matching is a
// complete matching of the smaller side using allowed entries, reduced costs
// have the right sign everywhere and vanish on the matching, the larger
// side's duals have the right sign and vanish where unmatched, and the
// reported objective equals both the matched sum and sum(u) + sum(v).
template <class T>
CertificateCheck check_certificate(MatrixView<T> cost, const Assignment& a, bool maximize,
                                   double tolerance = 1e-9) {
    CertificateCheck out;
    const auto rows = cost.rows, cols = cost.cols;
    auto fail = [&](std::string what, double amount = 0.0) {
        out.valid = false;
        out.problem = std::move(what);
        out.worst_violation = amount;
        return out;
    };
    if (static_cast<std::ptrdiff_t>(a.col_of_row.size()) != rows ||
        static_cast<std::ptrdiff_t>(a.row_of_col.size()) != cols ||
        static_cast<std::ptrdiff_t>(a.row_duals.size()) != rows ||
        static_cast<std::ptrdiff_t>(a.col_duals.size()) != cols)
        return fail("result arrays do not match the matrix shape");

    double scale = 1.0;
    for (std::ptrdiff_t i = 0; i < rows; ++i)
        for (std::ptrdiff_t j = 0; j < cols; ++j)
            if (std::isfinite(static_cast<double>(cost(i, j))))
                scale = std::max(scale, 1.0 + std::abs(static_cast<double>(cost(i, j))));
    const double tol = tolerance * scale;
    const double sign = maximize ? -1.0 : 1.0;  // work in "minimise" terms

    std::ptrdiff_t matched = 0;
    double total = 0.0;
    for (std::ptrdiff_t i = 0; i < rows; ++i) {
        const std::int64_t j = a.col_of_row[i];
        if (j < 0) continue;
        if (j >= cols || a.row_of_col[j] != i) return fail("row_of_col is not the inverse of col_of_row");
        const double c = static_cast<double>(cost(i, j));
        if (!std::isfinite(c)) return fail("row " + std::to_string(i) + " is matched to a forbidden entry");
        total += c;
        ++matched;
    }
    if (matched != std::min(rows, cols)) return fail("the smaller side is not completely matched");
    for (std::ptrdiff_t j = 0; j < cols; ++j)
        if (a.row_of_col[j] >= 0 && a.col_of_row[a.row_of_col[j]] != j)
            return fail("col_of_row is not the inverse of row_of_col");

    double worst = 0.0;
    std::string first;
    auto note = [&](double violation, const std::string& what) {
        if (violation > tol && first.empty()) first = what;
        worst = std::max(worst, violation);
    };
    for (std::ptrdiff_t i = 0; i < rows; ++i) {
        for (std::ptrdiff_t j = 0; j < cols; ++j) {
            const double c = static_cast<double>(cost(i, j));
            if (!std::isfinite(c)) continue;  // forbidden pairs carry no constraint
            const double reduced = sign * (c - a.row_duals[i] - a.col_duals[j]);
            note(-reduced, "negative reduced cost at (" + std::to_string(i) + ", " + std::to_string(j) + ")");
            if (a.col_of_row[i] == j)
                note(std::abs(reduced), "non-zero reduced cost on the matching at row " + std::to_string(i));
        }
    }
    // The larger side's duals: sign-constrained, zero where unmatched.
    if (rows != cols) {
        const bool rows_larger = rows > cols;
        const auto& duals = rows_larger ? a.row_duals : a.col_duals;
        const auto& partner = rows_larger ? a.col_of_row : a.row_of_col;
        for (std::size_t k = 0; k < duals.size(); ++k) {
            note(sign * duals[k], "dual of the larger side has the wrong sign at " + std::to_string(k));
            if (partner[k] < 0) note(std::abs(duals[k]), "dual of an unmatched line is not zero at " + std::to_string(k));
        }
    }
    double dual_sum = 0.0;
    for (double u : a.row_duals) dual_sum += u;
    for (double v : a.col_duals) dual_sum += v;
    const double sums_tol = tol * static_cast<double>(std::max<std::ptrdiff_t>(1, std::min(rows, cols)));
    if (std::abs(total - a.objective) > sums_tol) note(std::abs(total - a.objective), "objective is not the matched sum");
    if (std::abs(dual_sum - a.objective) > sums_tol) note(std::abs(dual_sum - a.objective), "sum of duals is not the objective");

    out.valid = first.empty();
    out.problem = first;
    out.worst_violation = worst;
    return out;
}

}  // namespace saematch::lap
